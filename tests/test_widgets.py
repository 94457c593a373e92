"""Tests of dgtools/widgets.py: plain functions alone, widget wiring by setting values (no browser)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import dgtools
from dgtools import widgets as W
from dgtools.exceptions import ConfigError
from dgtools.plotting import speaker_palette

REPO = Path(__file__).parents[1]
SR = 16_000


# ------------------------------------------------------------------ data


def _words(rows: list[tuple[str, float, float, float, int | None]]) -> list[dict[str, Any]]:
    out = []
    for w, s, e, c, spk in rows:
        d: dict[str, Any] = {"word": w.lower().strip(".,?"), "punctuated_word": w, "start": s, "end": e}
        d["confidence"] = c
        if spk is not None:
            d.update(speaker=spk, speaker_confidence=0.9)
        out.append(d)
    return out


def _response(
    words: list[dict[str, Any]], *, duration: float = 12.0, utterances: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "channels": [{"alternatives": [{"transcript": "", "confidence": 0.9, "words": words}]}]
    }
    if utterances is not None:
        results["utterances"] = utterances
    return {
        "metadata": {
            "request_id": "req-1",
            "duration": duration,
            "channels": 1,
            "models": ["m"],
            "model_info": {"m": {"name": "general-nova-3", "version": "1", "arch": "nova-3"}},
            "created": "2024-01-01T00:00:00Z",
            "sha256": "0" * 64,
        },
        "results": results,
    }


# 20 words of 0.5 s; low confidence: words 2-3 (1.0-2.0 s), 8-9 (4.0-5.0 s), 15 (7.5-8.0 s);
# speaker 0 up to word 9, speaker 1 from word 10.
LOW = {2, 3, 8, 9, 15}
CALL = [(f"w{i}", i * 0.5, i * 0.5 + 0.5, 0.3 if i in LOW else 0.9, 0 if i < 10 else 1) for i in range(20)]


def _utt(spk: int, start: float, end: float, text: str) -> dict[str, Any]:
    return {"start": start, "end": end, "confidence": 0.9, "channel": 0, "transcript": text,
            "words": [], "speaker": spk, "id": text}  # fmt: skip


@pytest.fixture
def call() -> dgtools.Tables:
    utts = [_utt(0, 0.0, 5.0, "first part"), _utt(1, 5.0, 10.0, "second part")]
    return dgtools.to_tables(_response(_words(CALL), utterances=utts), file_id="call")


@pytest.fixture(scope="module")
def data() -> dgtools.Tables:
    return dgtools.to_tables(REPO / "data" / "responses")


@pytest.fixture
def audio_root(tmp_path: Path) -> Path:
    t = np.arange(12 * SR) / SR
    sf.write(tmp_path / "call.wav", 0.1 * np.sin(2 * np.pi * 440 * t), SR)
    return tmp_path


def _wav_seconds(data: bytes) -> float:
    info = sf.info(io.BytesIO(data))
    assert info.format == "WAV"
    return float(info.frames / info.samplerate)


# --------------------------------------------------------- transcript_html


def test_transcript_html_words_colours_titles(call: dgtools.Tables) -> None:
    out = W.transcript_html(call.words, file_id="call")
    assert out.startswith('<div class="dg-transcript"')
    assert out.count('class="dg-word"') == 20
    assert (
        '<span class="dg-word" style="background:rgba(214,39,40,0.10)" '
        'title="0.00-0.50 s, confidence 0.90">w0</span>'
    ) in out
    assert 'style="background:rgba(214,39,40,0.70)" title="1.00-1.50 s, confidence 0.30">w2<' in out
    palette = speaker_palette([0, 1])
    assert f'<span class="dg-speaker" style="color:{palette[0]};font-weight:bold">Speaker 0:</span>' in out
    assert (
        f'<br><span class="dg-speaker" style="color:{palette[1]};font-weight:bold">Speaker 1:</span>' in out
    )
    assert out.count('class="dg-speaker"') == 2


def test_transcript_html_filters_low_and_highlight(call: dgtools.Tables) -> None:
    out = W.transcript_html(call.words, file_id="call", min_confidence=0.5, highlight=(4.0, 5.0))
    assert out.count("dg-low") == len(LOW)
    assert '<span class="dg-word dg-low dg-hl"' in out  # w8, w9
    assert out.count("dg-hl") == 2
    one = W.transcript_html(call.words, file_id="call", speaker=1)
    assert one.count('class="dg-word"') == 10 and ">w0<" not in one and ">w10<" in one
    # the speaker keeps its palette colour when filtered
    assert f"color:{speaker_palette([0, 1])[1]}" in one
    assert "no words" in W.transcript_html(call.words, file_id="nope")


def test_transcript_html_escapes() -> None:
    words = _words([("<b>&", 0.0, 0.5, 0.9, None), ('"x"', 0.5, 1.0, float("nan"), None)])
    t = dgtools.to_tables(_response(words), file_id="esc")
    out = W.transcript_html(t.words, file_id="esc")
    assert "&lt;b&gt;&amp;</span>" in out and "<b>" not in out
    assert "&quot;x&quot;</span>" in out
    assert "confidence n/a" in out and "rgba(214,39,40,0.00)" in out
    assert "dg-speaker" not in out  # no diarization: no labels


def test_transcript_html_multichannel_labels(data: dgtools.Tables) -> None:
    out = W.transcript_html(data.words, file_id="clinic_call_stereo")
    assert "Channel 0:</span>" in out and "Channel 1:</span>" in out
    only = W.transcript_html(data.words, file_id="clinic_call_stereo", channel=1)
    assert "dg-speaker" not in only


# ----------------------------------------------------------------- clip


def test_clip_lengths() -> None:
    audio = np.arange(10 * SR, dtype=np.float32)
    assert len(W.clip(audio, SR, 2.0, 3.0)) == int(1.2 * SR)
    assert len(W.clip(audio, SR, 2.0, 3.0, pad=0.0)) == SR
    assert W.clip(audio, SR, 2.0, 3.0, pad=0.0)[0] == 2 * SR
    assert len(W.clip(audio, SR, 0.0, 0.5)) == int(0.6 * SR)  # clamped at 0
    assert len(W.clip(audio, SR, 9.5, 12.0)) == int(0.6 * SR)  # clamped at the end
    assert len(W.clip(audio, SR, 20.0, 21.0)) == 0
    assert W.clip(np.zeros((SR, 2)), SR, 0.2, 0.4, pad=0).shape == (int(0.2 * SR), 2)
    with pytest.raises(ConfigError, match="before"):
        W.clip(audio, SR, 3.0, 2.0)


# ------------------------------------------------------- low confidence


def test_low_confidence_stretches_and_next(call: dgtools.Tables) -> None:
    st = W.low_confidence_stretches(call.words, "call", 0.5)
    assert st["start"].tolist() == [1.0, 4.0, 7.5]
    assert st["end"].tolist() == [2.0, 5.0, 8.0]
    assert st["n_words"].tolist() == [2, 2, 1]
    assert list(st.index) == [0, 1, 2]
    row = W.next_stretch(st, 0.0)
    assert row is not None and row["start"] == 1.0
    row = W.next_stretch(st, 1.0)
    assert row is not None and row["start"] == 4.0
    assert W.next_stretch(st, 7.5) is None
    row = W.next_stretch(st, 7.5, -1)
    assert row is not None and row["start"] == 4.0
    assert W.next_stretch(st, 1.0, -1) is None
    assert W.next_stretch(st.iloc[:0], 0.0) is None
    assert W.low_confidence_stretches(call.words, "call", 0.1).empty
    with pytest.raises(ConfigError):
        W.next_stretch(st, 0.0, 0)  # type: ignore[arg-type]


# ------------------------------------------------------------ word diff


def test_word_diff_ops() -> None:
    ops = W.word_diff(["the", "cat", "sat", "on", "mat"], ["The", "dog", "sat", "mat.", "today"])
    assert ops == [
        ("equal", "the", "The"),
        ("replace", "cat", "dog"),
        ("equal", "sat", "sat"),
        ("delete", "on", ""),
        ("equal", "mat", "mat."),
        ("insert", "", "today"),
    ]
    assert W.word_diff([], []) == []
    page = W.diff_html(ops, ("A<", "B"))
    assert '<del class="dg-delete" style="background:#fdd">on</del>' in page
    assert '<ins class="dg-insert" style="background:#dfd">today</ins>' in page
    assert "<th>A&lt;</th>" in page
    assert W.word_diff([], ["a"]) == [("insert", "", "a")]


def test_word_diff_of_frames(call: dgtools.Tables) -> None:
    assert {op for op, _, _ in W.word_diff(call.words, call.words)} == {"equal"}


def _variant(call: dgtools.Tables) -> dgtools.Tables:
    """The call with word 5 replaced, word 6 dropped and speaker 1 merged into 0, duration 13."""
    rows = [r for r in CALL if r[0] != "w6"]
    rows = [("x5", *r[1:4], 0) if r[0] == "w5" else (*r[:4], 0) for r in rows]
    return dgtools.to_tables(_response(_words(rows), duration=13.0), file_id="call")


def test_compare_table_values(call: dgtools.Tables) -> None:
    other = _variant(call)
    extra = dgtools.to_tables(_response(_words([("solo", 0.0, 1.0, 0.5, None)])), file_id="solo")
    tab = W.compare_table(call, other, ("x", "y"))
    row = tab.set_index("file_id").loc["call"]
    assert row["words_x"] == 20 and row["words_y"] == 19 and row["words_delta"] == -1
    assert row["speakers_x"] == 2 and row["speakers_y"] == 1 and row["speakers_delta"] == -1
    assert row["duration_x"] == 12.0 and row["duration_y"] == 13.0 and row["duration_delta"] == 1.0
    assert row["mean_confidence_x"] == pytest.approx((15 * 0.9 + 5 * 0.3) / 20)
    assert row["word_diff_rate"] == pytest.approx(2 / 20)  # one substitution, one deletion
    assert list(tab.columns[:4]) == ["file_id", "words_x", "words_y", "words_delta"]
    assert tab.columns[-1] == "word_diff_rate"
    # a file in one set only: null on the other side (<NA> for counts, NaN for the rest)
    one_sided = W.compare_table(extra, call)
    solo = one_sided.set_index("file_id").loc["solo"]
    assert solo["words_a"] == 1 and pd.isna(solo["words_b"]) and pd.isna(solo["word_diff_rate"])
    assert pd.isna(solo["words_delta"]) and pd.isna(solo["speakers_b"]) and pd.isna(solo["duration_b"])
    assert np.isnan(one_sided["word_diff_rate"].to_numpy()[one_sided["file_id"] == "solo"]).all()
    with pytest.raises(ConfigError, match="labels"):
        W.compare_table(call, call, ("a", "a"))


def test_compare_table_counts_are_integers(call: dgtools.Tables, data: dgtools.Tables) -> None:
    """Words and speakers are nullable integers (issue 12: the table showed 31.0); the rest floats."""
    extra = dgtools.to_tables(_response(_words([("solo", 0.0, 1.0, 0.5, None)])), file_id="solo")
    tab = W.compare_table(extra, call)
    for what in ("words", "speakers"):
        for col in (f"{what}_a", f"{what}_b", f"{what}_delta"):
            assert tab[col].dtype == pd.Int64Dtype(), col
    for what in ("mean_confidence", "duration"):
        assert tab[f"{what}_a"].dtype == np.float64
    assert tab.set_index("file_id")["words_b"].tolist() == [20, pd.NA]
    html = W.compare(data, data).summary.value
    assert "<td>67</td>" in html and "67.0" not in html  # support_call_diarized: 67 words


def test_compare_table_counts_are_those_of_the_corpus_overview(data: dgtools.Tables) -> None:
    """One definition of words and speakers per file: compare_table, corpus_overview, file_stats."""
    from dgtools import analysis, plotting

    tab = W.compare_table(data, data).set_index("file_id")
    stats = analysis.file_stats(data.words).set_index("file_id")
    fig = plotting.corpus_overview(data)
    files = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    words_panel, speakers_panel = fig.axes[1], fig.axes[3]
    assert [int(t.get_text()) for t in words_panel.texts] == tab.loc[files, "words_a"].tolist()
    assert [int(t.get_text()) for t in speakers_panel.texts] == tab.loc[files, "speakers_a"].tolist()
    has_words = [f for f in files if f in stats.index]
    assert tab.loc[has_words, "words_a"].tolist() == stats.loc[has_words, "words"].tolist()
    assert tab.loc["support_call_diarized", ["words_a", "speakers_a"]].tolist() == [67, 2]
    import matplotlib.pyplot as plt

    plt.close(fig)


# -------------------------------------------------------------- browser


def test_browser_file_and_filters(data: dgtools.Tables) -> None:
    b = W.browse(data)
    assert b.file.options == (
        "clinic_call_stereo",
        "live_session",
        "podcast_mono",
        "standup_intelligence",
        "support_call_diarized",
    )
    assert "Channel 1:" in b.transcript.value
    assert b.timeline.value[:8] == b"\x89PNG\r\n\x1a\n"
    b.file.value = "support_call_diarized"
    assert b.transcript.value == W.transcript_html(
        data.words, file_id="support_call_diarized", min_confidence=0.6
    )
    assert (
        b.speaker.options == (("all", -1), ("0", 0), ("1", 1)) and b.speaker.value == -1
    )  # "all": not None, which shows blank
    assert b.segments.options and "[0]" in b.segments.options[0][0]  # utterances with speakers
    b.speaker.value = 1
    assert "Speaker 0:" not in b.transcript.value and "Speaker 1:" in b.transcript.value
    b.confidence.value = 0.95
    assert b.transcript.value.count("dg-low") > 0
    bundle = b._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_browser_search_hits_without_audio(data: dgtools.Tables) -> None:
    b = W.browse(data)
    b.file.value = "support_call_diarized"
    b.query.value = "refund"
    assert len(b.hits.options) == 3
    assert all("refund" in label.lower() for label, _ in b.hits.options)
    b.hits.value = 1
    assert b.audio is None
    assert "audio_root" in b.audio_message.value
    assert b.position == pytest.approx(25.68)
    assert "dg-hl" in b.transcript.value
    b.query.value = "("  # invalid regex: a message, no hits, no exception
    assert b.hits.options == ()
    assert "not a valid regular expression" in b.status.value
    b.file.value = "podcast_mono"  # a new file reruns the search
    assert b.hits.options == ()


def test_browser_audio_clip_from_hit_and_segment(call: dgtools.Tables, audio_root: Path) -> None:
    b = W.browse(call, audio_root=audio_root)
    b.query.value = r"w3\b"
    assert [v for _, v in b.hits.options] == [0]
    b.hits.value = 0
    assert b.audio is not None and b.audio.format == "wav"
    assert _wav_seconds(b.audio.value) == pytest.approx(0.7, abs=1 / SR)  # 1.5-2.0 s padded by 0.1
    assert b.audio in b.audio_box.children
    b.segments.value = 1  # utterance 5.0-10.0 s
    assert _wav_seconds(b.audio.value) == pytest.approx(5.2, abs=1 / SR)
    assert b.position == 5.0 and b.highlight == (5.0, 10.0)


def test_browser_missing_audio_file(call: dgtools.Tables, tmp_path: Path) -> None:
    b = W.browse(call, audio_root=tmp_path)
    b.segments.value = 0
    assert b.audio is None and "not found" in b.audio_message.value


def test_browser_low_confidence_navigation(call: dgtools.Tables, audio_root: Path) -> None:
    b = W.browse(call, audio_root=audio_root)
    b.confidence.value = 0.5
    assert b.position == 0.0
    b.next_low.click()
    assert b.position == 1.0 and b.highlight == (1.0, 2.0)
    assert _wav_seconds(b.audio.value) == pytest.approx(1.2, abs=1 / SR)
    b.next_low.click()
    assert b.position == 4.0
    assert b.transcript.value.count("dg-hl") == 2
    b.next_low.click()
    assert b.position == 7.5
    assert b.step(1) is None and b.position == 7.5 and "no further" in b.status.value
    b.previous_low.click()
    assert b.position == 4.0
    b.confidence.value = 0.1  # no stretches any more
    assert b.step(-1) is None and b.position == 4.0


# ------------------------------------------------------------- compare


def test_compare_widget(call: dgtools.Tables) -> None:
    c = W.compare(call, _variant(call), labels=("old", "new"))
    assert list(c.table["file_id"]) == ["call"]
    assert "words_old" in c.summary.value and "<table" in c.summary.value
    # difflib makes "w5 w6" -> "x5" one replacement
    assert '<del class="dg-replace" style="background:#ffe4b3">w5 w6</del>' in c.diff.value
    assert '<ins class="dg-replace" style="background:#ffe4b3">x5</ins>' in c.diff.value
    assert "<th>old</th><th>new</th>" in c.diff.value
    assert "application/vnd.jupyter.widget-view+json" in c._repr_mimebundle_()


def test_compare_widget_switches_files(data: dgtools.Tables) -> None:
    c = W.compare(data, data)
    assert "silence" in list(c.table["file_id"])
    c.file.value = "podcast_mono"
    assert "<del" not in c.diff.value and "<ins" not in c.diff.value
    assert (c.table["word_diff_rate"] == 0).all()


# ------------------------------------------------------------- failures


def test_failures_view() -> None:
    run: Any = SimpleNamespace(
        failures=pd.DataFrame(
            {
                "file": ["a<1>.wav"],
                "status": ["401"],
                "err_code": ["INVALID_AUTH"],
                "message": ["bad key"],
                "advice": ["set DEEPGRAM_API_KEY"],
            }
        )
    )
    view = W.failures_view(run)
    assert "a&lt;1&gt;.wav" in view.value and "set DEEPGRAM_API_KEY" in view.value
    assert "INVALID_AUTH" not in view.value  # only file, status, message, advice
    empty: Any = SimpleNamespace(failures=pd.DataFrame(columns=["file", "status", "message", "advice"]))
    assert "no failures" in W.failures_view(empty).value


# ---------------------------------------------------------------- reprs


def test_repr_never_raises(call: dgtools.Tables) -> None:
    b = W.browse(call)
    b.root = None  # a broken root must not break the notebook
    out = b._repr_mimebundle_()
    assert "cannot be shown" in out["text/plain"]
    assert "TranscriptBrowser" in repr(b)


def test_import_is_light() -> None:
    code = (
        "import sys, dgtools.widgets; "
        "bad = [m for m in ('ipywidgets', 'IPython', 'librosa', 'matplotlib', 'soundfile') if m in sys.modules]; "
        "print(bad); sys.exit(bool(bad))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
