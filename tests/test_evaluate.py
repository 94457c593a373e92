"""dgtools.evaluate: WER/CER against references, checked against jiwer and by hand."""

from __future__ import annotations

import tempfile
from pathlib import Path

import jiwer
import pandas as pd
import pytest

import dgtools
from dgtools.evaluate import Normalizer, load_references, wer
from dgtools.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _words(transcripts: dict[str, str]) -> pd.DataFrame:
    rows = []
    for fid, text in transcripts.items():
        for i, token in enumerate(text.split()):
            rows.append(
                {
                    "file_id": fid,
                    "channel": 0,
                    "word": token.lower().strip(",.?"),
                    "punctuated_word": token,
                    "start": float(i),
                    "word_index": i,
                }
            )
    return pd.DataFrame(
        rows, columns=["file_id", "channel", "word", "punctuated_word", "start", "word_index"]
    )


# --------------------------------------------------------------------------- normaliser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("It's nine o'clock.", "it's nine o'clock"),
        ("a well-known 'quote'", "a well known quote"),
        ("Um, so uh-huh, yes  \n  UH no", "so yes no"),
        ("It costs $120.", "it costs 120"),  # numerals are left as they are
        ("don\u2019t", "don't"),
        ("", ""),
    ],
)
def test_default_normalizer(text: str, expected: str) -> None:
    assert Normalizer()(text) == expected


def test_normalizer_options_and_name() -> None:
    assert Normalizer(remove_fillers=False)("Um, yes") == "um yes"
    assert Normalizer(lowercase=False)("Hello, Um World") == "Hello World"
    assert Normalizer().name == "lowercase+punctuation+hyphens+fillers"
    assert Normalizer(False, False, False, False).name == "none"


# --------------------------------------------------------------------------- hand-computed


def test_one_substitution_deletion_insertion() -> None:
    refs = {"a.wav": "the cat sat on the mat"}
    r = wer(_words({"a.wav": "The bat sat the mat today."}), refs)
    row = r.files.iloc[0]
    assert (row.ref_words, row.hyp_words, row.hits) == (6, 6, 4)
    assert (row.substitutions, row.deletions, row.insertions) == (1, 1, 1)
    assert row.wer == pytest.approx(3 / 6)
    pairs = {(p.ref, p.hyp, p.kind): p["count"] for _, p in r.pairs.iterrows()}
    assert pairs == {
        ("cat", "bat", "substitution"): 1,
        ("on", "", "deletion"): 1,
        ("", "today", "insertion"): 1,
    }
    assert r.total["wer"] == pytest.approx(0.5)
    assert r.normalizer == "lowercase+punctuation+hyphens+fillers"
    assert set(r.files["normalizer"]) == {r.normalizer}
    assert "wer=50.00%" in repr(r)


def test_formatting_alone_is_not_an_error() -> None:
    r = wer(_words({"a.wav": "Hello, world. Uh, it's well-known!"}), {"a": "hello world it's well known"})
    assert r.total["wer"] == 0.0
    assert r.pairs.empty and list(r.pairs.columns) == ["ref", "hyp", "kind", "count"]


def test_empty_hypothesis_is_all_deletions() -> None:
    words = _words({"a.wav": "hello there"})
    r = wer(words, {"a": "hello there", "b": "one two three"}, file_id=["a.wav", "b.wav"])
    b = r.files.set_index("file_id").loc["b.wav"]
    assert (b.hyp_words, b.deletions, b.wer, b.cer) == (0, 3, 1.0, 1.0)
    assert r.total["wer"] == pytest.approx(3 / 5)


def test_empty_reference_gives_nan_rate_but_counts_insertions() -> None:
    r = wer(_words({"a.wav": "oh hi"}), {"a": ""})
    row = r.files.iloc[0]
    assert row.insertions == 2 and pd.isna(row.wer) and pd.isna(r.total["wer"])


def test_no_words_gives_an_empty_result() -> None:
    r = wer(_words({}), {"a": "x"})
    assert r.files.empty and r.pairs.empty and r.total["files"] == 0 and pd.isna(r.total["wer"])
    assert "files=0" in repr(r)


def test_missing_reference_raises_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"no reference for 1 file\(s\): \['b.wav'\]"):
        wer(_words({"a.wav": "x", "b.wav": "y"}), {"a": "x"})


def test_by_unknown_or_speaker_without_diarization_is_refused() -> None:
    with pytest.raises(ConfigError, match="by='utterance' is not one of"):
        wer(_words({"a.wav": "x"}), {"a": "x"}, by="utterance")  # type: ignore[arg-type]
    refs = pd.DataFrame({"file_id": ["a"], "speaker": ["s"], "text": ["x"]})
    with pytest.raises(ConfigError, match=r"needs diarized words.*diarize=True"):
        wer(_words({"a.wav": "x"}), refs, by="speaker")
    with pytest.raises(ConfigError, match="needs references split by speaker"):
        wer(_with_speakers({"a.wav": [(0, "x")]}), {"a": "x"}, by="speaker")


def test_custom_callable_normalizer() -> None:
    def identity(text: str) -> str:
        return text

    r = wer(_words({"a.wav": "Hello"}), {"a": "hello"}, normalize=identity)
    assert r.total["wer"] == 1.0 and r.normalizer == "identity"


# --------------------------------------------------------------------------- against jiwer


def test_values_equal_jiwer_on_the_normalised_strings() -> None:
    hyps = {"a.wav": "the quick brown fox jumped", "b.wav": "hello hello world", "c.wav": "x y z w"}
    refs = {"a": "a quick brown fox jumps over", "b": "hello world", "c": "x z"}
    r = wer(_words(hyps), refs)
    for row in r.files.itertuples():
        w = jiwer.process_words(row.reference, row.hypothesis)
        c = jiwer.process_characters(row.reference, row.hypothesis)
        assert (row.hits, row.substitutions, row.deletions, row.insertions) == (
            w.hits,
            w.substitutions,
            w.deletions,
            w.insertions,
        )
        assert row.wer == pytest.approx(w.wer) and row.cer == pytest.approx(c.cer)
    whole = jiwer.process_words(list(r.files["reference"]), list(r.files["hypothesis"]))
    assert r.total["wer"] == pytest.approx(whole.wer)
    subs, ins, dels = jiwer.collect_error_counts(whole)
    got = r.pairs
    assert dict(subs) == {(p.ref, p.hyp): p["count"] for _, p in got[got.kind == "substitution"].iterrows()}
    assert dict(ins) == {p.hyp: p["count"] for _, p in got[got.kind == "insertion"].iterrows()}
    assert dict(dels) == {p.ref: p["count"] for _, p in got[got.kind == "deletion"].iterrows()}


# --------------------------------------------------------------------------- references


def test_references_from_folder_dict_and_dataframe(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Hello there,\nfriend.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("good bye", encoding="utf-8")
    words = _words({"a.wav": "hello there friend", "calls/b.wav": "good buy"})
    frame = pd.DataFrame({"file_id": ["a.wav", "calls/b.wav"], "text": ["Hello there, friend.", "good bye"]})
    results = [
        wer(words, src)
        for src in (tmp_path, str(tmp_path), {"a": "hello there friend", "b": "good bye"}, frame)
    ]
    for r in results:
        assert r.files["wer"].tolist() == [0.0, 0.5]
    assert load_references(tmp_path) == {"a": "Hello there, friend.", "b": "good bye"}


def test_bad_references_raise() -> None:
    with pytest.raises(ConfigError, match="not a folder"):
        load_references("no/such/folder")
    with pytest.raises(ConfigError, match="lacks"):
        load_references(pd.DataFrame({"file_id": ["a"]}))


def test_first_alternative_and_word_order() -> None:
    words = pd.DataFrame(
        {
            "file_id": "a.wav",
            "channel": 0,
            "word": ["world", "hello", "nope"],
            "start": [1.0, 0.0, 0.0],
            "alternative": [0, 0, 1],
        }
    )
    r = wer(words, {"a": "hello world"})
    assert r.files["hypothesis"].tolist() == ["hello world"]


def test_channels_are_merged_by_start_time() -> None:
    words = pd.DataFrame(
        {
            "file_id": "a.wav",
            "channel": [0, 0, 1],
            "word": ["hi", "fine", "how are"],
            "start": [0.0, 2.0, 1.0],
        }
    )
    assert wer(words, {"a": "hi how are fine"}).files["hypothesis"].tolist() == ["hi how are fine"]


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_interval_contains_the_estimate_and_is_seeded() -> None:
    hyps = {f"f{i}.wav": " ".join(["w"] * 10 + ["x"] * (i % 4)) for i in range(30)}
    refs = {f"f{i}": " ".join(["w"] * 10 + ["y"] * (i % 3)) for i in range(30)}
    a = wer(_words(hyps), refs, seed=1)
    b = wer(_words(hyps), refs, seed=1)
    c = wer(_words(hyps), refs, seed=2)
    assert a.total["wer_low"] <= a.total["wer"] <= a.total["wer_high"]
    assert a.total["wer_low"] < a.total["wer_high"]
    assert (a.total["wer_low"], a.total["wer_high"]) == (b.total["wer_low"], b.total["wer_high"])
    assert (a.total["wer_low"], a.total["wer_high"]) != (c.total["wer_low"], c.total["wer_high"])
    none = wer(_words(hyps), refs, bootstrap=0)
    assert pd.isna(none.total["wer_low"]) and none.total["wer"] == a.total["wer"]


# --------------------------------------------------------------------------- real speech


def test_local_engine_against_data_references(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pocketsphinx")
    run = dgtools.transcribe(REPO / "data/audio", engine="local", store=tempfile.mkdtemp())
    r = wer(run, REPO / "data/references")
    assert sorted(r.files["file_id"]) == [
        "one_speaker.wav",
        "silence.wav",
        "stereo_call.wav",
        "two_voices.wav",
    ]
    assert r.total["ref_words"] == 128
    assert r.total["wer_low"] <= r.total["wer"] <= r.total["wer_high"]
    assert r.total["wer"] < 0.5, r.files[["file_id", "wer", "reference", "hypothesis"]].to_string()
    with capsys.disabled():
        print(f"\nlocal engine on data/audio: {r}")
        print(
            r.files[
                ["file_id", "ref_words", "hits", "substitutions", "deletions", "insertions", "wer", "cer"]
            ].to_string()
        )


# --------------------------------------------------------------------------- by channel and speaker


def _with_speakers(
    turns: dict[str, list[tuple[int, str]]], *, channel_per_speaker: bool = False
) -> pd.DataFrame:
    """Words of (speaker, text) turns in time order; ``channel_per_speaker`` puts each speaker on its channel."""
    rows = []
    for fid, spoken in turns.items():
        t = 0.0
        for speaker, text in spoken:
            for token in text.split():
                rows.append(
                    {
                        "file_id": fid,
                        "channel": speaker if channel_per_speaker else 0,
                        "word": token.lower(),
                        "punctuated_word": token,
                        "start": t,
                        "speaker": pd.NA if channel_per_speaker else speaker,
                    }
                )
                t += 0.5
    frame = pd.DataFrame(rows)
    frame["speaker"] = frame["speaker"].astype("Int64")
    frame["word_index"] = frame.groupby(["file_id", "channel"]).cumcount()
    return frame


def test_by_channel_scores_each_channel_against_its_reference() -> None:
    words = _with_speakers(
        {"call.wav": [(0, "hello how can I help"), (1, "my card is lost")]}, channel_per_speaker=True
    )
    refs = pd.DataFrame(
        {
            "file_id": "call",
            "channel": [0, 1, 0],
            "start": [0.0, 2.0, 9.0],
            "text": ["hello how", "my card was lost", "can I help"],
        }
    )
    r = wer(words, refs, by="channel")
    got = r.files[["file_id", "channel", "ref_words", "substitutions", "wer"]].to_dict("records")
    assert got == [
        {"file_id": "call.wav", "channel": 0, "ref_words": 5, "substitutions": 0, "wer": 0.0},
        {"file_id": "call.wav", "channel": 1, "ref_words": 4, "substitutions": 1, "wer": 0.25},
    ]
    assert r.total["wer"] == pytest.approx(1 / 9)
    assert r.total["by"] == "channel"


def test_by_channel_counts_a_channel_missing_on_one_side() -> None:
    words = _with_speakers({"call.wav": [(0, "hello there")]}, channel_per_speaker=True)
    refs = {"call": {"0": "hello there", "1": "bye now"}}
    r = wer(words, refs, by="channel")
    assert r.files[["channel", "deletions", "hyp_words"]].to_dict("records") == [
        {"channel": 0, "deletions": 0, "hyp_words": 2},
        {"channel": 1, "deletions": 2, "hyp_words": 0},
    ]


def test_by_speaker_pairs_speakers_for_fewest_errors() -> None:
    words = _with_speakers(
        {"a.wav": [(0, "hello how can I help"), (1, "my card is lost"), (0, "sorry to hear")]}
    )
    refs = pd.DataFrame(
        {
            "file_id": "a",
            "speaker": ["agent", "caller", "agent"],
            "text": ["hello how can I help", "my card was lost", "sorry to hear that"],
        }
    )
    r = wer(words, refs, by="speaker")
    got = r.files[["speaker", "hyp_speaker", "substitutions", "deletions", "insertions"]].to_dict("records")
    assert got == [
        {"speaker": "agent", "hyp_speaker": "0", "substitutions": 0, "deletions": 1, "insertions": 0},
        {"speaker": "caller", "hyp_speaker": "1", "substitutions": 1, "deletions": 0, "insertions": 0},
    ]
    fixed = wer(words, refs, by="speaker", speaker_map={"0": "caller", "1": "agent"})
    assert fixed.files["hyp_speaker"].tolist() == ["1", "0"]
    assert fixed.total["errors"] > r.total["errors"]  # the search found the cheaper pairing


def test_by_speaker_extra_speaker_is_all_insertions() -> None:
    words = _with_speakers({"a.wav": [(0, "hello there"), (1, "bye"), (2, "um noise words")]})
    refs = {"a": {"agent": "hello there", "caller": "bye"}}
    r = wer(words, refs, by="speaker", normalize=Normalizer(remove_fillers=False))
    extra = r.files[r.files["speaker"] == ""]
    assert extra[["hyp_speaker", "insertions", "ref_words"]].to_dict("records") == [
        {"hyp_speaker": "2", "insertions": 3, "ref_words": 0}
    ]
    assert r.total["errors"] == 3


def test_by_speaker_total_is_meeteval_cpwer() -> None:
    meeteval = pytest.importorskip("meeteval")
    spoken = {
        "a.wav": [
            (0, "hello how can I help you"),
            (1, "my card is lost again"),
            (0, "sorry to hear that"),
            (2, "yes"),
        ],
        "b.wav": [(1, "good morning"), (0, "morning what is it"), (1, "nothing at all")],
    }
    reference = {
        "a": [
            ("agent", "hello how can I help"),
            ("caller", "my card was lost"),
            ("agent", "so sorry to hear that"),
        ],
        "b": [("x", "good morning"), ("y", "morning what is it"), ("x", "nothing much at all")],
    }
    words = _with_speakers(spoken)
    refs = pd.DataFrame(
        [{"file_id": f, "speaker": s, "text": t} for f, ts in reference.items() for s, t in ts]
    )
    r = wer(words, refs, by="speaker", bootstrap=0)
    for fid, ref_turns in reference.items():
        ref_seg = [
            {"session_id": fid, "speaker": s, "words": t.lower(), "start_time": i, "end_time": i + 1}
            for i, (s, t) in enumerate(ref_turns)
        ]
        hyp_seg = [
            {"session_id": fid, "speaker": str(s), "words": t.lower(), "start_time": i, "end_time": i + 1}
            for i, (s, t) in enumerate(spoken[f"{fid}.wav"])
        ]
        ours = r.files[r.files["file_id"] == f"{fid}.wav"]
        theirs = meeteval.wer.cpwer(meeteval.io.SegLST(ref_seg), meeteval.io.SegLST(hyp_seg))[fid]
        assert int(ours[["substitutions", "deletions", "insertions"]].to_numpy().sum()) == theirs.errors
        assert int(ours["ref_words"].sum()) == theirs.length


def test_cer_equals_jiwer_process_characters() -> None:
    texts = {"a.wav": "the quick brown fox jumped", "b.wav": "", "c.wav": "numbers one two three"}
    refs = {"a": "the quick brown fox jumps over", "b": "nothing here", "c": ""}
    r = wer(_words(texts), refs)
    for row in r.files.itertuples():
        ref, hyp = row.reference, row.hypothesis
        if ref:
            out = jiwer.process_characters(ref, hyp)
            assert row.cer == pytest.approx(out.cer, abs=1e-12)
        else:
            assert pd.isna(row.cer)


def test_stm_references_by_file_speaker_and_channel(real_speech: Path) -> None:
    from dgtools.io import read_stm

    stm = real_speech / "call.stm"  # one recording (uri "sample"): it also answers to call.wav
    segments = read_stm(stm)
    codes = {"Diane": 0, "Sheila": 1}
    rows = []
    for seg in segments.itertuples():
        for i, token in enumerate(str(seg.text).split()):
            rows.append({"file_id": "call.wav", "channel": 0, "word": token.lower(), "punctuated_word": token,
                         "start": float(seg.start) + i * 0.01, "speaker": codes[str(seg.speaker)]})  # fmt: skip
    words = pd.DataFrame(rows)
    words["word_index"] = range(len(words))
    whole = wer(words, stm)
    assert whole.files["ref_words"].tolist() == [81] and whole.total["errors"] == 0
    per_speaker = wer(words, stm, by="speaker").files.set_index("speaker")
    assert per_speaker["hyp_speaker"].to_dict() == {"Diane": "0", "Sheila": "1"}
    assert (per_speaker["wer"] == 0).all() and per_speaker["ref_words"].sum() == 81
    per_channel = wer(words, stm, by="channel").files
    assert per_channel[["channel", "ref_words", "wer"]].to_dict("records") == [
        {"channel": 0, "ref_words": 81, "wer": 0.0}
    ]
    swapped = words.assign(speaker=1 - words["speaker"])
    fixed = wer(swapped, stm, by="speaker", speaker_map={"0": "Diane", "1": "Sheila"})
    assert fixed.total["errors"] > 0 and wer(swapped, stm, by="speaker").total["errors"] == 0
