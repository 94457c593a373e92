"""Parquet, the tables' own storage format (Arrow level).

Two layouts, both read by :func:`read_tables`:

- ``folder/<table>.parquet``: one file per table (:func:`write_tables`, used
  by :meth:`dgtools.Tables.to_parquet`).
- ``folder/<table>/part-NNNNN.parquet``: a dataset per table, one part per
  batch (:func:`write_parts`, used by :func:`dgtools.write_dataset`), for runs
  too big for one file or for memory.  DuckDB reads it as
  ``read_parquet('folder/words/*.parquet')``, Polars as
  ``pl.scan_parquet('folder/words/*.parquet')``.

Every file is written through the table's explicit Arrow schema
(:data:`dgtools.tables.schema.SCHEMAS`) and carries ``dgtools`` key-value
metadata: ``{"schema_version", "table", "dgtools_version"}``.  Reading checks
it, so a foreign file or one from a newer dgtools gets an error that says so,
instead of wrong columns.  Each file is written to a temporary name and
renamed, so a crash never leaves a half-written file behind.

This module works on ``pyarrow.Table`` objects; :class:`dgtools.Tables`
(pandas) is built on top of it, in :mod:`dgtools.tables.container` and
:mod:`dgtools.tables.dataset`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from .._version import __version__
from ..exceptions import SchemaError
from .schema import SCHEMA_VERSION, SCHEMAS, TABLE_NAMES, schema_for
from .summary import TablesSummary

__all__ = ["META_KEY", "dataset_summary", "read_tables", "write_parts", "write_tables"]


def _pq() -> Any:
    """``pyarrow.parquet``, imported on first use: building tables never loads it (nor its filesystems)."""
    import pyarrow.parquet

    return pyarrow.parquet


#: The key of the dgtools metadata in every file's Arrow schema metadata (a JSON object).
META_KEY = b"dgtools"

ArrowTables = Mapping[str, pa.Table]


# --------------------------------------------------------------------------- writing


def write_tables(tables: ArrowTables, folder: str | os.PathLike[str], *, compression: str = "zstd") -> Path:
    """Write ``folder/<table>.parquet`` for every dgtools table.

    Every table is checked before any file is written, so a
    :class:`~dgtools.SchemaError` leaves the folder as it was.  Part files of
    an earlier :func:`write_parts` in the same folder are removed, so
    :func:`read_tables` never reads both layouts.

    Parameters
    ----------
    tables : mapping of str to pyarrow.Table
        One table per name of :data:`~dgtools.tables.schema.TABLE_NAMES`,
        each with exactly its schema.
    folder : str or os.PathLike
        Created if absent.
    compression : str, default "zstd"
        Any codec of :func:`pyarrow.parquet.write_table`.

    Returns
    -------
    pathlib.Path
        The folder.

    Examples
    --------
    >>> import tempfile
    >>> from dgtools.tables.parquet import read_tables, write_tables
    >>> from dgtools.tables.schema import SCHEMAS
    >>> empty = {name: schema.empty_table() for name, schema in SCHEMAS.items()}
    >>> folder = write_tables(empty, tempfile.mkdtemp())
    >>> sorted(p.name for p in folder.iterdir())[:3]
    ['alternatives.parquet', 'channels.parquet', 'entities.parquet']
    >>> read_tables(folder)["words"].num_rows
    0
    """
    checked = _checked(tables)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in checked.items():
        _write_atomic(table, name, out / f"{name}.parquet", compression)
        _remove_parts(out / name)
    return out


def write_parts(
    batches: Iterable[ArrowTables], folder: str | os.PathLike[str], *, compression: str = "zstd"
) -> Path:
    """Write a partitioned dataset: ``folder/<table>/part-NNNNN.parquet``, one part per batch.

    Batches are consumed one at a time, so memory holds one batch however many
    there are.  The first batch is taken (and checked) before the folder is
    touched; then the parts of an earlier dataset and the single files of an
    earlier :func:`write_tables` in the same folder are removed.  Every batch
    gives one part file per table, so part ``N`` of every table holds the
    same files.  No batches at all give one part of empty tables.

    Parameters
    ----------
    batches : iterable of mappings of str to pyarrow.Table
        Each with one table per dgtools table name, with its exact schema
        (e.g. :func:`dgtools.tables.iter_batches`).
    folder : str or os.PathLike
        Created if absent.
    compression : str, default "zstd"
        Any codec of :func:`pyarrow.parquet.write_table`.

    Returns
    -------
    pathlib.Path
        The folder.

    Examples
    --------
    >>> import tempfile
    >>> from dgtools.tables import iter_batches
    >>> from dgtools.tables.parquet import write_parts
    >>> folder = write_parts(iter_batches("data/responses", batch_words=60), tempfile.mkdtemp())
    >>> sorted(p.name for p in (folder / "words").iterdir())
    ['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet']
    """
    it = iter(batches)
    first = next(it, None)
    if first is None:
        first = {name: SCHEMAS[name].empty_table() for name in TABLE_NAMES}
    checked = _checked(first)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name in TABLE_NAMES:
        _remove_parts(out / name)
        (out / name).mkdir(exist_ok=True)
        single = out / f"{name}.parquet"  # a write_tables file here would be read as well
        if single.is_file():
            single.unlink()
    for part, batch in enumerate(chain([checked], it)):
        for name, table in (batch if part == 0 else _checked(batch)).items():
            _write_atomic(table, name, out / name / f"part-{part:05d}.parquet", compression)
    return out


def _checked(tables: ArrowTables) -> dict[str, pa.Table]:
    """Every dgtools table of ``tables``, in canonical order, after checking names and schemas."""
    unknown = sorted(set(tables) - set(TABLE_NAMES))
    missing = [name for name in TABLE_NAMES if name not in tables]
    if unknown or missing:
        raise SchemaError(f"expected one Arrow table per dgtools table: missing {missing}, unknown {unknown}")
    for name in TABLE_NAMES:
        schema, got = SCHEMAS[name], tables[name].schema
        if not got.equals(schema):
            diff = [f"{f}" for f in got if f.name not in schema.names or schema.field(f.name) != f]
            diff += [f"missing {n!r}" for n in schema.names if n not in got.names]
            raise SchemaError(
                f"table {name!r} does not have its dgtools schema: {'; '.join(diff) or 'columns out of order'}",
                table=name,
            )
    return {name: tables[name] for name in TABLE_NAMES}


def _write_atomic(table: pa.Table, name: str, path: Path, compression: str) -> None:
    meta = {"schema_version": SCHEMA_VERSION, "table": name, "dgtools_version": __version__}
    tagged = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _pq().write_table(tagged, tmp, compression=compression)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _remove_parts(folder: Path) -> None:
    """Delete the ``part-*.parquet`` files of a dataset's table folder (and it, once empty)."""
    if not folder.is_dir():
        return
    for old in folder.glob("part-*.parquet"):
        old.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()


# --------------------------------------------------------------------------- reading


def read_tables(
    folder: str | os.PathLike[str], *, tables: str | Sequence[str] | None = None
) -> dict[str, pa.Table]:
    """Read and check the Parquet files of a folder written in either layout.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder given to :func:`write_tables` or :func:`write_parts`.
    tables : str or sequence of str, optional
        Only read these tables.

    Returns
    -------
    dict of str to pyarrow.Table
        The tables found (a table without files is absent), each cast to its
        exact schema; a dataset's parts are concatenated in part order.

    Raises
    ------
    SchemaError
        The folder is absent or holds no dgtools files; a table name is
        unknown; a file was not written by dgtools, was written by a newer
        schema, holds another table, or its columns or types do not match.

    Examples
    --------
    >>> from dgtools.tables.parquet import read_tables
    >>> t = read_tables("tests/data/parquet/v1", tables=["words", "turns"])
    >>> sorted(t), t["words"].num_rows
    (['turns', 'words'], 271)
    """
    root = Path(folder)
    if not root.is_dir():
        raise SchemaError(f"{root}: no such folder; pass the folder given to Tables.to_parquet()", path=root)
    wanted = list(TABLE_NAMES if tables is None else [tables] if isinstance(tables, str) else tables)
    for name in wanted:
        schema_for(name)  # an unknown name raises
    found: dict[str, pa.Table] = {}
    for name in wanted:
        files = _table_files(root, name)
        if files:
            parts = [_read_checked(p, name) for p in files]
            found[name] = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if not found:
        raise SchemaError(
            f"{root}: no dgtools Parquet files here (expected e.g. {root / 'words.parquet'}); "
            "write them with Tables.to_parquet() or dgtools.write_dataset()",
            path=root,
        )
    return found


def dataset_summary(folder: str | os.PathLike[str]) -> TablesSummary:
    """:meth:`dgtools.Tables.summary` of a folder written by ``to_parquet`` or ``write_dataset``.

    Reads only the row counts from the Parquet footers and four columns of
    ``words`` (file_id, channel, alternative, speaker) plus two of
    ``requests`` (file_id, duration), so it stays cheap on datasets far
    larger than memory allows as tables.

    Parameters
    ----------
    folder : str or os.PathLike
        A folder in either layout.

    Returns
    -------
    TablesSummary
        Equal to ``dgtools.read_parquet(folder).summary()``.

    Raises
    ------
    SchemaError
        A file is not a dgtools file of its table (see :func:`read_tables`).

    Examples
    --------
    >>> from dgtools.tables import dataset_summary
    >>> print(dataset_summary("tests/data/parquet/v1"))  # doctest: +ELLIPSIS
    6 file(s), 0.038 audio hours, 271 words, 2 speaker(s)
    rows: requests=6, channels=7, ...
    """
    root = Path(folder)
    rows: dict[str, int] = {}
    for name in TABLE_NAMES:
        files = _table_files(root, name)
        for p in files:
            _check_file(p, name)
        rows[name] = sum(_pq().ParquetFile(p).metadata.num_rows for p in files)

    def cols(name: str, columns: list[str]) -> pd.DataFrame:
        files = _table_files(root, name)
        if not files:
            return SCHEMAS[name].empty_table().select(columns).to_pandas(types_mapper=pd.ArrowDtype)
        t = pa.concat_tables([_pq().read_table(p, columns=columns) for p in files])
        return t.to_pandas(types_mapper=pd.ArrowDtype)

    return TablesSummary.from_frames(
        cols("requests", ["file_id", "duration"]),
        cols("words", ["file_id", "channel", "alternative", "speaker"]),
        rows,
    )


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
    try:
        return _pq().read_table(path).cast(SCHEMAS[name])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaError(
            f"{path}: column types do not match table {name!r}: {exc}", table=name, path=path
        ) from exc


def _check_file(path: Path, name: str) -> None:
    """Check the footer of a Parquet file: dgtools metadata, schema version, table, columns."""
    schema = SCHEMAS[name]
    try:
        file_schema = _pq().read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{path}: not a readable Parquet file ({exc})", table=name, path=path) from exc
    raw = (file_schema.metadata or {}).get(META_KEY)
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
            f"newer than this dgtools ({__version__}, schema version {SCHEMA_VERSION}); upgrade dgtools "
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
