"""Exports of dgtools/io/ (STM/CTM, SegLST, NeMo, Audacity, lhotse) and ``dgtools export``.

Each format with a reader is written, read back and compared with the table it came from (times
at the millisecond); STM/CTM against hand-written files; SegLST and STM against meeteval's own
readers; captions written by the command against pysubs2 and webvtt-py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pysubs2
import pytest
import webvtt

import dgtools
from conftest import DATA, fixture_path
from dgtools.cli import main
from dgtools.exceptions import ConfigError
from dgtools.io.audacity import read_audacity, to_audacity
from dgtools.io.lhotse import lhotse_jsonl, read_lhotse, to_lhotse
from dgtools.io.nemo import nemo_jsonl, read_nemo, to_nemo
from dgtools.io.seglst import read_seglst, seglst_json, to_seglst
from dgtools.io.stm import read_ctm, read_stm, to_ctm, to_stm

REPO = Path(__file__).resolve().parents[1]
RESPONSES = DATA / "responses"
DIARIZED = "prerecorded_diarize_utterances_paragraphs__deepgram-python-captions.json"
NO_UTTERANCES = "prerecorded_diarize_paragraphs_no_utterances__deepgram-python-captions.json"
#: The fields of lhotse 1.33's SupervisionSegment (lhotse/supervision.py), in their order.
LHOTSE_FIELDS = ["id", "recording_id", "start", "duration", "channel", "text", "language", "speaker", "gender", "custom", "alignment"]  # fmt: skip


@pytest.fixture(scope="module")
def tables() -> dgtools.Tables:
    return dgtools.to_tables(RESPONSES)


def hand_words() -> pd.DataFrame:
    """Two files: a stereo call without speakers (one id with a space), a diarized mono one."""
    return pd.DataFrame(
        {
            "file_id": ["a call", "a call", "a call", "b"],
            "channel": [1, 0, 0, 0],
            "word": ["yes", "hello", "there", "bye"],
            "punctuated_word": ["Yes.", "Hello", "there.", "Bye!"],
            "start": [1.5, 0.25, 0.6, 0.0],
            "end": [2.0, 0.5, 1.0004, 0.5],
            "confidence": [0.5, 0.99, 0.87654, None],
            "speaker": [None, None, None, 3],
        }
    )


def expected_segments(t: dgtools.Tables) -> pd.DataFrame:
    """Each file's utterances where it has some, else its turns: what ``source=None`` writes."""
    utts = t.utterances.rename(columns={"transcript": "text"})
    turns = t.turns[~t.turns["file_id"].isin(set(utts["file_id"]))]
    cols = ["file_id", "channel", "speaker", "start", "end", "text"]
    out = pd.concat([utts[cols], turns[cols]], ignore_index=True).astype(object)
    return out.sort_values(["file_id", "start", "channel"], kind="stable").reset_index(drop=True)


def meeteval_io() -> Any:
    """meeteval's io (the scoring tool SegLST and STM are for); the test skips without it."""
    return pytest.importorskip("meeteval.io")


def load_seglst(path: Path) -> Any:
    """``meeteval.io.SegLST`` of a JSON file, through the dict form (``SegLST.load`` needs simplejson)."""
    return meeteval_io().SegLST(json.loads(path.read_text(encoding="utf-8")))


def assert_times(a: object, b: object) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), atol=5e-4, rtol=0)


# --------------------------------------------------------------------------- STM / CTM


def test_stm_and_ctm_of_a_hand_made_frame() -> None:
    words = hand_words()
    assert to_ctm(words) == {
        "a call": "a_call 1 0.250 0.250 hello 0.9900\na_call 1 0.600 0.400 there 0.8765\n"
        "a_call 2 1.500 0.500 yes 0.5000\n",
        "b": "b 1 0.000 0.500 bye\n",  # no confidence: the field is left out
    }
    assert to_ctm(words, punctuated=True)["b"] == "b 1 0.000 0.500 Bye!\n"
    assert to_stm(words, speakers={3: "Dr Who"}) == {
        "a call": "a_call 1 channel_0 0.250 0.500 Hello\na_call 1 channel_0 0.600 1.000 there.\n"
        "a_call 2 channel_1 1.500 2.000 Yes.\n",
        "b": "b 1 Dr_Who 0.000 0.500 Bye!\n",
    }


def test_read_stm_and_ctm_of_hand_written_files(tmp_path: Path) -> None:
    (tmp_path / "x.stm").write_text(
        ";; a comment\nrec A spk_1 0 1.5 <o,f0,female> hello   world\nrec B spk_2 1.5 2.25\n"
    )
    stm = read_stm(tmp_path / "x.stm")
    assert stm.astype(object).where(stm.notna(), None).values.tolist() == [
        ["rec", 0, "spk_1", 0.0, 1.5, "<o,f0,female>", "hello world"],
        ["rec", 1, "spk_2", 1.5, 2.25, None, ""],
    ]
    (tmp_path / "x.ctm").write_text("rec 1 0.10 0.20 hi 0.9\nrec 2 0.5 0.25 yo\n")
    ctm = read_ctm(tmp_path / "x.ctm")
    assert ctm["word"].tolist() == ["hi", "yo"] and ctm["channel"].tolist() == [0, 1]
    assert_times(ctm["end"], [0.3, 0.75])
    assert ctm["confidence"].isna().tolist() == [False, True]
    with pytest.raises(ConfigError, match=r"x\.bad\.stm:1: an STM line needs"):
        (tmp_path / "x.bad.stm").write_text("rec 1 spk\n")
        read_stm(tmp_path / "x.bad.stm")
    with pytest.raises(ConfigError, match="does not exist"):
        read_ctm(tmp_path / "nope.ctm")


def test_stm_round_trip_of_the_tables(tables: dgtools.Tables, tmp_path: Path) -> None:
    docs = to_stm(tables)
    assert list(docs) == list(dict.fromkeys(tables.requests["file_id"]))  # silence included, empty
    assert docs["silence"] == ""
    for fid, text in docs.items():
        (tmp_path / f"{fid}.stm").write_text(text)
    back = read_stm(tmp_path).sort_values(["file_id", "start", "channel"], kind="stable")
    want = expected_segments(tables)
    assert back["file_id"].tolist() == want["file_id"].tolist()
    assert back["channel"].tolist() == want["channel"].tolist()
    assert back["text"].tolist() == [" ".join(t.split()) for t in want["text"]]
    assert_times(back["start"], want["start"])
    assert_times(back["end"], want["end"])
    speakers = [
        f"channel_{c}" if s is None or pd.isna(s) else str(s)
        for s, c in zip(want["speaker"], want["channel"], strict=True)
    ]
    assert back["speaker"].tolist() == speakers
    clinic = back[back["file_id"] == "clinic_call_stereo"]  # two channels, no diarize
    assert set(clinic["speaker"]) == {"channel_0", "channel_1"}
    assert set(back[back["file_id"] == "support_call_diarized"]["speaker"]) == {"0", "1"}


@pytest.mark.parametrize("source", ["words", "utterances", "turns"])
def test_stm_of_each_source_has_a_line_per_row(tables: dgtools.Tables, source: str) -> None:
    n = sum(text.count("\n") for text in to_stm(tables, source=source).values())
    table = getattr(tables, source)
    if source == "words":
        table = table[table["alternative"] == 0]
    assert n == len(table)


def test_ctm_round_trip_of_the_words(tables: dgtools.Tables, tmp_path: Path) -> None:
    for fid, text in to_ctm(tables).items():
        (tmp_path / f"{fid}.ctm").write_text(text)
    back = read_ctm(tmp_path).sort_values(["file_id", "start", "channel"], kind="stable")
    words = tables.words[tables.words["alternative"] == 0]
    words = words.sort_values(["file_id", "start", "channel"], kind="stable")
    assert back["word"].tolist() == words["word"].tolist()
    assert back["channel"].tolist() == words["channel"].tolist()
    assert_times(back["start"], words["start"])
    assert_times(back["end"], words["end"])
    np.testing.assert_allclose(back["confidence"].astype(float), words["confidence"].astype(float), atol=5e-5)


def test_stm_and_ctm_load_in_meeteval(tables: dgtools.Tables) -> None:
    stm = meeteval_io().STM.parse("".join(to_stm(tables).values()))
    assert len(stm) == len(expected_segments(tables))
    ctm = meeteval_io().CTM.parse("".join(to_ctm(tables).values()))
    assert len(ctm.lines) == int((tables.words["alternative"] == 0).sum())
    assert float(ctm.lines[0].begin_time) == float(tables.words["start"].iloc[0])


def test_real_stm_reads_and_round_trips(real_speech: Path, tmp_path: Path) -> None:
    ref = read_stm(real_speech / "call.stm")
    assert len(ref) == 13
    assert ref.iloc[0][["file_id", "channel", "speaker", "start", "end", "text"]].tolist() == [
        "sample",
        0,
        "Diane",
        6.68,
        7.16,
        "Hello?",
    ]
    assert set(ref["speaker"]) == {"Diane", "Sheila"}
    # the frame read is a turns-like frame (a "text" column): written again, it reads back the same
    (tmp_path / "call.stm").write_text(to_stm(ref.rename(columns={"speaker": "speaker"}))["sample"])
    again = read_stm(tmp_path / "call.stm")
    pd.testing.assert_frame_equal(again, ref)


# --------------------------------------------------------------------------- SegLST


def test_seglst_matches_meeteval_and_round_trips(tables: dgtools.Tables, tmp_path: Path) -> None:
    segs = to_seglst(tables)
    path = tmp_path / "hyp.json"
    path.write_text(seglst_json(segs))
    loaded = load_seglst(path)
    assert len(loaded) == len(segs) == len(expected_segments(tables))
    # meeteval's own conversion of our STM gives the same segments (channel, speaker, times, words)
    via_stm = meeteval_io().STM.parse("".join(to_stm(tables).values())).to_seglst()
    keys = ("session_id", "speaker", "words")
    assert [tuple(s[k] for k in keys) for s in via_stm] == [tuple(s[k] for k in keys) for s in segs]
    assert [int(s["channel"]) for s in via_stm] == [s["channel"] for s in segs]
    assert_times([s["start_time"] for s in via_stm], [s["start_time"] for s in segs])
    # scored against itself by meeteval: no errors
    cp = pytest.importorskip("meeteval.wer.api").cpwer(
        reference=loaded, hypothesis=meeteval_io().SegLST(segs)
    )
    assert all(er.errors == 0 for er in cp.values()) and set(cp) == set(tables.turns["file_id"])
    for back in (read_seglst(path), read_seglst(loaded)):  # a file, and meeteval's object (Decimals)
        want = expected_segments(tables)
        assert back["file_id"].tolist() == want["file_id"].tolist()
        assert back["channel"].tolist() == want["channel"].tolist()
        assert_times(back["start"], want["start"])
        assert_times(back["end"], want["end"])


def test_seglst_of_words_without_speakers() -> None:
    segs = to_seglst(hand_words(), speakers={3: "S3"})
    assert segs[0] == {
        "session_id": "a call",
        "channel": 1,
        "speaker": "channel_0",
        "start_time": 0.25,
        "end_time": 0.5,
        "words": "Hello",
        "confidence": 0.99,
    }
    assert segs[-1]["speaker"] == "S3" and "confidence" not in segs[-1]
    with pytest.raises(ConfigError, match="not a SegLST list"):
        read_seglst([{"words": "x"}])


# --------------------------------------------------------------------------- NeMo


def test_nemo_manifest_per_file_and_per_segment(tables: dgtools.Tables, tmp_path: Path) -> None:
    lines = [json.loads(line) for line in nemo_jsonl(to_nemo(tables)).splitlines()]
    durations = dict(zip(tables.requests["file_id"], tables.requests["duration"], strict=True))
    assert [d["audio_filepath"] for d in lines] == list(durations)
    assert all(d["duration"] == round(durations[d["audio_filepath"]], 3) for d in lines)
    podcast = next(d for d in lines if d["audio_filepath"] == "podcast_mono")
    assert podcast["text"] == tables.requests.set_index("file_id").loc["podcast_mono", "transcript"]
    segs = to_nemo(tables, segments=True, source="utterances")
    assert len(segs) == len(tables.utterances)
    first = tables.utterances.sort_values(["file_id", "start"]).iloc[0]
    row = next(s for s in segs if s["audio_filepath"] == first["file_id"])
    assert (row["offset"], row["duration"]) == (
        round(first["start"], 3),
        round(first["end"] - first["start"], 3),
    )
    path = tmp_path / "manifest.json"
    path.write_text(nemo_jsonl(segs))
    back = read_nemo(path)
    assert_times(back["offset"], [s["offset"] for s in segs])
    assert back["text"].tolist() == [s["text"] for s in segs]


def test_nemo_audio_paths(tmp_path: Path) -> None:
    (tmp_path / "b.flac").write_bytes(b"")
    got = to_nemo(hand_words(), audio_root=tmp_path, audio={"a call": "/elsewhere/a call.wav"})
    assert [d["audio_filepath"] for d in got] == [str(tmp_path / "a call.wav"), str(tmp_path / "b.flac")]
    assert got[0]["text"] == "Hello there. Yes."  # channels merged by start time


def test_nemo_paths_exist_for_data_audio(tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx")
    run = dgtools.transcribe(DATA / "audio", engine="local", store=tmp_path / "store", progress=False)
    lines = to_nemo(run.tables, audio_root=DATA / "audio")
    assert sorted(Path(d["audio_filepath"]).name for d in lines) == sorted(
        p.name for p in (DATA / "audio").glob("*.wav")
    )
    assert all(Path(d["audio_filepath"]).is_file() for d in lines)
    assert all(json.loads(json.dumps(d)) == d for d in lines)
    # the raw store itself exports too, its responses named by the audio they answer
    assert main(["export", str(tmp_path / "store"), "--format", "rttm", "--out", str(tmp_path / "rttm")]) == 0
    assert sorted(p.name for p in (tmp_path / "rttm").rglob("*.rttm")) == sorted(
        f"{p.stem}.rttm" for p in (DATA / "audio").glob("*.wav")
    )


# --------------------------------------------------------------------------- Audacity and lhotse


def test_audacity_labels_round_trip(tables: dgtools.Tables, tmp_path: Path) -> None:
    tracks = to_audacity(tables, source="utterances")
    for fid, text in tracks.items():
        (tmp_path / f"{fid}.txt").write_text(text)
    back = read_audacity(tmp_path)
    utts = tables.utterances.sort_values(["file_id", "start"], kind="stable")
    assert back["file_id"].tolist() == utts["file_id"].tolist()
    np.testing.assert_allclose(back["start"].astype(float), utts["start"].astype(float), atol=5e-7)
    np.testing.assert_allclose(back["end"].astype(float), utts["end"].astype(float), atol=5e-7)
    labels = back.set_index(["file_id", "start"])["label"]
    assert labels[("support_call_diarized", 1.06)].startswith("Speaker 0: Thanks for calling")
    assert labels[("clinic_call_stereo", 0.54)].startswith("Ch 0: Good afternoon")  # two channels, no speaker


def test_audacity_label_choices() -> None:
    words = hand_words()
    assert to_audacity(words, label="text")["b"] == "0.000000\t0.500000\tBye!\n"
    assert to_audacity(words, label="speaker", speakers={3: "Agent"})["b"] == "0.000000\t0.500000\tAgent\n"
    with pytest.raises(ConfigError, match=r"label='who' is not one of"):
        to_audacity(words, label="who")  # type: ignore[arg-type]


def test_lhotse_supervisions(tables: dgtools.Tables, tmp_path: Path) -> None:
    sups = to_lhotse(tables)
    assert all(list(s) == [f for f in LHOTSE_FIELDS if f in s] for s in sups)  # lhotse's names and order
    clinic = [s for s in sups if s["recording_id"] == "clinic_call_stereo"]
    assert clinic[1] == {
        "id": "clinic_call_stereo-00001",
        "recording_id": "clinic_call_stereo",
        "start": 5.15,
        "duration": 3.67,
        "channel": 1,
        "text": "Hello, I'd like to move my appointment on Thursday.",
        "language": "en",  # tables.channels.detected_language
        "custom": {"confidence": 0.9439},
    }
    path = tmp_path / "supervisions.jsonl"
    path.write_text(lhotse_jsonl(sups))
    back = read_lhotse(path)
    want = expected_segments(tables)
    assert back["file_id"].tolist() == want["file_id"].tolist()
    assert_times(back["end"], want["end"])
    assert back["speaker"].tolist()[-1] == str(want["speaker"].iloc[-1])


# --------------------------------------------------------------------------- inputs and errors


def test_real_fixture_with_and_without_utterances() -> None:
    with_utts = dgtools.to_tables(fixture_path(DIARIZED))
    assert sum(t.count("\n") for t in to_stm(with_utts).values()) == len(with_utts.utterances)
    without = dgtools.to_tables(fixture_path(NO_UTTERANCES))
    assert len(without.utterances) == 0
    assert len(to_seglst(without)) == len(without.turns)  # None: the turns, as no utterances
    with pytest.raises(ConfigError, match=r"the tables have no utterances; transcribe with utterances=true"):
        to_stm(without, source="utterances")


def test_errors_name_the_call_and_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"to_stm\(\) takes a dgtools.Tables .* not dict"):
        to_stm({"words": 1})
    with pytest.raises(ConfigError, match=r"to_seglst\(\) needs columns \['end'\]"):
        to_seglst(hand_words().drop(columns="end"))
    with pytest.raises(ConfigError, match=r"to_ctm\(\) writes words"):
        to_ctm(pd.DataFrame({"file_id": ["a"], "text": ["x"], "start": [0.0], "end": [1.0]}))
    with pytest.raises(ConfigError, match=r"source='speech' is not one of"):
        to_lhotse(dgtools.to_tables(RESPONSES / "silence.json"), source="speech")  # type: ignore[arg-type]


def test_empty_tables_give_empty_exports() -> None:
    silence = dgtools.to_tables(RESPONSES / "silence.json")
    assert to_stm(silence) == {"silence": ""} and to_ctm(silence) == {"silence": ""}
    assert to_seglst(silence) == [] and to_lhotse(silence) == []
    assert to_nemo(silence) == [
        {
            "audio_filepath": "silence",
            "duration": round(float(silence.requests["duration"][0]), 3),
            "text": "",
        }
    ]


# --------------------------------------------------------------------------- dgtools export


def run_module(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dgtools", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_export_captions_parse_with_pysubs2_and_webvtt(tmp_path: Path) -> None:
    for fmt in ("srt", "vtt"):
        proc = run_module(
            "export", RESPONSES, "--format", fmt, "--out", tmp_path / fmt, "--preset", "broadcast"
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"wrote 5 {fmt} files to {tmp_path / fmt}"
        files = sorted((tmp_path / fmt).glob(f"*.{fmt}"))
        assert [p.stem for p in files] == sorted(set(dgtools.to_tables(RESPONSES).words["file_id"]))
        for p in files:
            subs = pysubs2.load(str(p))
            assert len(subs) > 0 and all(e.end > e.start for e in subs)
            if fmt == "vtt":
                assert len(webvtt.read(str(p))) == len(subs)


def test_export_every_format_from_parquet(
    tables: dgtools.Tables, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tables", str(RESPONSES), "--out", str(tmp_path / "pq")]) == 0
    capsys.readouterr()
    for fmt, ext in (("stm", ".stm"), ("ctm", ".ctm"), ("audacity", ".txt"), ("ass", ".ass")):
        assert main(["export", str(tmp_path / "pq"), "--format", fmt, "--out", str(tmp_path / fmt)]) == 0
        names = sorted(p.name for p in (tmp_path / fmt).iterdir())
        assert all(n.endswith(ext) for n in names) and "podcast_mono" + ext in names
    assert (tmp_path / "stm" / "silence.stm").read_text() == ""
    assert read_stm(tmp_path / "stm").shape[0] == len(expected_segments(tables))
    assert main(["export", str(tmp_path / "pq"), "--format", "seglst", "--out", str(tmp_path / "sl")]) == 0
    assert len(load_seglst(tmp_path / "sl" / "seglst.json")) == len(expected_segments(tables))
    assert (
        main(["export", str(RESPONSES), "--format", "nemo", "--segments", "--out", str(tmp_path / "n")]) == 0
    )
    assert read_nemo(tmp_path / "n" / "manifest.json").shape[0] == len(expected_segments(tables))
    assert (
        main(
            [
                "export",
                str(RESPONSES),
                "--format",
                "lhotse",
                "--source",
                "turns",
                "--out",
                str(tmp_path / "l"),
            ]
        )
        == 0
    )
    assert read_lhotse(tmp_path / "l" / "supervisions.jsonl").shape[0] == len(tables.turns)
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'sl' / 'seglst.json'} (17 segments)" in out
    assert f"wrote {tmp_path / 'l' / 'supervisions.jsonl'} ({len(tables.turns)} supervisions)" in out


def test_export_real_fixtures(fixtures_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "responses"
    src.mkdir()
    for name in (DIARIZED, NO_UTTERANCES):
        (src / name).write_bytes((fixtures_dir / name).read_bytes())
    assert main(["export", str(src), "--format", "stm", "--out", str(tmp_path / "stm")]) == 0
    stm = read_stm(tmp_path / "stm")
    assert set(stm["file_id"]) == {Path(DIARIZED).stem, Path(NO_UTTERANCES).stem}
    assert set(stm["speaker"]) >= {"0", "1"}
    assert main(["export", str(src), "--format", "vtt", "--out", str(tmp_path / "vtt")]) == 0
    for p in (tmp_path / "vtt").glob("*.vtt"):
        assert len(webvtt.read(str(p))) == len(pysubs2.load(str(p))) > 0


def test_export_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def one_line(argv: list[str], code: int, fragment: str) -> None:
        assert main(argv) == code
        err = capsys.readouterr().err.strip().splitlines()
        assert fragment in err[-1] and "Traceback" not in "\n".join(err)
        if code == 1:
            assert len(err) == 1 and err[0].startswith("dgtools: error: ")

    one_line(
        ["export", str(tmp_path / "nope"), "--format", "stm", "--out", str(tmp_path)], 1, "does not exist"
    )
    one_line(["export", str(RESPONSES), "--format", "stm", "--preset", "social", "--out", str(tmp_path)], 1,
             "--preset is for --format srt, vtt or ass")  # fmt: skip
    one_line(["export", str(RESPONSES), "--format", "ctm", "--source", "turns", "--out", str(tmp_path)], 1,
             "--format ctm writes words")  # fmt: skip
    blocker = tmp_path / "file"
    blocker.write_text("")
    one_line(["export", str(RESPONSES), "--format", "stm", "--out", str(blocker)], 1, "is a file")
    one_line(["export", str(RESPONSES), "--format", "stn", "--out", str(tmp_path)], 2, "did you mean 'stm'?")
    proc = run_module("export", RESPONSES / "silence.json", "--format", "stm", "--out", tmp_path / "s")
    assert (
        proc.returncode == 1
        and proc.stderr.startswith("dgtools: error: ")
        and "holds no transcribed words" in proc.stderr
    )


def test_export_rttm_and_labelstudio(tmp_path: Path) -> None:
    assert main(["export", str(RESPONSES), "--format", "rttm", "--out", str(tmp_path / "r")]) == 0
    assert (
        (tmp_path / "r" / "support_call_diarized.rttm")
        .read_text()
        .startswith("SPEAKER support_call_diarized ")
    )
    assert main(["export", str(RESPONSES), "--format", "labelstudio", "--out", str(tmp_path / "ls")]) == 0
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    assert isinstance(tasks, list) and len(tasks) > 0


def test_out_files_keep_the_folders_of_file_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "src" / "calls").mkdir(parents=True)
    (tmp_path / "src" / "calls" / "a.json").write_bytes(
        (RESPONSES / "support_call_diarized.json").read_bytes()
    )
    assert (
        main(["export", str(tmp_path / "src"), "--format", "audacity", "--out", str(tmp_path / "out")]) == 0
    )
    assert capsys.readouterr().out.strip() == f"wrote 1 audacity files to {tmp_path / 'out'}"
    track = read_audacity(tmp_path / "out" / "calls" / "a.txt")
    assert track["label"].iloc[0].startswith("Speaker 0: ")
