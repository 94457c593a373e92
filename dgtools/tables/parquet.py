"""Parquet, the tables' own storage format (Arrow level).

Two layouts, both read by :func:`read_tables`:

- ``folder/<table>.parquet``: one file per table (:func:`write_tables`, used
  by :meth:`dgtools.Tables.to_parquet`).
- ``folder/<table>/part-NNNNN.parquet``: a dataset per table, one part per
  batch (:func:`write_parts`, used by :func:`dgtools.write_dataset`), for runs
  too big for one file or for memory.  DuckDB reads it as
  ``read_parquet('folder/words/*.parquet')``, Polars as
  ``pl.scan_parquet('folder/words/*.parquet')``.  Partitioned by a key of each
  response (:mod:`dgtools.tables.partition`), the parts sit in Hive folders:
  ``folder/<table>/model_name=nova-3/part-NNNNN.parquet``.

Every file is written through the table's explicit Arrow schema
(:data:`dgtools.tables.schema.SCHEMAS`) and carries ``dgtools`` key-value
metadata: ``{"schema_version", "table", "dgtools_version"}``.  Reading checks
it, so a foreign file or one from a newer dgtools gets an error that says so,
instead of wrong columns.  Beside it, the ``pandas`` metadata of
:func:`pandas_metadata` tells a plain ``pd.read_parquet`` to give integer
columns pandas' nullable ``Int64`` (and booleans ``boolean``) instead of
``float64`` with NaN; it is metadata, not a column, so the schema version did
not change with it, and every other reader ignores it.  Files written before
it (schema version 1 all the same, e.g. ``tests/data/parquet/v1``) read as
they always did.

Files of an older schema version read as today's tables: the columns added
since (:data:`dgtools.tables.schema.ADDED`) come back null, and a table added
since, having no file, comes back empty.  Rebuild the tables from the raw
responses to fill them (schema version 2 added the stream timing columns of
``messages`` and the ``latency`` and ``turns_v2`` tables).

Replacing an older output is all or nothing: the new files are written into a
hidden folder beside ``folder`` (``.<folder>.dgtools-new-<random>``, on the
same filesystem) and only when every one is written is it swapped in: the old
folder is renamed aside, the new one renamed in, then the old one removed.  A
failure (a bad response in the last batch, a full disk, Ctrl-C) leaves the
older tables whole and removes the new folder.  When ``folder`` also holds
files that are not dgtools tables, only the tables are swapped, file by file
(every rename undone on failure), so a user's own files are never touched;
when the parent folder is not writable, the new files are written into a
hidden folder inside ``folder`` and swapped the same way.

This module works on ``pyarrow.Table`` objects; :class:`dgtools.Tables`
(pandas) is built on top of it, in :mod:`dgtools.tables.container` and
:mod:`dgtools.tables.dataset`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from itertools import chain
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from .._version import __version__
from ..exceptions import SchemaError
from .partition import selector, split
from .schema import SCHEMA_VERSION, SCHEMAS, TABLE_NAMES, columns_in, schema_for
from .summary import TablesSummary

__all__ = [
    "META_KEY",
    "PANDAS_KEY",
    "dataset_summary",
    "pandas_metadata",
    "read_tables",
    "write_part",
    "write_parts",
    "write_tables",
]


def _pq() -> Any:
    """``pyarrow.parquet``, imported on first use: building tables never loads it (nor its filesystems)."""
    import pyarrow.parquet

    return pyarrow.parquet


#: The key of the dgtools metadata in every file's Arrow schema metadata (a JSON object).
META_KEY = b"dgtools"
#: The key of the metadata pandas reads (:func:`pandas_metadata`), beside :data:`META_KEY`.
PANDAS_KEY = b"pandas"

ArrowTables = Mapping[str, pa.Table]


# --------------------------------------------------------------------------- writing


def write_tables(tables: ArrowTables, folder: str | os.PathLike[str], *, compression: str = "zstd") -> Path:
    """Write ``folder/<table>.parquet`` for every dgtools table.

    Every table is checked before any file is written, so a
    :class:`~dgtools.SchemaError` leaves the folder as it was; the files are
    written beside ``folder`` and swapped in together (see the module
    docstring), so any other failure leaves it as it was too.  The tables of
    an earlier :func:`write_tables` or :func:`write_parts` there are replaced,
    so :func:`read_tables` never reads both layouts.

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
    tags = _tags()
    with _replacing(out) as staging:
        for name, table in checked.items():
            _write(table, tags[name], staging / f"{name}.parquet", compression)
    return out


def write_parts(
    batches: Iterable[ArrowTables],
    folder: str | os.PathLike[str],
    *,
    compression: str = "zstd",
    partition_on: Sequence[str] = (),
) -> Path:
    """Write a partitioned dataset: ``folder/<table>/part-NNNNN.parquet``, one part per batch.

    Batches are consumed one at a time, so memory holds one batch however many
    there are.  The parts are written beside ``folder`` and swapped in once
    the last batch is written (see the module docstring): until then, and for
    good if a batch fails, ``folder`` keeps the tables it had (those of an
    earlier dataset or :func:`write_tables`), which are then replaced.  Every
    batch gives one part file per table, so part ``N`` of every table holds
    the same files.  No batches at all give one part of empty tables.

    Parameters
    ----------
    batches : iterable of mappings of str to pyarrow.Table
        Each with one table per dgtools table name, with its exact schema
        (e.g. :func:`dgtools.tables.iter_batches`).
    folder : str or os.PathLike
        Created if absent.
    compression : str, default "zstd"
        Any codec of :func:`pyarrow.parquet.write_table`.
    partition_on : sequence of str, default ()
        Keys checked by :func:`dgtools.tables.partition.partition_keys`: each batch's part is
        written once per partition, ``folder/<table>/<key>=<value>/part-NNNNN.parquet``.

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
    tags = _tags()
    with _replacing(out) as staging:
        for part, batch in enumerate(chain([checked], it)):
            write_part(
                batch if part == 0 else _checked(batch), staging, part, tags, compression, partition_on
            )
    return out


def write_part(
    tables: ArrowTables,
    root: Path,
    part: int,
    tags: dict[str, dict[bytes, bytes]],
    compression: str,
    partition_on: Sequence[str] = (),
) -> None:
    """Write part ``part`` of every table of one checked batch under ``root``, split by ``partition_on``.

    Table folders and partition folders are made as needed (other writers may be making them too).
    A batch of no responses writes its empty tables unpartitioned, so every table has a file.
    """
    pieces = list(split(tables, partition_on)) or [("", dict(tables))]
    for path, piece in pieces:
        for name, table in piece.items():
            folder = root / name / path if path else root / name
            folder.mkdir(parents=True, exist_ok=True)
            _write(table, tags[name], folder / f"part-{part:05d}.parquet", compression)


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


def _tags() -> dict[str, dict[bytes, bytes]]:
    """The schema metadata of each table's files: the dgtools metadata and :func:`pandas_metadata`."""
    tags = {}
    for name in TABLE_NAMES:
        meta = {"schema_version": SCHEMA_VERSION, "table": name, "dgtools_version": __version__}
        tags[name] = {META_KEY: json.dumps(meta).encode(), PANDAS_KEY: pandas_metadata(SCHEMAS[name])}
    return tags


def _write(table: pa.Table, tags: dict[bytes, bytes], path: Path, compression: str) -> None:
    _pq().write_table(table.replace_schema_metadata(tags), path, compression=compression)


def pandas_metadata(schema: pa.Schema) -> bytes:
    """The ``pandas`` schema metadata that makes plain ``pd.read_parquet`` keep integers integers.

    pyarrow's ``to_pandas`` (which ``pd.read_parquet`` calls) reads the
    ``numpy_type`` of each column in this metadata and builds that pandas
    dtype when it is an extension dtype.  So integer columns say ``Int64``
    and boolean ones ``boolean`` (pandas' nullable dtypes: a null stays
    ``<NA>`` instead of turning the column into ``float64`` or ``object``);
    the other columns say what pandas gives them anyway (``float64``,
    ``object`` for strings and nested values, ``datetime64[us, UTC]``).  No
    index is recorded, so pandas gives a RangeIndex.  A ``dtype_backend=``
    or ``types_mapper=`` wins over this metadata, and readers other than
    pandas (DuckDB, Polars, Spark, :func:`read_tables`) ignore it.

    Parameters
    ----------
    schema : pyarrow.Schema
        The table's dgtools schema (:data:`~dgtools.tables.schema.SCHEMAS`).

    Returns
    -------
    bytes
        JSON, as pyarrow writes it for a frame with those dtypes.

    Examples
    --------
    >>> import json
    >>> import pyarrow as pa
    >>> from dgtools.tables.parquet import pandas_metadata
    >>> meta = json.loads(pandas_metadata(pa.schema({"speaker": pa.int64(), "word": pa.string()})))
    >>> [(c["name"], c["numpy_type"]) for c in meta["columns"]], meta["index_columns"]
    ([('speaker', 'Int64'), ('word', 'object')], [])
    """
    frame = schema.empty_table().to_pandas()
    for field in schema:
        if pa.types.is_integer(field.type):
            frame[field.name] = frame[field.name].astype("Int64")
        elif pa.types.is_boolean(field.type):
            frame[field.name] = frame[field.name].astype("boolean")
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            frame[field.name] = frame[field.name].astype(object)
    plain = schema.remove_metadata()
    meta: bytes = pa.Table.from_pandas(frame, schema=plain, preserve_index=False).schema.metadata[PANDAS_KEY]
    return meta


# --------------------------------------------------------------------------- replacing an output


@contextmanager
def _replacing(folder: Path) -> Iterator[Path]:
    """Yield a new empty folder to write tables into; on success they replace the tables of ``folder``.

    On any failure (an exception in the ``with`` body or while swapping) the
    new folder is removed and ``folder`` is as it was.
    """
    target = folder.resolve()  # absolute, through symlinks: "." has a name and a parent
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(20, "not a folder; give a folder to write the Parquet files to", str(folder))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _new_dir(target, "new")
    try:
        if target.is_dir():
            os.chmod(staging, stat.S_IMODE(target.stat().st_mode))  # the output keeps its permissions
        yield staging
        _swap_in(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _new_dir(target: Path, kind: str) -> Path:
    """A new empty folder beside ``target`` (inside it when its parent is not writable).

    Made with ``os.mkdir``, so it gets the usual permissions (umask), not ``mkdtemp``'s 0700.
    """
    for _ in range(100):
        token = secrets.token_hex(4)
        beside = target.parent / f".{target.name}.dgtools-{kind}-{token}"
        try:
            os.mkdir(beside)
            return beside
        except FileExistsError:
            continue
        except PermissionError:
            if not target.is_dir():
                raise
            inside = target / f".dgtools-{kind}-{token}"
            try:
                os.mkdir(inside)
                return inside
            except FileExistsError:
                continue
    raise FileExistsError(f"no free temporary name beside {target}")  # pragma: no cover


def _swap_in(staging: Path, target: Path) -> None:
    """Put the tables of ``staging`` in ``target`` in place of its own (see the module docstring)."""
    if not target.exists():
        os.rename(staging, target)
        return
    if staging.parent == target.parent and _only_tables(target) and not _holds_cwd(target):
        old = _new_dir(target, "old")
        os.rmdir(old)  # a free name on the same filesystem
        os.rename(target, old)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    _swap_files(staging, target)


def _holds_cwd(folder: Path) -> bool:
    """Whether the working directory is ``folder`` or below it (renaming it would strand the process)."""
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the working directory was removed
        return False
    return cwd == folder or folder in cwd.parents


def _only_tables(folder: Path) -> bool:
    """Whether ``folder`` holds nothing but dgtools tables (in either layout) and leftover temp files."""
    singles = {f"{name}.parquet" for name in TABLE_NAMES}
    for entry in folder.iterdir():
        if entry.is_symlink():
            return False
        if entry.is_file() and (entry.name in singles or _is_temp(entry.name)):
            continue
        if entry.is_dir() and entry.name in TABLE_NAMES and _only_parts(entry):
            continue
        return False
    return True


def _only_parts(folder: Path) -> bool:
    """Whether a table's folder holds nothing but part files, temp files and partitions of them."""
    return all(
        not p.is_symlink()
        and (
            (p.is_file() and (p.suffix == ".parquet" or _is_temp(p.name)))
            or (_is_partition(p) and _only_parts(p))
        )
        for p in folder.iterdir()
    )


def _is_temp(name: str) -> bool:
    """A temp file an older dgtools leaves when killed while writing (``.words.parquet.123.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


def _swap_files(staging: Path, target: Path) -> None:
    """Swap the tables of ``target`` for those of ``staging`` file by file, leaving other files alone.

    Every rename is undone, in reverse order, when one fails.
    """
    old = (
        _new_dir(target, "old") if staging.parent == target.parent else staging.parent / f"{staging.name}-old"
    )
    old.mkdir(exist_ok=True)
    done: list[tuple[Path, Path]] = []

    def move(src: Path, dst: Path) -> None:
        os.replace(src, dst)
        done.append((src, dst))

    try:
        for name in TABLE_NAMES:  # retire the old tables, in either layout
            single = target / f"{name}.parquet"
            if single.is_file() and not single.is_symlink():
                move(single, old / single.name)
            if (target / name).is_dir():
                (old / name).mkdir()
                for p in sorted((target / name).iterdir()):
                    if not p.is_symlink() and (
                        (p.is_file() and p.suffix == ".parquet") or (_is_partition(p) and _only_parts(p))
                    ):
                        move(p, old / name / p.name)
        for entry in sorted(staging.iterdir()):  # put the new ones in
            dst = target / entry.name
            if entry.is_dir() and dst.is_dir():
                for p in sorted(entry.iterdir()):
                    move(p, dst / p.name)
            else:
                move(entry, dst)
    except BaseException:
        for src, dst in reversed(done):
            with suppress(OSError):  # nothing more can be done; the error raised says why
                os.replace(dst, src)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
    for name in TABLE_NAMES:  # a table folder emptied by the switch to the single-file layout
        d = target / name
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()


# --------------------------------------------------------------------------- reading


def read_tables(
    folder: str | os.PathLike[str],
    *,
    tables: str | Sequence[str] | None = None,
    partitions: Mapping[str, Any] | None = None,
) -> dict[str, pa.Table]:
    """Read and check the Parquet files of a folder written in either layout.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder given to :func:`write_tables` or :func:`write_parts`.
    tables : str or sequence of str, optional
        Only read these tables.
    partitions : mapping, optional
        Only these Hive partitions (:func:`dgtools.tables.partition.selector`).

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
    pick = selector(partitions, where="read_parquet(partitions=)")
    seen = False  # a dgtools file, selected or not: partitions that match none give no tables
    for name in wanted:
        every = _table_files(root, name)
        seen = seen or bool(every)
        files = [p for p in every if pick is None or pick(p.relative_to(root).parts[1:-1])]
        if files:
            parts = [_read_checked(p, name) for p in files]
            found[name] = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if not seen:
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
    """The Parquet files of table ``name`` under ``root``, in either layout.

    A dataset's parts come in part order; the partitions of one part (``key=value`` folders,
    :mod:`dgtools.tables.partition`) in the order of their paths.
    """
    files: list[Path] = []
    single = root / f"{name}.parquet"
    if single.is_file():
        files.append(single)
    if (root / name).is_dir():
        parts = _parts(root / name)
        files.extend(sorted(parts, key=lambda p: (p.name, p.relative_to(root).parts)))
    return files


def _parts(folder: Path) -> Iterator[Path]:
    """The ``*.parquet`` files in ``folder`` and in its ``key=value`` folders, at any depth."""
    for entry in folder.iterdir():
        if entry.suffix == ".parquet" and entry.is_file():
            yield entry
        elif _is_partition(entry):
            yield from _parts(entry)


def _is_partition(entry: Path) -> bool:
    """A Hive partition folder (``model_name=nova-3``), not a hidden or temporary one."""
    return "=" in entry.name and not entry.name.startswith((".", "_")) and entry.is_dir()


def _read_checked(path: Any, name: str, *, label: str | None = None) -> pa.Table:
    """Read one file of table ``name`` after :func:`_check_file`; cast to the exact schema.

    A file of an older schema version gets the columns added since, null.  ``path`` may be a
    pyarrow file (an object read from object storage), then named ``label`` in errors.
    """
    shown = path if label is None else label
    version = _check_file(path, name, label=label)
    schema = SCHEMAS[name]
    try:
        table = _pq().read_table(path)
        if version < SCHEMA_VERSION:
            have = set(table.column_names)
            arrays = [
                table.column(f.name) if f.name in have else pa.nulls(table.num_rows, f.type) for f in schema
            ]
            table = pa.Table.from_arrays(arrays, names=schema.names)
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaError(
            f"{shown}: column types do not match table {name!r}: {exc}", table=name, path=shown
        ) from exc


def _check_file(path: Any, name: str, *, label: str | None = None) -> int:
    """Check the footer of a Parquet file: dgtools metadata, schema version, table, columns.

    Returns the file's schema version: an older one must have the columns that version wrote
    (:func:`~dgtools.tables.schema.columns_in`).  ``path`` may be a pyarrow file, named ``label``.
    """
    shown = path if label is None else label
    try:
        file_schema = _pq().read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{shown}: not a readable Parquet file ({exc})", table=name, path=shown) from exc
    raw = (file_schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise SchemaError(
            f"{shown}: this Parquet file was not written by dgtools (no 'dgtools' metadata); "
            "build tables with dgtools.to_tables() and write them with Tables.to_parquet()",
            table=name,
            path=shown,
        )
    try:
        meta: dict[str, Any] = json.loads(raw)
        version = int(meta.get("schema_version", -1))
    except (ValueError, TypeError, AttributeError) as exc:
        raise SchemaError(
            f"{shown}: its 'dgtools' metadata is unreadable ({raw[:60]!r}); "
            "rebuild the tables from the raw responses",
            table=name,
            path=shown,
        ) from exc
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{shown}: written by dgtools {meta.get('dgtools_version')} with table schema version {version}, "
            f"newer than this dgtools ({__version__}, schema version {SCHEMA_VERSION}); upgrade dgtools "
            "(pip install -U dgtools) or rebuild the tables from the raw responses",
            table=name,
            path=shown,
        )
    if meta.get("table") != name:
        raise SchemaError(
            f"{shown}: holds dgtools table {meta.get('table')!r}, not {name!r}; was the file renamed?",
            table=name,
            path=shown,
        )
    expected = columns_in(name, version)
    if file_schema.names != expected:
        missing = [c for c in expected if c not in file_schema.names]
        extra = [c for c in file_schema.names if c not in expected]
        raise SchemaError(
            f"{shown}: columns do not match table {name!r} (schema version {version}): "
            f"missing {missing}, unexpected {extra}; rebuild the tables from the raw responses",
            table=name,
            path=shown,
        )
    return version
