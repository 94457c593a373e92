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
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from functools import partial
from typing import Any, Literal

import pyarrow as pa
import pyarrow.ipc

from ..exceptions import ConfigError, DGToolsWarning, ResponseFormatError
from . import wire as _wire
from ._columns import Columns, FileIds, InvertedWords
from ._rows import add_fragment, add_prerecorded
from .checks import check_times
from .container import Tables
from .failures import Failure, OnError, caller_stacklevel, check_on_error, failure_from, skipped_message
from .read import Blob, Decoded, Item, Source, decode_object, iter_blobs, iter_items
from .schema import SCHEMAS, TABLE_NAMES
from .shards import FilePair, file_sources, map_in_processes, split
from .streaming import add_stream
from .turns import build_turns

__all__ = ["TableBuilder", "build_shard", "build_shard_blobs", "iter_batches", "to_tables"]


class TableBuilder:
    """Build the dgtools tables from responses added one at a time.

    Use it where responses arrive one by one (a callback, a queue, a custom
    store); :func:`dgtools.to_tables` and :func:`iter_batches` drive one over
    :func:`~dgtools.tables.iter_responses`.  Every table, ``turns`` included,
    comes out exactly as :func:`dgtools.to_tables` gives it for the same
    responses in the same order.

    Every response gets its own ``file_id``, for the builder's whole life: a
    second response with an id already given (the same response added twice,
    two files of the same name) gets ``<id>#2`` (then ``#3``...) and a
    :class:`~dgtools.DGToolsWarning`.  A response that fails raises and
    leaves nothing behind, so skipping bad input is a ``try``/``except``
    around :meth:`add`.

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
        self._ids = FileIds()  # every id given out, across batches
        self._warned: set[str] = set()  # repeated ids already warned about
        self._cols = Columns(ids=self._ids)
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
            It is not a Deepgram response, or holds a value a response cannot
            hold: a negative time, an end before its start, a confidence
            outside [0, 1], a negative speaker (the message names the key
            path and the value, and ``path`` when given).

        Warns
        -----
        DGToolsWarning
            Its id was given to an earlier response, so it gets ``<id>#2``.
        """
        cols = self._cols
        mark = cols.mark()
        renamed = len(self._ids.renamed)
        try:
            if not isinstance(response, _wire.Response) and not (
                isinstance(response, list) and all(isinstance(m, _wire.Response) for m in response)
            ):
                response = decode_object(response)
            try:
                _add(cols, response, file_id, path)
                cols.seal_words()  # words of short alternatives: converted (and checked) now
            except InvertedWords:
                _name_inverted_word(response)
        except ResponseFormatError as exc:
            cols.rollback(mark)
            del self._ids.renamed[renamed:]
            if exc.path is None and path is not None:
                raise ResponseFormatError(str(exc), path=path, key_path=exc.key_path) from None
            raise
        if len(self._ids.renamed) > renamed:
            self._warn_renamed(self._ids.renamed[renamed:])
        if cols.pending_words >= self.batch_words:
            self._flush()

    def _warn_renamed(self, renamed: list[tuple[str, str]]) -> None:
        for asked, given in renamed:
            if asked in self._warned:
                continue
            self._warned.add(asked)
            warnings.warn(
                f"file_id {asked!r} is used by more than one response (the same response given twice, "
                f"e.g. [json.load(f) for f in files] over one file, or two files of the same name); "
                f"the later one is called {given!r} (then #3, #4, ...). Pass file_id=[...], one id "
                "per response, to choose the ids.",
                DGToolsWarning,
                stacklevel=caller_stacklevel(),
            )

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
        self._cols = Columns(first_file=self._files_before, ids=self._ids)
        self._turns = []
        return {name: out[name] for name in TABLE_NAMES}


def _add(cols: Columns, response: Decoded, file_id: str | None, path: str | None) -> None:
    """Append the rows of one decoded response or stream to ``cols`` (raises when it is not one)."""
    if isinstance(response, list):
        for i, m in enumerate(response):
            check_times(m, words=False, prefix=f"[{i}].")
        add_stream(cols, response, file_id, path)
        return
    check_times(response, words=False)
    if response.results is not None:
        add_prerecorded(cols, response, file_id, path)
    elif _wire.is_stream_message(response):
        add_stream(cols, [response], file_id, path)
    elif response.alternatives is not None or response.search is not None:
        add_fragment(cols, response, file_id, path)
    else:
        raise _wire.not_a_response(response, path)


def _name_inverted_word(response: Decoded) -> None:
    """Raise the error naming the word that ends before it starts (the Arrow check found one)."""
    for i, m in enumerate(response) if isinstance(response, list) else [(None, response)]:
        check_times(m, prefix="" if i is None else f"[{i}].")
    raise ResponseFormatError("a word ends before it starts")  # pragma: no cover - check_times names it


def iter_batches(
    source: Source,
    *,
    file_id: str | Sequence[str] | None = None,
    batch_words: int | None = None,
    on_error: OnError = "raise",
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
    on_error : "raise", "skip" or callable, default "raise"
        As for :func:`to_tables`; with ``"skip"``, the inputs left out are
        named in one :class:`~dgtools.DGToolsWarning` when the source is
        exhausted (pass a function to receive each
        :class:`~dgtools.tables.Failure` instead).

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
        ``batch_words`` is not a positive integer, ``file_id`` has too few
        ids or repeats one, or ``on_error`` is none of the above.

    Warns
    -----
    DGToolsWarning
        Two responses have the same id (the later gets ``<id>#2``), or
        ``on_error="skip"`` left inputs out.

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
    check_on_error(on_error)
    skipped: list[Failure] = []
    report: Callable[[Failure], object] | None = (
        None if on_error == "raise" else skipped.append if on_error == "skip" else on_error
    )
    items = iter_items(source, file_id=file_id, skip=report is not None)
    builder = TableBuilder()
    first = True
    while True:
        with _gc_paused():
            full = False
            for item in items:
                if not _add_item(builder, item, report):
                    continue
                if batch_words is not None and builder.total_words >= batch_words:
                    full = True
                    break
            batch = builder.finish() if full or first or builder.n_files else None
        if batch is not None:
            yield batch
        if not full:
            break
        first = False
    if skipped:
        warnings.warn(skipped_message(skipped), DGToolsWarning, stacklevel=caller_stacklevel())


def _add_item(builder: TableBuilder, item: Item, report: Callable[[Failure], object] | None) -> bool:
    """Add one input to ``builder``; report it and return False when it fails (raise without ``report``)."""
    if item.error is not None:
        assert report is not None
        report(failure_from(item.error, item.file_id, item.path, item.where))
        return False
    try:
        builder.add(item.response, item.file_id, item.path)
    except ResponseFormatError as exc:
        if report is None:
            raise
        fid = item.file_id
        if fid is None and isinstance(item.response, _wire.Response) and item.response.metadata is not None:
            fid = item.response.metadata.request_id
        report(failure_from(exc, fid, item.path, item.where))
        return False
    return True


def to_tables(
    source: Source,
    *,
    file_id: str | Sequence[str] | None = None,
    on_error: OnError = "raise",
    processes: int | None = None,
) -> Tables:
    """Flatten Deepgram responses into a :class:`~dgtools.Tables`.

    Parameters
    ----------
    source
        One response ``dict``; a path to a ``.json`` file (one response, a list
        of responses, or a list of streaming messages) or a ``.jsonl`` file
        (one streaming message per line, read with its ``.timing`` file when
        one is beside it: see :mod:`dgtools.tables.streaming`); a folder (every
        ``.json``/``.jsonl`` file below it, in sorted order); an iterable of
        any of these; or a list of ``/v1/listen`` or ``/v2/listen`` (Flux)
        streaming messages (``dict`` with ``type``/``channel``), which is one
        stream.  Objects of the official ``deepgram-sdk`` (anything with
        ``model_dump()`` or ``to_dict()``) are accepted as well.
    file_id
        The ``file_id`` to give the response (a string), or one per item of an
        iterable source (each its own).  Otherwise a file's path relative to
        the folder (without ``.json``) or its stem is used, else the
        ``request_id``; a default id already given to an earlier response
        gets ``#2`` (then ``#3``...), with a warning.
    on_error : "raise", "skip" or callable, default "raise"
        What to do with an input that cannot be read: a missing or unreadable
        file, not JSON, not a response, nested too deeply, or holding a value
        a response cannot hold (a negative time, an end before its start, a
        confidence outside [0, 1], a negative speaker).  ``"raise"``: raise
        :class:`~dgtools.ResponseFormatError`.  ``"skip"``: leave it out, go
        on with the rest, and list it in :attr:`Tables.failures
        <dgtools.Tables.failures>`.  A function: as ``"skip"``, and call it
        with each :class:`~dgtools.tables.Failure` as it is found.
    processes : int, optional
        Build in this many worker processes (the source must be made of paths: files,
        folders).  The files are cut into shards in input order, each shard is built in a
        worker, and the tables are joined in input order: the result equals the one-process
        build (ids are decided up front, as one build gives them).  A function ``on_error``
        is called in this process once the shards are built.  ``None`` or ``1``: this process.

    Returns
    -------
    Tables

    Raises
    ------
    ResponseFormatError
        With ``on_error="raise"``, an input is not a Deepgram response; the
        message names the file and the key path that is missing, of the
        wrong type or out of range.  Always: a list mixes whole responses
        with streaming messages.
    ConfigError
        ``file_id`` has too few ids or repeats one; ``on_error`` is not one of the above;
        ``processes`` is not a positive integer, or is given for a source of in-memory responses.

    Warns
    -----
    DGToolsWarning
        Two responses have the same id, e.g. ``to_tables([d, d])``: the later is
        called ``<id>#2``.

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
    >>> bad = {"metadata": {}, "results": {"channels": [{"alternatives": [
    ...     {"words": [{"word": "hi", "start": 0.5, "end": 0.2}]}]}]}}
    >>> t = dgtools.to_tables([response, bad], on_error="skip")
    >>> len(t.requests), t.failures[["key_path", "message"]].to_dict("records")  # doctest: +ELLIPSIS
    (1, [{'key_path': 'results.channels[0].alternatives[0].words[0]', 'message': 'item 1: ...end 0.2 is before start 0.5...'}])
    """
    check_on_error(on_error)
    if processes is not None and _check_processes(processes) > 1:
        pairs = file_sources(source, file_id=file_id)
        if pairs is None:
            raise ConfigError(
                "processes= builds response files in worker processes, but the source holds in-memory "
                "responses; save them as .json files, or leave processes= out"
            )
        return _in_processes(pairs, on_error, processes)
    if on_error == "raise":
        (batch,) = iter_batches(source, file_id=file_id)
        return Tables.from_arrow(batch)
    failures: list[Failure] = []
    user = on_error if callable(on_error) else None

    def report(failure: Failure) -> None:
        failures.append(failure)
        if user is not None:
            user(failure)

    (batch,) = iter_batches(source, file_id=file_id, on_error=report)
    return Tables.from_arrow(batch, failures=failures)


def _check_processes(processes: object) -> int:
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ConfigError(f"processes must be a positive integer (worker processes), not {processes!r}")
    return processes


def _in_processes(pairs: list[FilePair], on_error: OnError, processes: int) -> Tables:
    """:func:`to_tables` of response files built in ``processes`` worker processes, joined in order.

    Each worker writes its shard's tables as uncompressed Arrow IPC files into a temporary
    folder and this process maps them into memory: no copy, about half the cost of pickling
    them through a pipe.
    """
    import tempfile

    size = max(1, -(-len(pairs) // (processes * 4)))  # about four shards per process: even loads
    mode: Literal["raise", "skip"] = "raise" if on_error == "raise" else "skip"
    parts: dict[str, list[pa.Table]] = {name: [] for name in TABLE_NAMES}
    failures: list[Failure] = []
    with tempfile.TemporaryDirectory(prefix="dgtools-tables-", ignore_cleanup_errors=True) as tmp:
        work = partial(_shard_to_files, folder=tmp, on_error=mode)
        for files, failed in map_in_processes(work, list(enumerate(split(pairs, size))), processes):
            for name, path in files.items():
                # memory-mapped, so read without a copy; the pages stay valid after the file is removed
                with pa.memory_map(path) as f:
                    parts[name].append(pa.ipc.open_file(f).read_all())
                with suppress(OSError):  # Windows keeps a mapped file; the folder goes at the end
                    os.remove(path)
            failures.extend(failed)
    if callable(on_error):
        for failure in failures:
            on_error(failure)
    joined = {name: pa.concat_tables(t) if t else SCHEMAS[name].empty_table() for name, t in parts.items()}
    return Tables.from_arrow(joined, failures=failures if on_error != "raise" else None)


def _shard_to_files(
    job: tuple[int, list[FilePair]], *, folder: str, on_error: Literal["raise", "skip"]
) -> tuple[dict[str, str], list[Failure]]:
    """Build one shard (in a worker process) and write each table as an Arrow IPC file in ``folder``."""
    index, shard = job
    tables, failed = build_shard(shard, on_error=on_error)
    files = {}
    for name, table in tables.items():
        path = os.path.join(folder, f"{index:05d}-{name}.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        files[name] = path
    return files, failed


def build_shard(
    pairs: Sequence[FilePair],
    *,
    on_error: Literal["raise", "skip"] = "raise",
    tables: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[dict[str, pa.Table], list[Failure]]:
    """The tables of one shard of response files, and the files left out: one task of a parallel build.

    Parameters
    ----------
    pairs : sequence of (path, file_id)
        The shard (:func:`dgtools.tables.shards.file_sources`, cut by
        :func:`~dgtools.tables.shards.split`); the ids are used as they are.
    on_error : "raise" or "skip", default "raise"
        As for :func:`to_tables`; with ``"skip"`` the files left out are returned.
    tables : sequence of str, optional
        Only return these tables (default: every one, in canonical order).
    columns : sequence of str, optional
        Only these columns of each returned table, in this order.  Every table is still
        built: a response is left out of every table or of none, so which responses a
        table holds never depends on which table was asked for.

    Returns
    -------
    tables : dict of str to pyarrow.Table
    failures : list of Failure

    Examples
    --------
    >>> from dgtools.tables.build import build_shard
    >>> from dgtools.tables.shards import file_sources
    >>> t, failed = build_shard(file_sources("data/responses")[:2], tables=["words"], columns=["word"])
    >>> t["words"].column_names, t["words"].num_rows, failed
    (['word'], 66, [])
    """
    failures: list[Failure] = []
    report: OnError = "raise" if on_error == "raise" else failures.append
    (batch,) = iter_batches([p for p, _ in pairs], file_id=[f for _, f in pairs], on_error=report)
    return _selected(batch, tables, columns), failures


def build_shard_blobs(
    blobs: Sequence[Blob],
    *,
    on_error: Literal["raise", "skip"] = "raise",
    tables: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[dict[str, pa.Table], list[Failure]]:
    """:func:`build_shard` of response files held in memory: ``(data, file_id, name)`` each.

    For responses fetched from object storage (a :class:`~dgtools.store.RemoteStore`): the
    bytes of each ``.json`` file, its id, and the name errors give it (its URL).  The tables
    equal those :func:`build_shard` makes of the same files.  ``data`` may be the exception
    fetching it raised: that input fails (raised, or left out and returned with ``"skip"``).

    Parameters
    ----------
    blobs : sequence of (bytes or BaseException, str, str)
        The shard (:data:`dgtools.tables.read.Blob`); the ids are used as they are.
    on_error, tables, columns
        As for :func:`build_shard`.

    Returns
    -------
    tables : dict of str to pyarrow.Table
    failures : list of Failure

    Examples
    --------
    >>> from pathlib import Path
    >>> from dgtools.tables.build import build_shard, build_shard_blobs
    >>> files = sorted(Path("data/responses").glob("*.json"))[:2]
    >>> blobs = [(p.read_bytes(), p.stem, str(p)) for p in files]
    >>> t, failed = build_shard_blobs(blobs + [(b"{", "bad", "s3://b/bad.json")], on_error="skip")
    >>> t["words"].num_rows, [(f.file_id, f.path) for f in failed]
    (109, [('bad', 's3://b/bad.json')])
    >>> t["words"].equals(build_shard([(str(p), p.stem) for p in files])[0]["words"])
    True
    """
    failures: list[Failure] = []
    report = None if on_error == "raise" else failures.append
    builder = TableBuilder()
    with _gc_paused():
        for item in iter_blobs(blobs, skip=report is not None):
            _add_item(builder, item, report)
        batch = builder.finish()
    return _selected(batch, tables, columns), failures


def _selected(
    batch: dict[str, pa.Table], tables: Sequence[str] | None, columns: Sequence[str] | None
) -> dict[str, pa.Table]:
    """These tables of a batch (all by default), with only these columns (all by default)."""
    names = TABLE_NAMES if tables is None else tables
    return {name: batch[name] if columns is None else batch[name].select(list(columns)) for name in names}


class _gc_paused:
    """Pause the cyclic garbage collector (reference counting still frees memory)."""

    def __enter__(self) -> None:
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was:
            gc.enable()
