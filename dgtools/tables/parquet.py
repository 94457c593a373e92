"""Parquet I/O for :class:`dgtools.Tables`.

Two layouts, both read by :func:`read_parquet`:

- ``folder/<table>.parquet``: one file per table (:meth:`Tables.to_parquet`).
- ``folder/<table>/part-NNNNN.parquet``: a dataset per table, written in
  bounded-memory batches by :func:`write_dataset`, for runs too big for one
  file or for memory.  DuckDB reads it as ``read_parquet('folder/words/*.parquet')``,
  Polars as ``pl.scan_parquet('folder/words/*.parquet')``.

Every file is written through the table's explicit Arrow schema and carries
``dgtools`` key-value metadata: ``{"schema_version", "table", "dgtools_version"}``.
:func:`read_parquet` checks it, so a foreign file or one from a newer dgtools
gets an error that says so, instead of wrong columns.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..exceptions import SchemaError
from ..tables.schema import SCHEMA_VERSION, SCHEMAS, TABLE_NAMES

if TYPE_CHECKING:
    from ..tables import Source, Tables, TablesSummary

__all__ = ["dataset_summary", "frame_to_arrow", "read_parquet", "write_dataset", "write_parquet"]

_META_KEY = b"dgtools"


def _version() -> str:
    from .. import __version__

    return __version__


def _with_metadata(schema: pa.Schema, table: str) -> pa.Schema:
    meta = {"schema_version": SCHEMA_VERSION, "table": table, "dgtools_version": _version()}
    return schema.with_metadata({_META_KEY: json.dumps(meta).encode()})


def frame_to_arrow(df: pd.DataFrame, table: str) -> pa.Table:
    """Convert a DataFrame to an Arrow table with the exact schema of ``table``.

    Raises
    ------
    SchemaError
        If the frame's columns are not exactly the table's columns (pyarrow
        would otherwise silently drop extras), or a value does not fit its type.
    """
    schema = SCHEMAS.get(table)
    if schema is None:
        raise SchemaError(
            f"unknown table {table!r}; dgtools tables are: {', '.join(TABLE_NAMES)}", table=table
        )
    cols = list(df.columns)
    if cols != schema.names:
        missing = [c for c in schema.names if c not in cols]
        extra = [c for c in cols if c not in schema.names]
        detail = []
        if missing:
            detail.append(f"missing {missing}")
        if extra:
            detail.append(f"unexpected {extra}")
        if not detail:
            detail.append(f"columns out of order; expected {schema.names}")
        raise SchemaError(f"table {table!r} does not match its schema: {'; '.join(detail)}", table=table)
    try:
        return pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, KeyError) as exc:
        raise SchemaError(
            f"table {table!r} has values that do not fit its schema: {exc}", table=table
        ) from exc


def write_parquet(tables: Tables, folder: str | os.PathLike[str], *, compression: str = "zstd") -> Path:
    """Write ``folder/<table>.parquet`` for every table of ``tables``.

    Each file is written to a temporary name and renamed, so a crash never
    leaves a half-written table behind.  Returns the folder.

    Examples
    --------
    >>> dgtools.to_tables("data/responses").to_parquet("out")   # doctest: +SKIP
    PosixPath('out')
    """
    out = Path(folder)
    # Convert (and so check) every table before writing any: a SchemaError leaves the folder untouched.
    arrow = {name: frame_to_arrow(tables[name], name) for name in TABLE_NAMES}
    out.mkdir(parents=True, exist_ok=True)
    for name, table in arrow.items():
        _write_atomic(_tag(table, name), out / f"{name}.parquet", compression)
        _remove_parts(out / name)  # read_parquet would otherwise read an older dataset's parts too
    return out


def _tag(table: pa.Table, name: str) -> pa.Table:
    return table.replace_schema_metadata(_with_metadata(table.schema, name).metadata)


def _remove_parts(folder: Path) -> None:
    """Delete the ``part-*.parquet`` files of a :func:`write_dataset` table folder (and it, once empty)."""
    if not folder.is_dir():
        return
    for old in folder.glob("part-*.parquet"):
        old.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()


def _write_atomic(table: pa.Table, path: Path, compression: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp, compression=compression)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_dataset(
    source: Tables | Source,
    folder: str | os.PathLike[str],
    *,
    batch_words: int = 1_000_000,
    compression: str = "zstd",
) -> Path:
    """Write a partitioned dataset: ``folder/<table>/part-NNNNN.parquet``.

    ``source`` is a :class:`Tables` or anything :func:`dgtools.to_tables`
    accepts.  A source is streamed: responses are flattened in batches of
    about ``batch_words`` words and each batch is written as one part file per
    table, so memory stays bounded however large the run.  Parts of one file
    never straddle two part files.

    Examples
    --------
    >>> dgtools.write_dataset("store/", "dataset/")                 # doctest: +SKIP
    >>> duckdb.sql("select count(*) from 'dataset/words/*.parquet'")  # doctest: +SKIP
    """
    from ..tables.build import Tables, _Builder, _gc_paused, iter_responses

    out = Path(folder)
    first: dict[str, pa.Table] | None = None
    if isinstance(source, Tables):  # check every table before touching the folder
        first = {name: frame_to_arrow(source[name], name) for name in TABLE_NAMES}
    out.mkdir(parents=True, exist_ok=True)
    for name in TABLE_NAMES:
        _remove_parts(out / name)
        (out / name).mkdir(exist_ok=True)
        single = out / f"{name}.parquet"  # a Tables.to_parquet file here would be read as well
        if single.is_file():
            single.unlink()
    part = 0

    def emit(arrow: Mapping[str, pa.Table]) -> None:
        nonlocal part
        for name in TABLE_NAMES:
            _write_atomic(_tag(arrow[name], name), out / name / f"part-{part:05d}.parquet", compression)
        part += 1

    if first is not None:
        emit(first)
        return out
    builder = _Builder()
    with _gc_paused():
        for fid, path, obj in iter_responses(source):
            builder.add(obj, fid, path)
            if builder.total_words >= batch_words:
                emit(builder.finish())
                builder = _Builder()
        if builder.total_words or builder.n_files or part == 0:
            emit(builder.finish())
    return out


def read_parquet(folder: str | os.PathLike[str], *, tables: Sequence[str] | None = None) -> Tables:
    """Read tables written by :meth:`Tables.to_parquet` or :func:`write_dataset`.

    Gives back exactly what was written: columns, dtypes and values.  A table
    whose file is absent comes back empty (with its full schema).

    Parameters
    ----------
    folder
        The folder passed to ``to_parquet`` or ``write_dataset``.
    tables
        Only read these tables (others come back empty).

    Raises
    ------
    SchemaError
        A file was not written by dgtools, was written by a newer dgtools
        schema, or its columns do not match the table's schema.

    Examples
    --------
    >>> t = dgtools.read_parquet("out")    # doctest: +SKIP
    >>> t.words.dtypes["speaker"]          # doctest: +SKIP
    int64[pyarrow]
    """
    from ..tables import Tables

    root = Path(folder)
    if not root.is_dir():
        raise SchemaError(f"{root}: no such folder; pass the folder given to Tables.to_parquet()", path=root)
    wanted = list(TABLE_NAMES if tables is None else [tables] if isinstance(tables, str) else tables)
    for name in wanted:
        if name not in SCHEMAS:
            raise SchemaError(
                f"unknown table {name!r}; dgtools tables are: {', '.join(TABLE_NAMES)}", table=name
            )
    found: dict[str, pa.Table] = {}
    for name in wanted:
        files = _table_files(root, name)
        if not files:
            continue
        parts = [_read_checked(p, name) for p in files]
        found[name] = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if not found:
        raise SchemaError(
            f"{root}: no dgtools Parquet files here (expected e.g. {root / 'words.parquet'}); "
            "write them with Tables.to_parquet() or dgtools.write_dataset()",
            path=root,
        )
    return Tables.from_arrow(found)


def _table_files(root: Path, name: str) -> list[Path]:
    """The Parquet files of table ``name`` under ``root``, in either layout."""
    files: list[Path] = []
    single = root / f"{name}.parquet"
    if single.is_file():
        files.append(single)
    if (root / name).is_dir():
        files.extend(sorted((root / name).glob("*.parquet")))
    return files


def _read_checked(path: Path, name: str) -> pa.Table:
    """Read one file of table ``name`` after :func:`_check_file`; cast to the exact schema."""
    _check_file(path, name)
    schema = SCHEMAS[name]
    try:
        return pq.read_table(path).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaError(
            f"{path}: column types do not match table {name!r}: {exc}", table=name, path=path
        ) from exc


def _check_file(path: Path, name: str) -> None:
    """Check the footer of a Parquet file: dgtools metadata, schema version, table, columns."""
    schema = SCHEMAS[name]
    try:
        file_schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{path}: not a readable Parquet file ({exc})", table=name, path=path) from exc
    raw = (file_schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise SchemaError(
            f"{path}: this Parquet file was not written by dgtools (no 'dgtools' metadata); "
            "build tables with dgtools.to_tables() and write them with Tables.to_parquet()",
            table=name,
            path=path,
        )
    try:
        meta: dict[str, Any] = json.loads(raw)
        version = int(meta.get("schema_version", -1))
    except (ValueError, TypeError, AttributeError) as exc:
        raise SchemaError(
            f"{path}: its 'dgtools' metadata is unreadable ({raw[:60]!r}); "
            "rebuild the tables from the raw responses",
            table=name,
            path=path,
        ) from exc
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{path}: written by dgtools {meta.get('dgtools_version')} with table schema version {version}, "
            f"newer than this dgtools ({_version()}, schema version {SCHEMA_VERSION}); upgrade dgtools "
            "(pip install -U dgtools) or rebuild the tables from the raw responses",
            table=name,
            path=path,
        )
    if meta.get("table") != name:
        raise SchemaError(
            f"{path}: holds dgtools table {meta.get('table')!r}, not {name!r}; was the file renamed?",
            table=name,
            path=path,
        )
    if file_schema.names != schema.names:
        missing = [c for c in schema.names if c not in file_schema.names]
        extra = [c for c in file_schema.names if c not in schema.names]
        raise SchemaError(
            f"{path}: columns do not match table {name!r} (schema version {version}): "
            f"missing {missing}, unexpected {extra}; rebuild the tables from the raw responses",
            table=name,
            path=path,
        )


def dataset_summary(folder: str | os.PathLike[str]) -> TablesSummary:
    """:meth:`Tables.summary` of a folder written by ``to_parquet`` or :func:`write_dataset`.

    Reads only the row counts from the Parquet footers and four columns of
    ``words`` (file_id, channel, alternative, speaker) plus two of
    ``requests``, so it stays cheap on datasets far larger than memory
    allows as tables.
    """
    from ..tables import TablesSummary

    root = Path(folder)
    rows: dict[str, int] = {}
    for name in TABLE_NAMES:
        files = _table_files(root, name)
        for p in files:
            _check_file(p, name)
        rows[name] = sum(pq.ParquetFile(p).metadata.num_rows for p in files)

    def cols(name: str, columns: list[str]) -> pd.DataFrame:
        files = _table_files(root, name)
        if not files:
            return SCHEMAS[name].empty_table().select(columns).to_pandas(types_mapper=pd.ArrowDtype)
        t = pa.concat_tables([pq.read_table(p, columns=columns) for p in files])
        return t.to_pandas(types_mapper=pd.ArrowDtype)

    return TablesSummary.from_frames(
        cols("requests", ["file_id", "duration"]),
        cols("words", ["file_id", "channel", "alternative", "speaker"]),
        rows,
    )
