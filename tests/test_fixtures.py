"""Real Deepgram responses (``../shared/fixtures/deepgram``) flatten completely.

Three kinds of test:

- every pre-recorded, ``/v1/read``, doc-repaired, spec-example and ``/v1/listen``
  streaming fixture flattens into tables with the exact schema, and the
  ``/v2`` Flux and ``/v1/speak`` files are refused with a clear message;
- *the leaf walk*: every scalar in every fixture either lands in a table
  column (per :data:`LEAF_COLUMNS`) or is listed, with a reason, in
  :data:`dgtools.tables.schema.DROPPED_FIELDS`.  A path that is neither fails, so a
  field Deepgram adds is noticed instead of silently lost;
- specific values checked against the fixtures by hand.

The tests skip when the fixtures folder is absent.
"""

from __future__ import annotations

import copy
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from test_tables import col

import dgtools
from conftest import FIXTURES, fixture_files, fixture_path, missing
from dgtools import ResponseFormatError
from dgtools.tables.schema import DROPPED_FIELDS, SCHEMAS, TABLE_NAMES

pytestmark = pytest.mark.fixtures

#: Files of other Deepgram APIs (/v2/listen Flux, /v1/speak, /v2/speak) that dgtools refuses.
REJECTED_PREFIXES = ("speak_", "streaming_v2_")


def _flattenable(xfail: dict[str, str] | None = None) -> list[Any]:
    files = [p for p in fixture_files() if not p.name.startswith(REJECTED_PREFIXES)]
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no fixtures at {FIXTURES}"))]
    xfail = xfail or {}
    return [
        pytest.param(p, id=p.name.split("__")[0],
                     marks=[pytest.mark.xfail(strict=True, reason=xfail[p.name])] if p.name in xfail else [])
        for p in files
    ]  # fmt: skip


def _rejected() -> list[Any]:
    files = sorted(FIXTURES.glob("*.json")) if FIXTURES.is_dir() else []
    files = [p for p in files if p.name.startswith(REJECTED_PREFIXES)]
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no fixtures at {FIXTURES}"))]
    return [pytest.param(p, id=p.name.split("__")[0]) for p in files]


FLATTENABLE = _flattenable()


def test_the_real_fixtures_are_here() -> None:
    """Without ../shared the parametrized tests below skip; under DGTOOLS_REQUIRE=fixtures this fails the run."""
    if not fixture_files():
        missing("fixtures", f"no real Deepgram fixtures at {FIXTURES}")
    assert any(p.name.startswith(REJECTED_PREFIXES) for p in FIXTURES.glob("*.json"))


#: Known tables.py bugs the leaf walk finds, per fixture file.
LEAF_WALK_BUGS: dict[str, str] = {}
REJECTED = _rejected()


# --------------------------------------------------------------------------- every file


@pytest.mark.parametrize("path", FLATTENABLE)
def test_fixture_flattens(path: Path) -> None:
    t = dgtools.to_tables(path)
    assert len(t.requests) == 1
    for name in TABLE_NAMES:
        df = t[name]
        assert list(df.columns) == SCHEMAS[name].names
        for f in SCHEMAS[name]:
            assert df[f.name].dtype == pd.ArrowDtype(f.type), f"{name}.{f.name}"
        assert set(df["file_id"]) <= {path.stem}, name
    assert t.requests["kind"].iloc[0] in {"prerecorded", "streaming", "read", "fragment"}
    assert t.summary().files == 1


def test_every_fixture_is_classified(fixtures_dir: Path) -> None:
    """A new fixture file must be either flattenable or known to be refused."""
    names = {p.name for p in fixtures_dir.glob("*.json")}
    flat = {p.name for p in fixture_files() if not p.name.startswith(REJECTED_PREFIXES)}
    refused = {n for n in names if n.startswith(REJECTED_PREFIXES)}
    assert names == flat | refused


@pytest.mark.parametrize("path", REJECTED)
def test_other_apis_are_refused_clearly(path: Path) -> None:
    with pytest.raises(ResponseFormatError) as exc:
        dgtools.to_tables(path)
    msg = str(exc.value)
    assert exc.value.path == str(path) and path.name in msg
    assert "Flux" in msg or "not a Deepgram response" in msg
    assert "/v1/listen" in msg or "'results'" in msg  # says what dgtools does read


# --------------------------------------------------------------------------- the leaf walk

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: Paths of interim streaming Results (is_final=false) get this prefix: their words feed no table.
INTERIM = "interim:"

# Where each leaf lands: path pattern -> (table, column) or (table, column, struct field).
# ``[]`` is a list item, ``*`` any single key (model uuids, metadata.extra keys).

#: The fields of an alternative, under results.channels[].alternatives[], channel.alternatives[]
#: (streaming) and alternatives[] (a channel fragment).
ALTERNATIVE_LEAVES: dict[str, tuple[str, ...]] = {
    "transcript": ("alternatives", "transcript"),
    "confidence": ("alternatives", "confidence"),
    "languages[]": ("alternatives", "languages"),
    "words[].word": ("words", "word"),
    "words[].punctuated_word": ("words", "punctuated_word"),
    "words[].start": ("words", "start"),
    "words[].end": ("words", "end"),
    "words[].confidence": ("words", "confidence"),
    "words[].speaker": ("words", "speaker"),
    "words[].speaker_confidence": ("words", "speaker_confidence"),
    "words[].language": ("words", "language"),
    "words[].sentiment": ("words", "sentiment"),
    "words[].sentiment_score": ("words", "sentiment_score"),
    "paragraphs.transcript": ("alternatives", "paragraphs_transcript"),
    "paragraphs.paragraphs[].speaker": ("paragraphs", "speaker"),
    "paragraphs.paragraphs[].start": ("paragraphs", "start"),
    "paragraphs.paragraphs[].end": ("paragraphs", "end"),
    "paragraphs.paragraphs[].num_words": ("paragraphs", "num_words"),
    "paragraphs.paragraphs[].sentences[].text": ("sentences", "text"),
    "paragraphs.paragraphs[].sentences[].start": ("sentences", "start"),
    "paragraphs.paragraphs[].sentences[].end": ("sentences", "end"),
    "entities[].label": ("entities", "label"),
    "entities[].value": ("entities", "value"),
    "entities[].raw_value": ("entities", "raw_value"),
    "entities[].confidence": ("entities", "confidence"),
    "entities[].start_word": ("entities", "start_word"),
    "entities[].end_word": ("entities", "end_word"),
    "summaries[].summary": ("summaries", "summary"),
    "summaries[].start_word": ("summaries", "start_word"),
    "summaries[].end_word": ("summaries", "end_word"),
    "topics[].text": ("topics", "text"),
    "topics[].start_word": ("topics", "start_word"),
    "topics[].end_word": ("topics", "end_word"),
    "topics[].topics[]": ("topics", "topic"),  # legacy: a list of strings
    "topics[].topics[].topic": ("topics", "topic"),
    "topics[].topics[].confidence_score": ("topics", "confidence_score"),
    "topics[].topics[].confidence": ("topics", "confidence_score"),  # legacy detect_topics
}

#: The fields of a channel, under results.channels[] and at the top of a channel fragment.
CHANNEL_LEAVES: dict[str, tuple[str, ...]] = {
    "detected_language": ("channels", "detected_language"),
    "language_confidence": ("channels", "language_confidence"),
    "search[].query": ("search_hits", "query"),
    "search[].hits[].confidence": ("search_hits", "confidence"),
    "search[].hits[].start": ("search_hits", "start"),
    "search[].hits[].end": ("search_hits", "end"),
    "search[].hits[].snippet": ("search_hits", "snippet"),
}

#: Request metadata, under ``metadata.`` (pre-recorded, /v1/read, streaming Results) and at the
#: top of a streaming Metadata message (whose ``duration`` is also its messages row's).
METADATA_LEAVES: dict[str, tuple[str, ...]] = {
    "request_id": ("requests", "request_id"),
    "sha256": ("requests", "sha256"),
    "created": ("requests", "created"),
    "channels": ("requests", "channels"),
    "models[]": ("requests", "models"),
    "model_uuid": ("requests", "model_uuid"),
    "model_info.*.name": ("requests", "model_name"),
    "model_info.*.version": ("requests", "model_version"),
    "model_info.*.arch": ("requests", "model_arch"),
    "model_info.name": ("requests", "model_name"),  # streaming Results: not keyed by uuid
    "model_info.version": ("requests", "model_version"),
    "model_info.arch": ("requests", "model_arch"),
    "language": ("requests", "language"),
    "tags[]": ("requests", "tags"),
    "extra.*": ("requests", "extra"),
    "warnings[].type": ("requests", "warnings", "type"),
    "warnings[].parameter": ("requests", "warnings", "parameter"),
    "warnings[].message": ("requests", "warnings", "message"),
    **{
        f"{info}.{key}": ("requests", f"{info}_{key}")
        for info in ("summary_info", "sentiment_info", "topics_info", "intents_info")
        for key in ("model_uuid", "input_tokens", "output_tokens")
    },
}

#: results.* beyond the channels: utterances and audio intelligence (both nestings).
RESULTS_LEAVES: dict[str, tuple[str, ...]] = {
    "results.utterances[].id": ("utterances", "id"),
    "results.utterances[].channel": ("utterances", "channel"),
    "results.utterances[].speaker": ("utterances", "speaker"),
    "results.utterances[].start": ("utterances", "start"),
    "results.utterances[].end": ("utterances", "end"),
    "results.utterances[].confidence": ("utterances", "confidence"),
    "results.utterances[].transcript": ("utterances", "transcript"),
    "results.summary.result": ("summaries", "result"),
    "results.summary.short": ("summaries", "summary"),
    "results.summary.text": ("summaries", "summary"),  # /v1/read
    "results.summary.results.summary.text": ("summaries", "summary"),  # spec nesting
    "results.sentiments.segments[].text": ("sentiments", "text"),
    "results.sentiments.segments[].start_word": ("sentiments", "start_word"),
    "results.sentiments.segments[].end_word": ("sentiments", "end_word"),
    "results.sentiments.segments[].sentiment": ("sentiments", "sentiment"),
    "results.sentiments.segments[].sentiment_score": ("sentiments", "sentiment_score"),
    "results.sentiments.average.sentiment": ("requests", "average_sentiment"),
    "results.sentiments.average.sentiment_score": ("requests", "average_sentiment_score"),
    **{
        f"results.{key}.{nest}segments[].{leaf}": (key, column)
        for key, label in (("topics", "topic"), ("intents", "intent"))
        for nest in ("", f"results.{key}.")
        for leaf, column in (
            ("text", "text"),
            ("start_word", "start_word"),
            ("end_word", "end_word"),
            (f"{key}[].{label}", label),
            (f"{key}[].confidence_score", "confidence_score"),
        )
    },
}

#: Streaming message fields (top level of each message).
MESSAGE_LEAVES: dict[str, tuple[str, ...]] = {
    "type": ("messages", "type"),
    "channel_index[]": ("messages", "channel_index"),
    "channel[]": ("messages", "channel_index"),  # SpeechStarted / UtteranceEnd: channel is [index, count]
    "start": ("messages", "start"),
    "duration": ("messages", "duration"),
    "is_final": ("messages", "is_final"),
    "speech_final": ("messages", "speech_final"),
    "from_finalize": ("messages", "from_finalize"),
    "timestamp": ("messages", "timestamp"),
    "last_word_end": ("messages", "last_word_end"),
    INTERIM + "channel.alternatives[].transcript": ("messages", "transcript"),
    INTERIM + "channel.alternatives[].confidence": ("messages", "confidence"),
}

#: /v2/listen (Flux) message fields (top level of each message); ``request_id`` is METADATA_LEAVES'.
FLUX_LEAVES: dict[str, tuple[str, ...]] = {
    "sequence_id": ("messages", "sequence_id"),
    "code": ("messages", "code"),
    "description": ("messages", "description"),
    "event": ("turns_v2", "event"),
    "turn_index": ("turns_v2", "turn_index"),
    "audio_window_start": ("turns_v2", "audio_window_start"),
    "audio_window_end": ("turns_v2", "audio_window_end"),
    "transcript": ("turns_v2", "transcript"),
    "end_of_turn_confidence": ("turns_v2", "end_of_turn_confidence"),
    "languages[]": ("turns_v2", "languages"),
    # words of EndOfTurn messages (final); the others are prefixed INTERIM
    "words[].word": ("words", "word"),
    "words[].confidence": ("words", "confidence"),
    "words[].start": ("words", "start"),
    "words[].end": ("words", "end"),
}

LEAF_COLUMNS: dict[str, tuple[str, ...]] = {
    **{f"results.channels[].alternatives[].{k}": v for k, v in ALTERNATIVE_LEAVES.items()},
    **{f"channel.alternatives[].{k}": v for k, v in ALTERNATIVE_LEAVES.items()},
    **{f"alternatives[].{k}": v for k, v in ALTERNATIVE_LEAVES.items()},
    **{f"results.channels[].{k}": v for k, v in CHANNEL_LEAVES.items()},
    **CHANNEL_LEAVES,
    **{f"metadata.{k}": v for k, v in METADATA_LEAVES.items()},
    **{k: v for k, v in METADATA_LEAVES.items() if k != "duration"},
    "metadata.duration": ("requests", "duration"),
    **RESULTS_LEAVES,
    **MESSAGE_LEAVES,
    **FLUX_LEAVES,
}


def _pattern(p: str, *, prefix: bool = False) -> re.Pattern[str]:
    body = re.escape(p).replace(r"\*", r"[^.\[\]]+")
    return re.compile(body + (r"(?:[.\[].*)?" if prefix else ""))


_MAPPED = [(_pattern(p), p, target) for p, target in LEAF_COLUMNS.items()]
_DROPPED = [(_pattern(p, prefix=True), p) for p in DROPPED_FIELDS]


def leaves(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(normalised path, value)`` for every scalar in ``obj``."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = "*" if _UUID.match(k) else k
            yield from leaves(v, f"{path}.{key}" if path else key)
    elif isinstance(obj, list):
        for v in obj:
            yield from leaves(v, path + "[]")
    else:
        yield path, obj


def response_leaves(doc: Any) -> Iterator[tuple[str, Any]]:
    """Leaves of a fixture: a response, a streaming message, a fragment or a list of messages.

    Words of messages that are not final (a /v1/listen Results with is_final=false, a Flux
    TurnInfo whose event is not EndOfTurn) get the :data:`INTERIM` prefix.
    """
    for msg in doc if isinstance(doc, list) else [doc]:
        interim = isinstance(msg.get("channel"), dict) and msg.get("is_final") is False
        turn_update = msg.get("type") == "TurnInfo" and msg.get("event") != "EndOfTurn"
        for path, value in leaves(msg):
            if (interim and path.startswith("channel.")) or (turn_update and path.startswith("words[]")):
                path = INTERIM + path
            yield path, value


def classify(path: str) -> tuple[str, tuple[str, ...] | None]:
    """``("mapped", target)``, ``("dropped", None)`` or ``("unknown", None)``."""
    for rx, _, target in _MAPPED:
        if rx.fullmatch(path):
            return "mapped", target
    for rx, _ in _DROPPED:
        if rx.fullmatch(path):
            return "dropped", None
    return "unknown", None


def _column_values(t: dgtools.Tables, target: tuple[str, ...]) -> list[Any]:
    table, column = target[:2]
    values = [v for v in t[table][column].tolist() if v is not pd.NA]
    typ = SCHEMAS[table].field(column).type
    if pa.types.is_map(typ):
        return [v for pairs in values for _, v in pairs]
    if pa.types.is_list(typ):
        items = [x for lst in values for x in lst]
        return [x[target[2]] for x in items] if len(target) > 2 else items
    return values


def _lands(leaf_values: list[Any], t: dgtools.Tables, target: tuple[str, ...]) -> list[Any]:
    """The leaf values that are not found in the target column (empty list: all found)."""
    table, column = target[:2]
    typ = SCHEMAS[table].field(column).type
    if pa.types.is_list(typ) and len(target) > 2:
        typ = typ.value_type.field(target[2]).type
    elif pa.types.is_list(typ) or pa.types.is_map(typ):
        typ = typ.value_type if pa.types.is_list(typ) else typ.item_type
    nulls = [v for v in leaf_values if v is None]
    present = [v for v in leaf_values if v is not None]
    missing: list[Any] = []
    if nulls and not t[table][column].isna().any():
        missing.append(None)
    col = _column_values(t, target)
    if pa.types.is_floating(typ) or pa.types.is_integer(typ):
        if pa.types.is_integer(typ):
            missing += [v for v in present if float(v) != int(v)]  # ints where ints are expected
        have = np.sort(np.asarray(col, dtype=float))
        want = np.asarray(present, dtype=float)
        if len(want):
            if not len(have):
                return missing + present
            i = (
                np.clip(np.searchsorted(have, want), 1, len(have) - 1)
                if len(have) > 1
                else np.zeros(len(want), int)
            )
            near = np.minimum(np.abs(have[i] - want), np.abs(have[np.maximum(i - 1, 0)] - want))
            missing += [
                v for v, ok in zip(present, near <= 1e-9 * np.maximum(1, np.abs(want)), strict=True) if not ok
            ]
    elif pa.types.is_timestamp(typ):
        have_ts = set(col)
        for v in present:
            ts = pd.Timestamp(v)
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
            if ts not in have_ts:
                missing.append(v)
    else:
        have_set = set(col)
        missing += [v for v in present if v not in have_set]
    return missing


def test_leaf_path_patterns_are_consistent() -> None:
    for pattern, reason in DROPPED_FIELDS.items():
        assert reason.strip(), f"DROPPED_FIELDS[{pattern!r}] needs a reason"
        assert pattern not in LEAF_COLUMNS, f"{pattern} is both mapped and dropped"
    for pattern, target in LEAF_COLUMNS.items():
        table, column = target[:2]
        assert column in SCHEMAS[table].names, f"{pattern} -> {table}.{column} is not a column"


def test_leaf_walk_flags_an_unknown_field() -> None:
    doc = {"metadata": {"request_id": "r"}, "results": {"channels": [{"alternatives": [
        {"transcript": "a", "words": [{"word": "a", "brand_new_field": 1}]}]}]}}  # fmt: skip
    kinds = {p: classify(p)[0] for p, _ in response_leaves(doc)}
    assert kinds["results.channels[].alternatives[].words[].brand_new_field"] == "unknown"
    assert kinds["results.channels[].alternatives[].words[].word"] == "mapped"


@pytest.mark.parametrize("path", _flattenable(LEAF_WALK_BUGS))
def test_leaf_walk(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert_leaves_land(path, doc, dgtools.to_tables(path))


def assert_leaves_land(path: Path, doc: Any, t: dgtools.Tables) -> None:
    """Every leaf of ``doc`` lands in its column of ``t`` or is a dropped field."""
    unknown: set[str] = set()
    by_target: dict[tuple[str, ...], list[tuple[str, Any]]] = defaultdict(list)
    for leaf_path, value in response_leaves(doc):
        kind, target = classify(leaf_path)
        if kind == "unknown":
            unknown.add(leaf_path)
        elif target is not None:
            by_target[target].append((leaf_path, value))
    assert not unknown, (
        f"{path.name}: fields neither mapped to a table column (LEAF_COLUMNS in this test) nor listed in "
        f"dgtools.tables.schema.DROPPED_FIELDS: {sorted(unknown)}"
    )
    lost = {}
    for target, items in by_target.items():
        missing = _lands([v for _, v in items], t, target)
        if missing:
            paths = sorted({p for p, v in items if v in missing or (v is None and None in missing)})
            lost[".".join(target)] = (paths or sorted({p for p, _ in items}), missing[:5])
    assert not lost, f"{path.name}: values that did not land in their column: {lost}"


@pytest.mark.parametrize("path", FLATTENABLE)
def test_words_count_matches_the_json(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    n = 0
    for msg in doc if isinstance(doc, list) else [doc]:
        if msg.get("is_final") is False:
            continue
        channels = (msg.get("results") or {}).get("channels") or []
        if isinstance(msg.get("channel"), dict):
            channels = [msg["channel"]]
        elif "alternatives" in msg:
            channels = [msg]
        n += sum(len(a.get("words") or []) for ch in channels for a in ch.get("alternatives") or [])
    assert len(dgtools.to_tables(path).words) == n


# --------------------------------------------------------------------------- specific values


def _load(name: str) -> dgtools.Tables:
    return dgtools.to_tables(fixture_path(name))


def test_entities_fixture() -> None:
    e = _load("docrepaired_channel_fragment_entities__deepgram-docs.json").entities
    assert e["value"].tolist() == [" Scott Stephenson", " Deepgram", "one"]
    assert e["label"].tolist() == ["NAME", "ORG", "CARDINAL_NUM"]
    assert e["start_word"].tolist() == [6, 10, 186] and e["end_word"].tolist() == [8, 11, 187]
    assert e["confidence"].iloc[2] == 1.0  # JSON int 1
    assert e["start"].isna().all()  # the docs elided the words


def test_entity_times_come_from_the_words_end_word_exclusive() -> None:
    """'Scott Stephenson' is words 6..7 of 'Welcome to the Ai show. I'm Scott Stephenson, cofounder of Deepgram...'."""
    doc = json.loads(fixture_path("docrepaired_channel_fragment_entities__deepgram-docs.json").read_text())
    alt = doc["alternatives"][0]
    text = alt["transcript"].replace("...", "").split()
    alt["words"] = [{"word": w.strip(".,").lower(), "punctuated_word": w, "start": i * 0.5, "end": i * 0.5 + 0.25,
                     "confidence": 0.9} for i, w in enumerate(text)]  # fmt: skip
    assert [w["punctuated_word"] for w in alt["words"][6:8]] == ["Scott", "Stephenson,"]
    t = dgtools.to_tables(copy.deepcopy(doc), file_id="entities")
    e = t.entities
    words = t.words
    scott = e[e["value"] == " Scott Stephenson"].iloc[0]
    assert scott["start"] == words["start"].iloc[6] and scott["end"] == words["end"].iloc[7]
    dg = e[e["value"] == " Deepgram"].iloc[0]
    assert (dg["start"], dg["end"]) == (words["start"].iloc[10], words["end"].iloc[10])
    assert e[e["label"] == "CARDINAL_NUM"]["start"].isna().all()  # word 186 does not exist


def test_sentiment_fixture_segments() -> None:
    t = _load("docrepaired_prerecorded_sentiment__deepgram-docs.json")
    s = t.sentiments
    assert len(s) == 2
    assert s["start_word"].tolist() == [0, 24] and s["end_word"].tolist() == [23, 52]
    assert s["sentiment"].tolist() == ["neutral", "negative"]
    assert s["sentiment_score"].iloc[0] == pytest.approx(-0.15885239839553833)
    assert s["start"].iloc[0] == 1.04  # word 0 "Parker"
    assert s["start"].iloc[1] is pd.NA  # word 24 is not in the (truncated) words
    r = t.requests.iloc[0]
    assert (r["average_sentiment"], r["average_sentiment_score"]) == (
        "neutral",
        pytest.approx(-0.13682733263288224),
    )
    assert t.words["sentiment"].tolist() == ["neutral", "neutral"]


def test_sentiment_fixture_segment_end_unknown() -> None:
    s = _load("docrepaired_prerecorded_sentiment__deepgram-docs.json").sentiments
    assert s["end"].iloc[0] is pd.NA


def test_sentiment_segment_times_with_all_words() -> None:
    """Segment 0 is words 0..23 inclusive: 'Parker Scarves. ... the wrong color.' (24 words)."""
    doc = json.loads(fixture_path("docrepaired_prerecorded_sentiment__deepgram-docs.json").read_text())
    alt = doc["results"]["channels"][0]["alternatives"][0]
    text = alt["transcript"].split()
    alt["words"] = [{"word": w.lower(), "punctuated_word": w, "start": 1.04 + i * 0.4, "end": 1.04 + i * 0.4 + 0.3,
                     "confidence": 0.9} for i, w in enumerate(text)]  # fmt: skip
    segs = doc["results"]["sentiments"]["segments"]
    assert " ".join(text[0:24]) == segs[0]["text"] and " ".join(text[24:53]) == segs[1]["text"]
    t = dgtools.to_tables(doc, file_id="sentiment")
    w, s = t.words, t.sentiments
    assert (s["start"].iloc[0], s["end"].iloc[0]) == (w["start"].iloc[0], w["end"].iloc[23])
    assert (s["start"].iloc[1], s["end"].iloc[1]) == (w["start"].iloc[24], w["end"].iloc[52])


def test_search_hits_fixture() -> None:
    h = _load("docrepaired_channel_fragment_search_hits__deepgram-docs.json").search_hits
    assert len(h) == 9
    assert set(h["query"]) == {"epistemology"}
    assert h["hit_index"].tolist() == list(range(9))
    assert h["confidence"].tolist()[:2] == [1.0, 1.0] and h["confidence"].iloc[-1] == 0.0
    assert h["snippet"].iloc[0] == "social epistemology"
    assert (h["start"].iloc[0], h["end"].iloc[0]) == (3.9676142, 4.7651243)


def test_whisper_fixture_has_no_punctuated_word() -> None:
    t = _load("prerecorded_whisper_medium__deepgram-python-captions.json")
    assert len(t.words) == 59
    assert t.words["punctuated_word"].isna().all()
    assert t.requests["model_arch"].iloc[0] == "whisper"
    assert t.turns["text"].iloc[0] == " ".join(t.words["word"])


def test_large_chinese_fixture() -> None:
    t = _load("prerecorded_base_zh_diarize_paragraphs_large__moneybot968-PodTranser.json")
    assert len(t.words) == 7761
    assert t.requests["n_words"].iloc[0] == 7761
    assert t.words["word"].iloc[0] == "這"
    assert sorted(t.words["speaker"].unique().tolist()) == [0, 1, 2, 3]
    assert len(t.paragraphs) == 75
    assert t.requests["duration"].iloc[0] == pytest.approx(1418.448, abs=1e-3)
    assert t.turns["n_words"].sum() == 7761


def test_diarized_fixture_speakers() -> None:
    t = _load("prerecorded_diarize_utterances_paragraphs__deepgram-python-captions.json")
    assert t.words["speaker"].dtype == pd.ArrowDtype(pa.int64())
    assert set(t.words["speaker"].tolist()) == {0, 1, 2}
    assert set(t.utterances["speaker"].tolist()) == {0, 1, 2}
    assert len(t.utterances) == 22
    assert t.summary().speakers == 3
    assert (t.turns["speaker"].shift() != t.turns["speaker"]).iloc[1:].all()  # a turn per speaker change
    assert t.turns["n_words"].sum() == len(t.words)
    assert t.words["start"].iloc[3] == 6.0 and t.words["start"].iloc[121] == 78.0  # JSON ints 6 and 78


def test_diarized_fixture_without_utterances_has_the_same_words() -> None:
    with_u = _load("prerecorded_diarize_utterances_paragraphs__deepgram-python-captions.json")
    without = _load("prerecorded_diarize_paragraphs_no_utterances__deepgram-python-captions.json")
    assert len(without.utterances) == 0
    for name in ("words", "paragraphs", "sentences", "turns"):
        pd.testing.assert_frame_equal(
            with_u[name].drop(columns="file_id"), without[name].drop(columns="file_id")
        )


def test_utterances_without_diarization() -> None:
    t = _load("prerecorded_utterances_paragraphs_nodiarize__deepgram-python-captions.json")
    assert len(t.utterances) == 6
    assert t.utterances["speaker"].isna().all() and t.words["speaker"].isna().all()
    assert t.utterances["speaker"].dtype == pd.ArrowDtype(pa.int64())
    assert len(t.turns) == 1


def test_streaming_multichannel_fixtures_as_one_stream() -> None:
    msgs = [
        json.loads(fixture_path(f"docrepaired_streaming_multichannel_ch{i}__deepgram-docs.json").read_text())
        for i in (0, 1)
    ]
    t = dgtools.to_tables(msgs, file_id="call")
    w = t.words
    ch1 = w[w["channel"] == 1]
    assert len(ch1) == 15 and len(w) == 26
    assert ch1["word"].iloc[0] == "hello" and ch1["start"].iloc[0] == pytest.approx(3.6599998)
    assert ch1["word_index"].tolist() == list(range(15))
    assert t.channels["channel"].tolist() == [0, 1]
    assert t.requests["channels"].iloc[0] == 2
    assert t.messages["channel_index"].tolist() == [[0, 2], [1, 2]]
    assert t.alternatives["seq"].tolist() == [0, 1]
    assert sorted(t.turns["channel"].tolist()) == [0, 1]


def test_streaming_channel_1_fixture_alone() -> None:
    t = _load("docrepaired_streaming_multichannel_ch1__deepgram-docs.json")
    assert set(t.words["channel"]) == {1}
    assert t.channels["channel"].tolist() == [1]
    assert t.requests["channels"].iloc[0] == 2
    assert t.words["confidence"].iloc[4] == 1.0  # JSON int 1


def test_streaming_interim_fixture_feeds_no_words() -> None:
    t = _load("streaming_results_interim_notype_2__deepgram-docs.json")
    m = t.messages.iloc[0]
    assert (m["type"], m["is_final"], m["n_words"], m["transcript"]) == (
        "Results",
        False,
        3,
        "another big problem",
    )
    assert len(t.words) == 0 and len(t.alternatives) == 0


def test_streaming_final_fixture() -> None:
    t = _load("streaming_results_final_speechfinal__deepgram-docs.json")
    assert t.words["punctuated_word"].tolist() == ["Tell", "me", "more", "about", "this"]
    r = t.requests.iloc[0]
    assert (r["request_id"], r["kind"], r["model_name"]) == (
        "52cc0efe-fa77-4aa7-b79c-0dda09de2f14",
        "streaming",
        "2-general-nova",
    )
    assert r["transcript"] == "Tell me more about this."


def test_streaming_control_message_fixtures() -> None:
    ue = _load("streaming_utteranceend__deepgram-docs.json").messages.iloc[0]
    assert (ue["type"], ue["last_word_end"], ue["channel_index"]) == ("UtteranceEnd", 2.395, [0, 1])
    ss = _load("streaming_speechstarted__deepgram-docs.json").messages.iloc[0]
    assert (ss["type"], ss["timestamp"]) == ("SpeechStarted", 9.54)
    md = _load("streaming_metadata_closestream__deepgram-docs.json")
    r = md.requests.iloc[0]
    assert r["request_id"] == "8c8ebea9-dbec-45fa-a035-e4632cb05b5f"
    assert r["created"] == pd.Timestamp("2024-08-29T22:37:55.202Z")
    assert md.messages["type"].tolist() == ["Metadata"]


def test_streaming_close_metadata_zero_values() -> None:
    r = _load("streaming_metadata_closestream__deepgram-docs.json").requests.iloc[0]
    assert (r["duration"], r["channels"]) == (0.0, 0)


FLUX = "streaming_v2_flux_turninfo_frames__deepgram-dotnet-sdk.json"


def _flux_frames() -> list[dict[str, Any]]:
    """The Flux capture's frames (each a JSON string in its ``frames`` list), decoded: one stream."""
    doc = json.loads(fixture_path(FLUX).read_text(encoding="utf-8"))
    return [json.loads(f) for f in doc["frames"]]


def test_flux_fixture_leaf_walk() -> None:
    frames = _flux_frames()
    assert_leaves_land(fixture_path(FLUX), frames, dgtools.to_tables(frames))


def test_flux_fixture_turns_v2() -> None:
    frames = _flux_frames()
    t = dgtools.to_tables(frames, file_id="flux")
    turn_infos = [f for f in frames if f["type"] == "TurnInfo"]
    v2 = t.turns_v2
    assert len(v2) == len(turn_infos) == 103
    assert col(v2, "event") == [f["event"] for f in turn_infos]  # in arrival order
    assert col(v2, "seq") == [i for i, f in enumerate(frames) if f["type"] == "TurnInfo"]
    events = [e for e in col(v2, "event") if e != "Update"]
    assert events == ["StartOfTurn", "EagerEndOfTurn", "EndOfTurn"]
    assert col(v2, "turn_index")[0] == 0 and col(v2, "turn_index")[-1] == 1
    end = v2[v2["event"] == "EndOfTurn"].iloc[0]
    assert (end["seq"], end["audio_window_start"], end["audio_window_end"]) == (87, 0.0, 20.0)
    assert end["end_of_turn_confidence"] == 0.9136 and end["n_words"] == 52
    assert end["transcript"].startswith("We the people of the United States")
    assert col(v2, "n_words")[:5] == [0, 0, 1, 2, 3]
    assert v2["received_at"].isna().all() and v2["audio_sent_s"].isna().all()  # no .timing file
    # the EndOfTurn words are the words table; Update words are not
    w = t.words
    eot_words = next(f for f in turn_infos if f["event"] == "EndOfTurn")["words"]
    assert col(w, "word") == [x["word"] for x in eot_words] and col(w, "word_index") == list(range(52))
    assert col(w, "start") == [x["start"] for x in eot_words] and set(col(w, "channel")) == {0}
    assert w["punctuated_word"].isna().all()  # Flux words come punctuated in 'word'
    assert col(t.alternatives, "seq") == [87]
    m = t.messages
    assert col(m, "type")[:2] == ["Connected", "TurnInfo"] and col(m, "type")[9] == "ConfigureSuccess"
    assert col(m, "sequence_id") == list(range(105))
    r = t.requests.iloc[0]
    assert (r["kind"], r["request_id"], r["n_words"]) == ("streaming_v2", frames[0]["request_id"], 52)
    assert r["duration"] == 21.92 and r["transcript"] == end["transcript"]
    assert col(t.turns, "n_words") == [52]


def test_read_fixtures() -> None:
    topics = _load("read_text_topics__deepgram-docs.json")
    assert topics.requests["kind"].iloc[0] == "read"
    assert topics.topics["topic"].tolist() == ["Speech recognition", "Transcripts", "Conversational audio"]
    assert topics.topics["channel"].isna().all() and topics.topics["start"].isna().all()
    intents = _load("read_text_intents__deepgram-docs.json").intents
    assert intents["intent"].tolist() == [
        "Propose novel transformer architectures",
        "Address conversational audio",
    ]
    assert intents["segment_index"].tolist() == [0, 0]
    summ = _load("read_text_summarize__deepgram-python-sdk.json")
    assert summ.summaries["summary"].iloc[0].startswith("The potential for voice-based interfaces")
    assert summ.requests["summary_info_input_tokens"].iloc[0] == 1855


def test_spec_example_both_nestings() -> None:
    t = _load("spec_example_listen_v1_media_transcribe__wiremock__deepgram-python-sdk.json")
    assert t.topics["topic"].tolist() == ["Spacewalk"]  # results.topics.results.topics.segments
    assert t.intents["intent"].tolist() == ["Encourage podcasting"]
    assert t.sentiments["sentiment"].tolist() == ["positive"]
    assert len(t.channels) == 1 and len(t.alternatives) == 0 and len(t.words) == 0  # channels=[{}]
    assert len(t.utterances) == 1  # utterances=[{}]
    assert t.requests["tags"].iloc[0] == ["test"]
    read = _load("spec_example_read_v1__wiremock__deepgram-python-sdk.json")
    assert read.summaries["summary"].tolist() == ["The summary of the text submitted."]


def test_docs_topics_fixture() -> None:
    tp = _load("docrepaired_prerecorded_topics__deepgram-docs.json").topics
    assert tp["topic"].tolist() == ["Scarf wrong color", "Ordering"]
    assert tp["start_word"].tolist() == [7, 88] and tp["end_word"].tolist() == [23, 96]


def test_summarize_v2_fixtures() -> None:
    t = _load("prerecorded_nova3_summarize_v2_preamble__deepgram-python-sdk.json")
    s = t.summaries.iloc[0]
    assert (s["source"], s["result"]) == ("results.summary", "success")
    assert s["channel"] is pd.NA and isinstance(s["summary"], str) and s["summary"]
    go = _load("prerecorded_nova2_summarize_v2_short_audio__deepgram-go-sdk.json")
    assert go.requests["summary_info_input_tokens"].iloc[0] is pd.NA  # the Go SDK dropped the tokens
    assert go.requests["summary_info_model_uuid"].iloc[0] is not pd.NA


def test_legacy_summaries_fixture() -> None:
    t = _load("prerecorded_nova3_diarize_summaries_v1__Naveenkumarar-lookout_notetaker_backend.json")
    s = t.summaries.iloc[0]
    assert (s["source"], s["channel"], s["alternative"]) == ("alternatives.summaries", 0, 0)
    assert (s["start_word"], s["end_word"]) == (0, 54)  # JSON 0.0, 54.0
    assert t.paragraphs["num_words"].iloc[0] == 54
    assert t.paragraphs["speaker"].iloc[0] == 0
    assert t.alternatives["paragraphs_transcript"].iloc[0].startswith("\nSpeaker 0: Dancing")


def test_multilingual_fixtures() -> None:
    t = _load("prerecorded_multilingual_codeswitch_languages__deepgram-docs.json")
    assert t.alternatives["languages"].iloc[0] == ["en", "es"]
    assert t.words["language"].tolist() == ["es", "es", "es", "en", "en"]
    s = _load("docrepaired_streaming_multilingual_languages__deepgram-docs.json")
    assert s.alternatives["languages"].iloc[0] == ["es"]
    assert s.words["word"].iloc[0] == "será"


def test_profanity_filter_fixture_without_punctuated_word() -> None:
    t = _load("prerecorded_nova2_profanity_filter__deepgram-docs.json")
    assert len(t.words) == 22 and t.words["punctuated_word"].isna().all()


def test_all_fixtures_together(fixtures_dir: Path) -> None:
    paths = [p for p in fixture_files() if not p.name.startswith(REJECTED_PREFIXES)]
    t = dgtools.to_tables(paths)
    assert t.summary().files == len(paths)
    assert sorted(t.requests["file_id"]) == sorted(p.stem for p in paths)
    singles = sum(len(dgtools.to_tables(p).words) for p in paths)
    assert len(t.words) == singles


# --------------------------------------------------------------------------- validate_response

#: Whole pre-recorded /v1/listen responses: what the batch stores.
PRERECORDED = [p for p in FLATTENABLE if p.values[0] is None or p.values[0].name.startswith(
    ("prerecorded_", "docrepaired_prerecorded_"))]  # fmt: skip
#: Doc-repaired fixtures that are not whole responses (a channel fragment, a streaming message).
NOT_WHOLE = [p for p in FLATTENABLE if p.values[0] is not None and p.values[0].name.startswith(
    ("docrepaired_channel_", "docrepaired_streaming_", "streaming_", "read_"))]  # fmt: skip


@pytest.mark.parametrize("path", PRERECORDED)
def test_validate_response_accepts_every_real_prerecorded_response(path: Path) -> None:
    data = path.read_bytes()
    info = dgtools.tables.validate_response(data, source=path.name)
    meta = json.loads(data)["metadata"]
    assert info.request_id == meta.get("request_id")
    assert info.sha256 == meta.get("sha256")
    assert info.duration == meta.get("duration")
    assert info.channels == meta.get("channels", len(json.loads(data)["results"]["channels"]))


@pytest.mark.parametrize("path", NOT_WHOLE)
def test_validate_response_refuses_fragments_messages_and_read_answers(path: Path) -> None:
    with pytest.raises(ResponseFormatError, match=r"metadata|results") as exc:
        dgtools.tables.validate_response(path.read_bytes(), source=str(path))
    assert exc.value.path == str(path)


def test_no_real_fixture_holds_an_impossible_value(fixtures_dir: Path) -> None:
    paths = [p.values[0] for p in FLATTENABLE]
    t = dgtools.to_tables(paths, on_error="skip")
    assert t.failures.empty, t.failures.to_dict("records")
    assert len(t.requests) == len(paths)
