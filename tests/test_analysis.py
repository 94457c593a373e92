"""Tests of dgtools/analysis.py called directly, and of ``df.dg`` giving exactly its results."""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from conftest import DATA

import dgtools
from dgtools import analysis
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
    assert talk["seconds"].tolist() == [1.0, 1.0]
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
