"""Word alignments of the lhotse export (``to_lhotse(..., alignments=True)``, ``dgtools export --alignments``).

What lhotse 1.33 reads (lhotse/supervision.py, checked in its source): ``SupervisionSegment.from_dict``
turns ``data["alignment"]`` into ``{kind: [AlignmentItem.deserialize(x) for x in items]}``, and
``AlignmentItem.deserialize(x)`` is ``AlignmentItem(*x)`` for a list (``to_dict`` writes
``AlignmentItem.serialize()``, ``list(item)``: ``[symbol, start, duration, score]``) or
``AlignmentItem(*x.values())`` for the dicts written before lhotse 1.8.  The item's ``start`` is
"w.r.t. the start of recording", not of the supervision.  The expected words below are taken from
the tables (or the raw response) directly, not from the code under test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dgtools
from conftest import DATA, fixture_files
from dgtools.cli import main
from dgtools.exceptions import ConfigError
from dgtools.io.lhotse import ALIGNMENT_COLUMNS, lhotse_jsonl, read_lhotse, to_lhotse

RESPONSES = DATA / "responses"
#: lhotse 1.33's SupervisionSegment fields (its constructor's keywords, which from_dict passes on).
LHOTSE_FIELDS = ["id", "recording_id", "start", "duration", "channel", "text", "language", "speaker", "gender", "custom", "alignment"]  # fmt: skip
#: lhotse's AlignmentItem fields, in order (a NamedTuple: deserialize passes a list positionally).
ITEM_FIELDS = ("symbol", "start", "duration", "score")


@pytest.fixture(scope="module")
def tables() -> dgtools.Tables:
    return dgtools.to_tables(RESPONSES)


def source_table(t: dgtools.Tables, source: str | None) -> pd.DataFrame:
    """The segments ``source`` writes: a table of the Tables, or (None) utterances where a file has some, else turns."""
    if source is not None:
        return getattr(t, source)
    turns = t.turns[~t.turns["file_id"].isin(set(t.utterances["file_id"]))]
    return pd.concat([t.utterances, turns], ignore_index=True)


def first_alternative(words: pd.DataFrame) -> pd.DataFrame:
    alt = words["alternative"].astype("float").fillna(0) if "alternative" in words else 0
    return words[alt == 0]


def expected_items(
    words: pd.DataFrame, fid: str, ch: int, start: float, end: float, before: float
) -> list[list[Any]]:
    """The first-alternative words of ``fid``/``ch`` starting within ``[start, end]``, as lhotse items.

    A word starting where one segment ends and the next (on that channel, at ``before``) starts
    is the next one's.
    """
    w = first_alternative(words)
    w = w[(w["file_id"] == fid) & (w["channel"] == ch) & (w["start"] >= start) & (w["start"] <= end)]
    w = w[w["start"] < before]
    w = w.sort_values(["start", "word_index"], kind="stable")
    return [
        [word, round(s, 3), round(e - s, 3), None if pd.isna(c) else c]
        for word, s, e, c in zip(
            w["word"].tolist(), w["start"].tolist(), w["end"].tolist(), w["confidence"].tolist(), strict=True
        )
    ]


def check_against_tables(t: dgtools.Tables, source: str | None) -> list[dict[str, Any]]:
    """Every supervision's alignment is its segment's words (file, channel, time range), in order."""
    sups = to_lhotse(t, source=source, alignments=True)  # type: ignore[arg-type]
    segs = source_table(t, source).dropna(subset=["start", "end"])
    n_items = 0
    for fid, g in segs.groupby("file_id", sort=False):
        g = g.sort_values(["start", "channel"], kind="stable")
        nexts = g.groupby("channel")["start"].shift(-1).astype(float).fillna(np.inf).tolist()
        mine = [s for s in sups if s["recording_id"] == fid]
        assert len(mine) == len(g)
        cols = (
            ["channel", "start", "end", "word", "confidence"]
            if source == "words"
            else ["channel", "start", "end"]
        )
        rows = zip(mine, g[cols].itertuples(index=False), nexts, strict=True)
        for sup, (ch, start, end, *own), before in rows:
            assert sup["start"] == round(start, 3) and sup["channel"] == ch  # the same segment
            items = sup["alignment"]["word"]
            if source == "words":  # a word's own (a closed range would take the next one too, at its end)
                assert items == [[own[0], round(start, 3), round(end - start, 3), own[1]]]
            else:
                assert items == expected_items(t.words, fid, ch, start, end, before)
            for _, a_start, a_dur, _ in items:  # absolute recording times, within the supervision
                assert a_start >= sup["start"] - 0.001
                # start and duration are each rounded to the ms: the ends may differ by 1.5 ms at most
                assert a_start + a_dur <= sup["start"] + sup["duration"] + 0.0015
            n_items += len(items)
    timed = first_alternative(t.words).dropna(subset=["start", "end"])
    if source != "utterances":  # utterances (where every file has them) and turns cover every word once
        assert n_items == len(timed)
    return sups


# --------------------------------------------------------------------------- to_lhotse(alignments=True)


@pytest.mark.parametrize("source", [None, "turns", "words"])
def test_alignments_are_the_segments_words(tables: dgtools.Tables, source: str | None) -> None:
    sups = check_against_tables(tables, source)
    if source == "words":
        assert all(len(s["alignment"]["word"]) == 1 for s in sups)  # a word's own alignment
    if source == "turns":  # turns start at their first word: item times are not relative to the segment
        assert all(s["alignment"]["word"][0][1] == s["start"] for s in sups)
        assert sum(s["start"] > 1 for s in sups) >= 6


def test_alignment_of_a_supervision_by_hand(tables: dgtools.Tables) -> None:
    """The first clinic supervision against the raw response's words (the channel-0 utterance)."""
    raw = json.loads((RESPONSES / "clinic_call_stereo.json").read_text())
    utt = raw["results"]["utterances"][0]
    sup = to_lhotse(tables, alignments=True)[0]
    assert (sup["id"], sup["start"], sup["duration"]) == ("clinic_call_stereo-00000", 0.54, 3.83)
    assert sup["alignment"]["word"] == [
        [w["word"], round(w["start"], 3), round(w["end"] - w["start"], 3), w["confidence"]]
        for w in utt["words"]
    ]
    assert sup["alignment"]["word"][:2] == [
        ["good", 0.54, 0.32, 0.986538],
        ["afternoon", 0.91, 0.57, 0.9997012],
    ]


def test_alignments_of_real_fixtures() -> None:
    files = fixture_files(("prerecorded_",))
    if not files:
        pytest.skip("real Deepgram fixtures not found")
    checked = 0
    for path in files:
        t = dgtools.to_tables(path)
        check_against_tables(t, None)
        if len(t.utterances):
            check_against_tables(t, "utterances")
        checked += len(t.words)
    assert checked > 5000  # the long Chinese podcast among them


def test_alignments_of_a_words_frame_by_hand() -> None:
    words = pd.DataFrame(
        {
            "file_id": ["a", "a", "a"],
            "channel": [1, 0, 0],
            "word": ["yes", "hello", ""],
            "punctuated_word": ["Yes.", "Hello", "there."],
            "start": [1.5, 0.25, 0.6],
            "end": [2.0, 0.5, 1.0004],
            "confidence": [0.5, 0.99, None],
        }
    )
    assert [s["alignment"] for s in to_lhotse(words, alignments=True)] == [
        {"word": [["hello", 0.25, 0.25, 0.99]]},  # the bare word
        {"word": [["there.", 0.6, 0.4, None]]},  # the punctuated one where the word is empty; no score
        {"word": [["yes", 1.5, 0.5, 0.5]]},
    ]
    assert "alignment" not in to_lhotse(words)[0]  # off by default


def test_alignments_need_words(tables: dgtools.Tables) -> None:
    with pytest.raises(
        ConfigError, match=r"to_lhotse\(\): alignments=True needs words; pass the dgtools.Tables"
    ):
        to_lhotse(tables.turns, alignments=True)
    with pytest.raises(ConfigError, match=r"alignments=True needs words and the tables have none"):
        no_words = dgtools.Tables({n: getattr(tables, n) for n in ("requests", "utterances", "turns")})
        to_lhotse(no_words, alignments=True)
    silence = dgtools.to_tables(RESPONSES / "silence.json")
    assert to_lhotse(silence, alignments=True) == []


# --------------------------------------------------------------------------- what lhotse reads


def test_json_shape_is_what_lhotse_from_dict_reads(tables: dgtools.Tables) -> None:
    text = lhotse_jsonl(to_lhotse(tables, alignments=True))
    for line in text.splitlines():
        sup = json.loads(line)
        assert list(sup) == [f for f in LHOTSE_FIELDS if f in sup]  # SupervisionSegment(**data)
        assert {"id", "recording_id", "start", "duration"} <= sup.keys()
        alignment = sup["alignment"]
        assert isinstance(alignment, dict) and list(alignment) == ["word"]
        for item in alignment["word"]:  # AlignmentItem(*item)
            assert isinstance(item, list) and len(item) == len(ITEM_FIELDS)
            symbol, start, duration, score = item
            assert isinstance(symbol, str) and symbol
            assert isinstance(start, float) and isinstance(duration, float) and duration >= 0
            assert score is None or (isinstance(score, float) and 0 <= score <= 1)
            assert start == round(start, 3) and duration == round(duration, 3)


# --------------------------------------------------------------------------- read_lhotse


def test_read_lhotse_round_trip(tables: dgtools.Tables, tmp_path: Path) -> None:
    sups = to_lhotse(tables, source="turns", alignments=True)
    path = tmp_path / "supervisions.jsonl"
    path.write_text(lhotse_jsonl(sups))
    assert read_lhotse(path).shape[0] == len(tables.turns)  # supervisions read as before
    back = read_lhotse(path, alignments=True)
    assert list(back.columns) == ALIGNMENT_COLUMNS
    items = [(s, a) for s in sups for a in s["alignment"]["word"]]
    assert len(back) == len(first_alternative(tables.words))
    assert back["id"].tolist() == [s["id"] for s, _ in items]
    assert back["word"].tolist() == [a[0] for _, a in items]
    assert back["channel"].tolist() == [s["channel"] for s, _ in items]
    assert back["speaker"].fillna("-").tolist() == [s.get("speaker", "-") for s, _ in items]
    np.testing.assert_allclose(back["start"].astype(float), [a[1] for _, a in items])
    np.testing.assert_allclose(back["end"].astype(float), [a[1] + a[2] for _, a in items], atol=1e-9)
    assert back["confidence"].tolist() == [a[3] for _, a in items]
    # read back, the words are a words table again: the same transcript as the tables'
    assert back.dg.text(punctuated=False).tolist() == tables.words.dg.text(punctuated=False).tolist()


def test_read_lhotse_takes_lhotse_dict_items_and_rejects_others(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    old = {"symbol": "hi", "start": 1.0, "duration": 0.5, "score": None}  # lhotse before 1.8
    sup = {"id": "a-0", "recording_id": "a", "start": 1.0, "duration": 2.0, "channel": [1, 2]}
    path.write_text(
        json.dumps({**sup, "alignment": {"word": [old, ["you", 2.0, 0.5]], "phone": [["HH", 1.0, 0.1]]}})
        + "\n"
        + json.dumps({**sup, "id": "a-1"})  # no alignment: no rows, no failure
        + "\n"
    )
    back = read_lhotse(path, alignments=True)
    assert back[["id", "channel", "word", "start", "end"]].values.tolist() == [
        ["a-0", 1, "hi", 1.0, 1.5],
        ["a-0", 1, "you", 2.0, 2.5],
    ]
    assert back["confidence"].isna().all()
    assert read_lhotse(path)["id"].tolist() == ["a-0", "a-1"]
    path.write_text(json.dumps({**sup, "alignment": {"word": [["hi", 1.0]]}}) + "\n")
    with pytest.raises(ConfigError, match=r"s.jsonl:1: an alignment item is \['hi', 1.0\]; lhotse writes"):
        read_lhotse(path, alignments=True)
    path.write_text(json.dumps({**sup, "alignment": [["hi", 1.0, 0.5]]}) + "\n")
    with pytest.raises(ConfigError, match=r"s.jsonl:1: 'alignment' is not a dict of lists"):
        read_lhotse(path, alignments=True)
    assert read_lhotse(path).shape[0] == 1  # the supervisions still read


# --------------------------------------------------------------------------- dgtools export --alignments


def test_export_alignments_command(
    tables: dgtools.Tables, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "l"
    assert main(["export", str(RESPONSES), "--format", "lhotse", "--alignments", "--out", str(out)]) == 0
    path = out / "supervisions.jsonl"
    sups = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert sups == to_lhotse(tables, alignments=True)
    assert f"wrote {path} ({len(sups)} supervisions)" in capsys.readouterr().out
    assert len(read_lhotse(path, alignments=True)) == len(first_alternative(tables.words))
    assert main(["export", str(RESPONSES), "--format", "lhotse", "--out", str(tmp_path / "plain")]) == 0
    plain = (tmp_path / "plain" / "supervisions.jsonl").read_text(encoding="utf-8")
    assert '"alignment"' not in plain
    capsys.readouterr()
    argv = ["export", str(RESPONSES), "--format", "stm", "--alignments", "--out", str(tmp_path / "s")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dgtools: error: --alignments is for --format lhotse, not --format stm"]
    assert not (tmp_path / "s").exists()


def test_scores_keep_deepgrams_confidence(tables: dgtools.Tables) -> None:
    scores = [
        a[3] for s in to_lhotse(tables, source="words", alignments=True) for a in s["alignment"]["word"]
    ]
    conf = first_alternative(tables.words)["confidence"].astype(float)
    assert sorted(scores) == sorted(conf.tolist()) and not any(math.isnan(x) for x in scores)
