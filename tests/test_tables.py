"""Unit tests of :mod:`dgtools.tables` on small hand-written Deepgram responses.

Every response here is built by a function in this module, so each test gets
fresh dicts and the shapes follow Deepgram's documented responses (see
``../shared/fixtures/deepgram/SOURCES.md`` for the real ones, tested in
``test_fixtures.py``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import dgtools
from dgtools import ConfigError, DGToolsError, ResponseFormatError
from dgtools.tables import TableBuilder, iter_batches, iter_responses
from dgtools.tables.schema import SCHEMAS, TABLE_NAMES

MODEL = "30089e05-99d1-4376-b32e-c263170674af"
SUMMARY_MODEL = "67875a7f-c9c4-48a0-aa55-5bdb8a91c34a"

RESPONSES_DIR = Path(__file__).resolve().parents[1] / "data" / "responses"

# --------------------------------------------------------------------------- builders


def word(w: str, start: float, end: float, confidence: float = 0.9, **extra: Any) -> dict[str, Any]:
    return {"word": w.lower().strip(".,?"), "start": start, "end": end, "confidence": confidence,
            "punctuated_word": w, **extra}  # fmt: skip


def words_run(
    n: int, *, t0: float = 0.0, speakers: list[int] | None = None, prefix: str = "w"
) -> list[dict[str, Any]]:
    """``n`` words of 0.5 s each, starting at ``t0``; ``speakers`` gives one speaker per word."""
    out = []
    for i in range(n):
        extra = {} if speakers is None else {"speaker": speakers[i], "speaker_confidence": 0.8}
        out.append(word(f"{prefix}{i}", t0 + i * 0.5, t0 + i * 0.5 + 0.4, 0.5 + i / (2 * n), **extra))
    return out


def alternative(ws: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"transcript": " ".join(w.get("punctuated_word", w["word"]) for w in ws), "confidence": 0.95,
            "words": ws, **extra}  # fmt: skip


def response(
    *channels: list[dict[str, Any]], request_id: str | None = "req-1", **results: Any
) -> dict[str, Any]:
    """A pre-recorded response: each positional argument is one channel's list of alternatives."""
    meta: dict[str, Any] = {
        "transaction_key": "deprecated",
        "sha256": "154e291ecfa8be6ab8343560bcc109008fa7853eb5372533e8efdefc9b504c33",
        "created": "2024-05-12T18:57:13.123Z",
        "duration": 25.5,
        "channels": len(channels),
        "models": [MODEL],
        "model_info": {MODEL: {"name": "2-general-nova", "version": "2024-01-09.29447", "arch": "nova-2"}},
    }
    if request_id is not None:
        meta["request_id"] = request_id
    return {
        "metadata": meta,
        "results": {"channels": [{"alternatives": alts} for alts in channels], **results},
    }


def simple(
    n: int = 4, *, request_id: str | None = "req-1", speakers: list[int] | None = None
) -> dict[str, Any]:
    return response([alternative(words_run(n, speakers=speakers))], request_id=request_id)


def full_response() -> dict[str, Any]:
    """One response that fills every pre-recorded table (everything but messages)."""
    ch0 = words_run(6, speakers=[0, 0, 1, 1, 0, 0])
    for w, (sent, score) in zip(ch0, [("positive", 0.6), ("neutral", 0.1)] * 3, strict=True):
        w["sentiment"], w["sentiment_score"] = sent, score
    ch0_alt1 = words_run(5, prefix="v")
    ch1 = words_run(3, t0=10.0, speakers=[0, 0, 0], prefix="c")
    paragraphs = {
        "transcript": "\nSpeaker 0: W0 w1\n\nSpeaker 1: W2 w3 W4 w5",
        "paragraphs": [
            {"sentences": [{"text": "W0 w1", "start": 0.0, "end": 0.9}], "speaker": 0, "num_words": 2,
             "start": 0.0, "end": 0.9},
            {"sentences": [{"text": "W2 w3.", "start": 1.0, "end": 1.9}, {"text": "W4 w5?", "start": 2.0, "end": 2.9}],
             "speaker": 1, "num_words": 4, "start": 1.0, "end": 2.9},
        ],
    }  # fmt: skip
    alt0 = alternative(
        ch0,
        languages=["en"],
        paragraphs=paragraphs,
        entities=[{"label": "NAME", "value": " Scott", "raw_value": "scott", "confidence": 1, "start_word": 2,
                   "end_word": 4}],
        summaries=[{"summary": "A short talk.", "start_word": 0.0, "end_word": 6.0}],
        topics=[{"topics": [{"topic": "talks", "confidence_score": 0.7}], "text": "W0 w1", "start_word": 0,
                 "end_word": 1}],
    )  # fmt: skip
    d = response(
        [alt0, alternative(ch0_alt1, confidence=0.5)],
        [alternative(ch1)],
        utterances=[
            {"id": "u-0", "channel": 0, "speaker": 0, "start": 0.0, "end": 0.9, "confidence": 0.9,
             "transcript": "W0 w1", "words": ch0[:2]},
            {"id": "u-1", "channel": 0, "speaker": 1, "start": 1.0, "end": 1.9, "confidence": 0.8,
             "transcript": "W2 w3", "words": ch0[2:4]},
        ],
        summary={"result": "success", "short": "Two people talk."},
        topics={"segments": [{"text": "W2 w3", "start_word": 2, "end_word": 3,
                              "topics": [{"topic": "Greeting", "confidence_score": 0.5},
                                         {"topic": "Chat", "confidence_score": 0.25}]}]},
        intents={"segments": [{"text": "W4 w5", "start_word": 4, "end_word": 5,
                               "intents": [{"intent": "Ask", "confidence_score": 0.125}]}]},
        sentiments={"segments": [{"text": "W0 w1 W2", "start_word": 0, "end_word": 2, "sentiment": "positive",
                                  "sentiment_score": 0.5}],
                    "average": {"sentiment": "neutral", "sentiment_score": 0.25}},
    )  # fmt: skip
    d["results"]["channels"][0]["detected_language"] = "en"
    d["results"]["channels"][0]["language_confidence"] = 0.99
    d["results"]["channels"][0]["search"] = [
        {"query": "hello", "hits": [{"confidence": 1, "start": 0, "end": 0.5, "snippet": "w0"},
                                    {"confidence": 0.5, "start": 2.0, "end": 2.4, "snippet": "w4"}]},
        {"query": "nothing", "hits": []},
    ]  # fmt: skip
    meta = d["metadata"]
    meta.update(
        tags=["demo", "test"],
        extra={"customer": "acme", "n": 3},
        warnings=[{"type": "unsupported_language", "parameter": "language", "message": "fell back"}],
        summary_info={"model_uuid": SUMMARY_MODEL, "input_tokens": 95, "output_tokens": 63},
        sentiment_info={"model_uuid": "s-uuid", "input_tokens": 10, "output_tokens": 11},
        topics_info={"model_uuid": "t-uuid", "input_tokens": 12, "output_tokens": 13},
        intents_info={"model_uuid": "i-uuid", "input_tokens": 14, "output_tokens": 15},
    )
    return d


def final(ws: list[dict[str, Any]], *, start: float, duration: float, channel: int = 0, n_channels: int = 1,
          speech_final: bool = True, request_id: str = "stream-1") -> dict[str, Any]:  # fmt: skip
    return {
        "type": "Results", "channel_index": [channel, n_channels], "duration": duration, "start": start,
        "is_final": True, "speech_final": speech_final, "from_finalize": False,
        "channel": {"alternatives": [alternative(ws)]},
        "metadata": {"request_id": request_id, "model_uuid": MODEL,
                     "model_info": {"name": "2-general-nova", "version": "2024-01-18.26916", "arch": "nova-2"}},
    }  # fmt: skip


def stream_messages() -> list[dict[str, Any]]:
    """SpeechStarted, an interim, two finals, UtteranceEnd and the closing Metadata."""
    interim = final([word("Hel", 0.1, 0.4, 0.4)], start=0.0, duration=1.0)
    interim.update(is_final=False, speech_final=False)
    return [
        {"type": "SpeechStarted", "channel": [0, 1], "timestamp": 0.08},
        interim,
        final([word("Hello", 0.1, 0.5), word("there.", 0.5, 0.9)], start=0.0, duration=2.0, speech_final=False),
        final([word("Again?", 2.1, 2.6, 0.7)], start=2.0, duration=1.5),
        {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 2.6},
        {"type": "Metadata", "transaction_key": "deprecated", "request_id": "stream-1", "sha256": "abc123",
         "created": "2024-08-29T22:37:55.202Z", "duration": 3.5, "channels": 1, "models": [MODEL],
         "model_info": {MODEL: {"name": "2-general-nova", "version": "2024-01-18.26916", "arch": "nova-2"}}},
    ]  # fmt: skip


def turn_info(
    event: str, turn: int, window: tuple[float, float], ws: list[dict[str, Any]], eot: float, sequence_id: int
) -> dict[str, Any]:
    """A Flux (/v2/listen) TurnInfo message, shaped as the real capture in the shared fixtures."""
    return {"type": "TurnInfo", "request_id": "flux-1", "event": event, "turn_index": turn,
            "audio_window_start": window[0], "audio_window_end": window[1],
            "transcript": " ".join(w["word"] for w in ws), "words": ws, "end_of_turn_confidence": eot,
            "sequence_id": sequence_id}  # fmt: skip


def flux_word(w: str, start: float, end: float, confidence: float = 0.9) -> dict[str, Any]:
    """A Flux word: ``word`` is already punctuated and cased; there is no ``punctuated_word``."""
    return {"word": w, "confidence": confidence, "start": start, "end": end}


def flux_messages() -> list[dict[str, Any]]:
    """A Flux stream: Connected, one turn through every TurnInfo event, ConfigureSuccess, a silent turn."""
    hello, there = flux_word("Hello,", 0.32, 0.64), flux_word("there.", 0.64, 0.88)
    again = flux_word("Again?", 1.04, 1.36, 0.7)
    return [
        {"type": "Connected", "request_id": "flux-1", "sequence_id": 0},
        turn_info("Update", 0, (0.0, 0.24), [], 0.45, 1),
        turn_info("StartOfTurn", 0, (0.0, 0.48), [flux_word("Hello", 0.32, 0.48, 0.6)], 0.02, 2),
        turn_info("Update", 0, (0.0, 0.72), [hello, flux_word("the", 0.64, 0.72, 0.5)], 0.05, 3),
        turn_info("EagerEndOfTurn", 0, (0.0, 0.96), [hello, there], 0.61, 4),
        turn_info("TurnResumed", 0, (0.0, 1.2), [hello, there, flux_word("Again", 1.04, 1.2)], 0.1, 5),
        turn_info("EndOfTurn", 0, (0.0, 1.44), [hello, there, again], 0.91, 6),
        {"type": "ConfigureSuccess", "request_id": "flux-1", "sequence_id": 7,
         "thresholds": {"eot_threshold": 0.8, "eager_eot_threshold": 0.5, "eot_timeout_ms": 5000},
         "keyterms": ["Deepgram"], "profanity_filter": False},
        turn_info("Update", 1, (1.44, 1.68), [], 0.6, 8),
    ]  # fmt: skip


# --------------------------------------------------------------------------- helpers


def assert_schema(t: dgtools.Tables) -> None:
    """Every table has exactly its schema's columns, in order, with exactly its Arrow types."""
    for name in TABLE_NAMES:
        df = t[name]
        schema = SCHEMAS[name]
        assert list(df.columns) == schema.names, name
        for f in schema:
            assert df[f.name].dtype == pd.ArrowDtype(f.type), (
                f"{name}.{f.name}: {df[f.name].dtype} != {f.type}"
            )
        arrow = pa.Table.from_pandas(df, preserve_index=False)
        assert arrow.schema.types == schema.types, name
        assert not df["file_id"].isna().any(), f"{name}.file_id has nulls"
        assert isinstance(df.index, pd.RangeIndex) and df.index.start == 0, name


def assert_tables_equal(a: dgtools.Tables, b: dgtools.Tables) -> None:
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def col(df: pd.DataFrame, name: str) -> list[Any]:
    """Column values as a plain list with ``None`` for nulls."""
    return [None if v is pd.NA else v for v in df[name].tolist()]


def rows(df: pd.DataFrame, *names: str) -> list[tuple[Any, ...]]:
    """Rows of the named columns as tuples, with ``None`` for nulls."""
    return list(zip(*(col(df, n) for n in names), strict=True))


def write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the Tables object


def test_tables_api_names_items_getitem() -> None:
    t = dgtools.to_tables(simple())
    assert t.names == TABLE_NAMES
    assert list(t) == list(TABLE_NAMES) and len(t) == len(TABLE_NAMES)
    assert [n for n, _ in t.items()] == list(TABLE_NAMES)
    assert t["words"] is t.words
    with pytest.raises(KeyError, match="not a dgtools table"):
        t["nope"]


def test_empty_tables_object_has_full_schema() -> None:
    t = dgtools.Tables()
    assert_schema(t)
    assert all(len(df) == 0 for _, df in t.items())
    assert "all empty" in repr(t)


def test_unknown_table_name_is_rejected() -> None:
    with pytest.raises(dgtools.SchemaError, match="unknown table"):
        dgtools.Tables({"wordz": pd.DataFrame()})


# --------------------------------------------------------------------------- dtypes


def _every_source() -> dict[str, Any]:
    return {
        "full": full_response(),
        "stream": stream_messages(),
        "flux": flux_messages(),
        "empty": response([{"transcript": "", "confidence": 0.0, "words": []}]),
        "no_speaker": simple(),
        "read": {"metadata": {"request_id": "r", "created": "2024-01-30T15:29:38.662Z", "language": "en"},
                 "results": {"summary": {"text": "A text."}}},
    }  # fmt: skip


@pytest.mark.parametrize("kind", list(_every_source()))
def test_dtypes_equal_schema_for_every_table(kind: str) -> None:
    assert_schema(dgtools.to_tables(_every_source()[kind]))


def test_full_response_fills_every_table() -> None:
    t = dgtools.to_tables([full_response(), stream_messages(), flux_messages()])
    empty = [name for name, df in t.items() if len(df) == 0]
    assert empty == []


def test_speaker_is_nullable_integer_never_float() -> None:
    ws = words_run(3, speakers=[0, 1, 0])
    del ws[1]["speaker"]  # one word without a speaker
    t = dgtools.to_tables(response([alternative(ws)]))
    assert t.words["speaker"].dtype == pd.ArrowDtype(pa.int64())
    assert col(t.words, "speaker") == [0, None, 0]
    off = dgtools.to_tables(simple())
    assert off.words["speaker"].dtype == pd.ArrowDtype(pa.int64())
    assert off.words["speaker"].isna().all()
    assert off.turns["speaker"].dtype == pd.ArrowDtype(pa.int64())


# --------------------------------------------------------------------------- pre-recorded tables


def test_requests_row() -> None:
    t = dgtools.to_tables(full_response())
    r = t.requests.iloc[0]
    assert len(t.requests) == 1
    assert r["file_id"] == "req-1" and r["request_id"] == "req-1"
    assert r["kind"] == "prerecorded"
    assert r["created"] == pd.Timestamp("2024-05-12T18:57:13.123Z")
    assert str(t.requests["created"].dtype) == "timestamp[us, tz=UTC][pyarrow]"
    assert r["duration"] == 25.5 and r["channels"] == 2
    assert r["models"] == [MODEL] and r["model_uuid"] == MODEL
    assert (r["model_name"], r["model_version"], r["model_arch"]) == (
        "2-general-nova",
        "2024-01-09.29447",
        "nova-2",
    )
    assert r["tags"] == ["demo", "test"]
    assert dict(r["extra"]) == {"customer": "acme", "n": "3"}
    assert r["warnings"] == [
        {"type": "unsupported_language", "parameter": "language", "message": "fell back"}
    ]
    assert (r["summary_info_model_uuid"], r["summary_info_input_tokens"], r["summary_info_output_tokens"]) == (
        SUMMARY_MODEL, 95, 63)  # fmt: skip
    assert (r["sentiment_info_input_tokens"], r["topics_info_output_tokens"], r["intents_info_model_uuid"]) == (
        10, 13, "i-uuid")  # fmt: skip
    assert (r["average_sentiment"], r["average_sentiment_score"]) == ("neutral", 0.25)
    assert r["n_words"] == 9  # first alternative of both channels
    assert r["transcript"] == "w0 w1 w2 w3 w4 w5"  # channel 0, first alternative


def test_channels_and_alternatives() -> None:
    t = dgtools.to_tables(full_response())
    assert col(t.channels, "channel") == [0, 1]
    assert col(t.channels, "detected_language") == ["en", None]
    assert col(t.channels, "language_confidence") == [0.99, None]
    a = t.alternatives
    assert rows(a, "channel", "alternative") == [(0, 0), (0, 1), (1, 0)]
    assert col(a, "n_words") == [6, 5, 3]
    assert col(a, "confidence") == [0.95, 0.5, 0.95]
    assert col(a, "seq") == [None, None, None]
    assert col(a, "languages") == [["en"], None, None]
    assert col(a, "paragraphs_transcript")[0].startswith("\nSpeaker 0:")


def test_words_multichannel_and_alternatives() -> None:
    t = dgtools.to_tables(full_response())
    w = t.words
    assert len(w) == 6 + 5 + 3
    keys = rows(w, "channel", "alternative")
    assert keys == [(0, 0)] * 6 + [(0, 1)] * 5 + [(1, 0)] * 3
    assert col(w, "word_index") == [*range(6), *range(5), *range(3)]
    ch1 = w[w["channel"] == 1]
    assert col(ch1, "word") == ["c0", "c1", "c2"]
    assert col(ch1, "start") == [10.0, 10.5, 11.0]
    assert col(ch1, "speaker") == [0, 0, 0]
    first = w.iloc[0]
    assert (first["word"], first["punctuated_word"], first["start"], first["end"]) == ("w0", "w0", 0.0, 0.4)
    assert (first["speaker_confidence"], first["sentiment"], first["sentiment_score"]) == (
        0.8,
        "positive",
        0.6,
    )
    assert w.iloc[6]["speaker"] is pd.NA  # second alternative was not diarized
    assert w["language"].isna().all()


def test_words_whisper_without_punctuated_word() -> None:
    ws = [{"word": "Hello,", "start": 0.0, "end": 0.5, "confidence": 0.9},
          {"word": "world.", "start": 0.5, "end": 1.0, "confidence": 0.8}]  # fmt: skip
    t = dgtools.to_tables(response([{"transcript": "Hello, world.", "confidence": 0.9, "words": ws}]))
    assert col(t.words, "word") == ["Hello,", "world."]
    assert t.words["punctuated_word"].isna().all()
    assert col(t.turns, "text") == ["Hello, world."]  # turns fall back to word


def test_words_punctuated_word_on_some_words_only() -> None:
    ws = words_run(3)
    del ws[0]["punctuated_word"]
    t = dgtools.to_tables(response([alternative(ws)]))
    assert col(t.words, "punctuated_word") == [None, "w1", "w2"]
    assert col(t.turns, "text") == ["w0 w1 w2"]


def test_integers_where_floats_are_expected() -> None:
    ws = [
        {"word": "a", "start": 0, "end": 1, "confidence": 1, "speaker": 0, "speaker_confidence": 1},
        {"word": "b", "start": 1, "end": 2, "confidence": 0.5, "speaker": 0, "speaker_confidence": 0},
    ]
    utterance = {
        "id": "u",
        "channel": 0,
        "speaker": 0,
        "start": 0,
        "end": 2,
        "confidence": 1,
        "transcript": "a b",
        "words": [],
    }
    sentiments = {
        "segments": [
            {"text": "a b", "start_word": 0, "end_word": 1, "sentiment": "neutral", "sentiment_score": 0}
        ],
        "average": {"sentiment": "neutral", "sentiment_score": 0},
    }
    d = response(
        [{"transcript": "a b", "confidence": 1, "words": ws}], utterances=[utterance], sentiments=sentiments
    )
    d["metadata"]["duration"] = 2
    d["results"]["channels"][0]["language_confidence"] = 1
    d["results"]["channels"][0]["search"] = [{"query": "a", "hits": [{"confidence": 1, "start": 0, "end": 1,
                                                                      "snippet": "a"}]}]  # fmt: skip
    t = dgtools.to_tables(d)
    assert_schema(t)
    assert col(t.words, "start") == [0.0, 1.0] and col(t.words, "confidence") == [1.0, 0.5]
    assert col(t.words, "speaker_confidence") == [1.0, 0.0]
    assert t.requests["duration"].iloc[0] == 2.0
    assert t.alternatives["confidence"].iloc[0] == 1.0
    assert t.channels["language_confidence"].iloc[0] == 1.0
    assert (t.utterances["start"].iloc[0], t.utterances["confidence"].iloc[0]) == (0.0, 1.0)
    assert t.search_hits["confidence"].iloc[0] == 1.0
    assert t.sentiments["sentiment_score"].iloc[0] == 0.0
    assert t.requests["average_sentiment_score"].iloc[0] == 0.0


def test_integral_floats_where_integers_are_expected() -> None:
    # SDK round trips sometimes write 1.0 for an int
    d = simple(2, speakers=[0, 1])
    d["results"]["channels"][0]["alternatives"][0]["words"][1]["speaker"] = 1.0
    t = dgtools.to_tables(d)
    assert col(t.words, "speaker") == [0, 1]


def test_fractional_speaker_is_rejected() -> None:
    d = simple(2, speakers=[0, 1])
    d["results"]["channels"][0]["alternatives"][0]["words"][1]["speaker"] = 1.5
    with pytest.raises(ResponseFormatError, match="speaker"):
        dgtools.to_tables(d)


def test_float_word_indices_become_integers() -> None:
    # summarize=v1 gives start_word/end_word as JSON floats (0.0, 54.0)
    t = dgtools.to_tables(full_response())
    s = t.summaries[t.summaries["source"] == "alternatives.summaries"]
    assert (s["start_word"].iloc[0], s["end_word"].iloc[0]) == (0, 6)


def test_unknown_keys_are_ignored_everywhere() -> None:
    plain = full_response()
    noisy = copy.deepcopy(plain)
    noisy["new_top_level"] = {"x": 1}
    noisy["metadata"]["new_meta"] = [1, 2]
    noisy["results"]["new_results"] = "x"
    ch = noisy["results"]["channels"][0]
    ch["new_channel_key"] = 1.5
    alt = ch["alternatives"][0]
    alt["new_alt_key"] = None
    alt["words"][0]["new_word_key"] = "x"
    alt["words"][3]["another_word_key"] = {"nested": True}
    alt["paragraphs"]["paragraphs"][0]["new_para_key"] = 1
    alt["paragraphs"]["paragraphs"][0]["sentences"][0]["new_sentence_key"] = 1
    noisy["results"]["utterances"][0]["new_utt_key"] = 1
    noisy["results"]["topics"]["segments"][0]["new_seg_key"] = 1
    ch["search"][0]["hits"][0]["new_hit_key"] = 1
    assert_tables_equal(dgtools.to_tables(noisy), dgtools.to_tables(plain))


def test_missing_optional_keys() -> None:
    d = {
        "results": {"channels": [{"alternatives": [{"words": [{"word": "a"}, {"word": "b", "start": 1.0}]}]}]}
    }
    t = dgtools.to_tables(d, file_id="bare")
    assert_schema(t)
    assert col(t.words, "start") == [None, 1.0]
    assert col(t.words, "end") == [None, None]
    r = t.requests.iloc[0]
    assert r["request_id"] is pd.NA and r["created"] is pd.NA and r["models"] is pd.NA
    assert t.alternatives["transcript"].iloc[0] is pd.NA
    assert col(t.turns, "confidence") == [None]


def test_no_utterances_gives_empty_utterances() -> None:
    t = dgtools.to_tables(simple())
    assert len(t.utterances) == 0
    assert list(t.utterances.columns) == SCHEMAS["utterances"].names


def test_utterances() -> None:
    t = dgtools.to_tables(full_response())
    u = t.utterances
    assert col(u, "utterance_index") == [0, 1]
    assert col(u, "id") == ["u-0", "u-1"]
    assert col(u, "speaker") == [0, 1] and col(u, "channel") == [0, 0]
    assert col(u, "n_words") == [2, 2]
    assert col(u, "transcript") == ["W0 w1", "W2 w3"]


def test_paragraphs_and_sentences() -> None:
    t = dgtools.to_tables(full_response())
    p, s = t.paragraphs, t.sentences
    assert col(p, "paragraph_index") == [0, 1]
    assert col(p, "speaker") == [0, 1]
    assert col(p, "num_words") == [2, 4]
    assert col(p, "n_sentences") == [1, 2]
    assert col(p, "text") == ["W0 w1", "W2 w3. W4 w5?"]
    assert (col(p, "start"), col(p, "end")) == ([0.0, 1.0], [0.9, 2.9])
    assert rows(s, "paragraph_index", "sentence_index") == [(0, 0), (1, 0), (1, 1)]
    assert col(s, "speaker") == [0, 1, 1]
    assert col(s, "num_words") == [2, 2, 2]
    assert col(s, "text") == ["W0 w1", "W2 w3.", "W4 w5?"]


def test_search_hits_and_query_without_hits() -> None:
    t = dgtools.to_tables(full_response())
    h = t.search_hits
    assert col(h, "query") == ["hello", "hello", "nothing"]
    assert col(h, "hit_index") == [0, 1, None]
    assert col(h, "confidence") == [1.0, 0.5, None]
    assert col(h, "snippet") == ["w0", "w4", None]
    assert col(h, "channel") == [0, 0, 0]


def test_summaries_v2_and_legacy() -> None:
    t = dgtools.to_tables(full_response())
    s = t.summaries
    assert sorted(col(s, "source")) == ["alternatives.summaries", "results.summary"]
    v2 = s[s["source"] == "results.summary"].iloc[0]
    assert (v2["result"], v2["summary"]) == ("success", "Two people talk.")
    assert v2["channel"] is pd.NA and v2["alternative"] is pd.NA
    v1 = s[s["source"] == "alternatives.summaries"].iloc[0]
    assert (v1["channel"], v1["alternative"], v1["summary_index"], v1["summary"]) == (
        0,
        0,
        0,
        "A short talk.",
    )
    assert v1["result"] is pd.NA


def test_read_response_summary_text() -> None:
    d = {"metadata": {"request_id": "r1", "language": "en"}, "results": {"summary": {"text": "A text."}}}
    t = dgtools.to_tables(d)
    assert t.requests["kind"].iloc[0] == "read"
    assert t.requests["language"].iloc[0] == "en"
    assert col(t.summaries, "summary") == ["A text."]
    assert len(t.words) == 0 and len(t.channels) == 0


def test_topics_intents_sentiments() -> None:
    t = dgtools.to_tables(full_response())
    tp = t.topics
    results_topics = tp[tp["channel"].isna()]
    assert col(results_topics, "topic") == ["Greeting", "Chat"]
    assert col(results_topics, "confidence_score") == [0.5, 0.25]
    assert col(results_topics, "segment_index") == [0, 0]
    legacy = tp[tp["channel"].notna()]
    assert col(legacy, "topic") == ["talks"] and col(legacy, "alternative") == [0]
    i = t.intents.iloc[0]
    assert (i["intent"], i["confidence_score"], i["text"], i["start_word"], i["end_word"]) == (
        "Ask",
        0.125,
        "W4 w5",
        4,
        5,
    )
    s = t.sentiments.iloc[0]
    assert (s["sentiment"], s["sentiment_score"], s["start_word"], s["end_word"]) == ("positive", 0.5, 0, 2)


def test_legacy_topics_confidence() -> None:
    d = simple(4)
    d["results"]["channels"][0]["alternatives"][0]["topics"] = [
        {
            "topics": [{"topic": "phone calls", "confidence": 0.875}],
            "text": "w0 w1",
            "start_word": 0,
            "end_word": 1,
        }
    ]
    tp = dgtools.to_tables(d).topics
    assert col(tp, "topic") == ["phone calls"]
    assert col(tp, "confidence_score") == [0.875]


def test_legacy_topics_as_strings() -> None:
    d = simple(4)
    d["results"]["channels"][0]["alternatives"][0]["topics"] = [
        {"topics": ["phone calls", "billing"], "text": "w0 w1", "start_word": 0, "end_word": 1}
    ]
    tp = dgtools.to_tables(d).topics
    assert col(tp, "topic") == ["phone calls", "billing"]
    assert col(tp, "start") == [0.0, 0.0] and col(tp, "end") == [0.9, 0.9]


def test_segment_without_labels_keeps_one_row() -> None:
    d = simple(4)
    d["results"]["topics"] = {"segments": [{"text": "w0 w1", "start_word": 0, "end_word": 1, "topics": []}]}
    t = dgtools.to_tables(d)
    assert len(t.topics) == 1 and t.topics["topic"].iloc[0] is pd.NA


@pytest.mark.parametrize("key,label", [("topics", "topic"), ("intents", "intent")])
def test_both_nestings_of_topics_and_intents(key: str, label: str) -> None:
    segments = {"segments": [{"text": "w1 w2", "start_word": 1, "end_word": 2,
                              key: [{label: "Thing", "confidence_score": 0.75}]}]}  # fmt: skip
    flat, nested = simple(4), simple(4)
    flat["results"][key] = segments
    nested["results"][key] = {"results": {key: copy.deepcopy(segments)}}
    a, b = dgtools.to_tables(flat), dgtools.to_tables(nested)
    assert len(a[key]) == 1 and a[key][label].iloc[0] == "Thing"
    pd.testing.assert_frame_equal(a[key], b[key])


def test_summary_spec_nesting() -> None:
    d = simple()
    d["results"]["summary"] = {"results": {"summary": {"text": "Nested."}}}
    assert col(dgtools.to_tables(d).summaries, "summary") == ["Nested."]


# --------------------------------------------------------------------------- word spans


def _spans_response() -> dict[str, Any]:
    d = response([alternative(words_run(30))])
    alt = d["results"]["channels"][0]["alternatives"][0]
    alt["entities"] = [
        {"label": "NAME", "value": "w2 w3 w4", "confidence": 0.9, "start_word": 2, "end_word": 5}
    ]
    alt["summaries"] = [{"summary": "all", "start_word": 0.0, "end_word": 30.0},
                        {"summary": "some", "start_word": 10.0, "end_word": 20.0}]  # fmt: skip
    seg = {"text": "w2 w3 w4 w5", "start_word": 2, "end_word": 5}
    d["results"]["sentiments"] = {"segments": [{**seg, "sentiment": "neutral", "sentiment_score": 0.0}]}
    d["results"]["topics"] = {"segments": [{**seg, "topics": [{"topic": "T", "confidence_score": 0.5}]}]}
    d["results"]["intents"] = {"segments": [{**seg, "intents": [{"intent": "I", "confidence_score": 0.5}]}]}
    return d


def _times(i: int) -> tuple[float, float]:
    return i * 0.5, i * 0.5 + 0.4


def test_segment_spans_are_inclusive() -> None:
    t = dgtools.to_tables(_spans_response())
    for name in ("sentiments", "topics", "intents"):
        row = t[name].iloc[0]
        assert (row["start"], row["end"]) == (_times(2)[0], _times(5)[1]), name


def test_entity_spans_are_exclusive() -> None:
    e = dgtools.to_tables(_spans_response()).entities.iloc[0]
    assert (e["start_word"], e["end_word"]) == (2, 5)
    assert (e["start"], e["end"]) == (_times(2)[0], _times(4)[1])  # words 2, 3, 4


def test_legacy_summary_spans_are_exclusive() -> None:
    s = dgtools.to_tables(_spans_response()).summaries
    assert (s["start"].iloc[0], s["end"].iloc[0]) == (_times(0)[0], _times(29)[1])  # 0..30 = every word
    assert (s["start"].iloc[1], s["end"].iloc[1]) == (_times(10)[0], _times(19)[1])


def test_span_starting_beyond_the_words_has_no_times() -> None:
    d = _spans_response()
    d["results"]["channels"][0]["alternatives"][0]["entities"][0].update(start_word=40, end_word=42)
    e = dgtools.to_tables(d).entities.iloc[0]
    assert e["start"] is pd.NA and e["end"] is pd.NA


def test_span_ending_beyond_the_words_has_no_end_time() -> None:
    d = _spans_response()
    d["results"]["sentiments"]["segments"][0].update(start_word=25, end_word=40)
    s = dgtools.to_tables(d).sentiments.iloc[0]
    assert s["start"] == _times(25)[0]
    assert s["end"] is pd.NA  # word 40 does not exist: its end time is unknown, not word 29's


# --------------------------------------------------------------------------- turns


def test_turns_at_each_speaker_change_per_channel() -> None:
    t = dgtools.to_tables(full_response())
    tr = t.turns
    assert rows(tr, "channel", "turn_index", "speaker") == [
        (0, 0, 0), (0, 1, 1), (0, 2, 0), (1, 0, 0)]  # fmt: skip
    assert col(tr, "n_words") == [2, 2, 2, 3]
    assert col(tr, "text") == ["w0 w1", "w2 w3", "w4 w5", "c0 c1 c2"]
    assert col(tr, "start") == [0.0, 1.0, 2.0, 10.0]
    assert col(tr, "end") == pytest.approx([0.9, 1.9, 2.9, 11.4])
    w = t.words[(t.words["channel"] == 0) & (t.words["alternative"] == 0)]
    assert tr["confidence"].iloc[0] == pytest.approx(w["confidence"].iloc[:2].mean())


def test_turns_without_diarization_one_per_channel() -> None:
    t = dgtools.to_tables(simple(5))
    assert len(t.turns) == 1
    assert t.turns["speaker"].iloc[0] is pd.NA and t.turns["n_words"].iloc[0] == 5


def test_turns_restart_for_each_file() -> None:
    t = dgtools.to_tables(
        [simple(3, request_id="a", speakers=[0, 1, 1]), simple(2, request_id="b", speakers=[1, 1])]
    )
    assert rows(t.turns, "file_id", "turn_index") == [("a", 0), ("a", 1), ("b", 0)]


# --------------------------------------------------------------------------- empty transcripts


def test_empty_transcript_gives_zero_rows_full_schema() -> None:
    t = dgtools.to_tables(response([{"transcript": "", "confidence": 0.0, "words": []}]))
    assert_schema(t)
    assert len(t.words) == 0 and len(t.turns) == 0 and len(t.paragraphs) == 0
    assert len(t.alternatives) == 1 and t.alternatives["n_words"].iloc[0] == 0
    assert t.requests["n_words"].iloc[0] == 0


def test_no_channels_at_all() -> None:
    t = dgtools.to_tables({"metadata": {"request_id": "x"}, "results": {"channels": []}})
    assert_schema(t)
    assert len(t.requests) == 1 and len(t.words) == 0


# --------------------------------------------------------------------------- streaming


def test_streaming_messages() -> None:
    t = dgtools.to_tables(stream_messages())
    assert_schema(t)
    m = t.messages
    assert col(m, "seq") == [0, 1, 2, 3, 4, 5]
    assert col(m, "type") == ["SpeechStarted", "Results", "Results", "Results", "UtteranceEnd", "Metadata"]
    assert col(m, "is_final") == [None, False, True, True, None, None]
    assert col(m, "speech_final") == [None, False, False, True, None, None]
    assert col(m, "from_finalize")[1:4] == [False, False, False]
    assert col(m, "channel_index") == [[0, 1], [0, 1], [0, 1], [0, 1], [0, 1], None]
    assert col(m, "timestamp") == [0.08, None, None, None, None, None]
    assert col(m, "last_word_end") == [None, None, None, None, 2.6, None]
    assert col(m, "transcript")[1:4] == ["Hel", "Hello there.", "Again?"]
    assert col(m, "n_words")[1:4] == [1, 2, 1]
    assert col(m, "start")[1:4] == [0.0, 0.0, 2.0]
    assert col(m, "duration")[1:4] == [1.0, 2.0, 1.5] and m["duration"].iloc[5] == 3.5
    assert set(col(m, "file_id")) == {"stream-1"}


def test_streaming_final_results_feed_words_and_alternatives() -> None:
    t = dgtools.to_tables(stream_messages())
    assert col(t.words, "word") == ["hello", "there", "again"]  # the interim "hel" is not a word
    assert col(t.words, "word_index") == [0, 1, 2]  # continues across final messages
    assert col(t.words, "channel") == [0, 0, 0]
    assert col(t.alternatives, "seq") == [2, 3]
    assert col(t.alternatives, "transcript") == ["Hello there.", "Again?"]
    assert col(t.channels, "channel") == [0]
    assert col(t.turns, "text") == ["Hello there. Again?"]


def test_streaming_request_row() -> None:
    r = dgtools.to_tables(stream_messages()).requests
    assert len(r) == 1
    r0 = r.iloc[0]
    assert (r0["file_id"], r0["request_id"], r0["kind"]) == ("stream-1", "stream-1", "streaming")
    assert (r0["duration"], r0["channels"], r0["sha256"]) == (3.5, 1, "abc123")
    assert r0["created"] == pd.Timestamp("2024-08-29T22:37:55.202Z")
    assert (r0["model_name"], r0["model_arch"]) == ("2-general-nova", "nova-2")
    assert r0["n_words"] == 3
    assert r0["transcript"] == "Hello there. Again?"


def test_streaming_without_metadata_message() -> None:
    msgs = stream_messages()[:-1]
    r = dgtools.to_tables(msgs).requests.iloc[0]
    assert r["request_id"] == "stream-1"  # from the Results' metadata
    assert r["duration"] == 3.5  # end of the last message: 2.0 + 1.5
    assert r["model_uuid"] == MODEL and r["model_version"] == "2024-01-18.26916"


def test_streaming_old_shape_without_type() -> None:
    m = final(words_run(2), start=0.0, duration=1.0)
    del m["type"], m["metadata"], m["speech_final"], m["from_finalize"]
    t = dgtools.to_tables([m], file_id="old")
    assert col(t.messages, "type") == ["Results"]
    assert len(t.words) == 2


def test_streaming_multichannel() -> None:
    msgs = [
        final(words_run(2), start=0.0, duration=1.0, channel=0, n_channels=2),
        final(words_run(3, t0=0.2, prefix="b"), start=0.0, duration=1.5, channel=1, n_channels=2),
        final(words_run(1, t0=1.0, prefix="c"), start=1.0, duration=1.0, channel=0, n_channels=2),
    ]
    t = dgtools.to_tables(msgs)
    w = t.words
    assert rows(w, "channel", "word_index", "word") == [
        (0, 0, "w0"), (0, 1, "w1"), (1, 0, "b0"), (1, 1, "b1"), (1, 2, "b2"), (0, 2, "c0")]  # fmt: skip
    assert col(t.channels, "channel") == [0, 1]
    assert t.requests["channels"].iloc[0] == 2


def test_streaming_multichannel_turns() -> None:
    msgs = [
        final(words_run(2), start=0.0, duration=1.0, channel=0, n_channels=2),
        final(words_run(3, t0=0.2, prefix="b"), start=0.0, duration=1.5, channel=1, n_channels=2),
        final(words_run(1, t0=1.0, prefix="c"), start=1.0, duration=1.0, channel=0, n_channels=2),
    ]
    tr = dgtools.to_tables(msgs).turns
    got = sorted(rows(tr, "channel", "turn_index", "n_words", "text"))
    assert got == [(0, 0, 3, "w0 w1 c0"), (1, 0, 3, "b0 b1 b2")]


def test_streaming_single_message_dict() -> None:
    t = dgtools.to_tables(final(words_run(2), start=0.0, duration=1.0))
    assert len(t.messages) == 1 and len(t.words) == 2
    assert t.requests["kind"].iloc[0] == "streaming"


def test_jsonl_file_is_one_stream(tmp_path: Path) -> None:
    msgs = stream_messages()
    p = tmp_path / "call-7.jsonl"
    p.write_text(
        "\n".join(json.dumps(m) for m in msgs[:3])
        + "\n\n"
        + "\n".join(json.dumps(m) for m in msgs[3:])
        + "\n"
    )
    from_file = dgtools.to_tables(p)
    assert set(col(from_file.requests, "file_id")) == {"call-7"}
    assert_tables_equal(from_file, dgtools.to_tables(msgs, file_id="call-7"))


def test_json_file_holding_a_list_of_messages(tmp_path: Path) -> None:
    p = write_json(tmp_path / "s.json", stream_messages())
    t = dgtools.to_tables(p)
    assert len(t.requests) == 1 and len(t.messages) == 6
    assert t.requests["file_id"].iloc[0] == "s"


def test_jsonl_bad_line_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(stream_messages()[0]) + "\n{not json\n")
    with pytest.raises(ResponseFormatError, match="line 2") as exc:
        dgtools.to_tables(p)
    assert exc.value.path == str(p)


# --------------------------------------------------------------------------- sources and file ids


def test_file_id_defaults_to_request_id() -> None:
    t = dgtools.to_tables([simple(request_id="a"), simple(request_id="b")])
    assert col(t.requests, "file_id") == ["a", "b"]
    assert set(col(t.words, "file_id")) == {"a", "b"}


def test_file_id_given() -> None:
    t = dgtools.to_tables(full_response(), file_id="call-17")
    for name, df in t.items():
        assert set(df["file_id"]) <= {"call-17"}, name
    assert t.requests["request_id"].iloc[0] == "req-1"
    two = dgtools.to_tables([simple(), simple()], file_id=["x", "y"])
    assert col(two.requests, "file_id") == ["x", "y"]


def test_too_few_file_ids() -> None:
    with pytest.raises(ConfigError, match="fewer ids"):
        dgtools.to_tables([simple(), simple()], file_id=["only-one"])


def test_responses_without_request_id_get_distinct_file_ids() -> None:
    t = dgtools.to_tables([simple(request_id=None), simple(request_id=None)])
    assert t.requests["file_id"].nunique() == 2
    assert t.words["file_id"].nunique() == 2


def test_file_id_is_stem_of_a_file(tmp_path: Path) -> None:
    p = write_json(tmp_path / "my call.v2.json", simple())
    t = dgtools.to_tables(p)
    assert col(t.requests, "file_id") == ["my call.v2"]
    assert dgtools.to_tables(str(p)).requests["file_id"].iloc[0] == "my call.v2"


def test_folder_with_nested_subfolders(tmp_path: Path) -> None:
    write_json(tmp_path / "b.json", simple(request_id="rb"))
    write_json(tmp_path / "a" / "x.json", simple(request_id="rx"))
    write_json(tmp_path / "a" / "deeper" / "y.json", simple(request_id="ry"))
    (tmp_path / "a" / "deeper" / "z.jsonl").write_text("\n".join(json.dumps(m) for m in stream_messages()))
    (tmp_path / "notes.txt").write_text("not a response")
    (tmp_path / "audio.wav").write_bytes(b"RIFF")
    t = dgtools.to_tables(tmp_path)
    assert sorted(col(t.requests, "file_id")) == ["a/deeper/y", "a/deeper/z", "a/x", "b"]
    assert set(col(t.words, "file_id")) == {"a/deeper/y", "a/deeper/z", "a/x", "b"}
    assert dgtools.to_tables(str(tmp_path)).summary().files == 4


def test_folder_skips_hidden_files_and_folders(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", simple(request_id="a"))
    write_json(tmp_path / ".ipynb_checkpoints" / "a-checkpoint.json", simple(request_id="a"))
    (tmp_path / "._a.json").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    assert col(dgtools.to_tables(tmp_path).requests, "file_id") == ["a"]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "bom.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(simple()).encode())
    assert len(dgtools.to_tables(p).words) == 4


def test_iterable_of_paths_and_generator(tmp_path: Path) -> None:
    p1 = write_json(tmp_path / "one.json", simple(request_id="r1"))
    p2 = write_json(tmp_path / "two.json", simple(request_id="r2"))
    t = dgtools.to_tables([p1, str(p2)])
    assert col(t.requests, "file_id") == ["one", "two"]
    g = dgtools.to_tables(d for d in [simple(request_id="g1"), simple(request_id="g2")])
    assert col(g.requests, "file_id") == ["g1", "g2"]


def test_json_file_holding_a_list_of_responses(tmp_path: Path) -> None:
    p = write_json(tmp_path / "batch.json", [simple(request_id="r1"), simple(request_id="r2")])
    t = dgtools.to_tables(p)
    assert col(t.requests, "file_id") == ["batch[0]", "batch[1]"]
    assert col(t.requests, "request_id") == ["r1", "r2"]


def test_channel_fragment() -> None:
    frag = {"alternatives": [alternative(words_run(2))],
            "search": [{"query": "q", "hits": [{"confidence": 1, "start": 0, "end": 1, "snippet": "w0"}]}]}  # fmt: skip
    t = dgtools.to_tables(frag, file_id="frag")
    assert t.requests["kind"].iloc[0] == "fragment"
    assert len(t.words) == 2 and len(t.search_hits) == 1


# --------------------------------------------------------------------------- errors


def test_error_classes() -> None:
    assert issubclass(ResponseFormatError, DGToolsError) and issubclass(ResponseFormatError, ValueError)
    assert issubclass(dgtools.SchemaError, DGToolsError)


def test_non_json_file(tmp_path: Path) -> None:
    p = tmp_path / "garbage.json"
    p.write_text("this is { not json")
    with pytest.raises(ResponseFormatError, match="not valid JSON") as exc:
        dgtools.to_tables(p)
    assert exc.value.path == str(p) and "garbage.json" in str(exc.value)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.json"
    p.write_text("  \n")
    with pytest.raises(ResponseFormatError, match="empty") as exc:
        dgtools.to_tables(p)
    assert exc.value.path == str(p)


@pytest.mark.parametrize("name,text", [("empty.jsonl", ""), ("empty-list.json", "[]")])
def test_empty_stream_file(tmp_path: Path, name: str, text: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(ResponseFormatError) as exc:
        dgtools.to_tables(p)
    assert exc.value.path == str(p)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ResponseFormatError, match="no such file") as exc:
        dgtools.to_tables(tmp_path / "nope.json")
    assert exc.value.path == str(tmp_path / "nope.json")


def test_json_that_is_not_a_response(tmp_path: Path) -> None:
    p = write_json(tmp_path / "foo.json", {"foo": 1})
    with pytest.raises(ResponseFormatError, match="results") as exc:
        dgtools.to_tables(p)
    assert exc.value.key_path == "results" and exc.value.path == str(p)
    assert "foo.json" in str(exc.value)


def test_metadata_without_results(tmp_path: Path) -> None:
    d = simple()
    del d["results"]
    p = write_json(tmp_path / "meta-only.json", d)
    with pytest.raises(ResponseFormatError, match="missing 'results'") as exc:
        dgtools.to_tables(p)
    assert exc.value.key_path == "results"
    assert exc.value.path == str(p)


def test_alternatives_dict_instead_of_list(tmp_path: Path) -> None:
    d = simple()
    d["results"]["channels"][0]["alternatives"] = d["results"]["channels"][0]["alternatives"][0]
    p = write_json(tmp_path / "alt-dict.json", d)
    with pytest.raises(ResponseFormatError) as exc:
        dgtools.to_tables(p)
    assert exc.value.key_path == "results.channels[0].alternatives"
    assert "results.channels[0].alternatives" in str(exc.value) and "list" in str(exc.value)
    assert exc.value.path == str(p)


def test_words_dict_instead_of_list() -> None:
    d = simple()
    d["results"]["channels"][0]["alternatives"][0]["words"] = {"word": "a"}
    with pytest.raises(ResponseFormatError) as exc:
        dgtools.to_tables(d)
    assert exc.value.key_path == "results.channels[0].alternatives[0].words"


def test_string_where_float_expected(tmp_path: Path) -> None:
    d = simple()
    d["results"]["channels"][0]["alternatives"][0]["words"][1]["start"] = "0.5s"
    p = write_json(tmp_path / "stringy.json", d)
    with pytest.raises(ResponseFormatError) as exc:
        dgtools.to_tables(p)
    assert exc.value.path == str(p) and "stringy.json" in str(exc.value)
    assert exc.value.key_path is not None and exc.value.key_path.endswith("start")
    assert "start" in str(exc.value)


def test_string_where_float_expected_names_the_right_file(tmp_path: Path) -> None:
    write_json(tmp_path / "a_good.json", simple(request_id="a"))
    bad = simple(request_id="b")
    bad["metadata"]["duration"] = "long"
    write_json(tmp_path / "b_bad.json", bad)
    write_json(tmp_path / "c_good.json", simple(request_id="c"))
    with pytest.raises(ResponseFormatError, match="duration") as exc:
        dgtools.to_tables(tmp_path)
    assert exc.value.path == str(tmp_path / "b_bad.json")


def test_bad_created_time_names_the_file(tmp_path: Path) -> None:
    d = simple()
    d["metadata"]["created"] = "yesterday"
    p = write_json(tmp_path / "when.json", d)
    with pytest.raises(ResponseFormatError, match="yesterday") as exc:
        dgtools.to_tables(p)
    assert exc.value.path == str(p) and exc.value.key_path == "metadata.created"


@pytest.mark.parametrize(
    "body,words",
    [
        ({"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "e-1"},
         ["INVALID_AUTH", "Invalid credentials."]),
        ({"category": "INVALID_JSON", "message": "Malformed JSON", "details": "x", "request_id": "e-2"},
         ["INVALID_JSON", "Malformed JSON"]),
    ],
)  # fmt: skip
def test_deepgram_error_body(tmp_path: Path, body: dict[str, str], words: list[str]) -> None:
    p = write_json(tmp_path / "rejected.json", body)
    with pytest.raises(ResponseFormatError, match="error body") as exc:
        dgtools.to_tables(p)
    for w in words:
        assert w in str(exc.value)
    assert exc.value.path == str(p)


def test_failing_file_in_folder_is_named(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", simple(request_id="a"))
    write_json(tmp_path / "sub" / "b.json", {"not": "a response"})
    write_json(tmp_path / "z.json", simple(request_id="z"))
    with pytest.raises(ResponseFormatError) as exc:
        dgtools.to_tables(tmp_path)
    assert exc.value.path == str(tmp_path / "sub" / "b.json")
    assert str(tmp_path / "sub" / "b.json") in str(exc.value)


def test_one_flux_message_is_a_stream() -> None:
    t = dgtools.to_tables({"type": "TurnInfo", "event": "Update", "turn_index": 0, "transcript": "hi"})
    assert col(t.turns_v2, "event") == ["Update"] and col(t.messages, "type") == ["TurnInfo"]
    assert t.requests["kind"].iloc[0] == "streaming_v2"


def test_speak_socket_message_is_rejected() -> None:
    with pytest.raises(ResponseFormatError, match="SpeechInterrupted message of a speak or agent socket"):
        dgtools.to_tables([{"type": "Connected", "request_id": "r"}, {"type": "SpeechInterrupted"}])


def test_unknown_stream_message_type() -> None:
    msgs = [*stream_messages(), {"type": "Mystery"}]
    with pytest.raises(ResponseFormatError, match="Mystery"):
        dgtools.to_tables(msgs)


@pytest.mark.parametrize("source", [42, b"{}", 3.5])
def test_unreadable_sources(source: Any) -> None:
    with pytest.raises(ResponseFormatError):
        dgtools.to_tables(source)


def test_json_scalar_file(tmp_path: Path) -> None:
    p = write_json(tmp_path / "n.json", 7)
    with pytest.raises(ResponseFormatError, match="int") as exc:
        dgtools.to_tables(p)
    assert exc.value.path == str(p)


# --------------------------------------------------------------------------- summary and reprs


def test_summary_figures() -> None:
    a = response(
        [alternative(words_run(4, speakers=[0, 1, 1, 2])), alternative(words_run(7))], request_id="a"
    )
    a["metadata"]["duration"] = 1800.0
    b = simple(3, request_id="b", speakers=[0, 0, 0])
    b["metadata"]["duration"] = 900.0
    c = response([{"transcript": "", "words": []}], request_id="c")
    c["metadata"]["duration"] = 1800.0
    t = dgtools.to_tables([a, b, c])
    s = t.summary()
    assert s.files == 3
    assert s.audio_hours == pytest.approx(1.25)
    assert s.words == 7  # first alternatives only
    assert s.speakers == 4  # {0, 1, 2} in a, {0} in b: speakers are counted per file and channel
    assert s.rows == {name: len(df) for name, df in t.items()}
    assert s.rows["words"] == 14
    text = str(s)
    assert (
        "3 file(s)" in text and "1.250 audio hours" in text and "7 words" in text and "4 speaker(s)" in text
    )
    assert "words=14" in text


def test_summary_of_empty_tables() -> None:
    s = dgtools.Tables().summary()
    assert (s.files, s.audio_hours, s.words, s.speakers) == (0, 0.0, 0, 0)


def test_reprs() -> None:
    t = dgtools.to_tables(full_response())
    r = repr(t)
    assert r.startswith("<dgtools.Tables: 1 file(s)") and "words=14" in r
    html = t._repr_html_()
    assert "<table>" in html and "words" in html
    assert "<table>" in t.summary()._repr_html_()


# --------------------------------------------------------------------------- batching


def _batch_source() -> list[Any]:
    out: list[Any] = [full_response()]
    for i in range(4):
        out.append(simple(7 + i, request_id=f"r{i}", speakers=[i % 2] * (7 + i)))
    out.append(response([{"transcript": "", "words": []}], request_id="empty"))
    out.append(stream_messages())
    out.append({"metadata": {"request_id": "read"}, "results": {"summary": {"text": "x"}}})
    out.append(simple(25, request_id="big", speakers=[0] * 12 + [1] * 13))
    return out


def _built(source: Any, *, batch_words: int) -> tuple[dgtools.Tables, dict[str, pa.Table]]:
    """Tables from the public batched builder, and the Arrow tables it returned."""
    builder = TableBuilder(batch_words=batch_words)
    for fid, path, obj in iter_responses(source):
        builder.add(obj, fid, path)
    arrow = builder.finish()
    return dgtools.Tables.from_arrow(arrow), arrow


def test_batching_gives_identical_tables() -> None:
    one_batch = dgtools.to_tables(_batch_source())
    many_batches, arrow = _built(_batch_source(), batch_words=10)
    assert len(arrow["words"].to_batches()) > 3  # the rows really were converted in several batches
    assert_schema(many_batches)
    assert_tables_equal(many_batches, one_batch)
    assert len(many_batches.words) > 3 * 10


def test_batching_without_request_ids() -> None:
    source = [simple(6, request_id=None) for _ in range(4)]
    one_batch = dgtools.to_tables(source)
    assert one_batch.requests["file_id"].nunique() == 4
    many_batches, arrow = _built(source, batch_words=10)
    assert len(arrow["words"].to_batches()) > 1
    assert_tables_equal(many_batches, one_batch)


def test_builder_takes_plain_dicts_and_streams() -> None:
    expected = dgtools.to_tables([full_response(), stream_messages()], file_id=["full", "live"])
    builder = TableBuilder()
    builder.add(full_response(), "full")
    builder.add(stream_messages(), "live")
    assert (builder.n_files, builder.total_words) == (2, len(expected.words))
    assert_tables_equal(dgtools.Tables.from_arrow(builder.finish()), expected)
    with pytest.raises(ResponseFormatError, match="not a Deepgram response") as exc:
        builder.add({"hello": 1}, "x", "x.json")
    assert exc.value.path == "x.json"


def test_builder_starts_afresh_after_finish() -> None:
    """finish() returns what came since the last finish(); default ids go on counting."""
    source = [simple(6, request_id=None) for _ in range(5)]
    builder = TableBuilder(batch_words=4)
    parts = []
    for i, (fid, path, obj) in enumerate(iter_responses(source)):
        builder.add(obj, fid, path)
        if i % 2 == 1:
            parts.append(builder.finish())
            assert (builder.n_files, builder.total_words) == (0, 0)
    parts.append(builder.finish())
    assert [len(p["requests"]) for p in parts] == [2, 2, 1]
    joined = {name: pa.concat_tables([p[name] for p in parts]) for name in TABLE_NAMES}
    assert_tables_equal(dgtools.Tables.from_arrow(joined), dgtools.to_tables(source))
    assert dgtools.Tables.from_arrow(joined).requests["file_id"].tolist() == [
        f"response-{i}" for i in range(5)
    ]


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "10"])
def test_batch_words_must_be_a_positive_integer(bad: Any) -> None:
    with pytest.raises(ConfigError, match="batch_words"):
        TableBuilder(batch_words=bad)
    with pytest.raises(ConfigError, match="batch_words"):
        next(iter_batches(simple(), batch_words=bad))


def test_iter_batches_splits_between_responses_and_adds_up_to_to_tables() -> None:
    source = _batch_source()
    batches = list(iter_batches(source, batch_words=12))
    assert len(batches) > 3
    for b in batches[:-1]:  # a batch ends after the response that reaches batch_words
        assert b["words"].num_rows >= 12
        last = b["requests"]["file_id"][-1].as_py()
        assert (
            b["words"].num_rows - b["words"].filter(pa.compute.equal(b["words"]["file_id"], last)).num_rows
            < 12
        )
    ids = [fid for b in batches for fid in b["requests"]["file_id"].to_pylist()]
    assert len(ids) == len(set(ids))  # no response straddles two batches
    joined = {name: pa.concat_tables([b[name] for b in batches]) for name in TABLE_NAMES}
    assert_tables_equal(dgtools.Tables.from_arrow(joined), dgtools.to_tables(source))


def test_iter_batches_of_nothing_is_one_empty_batch() -> None:
    (batch,) = iter_batches([], batch_words=5)
    assert all(batch[name].num_rows == 0 and batch[name].schema.equals(SCHEMAS[name]) for name in TABLE_NAMES)


def test_a_bad_response_leaves_no_rows_behind() -> None:
    """The builder rolls a response back when it fails halfway (after its words were added)."""

    def resp(rid: str, n: int, created: str = "2024-01-01T00:00:00Z") -> dict[str, Any]:
        words = [
            {"word": "w", "start": i, "end": i + 0.5, "confidence": 0.9, "speaker": i % 2} for i in range(n)
        ]
        return {
            "metadata": {"request_id": rid, "created": created, "duration": float(n)},
            "results": {"channels": [{"alternatives": [{"transcript": "w", "words": words}]}]},
        }

    builder = TableBuilder()
    good = [resp("big", 400), resp("small", 3)]  # the small one is still buffered when "bad" comes
    for fid, path, obj in iter_responses(good):
        builder.add(obj, fid, path)
    # fails in its last step (metadata.created), after its 300 + 5 words went in
    bad = {**resp("bad", 300), "results": {"channels": [
        {"alternatives": [{"words": resp("x", 5)["results"]["channels"][0]["alternatives"][0]["words"]}]},
        {"alternatives": [{"words": resp("x", 300)["results"]["channels"][0]["alternatives"][0]["words"]}]},
    ]}, "metadata": {"request_id": "bad", "created": "not a time"}}  # fmt: skip
    for fid, path, obj in iter_responses(bad):
        with pytest.raises(dgtools.ResponseFormatError, match=r"metadata\.created"):
            builder.add(obj, fid, path)
    assert (builder.n_files, builder.total_words) == (2, 403)
    got = dgtools.Tables.from_arrow(builder.finish())
    expected = dgtools.to_tables(good)
    for name in dgtools.Tables.names:
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True)


# --------------------------------------------------------------------------- validate_response


def body(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _validate(data: Any, source: str | None = "calls/a.wav") -> Any:
    raw = data if isinstance(data, (bytes, bytearray, memoryview)) else body(data)
    return dgtools.tables.validate_response(raw, source=source)


def test_validate_response_returns_what_the_batch_needs() -> None:
    info = _validate(full_response())
    assert (info.request_id, info.duration, info.channels) == ("req-1", 25.5, 2)
    assert info.sha256 == "154e291ecfa8be6ab8343560bcc109008fa7853eb5372533e8efdefc9b504c33"
    bare = {"metadata": {}, "results": {"channels": [{"alternatives": [{"transcript": "", "words": []}]}]}}
    info = _validate(bare)
    assert (info.request_id, info.sha256, info.duration, info.channels) == (None, None, None, 1)
    assert _validate(memoryview(body(simple()))).request_id == "req-1"
    assert _validate(bytearray(b"\xef\xbb\xbf" + body(simple()))).request_id == "req-1"


def _set(path: str, value: Any) -> dict[str, Any]:
    """``full_response()`` with the value at a dotted path (``[i]`` for list items) replaced."""
    d = full_response()
    *parents, last = path.replace("[", ".[").split(".")
    node: Any = d
    for part in parents:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return d


def _inverted(path: str, start: float = 2.0, end: float = 1.0) -> dict[str, Any]:
    d = _set(path + ".start", start)
    node: Any = d
    for part in path.replace("[", ".[").split("."):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    node["end"] = end
    return d


WORD0 = "results.channels[0].alternatives[0].words[0]"
UTT0 = "results.utterances[0]"
PARA0 = "results.channels[0].alternatives[0].paragraphs.paragraphs[0]"
HIT0 = "results.channels[0].search[0].hits[0]"

#: (body, key path the error names, text the message holds)
GARBAGE: list[tuple[Any, str | None, str]] = [
    (b'{"results":{"channels":[,,,]}}', None, "not valid JSON"),
    (b'{"note":"results"}', "metadata", "metadata"),
    (b'{"metadata":{"request_id":"r"},"results":null}', "results", "results"),
    (b'{"metadata":{"request_id":"r"}}', "results", "results"),
    (b'{"results":{"channels":[]}}', "metadata", "metadata"),
    (body({"metadata": 5, "results": {"channels": []}}), "metadata", "object"),
    (body({"metadata": {}, "results": {}}), "results.channels", "channels"),
    (body({"metadata": {}, "results": {"channels": {}}}), "results.channels", "array"),
    (body({"metadata": {}, "results": {"channels": [1, 2]}}), "results.channels[0]", "object"),
    (body({"metadata": {}, "results": {"channels": [{}]}}), "results.channels[0].alternatives", "alternatives"),
    (body({"metadata": {}, "results": {"summary": {"text": "a /v1/read answer"}}}), "results.channels", "channels"),
    (body(simple())[:-7], None, "not valid JSON"),
    (b"", None, "empty"),
    (b"[]", None, "array"),
    (b"null", None, "null"),
    (body(stream_messages()[2]), "results", "results"),
    (body({"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "e"}), None, "error body"),
    (body(_set(WORD0 + ".word", 5)), WORD0 + ".word", "str"),
    (body(_set(WORD0 + ".start", "0.5")), WORD0 + ".start", "float"),
    (body(_set(WORD0 + ".speaker", 1.5)), WORD0 + ".speaker", "whole number"),
    (body(_set("results.channels[0].alternatives[0].words", {"word": "a"})),
     "results.channels[0].alternatives[0].words", "array"),
    (body(_set("metadata.request_id", 12)), "metadata.request_id", "str"),
    (body(_set("metadata.duration", "long")), "metadata.duration", "float"),
    (body(_set("metadata.created", "yesterday")), "metadata.created", "yesterday"),
    (body(_set("metadata.duration", -3.0)), "metadata.duration", "-3.0"),
    (body(_set(WORD0 + ".start", -0.25)), WORD0 + ".start", "-0.25"),
    (body(_set(WORD0 + ".end", -0.1)), WORD0 + ".end", "-0.1"),
    (body(_inverted(WORD0)), WORD0, "end 1.0 is before start 2.0"),
    (body(_set(WORD0 + ".confidence", 1.5)), WORD0 + ".confidence", "1.5"),
    (body(_set(WORD0 + ".confidence", -0.5)), WORD0 + ".confidence", "-0.5"),
    (body(_set(WORD0 + ".speaker_confidence", 7)), WORD0 + ".speaker_confidence", "7"),
    (body(_set(WORD0 + ".speaker", -1)), WORD0 + ".speaker", "-1"),
    (body(_set(UTT0 + ".speaker", -2)), UTT0 + ".speaker", "-2"),
    (body(_set(UTT0 + ".confidence", 2.5)), UTT0 + ".confidence", "2.5"),
    (body(_set(UTT0 + ".start", -4)), UTT0 + ".start", "-4"),
    (body(_set(PARA0 + ".speaker", -1)), PARA0 + ".speaker", "-1"),
    (body(_set(HIT0 + ".confidence", 3)), HIT0 + ".confidence", "3"),
]  # fmt: skip


INVERTED = [WORD0, "results.channels[0].alternatives[0].words[3]", UTT0, PARA0,
            PARA0 + ".sentences[0]", HIT0, "results.channels[1].alternatives[0].words[2]"]  # fmt: skip


@pytest.mark.parametrize("data,key_path,text", GARBAGE)
def test_validate_response_refuses_anything_but_a_whole_response(
    data: bytes, key_path: str | None, text: str
) -> None:
    with pytest.raises(ResponseFormatError) as exc:
        _validate(data)
    assert text in str(exc.value)
    assert exc.value.path == "calls/a.wav" and str(exc.value).startswith("calls/a.wav: ")
    if key_path is not None:
        assert exc.value.key_path is not None and key_path in exc.value.key_path
        assert key_path.rsplit(".", 1)[-1] in str(exc.value)


@pytest.mark.parametrize("path", INVERTED)
def test_inverted_times_are_refused_everywhere(path: str, tmp_path: Path) -> None:
    bad = _inverted(path)
    with pytest.raises(ResponseFormatError, match="before start") as exc:
        _validate(bad)
    assert exc.value.key_path == path
    p = write_json(tmp_path / "inverted.json", bad)
    with pytest.raises(ResponseFormatError, match="before start") as exc:
        dgtools.to_tables(p)
    assert exc.value.key_path == path and exc.value.path == str(p)
    assert "end 1.0 is before start 2.0" in str(exc.value)


def test_validate_response_refuses_deep_nesting() -> None:
    for data in (b'{"metadata":{"extra":' + b"[" * 5000 + b"]" * 5000 + b"},\"results\":{}}",
                 b'{"a":' * 5000 + b"1" + b"}" * 5000):  # fmt: skip
        with pytest.raises(ResponseFormatError, match="nested") as exc:
            _validate(data)
        assert exc.value.path == "calls/a.wav"


def test_validate_response_accepts_what_to_tables_accepts() -> None:
    """Unknown fields, ints for floats, empty transcripts, no utterances, multichannel."""
    d = full_response()
    d["metadata"]["brand_new"] = {"nested": [1, {"x": None}]}
    d["results"]["channels"][0]["alternatives"][0]["words"][0].update(start=0, end=1, confidence=1)
    for data in (d, simple(), response([{"transcript": "", "words": []}]),
                 response([alternative([])], [alternative(words_run(2))])):  # fmt: skip
        info = _validate(data, source=None)
        assert info.request_id == "req-1"
        assert len(dgtools.to_tables(data).requests) == 1


@pytest.mark.parametrize(
    "options",
    [[], [("diarize", "true"), ("utterances", "true"), ("punctuate", "true"), ("paragraphs", "true")],
     [("multichannel", "true"), ("diarize", "true"), ("search", "call"), ("alternatives", "2")],
     [("smart_format", "true"), ("tag", "t"), ("extra", "k:v"), ("detect_topics", "true")]],
    ids=["plain", "diarized", "multichannel", "smart_format"],
)  # fmt: skip
def test_validate_response_accepts_the_synthetic_engine(options: list[tuple[str, str]]) -> None:
    import asyncio
    import wave
    from io import BytesIO

    from dgtools.engines import SyntheticEngine

    buf = BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 2 * 8000 * 20)
    answer = asyncio.run(SyntheticEngine(seed=3).transcribe(
        audio=buf.getvalue(), url=None, options=options, request_id="syn-1", sha256="ab" * 32))  # fmt: skip
    info = _validate(answer)
    assert (info.request_id, info.sha256, info.duration) == ("syn-1", "ab" * 32, 20.0)
    assert info.channels == (2 if ("multichannel", "true") in options else 1)


def test_validate_response_accepts_the_local_engine() -> None:
    from dgtools.engines import LocalEngine

    engine = LocalEngine()
    repo = Path(__file__).resolve().parents[1]
    audio = sorted((repo / "data" / "audio").glob("*.wav"))
    assert audio
    answer = engine.transcribe_path(audio[0], {"punctuate": True, "utterances": True, "diarize": True,
                                               "paragraphs": True, "search": ["the"]})  # fmt: skip
    info = _validate(answer)
    assert info.channels >= 1 and info.duration is not None and info.duration > 0


# --------------------------------------------------------------------------- on_error, failures


def _deep_file(path: Path, depth: int = 1000) -> Path:
    path.write_text('{"a":' * depth + "1" + "}" * depth)
    return path


def test_deeply_nested_file_is_a_response_format_error(tmp_path: Path) -> None:
    for i, text in enumerate(['{"a":' * 1000 + "1" + "}" * 1000,
                              '{"metadata":{"extra":' + "[" * 1000 + "]" * 1000 + '},"results":{"channels":[]}}',
                              '{"foo":' + "[" * 1000 + "]" * 1000 + "}"]):  # fmt: skip
        p = tmp_path / f"deep{i}.json"
        p.write_text(text)
        with pytest.raises(ResponseFormatError, match="nested") as exc:
            dgtools.to_tables(p)
        assert exc.value.path == str(p)


def _folder_with_bad_files(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Three good responses and one bad file of every kind; returns the folder and {bad file_id: text}."""
    folder = tmp_path / "in"
    write_json(folder / "a_good.json", simple(request_id="a"))
    _deep_file(folder / "b_deep.json")
    (folder / "c_not_json.json").write_text("{this is not json")
    write_json(folder / "d_not_a_response.json", {"hello": "world"})
    write_json(folder / "e_negative.json", _set(WORD0 + ".start", -1.5))
    write_json(folder / "f_inverted.json", _inverted(UTT0))
    write_json(folder / "g_confidence.json", _set(WORD0 + ".confidence", 1.25))
    write_json(folder / "h_error_body.json", {"err_code": "X", "err_msg": "nope", "request_id": "e"})
    write_json(folder / "m_good.json", full_response())
    (folder / "z_good.jsonl").write_text("\n".join(json.dumps(m) for m in stream_messages()))
    bad = {"b_deep": "nested", "c_not_json": "not valid JSON", "d_not_a_response": "results",
           "e_negative": "-1.5", "f_inverted": "before start", "g_confidence": "1.25",
           "h_error_body": "error body"}  # fmt: skip
    return folder, bad


def test_on_error_skip_leaves_bad_inputs_out_and_lists_them(tmp_path: Path) -> None:
    folder, bad = _folder_with_bad_files(tmp_path)
    with pytest.raises(ResponseFormatError):
        dgtools.to_tables(folder)
    t = dgtools.to_tables(folder, on_error="skip")
    assert col(t.requests, "file_id") == ["a_good", "m_good", "z_good"]
    good = dgtools.to_tables([folder / "a_good.json", folder / "m_good.json", folder / "z_good.jsonl"])
    assert_tables_equal(t, good)
    f = t.failures
    assert list(f.columns) == ["file_id", "path", "key_path", "message"]
    assert col(f, "file_id") == sorted(bad)
    assert col(f, "path") == [str(folder / f"{fid}.json") for fid in sorted(bad)]
    for fid, message in zip(col(f, "file_id"), col(f, "message"), strict=True):
        assert bad[fid] in message, (fid, message)
        assert str(folder) not in message  # the path has its own column
    keys = dict(zip(col(f, "file_id"), col(f, "key_path"), strict=True))
    assert keys["e_negative"] == WORD0 + ".start" and keys["f_inverted"] == UTT0
    assert keys["g_confidence"] == WORD0 + ".confidence"


def test_failures_table_is_empty_without_failures_and_never_written(tmp_path: Path) -> None:
    for t in (dgtools.Tables(), dgtools.to_tables(simple()), dgtools.to_tables(simple(), on_error="skip")):
        assert list(t.failures.columns) == ["file_id", "path", "key_path", "message"]
        assert len(t.failures) == 0
        assert "failures" not in list(t) and len(t) == 17
    folder, _ = _folder_with_bad_files(tmp_path)
    t = dgtools.to_tables(folder, on_error="skip")
    out = t.to_parquet(tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.parquet" for n in TABLE_NAMES)
    assert len(dgtools.read_parquet(out).failures) == 0
    assert "7 failed" in repr(t)


def test_on_error_skip_in_memory_items_and_batches() -> None:
    bad = _set(WORD0 + ".speaker", -3)
    source = [simple(request_id="a"), bad, {"not": "a response"}, simple(request_id="c")]
    t = dgtools.to_tables(source, on_error="skip")
    assert col(t.requests, "file_id") == ["a", "c"]
    assert col(t.failures, "path") == [None, None]
    assert col(t.failures, "file_id") == ["req-1", None]  # what can be known of the bad item
    assert "item 1" in t.failures["message"].iloc[0] and "item 2" in t.failures["message"].iloc[1]
    ids = dgtools.to_tables(source, on_error="skip", file_id=["w", "x", "y", "z"])
    assert col(ids.requests, "file_id") == ["w", "z"] and col(ids.failures, "file_id") == ["x", "y"]
    with pytest.warns(dgtools.DGToolsWarning) as rec:
        batches = list(iter_batches(source * 3, batch_words=5, on_error="skip"))
    assert sum(len(b["requests"]) for b in batches) == 6
    messages = [str(w.message) for w in rec]
    assert any("'a#2'" in m for m in messages) and any("'c#2'" in m for m in messages)
    assert "left out 6 input(s)" in messages[-1] and "item 1: " in messages[-1]
    with pytest.raises(dgtools.ConfigError, match="on_error"):
        dgtools.to_tables(source, on_error="ignore")  # type: ignore[arg-type]


def test_on_error_callable_sees_each_failure(tmp_path: Path) -> None:
    folder, bad = _folder_with_bad_files(tmp_path)
    seen: list[Any] = []
    t = dgtools.to_tables(folder, on_error=seen.append)
    assert [f.file_id for f in seen] == col(t.failures, "file_id") == sorted(bad)
    assert all(f.path is not None and f.message for f in seen)
    out = dgtools.write_dataset(folder, tmp_path / "ds", on_error=seen.append, batch_words=3)
    assert len(seen) == 2 * len(bad)
    assert col(dgtools.read_parquet(out).requests, "file_id") == ["a_good", "m_good", "z_good"]


def test_write_dataset_skip_warns_of_what_it_left_out(tmp_path: Path) -> None:
    folder, _ = _folder_with_bad_files(tmp_path)
    with pytest.warns(dgtools.DGToolsWarning, match="7 input") as rec:
        dgtools.write_dataset(folder, tmp_path / "ds", on_error="skip")
    assert "b_deep.json" in str(rec[0].message)
    assert len(dgtools.read_parquet(tmp_path / "ds").requests) == 3


def test_a_failure_of_a_later_response_in_a_stream_file_skips_the_stream(tmp_path: Path) -> None:
    msgs = stream_messages()
    msgs[2]["channel"]["alternatives"][0]["words"][0]["confidence"] = 9.5
    (tmp_path / "live.jsonl").write_text("\n".join(json.dumps(m) for m in msgs))
    write_json(tmp_path / "ok.json", simple())
    t = dgtools.to_tables(tmp_path, on_error="skip")
    assert col(t.requests, "file_id") == ["ok"]
    assert col(t.failures, "key_path") == ["line 3: channel.alternatives[0].words[0].confidence"]
    assert "9.5" in t.failures["message"].iloc[0]


# --------------------------------------------------------------------------- duplicate ids


def test_the_same_response_twice_gets_two_file_ids() -> None:
    d = full_response()
    with pytest.warns(dgtools.DGToolsWarning, match=r"'req-1'.*'req-1#2'.*file_id=") as rec:
        t = dgtools.to_tables([d, d, copy.deepcopy(d)])
    assert len(rec) == 1  # one warning per repeated id
    assert col(t.requests, "file_id") == ["req-1", "req-1#2", "req-1#3"]
    one = dgtools.to_tables(d)
    for name in TABLE_NAMES:
        assert len(t[name]) == 3 * len(one[name]), name
    assert t.turns.groupby("file_id").size().tolist() == [len(one.turns)] * 3
    assert t.words.groupby("file_id")["word_index"].max().tolist() == [one.words["word_index"].max()] * 3


def test_duplicate_ids_stay_unique_across_batches_and_files(tmp_path: Path) -> None:
    write_json(tmp_path / "x" / "call.json", simple(request_id="r1"))
    write_json(tmp_path / "y" / "call.json", simple(request_id="r2"))
    with pytest.warns(dgtools.DGToolsWarning, match="'call'"):
        t = dgtools.to_tables([tmp_path / "x" / "call.json", tmp_path / "y" / "call.json"])
    assert col(t.requests, "file_id") == ["call", "call#2"]
    source = [simple(6, request_id="same") for _ in range(4)]
    with pytest.warns(dgtools.DGToolsWarning, match="'same'"):
        batches = list(iter_batches(source, batch_words=6))
    assert [fid for b in batches for fid in b["requests"]["file_id"].to_pylist()] == [
        "same", "same#2", "same#3", "same#4"]  # fmt: skip
    with pytest.warns(dgtools.DGToolsWarning, match="'same'"):
        dgtools.write_dataset(source, tmp_path / "ds", batch_words=6)
    assert dgtools.read_parquet(tmp_path / "ds").requests["file_id"].tolist() == [
        "same", "same#2", "same#3", "same#4"]  # fmt: skip


def test_a_generated_suffix_never_takes_an_id_that_exists() -> None:
    with pytest.warns(dgtools.DGToolsWarning):
        t = dgtools.to_tables([simple(request_id="a"), simple(request_id="a#2"), simple(request_id="a")])
    assert col(t.requests, "file_id") == ["a", "a#2", "a#3"]


def test_explicit_duplicate_file_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'x'"):
        dgtools.to_tables([simple(), simple(), simple()], file_id=["x", "y", "x"])
    with pytest.raises(ConfigError, match="'x'"):
        dgtools.write_dataset([simple(), simple()], tmp_path / "out", file_id=["x", "x"])
    assert list(tmp_path.iterdir()) == []


def test_a_list_mixing_responses_and_stream_messages_is_refused() -> None:
    msgs = stream_messages()
    for mixed in ([simple(), *msgs], [*msgs[:2], simple(), *msgs[2:]]):
        with pytest.raises(ResponseFormatError, match="separate") as exc:
            dgtools.to_tables(mixed)
        assert "streaming messages" in str(exc.value)
    t = dgtools.to_tables([simple(request_id="r"), msgs])  # a stream as one item of the list
    assert col(t.requests, "file_id") == ["r", "stream-1"]
    assert col(t.requests, "kind") == ["prerecorded", "streaming"]


# --------------------------------------------------------------------------- the dgtools tables command


def test_cli_tables_skips_bad_files_warns_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dgtools.cli import main

    folder, bad = _folder_with_bad_files(tmp_path)
    for extra in ([], ["--dataset"]):
        out = tmp_path / ("ds" if extra else "out")
        assert main(["tables", str(folder), "--out", str(out), *extra]) == 1
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        lines = captured.err.strip().splitlines()
        assert len(lines) == len(bad), captured.err
        for line, fid in zip(lines, sorted(bad), strict=True):
            assert line.startswith(f"dgtools: warning: {folder / fid}.json: "), line
            assert bad[fid] in line
        assert "3 file(s)" in captured.out
        assert col(dgtools.read_parquet(out).requests, "file_id") == ["a_good", "m_good", "z_good"]


def test_cli_tables_of_a_store_with_two_answers_for_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dgtools.cli import main

    store = dgtools.Store(tmp_path / "store")
    for i, opts in enumerate(("0123456789abcdef", "fedcba9876543210")):
        key = store.key("ab" * 32, opts)
        store.write_bytes(key, body(simple(request_id=f"r{i}")))
        store.record({"key": key, "file_id": "calls/a.wav"})
    for extra in ([], ["--dataset"]):
        out = tmp_path / ("ds" if extra else "out")
        assert main(["tables", str(store.root), "--out", str(out), *extra]) == 0
        captured = capsys.readouterr()
        assert "2 file(s)" in captured.out
        assert col(dgtools.read_parquet(out).requests, "file_id") == ["calls/a.wav", "calls/a.wav#2"]
        assert "calls/a.wav#2" in captured.err


def test_cli_tables_keeps_the_old_output_when_every_input_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dgtools.cli import main

    folder, bad = _folder_with_bad_files(tmp_path)
    for good in ("a_good.json", "m_good.json", "z_good.jsonl"):
        (folder / good).unlink()
    for extra in ([], ["--dataset"]):
        out = tmp_path / ("ds" if extra else "out")
        assert main(["tables", str(RESPONSES_DIR), "--out", str(out), *extra]) == 0
        before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        capsys.readouterr()
        assert main(["tables", str(folder), "--out", str(out), *extra]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert [x.split(": ")[1] for x in lines[:-1]] == ["warning"] * len(bad)
        assert (
            lines[-1]
            == f"dgtools: error: none of the {len(bad)} inputs is a usable Deepgram response; nothing was written"
        )
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_write_dataset_refuses_to_replace_tables_with_nothing(tmp_path: Path) -> None:
    out = dgtools.write_dataset([simple(request_id="old")], tmp_path / "ds")
    seen: list[Any] = []
    with pytest.raises(ResponseFormatError, match=r"none of the 2 input.*keeps what it had"):
        dgtools.write_dataset([{"bad": 1}, _set(WORD0 + ".end", -1)], out, on_error=seen.append)
    assert len(seen) == 2
    assert col(dgtools.read_parquet(out).requests, "file_id") == ["old"]
    empty = dgtools.write_dataset([], out, on_error="skip")  # no input at all is not a failure
    assert len(dgtools.read_parquet(empty).requests) == 0


def test_an_inverted_word_is_named_in_streams_and_beside_missing_times() -> None:
    msgs = stream_messages()
    msgs[3]["channel"]["alternatives"][0]["words"][0].update(start=2.5, end=2.4)
    with pytest.raises(ResponseFormatError, match=r"end 2\.4 is before start 2\.5") as exc:
        dgtools.to_tables(msgs)
    assert exc.value.key_path == "[3].channel.alternatives[0].words[0]"
    ws = [{"word": "a", "end": 1.0}, {"word": "b", "start": 0.5}, {"word": "c", "start": 3.0, "end": 2.0}]
    d = response([alternative(ws)])
    for check in (dgtools.to_tables, lambda x: _validate(x, source=None)):
        with pytest.raises(ResponseFormatError, match=r"end 2\.0 is before start 3\.0") as exc:
            check(d)
        assert exc.value.key_path == "results.channels[0].alternatives[0].words[2]"
    ws[2]["end"] = 3.5
    d = response([alternative(ws)])
    d["results"]["channels"][0]["alternatives"][0]["paragraphs"] = {"paragraphs": [
        {"sentences": [{"text": "a", "end": 1.0}, {"text": "b", "start": 4.0, "end": 3.9}]}]}  # fmt: skip
    with pytest.raises(ResponseFormatError) as exc:
        dgtools.to_tables(d)
    assert exc.value.key_path == "results.channels[0].alternatives[0].paragraphs.paragraphs[0].sentences[1]"
    d["results"]["channels"][0]["alternatives"][0]["paragraphs"]["paragraphs"][0]["sentences"][1]["end"] = 4.5
    assert len(dgtools.to_tables(d).words) == 3 and _validate(d).channels == 1


def test_a_long_alternative_with_an_inverted_word_leaves_no_rows_behind() -> None:
    """Over 256 words an alternative goes to Arrow at once; the bad response still rolls back."""
    big = simple(300, request_id="big")
    big["results"]["channels"][0]["alternatives"][0]["words"][299].update(start=500.0, end=499.0)
    builder = TableBuilder()
    builder.add(simple(request_id="ok"))
    with pytest.raises(ResponseFormatError, match=r"words\[299\]"):
        builder.add(big, path="big.json")
    assert (builder.n_files, builder.total_words) == (1, 4)
    builder.add(simple(request_id="big"))  # its id was given back
    assert col(dgtools.Tables.from_arrow(builder.finish()).requests, "file_id") == ["ok", "big"]


def test_nan_in_an_in_memory_response_is_read_as_null() -> None:
    """JSON has no NaN; a dict from pandas may use it for "no value": null, while real bounds still hold."""
    d = simple(3, speakers=[0, 1, 0])
    ws = d["results"]["channels"][0]["alternatives"][0]["words"]
    ws[1].update(confidence=float("nan"), speaker_confidence=float("nan"), start=float("nan"))
    t = dgtools.to_tables(d)
    assert col(t.words, "confidence")[1] is None and col(t.words, "start")[1] is None
    assert col(t.words, "speaker") == [0, 1, 0]
    ws[2]["confidence"] = 1.5
    with pytest.raises(ResponseFormatError, match=r"confidence is 1\.5") as exc:
        dgtools.to_tables(d)
    assert exc.value.key_path == "results.channels[0].alternatives[0].words[2].confidence"
