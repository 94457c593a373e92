"""Tests of dgtools/plotting.py: artists are inspected, no PNG baselines."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

import dgtools
from dgtools import analysis, plotting
from dgtools.exceptions import ConfigError

REPO = Path(__file__).parents[1]


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture
def ax() -> Axes:
    return plt.figure().subplots()


# ------------------------------------------------------------------ data


def _words(rows: list[tuple[str, float, float, float, int | None]]) -> list[dict[str, Any]]:
    out = []
    for w, s, e, c, spk in rows:
        d: dict[str, Any] = {"word": w, "punctuated_word": w, "start": s, "end": e, "confidence": c}
        if spk is not None:
            d.update(speaker=spk, speaker_confidence=0.9)
        out.append(d)
    return out


def _response(
    channels: list[list[dict[str, Any]]],
    *,
    utterances: list[dict[str, Any]] | None = None,
    search: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    chans = []
    for ws in channels:
        ch: dict[str, Any] = {
            "alternatives": [{"transcript": " ".join(w["word"] for w in ws), "confidence": 0.9, "words": ws}]
        }
        if search is not None:
            ch["search"] = search
        chans.append(ch)
    results: dict[str, Any] = {"channels": chans}
    if utterances is not None:
        results["utterances"] = utterances
    return {
        "metadata": {
            "request_id": "req-1",
            "duration": 12.0,
            "channels": len(channels),
            "models": ["m-uuid"],
            "model_info": {"m-uuid": {"name": "general-nova-3", "version": "2024-01-01", "arch": "nova-3"}},
            "created": "2024-01-01T00:00:00Z",
            "sha256": "0" * 64,
        },
        "results": results,
    }


# 20 words, 0.5 s each: speaker 0 confident, then words 8..13 (4.0 s .. 7.0 s) low, speaker 1 from word 10
CALL_WORDS = [
    (f"w{i}", i * 0.5, i * 0.5 + 0.5, 0.2 if 8 <= i < 14 else 0.95, 0 if i < 10 else 1) for i in range(20)
]


def _utt(spk: int, start: float, end: float, uid: str, channel: int = 0) -> dict[str, Any]:
    return {"start": start, "end": end, "confidence": 0.9, "channel": channel, "transcript": uid,
            "words": [], "speaker": spk, "id": uid}  # fmt: skip


@pytest.fixture
def call() -> dgtools.Tables:
    """Two speakers; utterances overlap between 4.0-5.0 s (0 and 1) and 8.0-8.5 s (1 and 1)."""
    utterances = [
        _utt(0, 0.0, 5.0, "u0"),
        _utt(1, 4.0, 8.5, "u1"),
        _utt(1, 8.0, 10.0, "u2"),  # overlaps u1: same speaker, must go to a second sub-row
    ]
    search = [
        {"query": "refund", "hits": [{"confidence": 0.9, "start": 1.0, "end": 1.5, "snippet": "refund"},
                                     {"confidence": 0.3, "start": 6.0, "end": 6.5, "snippet": "re fund"}]},
        {"query": "warranty", "hits": []},
    ]  # fmt: skip
    return dgtools.to_tables(
        _response([_words(CALL_WORDS)], utterances=utterances, search=search), file_id="call"
    )


@pytest.fixture
def stereo() -> dgtools.Tables:
    left = _words([("hi", 0.0, 1.0, 0.9, 0), ("bye", 3.0, 4.0, 0.9, 0)])
    right = _words([("hey", 0.5, 1.5, 0.9, 0)])
    return dgtools.to_tables(_response([left, right]), file_id="stereo")


@pytest.fixture(scope="module")
def corpus() -> dgtools.Tables:
    return dgtools.to_tables(REPO / "data/responses")


def _scatters(ax: Axes) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def _by_gid(ax: Axes, gid: str) -> list[Any]:
    return [a for a in [*ax.patches, *ax.collections, *ax.lines, *ax.texts] if a.get_gid() == gid]


# --------------------------------------------------------------- palette


def test_speaker_palette_is_deterministic_and_shared() -> None:
    p = plotting.speaker_palette([1, 0, None, 1, pd.NA])
    assert list(p) == [0, 1, None]
    assert p == plotting.speaker_palette(pd.Series([0, 1, None], dtype="int64[pyarrow]"))
    assert p[None] == "#7f7f7f"
    assert p[0] != p[1]
    # a speaker keeps its colour whatever other speakers the file holds
    assert plotting.speaker_palette([1])[1] == p[1]
    assert plotting.speaker_palette(["b", "a"]) == {"a": p[0], "b": p[1]}


# -------------------------------------------------------- confidence_timeline


def test_confidence_timeline_colours_points_by_speaker(call: dgtools.Tables, ax: Axes) -> None:
    out = plotting.confidence_timeline(call.words, ax=ax)
    assert out is ax
    palette = plotting.speaker_palette(call.words["speaker"])
    scatters = {c.get_label(): c for c in _scatters(ax)}
    assert set(scatters) == {"Speaker 0", "Speaker 1"}
    for spk in (0, 1):
        coll = scatters[f"Speaker {spk}"]
        assert len(coll.get_offsets()) == 10
        face = coll.get_facecolors()
        assert np.allclose(face[:, :3], np.array(to_rgba(palette[spk]))[:3])
    # points sit at word mid-times
    xs = np.sort(np.concatenate([c.get_offsets()[:, 0] for c in _scatters(ax)]))
    assert np.allclose(xs, np.arange(20) * 0.5 + 0.25)


def test_confidence_timeline_threshold_and_low_confidence_spans(call: dgtools.Tables, ax: Axes) -> None:
    plotting.confidence_timeline(call.words, window=3, ax=ax)
    (threshold,) = _by_gid(ax, "threshold")
    assert list(threshold.get_ydata()) == [0.6, 0.6]
    assert threshold.get_linestyle() == "--"
    spans = _by_gid(ax, "low_confidence")
    assert len(spans) == 1  # one stretch: the centred mean of 3 words drops below 0.6 around words 8..13
    x0, x1 = spans[0].get_extents().x0, spans[0].get_extents().x1
    data_x = ax.transData.inverted().transform([[x0, 0], [x1, 0]])[:, 0]
    assert data_x[0] == pytest.approx(4.0, abs=0.01)
    assert data_x[1] == pytest.approx(7.0, abs=0.01)
    rolling = [ln for ln in ax.lines if ln.get_label().startswith("rolling mean")]
    assert len(rolling) == 1 and len(rolling[0].get_xdata()) == 20


def test_confidence_timeline_no_span_when_all_confident(corpus: dgtools.Tables, ax: Axes) -> None:
    plotting.confidence_timeline(corpus.words, file_id="support_call_diarized", ax=ax)
    assert _by_gid(ax, "low_confidence") == []
    assert len(_scatters(ax)) == 2


def test_confidence_timeline_marks_search_hits(call: dgtools.Tables, ax: Axes) -> None:
    plotting.confidence_timeline(call.words, search_hits=call.search_hits, ax=ax)
    lines = _by_gid(ax, "search_hit")
    assert sorted(ln.get_xdata()[0] for ln in lines) == [1.0, 6.0]
    labels = [t.get_text().strip() for t in _by_gid(ax, "search_hit_label")]
    assert labels == ["refund", "refund"]


def test_confidence_timeline_search_hits_of_real_responses(corpus: dgtools.Tables, ax: Axes) -> None:
    plotting.confidence_timeline(
        corpus.words, file_id="support_call_diarized", search_hits=corpus.search_hits, ax=ax
    )
    expected = corpus.search_hits.dropna(subset=["start"])
    expected = expected[expected["file_id"] == "support_call_diarized"]
    assert len(_by_gid(ax, "search_hit")) == len(expected) == 4


def test_confidence_timeline_needs_file_id_for_several_files(corpus: dgtools.Tables, ax: Axes) -> None:
    with pytest.raises(ValueError, match="podcast_mono") as err:
        plotting.confidence_timeline(corpus.words, ax=ax)
    assert isinstance(err.value, ConfigError)
    assert "file_id=" in str(err.value)


def test_confidence_timeline_channel_and_hue(stereo: dgtools.Tables, ax: Axes) -> None:
    plotting.confidence_timeline(stereo.words, channel=1, ax=ax)
    assert sum(len(c.get_offsets()) for c in _scatters(ax)) == 1
    ax2 = plt.figure().subplots()
    plotting.confidence_timeline(stereo.words, hue="channel", ax=ax2)
    assert sorted(c.get_label() for c in _scatters(ax2)) == ["channel 0", "channel 1"]
    with pytest.raises(ValueError, match="hue"):
        plotting.confidence_timeline(stereo.words, hue="colour", ax=ax2)  # type: ignore[arg-type]


def test_confidence_timeline_waveform_from_array_and_file(call: dgtools.Tables, ax: Axes) -> None:
    sr = 8000
    y = np.sin(np.linspace(0, 2000, 10 * sr))
    plotting.confidence_timeline(call.words, waveform=(y, sr), ax=ax)
    (strip,) = ax.child_axes
    assert strip.get_gid() == "waveform"
    assert strip.get_shared_x_axes().joined(strip, ax)
    (fill,) = strip.collections
    assert fill.get_paths()[0].vertices[:, 0].max() == pytest.approx(10.0, abs=0.01)

    ax2 = plt.figure().subplots()
    plotting.confidence_timeline(call.words, waveform=REPO / "data/audio/two_voices.wav", ax=ax2)
    (strip2,) = ax2.child_axes
    assert strip2.collections[0].get_paths()[0].vertices[:, 0].max() == pytest.approx(24.8, abs=0.1)


def test_confidence_timeline_decimates_a_million_words(ax: Axes) -> None:
    n = 1_000_000
    rng = np.random.default_rng(0)
    start = np.arange(n) * 0.3
    conf = np.clip(rng.beta(9, 1, n), 0, 1)
    conf[::997] = 0.1  # ~1000 low-confidence words, all kept
    words = pd.DataFrame(
        {"file_id": "big", "channel": 0, "start": start, "end": start + 0.25, "confidence": conf,
         "speaker": rng.integers(0, 3, n)}
    )  # fmt: skip
    plotting.confidence_timeline(words, ax=ax)
    scatters = _scatters(ax)
    total = sum(len(c.get_offsets()) for c in scatters)
    assert 10_000 < total <= 60_000
    assert all(c.get_rasterized() for c in scatters)
    kept_low = sum(int((c.get_offsets()[:, 1] < 0.2).sum()) for c in scatters)
    assert kept_low == int((conf < 0.2).sum())
    assert len(ax.lines[0].get_xdata()) <= 5_000


def test_rolling_mean_line_is_the_centred_window_mean(ax: Axes) -> None:
    rng = np.random.default_rng(1)
    x = rng.random(200)
    x[[3, 50]] = np.nan
    t = np.arange(200.0)
    words = pd.DataFrame({"start": t, "end": t + 1.0, "confidence": x})
    plotting.confidence_timeline(words, window=15, ax=ax)
    (line,) = [ln for ln in ax.lines if ln.get_label() == "rolling mean (15 words)"]
    assert np.array_equal(line.get_xdata(), t + 0.5)
    # centred window [i-7, i+8), shifted inwards at the edges so it always holds 15 words; NaN ignored
    want = [np.nanmean(x[min(max(i - 7, 0), 200 - 15) :][:15]) for i in range(200)]
    assert np.allclose(line.get_ydata(), want)


# ------------------------------------------------------------- speaker_lanes


def _lane_rows(ax: Axes) -> list[float]:
    return sorted({round(p.get_paths()[0].vertices[:, 1].min(), 6) for p in _by_gid(ax, "segments")})


def test_speaker_lanes_labels_with_shares_and_overlap(call: dgtools.Tables, ax: Axes) -> None:
    out = plotting.speaker_lanes(call.utterances, ax=ax)
    assert out is ax
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # speaking time (turn spans): speaker 0 0-5 s; speaker 1's two utterances are one turn, 4-10 s;
    # of 11 s.  Before issue 12 the lanes summed row durations (5 and 4.5 + 2 s: 43% and 57%).
    assert labels == ["Speaker 0 (45%)", "Speaker 1 (55%)"]
    (overlap,) = _by_gid(ax, "overlap")
    xs = [p.vertices[:, 0] for p in overlap.get_paths()]
    assert [(x.min(), x.max()) for x in xs] == [(4.0, 5.0)]  # u1/u2 overlap is one speaker: not shaded
    palette = plotting.speaker_palette([0, 1])
    colours = {tuple(c.get_facecolor()[0]) for c in _by_gid(ax, "segments")}
    assert colours == {to_rgba(palette[0]), to_rgba(palette[1])}


def test_speaker_lanes_packs_same_speaker_overlaps_in_sub_rows(call: dgtools.Tables, ax: Axes) -> None:
    plotting.speaker_lanes(call.utterances, ax=ax)
    segs = _by_gid(ax, "segments")
    assert len(segs) == 3  # speaker 0: one sub-row; speaker 1: two
    bottoms = {}
    for c in segs:
        for p in c.get_paths():
            v = p.vertices
            bottoms[(v[:, 0].min(), v[:, 0].max())] = v[:, 1].min()
    assert bottoms[(4.0, 8.5)] != bottoms[(8.0, 10.0)]


def test_speaker_lanes_packs_greedily_into_the_first_free_sub_row(ax: Axes) -> None:
    spans = [(0.0, 2.5), (1.0, 1.5), (2.0, 3.0), (3.0, 4.0)]
    segments = pd.DataFrame(
        {
            "file_id": "f",
            "channel": 0,
            "speaker": 0,
            "start": [a for a, _ in spans],
            "end": [b for _, b in spans],
        }
    )
    plotting.speaker_lanes(segments, ax=ax)
    bottom = {}
    for c in _by_gid(ax, "segments"):
        for p in c.get_paths():
            v = p.vertices
            bottom[(v[:, 0].min(), v[:, 0].max())] = round(v[:, 1].min(), 6)
    rows = sorted(set(bottom.values()))  # sub-row 0 is the lowest y (drawn on top: the y axis is inverted)
    # (1.0, 1.5) overlaps the first segment: sub-row 1; (2.0, 3.0) fits there once it has ended at 1.5;
    # (3.0, 4.0) starts when the first segment's row is free again (touching is not overlapping)
    assert [rows.index(bottom[s]) for s in spans] == [0, 1, 1, 0]


def test_speaker_lanes_from_words_and_turns(call: dgtools.Tables, ax: Axes) -> None:
    plotting.speaker_lanes(call.words, ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Speaker 0 (50%)", "Speaker 1 (50%)"]
    assert _by_gid(ax, "overlap") == []
    ax2 = plt.figure().subplots()
    plotting.speaker_lanes(call.turns, ax=ax2)
    assert len(ax2.get_yticklabels()) == 2


def test_speaker_lanes_multichannel(stereo: dgtools.Tables, ax: Axes) -> None:
    plotting.speaker_lanes(stereo.words, ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ch0 · spk0 (67%)", "ch1 · spk0 (33%)"]
    (overlap,) = _by_gid(ax, "overlap")
    (path,) = overlap.get_paths()
    assert (path.vertices[:, 0].min(), path.vertices[:, 0].max()) == (0.5, 1.0)


def test_speaker_lanes_real_stereo_without_speakers(corpus: dgtools.Tables, ax: Axes) -> None:
    plotting.speaker_lanes(corpus.utterances, file_id="clinic_call_stereo", ax=ax)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 2 and labels[0].startswith("ch0 (") and labels[1].startswith("ch1 (")


def _percent(label: str) -> int:
    match = re.search(r"\((\d+)%\)$", label)
    assert match, label
    return int(match.group(1))


@pytest.mark.parametrize("file_id", ["support_call_diarized", "clinic_call_stereo", "podcast_mono"])
def test_speaker_lanes_shares_are_the_talk_time_shares(corpus: dgtools.Tables, file_id: str) -> None:
    """One definition of share: the lanes' labels, the talk-time bars and df.dg.talk_time agree.

    Before issue 12 the lanes of the stereo call said 67/33% from words and 59/41% from turns, and
    the talk-time bars said 100% for each channel (a share of the channel).
    """
    names = ["words", "utterances"] if file_id == "clinic_call_stereo" else ["words", "utterances", "turns"]
    want = None
    for name in names:
        frame = corpus[name][corpus[name]["file_id"] == file_id]
        if frame.empty:
            continue
        table = analysis.talk_time(frame)
        expected = [round(100 * v) for v in table["share"].tolist()]
        want = expected if want is None else want
        assert expected == want, name  # the same from every table
        lanes = plotting.speaker_lanes(frame, ax=plt.figure().subplots())
        assert [_percent(t.get_text()) for t in lanes.get_yticklabels()] == want, name
        bars = plotting.talk_time(frame, ax=plt.figure().subplots())
        assert [_percent(t.get_text()) for t in bars.texts] == want, name
        assert "speaking time" in bars.get_xlabel()
    assert want is not None and sum(want) in (99, 100, 101)


def test_speaker_lanes_of_words_and_turns_agree() -> None:
    """tests/data/call.json: speaker 1 pauses 2.25-3.0 s inside its turn; words said 29/71%, turns 24/76%."""
    t = dgtools.to_tables(REPO / "tests" / "data" / "call.json", file_id="call")
    for frame in (t.words, t.utterances, t.turns):
        ax = plotting.speaker_lanes(frame, ax=plt.figure().subplots())
        assert [x.get_text() for x in ax.get_yticklabels()] == ["Speaker 0 (24%)", "Speaker 1 (76%)"]


def test_speaker_lanes_of_multichannel_turns_warn(corpus: dgtools.Tables, ax: Axes) -> None:
    turns = corpus.turns[corpus.turns["file_id"] == "clinic_call_stereo"]
    with pytest.warns(dgtools.DGToolsWarning, match="pass the words or utterances table"):
        plotting.speaker_lanes(turns, ax=ax)


# ----------------------------------------------------------------- talk_time


def test_talk_time_bars(call: dgtools.Tables, ax: Axes) -> None:
    plotting.talk_time(call.words, ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Speaker 0", "Speaker 1"]
    assert [p.get_width() for p in ax.patches] == [5.0, 5.0]
    palette = plotting.speaker_palette([0, 1])
    assert [p.get_facecolor() for p in ax.patches] == [to_rgba(palette[0]), to_rgba(palette[1])]


def test_talk_time_bars_are_the_analysis_table(corpus: dgtools.Tables, ax: Axes) -> None:
    plotting.talk_time(corpus.words, ax=ax)
    table = analysis.talk_time(corpus.words)
    assert [p.get_width() for p in ax.patches] == pytest.approx(table["seconds"].tolist())


def test_talk_time_of_a_frame_that_is_no_table_names_the_missing_columns(ax: Axes) -> None:
    frame = pd.DataFrame({"file_id": ["f"], "word": ["a"], "start": [0.0], "end": [1.0]})
    with pytest.raises(
        AttributeError, match=re.escape("dgtools.plotting.talk_time() needs columns ['channel', 'speaker']")
    ):
        plotting.talk_time(frame, ax=ax)


def test_talk_time_by_file_and_channel(corpus: dgtools.Tables, ax: Axes) -> None:
    plotting.talk_time(corpus.utterances, by="file", ax=ax)
    expected = corpus.utterances.dg.talk_time().groupby("file_id", sort=False)["seconds"].sum()
    assert [t.get_text() for t in ax.get_yticklabels()] == list(expected.index)
    assert np.allclose([p.get_width() for p in ax.patches], expected.to_numpy(dtype=float))
    ax2 = plt.figure().subplots()
    plotting.talk_time(corpus.utterances, by="channel", ax=ax2)
    assert "clinic_call_stereo · ch1" in [t.get_text() for t in ax2.get_yticklabels()]
    with pytest.raises(ValueError, match="by="):
        plotting.talk_time(corpus.words, by="model", ax=ax2)  # type: ignore[arg-type]


# --------------------------------------------------- confidence_distribution


@pytest.mark.parametrize("kind", ["hist", "ecdf"])
def test_confidence_distribution_groups(corpus: dgtools.Tables, ax: Axes, kind: str) -> None:
    plotting.confidence_distribution(corpus.words, kind=kind, ax=ax)  # type: ignore[arg-type]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == list(pd.unique(corpus.words["file_id"]))


def test_confidence_distribution_by_speaker_uses_palette(call: dgtools.Tables, ax: Axes) -> None:
    plotting.confidence_distribution(call.words, by="speaker", kind="ecdf", ax=ax)
    palette = plotting.speaker_palette([0, 1])
    assert [(ln.get_label(), ln.get_color()) for ln in ax.lines] == [
        ("Speaker 0", palette[0]),
        ("Speaker 1", palette[1]),
    ]
    assert ax.lines[0].get_ydata()[-1] == 1.0


def test_confidence_distribution_by_model_needs_requests(corpus: dgtools.Tables, ax: Axes) -> None:
    with pytest.raises(ValueError, match="requests="):
        plotting.confidence_distribution(corpus.words, by="model", ax=ax)
    plotting.confidence_distribution(corpus.words, by="model", requests=corpus.requests, ax=ax)
    assert ax.get_legend_handles_labels()[1] == ["general-nova-3"]


# --------------------------------------------------------------- search_hits


def test_search_hits_lanes_sizes_and_empty_queries(call: dgtools.Tables, ax: Axes) -> None:
    out = plotting.search_hits(call.search_hits, ax=ax)
    assert out is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["refund", "warranty"]
    (coll,) = _scatters(ax)
    assert coll.get_label() == "refund"
    assert coll.get_offsets()[:, 0].tolist() == [1.0, 6.0]
    sizes, alphas = coll.get_sizes(), coll.get_facecolors()[:, 3]
    assert sizes[0] > sizes[1] and alphas[0] > alphas[1]  # confidence 0.9 vs 0.3
    assert [t.get_text() for t in _by_gid(ax, "no_hits")] == ["no hits"]


def test_search_hits_of_real_responses(corpus: dgtools.Tables, ax: Axes) -> None:
    plotting.search_hits(corpus.search_hits, file_id="support_call_diarized", ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["refund", "warranty"]
    assert len(_scatters(ax)[0].get_offsets()) == 4


# ----------------------------------------------------------- corpus_overview


def test_corpus_overview(corpus: dgtools.Tables) -> None:
    fig = plotting.corpus_overview(corpus)
    assert isinstance(fig, Figure)
    assert [a.get_title() for a in fig.axes] == ["hours", "words", "mean confidence", "speakers"]
    files = list(corpus.requests["file_id"])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == files
    words = [p.get_width() for p in fig.axes[1].patches]
    counts = corpus.words[corpus.words["alternative"] == 0].groupby("file_id").size()
    assert words == [float(counts.get(f, 0)) for f in files]
    speakers = dict(zip(files, (p.get_width() for p in fig.axes[3].patches), strict=True))
    assert speakers["support_call_diarized"] == 2 and speakers["podcast_mono"] == 0


# ---------------------------------------------------------------- empty data


EMPTY_CASES = [
    ("confidence_timeline", "words"),
    ("speaker_lanes", "utterances"),
    ("talk_time", "words"),
    ("confidence_distribution", "words"),
    ("search_hits", "search_hits"),
]


@pytest.mark.parametrize(("fn", "table"), EMPTY_CASES)
def test_empty_data_warns_and_returns_axes(fn: str, table: str, ax: Axes) -> None:
    empty = getattr(dgtools.to_tables(_response([[]]), file_id="silence"), table)
    assert empty.empty
    with pytest.warns(UserWarning, match="nothing to plot"):
        out = getattr(plotting, fn)(empty, ax=ax)
    assert out is ax


def test_empty_corpus_overview_warns() -> None:
    with pytest.warns(UserWarning, match="no files"):
        fig = plotting.corpus_overview({})
    assert len(fig.axes) == 4


def test_silence_file_warns(corpus: dgtools.Tables, ax: Axes) -> None:
    with pytest.warns(UserWarning):
        plotting.confidence_timeline(corpus.words, file_id="silence", ax=ax)


def test_a_mistyped_file_id_warns_with_the_ids_there(corpus: dgtools.Tables, ax: Axes) -> None:
    with pytest.warns(UserWarning) as record:
        plotting.confidence_timeline(corpus.words, file_id="support_call_diarised", ax=ax)
    message = str(record[0].message)
    assert "did you mean 'support_call_diarized'" in message
    assert "podcast_mono" in message and "file_id='support_call_diarised'" in message
    assert not _scatters(ax)


# -------------------------------------------------------------------- hygiene


def test_import_does_not_load_matplotlib_or_librosa() -> None:
    code = (
        "import sys, dgtools.plotting; "
        "bad = [m for m in ('matplotlib', 'librosa') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_plots_leave_rcparams_alone(call: dgtools.Tables) -> None:
    before = dict(matplotlib.rcParams)
    plotting.confidence_timeline(call.words)
    plotting.speaker_lanes(call.utterances)
    plotting.corpus_overview(call)
    assert dict(matplotlib.rcParams) == before


def test_ax_defaults_to_current_axes(call: dgtools.Tables) -> None:
    fig = plt.figure()
    assert plotting.talk_time(call.words) is fig.gca()


# ------------------------------------------------------------------ the df.dg accessor


def test_accessor_plots_delegate_to_plotting() -> None:
    t = dgtools.to_tables(REPO / "data" / "responses" / "support_call_diarized.json")
    words, utts = t.words, t.utterances

    def artists(a: Axes) -> tuple[int, int, int, list[str]]:
        return (len(a.collections), len(a.lines), len(a.patches), [x.get_text() for x in a.get_yticklabels()])

    pairs = [
        (words.dg.confidence_timeline(ax=plt.figure().subplots()),
         plotting.confidence_timeline(words, ax=plt.figure().subplots())),
        (utts.dg.speaker_lanes(ax=plt.figure().subplots()), plotting.speaker_lanes(utts, ax=plt.figure().subplots())),
        (words.dg.plot_talk_time(ax=plt.figure().subplots()), plotting.talk_time(words, ax=plt.figure().subplots())),
        (words.dg.confidence_distribution(ax=plt.figure().subplots()),
         plotting.confidence_distribution(words, ax=plt.figure().subplots())),
    ]  # fmt: skip
    for via_accessor, direct in pairs:
        assert isinstance(via_accessor, Axes)
        assert artists(via_accessor) == artists(direct)


# ---------------------------------------------------------------- stream_latency

STREAMS = Path(__file__).parent / "data" / "streams"


def test_stream_latency_draws_each_final_with_its_percentiles(ax: Axes) -> None:
    tables = dgtools.to_tables(STREAMS / "reconnected.jsonl")  # with its .timing beside it
    latency = tables.latency
    out = plotting.stream_latency(latency, ax=ax)
    assert out is ax and ax.get_xlabel() == "audio time (s)" and ax.get_ylabel() == "latency (s)"
    points = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
    ends = latency["last_word_end"].fillna(latency["end"]).to_numpy(float)
    assert sorted(map(tuple, points.tolist())) == sorted(
        zip(ends, latency["latency"].to_numpy(float), strict=True)
    )
    p50 = float(np.percentile(latency["latency"].to_numpy(float), 50))
    lines = {line.get_label(): line.get_ydata()[0] for line in ax.get_lines()}
    assert lines[f"p50 {p50:.3f} s"] == pytest.approx(p50) and any(k.startswith("p99 ") for k in lines)


def test_stream_latency_of_messages_shows_interims_in_grey(ax: Axes) -> None:
    messages = dgtools.to_tables(STREAMS / "reconnected.jsonl").messages
    plotting.stream_latency(messages, ax=ax)
    labels = [c.get_label() for c in ax.collections]
    results = messages[messages["type"] == "Results"]
    interims = int((~results["is_final"].fillna(False)).sum())
    assert any(label == f"interim ({interims})" for label in labels) == (interims > 0)
    assert sum(len(c.get_offsets()) for c in ax.collections) == results["latency"].notna().sum()


def test_stream_latency_without_timing_warns_and_needs_a_latency_column(ax: Axes, tmp_path: Path) -> None:
    bare = tmp_path / "bare.jsonl"
    bare.write_text((STREAMS / "reconnected.jsonl").read_text())  # no .timing: no latency
    with pytest.warns(UserWarning, match="no result has a latency"):
        plotting.stream_latency(dgtools.to_tables(bare).latency, ax=ax)
    assert not ax.collections
    with pytest.raises(ConfigError, match=r"lacks columns \['latency'\]"):
        plotting.stream_latency(pd.DataFrame({"start": [0.0]}), ax=ax)
