"""Tests of dgtools/io/captions.py called directly (``df.dg.to_srt``/``to_vtt`` are tested in test_accessor.py)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import DATA

import dgtools
from dgtools.io.captions import to_srt, to_vtt


def words_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file_id": ["b", "b", "b", "a"],
            "channel": [0, 0, 1, 0],
            "word": ["hi", "there", "hey", "yes"],
            "punctuated_word": ["Hi", "there.", "Hey!", "Yes."],
            "start": [0.0, 0.5, 0.25, 1.0],
            "end": [0.5, 1.0, 0.75, 1.5],
            "speaker": [0.0, 0.0, None, 2.0],  # floats and a null, as a plain NumPy frame has them
        }
    )


def test_srt_of_a_plain_numpy_frame_labels_channels_and_speakers() -> None:
    got = to_srt(words_frame())
    assert list(got) == ["b", "a"]  # files in frame order
    assert got["b"] == (
        "1\n00:00:00,000 --> 00:00:01,000\n[Ch 0 Speaker 0] Hi there.\n\n"
        "2\n00:00:00,250 --> 00:00:00,750\n[Ch 1] Hey!\n"
    )
    assert got["a"] == "1\n00:00:01,000 --> 00:00:01,500\n[Speaker 2] Yes.\n"


def test_vtt_voices_and_limits() -> None:
    got = to_vtt(words_frame(), max_chars=3, speaker_labels=False)
    assert got["b"] == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:00.500\n<v Ch 0>Hi\n\n"
        "00:00:00.250 --> 00:00:00.750\n<v Ch 1>Hey!\n\n"
        "00:00:00.500 --> 00:00:01.000\n<v Ch 0>there.\n"
    )


def test_errors_name_the_caller() -> None:
    frame = words_frame().drop(columns="channel")
    with pytest.raises(
        AttributeError, match=re.escape("dgtools.io.captions.to_srt() needs columns ['channel']")
    ):
        to_srt(frame)
    with pytest.raises(AttributeError, match=re.escape("df.dg.to_vtt() needs columns ['channel']")):
        frame.dg.to_vtt()
    with pytest.raises(dgtools.ConfigError, match=re.escape("to_srt(max_chars=0, max_duration=7.0)")):
        to_srt(words_frame(), max_chars=0)


def test_one_cue_per_utterance_matches_the_accessor() -> None:
    t = dgtools.to_tables(DATA / "responses")
    for frame in (t.words, t.utterances, t.turns):
        assert to_srt(frame) == frame.dg.to_srt()
        assert to_vtt(frame, max_duration=2.0) == frame.dg.to_vtt(max_duration=2.0)
    docs = to_vtt(t.utterances)
    for fid, doc in docs.items():
        assert doc.count(" --> ") == int((t.utterances["file_id"] == fid).sum())
