"""The rows of a pre-recorded response, table by table (internal to :mod:`dgtools.tables`).

Functions that read one decoded :class:`~dgtools.tables.wire.Response` and
append its rows to a :class:`~dgtools.tables._columns.Columns`: the request,
channels, alternatives, words, paragraphs and sentences, search hits,
utterances, and the audio intelligence tables (summaries, topics, intents,
sentiments, entities).  Streaming messages are :mod:`dgtools.tables.streaming`;
both share :func:`add_alternative` and :func:`add_request`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import pairwise, repeat
from typing import Any

import msgspec

from ..exceptions import ResponseFormatError
from . import wire as _wire
from ._columns import Columns

__all__ = [
    "NO_ALT", "add_alternative", "add_fragment", "add_prerecorded", "add_request", "first", "parse_created",
]  # fmt: skip

_INFO = ("summary_info", "sentiment_info", "topics_info", "intents_info")
_NO_META = _wire.Metadata()
_NO_INFO = _wire.Info()
#: An alternative with no fields, for a message without one.
NO_ALT = _wire.Alternative()


def add_prerecorded(c: Columns, r: _wire.Response, fid: str | None, path: str | None) -> None:
    meta = r.metadata or _NO_META
    results = r.results
    assert results is not None
    f = c.file(fid, meta.request_id, path)
    channels = results.channels
    kind = "prerecorded" if channels is not None else "read"
    first_words: list[_wire.Word] = []
    transcript = None
    n_words = 0
    for ci, ch in enumerate(channels or ()):
        ws, tr, nw = _add_channel(c, f, ci, ch)
        n_words += nw
        if ci == 0:
            first_words, transcript = ws, tr
    if results.utterances:
        _add_utterances(c, f, results.utterances)
    _add_intelligence(c, f, results, first_words)
    avg = results.sentiments.average if results.sentiments else None
    add_request(c, f, kind, meta, transcript, n_words, avg)


def add_fragment(c: Columns, r: _wire.Response, fid: str | None, path: str | None) -> None:
    f = c.file(fid, None, path)
    ch = _wire.Channel(alternatives=r.alternatives, search=r.search)
    _, transcript, n_words = _add_channel(c, f, 0, ch)
    add_request(c, f, "fragment", _NO_META, transcript, n_words, None)


def add_request(
    c: Columns,
    f: int,
    kind: str,
    meta: _wire.Metadata,
    transcript: str | None,
    n_words: int,
    avg: _wire.Segment | None,
) -> None:
    models = meta.models
    mi: Any = meta.model_info or {}
    uuid = meta.model_uuid
    if "name" not in mi and mi:  # keyed by model uuid: take the first model's
        key = models[0] if models and models[0] in mi else next(iter(mi))
        uuid = uuid or key
        mi = mi[key]
    if not isinstance(mi, Mapping):
        mi = {}
    row: dict[str, Any] = {
        "kind": kind,
        "sha256": meta.sha256,
        "created": parse_created(meta.created),
        "duration": meta.duration,
        "channels": meta.channels,
        "models": models,
        "model_uuid": uuid,
        "model_name": _model_text(mi, "name"),
        "model_version": _model_text(mi, "version"),
        "model_arch": _model_text(mi, "arch"),
        "language": meta.language,
        "tags": meta.tags,
        "extra": _as_map(meta.extra),
        "warnings": [msgspec.structs.asdict(w) for w in meta.warnings] if meta.warnings else None,
        "average_sentiment": avg.sentiment if avg else None,
        "average_sentiment_score": avg.sentiment_score if avg else None,
        "n_words": n_words,
        "transcript": transcript,
    }
    for info in _INFO:
        block = getattr(meta, info) or _NO_INFO
        row[info + "_model_uuid"] = block.model_uuid
        row[info + "_input_tokens"] = block.input_tokens
        row[info + "_output_tokens"] = block.output_tokens
    c.t["requests"].row(f, **row)


def _add_channel(c: Columns, f: int, ci: int, ch: _wire.Channel) -> tuple[list[_wire.Word], str | None, int]:
    c.t["channels"].row(
        f, channel=ci, detected_language=ch.detected_language, language_confidence=ch.language_confidence
    )
    first_words: list[_wire.Word] = []
    transcript = None
    n_words = 0
    for ai, alt in enumerate(ch.alternatives or ()):
        ws = add_alternative(c, f, ci, ai, alt, None)
        if ai == 0:
            first_words, transcript, n_words = ws, alt.transcript, len(ws)
    if ch.search:
        _add_search(c, f, ci, ch.search)
    return first_words, transcript, n_words


def add_alternative(
    c: Columns, f: int, ci: int, ai: int, alt: _wire.Alternative, seq: int | None, word_base: int = 0
) -> list[_wire.Word]:
    ws = alt.words or []
    paras = alt.paragraphs
    c.t["alternatives"].row(
        f, channel=ci, alternative=ai, seq=seq, transcript=alt.transcript, confidence=alt.confidence,
        n_words=len(ws), languages=alt.languages, paragraphs_transcript=paras.transcript if paras else None,
    )  # fmt: skip
    if ws:
        c.add_words(f, ci, ai, ws, word_base)
    if paras and paras.paragraphs:
        _add_paragraphs(c, f, ci, ai, paras.paragraphs)
    if alt.entities:
        _add_entities(c, f, ci, ai, alt.entities, ws)
    if alt.summaries:
        t = c.t["summaries"]
        for si, s in enumerate(alt.summaries):
            sw, ew = _word_span(s)
            start, end = _span_times(ws, sw, ew, inclusive=False)
            t.row(
                f, channel=ci, alternative=ai, summary_index=si, source="alternatives.summaries",
                summary=s.summary, start_word=sw, end_word=ew, start=start, end=end,
            )  # fmt: skip
    for seg_i, seg in enumerate(alt.topics or ()):
        _segment_rows(c, "topics", f, seg_i, seg, ws, channel=ci, alternative=ai)
    return ws


def _add_paragraphs(c: Columns, f: int, ci: int, ai: int, paras: list[_wire.Paragraph]) -> None:
    tp, ts = c.t["paragraphs"], c.t["sentences"]
    sents: list[_wire.Sentence] = []
    pidx: list[int] = []
    sidx: list[int] = []
    spk: list[Any] = []
    bounds = [0]
    for pi, p in enumerate(paras):
        ss = p.sentences or ()
        n = len(ss)
        sents += ss
        pidx += repeat(pi, n)
        sidx += range(n)
        spk += repeat(p.speaker, n)
        bounds.append(bounds[-1] + n)
    ts.extend(f, sents, ("start", "end", "text"), channel=ci, alternative=ai)
    texts = [s.text or "" for s in sents]
    ts.cols["paragraph_index"] += pidx
    ts.cols["sentence_index"] += sidx
    ts.cols["speaker"] += spk
    ts.cols["num_words"] += map(len, map(str.split, texts))
    tp.extend(f, paras, ("speaker", "start", "end", "num_words"), channel=ci, alternative=ai,
              paragraph_index=range(len(paras)))  # fmt: skip
    tp.cols["n_sentences"] += [b - a for a, b in pairwise(bounds)]
    tp.cols["text"] += [" ".join(texts[a:b]) if b > a else None for a, b in pairwise(bounds)]


def _add_search(c: Columns, f: int, ci: int, search: list[_wire.Search]) -> None:
    t = c.t["search_hits"]
    for q in search:
        if not q.hits:
            t.row(f, channel=ci, query=q.query)
            continue
        t.extend(f, q.hits, ("confidence", "start", "end", "snippet"), channel=ci, query=q.query,
                 hit_index=range(len(q.hits)))  # fmt: skip


def _add_utterances(c: Columns, f: int, utts: list[_wire.Utterance]) -> None:
    t = c.t["utterances"]
    t.extend(f, utts, ("id", "channel", "speaker", "start", "end", "confidence", "transcript"),
             utterance_index=range(len(utts)))  # fmt: skip
    t.cols["n_words"] += [len(u.words) if u.words is not None else None for u in utts]


def _add_intelligence(c: Columns, f: int, results: _wire.Results, words: list[_wire.Word]) -> None:
    summary = results.summary
    if summary is not None:
        text = summary.short if summary.short is not None else summary.text
        if text is None and summary.results and summary.results.summary:
            text = summary.results.summary.text  # the spec's nesting
        c.t["summaries"].row(
            f, summary_index=0, source="results.summary", result=summary.result, summary=text
        )
    for key in ("topics", "intents"):
        for seg_i, seg in enumerate(_segments(getattr(results, key), key)):
            _segment_rows(c, key, f, seg_i, seg, words)
    for seg_i, seg in enumerate(_segments(results.sentiments, "sentiments")):
        sw, ew = _word_span(seg)
        start, end = _span_times(words, sw, ew, inclusive=True)
        c.t["sentiments"].row(
            f, segment_index=seg_i, text=seg.text, start_word=sw, end_word=ew, start=start, end=end,
            sentiment=seg.sentiment, sentiment_score=seg.sentiment_score,
        )  # fmt: skip


def _segment_rows(
    c: Columns, table: str, f: int, seg_i: int, seg: _wire.Segment, words: list[_wire.Word], **where: Any
) -> None:
    sw, ew = _word_span(seg)
    start, end = _span_times(words, sw, ew, inclusive=True)
    base = dict(where, segment_index=seg_i, text=seg.text, start_word=sw, end_word=ew, start=start, end=end)
    labels: Sequence[Any] = (seg.topics if table == "topics" else seg.intents) or ()
    label = "topic" if table == "topics" else "intent"
    if not labels:
        c.t[table].row(f, **base)
    for item in labels:
        if isinstance(item, str):  # legacy alternatives[].topics[].topics is a list of strings
            c.t[table].row(f, **base, **{label: item})
        else:
            score = item.confidence_score if item.confidence_score is not None else item.confidence
            c.t[table].row(f, **base, **{label: getattr(item, label), "confidence_score": score})


def _add_entities(
    c: Columns, f: int, ci: int, ai: int, items: list[_wire.Entity], ws: list[_wire.Word]
) -> None:
    t = c.t["entities"]
    for ei, e in enumerate(items):
        sw, ew = _word_span(e)
        start, end = _span_times(ws, sw, ew, inclusive=False)
        t.row(
            f, channel=ci, alternative=ai, entity_index=ei, label=e.label, value=e.value,
            raw_value=e.raw_value, confidence=e.confidence, start_word=sw, end_word=ew, start=start, end=end,
        )  # fmt: skip


# --------------------------------------------------------------------------- helpers


def first(*values: Any) -> Any:
    """The first value that is not None (0 and 0.0 count as values)."""
    return next((v for v in values if v is not None), None)


def _segments(block: _wire.SegmentsBlock | None, key: str) -> Sequence[_wire.Segment]:
    """Segments of ``results.<key>``, in either nesting (``.segments`` or ``.results.<key>.segments``)."""
    if block is None:
        return ()
    if block.segments is not None:
        return block.segments
    nested = getattr(block.results, key, None) if block.results is not None else None
    return (nested.segments or ()) if nested is not None else ()


def _word_span(seg: _wire.Segment | _wire.Entity) -> tuple[int | None, int | None]:
    sw, ew = seg.start_word, seg.end_word
    return (None if sw is None else int(sw)), (None if ew is None else int(ew))


def _span_times(
    words: Sequence[_wire.Word], sw: int | None, ew: int | None, *, inclusive: bool
) -> tuple[float | None, float | None]:
    """Start/end seconds of words ``sw..ew``.

    Deepgram's topics, intents and sentiments segments give an inclusive
    ``end_word``; entities and summarize=v1 summaries an exclusive one.  A
    time whose word is not in the response (words truncated, or /v1/read
    text) is null rather than borrowed from another word.
    """
    n = len(words)
    start = words[sw].start if sw is not None and 0 <= sw < n else None
    last = None if ew is None else (ew if inclusive else ew - 1)
    end = words[last].end if last is not None and 0 <= last < n and (sw is None or last >= sw) else None
    return start, end


def _model_text(info: Mapping[str, Any], key: str) -> str | None:
    """``metadata.model_info...<key>``: a string or absent (model_info is free-form JSON)."""
    value = info.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ResponseFormatError(
        f"metadata.model_info {key} is {value!r}, not a string", key_path=f"metadata.model_info.{key}"
    )


def parse_created(value: str | None) -> datetime | None:
    """``metadata.created`` as a datetime; a :class:`~dgtools.ResponseFormatError` unless ISO 8601."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ResponseFormatError(
            f"metadata.created is {value!r}, not an ISO 8601 time", key_path="metadata.created"
        ) from None


def _as_map(value: Any) -> list[tuple[str, str]] | None:
    """``metadata.extra`` as key/value string pairs."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return [
            (str(k), v if isinstance(v, str) else msgspec.json.encode(v).decode()) for k, v in value.items()
        ]
    if isinstance(value, list):  # extra sent as repeated key:value strings
        pairs = [str(x).partition(":") for x in value]
        return [(k, v) for k, _, v in pairs]
    return [("value", str(value))]
