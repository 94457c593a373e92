"""Flatten Deepgram responses into typed tables.

:func:`to_tables` turns pre-recorded ``/v1/listen`` responses, ``/v1/read``
responses, channel fragments and lists of ``/v1/listen`` streaming messages
into a :class:`Tables`: one pandas DataFrame per table, each with the explicit
Arrow schema of :mod:`dgtools.schema`.

How it stays fast: each file is parsed with orjson and its values are copied
into per-column Python lists with C-level iteration (``map(itemgetter(...))``);
every ~64k words the lists become Arrow arrays, so Python objects never pile
up; the cyclic garbage collector is paused while building (the parsed JSON has
no cycles, and collections over millions of young objects made the build
super-linear).  Derived tables (``turns``) and word-index-to-time lookups are
vectorised.

This module is pure: it never touches the network and never imports httpx.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from operator import contains, itemgetter
from pathlib import Path
from typing import Any, Union

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .exceptions import ResponseFormatError, SchemaError
from .schema import SCHEMAS, TABLE_NAMES

__all__ = ["Tables", "TablesSummary", "build_turns", "iter_responses", "to_tables"]

Source = Union[Mapping[str, Any], str, os.PathLike, Iterable[Any]]

#: Streaming ``/v1/listen`` message types.
STREAM_TYPES = frozenset({"Results", "Metadata", "UtteranceEnd", "SpeechStarted", "Error", "Warning"})
#: Message types of ``/v2/listen`` (Flux) and the agent/speak sockets, which are not ``/v1/listen``.
_OTHER_SOCKET_TYPES = frozenset(
    {"Connected", "TurnInfo", "ConfigureSuccess", "ConfigureFailure", "SpeechInterrupted", "SessionMetadata",
     "Flushed", "Cleared", "Welcome"}
)
#: Rows of words buffered in Python lists before they are converted to Arrow.
_BATCH_WORDS = 65_536
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
    :data:`dgtools.schema.SCHEMAS`.  Build one with :func:`dgtools.to_tables`
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
            raise SchemaError(f"unknown table(s) {sorted(unknown)}; dgtools tables are: {', '.join(TABLE_NAMES)}")
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
        from .parquet import frame_to_arrow

        return frame_to_arrow(self[name], name)

    def summary(self) -> TablesSummary:
        """Rows per table, files, audio hours, words (first alternative) and speakers.

        Examples
        --------
        >>> print(dgtools.to_tables("data/responses").summary())   # doctest: +SKIP
        3 file(s), 0.012 audio hours, 182 words, 2 speaker(s)
        rows: requests=3, channels=4, ...
        """
        req = self.requests
        words = self.words
        w0 = words[words["alternative"] == 0] if len(words) else words
        dur = req["duration"].sum() if len(req) else 0.0
        spk = w0.dropna(subset=["speaker"])[["file_id", "channel", "speaker"]].drop_duplicates() if len(w0) else w0
        return TablesSummary(
            files=int(req["file_id"].nunique()) if len(req) else 0,
            audio_hours=float(dur or 0.0) / 3600.0,
            words=len(w0),
            speakers=len(spk),
            rows={name: len(self[name]) for name in TABLE_NAMES},
        )

    def to_parquet(self, folder: str | os.PathLike[str], *, compression: str = "zstd") -> Path:
        """Write ``folder/<table>.parquet`` for every table; returns the folder.

        The files carry dgtools metadata (schema version, table name, dgtools
        version) and read back with :func:`dgtools.read_parquet`; DuckDB,
        Polars and Spark read them as they are.
        """
        from .parquet import write_parquet

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
        one stream.
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


def iter_responses(
    source: Source, *, file_id: str | Sequence[str] | None = None
) -> Iterator[tuple[str | None, str | None, Any]]:
    """Yield ``(file_id, path, parsed JSON)`` for every response in ``source``.

    ``file_id`` is ``None`` when it must come from the response's request_id.
    Streams come out as one list of messages each.
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
            from .exceptions import ConfigError

            raise ConfigError("file_id= has fewer ids than the source has responses") from None

    if isinstance(source, Mapping):
        yield next_id(), None, source
        return
    if isinstance(source, (str, os.PathLike)):
        yield from _iter_path(Path(source), next_id)
        return
    if isinstance(source, (bytes, bytearray)):
        raise ResponseFormatError("got bytes; pass a parsed dict, a path, or use dgtools.to_tables(orjson.loads(b))")
    if not isinstance(source, Iterable):
        raise ResponseFormatError(
            f"cannot read {type(source).__name__}: pass a response dict, a path, a folder, "
            "an iterable of those, or a list of streaming messages"
        )
    items = source if isinstance(source, Sequence) else list(source)
    if items and isinstance(items[0], Mapping) and _is_stream_message(items[0]):
        yield next_id(), None, list(items)
        return
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            yield next_id(), None, item
        elif isinstance(item, (str, os.PathLike)):
            yield from _iter_path(Path(item), next_id)
        elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)):
            yield next_id(), None, list(item)
        else:
            raise ResponseFormatError(
                f"item {i} of the source is a {type(item).__name__}; expected a response dict, a path or a list of messages"
            )


# --------------------------------------------------------------------------- reading files


def _iter_path(path: Path, next_id: Any) -> Iterator[tuple[str | None, str | None, Any]]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _JSON_SUFFIXES and p.is_file())
        for p in files:
            given = next_id()
            rel = p.relative_to(path).with_suffix("").as_posix()
            yield from _iter_file(p, given or rel)
        return
    if not path.exists():
        raise ResponseFormatError("no such file or folder; check the path", path=path)
    yield from _iter_file(path, next_id() or path.stem)


def _iter_file(path: Path, fid: str) -> Iterator[tuple[str | None, str | None, Any]]:
    data = path.read_bytes()
    spath = str(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        msgs = []
        for lineno, line in enumerate(data.splitlines(), 1):
            if line.strip():
                try:
                    msgs.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise ResponseFormatError(
                        f"line {lineno} is not valid JSON ({exc}); a .jsonl file holds one streaming message per line",
                        path=path,
                    ) from None
        yield fid, spath, msgs
        return
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        what = "is empty" if not data.strip() else f"is not valid JSON ({exc})"
        raise ResponseFormatError(f"{what}; expected a Deepgram response saved as JSON", path=path) from None
    if isinstance(obj, list) and obj and all(isinstance(o, Mapping) and "results" in o for o in obj):
        for i, o in enumerate(obj):  # a JSON list of whole responses
            yield f"{fid}[{i}]", spath, o
        return
    yield fid, spath, obj


# --------------------------------------------------------------------------- the builder


class _Cols:
    """Column lists of one table while it is being built.

    ``fidx`` maps each row to the builder's current file list.  The words
    table, which holds most rows, keeps ``channel``/``alternative``/
    ``word_index`` (and its ``fidx``) as runs, one per alternative, expanded
    with numpy when the batch is converted.
    """

    __slots__ = ("batches", "cols", "fidx", "name", "runs", "schema")

    RUN_COLUMNS = ("channel", "alternative", "word_index")

    def __init__(self, name: str) -> None:
        self.name = name
        self.schema = SCHEMAS[name]
        self.fidx: list[int] = []
        self.runs: list[tuple[int, int, int, int, int]] | None = [] if name == "words" else None
        skip = self.RUN_COLUMNS if self.runs is not None else ()
        self.cols: dict[str, list[Any]] = {n: [] for n in self.schema.names[2:] if n not in skip}
        self.batches: list[pa.RecordBatch] = []

    def mark(self) -> tuple[int, ...]:
        return (len(self.fidx), len(self.runs or ()), *map(len, self.cols.values()))

    def rollback(self, mark: tuple[int, ...]) -> None:
        del self.fidx[mark[0] :]
        if self.runs is not None:
            del self.runs[mark[1] :]
        for col, n in zip(self.cols.values(), mark[2:]):
            del col[n:]

    def row(self, f: int, **values: Any) -> None:
        self.fidx.append(f)
        for k, col in self.cols.items():
            col.append(values.get(k))

    def extend(self, f: int, records: Sequence[Any], keys: Iterable[str], **const: Any) -> None:
        """Append one row per record: ``keys`` taken from the records, ``const`` repeated."""
        n = len(records)
        self.fidx.extend(repeat(f, n))
        cols = self.cols
        _extend_fields(cols, records, keys)
        for k, v in const.items():
            if isinstance(v, range):
                cols[k].extend(v)
            else:
                cols[k].extend(repeat(v, n))

    def take_runs(self) -> dict[str, np.ndarray]:
        """Expand the runs into ``fidx`` and the run columns."""
        runs = np.array(self.runs, dtype=np.int64).reshape(-1, 5)
        counts = runs[:, 4]
        total = int(counts.sum())
        offsets = np.cumsum(counts) - counts
        out = {
            "fidx": np.repeat(runs[:, 0], counts),
            "channel": np.repeat(runs[:, 1], counts),
            "alternative": np.repeat(runs[:, 2], counts),
            "word_index": np.arange(total, dtype=np.int64) - np.repeat(offsets - runs[:, 3], counts),
        }
        return out


def _extend_fields(cols: dict[str, list[Any]], records: Sequence[Any], keys: Iterable[str]) -> None:
    """Append ``record[key]`` (``None`` when absent) for every key, column by column.

    ``map(itemgetter(key), records)`` iterates in C; a key missing from some
    records falls back to ``dict.get``, and a key missing from all of them to
    a run of ``None``.
    """
    n = len(records)
    if not n:
        return
    first = records[0]
    for key in keys:
        col = cols[key]
        if key in first:
            mark = len(col)
            try:
                col.extend(map(itemgetter(key), records))
                continue
            except KeyError:
                del col[mark:]
        elif not any(map(contains, records, repeat(key))):
            col.extend(repeat(None, n))
            continue
        col.extend([r.get(key) for r in records])


class _Builder:
    """Accumulates responses and emits Arrow tables."""

    def __init__(self) -> None:
        self.t = {name: _Cols(name) for name in TABLE_NAMES if name != "turns"}
        self.turn_batches: list[pa.RecordBatch] = []
        self.files: list[tuple[str, str | None, str | None]] = []  # (file_id, request_id, path) of this batch
        self.pending_words = 0  # words not yet converted to Arrow
        self.total_words = 0
        self.n_files = 0

    # ---- batching

    def add(self, obj: Any, fid: str | None, path: str | None) -> None:
        marks = {k: c.mark() for k, c in self.t.items()}
        n_files = len(self.files)
        try:
            if isinstance(obj, list):
                self._add_stream(obj, fid, path)
            elif isinstance(obj, Mapping):
                self._add_one(obj, fid, path)
            else:
                raise ResponseFormatError(
                    f"holds a JSON {type(obj).__name__}, not a Deepgram response object", path=path
                )
        except ResponseFormatError as exc:
            self._rollback(marks, n_files)
            if exc.path is None and path is not None:
                raise ResponseFormatError(str(exc), path=path, key_path=exc.key_path) from None
            raise
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
            self._rollback(marks, n_files)
            raise _diagnose(obj, path, exc) from None
        if self.pending_words >= _BATCH_WORDS:
            self.flush()

    def _rollback(self, marks: dict[str, tuple[int, ...]], n_files: int) -> None:
        for k, c in self.t.items():
            c.rollback(marks[k])
        del self.files[n_files:]

    def flush(self) -> None:
        if not self.files:
            return
        fids = pa.array([f[0] for f in self.files], pa.string())
        rids = pa.array([f[1] for f in self.files], pa.string())
        for cols in self.t.values():
            runs = cols.take_runs() if cols.runs else None
            if runs is None and not cols.fidx:
                continue
            idx = pa.array(runs["fidx"] if runs is not None else cols.fidx, pa.int32())
            arrays = [pc.take(fids, idx), pc.take(rids, idx)]
            for name in cols.schema.names[2:]:
                if runs is not None and name in runs:
                    arrays.append(pa.array(runs[name], pa.int64()))
                else:
                    arrays.append(self._convert(cols, name, runs))
            cols.batches.append(pa.RecordBatch.from_arrays(arrays, schema=cols.schema))
            cols.fidx = []
            cols.cols = {n: [] for n in cols.cols}
            if cols.runs is not None:
                cols.runs = []
        words = self.t["words"].batches
        if words and self.pending_words:
            self.turn_batches.extend(build_turns(pa.Table.from_batches([words[-1]])).to_batches())
        self.files = []
        self.pending_words = 0

    def _convert(self, cols: _Cols, name: str, runs: dict[str, np.ndarray] | None) -> pa.Array:
        typ = cols.schema.field(name).type
        values = cols.cols[name]
        try:
            return pa.array(values, typ)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            pass
        for i, v in enumerate(values):  # find the culprit to name it
            try:
                pa.array([v], typ)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                f = int(runs["fidx"][i]) if runs is not None else cols.fidx[i]
                fid, _, path = self.files[f]
                raise ResponseFormatError(
                    f"{cols.name}.{name} expects {typ} but the response holds {v!r} "
                    f"(file_id={fid!r}); is this a Deepgram response?",
                    path=path,
                    key_path=name,
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def finish(self) -> dict[str, pa.Table]:
        self.flush()
        out = {name: pa.Table.from_batches(c.batches, schema=c.schema) for name, c in self.t.items()}
        out["turns"] = pa.Table.from_batches(self.turn_batches, schema=SCHEMAS["turns"])
        return {name: out[name] for name in TABLE_NAMES}

    def _file(self, fid: str | None, rid: str | None, path: str | None) -> int:
        if fid is None:
            fid = rid if rid is not None else f"response-{len(self.files)}"
        self.files.append((fid, rid, path))
        self.n_files += 1
        return len(self.files) - 1

    # ---- one response

    def _add_one(self, d: Mapping[str, Any], fid: str | None, path: str | None) -> None:
        if "results" in d:
            self._add_prerecorded(d, fid, path)
        elif _is_stream_message(d):
            self._add_stream([d], fid, path)
        elif isinstance(d.get("alternatives"), list) or isinstance(d.get("search"), list):
            self._add_fragment(d, fid, path)
        else:
            raise _not_a_response(d, path)

    def _add_prerecorded(self, d: Mapping[str, Any], fid: str | None, path: str | None) -> None:
        meta = d.get("metadata") or {}
        results = d["results"]
        if not isinstance(results, Mapping):
            raise ResponseFormatError("'results' must be an object", path=path, key_path="results")
        if not isinstance(meta, Mapping):
            raise ResponseFormatError("'metadata' must be an object", path=path, key_path="metadata")
        rid = meta.get("request_id")
        f = self._file(fid, rid, path)
        channels = results.get("channels")
        kind = "prerecorded" if channels is not None else "read"
        first_words: list[Any] = []
        transcript = None
        n_words = 0
        for ci, ch in enumerate(channels or ()):
            ws, tr, nw = self._add_channel(f, ci, ch)
            n_words += nw
            if ci == 0:
                first_words, transcript = ws, tr
        self._add_utterances(f, results.get("utterances"))
        self._add_intelligence(f, results, first_words)
        self._add_request(f, kind, meta, results, transcript, n_words)

    def _add_fragment(self, d: Mapping[str, Any], fid: str | None, path: str | None) -> None:
        f = self._file(fid, None, path)
        _, transcript, n_words = self._add_channel(f, 0, d)
        self._add_request(f, "fragment", {}, {}, transcript, n_words)

    def _add_request(
        self,
        f: int,
        kind: str,
        meta: Mapping[str, Any],
        results: Mapping[str, Any],
        transcript: str | None,
        n_words: int,
        **extra: Any,
    ) -> None:
        models = meta.get("models")
        mi = meta.get("model_info") or {}
        uuid = meta.get("model_uuid")
        if isinstance(mi, Mapping) and "name" not in mi and mi:
            key = models[0] if models and models[0] in mi else next(iter(mi))
            uuid = uuid or key
            mi = mi[key] or {}
        avg = (results.get("sentiments") or {}).get("average") or {}
        row: dict[str, Any] = {
            "kind": kind,
            "sha256": meta.get("sha256"),
            "created": _parse_created(meta.get("created")),
            "duration": meta.get("duration"),
            "channels": meta.get("channels"),
            "models": models,
            "model_uuid": uuid,
            "model_name": mi.get("name"),
            "model_version": mi.get("version"),
            "model_arch": mi.get("arch"),
            "language": meta.get("language"),
            "tags": meta.get("tags"),
            "extra": _as_map(meta.get("extra")),
            "warnings": meta.get("warnings"),
            "average_sentiment": avg.get("sentiment"),
            "average_sentiment_score": avg.get("sentiment_score"),
            "n_words": n_words,
            "transcript": transcript,
        }
        for info in _INFO:
            block = meta.get(info) or {}
            row[info + "_model_uuid"] = block.get("model_uuid")
            row[info + "_input_tokens"] = block.get("input_tokens")
            row[info + "_output_tokens"] = block.get("output_tokens")
        row.update(extra)
        self.t["requests"].row(f, **row)

    def _add_channel(self, f: int, ci: int, ch: Mapping[str, Any]) -> tuple[list[Any], str | None, int]:
        self.t["channels"].row(
            f,
            channel=ci,
            detected_language=ch.get("detected_language"),
            language_confidence=ch.get("language_confidence"),
        )
        first_words: list[Any] = []
        transcript = None
        n_words = 0
        for ai, alt in enumerate(ch.get("alternatives") or ()):
            ws = self._add_alternative(f, ci, ai, alt, None)
            if ai == 0:
                first_words, transcript, n_words = ws, alt.get("transcript"), len(ws)
        search = ch.get("search")
        if search:
            self._add_search(f, ci, search)
        return first_words, transcript, n_words

    def _add_alternative(
        self, f: int, ci: int, ai: int, alt: Mapping[str, Any], seq: int | None, word_base: int = 0
    ) -> list[Any]:
        ws = alt.get("words") or []
        paras = alt.get("paragraphs")
        self.t["alternatives"].row(
            f,
            channel=ci,
            alternative=ai,
            seq=seq,
            transcript=alt.get("transcript"),
            confidence=alt.get("confidence"),
            n_words=len(ws),
            languages=alt.get("languages"),
            paragraphs_transcript=paras.get("transcript") if paras else None,
        )
        if ws:
            self._add_words(f, ci, ai, ws, word_base)
        if paras:
            self._add_paragraphs(f, ci, ai, paras.get("paragraphs") or ())
        for key in ("entities", "summaries", "topics"):
            items = alt.get(key)
            if items:
                getattr(self, "_add_alt_" + key)(f, ci, ai, items, ws)
        return ws

    def _add_words(self, f: int, ci: int, ai: int, ws: list[Any], base: int) -> None:
        t = self.t["words"]
        assert t.runs is not None
        t.runs.append((f, ci, ai, base, len(ws)))
        _extend_fields(t.cols, ws, _WORD_FIELDS)
        self.pending_words += len(ws)
        self.total_words += len(ws)

    def _add_paragraphs(self, f: int, ci: int, ai: int, paras: Sequence[Mapping[str, Any]]) -> None:
        tp, ts = self.t["paragraphs"], self.t["sentences"]
        texts_col = ts.cols["text"]
        n_sent: list[int] = []
        para_text: list[str | None] = []
        for pi, p in enumerate(paras):
            sents = p.get("sentences") or ()
            n = len(sents)
            mark = len(texts_col)
            ts.extend(f, sents, ("start", "end", "text"), channel=ci, alternative=ai, paragraph_index=pi,
                      sentence_index=range(n), speaker=p.get("speaker"))  # fmt: skip
            texts = texts_col[mark:]
            ts.cols["num_words"].extend([len(t.split()) if t else 0 for t in texts])
            n_sent.append(n)
            para_text.append(" ".join([t or "" for t in texts]) if n else None)
        tp.extend(f, paras, ("speaker", "start", "end", "num_words"), channel=ci, alternative=ai,
                  paragraph_index=range(len(paras)))  # fmt: skip
        tp.cols["n_sentences"].extend(n_sent)
        tp.cols["text"].extend(para_text)

    def _add_search(self, f: int, ci: int, search: Iterable[Mapping[str, Any]]) -> None:
        t = self.t["search_hits"]
        for q in search:
            hits = q.get("hits") or ()
            if not hits:
                t.row(f, channel=ci, query=q.get("query"))
            for hi, h in enumerate(hits):
                t.row(
                    f, channel=ci, query=q.get("query"), hit_index=hi, confidence=h.get("confidence"),
                    start=h.get("start"), end=h.get("end"), snippet=h.get("snippet"),
                )  # fmt: skip

    def _add_utterances(self, f: int, utts: Sequence[Mapping[str, Any]] | None) -> None:
        if not utts:
            return
        t = self.t["utterances"]
        t.extend(f, utts, ("id", "channel", "speaker", "start", "end", "confidence", "transcript"),
                 utterance_index=range(len(utts)))  # fmt: skip
        t.cols["n_words"].extend([len(u.get("words") or ()) for u in utts])

    # ---- audio intelligence

    def _add_intelligence(self, f: int, results: Mapping[str, Any], words: list[Any]) -> None:
        summary = _unnest(results.get("summary"), "summary")
        if summary:
            text = summary.get("short", summary.get("text"))
            self.t["summaries"].row(
                f, summary_index=0, source="results.summary", result=summary.get("result"), summary=text
            )
        for seg_i, seg in enumerate(_segments(results.get("topics"), "topics")):
            self._segment_rows("topics", f, seg_i, seg, words, "topics", "topic")
        for seg_i, seg in enumerate(_segments(results.get("intents"), "intents")):
            self._segment_rows("intents", f, seg_i, seg, words, "intents", "intent")
        sentiments = results.get("sentiments") or {}
        for seg_i, seg in enumerate(sentiments.get("segments") or ()):
            sw, ew = _word_span(seg)
            start, end = _span_times(words, sw, ew, inclusive=True)
            self.t["sentiments"].row(
                f, segment_index=seg_i, text=seg.get("text"), start_word=sw, end_word=ew, start=start, end=end,
                sentiment=seg.get("sentiment"), sentiment_score=seg.get("sentiment_score"),
            )  # fmt: skip

    def _segment_rows(
        self, table: str, f: int, seg_i: int, seg: Mapping[str, Any], words: list[Any], key: str, label: str,
        **where: Any,
    ) -> None:  # fmt: skip
        sw, ew = _word_span(seg)
        start, end = _span_times(words, sw, ew, inclusive=True)
        base = dict(where, segment_index=seg_i, text=seg.get("text"), start_word=sw, end_word=ew, start=start, end=end)
        labels = seg.get(key) or ()
        if not labels:
            self.t[table].row(f, **base)
        for item in labels:
            if isinstance(item, Mapping):
                self.t[table].row(f, **base, **{label: item.get(label), "confidence_score": item.get("confidence_score")})
            else:  # legacy alternatives[].topics[].topics is a list of strings
                self.t[table].row(f, **base, **{label: item})

    def _add_alt_entities(self, f: int, ci: int, ai: int, items: Iterable[Mapping[str, Any]], ws: list[Any]) -> None:
        t = self.t["entities"]
        for ei, e in enumerate(items):
            sw, ew = _word_span(e)
            start, end = _span_times(ws, sw, ew, inclusive=False)
            t.row(
                f, channel=ci, alternative=ai, entity_index=ei, label=e.get("label"), value=e.get("value"),
                raw_value=e.get("raw_value"), confidence=e.get("confidence"), start_word=sw, end_word=ew,
                start=start, end=end,
            )  # fmt: skip

    def _add_alt_summaries(self, f: int, ci: int, ai: int, items: Iterable[Mapping[str, Any]], ws: list[Any]) -> None:
        t = self.t["summaries"]
        for si, s in enumerate(items):
            sw, ew = _word_span(s)
            start, end = _span_times(ws, sw, ew, inclusive=True)
            t.row(
                f, channel=ci, alternative=ai, summary_index=si, source="alternatives.summaries",
                summary=s.get("summary"), start_word=sw, end_word=ew, start=start, end=end,
            )  # fmt: skip

    def _add_alt_topics(self, f: int, ci: int, ai: int, items: Iterable[Mapping[str, Any]], ws: list[Any]) -> None:
        for seg_i, seg in enumerate(items):
            self._segment_rows("topics", f, seg_i, seg, ws, "topics", "topic", channel=ci, alternative=ai)

    # ---- streaming

    def _add_stream(self, msgs: list[Any], fid: str | None, path: str | None) -> None:
        for i, m in enumerate(msgs):
            if not isinstance(m, Mapping):
                raise ResponseFormatError(
                    f"message {i} is a JSON {type(m).__name__}; a stream is a list of message objects",
                    path=path, key_path=f"[{i}]",
                )  # fmt: skip
            if not _is_stream_message(m):
                raise _not_a_response(m, path, key_prefix=f"[{i}]")
        meta_msg = next((m for m in msgs if m.get("type") == "Metadata"), None)
        first_meta = next((m["metadata"] for m in msgs if isinstance(m.get("metadata"), Mapping) and m["metadata"]), {})
        rid = (meta_msg or {}).get("request_id") or first_meta.get("request_id")
        f = self._file(fid, rid, path)
        tm = self.t["messages"]
        next_word: dict[tuple[int, int], int] = {}
        seen_channels: dict[int, None] = {}
        finals: dict[int, list[str]] = {}
        end_time = 0.0
        n_words = 0
        for seq, m in enumerate(msgs):
            typ = m.get("type") or ("Results" if isinstance(m.get("channel"), Mapping) else None)
            chan = m.get("channel_index") if typ == "Results" else m.get("channel")
            row: dict[str, Any] = {"seq": seq, "type": typ, "channel_index": chan}
            if typ == "Results":
                ci = chan[0] if chan else 0
                seen_channels[ci] = None
                alts = m["channel"].get("alternatives") or ()
                a0 = alts[0] if alts else {}
                is_final = m.get("is_final")
                start, dur = m.get("start"), m.get("duration")
                if start is not None and dur is not None:
                    end_time = max(end_time, start + dur)
                row.update(
                    start=start, duration=dur, is_final=is_final, speech_final=m.get("speech_final"),
                    from_finalize=m.get("from_finalize"), transcript=a0.get("transcript"),
                    confidence=a0.get("confidence"), n_words=len(a0.get("words") or ()),
                )  # fmt: skip
                if is_final:
                    for ai, alt in enumerate(alts):
                        base = next_word.get((ci, ai), 0)
                        ws = self._add_alternative(f, ci, ai, alt, seq, base)
                        next_word[(ci, ai)] = base + len(ws)
                        if ai == 0:
                            n_words += len(ws)
                            if alt.get("transcript"):
                                finals.setdefault(ci, []).append(alt["transcript"])
            elif typ == "SpeechStarted":
                row["timestamp"] = m.get("timestamp")
            elif typ == "UtteranceEnd":
                row["last_word_end"] = m.get("last_word_end")
            elif typ == "Metadata":
                row["duration"] = m.get("duration")
            tm.row(f, **row)
        for ci in sorted(seen_channels):
            self.t["channels"].row(f, channel=ci)
        meta = dict(first_meta)
        if meta_msg:
            meta.update({k: v for k, v in meta_msg.items() if k not in ("type", "transaction_key")})
        if meta.get("duration") is None and end_time:
            meta["duration"] = end_time
        if meta.get("channels") is None and seen_channels:
            counts = [m["channel_index"][1] for m in msgs if len(m.get("channel_index") or ()) > 1]
            meta["channels"] = max(counts) if counts else len(seen_channels)
        transcript = " ".join(finals.get(min(finals), ())) if finals else None
        self._add_request(f, "streaming", meta, {}, transcript, n_words)


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
    if "alternative" in words.column_names:
        words = words.filter(pc.equal(words["alternative"], 0))
    n = words.num_rows
    if n == 0:
        return schema.empty_table()
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


def _is_stream_message(d: Mapping[str, Any]) -> bool:
    typ = d.get("type")
    if typ is not None:
        return typ in STREAM_TYPES
    return isinstance(d.get("channel"), Mapping) and "results" not in d


def _unnest(block: Any, key: str) -> Any:
    """Accept both ``{..}`` and the spec's ``{"results": {key: {..}}}`` nesting."""
    if isinstance(block, Mapping) and "results" in block and isinstance(block["results"], Mapping):
        return block["results"].get(key)
    return block


def _segments(block: Any, key: str) -> Iterable[Mapping[str, Any]]:
    block = _unnest(block, key)
    if not block:
        return ()
    segs = block.get("segments")
    return segs or ()


def _word_span(seg: Mapping[str, Any]) -> tuple[int | None, int | None]:
    sw, ew = seg.get("start_word"), seg.get("end_word")
    return (None if sw is None else int(sw)), (None if ew is None else int(ew))


def _span_times(words: list[Any], sw: int | None, ew: int | None, *, inclusive: bool) -> tuple[Any, Any]:
    """Start/end seconds of words ``sw..ew`` (``ew`` inclusive for segments, exclusive for entities)."""
    n = len(words)
    if sw is None or ew is None or not n or sw >= n or sw < 0:
        return None, None
    last = min(ew if inclusive else ew - 1, n - 1)
    last = max(last, sw)
    return words[sw].get("start"), words[last].get("end")


def _parse_created(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ResponseFormatError(
            f"metadata.created is {value!r}, not an ISO 8601 time", key_path="metadata.created"
        ) from None


def _as_map(value: Any) -> list[tuple[str, str]] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return [(str(k), v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in value.items()]
    if isinstance(value, list):  # extra sent as repeated key:value strings
        return [tuple(str(x).split(":", 1)) if ":" in str(x) else (str(x), "") for x in value]  # type: ignore[misc]
    return [("value", str(value))]


def _not_a_response(d: Mapping[str, Any], path: str | None, key_prefix: str = "") -> ResponseFormatError:
    keys = sorted(map(str, d))[:8]
    typ = d.get("type")
    if "err_code" in d or "err_msg" in d or ("category" in d and "message" in d):
        msg = (
            "holds a Deepgram error body, not a transcript "
            f"({d.get('err_code') or d.get('category')}: {d.get('err_msg') or d.get('message')}); "
            "re-run that request"
        )
        return ResponseFormatError(msg, path=path, key_path=key_prefix or None)
    if typ in _OTHER_SOCKET_TYPES or "frames" in d:
        return ResponseFormatError(
            f"is a {typ or 'websocket capture'} message of /v2/listen (Flux) or another socket; "
            "dgtools reads /v1/listen pre-recorded responses and /v1/listen streaming messages",
            path=path,
        )
    if typ is not None:
        return ResponseFormatError(
            f"has unknown message type {typ!r}; /v1/listen streaming types are {sorted(STREAM_TYPES)}",
            path=path, key_path=(key_prefix + ".type").lstrip("."),
        )  # fmt: skip
    if "metadata" in d:
        return ResponseFormatError(
            "is missing 'results': a pre-recorded response has 'metadata' and 'results'",
            path=path, key_path=(key_prefix + ".results").lstrip("."),
        )  # fmt: skip
    return ResponseFormatError(
        f"is not a Deepgram response: expected key 'results' (pre-recorded), 'channel' or 'type' "
        f"(a streaming message); found keys {keys}",
        path=path, key_path=(key_prefix + ".results").lstrip(".") or "results",
    )  # fmt: skip


# Where each container should be, and of what JSON type, for error diagnosis.
_CONTAINERS: tuple[tuple[str, type], ...] = (
    ("metadata", Mapping),
    ("results", Mapping),
    ("results.channels", list),
    ("results.channels[]", Mapping),
    ("results.channels[].alternatives", list),
    ("results.channels[].alternatives[]", Mapping),
    ("results.channels[].alternatives[].words", list),
    ("results.channels[].alternatives[].words[]", Mapping),
    ("results.channels[].alternatives[].paragraphs", Mapping),
    ("results.channels[].alternatives[].paragraphs.paragraphs", list),
    ("results.channels[].alternatives[].paragraphs.paragraphs[]", Mapping),
    ("results.channels[].alternatives[].paragraphs.paragraphs[].sentences", list),
    ("results.channels[].alternatives[].paragraphs.paragraphs[].sentences[]", Mapping),
    ("results.channels[].search", list),
    ("results.channels[].search[]", Mapping),
    ("results.channels[].search[].hits", list),
    ("results.channels[].search[].hits[]", Mapping),
    ("results.utterances", list),
    ("results.utterances[]", Mapping),
    ("channel", Mapping),
    ("channel.alternatives", list),
    ("channel.alternatives[]", Mapping),
    ("channel.alternatives[].words", list),
    ("channel.alternatives[].words[]", Mapping),
)


def _diagnose(obj: Any, path: str | None, exc: BaseException) -> ResponseFormatError:
    """Find the first container of the wrong type in ``obj`` and name its key path."""
    roots = [("", m) for m in obj] if isinstance(obj, list) else [("", obj)]
    for i, (_, root) in enumerate(roots):
        prefix = f"[{i}]." if isinstance(obj, list) else ""
        for pattern, typ in _CONTAINERS:
            for key_path, value in _resolve(root, pattern):
                if value is not None and not isinstance(value, typ):
                    want = "an object" if typ is Mapping else "a list"
                    return ResponseFormatError(
                        f"{prefix}{key_path} should be {want} but is {type(value).__name__} ({str(value)[:40]!r})",
                        path=path,
                        key_path=prefix + key_path,
                    )
    return ResponseFormatError(
        f"could not be read as a Deepgram response ({type(exc).__name__}: {exc})", path=path
    )


def _resolve(root: Any, pattern: str) -> Iterator[tuple[str, Any]]:
    """Yield ``(concrete key path, value)`` for every match of a ``a.b[].c`` pattern."""
    results: list[tuple[str, Any]] = [("", root)]
    for part in pattern.split("."):
        many = part.endswith("[]")
        key = part[:-2] if many else part
        nxt: list[tuple[str, Any]] = []
        for kp, value in results:
            if not isinstance(value, Mapping) or key not in value:
                continue
            child = value[key]
            kp2 = f"{kp}.{key}" if kp else key
            if many:
                if isinstance(child, list):
                    nxt.extend((f"{kp2}[{j}]", c) for j, c in enumerate(child))
            else:
                nxt.append((kp2, child))
        results = nxt
    return iter(results)

