"""Values a response cannot hold that involve two fields: an end before its start.

Single values that cannot be (a negative time, a confidence above 1, a
negative speaker) are refused by the types of :mod:`dgtools.tables.wire`
while decoding.  What is left is an ``end`` before its ``start``, in words,
utterances, paragraphs, sentences and search hits, and a Flux ``TurnInfo``
whose ``audio_window_end`` is before its ``audio_window_start``.  :func:`check_times` finds
the first one and raises, naming its key path and both values; the table
builder and :func:`dgtools.tables.validate_response` both call it, so a
response the validator accepts is one the tables accept.

The words of a long alternative are checked by the builder on their Arrow
columns instead (see :func:`words_inverted`), which costs microseconds
instead of a Python loop over every word; only when that finds something does
:func:`check_times` walk the response to name the word.

Examples
--------
>>> from dgtools.tables.wire import decode
>>> check_times(decode(b'{"results": {"utterances": [{"start": 2.0, "end": 1.0}]}}'))
Traceback (most recent call last):
...
dgtools.exceptions.ResponseFormatError: results.utterances[0]: end 1.0 is before start 2.0; ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..exceptions import ResponseFormatError
from . import wire as _wire

__all__ = ["check_times", "first_inverted", "words_inverted"]


class _Timed(Protocol):
    @property
    def start(self) -> float | None: ...
    @property
    def end(self) -> float | None: ...


def first_inverted(records: Sequence[_Timed]) -> int | None:
    """Index of the first record whose ``end`` is before its ``start`` (both present), else None.

    Examples
    --------
    >>> from dgtools.tables.wire import Word
    >>> first_inverted([Word(start=0.0, end=0.5), Word(start=1.0), Word(start=2.0, end=1.5)])
    2
    >>> first_inverted([Word(start=0.0, end=0.5)]) is None
    True
    """
    try:  # the common case, every time present: a plain loop is the fastest Python has (~15 ns a record)
        for r in records:
            if r.end < r.start:  # type: ignore[operator]
                break
        else:
            return None
    except TypeError:  # a missing start or end: compare the records that have both
        pass
    for i, r in enumerate(records):
        s, e = r.start, r.end
        if s is not None and e is not None and e < s:
            return i
    return None


def words_inverted(start: pa.Array, end: pa.Array) -> bool:
    """Whether any word of these Arrow columns ends before it starts (nulls never count).

    Examples
    --------
    >>> import pyarrow as pa
    >>> words_inverted(pa.array([0.0, 1.0]), pa.array([0.5, 1.5])), words_inverted(pa.array([0.0, 2.0]), pa.array([0.5, None]))
    (False, False)
    >>> words_inverted(pa.array([0.0, 2.0]), pa.array([0.5, 1.5]))
    True
    """
    if start.null_count or end.null_count:
        return bool(pc.any(pc.less(end, start)).as_py())
    return bool(np.less(end.to_numpy(), start.to_numpy()).any())  # zero-copy: half the time of pc


def check_times(r: _wire.Response, *, words: bool = True, prefix: str = "") -> None:
    """Raise :class:`~dgtools.ResponseFormatError` at the first ``end`` before its ``start`` in ``r``.

    Parameters
    ----------
    r
        A decoded response, streaming message or channel fragment.
    words
        Also check the words (the builder checks them on Arrow columns first).
    prefix
        Put before every key path (a stream's ``[3]``).
    """
    results = r.results
    if results is not None:
        for ci, ch in enumerate(results.channels or ()):
            _channel(ch, f"{prefix}results.channels[{ci}]", words)
        _records(results.utterances, prefix.rstrip("."), "results.utterances")
    if isinstance(r.channel, _wire.Channel):
        _channel(r.channel, f"{prefix}channel", words)
    if r.alternatives is not None or r.search is not None:
        _channel(_wire.Channel(alternatives=r.alternatives, search=r.search), prefix.rstrip("."), words)
    if r.type == "TurnInfo":  # Flux
        if words and r.words:
            _records(r.words, prefix.rstrip("."), "words")
        ws, we = r.audio_window_start, r.audio_window_end
        if ws is not None and we is not None and we < ws:
            key_path = f"{prefix}audio_window_end"
            raise ResponseFormatError(
                f"{key_path}: audio_window_end {we!r} is before audio_window_start {ws!r}; "
                "a response cannot hold that (a corrupted or edited answer?)",
                key_path=key_path,
            )


def _channel(ch: _wire.Channel, where: str, words: bool) -> None:
    # Key paths are only formatted for the record that fails: this runs for every response.
    for ai, alt in enumerate(ch.alternatives or ()):
        if words and alt.words:
            _records(alt.words, where, f"alternatives[{ai}].words")
        paragraphs = alt.paragraphs.paragraphs if alt.paragraphs is not None else None
        if paragraphs:
            _records(paragraphs, where, f"alternatives[{ai}].paragraphs.paragraphs")
            if _sentences_inverted(paragraphs):
                for pi, p in enumerate(paragraphs):
                    _records(p.sentences, where, f"alternatives[{ai}].paragraphs.paragraphs[{pi}].sentences")
    for qi, q in enumerate(ch.search or ()):
        if q.hits:
            _records(q.hits, where, f"search[{qi}].hits")


def _sentences_inverted(paragraphs: list[_wire.Paragraph]) -> bool:
    """Whether a sentence of these paragraphs ends before it starts (one loop, not a call a paragraph)."""
    try:
        for p in paragraphs:
            for x in p.sentences or ():
                if x.end < x.start:  # type: ignore[operator]
                    return True
        return False
    except TypeError:  # a missing start or end
        return any(p.sentences and first_inverted(p.sentences) is not None for p in paragraphs)


def _records(records: Sequence[Any] | None, where: str, key: str) -> None:
    if records and (i := first_inverted(records)) is not None:
        _raise(records[i], where, f"{key}[{i}]")


def _raise(record: Any, where: str, key: str) -> None:
    key_path = f"{where}.{key}" if where else key
    raise ResponseFormatError(
        f"{key_path}: end {record.end!r} is before start {record.start!r}; "
        "a response cannot hold that (a corrupted or edited answer?)",
        key_path=key_path,
    )
