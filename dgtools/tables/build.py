"""Flatten Deepgram responses into typed tables: :func:`to_tables`, :class:`TableBuilder`.

:func:`to_tables` turns pre-recorded ``/v1/listen`` responses, ``/v1/read``
responses, channel fragments and lists of ``/v1/listen`` streaming messages
into a :class:`~dgtools.Tables`: one pandas DataFrame per table, each with the
explicit Arrow schema of :mod:`dgtools.tables.schema`.  :func:`iter_batches`
is the one loop under it and under :func:`dgtools.write_dataset`: it yields
the tables of a source in batches of about ``batch_words`` words, so memory
stays bounded however large the source.  :class:`TableBuilder` is the public
batched builder both use, for callers that produce responses themselves.

How it stays fast: each file is decoded by msgspec straight into the typed
structs of :mod:`dgtools.tables.wire` (only the fields dgtools keeps are
allocated; copies of words inside utterances are skipped), values are copied
into per-column lists with C-level iteration (:mod:`dgtools.tables._columns`),
and every ~64k words the lists become Arrow arrays, so Python objects never
pile up.  The cyclic garbage collector is paused while a batch is built:
decoded JSON has no cycles, and collections over millions of young objects
made large builds super-linear.  Derived tables (``turns``) are computed with
numpy/Arrow (:mod:`dgtools.tables.turns`).

This module is pure: it never touches the network and never imports httpx.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from ..exceptions import ConfigError, ResponseFormatError
from . import wire as _wire
from ._columns import Columns
from ._rows import add_fragment, add_prerecorded
from .container import Tables
from .read import Decoded, Source, decode_object, iter_responses
from .schema import SCHEMAS, TABLE_NAMES
from .streaming import add_stream
from .turns import build_turns

__all__ = ["TableBuilder", "iter_batches", "to_tables"]


class TableBuilder:
    """Build the dgtools tables from responses added one at a time.

    Use it where responses arrive one by one (a callback, a queue, a custom
    store); :func:`dgtools.to_tables` and :func:`iter_batches` drive one over
    :func:`~dgtools.tables.iter_responses`.  Every table, ``turns`` included,
    comes out exactly as :func:`dgtools.to_tables` gives it for the same
    responses in the same order.

    Parameters
    ----------
    batch_words : int, default 65_536
        Every this many words the rows added so far are converted to one Arrow
        record batch per table (and their turns derived), so Python objects
        never pile up.  It changes memory use and speed, never the tables;
        a response is never split between batches.

    Attributes
    ----------
    total_words : int
        Words added since the builder was made or last finished.
    n_files : int
        Responses (streams count as one) added since then.

    Raises
    ------
    ConfigError
        If ``batch_words`` is not a positive integer.

    Examples
    --------
    >>> from dgtools.tables import TableBuilder, Tables, iter_responses
    >>> builder = TableBuilder()
    >>> for file_id, path, response in iter_responses("data/responses"):
    ...     builder.add(response, file_id, path)
    >>> builder.n_files, builder.total_words
    (6, 271)
    >>> tables = Tables.from_arrow(builder.finish())
    >>> len(tables.words), builder.n_files
    (271, 0)

    A plain response dict works too:

    >>> builder.add({"metadata": {"request_id": "r1"}, "results": {"channels": [
    ...     {"alternatives": [{"transcript": "hi", "words": [
    ...         {"word": "hi", "start": 0.0, "end": 0.5, "confidence": 0.9}]}]}]}})
    >>> builder.finish()["words"].column("file_id").to_pylist()
    ['r1']
    """

    def __init__(self, *, batch_words: int = 65_536) -> None:
        if isinstance(batch_words, bool) or not isinstance(batch_words, int) or batch_words < 1:
            raise ConfigError(f"batch_words must be a positive integer, not {batch_words!r}")
        self.batch_words = batch_words
        self._files_before = 0  # responses of earlier batches: default ids go on counting
        self._cols = Columns()
        self._turns: list[pa.RecordBatch] = []

    @property
    def total_words(self) -> int:
        return self._cols.total_words

    @property
    def n_files(self) -> int:
        return self._cols.n_files

    def add(self, response: Decoded | Any, file_id: str | None = None, path: str | None = None) -> None:
        """Add one response, or one stream (a list of its messages).

        A response that turns out bad raises and leaves no rows behind: the
        builder goes on as if it had not been given.

        Parameters
        ----------
        response
            A response as :func:`~dgtools.tables.iter_responses` yields it (the
            fast path), or a response ``dict``, a list of streaming messages, or
            a ``deepgram-sdk`` response object.
        file_id : str, optional
            Its ``file_id``; by default its ``request_id``, else ``response-<n>``.
        path : str, optional
            The file it was read from, named in errors.

        Raises
        ------
        ResponseFormatError
            It is not a Deepgram response (the message names the key path, and
            ``path`` when given).
        """
        cols = self._cols
        mark = cols.mark()
        try:
            if not isinstance(response, _wire.Response) and not (
                isinstance(response, list) and all(isinstance(m, _wire.Response) for m in response)
            ):
                response = decode_object(response)
            if isinstance(response, list):
                add_stream(cols, response, file_id, path)
            elif response.results is not None:
                add_prerecorded(cols, response, file_id, path)
            elif _wire.is_stream_message(response):
                add_stream(cols, [response], file_id, path)
            elif response.alternatives is not None or response.search is not None:
                add_fragment(cols, response, file_id, path)
            else:
                raise _wire.not_a_response(response, path)
        except ResponseFormatError as exc:
            cols.rollback(mark)
            if exc.path is None and path is not None:
                raise ResponseFormatError(str(exc), path=path, key_path=exc.key_path) from None
            raise
        if cols.pending_words >= self.batch_words:
            self._flush()

    def _flush(self) -> None:
        words = self._cols.flush()
        if words is not None:
            self._turns.extend(build_turns(pa.Table.from_batches([words])).to_batches())

    def finish(self) -> dict[str, pa.Table]:
        """Return the tables of every response added since the builder was made or last finished.

        The builder then starts afresh (``total_words`` and ``n_files`` are 0)
        and can go on: default ``response-<n>`` ids go on counting.

        Returns
        -------
        dict of str to pyarrow.Table
            One table per dgtools table name, in canonical order, each with its
            exact schema; :meth:`dgtools.Tables.from_arrow` makes a
            :class:`~dgtools.Tables` of it.
        """
        self._flush()
        out = self._cols.tables()
        out["turns"] = pa.Table.from_batches(self._turns, schema=SCHEMAS["turns"])
        self._files_before += self._cols.n_files
        self._cols = Columns(first_file=self._files_before)
        self._turns = []
        return {name: out[name] for name in TABLE_NAMES}


def iter_batches(
    source: Source, *, file_id: str | Sequence[str] | None = None, batch_words: int | None = None
) -> Iterator[dict[str, pa.Table]]:
    """Yield the tables of ``source`` in batches of about ``batch_words`` words.

    The one loop under :func:`to_tables` (one batch) and
    :func:`dgtools.write_dataset` (one part file per batch).  Memory holds one
    batch at a time.  The cyclic garbage collector is paused while a batch is
    built, not while the caller holds it.

    Parameters
    ----------
    source, file_id
        As for :func:`to_tables`.
    batch_words : int, optional
        A batch ends after the response that brings it to this many words, so
        a response is never split between batches.  ``None`` (the default)
        gives one batch.

    Yields
    ------
    dict of str to pyarrow.Table
        One table per dgtools table name, each with its exact schema.  At
        least one batch is yielded (of empty tables, for an empty source).

    Raises
    ------
    ResponseFormatError
        An input is not a Deepgram response (see :func:`to_tables`).
    ConfigError
        ``batch_words`` is not a positive integer, or ``file_id`` has too few ids.

    Examples
    --------
    >>> from dgtools.tables import iter_batches
    >>> [(len(b["requests"]), len(b["words"])) for b in iter_batches("data/responses", batch_words=60)]
    [(2, 66), (3, 138), (1, 67)]
    """
    if batch_words is not None and (
        isinstance(batch_words, bool) or not isinstance(batch_words, int) or batch_words < 1
    ):
        raise ConfigError(f"batch_words must be a positive integer or None, not {batch_words!r}")
    responses = iter_responses(source, file_id=file_id)
    builder = TableBuilder()
    first = True
    while True:
        with _gc_paused():
            full = False
            for fid, path, obj in responses:
                builder.add(obj, fid, path)
                if batch_words is not None and builder.total_words >= batch_words:
                    full = True
                    break
            batch = builder.finish() if full or first or builder.n_files else None
        if batch is not None:
            yield batch
        if not full:
            return
        first = False


def to_tables(source: Source, *, file_id: str | Sequence[str] | None = None) -> Tables:
    """Flatten Deepgram responses into a :class:`~dgtools.Tables`.

    Parameters
    ----------
    source
        One response ``dict``; a path to a ``.json`` file (one response, a list
        of responses, or a list of streaming messages) or a ``.jsonl`` file
        (one streaming message per line); a folder (every ``.json``/``.jsonl``
        file below it, in sorted order); an iterable of any of these; or a list
        of streaming messages (``dict`` with ``type``/``channel``), which is
        one stream.  Objects of the official ``deepgram-sdk`` (anything with
        ``model_dump()`` or ``to_dict()``) are accepted as well.
    file_id
        The ``file_id`` to give the response (a string), or one per item of an
        iterable source.  Otherwise a file's path relative to the folder
        (without ``.json``) or its stem is used, else the ``request_id``.

    Returns
    -------
    Tables

    Raises
    ------
    ResponseFormatError
        The input is not a Deepgram response; the message names the file and
        the key path that is missing or of the wrong type.

    Examples
    --------
    >>> import dgtools
    >>> tables = dgtools.to_tables("data/responses")
    >>> tables.words.groupby("speaker")["confidence"].mean().round(3)
    speaker
    0    0.964
    1    0.943
    Name: confidence, dtype: double[pyarrow]
    >>> response = {"metadata": {"request_id": "r1"}, "results": {"channels": [
    ...     {"alternatives": [{"transcript": "hi there", "words": [
    ...         {"word": "hi", "start": 0.0, "end": 0.4, "confidence": 0.9, "speaker": 0},
    ...         {"word": "there", "start": 0.5, "end": 0.9, "confidence": 0.8, "speaker": 0}]}]}]}}
    >>> dgtools.to_tables(response, file_id="call-17").turns[["file_id", "speaker", "text"]]
       file_id  speaker      text
    0  call-17        0  hi there
    """
    (batch,) = iter_batches(source, file_id=file_id)
    return Tables.from_arrow(batch)


class _gc_paused:
    """Pause the cyclic garbage collector (reference counting still frees memory)."""

    def __enter__(self) -> None:
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was:
            gc.enable()
