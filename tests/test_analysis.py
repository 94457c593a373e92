"""Tests of dgtools/analysis.py called directly, and of ``df.dg`` giving exactly its results."""

from __future__ import annotations

import math
import re
import warnings
from contextlib import nullcontext
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import dgtools
from conftest import DATA, fixture_path
from dgtools import analysis
from dgtools.exceptions import DGToolsWarning
from dgtools.io import captions
from dgtools.widgets import compare_table, word_diff


@pytest.fixture(scope="module")
def corpus() -> dgtools.Tables:
    return dgtools.to_tables(DATA / "responses")


def words_frame(**columns: Any) -> pd.DataFrame:
    """A hand-built words frame of one file and channel: two speakers, one low-confidence run."""
    base: dict[str, Any] = {
        "file_id": "f",
        "channel": 0,
        "word": ["hello", "there", "thank", "you", "drew"],
        "punctuated_word": ["Hello", "there.", "Thank", "you,", "Drew."],
        "start": [0.0, 0.5, 1.25, 1.5, 1.75],
        "end": [0.5, 1.0, 1.5, 1.75, 2.25],
        "confidence": [0.99, 0.95, 0.4, 0.5, 0.98],
        "speaker": [0, 0, 1, 1, 1],
    }
    base.update(columns)
    return pd.DataFrame(base)


# --------------------------------------------------------------------------- df.dg == analysis


def test_accessor_results_equal_the_analysis_functions(corpus: dgtools.Tables) -> None:
    for frame in (corpus.words, corpus.utterances, corpus.turns):
        pd.testing.assert_series_equal(frame.dg.text(), analysis.text(frame))
        pd.testing.assert_series_equal(
            frame.dg.text(punctuated=False), analysis.text(frame, punctuated=False)
        )
        # the turns table of the stereo call warns (see test_talk_time_of_multichannel_turns_...)
        with pytest.warns(DGToolsWarning) if frame is corpus.turns else nullcontext():
            pd.testing.assert_frame_equal(frame.dg.talk_time(), analysis.talk_time(frame))
        pd.testing.assert_frame_equal(
            frame.dg.low_confidence(0.8, min_words=2), analysis.low_confidence(frame, 0.8, min_words=2)
        )
        pd.testing.assert_frame_equal(
            frame.dg.search("the|you", context=1, case=True),
            analysis.search(frame, "the|you", context=1, case=True),
        )
        assert frame.dg.to_srt(max_chars=30) == captions.to_srt(frame, max_chars=30)
        assert frame.dg.to_vtt(speaker_labels=False) == captions.to_vtt(frame, speaker_labels=False)
    pd.testing.assert_frame_equal(corpus.words.dg.turns(), analysis.turns(corpus.words))


def test_accessor_and_analysis_name_their_caller_in_errors() -> None:
    frame = words_frame().drop(columns="speaker")
    with pytest.raises(AttributeError, match=re.escape("df.dg.talk_time() needs columns ['speaker']")):
        frame.dg.talk_time()
    with pytest.raises(
        AttributeError,
        match=re.escape(
            "dgtools.analysis.talk_time() needs columns ['speaker']; "
            "it works on the words, utterances or turns table of dgtools.to_tables(...)"
        ),
    ):
        analysis.talk_time(frame)
    with pytest.raises(AttributeError, match=re.escape("my_report() needs columns ['speaker']")):
        analysis.talk_time(frame, caller="my_report()")
    with pytest.raises(
        AttributeError, match=r"dgtools\.analysis\.text\(\) needs a 'word', 'transcript' or 'text'"
    ):
        analysis.text(pd.DataFrame({"file_id": ["f"], "channel": [0]}))
    with pytest.raises(AttributeError, match=re.escape("dgtools.analysis.turns() needs columns ['word']")):
        analysis.turns(frame.drop(columns="word"))


# --------------------------------------------------------------------------- the functions alone


def test_text_joins_punctuated_words_in_word_order() -> None:
    shuffled = words_frame().iloc[[3, 0, 4, 2, 1]]
    got = analysis.text(shuffled)
    assert got.tolist() == ["Hello there. Thank you, Drew."]
    assert got.dtype == pd.ArrowDtype(pa.string())
    assert got.index.to_list() == [("f", 0)]
    assert analysis.text(shuffled, punctuated=False).tolist() == ["hello there thank you drew"]


def test_first_alternative_keeps_alternative_zero_and_unknown() -> None:
    frame = words_frame(alternative=[0, 0, 1, 0, None])
    assert analysis.first_alternative(frame)["word"].tolist() == ["hello", "there", "you", "drew"]
    plain = words_frame()
    assert analysis.first_alternative(plain) is plain  # nothing to drop: the frame itself
    assert analysis.text(frame).tolist() == ["Hello there. you, Drew."]


def test_turns_talk_time_and_low_confidence_of_a_hand_built_frame() -> None:
    frame = words_frame()
    turns = analysis.turns(frame)
    assert turns["text"].tolist() == ["Hello there.", "Thank you, Drew."]
    assert turns["n_words"].tolist() == [2, 3]
    talk = analysis.talk_time(frame)
    assert talk["speaker"].tolist() == [0, 1]
    assert talk["seconds"].tolist() == [1.0, 1.0]  # the turns' spans: 0.0-1.0 and 1.25-2.25
    assert talk["words"].tolist() == [2, 3]
    assert talk["share"].tolist() == [0.5, 0.5]
    low = analysis.low_confidence(frame)
    assert low[["start", "end", "n_words", "text"]].values.tolist() == [[1.25, 1.75, 2, "Thank you,"]]
    assert low["mean_confidence"].tolist() == pytest.approx([0.45])
    # utterances and turns: the low rows as they are
    assert analysis.low_confidence(turns, 0.9)["text"].tolist() == ["Thank you, Drew."]


def test_search_of_a_hand_built_frame() -> None:
    got = analysis.search(words_frame(), "there thank", context=1)
    assert got[["start", "end", "match", "context", "word_index"]].values.tolist() == [
        [0.5, 1.5, "there. Thank", "Hello there. Thank you,", 1]
    ]
    with pytest.raises(dgtools.ConfigError, match="not a valid regular expression"):
        analysis.search(words_frame(), "(")


def test_word_view_and_group_bounds() -> None:
    frame = pd.concat([words_frame(file_id="b"), words_frame(file_id="a", channel=1)], ignore_index=True)
    v = analysis.word_view(frame.iloc[::-1], ["file_id", "channel", "word"], caller="test")
    assert v.frame["file_id"].tolist() == ["a"] * 5 + ["b"] * 5  # files in order of first appearance
    assert v.bounds.tolist() == [0, 5, 10]
    assert v.group.tolist() == [0] * 5 + [1] * 5
    assert v.tokens[:2].tolist() == ["Hello", "there."]
    assert v.words[:2].tolist() == ["hello", "there"]
    assert analysis.group_bounds(frame).tolist() == [0, 5, 10]


def test_word_tokens_fall_back_to_word_then_empty() -> None:
    frame = pd.DataFrame({"word": ["a", "b", None], "punctuated_word": ["A.", None, None]})
    assert analysis.word_tokens(frame).tolist() == ["A.", "b", ""]
    assert analysis.word_tokens(frame[["word"]]).tolist() == ["a", "b", ""]


# --------------------------------------------------------------------------- one talk time, whatever the table

CAPTIONS = "prerecorded_diarize_utterances_paragraphs__deepgram-python-captions.json"
TALK_KEYS = ["file_id", "channel", "speaker"]


def _rows_of(frame: pd.DataFrame, file_id: str) -> pd.DataFrame:
    return frame[frame["file_id"] == file_id]


def test_talk_time_is_the_same_from_words_utterances_and_turns(corpus: dgtools.Tables) -> None:
    """Speaking time is the span of each turn (first word start to last word end), from any table.

    Before issue 12 the words table summed word durations: 15.05 s and 199 words per minute for
    speaker 0 of the support call, against 18.83 s and 159 from utterances and turns.
    """
    fid = "support_call_diarized"
    for name in ("words", "utterances", "turns"):
        got = analysis.talk_time(_rows_of(corpus[name], fid))
        assert got["speaker"].tolist() == [0, 1], name
        assert got["seconds"].tolist() == pytest.approx([18.83, 6.63]), name
        assert got["words"].tolist() == [50, 17], name
        assert got["share"].tolist() == pytest.approx([18.83 / 25.46, 6.63 / 25.46]), name
        assert got["words_per_minute"].tolist() == pytest.approx([50 / 18.83 * 60, 17 / 6.63 * 60]), name
        assert round(got["words_per_minute"].iloc[0]) == 159, name


def test_talk_time_of_words_and_utterances_agree_on_every_file(corpus: dgtools.Tables) -> None:
    """Stereo too: a channel's turn ends where the other channel speaks in its pause."""
    from_utterances = analysis.talk_time(corpus.utterances)
    assert set(from_utterances["file_id"]) == {"clinic_call_stereo", "support_call_diarized"}
    words = corpus.words[corpus.words["file_id"].isin(set(from_utterances["file_id"]))]
    from_words = analysis.talk_time(words)
    pd.testing.assert_frame_equal(
        from_words[[*TALK_KEYS, "words"]], from_utterances[[*TALK_KEYS, "words"]], check_dtype=False
    )
    assert from_words["seconds"].tolist() == pytest.approx(from_utterances["seconds"].tolist(), abs=0.005)
    assert from_words["share"].tolist() == pytest.approx(from_utterances["share"].tolist(), abs=0.0005)
    stereo = from_words[from_words["file_id"] == "clinic_call_stereo"]
    assert stereo["seconds"].tolist() == pytest.approx([13.39, 6.5])  # the spans of its 7 utterances
    # the share is of the file, both channels
    assert stereo["share"].tolist() == pytest.approx([13.39 / 19.89, 6.5 / 19.89])


def test_talk_time_of_multichannel_turns_warns_where_it_must_differ(corpus: dgtools.Tables) -> None:
    """The turns table holds one channel at a time: a stereo channel's turn spans the other's speech."""
    with pytest.warns(DGToolsWarning, match=r"'clinic_call_stereo'.*pass the words or utterances table"):
        from_turns = analysis.talk_time(corpus.turns)
    from_words = analysis.talk_time(corpus.words)
    mono = (from_words["file_id"] != "clinic_call_stereo").to_numpy()
    pd.testing.assert_frame_equal(
        from_turns[mono].reset_index(drop=True), from_words[mono].reset_index(drop=True), check_exact=False
    )
    stereo = from_turns[~mono]
    assert stereo["seconds"].tolist() == pytest.approx([25.13 - 0.54, 22.02 - 5.15])  # first to last word
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        analysis.talk_time(_rows_of(corpus.turns, "support_call_diarized"))  # one channel: no warning


def test_talk_time_of_a_real_diarized_call_is_the_same_from_every_table() -> None:
    """Words and turns agree exactly; utterances differ only where Deepgram's own speaker labels do.

    In this real response three utterances hold words of two speakers (e.g. 64.30-68.08 s: eight
    words of speaker 2, then five of speaker 1), and an utterance has one speaker.  Relabelling each
    word with its utterance's speaker gives exactly the talk time of the utterances.
    """
    t = dgtools.to_tables(fixture_path(CAPTIONS))
    from_words, from_turns = analysis.talk_time(t.words), analysis.talk_time(t.turns)
    from_utterances = analysis.talk_time(t.utterances)
    pd.testing.assert_frame_equal(from_words, from_turns)
    assert from_words["words"].tolist() == [46, 122, 58]
    assert from_utterances["words"].tolist() == [46, 123, 57]
    assert from_words["share"].round(3).tolist() == [0.149, 0.652, 0.199]
    assert from_utterances["share"].round(3).tolist() == [0.149, 0.638, 0.213]
    u = t.utterances.sort_values("start")
    u_start = u["start"].to_numpy(dtype=float)
    at = (
        np.searchsorted(u_start, t.words["start"].to_numpy(dtype=float), "right") - 1
    )  # each word's utterance
    mixed = t.words.groupby(at)["speaker"].nunique()
    starts = u_start[mixed[mixed > 1].index]  # the utterances with a speaker change inside
    assert starts.tolist() == pytest.approx([64.3, 76.635, 154.23])
    relabelled = t.words.assign(speaker=u["speaker"].array.take(at))
    pd.testing.assert_frame_equal(analysis.talk_time(relabelled), from_utterances, check_exact=False)


def test_a_channel_s_turn_ends_only_where_another_channel_speaks_in_its_pause() -> None:
    """Overlap is not a turn change: a backchannel over a word keeps the turn, one in the pause ends it."""

    def stereo(other: tuple[float, float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "file_id": "f",
                "channel": [0, 0, 1],
                "word": ["so", "yes", "mm"],
                "start": [0.0, 1.2, other[0]],
                "end": [1.0, 2.0, other[1]],
                "speaker": pd.array([None, None, None], dtype="Int64"),
            }
        )

    over = analysis.speaking_turns(stereo((0.5, 0.9)))  # during channel 0's first word
    assert over[["channel", "start", "end"]].values.tolist() == [[0, 0.0, 2.0], [1, 0.5, 0.9]]
    pause = analysis.speaking_turns(stereo((1.05, 1.1)))  # in channel 0's pause, 1.0-1.2 s
    assert pause[["channel", "start", "end"]].values.tolist() == [
        [0, 0.0, 1.0],
        [1, 1.05, 1.1],
        [0, 1.2, 2.0],
    ]
    assert analysis.talk_time(stereo((1.05, 1.1)))["seconds"].tolist() == pytest.approx([1.8, 0.05])


def test_speaking_turns_are_the_turns_of_a_mono_file(corpus: dgtools.Tables) -> None:
    fid = "support_call_diarized"
    turns = _rows_of(corpus.turns, fid)
    for name in ("words", "utterances", "turns"):
        got = analysis.speaking_turns(_rows_of(corpus[name], fid))
        assert got.columns.tolist() == ["file_id", "channel", "speaker", "start", "end", "seconds", "words"]
        assert got["speaker"].tolist() == turns["speaker"].tolist(), name
        assert got["start"].tolist() == turns["start"].tolist(), name
        assert got["end"].tolist() == turns["end"].tolist(), name
        assert got["words"].tolist() == turns["n_words"].tolist(), name


# --------------------------------------------------------------------------- word diff


def test_word_diff_and_diff_rate_share_one_alignment() -> None:
    a = ["The", "cat", "sat", "on", "the", "mat."]
    b = ["the", "cat", "sat", "down", "on", "a", "mat"]
    ops = word_diff(a, b)
    assert ops == analysis.word_diff(a, b)
    assert ops == [
        ("equal", "The cat sat", "the cat sat"),
        ("insert", "", "down"),
        ("equal", "on", "on"),
        ("replace", "the", "a"),
        ("equal", "mat.", "mat"),
    ]
    changed = sum(max(len(x.split()), len(y.split())) for op, x, y in ops if op != "equal")
    assert analysis.diff_rate(a, b) == changed / len(a) == 2 / 6
    assert analysis.diff_rate([], []) == 0.0
    assert analysis.diff_rate([], ["x"]) == math.inf
    assert analysis.diff_rate(["x"], []) == 1.0


def test_word_diff_of_frames_uses_the_words_as_written() -> None:
    a = words_frame()
    b = words_frame(punctuated_word=["Hello", "there!", "Thank", "you", "Andrew."])
    assert analysis.word_diff(a, b) == [
        ("equal", "Hello there. Thank you,", "Hello there! Thank you"),
        ("replace", "Drew.", "Andrew."),
    ]
    assert analysis.diff_rate(a, b) == pytest.approx(1 / 5)


def test_compare_table_rate_is_the_analysis_diff_rate(corpus: dgtools.Tables) -> None:
    other = corpus.words.copy()
    other["punctuated_word"] = other["punctuated_word"].str.upper()
    first = other["word_index"] == 0
    other.loc[first, "punctuated_word"] = "ZEBRA"
    changed = dgtools.Tables({**{name: corpus[name] for name in corpus}, "words": other})
    table = compare_table(corpus, changed).set_index("file_id")
    for fid, rate in table["word_diff_rate"].items():
        a = corpus.words[corpus.words["file_id"] == fid].sort_values(["start", "channel", "word_index"])
        b = other[other["file_id"] == fid].sort_values(["start", "channel", "word_index"])
        if len(a):
            assert rate == pytest.approx(analysis.diff_rate(a, b))
            assert rate > 0
        else:
            assert rate == 0.0


def test_empty_frames(corpus: dgtools.Tables) -> None:
    empty = corpus.words.iloc[:0]
    assert analysis.text(empty).empty
    assert analysis.talk_time(empty).empty
    assert analysis.low_confidence(empty).columns.tolist() == [
        "file_id", "channel", "start", "end", "n_words", "text", "mean_confidence"
    ]  # fmt: skip
    assert analysis.search(empty, "x").empty
    assert analysis.word_view(empty, ["word"], caller="test").bounds.tolist() == [0]


# ---------------------------------------------------------------- revisions (live streams)


def _results(
    seq: int, start: float, duration: float, final: bool, text: str, channel: int = 0
) -> dict[str, Any]:
    return {
        "type": "Results", "seq": seq, "channel_index": [channel, 2], "start": start, "duration": duration,
        "is_final": final, "transcript": text,
    }  # fmt: skip


def test_revisions_compare_each_interim_with_the_final_that_settles_it() -> None:
    from dgtools.analysis import revisions

    messages = pd.DataFrame([
        _results(0, 0.0, 1.0, False, "i scream"),
        _results(1, 0.0, 2.0, False, "I scream for"),
        _results(2, 0.0, 2.5, True, "Ice cream, for you."),
        _results(3, 0.0, 1.0, False, "hello", channel=1),  # another channel: its own finals
        _results(4, 0.0, 1.5, True, "Hello.", channel=1),
        _results(5, 2.5, 0.5, False, "and"),  # no final settled it (the stream ended): no row
        {"type": "Metadata", "seq": 6, "channel_index": None, "start": None, "duration": 3.0, "is_final": None,
         "transcript": None},
    ])  # fmt: skip
    out = revisions(messages)
    assert out["seq"].tolist() == [0, 1, 3] and out["final_seq"].tolist() == [2, 2, 4]
    assert out["channel"].tolist() == [0, 0, 1]
    assert out["final"].tolist() == ["Ice cream,", "Ice cream, for", "Hello."]  # as many words as the interim
    # "i scream" -> "Ice cream,": 2 words replaced; "I scream for" -> 2 of 3; "hello" -> "Hello." none
    assert out["revised"].tolist() == [2, 2, 0] and out["n_words"].tolist() == [2, 3, 1]
    assert out["revised_share"].tolist() == pytest.approx([1.0, 2 / 3, 0.0])
    assert str(out["revised"].dtype) == "int64[pyarrow]" and "file_id" not in out.columns
    with pytest.raises(AttributeError, match=r"revisions\(\) needs columns \['is_final'"):
        revisions(messages.drop(columns=["is_final"]))


def test_revisions_of_a_captured_stream_keep_its_file_id() -> None:
    from pathlib import Path

    import dgtools
    from dgtools.analysis import revisions

    tables = dgtools.to_tables(Path(__file__).parent / "data" / "streams" / "reconnected.jsonl")
    out = revisions(tables.messages)
    interims = tables.messages[
        (tables.messages["type"] == "Results") & ~tables.messages["is_final"].fillna(False)
    ]
    assert set(out["seq"]) <= set(interims["seq"]) and set(out["file_id"]) <= set(tables.messages["file_id"])
    assert (out["revised"] <= out["n_words"]).all()
