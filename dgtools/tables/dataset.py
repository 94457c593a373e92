"""Parquet folders as :class:`~dgtools.Tables`: :func:`read_parquet` and :func:`write_dataset`.

Two layouts, both read by :func:`read_parquet`:

- ``folder/<table>.parquet``: one file per table (:meth:`dgtools.Tables.to_parquet`).
- ``folder/<table>/part-NNNNN.parquet``: a dataset per table, written in
  bounded-memory batches by :func:`write_dataset`, for runs too big for one
  file or for memory.  DuckDB reads it as ``read_parquet('folder/words/*.parquet')``,
  Polars as ``pl.scan_parquet('folder/words/*.parquet')``.

The files themselves (schemas, dgtools metadata, checks, atomic writes) are
:mod:`dgtools.tables.parquet`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .build import iter_batches
from .container import Tables
from .parquet import read_tables, write_parts
from .read import Source
from .schema import TABLE_NAMES, frame_to_arrow

__all__ = ["read_parquet", "write_dataset"]


def read_parquet(folder: str | os.PathLike[str], *, tables: str | Sequence[str] | None = None) -> Tables:
    """Read tables written by :meth:`Tables.to_parquet` or :func:`write_dataset`.

    Gives back exactly what was written: columns, dtypes and values.  A table
    whose file is absent comes back empty (with its full schema).

    Parameters
    ----------
    folder : str or os.PathLike
        The folder passed to ``to_parquet`` or ``write_dataset``.
    tables : str or sequence of str, optional
        Only read these tables (others come back empty).

    Returns
    -------
    Tables

    Raises
    ------
    SchemaError
        A file was not written by dgtools, was written by a newer dgtools
        schema, or its columns do not match the table's schema.

    Examples
    --------
    >>> import dgtools
    >>> t = dgtools.read_parquet("tests/data/parquet/v1")
    >>> t.words.dtypes["speaker"]
    int64[pyarrow]
    >>> len(dgtools.read_parquet("tests/data/parquet/v1", tables="turns").words)
    0
    """
    return Tables.from_arrow(read_tables(folder, tables=tables))


def write_dataset(
    source: Tables | Source,
    folder: str | os.PathLike[str],
    *,
    batch_words: int = 1_000_000,
    compression: str = "zstd",
) -> Path:
    """Write a partitioned dataset: ``folder/<table>/part-NNNNN.parquet``.

    ``source`` is a :class:`Tables` or anything :func:`dgtools.to_tables`
    accepts.  A source is streamed (:func:`dgtools.tables.iter_batches`):
    responses are flattened in batches of about ``batch_words`` words and each
    batch is written as one part file per table, so memory stays bounded
    however large the run.  One response never straddles two part files.
    Earlier parts, and the files of an earlier ``to_parquet``, in ``folder``
    are replaced once the first batch is built.

    Parameters
    ----------
    source : Tables or Source
        What to write.
    folder : str or os.PathLike
        Created if absent.
    batch_words : int, default 1_000_000
        Words per part file (a part ends after the response that reaches it).
    compression : str, default "zstd"
        Any codec of :func:`pyarrow.parquet.write_table`.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    SchemaError
        A table of a :class:`Tables` does not fit its schema (nothing is written).
    ResponseFormatError
        An input is not a Deepgram response.

    Examples
    --------
    >>> import tempfile, dgtools
    >>> out = dgtools.write_dataset("data/responses", tempfile.mkdtemp(), batch_words=60)
    >>> sorted(p.name for p in (out / "words").iterdir())
    ['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet']
    >>> dgtools.read_parquet(out).words.equals(dgtools.to_tables("data/responses").words)
    True
    """
    if isinstance(source, Tables):  # every table is checked before the folder is touched
        batches = iter([{name: frame_to_arrow(source[name], name) for name in TABLE_NAMES}])
    else:
        batches = iter_batches(source, batch_words=batch_words)
    return write_parts(batches, folder, compression=compression)
