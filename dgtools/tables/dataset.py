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
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..exceptions import ConfigError, DGToolsWarning, ResponseFormatError
from .build import iter_batches
from .container import Tables
from .failures import Failure, OnError, caller_stacklevel, check_on_error, skipped_message
from .parquet import read_tables, write_parts
from .partition import partition_keys
from .read import Source
from .remote import RemoteDataset, is_url
from .schema import TABLE_NAMES, frame_to_arrow

__all__ = ["read_parquet", "write_dataset"]


def read_parquet(
    folder: str | os.PathLike[str],
    *,
    tables: str | Sequence[str] | None = None,
    partitions: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Tables:
    """Read tables written by :meth:`Tables.to_parquet` or :func:`write_dataset`.

    Gives back exactly what was written: columns, dtypes and values.  A table
    whose file is absent comes back empty (with its full schema), and so does
    :attr:`Tables.failures`, which is never written.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder passed to ``to_parquet`` or ``write_dataset``.
    tables : str or sequence of str, optional
        Only read these tables (others come back empty).
    partitions : mapping, optional
        Of a dataset written with ``partition_on=``: only these partitions, a key to a value
        or a list of values (``{"date": ["2025-09-18", "2025-09-19"], "kind": "prerecorded"}``;
        dates, booleans and numbers as well as strings).  Only their files are read, so a day
        of a year-long dataset costs a day.  A key the dataset is not partitioned on raises
        :class:`~dgtools.ConfigError`.
    storage_options : mapping, optional
        For a dataset :func:`write_dataset` wrote to object storage (``folder`` a URL such as
        ``s3://bucket/tables``): passed to its fsspec filesystem (credentials,
        ``client_kwargs={"endpoint_url": ...}``).  Only a finished one is read (its
        ``_SUCCESS`` marker; :mod:`dgtools.tables.remote`).

    Returns
    -------
    Tables

    Raises
    ------
    SchemaError
        A file was not written by dgtools, was written by a newer dgtools
        schema, or its columns do not match the table's schema.

    Notes
    -----
    Every column comes back Arrow-backed, as :func:`dgtools.to_tables` built
    it (``pd.read_parquet(path, dtype_backend="pyarrow")`` gives the same
    frames).  A plain ``pd.read_parquet(path)`` of a file written since the
    files carry ``pandas`` metadata gives integer columns as pandas' nullable
    ``Int64`` and booleans as ``boolean`` (older files: ``float64`` and
    ``object``); see :func:`dgtools.tables.parquet.pandas_metadata`.

    Examples
    --------
    >>> import dgtools
    >>> t = dgtools.read_parquet("tests/data/parquet/v1")
    >>> t.words.dtypes["speaker"]
    int64[pyarrow]
    >>> len(dgtools.read_parquet("tests/data/parquet/v1", tables="turns").words)
    0
    """
    if is_url(folder):
        return Tables.from_arrow(RemoteDataset(str(folder), storage_options).read(tables, partitions))
    if storage_options:
        raise ConfigError(f"storage_options are for a dataset in object storage; {folder} is a local folder")
    return Tables.from_arrow(read_tables(folder, tables=tables, partitions=partitions))


def write_dataset(
    source: Tables | Source,
    folder: str | os.PathLike[str],
    *,
    batch_words: int = 1_000_000,
    compression: str = "zstd",
    file_id: str | Sequence[str] | None = None,
    on_error: OnError = "raise",
    partition_on: str | Sequence[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Path | str:
    """Write a partitioned dataset: ``folder/<table>/part-NNNNN.parquet``.

    ``source`` is a :class:`Tables` or anything :func:`dgtools.to_tables`
    accepts.  A source is streamed (:func:`dgtools.tables.iter_batches`):
    responses are flattened in batches of about ``batch_words`` words and each
    batch is written as one part file per table, so memory stays bounded
    however large the run.  One response never straddles two part files.
    The parts are written into a new folder beside ``folder`` and swapped in
    once the last one is written, replacing the parts of an earlier dataset
    and the files of an earlier ``to_parquet``; until then, and for good if
    the build fails, ``folder`` keeps what it had.

    Parameters
    ----------
    source : Tables or Source
        What to write.
    folder : str or os.PathLike
        Created if absent.  Files there that are not dgtools tables are left alone.
    batch_words : int, default 1_000_000
        Words per part file (a part ends after the response that reaches it).
    compression : str, default "zstd"
        Any codec of :func:`pyarrow.parquet.write_table`.
    file_id : str or sequence of str, optional
        As for :func:`dgtools.to_tables`.
    on_error : "raise", "skip" or callable, default "raise"
        As for :func:`dgtools.to_tables`, but there is no ``failures`` table
        to list the inputs left out: ``"skip"`` names them in one
        :class:`~dgtools.DGToolsWarning`; a function receives each
        :class:`~dgtools.tables.Failure`.  When every input is left out,
        nothing is written (``folder`` keeps its tables) and
        :class:`~dgtools.ResponseFormatError` is raised.
    partition_on : str or sequence of str, optional
        Hive partitions by keys of each response: ``"date"`` (the UTC day of
        ``created``) or a column of ``requests`` such as ``"model_name"``
        (:mod:`dgtools.tables.partition` lists them).  Every table is split
        by its rows' responses, ``folder/<table>/date=2026-12-06/part-NNNNN.parquet``,
        so a partition holds whole responses in every table, and DuckDB,
        Polars, pyarrow, Dask and Spark read the key as a column and skip the
        partitions a filter rules out.  :func:`read_parquet` reads the parts
        in part order, the partitions of one part in path order: the rows of
        every table, grouped by partition within each part.

    storage_options : mapping, optional
        ``folder`` may be a URL in object storage (``"s3://bucket/tables/2026-12-06"``), with
        these options for its fsspec filesystem.  Object storage cannot swap a dataset in
        whole, so the prefix must not hold dgtools tables yet; each part is one PUT, a
        ``_SUCCESS`` marker is written last, and a failed build removes its parts
        (:mod:`dgtools.tables.remote`).

    Returns
    -------
    pathlib.Path or str
        The folder (the URL, for object storage).

    Raises
    ------
    SchemaError
        A table of a :class:`Tables` does not fit its schema (nothing is written).
    ResponseFormatError
        An input is not a Deepgram response (with ``on_error="raise"``;
        ``folder`` keeps what it had).
    ConfigError
        ``file_id`` repeats an id or has too few; ``on_error`` is not valid;
        ``partition_on`` names something that is not a key; the URL already holds tables.

    Examples
    --------
    >>> import tempfile, dgtools
    >>> out = dgtools.write_dataset("data/responses", tempfile.mkdtemp(), batch_words=60)
    >>> sorted(p.name for p in (out / "words").iterdir())
    ['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet']
    >>> dgtools.read_parquet(out).words.equals(dgtools.to_tables("data/responses").words)
    True
    >>> out = dgtools.write_dataset("data/responses", tempfile.mkdtemp(), partition_on="kind")
    >>> sorted(p.name for p in (out / "words").iterdir())
    ['kind=prerecorded', 'kind=streaming']
    """
    check_on_error(on_error)
    keys = partition_keys(partition_on, where="write_dataset(partition_on=)")
    batches: Iterable[dict[str, pa.Table]]
    if isinstance(source, Tables):  # every table is checked before the folder is touched
        batches = [{name: frame_to_arrow(source[name], name) for name in TABLE_NAMES}]
    elif on_error == "raise":
        batches = iter_batches(source, batch_words=batch_words, file_id=file_id)
    else:
        batches = _skipping(source, folder, batch_words, file_id, on_error)
    if is_url(folder):
        RemoteDataset(str(folder), storage_options).write_all(
            batches, compression=compression, partition_on=keys
        )
        return str(folder)
    if storage_options:
        raise ConfigError(f"storage_options are for a dataset in object storage; {folder} is a local folder")
    return write_parts(batches, folder, compression=compression, partition_on=keys)


def _skipping(
    source: Source,
    folder: str | os.PathLike[str],
    batch_words: int,
    file_id: str | Sequence[str] | None,
    on_error: OnError,
) -> Iterator[dict[str, pa.Table]]:
    """The batches of ``source``, leaving bad inputs out; refuse to replace ``folder`` with nothing."""
    failures: list[Failure] = []

    def report(failure: Failure) -> None:
        failures.append(failure)
        if callable(on_error):
            on_error(failure)

    responses = 0
    for batch in iter_batches(source, batch_words=batch_words, file_id=file_id, on_error=report):
        responses += batch["requests"].num_rows
        yield batch
    if failures and not responses:
        raise ResponseFormatError(
            f"none of the {len(failures)} input(s) is a usable Deepgram response, so nothing was written "
            f"and {os.fspath(folder)} keeps what it had; "
            + ("each was given to on_error" if callable(on_error) else skipped_message(failures))
        )
    if failures and on_error == "skip":
        warnings.warn(skipped_message(failures), DGToolsWarning, stacklevel=caller_stacklevel())
