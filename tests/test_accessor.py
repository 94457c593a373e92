"""Tests of the ``df.dg`` accessor (dgtools/accessor.py), driven through dgtools.to_tables."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import dgtools
from conftest import REPO, fixture_files, fixture_path, missing

CAPTIONS = "prerecorded_diarize_utterances_paragraphs__deepgram-python-captions.json"

# (word, punctuated_word, start, end, confidence, speaker): times are exact binary fractions
WORDS = [
    ("hello", "Hello", 0.0, 0.5, 0.99, 0),
    ("there", "there.", 0.5, 1.0, 0.95, 0),
    ("thank", "Thank", 1.25, 1.5, 0.4, 1),
    ("you", "you,", 1.5, 1.75, 0.5, 1),
    ("drew", "Drew.", 1.75, 2.25, 0.98, 1),
    ("thank", "Thank", 3.0, 3.25, 0.97, 1),
    ("you", "you", 3.25, 3.5, 0.55, 1),
    ("so", "so", 3.5, 3.75, 0.99, 1),
    ("much", "much.", 3.75, 4.5, 0.99, 1),
]


def word_dicts(rows: list[tuple[Any, ...]], *, diarize: bool = True) -> list[dict[str, Any]]:
    out = []
    for w, pw, s, e, c, spk in rows:
        d: dict[str, Any] = {"word": w, "start": s, "end": e, "confidence": c, "punctuated_word": pw}
        if diarize:
            d.update(speaker=spk, speaker_confidence=0.9)
        out.append(d)
    return out


def response(
    channels: list[list[dict[str, Any]]],
    *,
    utterances: list[dict[str, Any]] | None = None,
    request_id: str = "req-1",
    extra_alternative: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    chans = []
    for ws in channels:
        alts = [
            {
                "transcript": " ".join(w["word"] for w in ws),
                "confidence": 0.9,
                "words": ws,
            }
        ]
        if extra_alternative is not None:
            alts.append({"transcript": "n best", "confidence": 0.5, "words": extra_alternative})
        chans.append({"alternatives": alts})
    results: dict[str, Any] = {"channels": chans}
    if utterances is not None:
        results["utterances"] = utterances
    return {
        "metadata": {
            "request_id": request_id,
            "duration": 5.0,
            "channels": len(channels),
            "models": ["m-uuid"],
            "model_info": {"m-uuid": {"name": "general-nova-3", "version": "2024-01-01", "arch": "nova-3"}},
            "created": "2024-01-01T00:00:00Z",
            "sha256": "0" * 64,
        },
        "results": results,
    }


def call_response(**kw: Any) -> dict[str, Any]:
    ws = word_dicts(WORDS)
    utterances = [
        {"start": 0.0, "end": 1.0, "confidence": 0.97, "channel": 0, "transcript": "Hello there.",
         "words": ws[:2], "speaker": 0, "id": "u0"},
        {"start": 1.25, "end": 4.5, "confidence": 0.8, "channel": 0,
         "transcript": "Thank you, Drew. Thank you so much.", "words": ws[2:], "speaker": 1, "id": "u1"},
    ]  # fmt: skip
    return response([ws], utterances=utterances, **kw)


@pytest.fixture
def tables() -> dgtools.Tables:
    return dgtools.to_tables(call_response(), file_id="call")


def stereo_response() -> dict[str, Any]:
    left = word_dicts([("hi", "Hi.", 0.0, 0.5, 0.9, 0), ("bye", "Bye.", 2.0, 2.5, 0.9, 0)])
    right = word_dicts([("hey", "Hey.", 0.25, 0.75, 0.9, 0)])
    return response([left, right])


def srt_cues(doc: str) -> list[tuple[float, float, str]]:
    """Parse an SRT document back into (start, end, text) cues."""

    def secs(ts: str) -> float:
        h, m, rest = ts.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = []
    for block in doc.strip("\n").split("\n\n") if doc else []:
        num, times, text = block.split("\n")
        assert num.isdigit()
        a, b = times.split(" --> ")
        cues.append((secs(a), secs(b), text))
    return cues


# --------------------------------------------------------------------------- accessor basics


def test_accessor_is_a_stateless_delegate(tables: dgtools.Tables) -> None:
    words = tables.words.copy()
    assert words.dg is not words.dg  # pandas builds a new accessor on every access
    state = list(vars(words.dg).values())
    assert len(state) == 1 and state[0] is words  # it keeps the frame itself, nothing else
    accessor = words.dg
    before = accessor.text().tolist()
    words.loc[0, "punctuated_word"] = "Hi,"
    assert accessor.text().tolist() != before  # nothing is cached: it reads the frame on every call
    assert accessor.text().iloc[0].startswith("Hi, there.")


def test_import_is_light() -> None:
    code = (
        "import sys, dgtools.accessor, pandas as pd\n"
        "assert 'dg' in pd.DataFrame._accessors\n"
        "heavy = [m for m in ('dgtools.tables', 'dgtools.tables.schema', 'matplotlib', 'ipywidgets', 'IPython', 'librosa')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_missing_columns_name_them_and_the_table(tables: dgtools.Tables) -> None:
    words = tables.words.drop(columns=["speaker", "speaker_confidence"])
    msg = (
        "df.dg.talk_time() needs columns ['speaker']; "
        "it works on the words, utterances or turns table of dgtools.to_tables(...)"
    )
    with pytest.raises(AttributeError, match=re.escape(msg)):
        words.dg.talk_time()
    # the accessor itself refuses frames that are no table it works on
    msg = "df.dg needs columns ['start', 'end']; it works on the words, utterances or turns table"
    with pytest.raises(AttributeError, match=re.escape(msg)):
        tables.channels.dg  # noqa: B018
    assert not hasattr(tables.requests, "dg")
    assert not hasattr(pd.DataFrame({"a": [1]}), "dg")
    with pytest.raises(
        AttributeError, match=re.escape("df.dg.turns() needs columns ['word']; it works on the words table")
    ):
        tables.utterances.dg.turns()
    with pytest.raises(
        AttributeError, match=r"df\.dg\.text\(\) needs a 'word', 'transcript' or 'text' column"
    ):
        tables.sentences.drop(columns="text").dg.text()
    with pytest.raises(
        AttributeError, match=re.escape("df.dg.low_confidence() needs columns ['confidence']")
    ):
        tables.words.drop(columns="confidence").dg.low_confidence()
    with pytest.raises(AttributeError, match=re.escape("df.dg.to_srt() needs columns ['channel']")):
        tables.turns.drop(columns=["channel"]).dg.to_srt()
    with pytest.raises(AttributeError, match=re.escape("df.dg.talk_time() needs columns ['n_words']")):
        tables.utterances.drop(columns="n_words").dg.talk_time()


# --------------------------------------------------------------------------- text


def test_text_of_words_utterances_and_turns(tables: dgtools.Tables) -> None:
    full = "Hello there. Thank you, Drew. Thank you so much."
    idx = pd.MultiIndex.from_arrays([["call"], [0]], names=["file_id", "channel"])
    for frame in (tables.words, tables.utterances, tables.turns):
        got = frame.dg.text()
        assert got.name == "text"
        assert got.dtype == pd.ArrowDtype(pa.string())
        assert got.tolist() == [full]
        assert got.index.to_list() == idx.to_list()
        assert list(got.index.names) == ["file_id", "channel"]
    assert tables.words.dg.text(punctuated=False).tolist() == ["hello there thank you drew thank you so much"]


def test_text_falls_back_to_word_and_uses_word_order(tables: dgtools.Tables) -> None:
    words = tables.words.copy()
    words.loc[1, "punctuated_word"] = None
    shuffled = words.iloc[[4, 0, 8, 2, 6, 1, 3, 5, 7]]
    assert shuffled.dg.text().tolist() == ["Hello there Thank you, Drew. Thank you so much."]


def test_text_uses_first_alternative_only() -> None:
    nbest = word_dicts([("hollow", "Hollow", 0.0, 0.5, 0.2, 0)])
    t = dgtools.to_tables(response([word_dicts(WORDS[:2])], extra_alternative=nbest), file_id="f")
    assert set(t.words["alternative"]) == {0, 1}
    assert t.words.dg.text().tolist() == ["Hello there."]
    assert t.words.dg.talk_time()["words"].tolist() == [2]
    assert t.words.dg.search("hollow").empty


def test_text_keeps_file_order_and_channels() -> None:
    t = dgtools.to_tables([stereo_response(), response([word_dicts(WORDS[:1])])], file_id=["b", "a"])
    got = t.words.dg.text()
    assert got.index.to_list() == [("b", 0), ("b", 1), ("a", 0)]
    assert got.tolist() == ["Hi. Bye.", "Hey.", "Hello"]


# --------------------------------------------------------------------------- turns


def test_turns_equal_to_tables_turns(tables: dgtools.Tables) -> None:
    got = tables.words.dg.turns()
    pd.testing.assert_frame_equal(got, tables.turns)
    assert got["text"].tolist() == ["Hello there.", "Thank you, Drew. Thank you so much."]
    assert got["start"].tolist() == [0.0, 1.25]
    assert got["end"].tolist() == [1.0, 4.5]
    assert got["n_words"].tolist() == [2, 7]


def test_turns_equal_to_tables_turns_on_real_fixture() -> None:
    t = dgtools.to_tables(fixture_path(CAPTIONS))
    pd.testing.assert_frame_equal(t.words.dg.turns(), t.turns)
    assert len(t.turns) == 10


@pytest.mark.parametrize("path", fixture_files(("prerecorded_",)), ids=lambda p: p.stem[:50])
def test_turns_equal_to_tables_turns_on_every_prerecorded_fixture(path: Any) -> None:
    t = dgtools.to_tables(path)
    pd.testing.assert_frame_equal(t.words.dg.turns(), t.turns)


def test_turns_on_a_hand_built_numpy_frame() -> None:
    words = pd.DataFrame(
        {
            "file_id": ["f", "f", "f"],
            "channel": [0, 0, 0],
            "word": ["a", "b", "c"],
            "start": [0.0, 1.0, 2.0],
            "end": [0.5, 1.5, 2.5],
            "speaker": [0.0, 0.0, np.nan],
        }
    )
    got = words.dg.turns()
    assert got["text"].tolist() == ["a b", "c"]
    assert got["speaker"].tolist() == [0, pd.NA]
    assert str(got["speaker"].dtype) == "int64[pyarrow]"
    assert got["request_id"].isna().all()
    assert got["confidence"].isna().all()


def test_turns_of_an_interleaved_multichannel_stream() -> None:
    def msg(ch: int, word: str, start: float) -> dict[str, Any]:
        w = {"word": word, "start": start, "end": start + 0.25, "confidence": 0.9, "punctuated_word": word}
        alt = {"transcript": word, "confidence": 0.9, "words": [w]}
        return {"type": "Results", "channel_index": [ch, 2], "start": start, "duration": 1.0,
                "is_final": True, "speech_final": True, "channel": {"alternatives": [alt]}}  # fmt: skip

    stream = [msg(0, "a", 0.0), msg(1, "b", 0.5), msg(0, "c", 1.0), msg(1, "d", 1.5)]
    tables = dgtools.to_tables(stream, file_id="s")
    got = tables.words.dg.turns()
    assert got[["channel", "turn_index", "text"]].values.tolist() == [[0, 0, "a c"], [1, 0, "b d"]]
    pd.testing.assert_frame_equal(tables.turns, got)


# --------------------------------------------------------------------------- talk time


def test_talk_time_of_words(tables: dgtools.Tables) -> None:
    got = tables.words.dg.talk_time()
    assert got.columns.tolist() == [
        "file_id",
        "channel",
        "speaker",
        "seconds",
        "share",
        "words",
        "words_per_minute",
    ]
    assert got["speaker"].tolist() == [0, 1]
    # the spans of the two turns, 0.0-1.0 and 1.25-4.5 (the pause at 2.25-3.0 counts): not the
    # summed word durations (1.0 and 2.5) of before issue 12
    assert got["seconds"].tolist() == [1.0, 3.25]
    assert got["share"].tolist() == pytest.approx([1 / 4.25, 3.25 / 4.25])
    assert got["words"].tolist() == [2, 7]
    assert got["words_per_minute"].tolist() == pytest.approx([120.0, 7 / 3.25 * 60])
    assert str(got["seconds"].dtype) == "double[pyarrow]"
    assert str(got["words"].dtype) == "int64[pyarrow]"


def test_talk_time_of_utterances_and_turns(tables: dgtools.Tables) -> None:
    for frame in (tables.utterances, tables.turns):
        got = frame.dg.talk_time()
        pd.testing.assert_frame_equal(got, tables.words.dg.talk_time())  # the same, whatever the table
        assert got["seconds"].tolist() == [1.0, 3.25]
        assert got["words"].tolist() == [2, 7]
        assert got["share"].tolist() == pytest.approx([1 / 4.25, 3.25 / 4.25])
        assert got["words_per_minute"].tolist() == pytest.approx([120.0, 7 / 3.25 * 60])


def test_talk_time_null_speaker_is_its_own_group() -> None:
    rows = [*WORDS[:2], ("so", "so", 3.5, 3.75, 0.99, None)]
    ws = word_dicts(rows)
    del ws[2]["speaker"]
    got = dgtools.to_tables(response([ws]), file_id="f").words.dg.talk_time()
    assert got["speaker"].tolist() == [0, pd.NA]
    assert got["seconds"].tolist() == [1.0, 0.25]
    assert got["share"].tolist() == pytest.approx([0.8, 0.2])


def test_talk_time_without_diarization() -> None:
    t = dgtools.to_tables(response([word_dicts(WORDS, diarize=False)]), file_id="f")
    got = t.words.dg.talk_time()
    assert len(got) == 1
    assert got["speaker"].isna().all()
    assert got["seconds"].tolist() == [4.5]  # one turn, from the first word's start to the last's end
    assert got["share"].tolist() == [1.0]


def test_talk_time_per_channel() -> None:
    """Channel 1 speaks (0.25-0.75 s) in channel 0's pause (0.5-2.0 s): two turns of channel 0.

    The share is of the file (both channels), as the speaker lanes label it; before issue 12 it was
    of the channel, 1.0 for each.
    """
    got = dgtools.to_tables(stereo_response(), file_id="s").words.dg.talk_time()
    assert got[["channel", "speaker", "seconds", "share", "words"]].values.tolist() == [
        [0, 0, 1.0, pytest.approx(2 / 3), 2],
        [1, 0, 0.5, pytest.approx(1 / 3), 1],
    ]


def test_talk_time_on_a_plain_numpy_frame() -> None:
    frame = pd.DataFrame(
        {
            "file_id": ["f"] * 3,
            "channel": [0, 0, 0],
            "word": ["a", "b", "c"],
            "start": [0.0, 1.0, 2.0],
            "end": [0.5, 1.5, 3.0],
            "speaker": [1, 0, 1],
        }
    )
    got = frame.dg.talk_time()
    assert got["speaker"].tolist() == [0, 1]
    assert got["speaker"].dtype == np.int64
    assert got["seconds"].tolist() == [0.5, 1.5]
    assert got["words_per_minute"].tolist() == [120.0, 80.0]


def test_talk_time_on_real_fixture() -> None:
    t = dgtools.to_tables(fixture_path(CAPTIONS))
    got = t.words.dg.talk_time()
    assert got["speaker"].tolist() == [0, 1, 2]
    assert got["words"].tolist() == [46, 122, 58]
    assert got["words"].sum() == len(t.words)
    turns = t.turns  # a mono call: its speaking time is the spans of its turns
    expected = (turns["end"] - turns["start"]).groupby(turns["speaker"]).sum()
    assert got["seconds"].tolist() == pytest.approx(expected.tolist())
    assert got["share"].sum() == pytest.approx(1.0)
    assert got["seconds"].tolist() == pytest.approx([16.419999, 71.725009, 21.834987], abs=1e-5)


# --------------------------------------------------------------------------- low confidence


def test_low_confidence_runs_of_words(tables: dgtools.Tables) -> None:
    got = tables.words.dg.low_confidence()
    assert got.columns.tolist() == [
        "file_id",
        "channel",
        "start",
        "end",
        "n_words",
        "text",
        "mean_confidence",
    ]
    assert got["text"].tolist() == ["Thank you,", "you"]
    assert got["start"].tolist() == [1.25, 3.25]
    assert got["end"].tolist() == [1.75, 3.5]
    assert got["n_words"].tolist() == [2, 1]
    assert got["mean_confidence"].tolist() == pytest.approx([0.45, 0.55])
    longer = tables.words.dg.low_confidence(min_words=2)
    assert longer["text"].tolist() == ["Thank you,"]
    assert tables.words.dg.low_confidence(0.3).empty
    assert tables.words.dg.low_confidence(0.99)["text"].tolist() == ["there. Thank you, Drew. Thank you"]


def test_low_confidence_runs_stop_at_channel_boundaries() -> None:
    left = word_dicts([("a", "a", 0.0, 0.5, 0.1, 0)])
    right = word_dicts([("b", "b", 0.0, 0.5, 0.1, 0)])
    got = dgtools.to_tables(response([left, right]), file_id="s").words.dg.low_confidence()
    assert got[["channel", "text", "n_words"]].values.tolist() == [[0, "a", 1], [1, "b", 1]]


def test_low_confidence_rows_of_utterances(tables: dgtools.Tables) -> None:
    got = tables.utterances.dg.low_confidence(0.9)
    assert got["id"].tolist() == ["u1"]
    assert got.columns.tolist() == tables.utterances.columns.tolist()
    assert tables.utterances.dg.low_confidence(0.9, min_words=8).empty
    assert tables.turns.dg.low_confidence(0.8)["text"].tolist() == ["Thank you, Drew. Thank you so much."]


# --------------------------------------------------------------------------- search


def test_search_across_words(tables: dgtools.Tables) -> None:
    got = tables.words.dg.search("thank you")
    assert got.columns.tolist() == [
        "file_id",
        "channel",
        "speaker",
        "start",
        "end",
        "match",
        "context",
        "word_index",
    ]
    assert got["start"].tolist() == [1.25, 3.0]
    assert got["end"].tolist() == [1.75, 3.5]
    assert got["match"].tolist() == ["Thank you,", "Thank you"]
    assert got["context"].tolist() == [
        "Hello there. Thank you, Drew. Thank you",
        "Thank you, Drew. Thank you so much.",
    ]
    assert got["word_index"].tolist() == [2, 5]
    assert got["speaker"].tolist() == [1, 1]
    assert got["file_id"].tolist() == ["call", "call"]


def test_search_matches_word_or_punctuated_word(tables: dgtools.Tables) -> None:
    words = tables.words
    assert words.dg.search(r"you,")["word_index"].tolist() == [3]  # punctuated only
    assert words.dg.search("drew thank")["match"].tolist() == ["Drew. Thank"]  # bare words only
    assert words.dg.search("THANK", case=True).empty
    assert words.dg.search("Thank", case=True)["word_index"].tolist() == [2, 5]
    assert words.dg.search(re.compile("HELLO"))["word_index"].tolist() == [0]
    assert words.dg.search("hello", context=0)["context"].tolist() == ["Hello"]
    assert words.dg.search("ere\\. th")["match"].tolist() == [
        "there. Thank"
    ]  # partial words widen to whole words
    assert words.dg.search("zebra").empty


def test_search_rejects_bad_options(tables: dgtools.Tables) -> None:
    with pytest.raises(dgtools.ConfigError, match=r"not a valid regular expression.*re\.escape"):
        tables.words.dg.search("thank (you")
    with pytest.raises(dgtools.ConfigError, match="context"):
        tables.words.dg.search("you", context=-1)


def test_search_rows_of_utterances_and_turns(tables: dgtools.Tables) -> None:
    got = tables.utterances.dg.search("thank you")
    assert got["id"].tolist() == ["u1"]
    assert got["match"].tolist() == ["Thank you"]
    assert tables.turns.dg.search(r"hello \w+")["match"].tolist() == ["Hello there"]


def test_search_on_real_fixture() -> None:
    t = dgtools.to_tables(fixture_path(CAPTIONS))
    got = t.words.dg.search("thank you")
    assert got["start"].tolist() == pytest.approx([17.9, 28.954998, 29.994999])
    assert got["end"].tolist() == pytest.approx([18.38, 29.435, 30.394999])
    assert got["speaker"].tolist() == [1, 1, 1]
    assert got["match"].tolist() == ["thank you", "Thank you,", "Thank you"]
    assert got["context"].iloc[0] == "great EVA. Drew, thank you so much. It's"


# --------------------------------------------------------------------------- captions


EXPECTED_SRT = """\
1
00:00:00,000 --> 00:00:01,000
[Speaker 0] Hello there.

2
00:00:01,250 --> 00:00:02,250
[Speaker 1] Thank you, Drew.

3
00:00:03,000 --> 00:00:04,500
[Speaker 1] Thank you so much.
"""

EXPECTED_VTT = """\
WEBVTT

00:00:00.000 --> 00:00:01.000
<v Speaker 0>Hello there.

00:00:01.250 --> 00:00:02.250
<v Speaker 1>Thank you, Drew.

00:00:03.000 --> 00:00:04.500
<v Speaker 1>Thank you so much.
"""


def test_srt_and_vtt_from_words(tables: dgtools.Tables) -> None:
    assert tables.words.dg.to_srt() == {"call": EXPECTED_SRT}
    assert tables.words.dg.to_vtt() == {"call": EXPECTED_VTT}


def test_captions_break_at_max_chars_and_max_duration(tables: dgtools.Tables) -> None:
    texts = [c[2] for c in srt_cues(tables.words.dg.to_srt(max_chars=10, speaker_labels=False)["call"])]
    assert texts == ["Hello", "there.", "Thank you,", "Drew.", "Thank you", "so much."]
    cues = srt_cues(tables.words.dg.to_srt(max_duration=1.0, speaker_labels=False)["call"])
    assert cues[-2:] == [(3.0, 3.75, "Thank you so"), (3.75, 4.5, "much.")]


def test_captions_of_utterances_or_turns_split_at_sentences(tables: dgtools.Tables) -> None:
    # words are timed in proportion to their characters: each word with one space
    expected = (
        "1\n00:00:00,000 --> 00:00:01,000\n[Speaker 0] Hello there.\n\n"
        "2\n00:00:01,250 --> 00:00:02,785\n[Speaker 1] Thank you, Drew.\n\n"
        "3\n00:00:02,785 --> 00:00:04,500\n[Speaker 1] Thank you so much.\n"
    )
    assert tables.utterances.dg.to_srt() == {"call": expected}
    assert tables.turns.dg.to_srt() == {"call": expected}
    assert tables.turns.dg.to_vtt(speaker_labels=False)["call"].endswith(
        "00:00:02.785 --> 00:00:04.500\nThank you so much.\n"
    )


def test_captions_label_channels_of_multichannel_files() -> None:
    t = dgtools.to_tables(stereo_response(), file_id="s")
    assert t.words.dg.to_srt()["s"] == (
        "1\n00:00:00,000 --> 00:00:00,500\n[Ch 0 Speaker 0] Hi.\n\n"
        "2\n00:00:00,250 --> 00:00:00,750\n[Ch 1 Speaker 0] Hey.\n\n"
        "3\n00:00:02,000 --> 00:00:02,500\n[Ch 0 Speaker 0] Bye.\n"
    )
    assert t.words.dg.to_vtt(speaker_labels=False)["s"].splitlines()[3] == "<v Ch 0>Hi."


def test_captions_per_file_without_diarization_and_escaped() -> None:
    ws = word_dicts([("a", "A<b>&c", 3661.0, 3661.5, 0.9, None)], diarize=False)
    t = dgtools.to_tables([response([ws]), response([word_dicts(WORDS[:2])])], file_id=["x", "y"])
    vtt = t.words.dg.to_vtt()
    assert list(vtt) == ["x", "y"]
    assert vtt["x"] == "WEBVTT\n\n01:01:01.000 --> 01:01:01.500\nA&lt;b&gt;&amp;c\n"
    assert t.words.dg.to_srt()["x"] == "1\n01:01:01,000 --> 01:01:01,500\nA<b>&c\n"


def test_captions_reject_non_positive_limits(tables: dgtools.Tables) -> None:
    with pytest.raises(dgtools.ConfigError, match="max_chars"):
        tables.words.dg.to_srt(max_chars=0)
    with pytest.raises(dgtools.ConfigError, match="max_duration"):
        tables.words.dg.to_vtt(max_duration=-1.0)


def test_captions_on_real_fixture() -> None:
    t = dgtools.to_tables(fixture_path(CAPTIONS))
    (fid,) = t.words["file_id"].unique()
    doc = t.words.dg.to_srt()[fid]
    assert doc.startswith(
        "1\n00:00:03,040 --> 00:00:07,280\n[Speaker 0] And, Jessica, Christina, we are so proud\n\n"
    )
    cues = srt_cues(doc)
    for start, end, text in cues:
        assert end - start <= 7.0 + 1e-9
        assert len(re.sub(r"^\[Speaker \d+\] ", "", text)) <= 42
    body = " ".join(re.sub(r"^\[Speaker \d+\] ", "", c[2]) for c in cues)
    assert body == t.words.dg.text().iloc[0]
    vtt = t.utterances.dg.to_vtt()[fid]
    assert vtt.count(" --> ") > len(t.utterances)  # long utterances are split by the same rules
    assert all(len(line) <= 42 for line in vtt.splitlines()[1:] if "-->" not in line and "<v" not in line)


# --------------------------------------------------------------------------- empty frames and fixtures


def test_empty_frames_give_empty_results() -> None:
    t = dgtools.to_tables(response([[]]), file_id="silent")
    assert t.words.empty
    for frame in (t.words, t.utterances, t.turns, pd.DataFrame(columns=t.words.columns)):
        text = frame.dg.text()
        assert text.empty
        assert list(text.index.names) == ["file_id", "channel"]
        talk = frame.dg.talk_time()
        assert talk.empty
        assert talk.columns.tolist() == [
            "file_id",
            "channel",
            "speaker",
            "seconds",
            "share",
            "words",
            "words_per_minute",
        ]
        assert frame.dg.low_confidence().empty
        assert frame.dg.search("x").empty
        assert frame.dg.to_srt() == {}
        assert frame.dg.to_vtt() == {}
    assert t.words.dg.search("x").columns.tolist() == [
        "file_id", "channel", "speaker", "start", "end", "match", "context", "word_index"
    ]  # fmt: skip
    pd.testing.assert_frame_equal(t.words.dg.turns(), t.turns)
    assert t.words.dg.low_confidence().columns.tolist() == [
        "file_id", "channel", "start", "end", "n_words", "text", "mean_confidence"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "path", fixture_files(("prerecorded_", "streaming_results")), ids=lambda p: p.stem[:50]
)
def test_every_method_runs_on_real_fixtures(path: Any) -> None:
    t = dgtools.to_tables(path)
    w = t.words[t.words["alternative"] == 0]
    text = t.words.dg.text(punctuated=False)
    assert sum(len(s.split()) for s in text) == w["word"].notna().sum()
    talk = t.words.dg.talk_time()
    assert talk["words"].sum() == len(w)
    shares = talk.groupby("file_id")["share"].sum()  # of the file, every channel
    assert shares.tolist() == pytest.approx([1.0] * len(shares))
    srt = t.words.dg.to_srt()
    assert set(srt) == set(w["file_id"])
    for doc in srt.values():
        assert srt_cues(doc)
    assert t.words.dg.low_confidence(1.01)["n_words"].sum() == w["confidence"].notna().sum()


def test_the_docstring_examples_call_is_this_call() -> None:
    """tests/data/call.json (the df.dg docstring examples' data) is call_response(), so the two never drift."""
    import json

    assert json.loads((REPO / "tests" / "data" / "call.json").read_text(encoding="utf-8")) == call_response()


def test_scoring_formats_are_the_io_writers_of_the_frame() -> None:
    """df.dg.to_rttm / to_stm / to_ctm write what dgtools.io writes for the same frame, on real responses."""
    from dgtools.io import read_ctm, read_rttm, to_ctm, to_rttm, to_stm

    real = fixture_files(("prerecorded_",))
    if not real:
        missing("fixtures", "real Deepgram fixtures not found (prerecorded_*.json)")
    t = dgtools.to_tables([REPO / "data" / "responses", *real])
    names = {0: "agent", 1: "caller"}
    for frame in (t.words, t.utterances, t.turns):
        assert frame.dg.to_rttm(speakers=names) == to_rttm(frame, speakers=names)
        assert frame.dg.to_stm(speakers=names) == to_stm(frame, speakers=names)
    assert t.words.dg.to_rttm(max_gap=2.0) == to_rttm(t.words, max_gap=2.0) != to_rttm(t.words)
    ctm = t.words.dg.to_ctm()
    assert ctm == to_ctm(t.words) and t.words.dg.to_ctm(punctuated=True) == to_ctm(t.words, punctuated=True)
    diarized = [fid for fid, doc in t.words.dg.to_rttm().items() if "speaker_1" in doc]
    assert diarized, "the real fixtures hold diarized calls"
    segments = read_rttm(t.words.dg.to_rttm()[diarized[0]])
    assert segments["end"].max() <= t.words.loc[t.words["file_id"] == diarized[0], "end"].max() + 0.001
    first = t.words[(t.words["file_id"] == diarized[0]) & (t.words["alternative"] == 0)]
    assert len(read_ctm(ctm[diarized[0]])) == len(first)
