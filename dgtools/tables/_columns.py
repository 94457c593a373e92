"""Column buffers of the table builder (internal to :mod:`dgtools.tables`).

:class:`Columns` holds the rows of every table (but ``turns``) of one batch
of responses while they are being added, and turns them into Arrow record
batches.  Values are appended to per-column Python lists with C-level
iteration (``map(attrgetter(...))``); every few thousand words the lists
become Arrow arrays, so Python objects never pile up.  The words table,
which holds most rows, is special-cased: ``channel``, ``alternative`` and
``word_index`` are kept as one run per alternative and expanded with numpy,
and a long alternative is converted to Arrow at once, while its values are
still in the CPU cache.

The functions that read a response and append its rows are in
:mod:`dgtools.tables._rows` and :mod:`dgtools.tables.streaming`; batching and
rollback are driven by :class:`dgtools.tables.TableBuilder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import attrgetter, is_not
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..exceptions import ResponseFormatError
from . import wire as _wire
from .checks import words_inverted
from .schema import SCHEMAS, TABLE_NAMES

__all__ = ["Columns", "FileIds", "InvertedWords"]

#: Arrow buffers built here come from the system allocator: on many small conversions interleaved
#: with Python allocations it measured 1.3-1.4x faster end to end than pyarrow's default mimalloc.
_POOL = pa.system_memory_pool()
#: An alternative with at least this many words is converted to Arrow at once.
_DIRECT_WORDS = 256

_WORD_FIELDS = (
    "word", "punctuated_word", "start", "end", "confidence", "speaker", "speaker_confidence",
    "language", "sentiment", "sentiment_score",
)  # fmt: skip

#: Where every buffer and count stood before a response was added (see :meth:`Columns.mark`).
Mark = tuple[dict[str, tuple[int, ...]], int, int, int]


class _Cols:
    """Column lists of one table while it is being built.

    ``fidx`` maps each row to the builder's current file list.  The words
    table, which holds most rows, keeps ``channel``/``alternative``/
    ``word_index`` (and its ``fidx``) as runs, one per alternative, expanded
    with numpy when the batch is converted.
    """

    __slots__ = ("batches", "chunks", "cols", "fidx", "name", "pending", "pending_runs", "runs", "schema")

    RUN_COLUMNS = ("channel", "alternative", "word_index")

    def __init__(self, name: str) -> None:
        self.name = name
        self.schema = SCHEMAS[name]
        self.fidx: list[int] = []
        self.runs: list[tuple[int, int, int, int, int]] | None = [] if name == "words" else None
        skip = self.RUN_COLUMNS if self.runs is not None else ()
        self.cols: dict[str, list[Any]] = {n: [] for n in self.schema.names[2:] if n not in skip}
        self.batches: list[pa.RecordBatch] = []
        # words only: converted Arrow chunks per column, and how many rows/runs still sit in ``cols``
        self.chunks: dict[str, list[pa.Array]] | None = (
            {n: [] for n in self.cols} if self.runs is not None else None
        )
        self.pending = 0
        self.pending_runs: list[tuple[int, int, int, int, int]] = []

    def mark(self) -> tuple[int, ...]:
        """Sizes to :meth:`rollback` to when a response turns out to be bad halfway."""
        chunks = [len(c) for c in self.chunks.values()] if self.chunks is not None else []
        return (len(self.fidx), len(self.runs or ()), self.pending, len(self.pending_runs),
                *map(len, self.cols.values()), *chunks)  # fmt: skip

    def rollback(self, mark: tuple[int, ...]) -> None:
        del self.fidx[mark[0] :]
        if self.runs is not None:
            del self.runs[mark[1] :]
        self.pending = mark[2]
        del self.pending_runs[mark[3] :]
        k = len(self.cols)
        for col, n in zip(self.cols.values(), mark[4 : 4 + k], strict=True):
            del col[n:]
        if self.chunks is not None:
            for chunks, n in zip(self.chunks.values(), mark[4 + k :], strict=True):
                del chunks[n:]

    def row(self, f: int, **values: Any) -> None:
        self.fidx.append(f)
        for k, col in self.cols.items():
            col.append(values.get(k))

    def extend(self, f: int, records: Sequence[Any], keys: Sequence[str], **const: Any) -> None:
        """Append one row per record: attributes ``keys`` of the records, ``const`` repeated."""
        n = len(records)
        self.fidx += repeat(f, n)
        cols = self.cols
        for key in keys:
            cols[key] += map(attrgetter(key), records)
        for k, v in const.items():
            cols[k] += v if isinstance(v, range) else repeat(v, n)

    def take_runs(self) -> dict[str, np.ndarray]:
        """Expand the runs into ``fidx`` and the run columns."""
        runs = np.array(self.runs, dtype=np.int64).reshape(-1, 5)
        counts = runs[:, 4]
        total = int(counts.sum())
        offsets = np.cumsum(counts) - counts
        return {
            "fidx": np.repeat(runs[:, 0], counts),
            "channel": np.repeat(runs[:, 1], counts),
            "alternative": np.repeat(runs[:, 2], counts),
            "word_index": np.arange(total, dtype=np.int64) - np.repeat(offsets - runs[:, 3], counts),
        }


class InvertedWords(Exception):
    """A word of the response being added ends before it starts (found on its Arrow columns).

    :class:`dgtools.tables.TableBuilder` then walks the response with
    :func:`dgtools.tables.checks.check_times` to name the word.
    """


class FileIds:
    """The file ids given out so far: a repeated id gets ``#2``, ``#3``, ... (kept across batches).

    Examples
    --------
    >>> ids = FileIds()
    >>> [ids.claim(x) for x in ["a", "a", "a#2", "b", "a"]]
    ['a', 'a#2', 'a#2#2', 'b', 'a#3']
    >>> ids.renamed
    [('a', 'a#2'), ('a#2', 'a#2#2'), ('a', 'a#3')]
    """

    __slots__ = ("_next", "renamed", "taken")

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self._next: dict[str, int] = {}  # where to start looking for a free suffix of an id
        #: ``(id asked for, id given)`` for every repeated id, in order.
        self.renamed: list[tuple[str, str]] = []

    def claim(self, fid: str) -> str:
        """``fid`` if no response has it yet, else the first free ``fid#n`` (n >= 2)."""
        taken = self.taken
        if fid not in taken:
            taken.add(fid)
            return fid
        n = self._next.get(fid, 2)
        while f"{fid}#{n}" in taken:
            n += 1
        given = f"{fid}#{n}"
        self._next[fid] = n + 1
        taken.add(given)
        self.renamed.append((fid, given))
        return given

    def release(self, fid: str) -> None:
        """Give an id back (its response was rolled back)."""
        self.taken.discard(fid)


class Columns:
    """The rows of one batch of responses, table by table, and the Arrow batches made of them.

    Parameters
    ----------
    first_file : int
        How many responses came before this batch: a response without a
        ``file_id`` or ``request_id`` is called ``response-<first_file + n>``.
    ids : FileIds, optional
        The ids given out so far (by earlier batches too), so that every
        response gets its own.
    """

    def __init__(self, first_file: int = 0, ids: FileIds | None = None) -> None:
        self.t = {name: _Cols(name) for name in TABLE_NAMES if name != "turns"}
        self.files: list[
            tuple[str, str | None, str | None]
        ] = []  # (file_id, request_id, path) not yet flushed
        self.first_file = first_file
        self.ids = ids if ids is not None else FileIds()
        self.pending_words = 0  # words not yet converted to Arrow record batches
        self.total_words = 0
        self.n_files = 0

    def file(self, fid: str | None, rid: str | None, path: str | None) -> int:
        """Register one response; returns its index for the rows' ``f`` argument."""
        if fid is None:
            fid = rid if rid is not None else f"response-{self.first_file + self.n_files}"
        self.files.append((self.ids.claim(fid), rid, path))
        self.n_files += 1
        return len(self.files) - 1

    def mark(self) -> Mark:
        """Where every buffer stands, to :meth:`rollback` to if the next response turns out bad.

        Words still buffered from earlier responses are converted first, so that
        a rollback only ever discards rows of the response that failed.
        """
        self.seal_words()
        return {k: c.mark() for k, c in self.t.items()}, len(self.files), self.pending_words, self.total_words

    def rollback(self, mark: Mark) -> None:
        """Discard every row added since :meth:`mark`."""
        marks, n_files, self.pending_words, self.total_words = mark
        for k, c in self.t.items():
            c.rollback(marks[k])
        self.n_files -= len(self.files) - n_files
        for fid, _, _ in self.files[n_files:]:
            self.ids.release(fid)
        del self.files[n_files:]

    def flush(self) -> pa.RecordBatch | None:
        """Convert the rows added since the last flush to one record batch per table.

        Returns the new words batch (to derive turns from), or None when no
        words were added.
        """
        if not self.files:
            return None
        self.seal_words()
        fids = pa.array([f[0] for f in self.files], pa.string(), memory_pool=_POOL)
        rids = pa.array([f[1] for f in self.files], pa.string(), memory_pool=_POOL)
        for cols in self.t.values():
            runs = cols.take_runs() if cols.runs else None
            if runs is None and not cols.fidx:
                continue
            idx = pa.array(runs["fidx"] if runs is not None else cols.fidx, pa.int32(), memory_pool=_POOL)
            arrays = [pc.take(fids, idx, memory_pool=_POOL), pc.take(rids, idx, memory_pool=_POOL)]
            for name in cols.schema.names[2:]:
                if runs is not None and name in runs:
                    arrays.append(pa.array(runs[name], pa.int64(), memory_pool=_POOL))
                else:
                    arrays.append(self._convert(cols, name, runs))
            cols.batches.append(pa.RecordBatch.from_arrays(arrays, schema=cols.schema))
            cols.fidx = []
            cols.cols = {n: [] for n in cols.cols}
            if cols.runs is not None:
                cols.runs = []
            if cols.chunks is not None:
                cols.chunks = {n: [] for n in cols.cols}
        words = self.t["words"].batches
        new_words = words[-1] if words and self.pending_words else None
        self.files = []
        self.pending_words = 0
        return new_words

    def _convert(self, cols: _Cols, name: str, runs: dict[str, np.ndarray] | None) -> pa.Array:
        """Column ``name`` of the batch as Arrow (words: its sealed chunks)."""
        if cols.chunks is not None:
            chunks = cols.chunks[name]
            return chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks, memory_pool=_POOL)
        try:
            return to_arrow(cols.cols[name], cols.schema.field(name).type)
        except _BadValue as bad:
            f = int(runs["fidx"][bad.index]) if runs is not None else cols.fidx[bad.index]
            raise self.bad_value(cols.name, name, bad, f) from None

    def bad_value(self, table: str, name: str, bad: _BadValue, f: int) -> ResponseFormatError:
        fid, _, path = self.files[f]
        return ResponseFormatError(
            f"{table}.{name} {bad.reason} but the response holds {bad.value!r} (file_id={fid!r})",
            path=path,
            key_path=name,
        )

    def seal_words(self) -> None:
        """Convert the words buffered in Python lists to Arrow chunks."""
        t = self.t["words"]
        assert t.chunks is not None and t.runs is not None
        if not t.pending:
            return
        first = len(t.runs) - len(t.pending_runs)
        for name, col in t.cols.items():
            try:
                t.chunks[name].append(to_arrow(col, t.schema.field(name).type))
            except _BadValue as bad:
                i = bad.index
                for f, *_, n in t.runs[first:]:
                    if i < n:
                        raise self.bad_value("words", name, bad, f) from None
                    i -= n
                raise AssertionError("unreachable") from None  # pragma: no cover
            col.clear()
        t.pending = 0
        t.pending_runs = []
        if words_inverted(t.chunks["start"][-1], t.chunks["end"][-1]):
            raise InvertedWords

    def tables(self) -> dict[str, pa.Table]:
        """Every table but ``turns``, from the record batches made so far (call :meth:`flush` first)."""
        return {name: pa.Table.from_batches(c.batches, schema=c.schema) for name, c in self.t.items()}

    def add_words(self, f: int, ci: int, ai: int, ws: list[_wire.Word], base: int) -> None:
        """Words of one alternative.

        A long alternative (a pre-recorded file) is converted to Arrow at once,
        while its values are still in the CPU cache; short ones (streaming
        results) are buffered in lists and converted together.
        """
        t = self.t["words"]
        assert t.runs is not None and t.chunks is not None
        n = len(ws)
        run = (f, ci, ai, base, n)
        t.runs.append(run)
        self.pending_words += n
        self.total_words += n
        # Plain attribute access in a comprehension is specialised by CPython (LOAD_ATTR on a
        # slot): about twice as fast as map(attrgetter(...)).  Keep the order of _WORD_FIELDS.
        values: tuple[list[Any], ...] = (
            [w.word for w in ws],
            [w.punctuated_word for w in ws],
            [w.start for w in ws],
            [w.end for w in ws],
            [w.confidence for w in ws],
            [w.speaker for w in ws],
            [w.speaker_confidence for w in ws],
            [w.language for w in ws],
            [w.sentiment for w in ws],
            [w.sentiment_score for w in ws],
        )
        cols = t.cols
        if n < _DIRECT_WORDS:
            for key, vals in zip(_WORD_FIELDS, values, strict=True):
                cols[key] += vals
            t.pending += n
            t.pending_runs.append(run)
            return
        self.seal_words()
        for key, vals in zip(_WORD_FIELDS, values, strict=True):
            try:
                t.chunks[key].append(to_arrow(vals, t.schema.field(key).type))
            except _BadValue as bad:
                raise self.bad_value("words", key, bad, f) from None
        if words_inverted(t.chunks["start"][-1], t.chunks["end"][-1]):
            raise InvertedWords


class _BadValue(Exception):
    """A value that does not fit its column's Arrow type (index into the values)."""

    def __init__(self, index: int, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.index, self.value, self.reason = index, value, reason


def to_arrow(values: list[Any], typ: pa.DataType) -> pa.Array:
    """Convert a column of Python values to Arrow, or raise :class:`_BadValue`.

    Integer columns get whole numbers only: the :data:`~dgtools.tables.wire.Count` type
    refuses 1.5 while decoding (pyarrow would truncate it to 1) and lets 2.0 through,
    which pyarrow stores as 2.
    """
    if values and values[0] is None and not any(map(is_not, values, repeat(None))):
        return pa.nulls(len(values), typ, memory_pool=_POOL)
    try:
        return pa.array(values, typ, memory_pool=_POOL)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
        for i, v in enumerate(values):
            try:
                pa.array([v], typ)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                raise _BadValue(i, v, f"cannot hold it as {typ} ({exc})") from None
        raise  # pragma: no cover
