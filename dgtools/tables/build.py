"""Flatten Deepgram responses into typed tables.

:func:`to_tables` turns pre-recorded ``/v1/listen`` responses, ``/v1/read``
responses, channel fragments and lists of ``/v1/listen`` streaming messages
into a :class:`Tables`: one pandas DataFrame per table, each with the explicit
Arrow schema of :mod:`dgtools.tables.schema`.

How it stays fast: each file is decoded by msgspec straight into the typed
structs of :mod:`dgtools.tables.wire` (only the fields dgtools keeps are
allocated; copies of words inside utterances are skipped), values are copied
into per-column lists with C-level iteration (``map(attrgetter(...))``), and
every ~64k words the lists become Arrow arrays, so Python objects never pile
up.  The cyclic garbage collector is paused while building: decoded JSON has
no cycles, and collections over millions of young objects made large builds
super-linear.  Derived tables (``turns``) are computed with numpy/Arrow.

This module is pure: it never touches the network and never imports httpx.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise, repeat
from operator import attrgetter, is_not
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..exceptions import ConfigError, ResponseFormatError, SchemaError
from . import wire as _wire
from .schema import SCHEMAS, TABLE_NAMES

__all__ = ["Tables", "TablesSummary", "build_turns", "iter_responses", "to_tables"]

Source = Mapping[str, Any] | str | os.PathLike[str] | Iterable[Any]

#: Streaming ``/v1/listen`` message types.
STREAM_TYPES = frozenset({"Results", "Metadata", "UtteranceEnd", "SpeechStarted", "Error", "Warning"})
#: Message types of ``/v2/listen`` (Flux) and the agent/speak sockets, which are not ``/v1/listen``.
_OTHER_SOCKET_TYPES = frozenset(
    {
        "Connected",
        "TurnInfo",
        "ConfigureSuccess",
        "ConfigureFailure",
        "SpeechInterrupted",
        "SessionMetadata",
        "Flushed",
        "Cleared",
        "Welcome",
    }
)
#: Arrow buffers built here come from the system allocator: on many small conversions interleaved
#: with Python allocations it measured 1.3-1.4x faster end to end than pyarrow's default mimalloc.
_POOL = pa.system_memory_pool()
#: Words per batch: converted tables are assembled (and turns derived) every this many words.
_BATCH_WORDS = 65_536
#: An alternative with at least this many words is converted to Arrow at once.
_DIRECT_WORDS = 256
_JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")

_WORD_FIELDS = (
    "word", "punctuated_word", "start", "end", "confidence", "speaker", "speaker_confidence",
    "language", "sentiment", "sentiment_score",
)  # fmt: skip
_INFO = ("summary_info", "sentiment_info", "topics_info", "intents_info")


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class TablesSummary:
    """What a :class:`Tables` holds, at a glance (see :meth:`Tables.summary`)."""

    files: int
    audio_hours: float
    words: int
    speakers: int
    rows: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_frames(cls, requests: pd.DataFrame, words: pd.DataFrame, rows: dict[str, int]) -> TablesSummary:
        """Summarise from the requests table (``file_id``, ``duration``) and the words table
        (``file_id``, ``channel``, ``alternative``, ``speaker``); other columns may be absent."""
        w0 = words[words["alternative"] == 0] if len(words) else words
        dur = requests["duration"].sum() if len(requests) else 0.0
        spk = (
            w0.dropna(subset=["speaker"])[["file_id", "channel", "speaker"]].drop_duplicates()
            if len(w0)
            else w0
        )
        return cls(
            files=int(requests["file_id"].nunique()) if len(requests) else 0,
            audio_hours=float(dur or 0.0) / 3600.0,
            words=len(w0),
            speakers=len(spk),
            rows=dict(rows),
        )

    def __str__(self) -> str:
        head = (
            f"{self.files} file(s), {self.audio_hours:.3f} audio hours, "
            f"{self.words} words, {self.speakers} speaker(s)"
        )
        body = ", ".join(f"{k}={v}" for k, v in self.rows.items() if v)
        return head + ("\nrows: " + body if body else "")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td>{v:,}</td></tr>" for k, v in self.rows.items())
        return (
            f"<b>dgtools tables</b>: {self.files} file(s), {self.audio_hours:.3f} audio hours, "
            f"{self.words:,} words, {self.speakers} speaker(s)"
            f"<table><tr><th>table</th><th>rows</th></tr>{rows}</table>"
        )


class Tables:
    """Every table flattened from a set of Deepgram responses.

    Each table is a pandas DataFrame attribute (``tables.words``,
    ``tables.utterances``, ...) with Arrow-backed dtypes and the columns of
    :data:`dgtools.tables.schema.SCHEMAS`.  Build one with :func:`dgtools.to_tables`
    or read one back with :func:`dgtools.read_parquet`.

    Examples
    --------
    >>> import dgtools
    >>> t = dgtools.to_tables("data/responses")            # doctest: +SKIP
    >>> t.words[["file_id", "word", "start", "speaker"]]   # doctest: +SKIP
    >>> t.to_parquet("out/")                               # doctest: +SKIP
    """

    requests: pd.DataFrame
    channels: pd.DataFrame
    alternatives: pd.DataFrame
    words: pd.DataFrame
    utterances: pd.DataFrame
    paragraphs: pd.DataFrame
    sentences: pd.DataFrame
    search_hits: pd.DataFrame
    summaries: pd.DataFrame
    topics: pd.DataFrame
    intents: pd.DataFrame
    sentiments: pd.DataFrame
    entities: pd.DataFrame
    messages: pd.DataFrame
    turns: pd.DataFrame

    names: tuple[str, ...] = TABLE_NAMES

    def __init__(self, frames: Mapping[str, pd.DataFrame] | None = None) -> None:
        frames = dict(frames or {})
        unknown = set(frames) - set(TABLE_NAMES)
        if unknown:
            raise SchemaError(
                f"unknown table(s) {sorted(unknown)}; dgtools tables are: {', '.join(TABLE_NAMES)}"
            )
        for name in TABLE_NAMES:
            df = frames.get(name)
            if df is None:
                df = _empty_frame(name)
            object.__setattr__(self, name, df)

    @classmethod
    def from_arrow(cls, tables: Mapping[str, pa.Table]) -> Tables:
        """Build from Arrow tables that follow the dgtools schemas."""
        return cls({name: _to_pandas(t) for name, t in tables.items()})

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in TABLE_NAMES:
            raise KeyError(f"{name!r} is not a dgtools table; tables are: {', '.join(TABLE_NAMES)}")
        df: pd.DataFrame = getattr(self, name)
        return df

    def __iter__(self) -> Iterator[str]:
        return iter(TABLE_NAMES)

    def __len__(self) -> int:
        return len(TABLE_NAMES)

    def items(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """Iterate over ``(name, DataFrame)`` pairs in canonical order."""
        for name in TABLE_NAMES:
            yield name, self[name]

    def to_arrow(self, name: str) -> pa.Table:
        """Return table ``name`` as a ``pyarrow.Table`` with its dgtools schema."""
        from ..io.parquet import frame_to_arrow

        return frame_to_arrow(self[name], name)

    def summary(self) -> TablesSummary:
        """Rows per table, files, audio hours, words (first alternative) and speakers.

        Examples
        --------
        >>> print(dgtools.to_tables("data/responses").summary())   # doctest: +SKIP
        3 file(s), 0.012 audio hours, 182 words, 2 speaker(s)
        rows: requests=3, channels=4, ...
        """
        rows = {name: len(self[name]) for name in TABLE_NAMES}
        return TablesSummary.from_frames(self.requests, self.words, rows)

    def to_parquet(self, folder: str | os.PathLike[str], *, compression: str = "zstd") -> Path:
        """Write ``folder/<table>.parquet`` for every table; returns the folder.

        The files carry dgtools metadata (schema version, table name, dgtools
        version) and read back with :func:`dgtools.read_parquet`; DuckDB,
        Polars and Spark read them as they are.
        """
        from ..io.parquet import write_parquet

        return write_parquet(self, folder, compression=compression)

    def __repr__(self) -> str:
        s = self.summary()
        rows = ", ".join(f"{k}={v}" for k, v in s.rows.items() if v) or "all empty"
        return f"<dgtools.Tables: {s.files} file(s), {s.audio_hours:.3f} h, {s.words} words; {rows}>"

    def _repr_html_(self) -> str:
        try:
            return self.summary()._repr_html_()
        except Exception:  # notebook reprs never raise
            return "<i>dgtools.Tables</i>"


# --------------------------------------------------------------------------- public entry point


def to_tables(source: Source, *, file_id: str | Sequence[str] | None = None) -> Tables:
    """Flatten Deepgram responses into a :class:`Tables`.

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
    >>> tables = dgtools.to_tables("data/responses")                       # doctest: +SKIP
    >>> tables.words.groupby("speaker")["confidence"].mean()               # doctest: +SKIP
    >>> dgtools.to_tables(response_dict, file_id="call-17").utterances     # doctest: +SKIP
    """
    builder = _Builder()
    with _gc_paused():
        for fid, path, obj in iter_responses(source, file_id=file_id):
            builder.add(obj, fid, path)
        return Tables.from_arrow(builder.finish())


Decoded = _wire.Response | list[_wire.Response]


def iter_responses(
    source: Source, *, file_id: str | Sequence[str] | None = None
) -> Iterator[tuple[str | None, str | None, Decoded]]:
    """Yield ``(file_id, path, decoded response)`` for every response in ``source``.

    ``file_id`` is ``None`` when it must come from the response's request_id;
    ``path`` is ``None`` for in-memory objects.  A stream comes out as one list
    of messages.
    """
    ids: Iterator[str | None]
    if file_id is None:
        ids = repeat(None)
    elif isinstance(file_id, str):
        ids = iter([file_id])
    else:
        ids = iter(list(file_id))

    def next_id() -> str | None:
        try:
            return next(ids)
        except StopIteration:
            raise ConfigError("file_id= has fewer ids than the source has responses") from None

    source = _plain(source)
    if isinstance(source, Mapping):
        yield next_id(), None, _convert_obj(source, None)
        return
    if isinstance(source, (str, os.PathLike)):
        yield from _iter_path(Path(source), next_id)
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield next_id(), None, _decode_bytes(bytes(source), None)
        return
    if not isinstance(source, Iterable):
        raise ResponseFormatError(
            f"cannot read a {type(source).__name__}: pass a response dict, a path, a folder, "
            "an iterable of those, or a list of streaming messages"
        )
    items = [_plain(x) for x in source]
    if items and isinstance(items[0], Mapping) and _looks_like_stream_message(items[0]):
        yield next_id(), None, _convert_obj(items, None)
        return
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            yield next_id(), None, _convert_obj(item, None)
        elif isinstance(item, (str, os.PathLike)):
            yield from _iter_path(Path(item), next_id)
        elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)):
            yield next_id(), None, _convert_obj(list(item), None)
        else:
            raise ResponseFormatError(
                f"item {i} of the source is a {type(item).__name__}; "
                "expected a response dict, a path or a list of streaming messages"
            )


def _plain(obj: Any) -> Any:
    """Unwrap deepgram-sdk response objects into plain dicts."""
    if isinstance(obj, (Mapping, str, bytes, os.PathLike, list, tuple)):
        return obj
    dump = getattr(obj, "model_dump", None)  # pydantic (deepgram-sdk >= 4): JSON types, not datetimes
    if callable(dump):
        return dump(mode="json", by_alias=True)
    to_dict = getattr(obj, "to_dict", None)  # deepgram-sdk 3
    if callable(to_dict):
        return to_dict()
    return obj


def _looks_like_stream_message(d: Mapping[str, Any]) -> bool:
    typ = d.get("type")
    if typ is not None:
        return typ in STREAM_TYPES
    return isinstance(d.get("channel"), Mapping) and "results" not in d


# --------------------------------------------------------------------------- reading files


def _iter_path(path: Path, next_id: Any) -> Iterator[tuple[str | None, str | None, Decoded]]:
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.suffix.lower() in _JSON_SUFFIXES
            and not any(
                part.startswith(".") for part in p.relative_to(path).parts
            )  # ._a.json, .ipynb_checkpoints
            and p.is_file()
        )
        for p in files:
            given = next_id()
            yield from _iter_file(p, given or p.relative_to(path).with_suffix("").as_posix())
        return
    if not path.exists():
        raise ResponseFormatError("no such file or folder; check the path", path=path)
    yield from _iter_file(path, next_id() or path.stem)


def _iter_file(path: Path, fid: str) -> Iterator[tuple[str | None, str | None, Decoded]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResponseFormatError(f"cannot be read ({exc.strerror or exc})", path=path) from None
    spath = str(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        msgs = []
        for lineno, line in enumerate(data.splitlines(), 1):
            if line.strip():
                msgs.append(_decode_bytes(line, spath, line=lineno))
        yield fid, spath, msgs
        return
    obj = _decode_bytes(data, spath)
    if isinstance(obj, list) and obj and all(o.results is not None for o in obj):
        for i, o in enumerate(obj):  # a JSON list of whole responses
            yield f"{fid}[{i}]", spath, o
        return
    yield fid, spath, obj


def _decode_bytes(data: bytes, path: str | None, *, line: int | None = None) -> Any:
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark (PowerShell, Notepad)
        data = data[3:]
    try:
        return _wire.decode(data, line=line is not None)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, path, line) from None
    except msgspec.DecodeError as exc:
        where = f"line {line} " if line is not None else ""
        what = f"{where}is empty" if not data.strip() else f"{where}is not valid JSON ({exc})"
        hint = (
            "a .jsonl file holds one streaming message per line"
            if line
            else "expected a Deepgram response saved as JSON"
        )
        raise ResponseFormatError(f"{what}; {hint}", path=path) from None


def _convert_obj(obj: Any, path: str | None) -> Any:
    try:
        return _wire.to_response(obj)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, path, None) from None


def _validation_error(
    exc: msgspec.ValidationError, path: str | None, line: int | None
) -> ResponseFormatError:
    """Turn msgspec's ``Expected `float`, got `str` - at `$.results...``` into our error."""
    text = str(exc)
    problem, _, where = text.partition(" - at `")
    key_path = where.rstrip("`").removeprefix("$").lstrip(".") or None
    if line is not None:
        key_path = f"line {line}" + (f": {key_path}" if key_path else "")
    problem = problem.replace("`", "")
    if problem.startswith("Expected `object`") or (problem.startswith("Expected object") and not key_path):
        return ResponseFormatError(
            f"holds {problem.lower().replace('expected object, got ', 'a JSON ')}, not a Deepgram response object",
            path=path, key_path=key_path,
        )  # fmt: skip
    at = f" at {key_path}" if key_path else ""
    return ResponseFormatError(
        f"{problem}{at}; is this a Deepgram /v1/listen response?", path=path, key_path=key_path
    )


# --------------------------------------------------------------------------- the builder


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


class _Builder:
    """Accumulates decoded responses and emits Arrow tables."""

    def __init__(self) -> None:
        self.t = {name: _Cols(name) for name in TABLE_NAMES if name != "turns"}
        self.turn_batches: list[pa.RecordBatch] = []
        self.files: list[tuple[str, str | None, str | None]] = []  # (file_id, request_id, path) of this batch
        self.pending_words = 0  # words not yet converted to Arrow
        self.total_words = 0
        self.n_files = 0

    # ---- batching

    def add(self, obj: Decoded, fid: str | None, path: str | None) -> None:
        """Add one response (or stream); a bad one raises and leaves no rows behind."""
        # Words still buffered from earlier responses are converted first, so that a rollback
        # only ever discards rows of this response.
        self._seal_words()
        marks = {k: c.mark() for k, c in self.t.items()}
        n_files = len(self.files)
        try:
            if isinstance(obj, list):
                self._add_stream(obj, fid, path)
            else:
                self._add_one(obj, fid, path)
        except ResponseFormatError as exc:
            self._rollback(marks, n_files)
            if exc.path is None and path is not None:
                raise ResponseFormatError(str(exc), path=path, key_path=exc.key_path) from None
            raise
        if self.pending_words >= _BATCH_WORDS:
            self.flush()

    def _rollback(self, marks: dict[str, tuple[int, ...]], n_files: int) -> None:
        for k, c in self.t.items():
            c.rollback(marks[k])
        self.n_files -= len(self.files) - n_files
        del self.files[n_files:]

    def flush(self) -> None:
        if not self.files:
            return
        self._seal_words()
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
        if words and self.pending_words:
            self.turn_batches.extend(build_turns(pa.Table.from_batches([words[-1]])).to_batches())
        self.files = []
        self.pending_words = 0

    def _convert(self, cols: _Cols, name: str, runs: dict[str, np.ndarray] | None) -> pa.Array:
        """Column ``name`` of the batch as Arrow (words: its sealed chunks)."""
        if cols.chunks is not None:
            chunks = cols.chunks[name]
            return chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks, memory_pool=_POOL)
        try:
            return _to_arrow(cols.cols[name], cols.schema.field(name).type)
        except _BadValue as bad:
            f = int(runs["fidx"][bad.index]) if runs is not None else cols.fidx[bad.index]
            raise self._bad_value(cols.name, name, bad, f) from None

    def _bad_value(self, table: str, name: str, bad: _BadValue, f: int) -> ResponseFormatError:
        fid, _, path = self.files[f]
        return ResponseFormatError(
            f"{table}.{name} {bad.reason} but the response holds {bad.value!r} (file_id={fid!r})",
            path=path,
            key_path=name,
        )

    def _seal_words(self) -> None:
        """Convert the words buffered in Python lists to Arrow chunks."""
        t = self.t["words"]
        assert t.chunks is not None and t.runs is not None
        if not t.pending:
            return
        first = len(t.runs) - len(t.pending_runs)
        for name, col in t.cols.items():
            try:
                t.chunks[name].append(_to_arrow(col, t.schema.field(name).type))
            except _BadValue as bad:
                i = bad.index
                for f, *_, n in t.runs[first:]:
                    if i < n:
                        raise self._bad_value("words", name, bad, f) from None
                    i -= n
                raise AssertionError("unreachable") from None  # pragma: no cover
            col.clear()
        t.pending = 0
        t.pending_runs = []

    def finish(self) -> dict[str, pa.Table]:
        self.flush()
        out = {name: pa.Table.from_batches(c.batches, schema=c.schema) for name, c in self.t.items()}
        out["turns"] = pa.Table.from_batches(self.turn_batches, schema=SCHEMAS["turns"])
        return {name: out[name] for name in TABLE_NAMES}

    def _file(self, fid: str | None, rid: str | None, path: str | None) -> int:
        if fid is None:
            fid = rid if rid is not None else f"response-{self.n_files}"
        self.files.append((fid, rid, path))
        self.n_files += 1
        return len(self.files) - 1

    # ---- one response

    def _add_one(self, r: _wire.Response, fid: str | None, path: str | None) -> None:
        if r.results is not None:
            self._add_prerecorded(r, fid, path)
        elif _is_stream_message(r):
            self._add_stream([r], fid, path)
        elif r.alternatives is not None or r.search is not None:
            self._add_fragment(r, fid, path)
        else:
            raise _not_a_response(r, path)

    def _add_prerecorded(self, r: _wire.Response, fid: str | None, path: str | None) -> None:
        meta = r.metadata or _NO_META
        results = r.results
        assert results is not None
        f = self._file(fid, meta.request_id, path)
        channels = results.channels
        kind = "prerecorded" if channels is not None else "read"
        first_words: list[_wire.Word] = []
        transcript = None
        n_words = 0
        for ci, ch in enumerate(channels or ()):
            ws, tr, nw = self._add_channel(f, ci, ch)
            n_words += nw
            if ci == 0:
                first_words, transcript = ws, tr
        if results.utterances:
            self._add_utterances(f, results.utterances)
        self._add_intelligence(f, results, first_words)
        avg = results.sentiments.average if results.sentiments else None
        self._add_request(f, kind, meta, transcript, n_words, avg)

    def _add_fragment(self, r: _wire.Response, fid: str | None, path: str | None) -> None:
        f = self._file(fid, None, path)
        ch = _wire.Channel(alternatives=r.alternatives, search=r.search)
        _, transcript, n_words = self._add_channel(f, 0, ch)
        self._add_request(f, "fragment", _NO_META, transcript, n_words, None)

    def _add_request(
        self,
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
            "created": _parse_created(meta.created),
            "duration": meta.duration,
            "channels": meta.channels,
            "models": models,
            "model_uuid": uuid,
            "model_name": mi.get("name"),
            "model_version": mi.get("version"),
            "model_arch": mi.get("arch"),
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
        self.t["requests"].row(f, **row)

    def _add_channel(self, f: int, ci: int, ch: _wire.Channel) -> tuple[list[_wire.Word], str | None, int]:
        self.t["channels"].row(
            f, channel=ci, detected_language=ch.detected_language, language_confidence=ch.language_confidence
        )
        first_words: list[_wire.Word] = []
        transcript = None
        n_words = 0
        for ai, alt in enumerate(ch.alternatives or ()):
            ws = self._add_alternative(f, ci, ai, alt, None)
            if ai == 0:
                first_words, transcript, n_words = ws, alt.transcript, len(ws)
        if ch.search:
            self._add_search(f, ci, ch.search)
        return first_words, transcript, n_words

    def _add_alternative(
        self, f: int, ci: int, ai: int, alt: _wire.Alternative, seq: int | None, word_base: int = 0
    ) -> list[_wire.Word]:
        ws = alt.words or []
        paras = alt.paragraphs
        self.t["alternatives"].row(
            f, channel=ci, alternative=ai, seq=seq, transcript=alt.transcript, confidence=alt.confidence,
            n_words=len(ws), languages=alt.languages, paragraphs_transcript=paras.transcript if paras else None,
        )  # fmt: skip
        if ws:
            self._add_words(f, ci, ai, ws, word_base)
        if paras and paras.paragraphs:
            self._add_paragraphs(f, ci, ai, paras.paragraphs)
        if alt.entities:
            self._add_entities(f, ci, ai, alt.entities, ws)
        if alt.summaries:
            t = self.t["summaries"]
            for si, s in enumerate(alt.summaries):
                sw, ew = _word_span(s)
                start, end = _span_times(ws, sw, ew, inclusive=False)
                t.row(
                    f, channel=ci, alternative=ai, summary_index=si, source="alternatives.summaries",
                    summary=s.summary, start_word=sw, end_word=ew, start=start, end=end,
                )  # fmt: skip
        for seg_i, seg in enumerate(alt.topics or ()):
            self._segment_rows("topics", f, seg_i, seg, ws, channel=ci, alternative=ai)
        return ws

    def _add_words(self, f: int, ci: int, ai: int, ws: list[_wire.Word], base: int) -> None:
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
        self._seal_words()
        for key, vals in zip(_WORD_FIELDS, values, strict=True):
            try:
                t.chunks[key].append(_to_arrow(vals, t.schema.field(key).type))
            except _BadValue as bad:
                raise self._bad_value("words", key, bad, f) from None

    def _add_paragraphs(self, f: int, ci: int, ai: int, paras: list[_wire.Paragraph]) -> None:
        tp, ts = self.t["paragraphs"], self.t["sentences"]
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

    def _add_search(self, f: int, ci: int, search: list[_wire.Search]) -> None:
        t = self.t["search_hits"]
        for q in search:
            if not q.hits:
                t.row(f, channel=ci, query=q.query)
                continue
            t.extend(f, q.hits, ("confidence", "start", "end", "snippet"), channel=ci, query=q.query,
                     hit_index=range(len(q.hits)))  # fmt: skip

    def _add_utterances(self, f: int, utts: list[_wire.Utterance]) -> None:
        t = self.t["utterances"]
        t.extend(f, utts, ("id", "channel", "speaker", "start", "end", "confidence", "transcript"),
                 utterance_index=range(len(utts)))  # fmt: skip
        t.cols["n_words"] += [len(u.words) if u.words is not None else None for u in utts]

    # ---- audio intelligence

    def _add_intelligence(self, f: int, results: _wire.Results, words: list[_wire.Word]) -> None:
        summary = results.summary
        if summary is not None:
            text = summary.short if summary.short is not None else summary.text
            if text is None and summary.results and summary.results.summary:
                text = summary.results.summary.text  # the spec's nesting
            self.t["summaries"].row(
                f, summary_index=0, source="results.summary", result=summary.result, summary=text
            )
        for key in ("topics", "intents"):
            for seg_i, seg in enumerate(_segments(getattr(results, key), key)):
                self._segment_rows(key, f, seg_i, seg, words)
        for seg_i, seg in enumerate(_segments(results.sentiments, "sentiments")):
            sw, ew = _word_span(seg)
            start, end = _span_times(words, sw, ew, inclusive=True)
            self.t["sentiments"].row(
                f, segment_index=seg_i, text=seg.text, start_word=sw, end_word=ew, start=start, end=end,
                sentiment=seg.sentiment, sentiment_score=seg.sentiment_score,
            )  # fmt: skip

    def _segment_rows(
        self, table: str, f: int, seg_i: int, seg: _wire.Segment, words: list[_wire.Word], **where: Any
    ) -> None:
        sw, ew = _word_span(seg)
        start, end = _span_times(words, sw, ew, inclusive=True)
        base = dict(
            where, segment_index=seg_i, text=seg.text, start_word=sw, end_word=ew, start=start, end=end
        )
        labels: Sequence[Any] = (seg.topics if table == "topics" else seg.intents) or ()
        label = "topic" if table == "topics" else "intent"
        if not labels:
            self.t[table].row(f, **base)
        for item in labels:
            if isinstance(item, str):  # legacy alternatives[].topics[].topics is a list of strings
                self.t[table].row(f, **base, **{label: item})
            else:
                score = item.confidence_score if item.confidence_score is not None else item.confidence
                self.t[table].row(f, **base, **{label: getattr(item, label), "confidence_score": score})

    def _add_entities(
        self, f: int, ci: int, ai: int, items: list[_wire.Entity], ws: list[_wire.Word]
    ) -> None:
        t = self.t["entities"]
        for ei, e in enumerate(items):
            sw, ew = _word_span(e)
            start, end = _span_times(ws, sw, ew, inclusive=False)
            t.row(
                f, channel=ci, alternative=ai, entity_index=ei, label=e.label, value=e.value,
                raw_value=e.raw_value, confidence=e.confidence, start_word=sw, end_word=ew, start=start, end=end,
            )  # fmt: skip

    # ---- streaming

    def _add_stream(self, msgs: list[_wire.Response], fid: str | None, path: str | None) -> None:
        if not msgs:
            raise ResponseFormatError(
                "holds no streaming messages (an empty list or .jsonl file); expected a Deepgram response",
                path=path,
            )
        for i, m in enumerate(msgs):
            if m.results is not None:
                raise ResponseFormatError(
                    f"message [{i}] is a whole pre-recorded response inside a list of streaming messages; "
                    "pass responses as separate files, or a list that holds only responses",
                    path=path, key_path=f"[{i}]",
                )  # fmt: skip
            if not _is_stream_message(m):
                raise _not_a_response(m, path, key_prefix=f"[{i}]")
        meta_msg = next((m for m in msgs if m.type == "Metadata"), None)
        first_meta = next(
            (m.metadata for m in msgs if m.metadata is not None and m.metadata.request_id), None
        )
        rid = (meta_msg.request_id if meta_msg else None) or (first_meta.request_id if first_meta else None)
        f = self._file(fid, rid, path)
        tm = self.t["messages"]
        next_word: dict[tuple[int, int], int] = {}
        seen_channels: dict[int, None] = {}
        n_channels: int | None = None
        finals: dict[int, list[str]] = {}
        end_time = 0.0
        n_words = 0
        model_meta = next(
            (m.metadata for m in msgs if m.metadata is not None and m.metadata.model_info), None
        )
        for seq, m in enumerate(msgs):
            typ = m.type or ("Results" if isinstance(m.channel, _wire.Channel) else None)
            if isinstance(m.channel, _wire.Channel):
                chan = m.channel_index
                ci = chan[0] if chan else 0
                if chan and len(chan) > 1:
                    n_channels = max(n_channels or 0, chan[1])
                seen_channels[ci] = None
                alts = m.channel.alternatives or ()
                a0 = alts[0] if alts else _NO_ALT
                if m.start is not None and m.duration is not None:
                    end_time = max(end_time, m.start + m.duration)
                tm.row(
                    f, seq=seq, type=typ, channel_index=chan, start=m.start, duration=m.duration,
                    is_final=m.is_final, speech_final=m.speech_final, from_finalize=m.from_finalize,
                    transcript=a0.transcript, confidence=a0.confidence, n_words=len(a0.words or ()),
                )  # fmt: skip
                if m.is_final:
                    for ai, alt in enumerate(alts):
                        base = next_word.get((ci, ai), 0)
                        ws = self._add_alternative(f, ci, ai, alt, seq, base)
                        next_word[(ci, ai)] = base + len(ws)
                        if ai == 0:
                            n_words += len(ws)
                            if alt.transcript:
                                finals.setdefault(ci, []).append(alt.transcript)
            else:
                desc = m.description if m.description is not None else m.message
                tm.row(
                    f, seq=seq, type=typ, channel_index=m.channel, start=m.start,
                    duration=m.duration, timestamp=m.timestamp, last_word_end=m.last_word_end,
                    description=None if desc is None else str(desc),
                )  # fmt: skip
        for ci in sorted(seen_channels):
            self.t["channels"].row(f, channel=ci)
        meta = _wire.Metadata(
            request_id=rid,
            sha256=meta_msg.sha256 if meta_msg else None,
            created=meta_msg.created if meta_msg else None,
            duration=_first(meta_msg.duration if meta_msg else None, end_time if seen_channels else None),
            channels=_first(meta_msg.channels if meta_msg else None, n_channels, len(seen_channels) or None),
            models=meta_msg.models if meta_msg else None,
            model_info=_first(
                meta_msg.model_info if meta_msg else None, model_meta.model_info if model_meta else None
            ),
            model_uuid=model_meta.model_uuid if model_meta else None,
        )
        transcript = " ".join(finals[min(finals)]) if finals else None
        self._add_request(f, "streaming", meta, transcript, n_words, None)


def _first(*values: Any) -> Any:
    """The first value that is not None (0 and 0.0 count as values)."""
    return next((v for v in values if v is not None), None)


_NO_META = _wire.Metadata()
_NO_INFO = _wire.Info()
_NO_ALT = _wire.Alternative()


# --------------------------------------------------------------------------- turns


def build_turns(words: pa.Table) -> pa.Table:
    """Speaker turns from a words table: a new turn at each speaker change.

    Turns are built per file and channel from the first alternative's words,
    in word order.  Words without a speaker (diarization off) form one turn
    per channel.  ``text`` joins ``punctuated_word`` (``word`` where it is
    missing); ``confidence`` is the mean word confidence.

    Parameters
    ----------
    words : pyarrow.Table
        Columns ``file_id``, ``request_id``, ``channel``, ``alternative``,
        ``word``, ``punctuated_word``, ``start``, ``end``, ``confidence``,
        ``speaker`` (any extra columns are ignored).

    Returns
    -------
    pyarrow.Table
        With the ``turns`` schema.
    """
    schema = SCHEMAS["turns"]
    if "alternative" in words.column_names and words.num_rows and pc.max(words["alternative"]).as_py():
        words = words.filter(pc.equal(words["alternative"], 0))
    n = words.num_rows
    if n == 0:
        return schema.empty_table()
    words = _channel_order(words)
    fid = words["file_id"].combine_chunks()
    chan = words["channel"].to_numpy()
    spk_arr = words["speaker"]
    spk = spk_arr.fill_null(-1).to_numpy() if spk_arr.null_count else spk_arr.to_numpy()
    brk = np.empty(n, dtype=bool)
    brk[0] = True
    if n > 1:
        same_file = pc.equal(fid.slice(1), fid.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        brk[1:] = ~same_file | (chan[1:] != chan[:-1]) | (spk[1:] != spk[:-1])
    starts = np.flatnonzero(brk)
    ends = np.append(starts[1:], n)
    counts = ends - starts
    # turn_index restarts for every (file, channel)
    grp = np.empty(n, dtype=bool)
    grp[0] = True
    if n > 1:
        grp[1:] = ~same_file | (chan[1:] != chan[:-1])
    group_start_turn = np.maximum.accumulate(np.where(grp[starts], np.arange(len(starts)), 0))
    turn_index = np.arange(len(starts)) - group_start_turn
    pw = words["punctuated_word"].combine_chunks()
    text_words = pc.coalesce(pw, words["word"].combine_chunks()) if pw.null_count else pw
    offsets = pa.array(np.append(starts, n).astype(np.int32))
    text = pc.binary_join(pa.ListArray.from_arrays(offsets, text_words), " ")
    conf = words["confidence"].to_numpy(zero_copy_only=False).astype(float)
    valid = ~np.isnan(conf)
    csum = np.add.reduceat(np.where(valid, conf, 0.0), starts)
    ccount = np.add.reduceat(valid.astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = csum / ccount
    start_t = pc.take(words["start"], pa.array(starts))
    end_t = pc.take(words["end"], pa.array(ends - 1))
    idx = pa.array(starts)
    arrays = [
        pc.take(words["file_id"], idx),
        pc.take(words["request_id"], idx),
        pc.take(words["channel"], idx),
        pa.array(turn_index, pa.int64()),
        pc.take(spk_arr, idx),
        start_t,
        end_t,
        pa.array(counts, pa.int64()),
        text,
        pa.array(mean_conf, pa.float64(), mask=ccount == 0),
    ]
    return pa.Table.from_arrays([_chunk(a) for a in arrays], schema=schema)


class _BadValue(Exception):
    """A value that does not fit its column's Arrow type (index into the values)."""

    def __init__(self, index: int, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.index, self.value, self.reason = index, value, reason


def _to_arrow(values: list[Any], typ: pa.DataType) -> pa.Array:
    """Convert a column of Python values to Arrow, or raise :class:`_BadValue`."""
    if values and values[0] is None and not any(map(is_not, values, repeat(None))):
        return pa.nulls(len(values), typ, memory_pool=_POOL)
    if pa.types.is_integer(typ) and float in set(map(type, values)):
        # 2.0 is accepted as 2 (a JSON round trip through floats); 1.5 is not a speaker or an index
        bad = next((i for i, v in enumerate(values) if isinstance(v, float) and not v.is_integer()), None)
        if bad is not None:
            raise _BadValue(bad, values[bad], "must be a whole number")
    try:
        return pa.array(values, typ, memory_pool=_POOL)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
        for i, v in enumerate(values):
            try:
                pa.array([v], typ)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                raise _BadValue(i, v, f"cannot hold it as {typ} ({exc})") from None
        raise  # pragma: no cover


def _channel_order(words: pa.Table) -> pa.Table:
    """Words grouped by file (first-seen order), then channel, then ``word_index``.

    Pre-recorded words already are; a multichannel stream interleaves its
    channels' words in message order, and is reordered here.
    """
    n = words.num_rows
    if n < 2 or "word_index" not in words.column_names:
        return words
    fcode = pc.dictionary_encode(words["file_id"].combine_chunks()).indices.to_numpy()
    chan = words["channel"].to_numpy()
    widx = words["word_index"].to_numpy()
    df, dc, dw = np.diff(fcode), np.diff(chan), np.diff(widx)
    ordered = (df > 0) | ((df == 0) & ((dc > 0) | ((dc == 0) & (dw > 0))))
    if ordered.all():
        return words
    return words.take(np.lexsort((widx, chan, fcode)))


# --------------------------------------------------------------------------- helpers


class _gc_paused:
    """Pause the cyclic garbage collector (reference counting still frees memory)."""

    def __enter__(self) -> None:
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was:
            gc.enable()


def _chunk(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def _empty_frame(name: str) -> pd.DataFrame:
    return _to_pandas(SCHEMAS[name].empty_table())


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    df = table.to_pandas(types_mapper=pd.ArrowDtype)
    df.index = pd.RangeIndex(len(df))
    return df


def _is_stream_message(r: _wire.Response) -> bool:
    if r.type is not None:
        return r.type in STREAM_TYPES
    return isinstance(r.channel, _wire.Channel) and r.results is None


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


def _parse_created(value: str | None) -> datetime | None:
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


def _raw_keys(path: str | None) -> list[str]:
    if path is None:
        return []
    try:
        raw = msgspec.json.decode(Path(path).read_bytes())
    except (OSError, msgspec.DecodeError):
        return []
    return sorted(map(str, raw))[:10] if isinstance(raw, dict) else []


def _not_a_response(r: _wire.Response, path: str | None, key_prefix: str = "") -> ResponseFormatError:
    """Explain why ``r`` is not something dgtools can flatten."""
    if r.err_code is not None or r.err_msg is not None or (r.category is not None and r.message is not None):
        return ResponseFormatError(
            "holds a Deepgram error body, not a transcript "
            f"({r.err_code or r.category}: {r.err_msg or r.message}); re-run that request",
            path=path, key_path=key_prefix or None,
        )  # fmt: skip
    if r.type in _OTHER_SOCKET_TYPES or r.frames is not None:
        return ResponseFormatError(
            f"is a {r.type or 'websocket capture'} message of /v2/listen (Flux) or another socket; "
            "dgtools reads /v1/listen pre-recorded responses and /v1/listen streaming messages",
            path=path, key_path=key_prefix or None,
        )  # fmt: skip
    if r.type is not None:
        return ResponseFormatError(
            f"has unknown message type {r.type!r}; /v1/listen streaming types are {sorted(STREAM_TYPES)}",
            path=path, key_path=(key_prefix + ".type").lstrip("."),
        )  # fmt: skip
    if r.metadata is not None:
        return ResponseFormatError(
            "is missing 'results': a pre-recorded response has 'metadata' and 'results'",
            path=path, key_path=(key_prefix + ".results").lstrip("."),
        )  # fmt: skip
    found = "" if key_prefix else _raw_keys(path)
    return ResponseFormatError(
        "is not a Deepgram response: expected key 'results' (pre-recorded), 'channel' or 'type' "
        "(a streaming message)" + (f"; found keys {found}" if found else ""),
        path=path, key_path=(key_prefix + ".results").lstrip("."),
    )  # fmt: skip
