"""Tests of dgtools/io/captions.py called directly (``df.dg.to_srt``/``to_vtt`` are tested in test_accessor.py)."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pandas as pd
import pysubs2
import pytest
import webvtt

import dgtools
from conftest import DATA, fixture_path
from dgtools.io import PRESETS, Cue, cue_qa, parse_cues, to_ass, to_srt, to_vtt
from dgtools.io.captions import balance

CAPTIONS = "prerecorded_diarize_utterances_paragraphs__deepgram-python-captions.json"
HARD = {"max_chars", "max_lines", "max_duration", "min_gap", "overlap"}


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
    for fid, doc in docs.items():  # long utterances are split: at least one cue each
        assert doc.count(" --> ") >= int((t.utterances["file_id"] == fid).sum())


# --------------------------------------------------------------------------- presets and limits


def sources() -> list[dgtools.Tables]:
    return [dgtools.to_tables(DATA / "responses"), dgtools.to_tables(fixture_path(CAPTIONS))]


def parse_both(doc: str, fmt: str) -> list[str]:
    """The cue texts as pysubs2 and webvtt-py read them (they must agree)."""
    subs = pysubs2.SSAFile.from_string(doc, format_=fmt)
    buf = io.StringIO(doc)
    vtt = webvtt.from_buffer(buf, format="srt" if fmt == "srt" else "vtt")
    assert len(subs) == len(vtt.captions) == doc.count(" --> ")
    return [c.text for c in vtt.captions]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_keep_their_limits_on_real_responses(preset: str) -> None:
    lim = PRESETS[preset]
    for t in sources():
        for frame in (t.words, t.utterances):
            for fmt, fn in (("srt", to_srt), ("vtt", to_vtt)):
                for doc in fn(frame, preset=preset, by_channel=True).values():  # type: ignore[operator]
                    parse_both(doc, fmt)
                    q = cue_qa(doc, preset=preset)
                    assert len(q) > 0
                    broken = {v for cell in q["violations"] for v in cell.split(", ") if v}
                    assert not broken & HARD, (preset, broken)
                    if preset == "verbatim":
                        assert not broken
                    # min_duration / max_cps only where the speech leaves no room around the cue
                    for i in q.index[q["violations"] != ""]:
                        before = q.at[i, "start"] - (q.at[i - 1, "end"] if i > 0 else 0.0)
                        after = q.at[i + 1, "start"] - q.at[i, "end"] if i + 1 < len(q) else None
                        assert (
                            before <= lim.min_gap + 0.002 or q.at[i, "duration"] >= lim.max_duration - 0.002
                        )
                        assert after is not None and after <= lim.min_gap + 0.002


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_word_once_and_in_order(preset: str) -> None:
    for t in sources():
        texts = t.words.dg.text()
        for (fid, channel), want in texts.items():
            doc = to_srt(t.words, preset=preset, by_channel=True, speaker_labels=False)[f"{fid}.ch{channel}"]
            assert " ".join(c.text for c in parse_cues(doc)) == want
        utt = t.utterances
        for (fid, channel), part in utt.groupby(["file_id", "channel"], sort=False):
            doc = to_vtt(utt, preset=preset, by_channel=True, speaker_labels=False)[f"{fid}.ch{channel}"]
            want = " ".join(" ".join(x.split()) for x in part.sort_values("start")["transcript"])
            assert " ".join(c.text for c in parse_cues(doc)) == want


def test_broadcast_breaks_balanced_two_line_cues_and_limits_override() -> None:
    t = dgtools.to_tables(fixture_path(CAPTIONS))
    cues = parse_cues(next(iter(to_srt(t.words, preset="broadcast", speaker_labels=False).values())))
    two = [c for c in cues if len(c.lines) == 2]
    assert two, "a 42x2 preset makes two-line cues on a long talk"
    for c in two:  # balanced: the narrowest width needing two lines
        assert list(c.lines) == balance(c.text.split(), 42)
        assert abs(len(c.lines[0]) - len(c.lines[1])) < max(len(w) for w in c.text.split()) + 2
    one = parse_cues(next(iter(to_srt(t.words, preset="broadcast", max_lines=1).values())))
    assert max(len(c.lines) for c in one) == 1
    assert all(len(c.text) <= 42 for c in one)
    social = cue_qa(next(iter(to_srt(t.words, preset="social").values())), preset="social")
    assert social["chars"].max() <= 32 and social["duration"].max() <= 3.0
    assert balance(["the", "quick", "brown", "fox", "jumps", "over"], 20) == [
        "the quick brown",
        "fox jumps over",
    ]


def test_tokens_are_stripped_and_bad_options_raise() -> None:
    frame = words_frame().assign(punctuated_word=[" Hi ", "there. ", "Hey!", "Yes.\n"])
    assert to_srt(frame)["a"] == "1\n00:00:01,000 --> 00:00:01,500\n[Speaker 2] Yes.\n"
    assert "[Ch 0 Speaker 0] Hi there.\n" in to_srt(frame)["b"]
    with pytest.raises(dgtools.ConfigError, match="presets are"):
        to_srt(frame, preset="cinema")  # type: ignore[arg-type]
    with pytest.raises(dgtools.ConfigError, match="max_lines=0"):
        to_vtt(frame, max_lines=0)


def test_speaker_names_prefix_srt_and_voice_vtt() -> None:
    t = dgtools.to_tables(DATA / "responses")
    words = t.words[t.words["file_id"] == "support_call_diarized"]
    names = {0: "Agent", 1: "Caller"}
    srt = to_srt(words, speakers=names)["support_call_diarized"]
    vtt = words.dg.to_vtt(preset="broadcast", speakers=names)["support_call_diarized"]
    assert "[Agent] " in srt and "[Caller] " in srt and "Speaker" not in srt
    assert "<v Agent>" in vtt and "<v Caller>" in vtt and "Speaker" not in vtt
    partial = to_srt(words, speakers={1: "Caller"})["support_call_diarized"]
    assert "[Speaker 0] " in partial and "[Caller] " in partial
    first = webvtt.from_buffer(io.StringIO(vtt)).captions[0]
    assert (first.voice, first.text.replace("\n", " ")) == ("Agent", parse_cues(vtt)[0].text)


def test_per_channel_files_or_one_file_with_channel_labels() -> None:
    t = dgtools.to_tables(DATA / "responses")
    words = t.words[t.words["file_id"] == "clinic_call_stereo"]
    split = words.dg.to_srt(preset="broadcast", by_channel=True)
    assert list(split) == ["clinic_call_stereo.ch0", "clinic_call_stereo.ch1"]
    assert all("[Ch " not in doc for doc in split.values())
    both = words.dg.to_srt(preset="broadcast")["clinic_call_stereo"]
    assert "[Ch 0" in both and "[Ch 1" in both
    assert both.count(" --> ") == sum(doc.count(" --> ") for doc in split.values())


def test_cue_qa_flags_a_bad_cue(tmp_path: Path) -> None:
    bad = (
        "1\n00:00:00,000 --> 00:00:00,400\n[Speaker 0] This line is far too long for any broadcast caption\n"
        "second line\nthird line\n\n"
        "2\n00:00:00,300 --> 00:00:09,000\nok\n\n"
        "3\n00:00:09,020 --> 00:00:10,500\nfine\n"
    )
    q = cue_qa(bad, preset="broadcast")
    assert list(q.columns) == ["index", "start", "end", "duration", "chars", "lines", "cps", "violations"]
    assert q["violations"].tolist() == [
        "max_chars, max_lines, min_duration, max_cps, overlap",
        "max_duration, min_gap",
        "",
    ]
    assert q.at[0, "chars"] == 51 and q.at[0, "lines"] == 3  # the label is not counted
    path = tmp_path / "bad.srt"
    path.write_text(bad, encoding="utf-8")
    assert cue_qa(path, preset="broadcast").equals(q)
    assert cue_qa(str(path), preset="broadcast").equals(q)
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n<v Agent>a &lt; b\n"
    assert cue_qa(vtt)["chars"].tolist() == [5]
    cues = [Cue(0.0, 1.0, ("hi",)), Cue(1.0, 2.0, ("there",))]
    assert cue_qa(cues, max_cps=4)["violations"].tolist() == ["", "max_cps"]


def test_ass_has_the_same_cues_and_names_the_speakers(monkeypatch: pytest.MonkeyPatch) -> None:
    t = dgtools.to_tables(DATA / "responses")
    names = {0: "Agent", 1: "Caller"}
    for preset in sorted(PRESETS):
        ass = to_ass(t.words, preset=preset, speakers=names)  # type: ignore[arg-type]
        srt = to_srt(t.words, preset=preset, speakers=names)  # type: ignore[arg-type]
        assert list(ass) == list(srt)
        for fid, doc in ass.items():
            subs = pysubs2.SSAFile.from_string(doc, format_="ass")
            cues = parse_cues(srt[fid])
            assert [e.plaintext.replace("\n", " ") for e in subs] == [c.text for c in cues]
            assert [e.start for e in subs] == [round(c.start * 100) * 10 for c in cues]  # centiseconds
    events = pysubs2.SSAFile.from_string(t.words.dg.to_ass(speakers=names)["support_call_diarized"])
    assert {e.name for e in events} == {"Agent", "Caller"}
    monkeypatch.setitem(sys.modules, "pysubs2", None)
    with pytest.raises(dgtools.MissingDependencyError, match=re.escape("pip install 'dgtools[captions]'")):
        t.words.dg.to_ass()


def test_a_cue_too_short_for_its_preset_joins_the_next() -> None:
    words = pd.DataFrame(
        {
            "file_id": "f",
            "channel": 0,
            "word": ["copy", "yes", "later"],
            "punctuated_word": ["Copy.", "Yes.", "Later."],
            "start": [0.0, 0.4, 5.0],
            "end": [0.3, 0.7, 5.3],
            "speaker": 0,
        }
    )
    assert [c.text for c in parse_cues(to_srt(words, preset="verbatim")["f"])] == ["Copy.", "Yes.", "Later."]
    broadcast = to_srt(words, preset="broadcast", speaker_labels=False)["f"]
    assert broadcast == (
        "1\n00:00:00,000 --> 00:00:01,000\nCopy. Yes.\n\n2\n00:00:05,000 --> 00:00:06,000\nLater.\n"
    )
    assert cue_qa(broadcast, preset="broadcast")["violations"].tolist() == ["", ""]
