"""dgtools.io.rttm: RTTM written from the tables and read back, labels, and the repo's reference files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dgtools
from conftest import fixture_files
from dgtools.exceptions import ConfigError
from dgtools.io.rttm import read_rttm, speaker_segments, to_rttm

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


def _ms(values: object) -> list[float]:
    return (np.round(np.asarray(values, dtype=float) * 1000) / 1000).tolist()


def _turns(frame: pd.DataFrame) -> list[tuple[str, int, str, float, float]]:
    seg = frame.sort_values(["file_id", "start", "channel"], kind="stable")
    rows = zip(
        seg["file_id"], seg["channel"], seg["speaker"], _ms(seg["start"]), _ms(seg["end"]), strict=True
    )
    return [(str(f), int(c), str(s), a, b) for f, c, s, a, b in rows if b > a]


def _uri_frame(seg: pd.DataFrame) -> pd.DataFrame:
    out = seg.copy()
    out["file_id"] = [Path(f).stem.replace(" ", "_") for f in out["file_id"]]
    return out


# --------------------------------------------------------------------------- writing


def test_lines_labels_and_ms_times() -> None:
    turns = pd.DataFrame(
        {
            "file_id": "calls/my call.wav",
            "channel": 0,
            "speaker": pd.array([1, 0, None], dtype="Int64"),
            "start": [2.0004, 0.1, 5.0],
            "end": [3.1236, 1.9, 5.0004],  # the last rounds to no duration: left out
            "text": ["b", "a", "c"],
        }
    )
    doc = to_rttm(turns, speakers={1: "caller"})
    assert doc == {
        "calls/my call.wav": "SPEAKER my_call 1 0.100 1.800 <NA> <NA> speaker_0 <NA> <NA>\n"
        "SPEAKER my_call 1 2.000 1.124 <NA> <NA> caller <NA> <NA>\n"
    }


def test_multichannel_and_undiarized_labels() -> None:
    t = dgtools.to_tables(DATA / "responses")
    docs = to_rttm(t)
    assert docs["silence"] == ""  # a file of the tables with no words still gets its (empty) document
    stereo = read_rttm(docs["clinic_call_stereo"])
    assert set(zip(stereo["channel"], stereo["speaker"], strict=True)) == {(0, "channel_0"), (1, "channel_1")}
    assert docs["clinic_call_stereo"].splitlines()[1].split()[2] == "2"  # RTTM channels are 1-based
    diarized = read_rttm(docs["support_call_diarized"])
    assert set(diarized["speaker"]) == {"speaker_0", "speaker_1"}
    words = pd.DataFrame(
        {
            "file_id": "m",
            "channel": [0, 1],
            "word": ["hi", "yo"],
            "start": [0.0, 0.5],
            "end": [0.4, 0.9],
            "speaker": [0, 0],  # multichannel diarization counts speakers per channel
        }
    )
    assert speaker_segments(words)["speaker"].tolist() == ["channel_0_speaker_0", "channel_1_speaker_0"]
    assert "agent" in to_rttm(words, speakers={"channel_0_speaker_0": "agent"})["m"]


def test_words_merge_into_turns_up_to_max_gap() -> None:
    words = pd.DataFrame(
        {
            "file_id": "a",
            "channel": 0,
            "word": ["a", "b", "c", "d", "e"],
            "start": [0.0, 0.5, 1.6, 2.0, 2.5],
            "end": [0.4, 1.0, 1.9, 2.4, 2.9],
            "speaker": [0, 0, 0, 1, 0],
        }
    )
    seg = speaker_segments(words, max_gap=0.5)  # 1.0 -> 1.6 is a 0.6 s pause: a new segment
    assert list(zip(seg["speaker"], seg["start"], seg["end"], strict=True)) == [
        ("speaker_0", 0.0, 1.0),
        ("speaker_0", 1.6, 1.9),
        ("speaker_1", 2.0, 2.4),
        ("speaker_0", 2.5, 2.9),
    ]
    assert len(speaker_segments(words, max_gap=1.0)) == 3


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("source", ["turns", "utterances", "words"])
def test_round_trip_on_the_repo_responses(source: str) -> None:
    t = dgtools.to_tables(DATA / "responses")
    docs = to_rttm(t, source=source)  # type: ignore[arg-type]
    back = read_rttm("".join(docs.values()))
    expected = _uri_frame(speaker_segments(t, source=source))  # type: ignore[arg-type]
    assert len(back) > 0 and _turns(back) == _turns(expected)
    again = to_rttm(back)  # what read_rttm gives is written back as it was
    assert "".join(again.values()) == "".join(docs.values())


def test_round_trip_through_files_and_a_folder(tmp_path: Path) -> None:
    t = dgtools.to_tables(DATA / "responses")
    for fid, text in to_rttm(t).items():
        (tmp_path / f"{fid}.rttm").write_text(text, encoding="utf-8")
    back = read_rttm(tmp_path)
    assert _turns(back) == _turns(_uri_frame(speaker_segments(t, source="turns")))
    one = read_rttm(tmp_path / "support_call_diarized.rttm")
    assert set(one["file_id"]) == {"support_call_diarized"} and len(one) == 7


@pytest.mark.fixtures
def test_round_trip_on_every_real_diarized_fixture() -> None:
    files = [p for p in fixture_files() if '"speaker"' in p.read_text(encoding="utf-8")]
    if not files:
        pytest.skip("no diarized fixtures")
    checked = 0
    for path in files:
        t = dgtools.to_tables(path)
        for source in ("turns", "words"):
            docs = to_rttm(t, source=source)  # type: ignore[arg-type]
            back = read_rttm(io.StringIO("".join(docs.values())))
            assert _turns(back) == _turns(_uri_frame(speaker_segments(t, source=source))), path.name  # type: ignore[arg-type]
            checked += len(back)
    assert checked > 0


# --------------------------------------------------------------------------- reading


def test_reads_the_repo_references() -> None:
    refs = read_rttm(DATA / "references")
    assert list(refs.columns) == ["file_id", "channel", "speaker", "start", "end"]
    assert refs.groupby("file_id").size().to_dict() == {"one_speaker": 1, "stereo_call": 6, "two_voices": 6}
    stereo = refs[refs["file_id"] == "stereo_call"]
    assert dict(zip(stereo["speaker"], stereo["channel"], strict=True)) == {"agent": 0, "caller": 1}
    first = refs.iloc[1]
    assert (first["start"], first["end"]) == (0.4, 3.237)  # 0.400 + 2.837, exactly
    assert read_rttm(DATA / "references" / "silence.rttm").empty


def test_reads_the_real_call(real_speech: Path) -> None:
    call = read_rttm(real_speech / "call.rttm")
    assert set(call["file_id"]) == {"sample"} and set(call["speaker"]) == {"speaker90", "speaker91"}
    assert len(call) == len((real_speech / "call.rttm").read_text().split("\n")) - 1
    assert (call["end"] > call["start"]).all()


def test_tolerant_of_comments_na_whitespace_and_other_types() -> None:
    text = (
        ";; a comment\n# another\n\n"
        "SPKR-INFO f 1 <NA> <NA> <NA> unknown A <NA> <NA>\n"
        "SPEAKER  f\t<NA>  1.5 0.25 <NA> <NA> <NA> <NA> <NA>\n"
        "SPEAKER f 2 3 1 <NA> <NA> B\n"
    )
    df = read_rttm(text)
    assert df.to_dict("list") == {
        "file_id": ["f", "f"],
        "channel": [0, 1],
        "speaker": [None, "B"],
        "start": [1.5, 3.0],
        "end": [1.75, 4.0],
    }


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("SPEAKER f 1 0.0", "is not an RTTM SPEAKER line"),
        ("SPEAKR f 1 0.0 1.0 <NA> <NA> A <NA> <NA>", "is not an RTTM SPEAKER line"),
        ("SPEAKER f 1 zero 1.0 <NA> <NA> A <NA> <NA>", "start 'zero' is not a number"),
        ("SPEAKER f 1 0.0 -1 <NA> <NA> A <NA> <NA>", "duration '-1' is not a number"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, match: str) -> None:
    path = tmp_path / "bad.rttm"
    path.write_text(f"SPEAKER f 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"bad.rttm:2: .*{match}.*expected 'SPEAKER <uri> <channel>"):
        read_rttm(path)


def test_missing_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="neither a file nor a folder"):
        read_rttm("no/such.rttm")
