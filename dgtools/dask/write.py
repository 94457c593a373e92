"""The Parquet dataset of :func:`dgtools.write_dataset`, written one Dask task per shard: :func:`write_dataset`.

Each task flattens one shard of responses (:func:`dgtools.tables.build.build_shard`; of a store in
object storage, the responses it fetches itself: :func:`dgtools.dask.read.build_pairs`) and writes
its part of every table through :mod:`dgtools.tables.parquet`'s own checks and file metadata
(those of :func:`~dgtools.tables.parquet.write_parts`), so a worker holds one shard's tables at a time.  Shard ``i`` becomes
``<table>/part-<i>.parquet``: the parts read back in input order (with ``partition_on=``, in
every Hive partition its responses fall in).  The tasks write into a new folder beside ``out``,
swapped in when every task has ended (as :func:`dgtools.write_dataset` does), so a failure leaves
``out`` as it was.  An ``out`` in object storage (``s3://...``) is written as
:mod:`dgtools.tables.remote` says: a fresh prefix, every task PUTting its own parts, ``_SUCCESS``
last, the parts removed after a failure.  A task returns its error rather than raising it, so
nothing is cleaned up while another task is still writing.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from .._extras import require
from ..exceptions import ConfigError, DGToolsWarning, ResponseFormatError
from ..store import RemoteStore
from ..tables.failures import Failure, skipped_message
from ..tables.parquet import _checked, _replacing, _tags, write_part
from ..tables.partition import partition_keys
from ..tables.remote import RemoteDataset, is_url
from ..tables.shards import FilePair
from .read import SHARD_SIZE, StoreInput, _resolve, build_pairs

__all__ = ["write_dataset"]


def write_dataset(
    store_or_sources: StoreInput,
    out: str | os.PathLike[str],
    *,
    partition_on: str | Sequence[str] | None = None,
    shard_size: int = SHARD_SIZE,
    client: Any = None,
    compression: str = "zstd",
    file_id: str | Sequence[str] | None = None,
    on_error: Literal["raise", "skip"] = "skip",
    storage_options: Mapping[str, Any] | None = None,
    out_storage_options: Mapping[str, Any] | None = None,
) -> Path | str:
    """Write ``out/<table>/part-NNNNN.parquet`` for every dgtools table, one Dask task per shard.

    The files are those :func:`dgtools.write_dataset` writes (schemas, ``dgtools`` metadata,
    layout), one part per shard, in input order, so ``dgtools.read_parquet(out)`` equals
    ``dgtools.to_tables(...)``.  ``out`` must be on a filesystem every worker can write to, or a
    URL in object storage (``s3://...``), where each task writes its own parts.
    The source may be a store in object storage (``"s3://bucket/prefix"`` with
    ``storage_options=``): every task fetches its shard's responses itself, and the tables equal
    :func:`dgtools.store.store_tables`'s.

    Parameters
    ----------
    store_or_sources : Store, RemoteStore, str, os.PathLike or list of these
        As for :func:`dgtools.dask.read_store`: stores, folders, globs, files, or one store URL.
    out : str or os.PathLike
        Created if absent; the tables of an earlier output there are replaced, other files left alone.
    partition_on : str or sequence of str, optional
        Hive partitions by keys of each response, as for :func:`dgtools.write_dataset`:
        ``out/<table>/date=2026-12-06/part-NNNNN.parquet``, each task writing its shard's part
        into every partition its responses fall in.  ``dd.read_parquet(out / "words")``, DuckDB
        (``hive_partitioning=true``), Polars and Spark read the key as a column.
    shard_size : int, default 64
        Responses per task (per part file); a worker holds one shard's tables at a time.
    client : distributed.Client, optional
        Where to run the tasks; by default Dask's current scheduler (a ``Client`` made
        earlier in this process, else local threads).
    compression : str, default "zstd"
        Any codec of :func:`pyarrow.parquet.write_table`.
    file_id : str or sequence of str, optional
        As for :func:`dgtools.dask.read_store`.
    on_error : "raise" or "skip", default "skip"
        ``"skip"``: inputs that are not usable responses are left out and named in one
        :class:`~dgtools.DGToolsWarning` (nothing is written when every input is left out).
        ``"raise"``: the first one (in input order) raises, and ``out`` keeps what it had.
    storage_options : mapping, optional
        For a store URL: passed to its fsspec filesystem, here and on every worker (as for
        :func:`dgtools.dask.read_store`); for an ``out`` URL too, unless ``out_storage_options``
        is given.
    out_storage_options : mapping, optional
        For ``out`` in object storage (``"s3://bucket/tables/2026-12-06"``), when it needs
        other options than the store: every task PUTs its part files there itself, so the
        workers need no shared disk.  The prefix must not hold dgtools tables yet; ``_SUCCESS``
        is written when every task has written, and a failed build removes the parts
        (:mod:`dgtools.tables.remote`).

    Returns
    -------
    pathlib.Path or str
        ``out`` (the URL, for object storage).

    Raises
    ------
    ResponseFormatError
        With ``"raise"``, an input is not a usable response; with ``"skip"``, none is.
    ConfigError
        ``partition_on`` names something that is not a key, or as for :func:`dgtools.dask.read_store`.

    Examples
    --------
    >>> import tempfile, dgtools
    >>> from dgtools.dask import write_dataset
    >>> out = write_dataset("data/responses", tempfile.mkdtemp(), shard_size=4)
    >>> sorted(p.name for p in (out / "words").iterdir())
    ['part-00000.parquet', 'part-00001.parquet']
    >>> dgtools.read_parquet(out).words.equals(dgtools.to_tables("data/responses").words)
    True
    """
    dask = require("dask", extra="dask", feature="dgtools.dask.write_dataset")
    keys = partition_keys(partition_on, where="dgtools.dask.write_dataset(partition_on=)")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f'on_error must be "raise" or "skip" on a cluster, not {on_error!r}')
    shards, remote = _resolve(store_or_sources, shard_size, file_id, storage_options)

    def run(where: str | RemoteDataset) -> list[Failure]:
        tasks = [
            dask.delayed(_write_shard, pure=False)(shard, remote, where, i, on_error, compression, keys)
            for i, shard in enumerate(shards)
        ]
        # every task ends before anything is removed: a task still writing would leave parts behind
        results = client.gather(client.compute(tasks)) if client is not None else dask.compute(*tasks)
        raised = [exc for _, _, exc in results if exc is not None]
        if raised:
            raise raised[0]  # the first in input order
        failures = [f for _, failed, _ in results for f in failed]
        if failures and not sum(n for n, _, _ in results):
            raise ResponseFormatError(
                f"none of the {len(failures)} input(s) is a usable Deepgram response, so nothing was written "
                f"and {os.fspath(out)} keeps what it had; {skipped_message(failures)}"
            )
        return failures

    if is_url(out):
        options = storage_options if out_storage_options is None else out_storage_options
        dataset = RemoteDataset(str(out), options)
        dataset.begin()
        try:
            failures = run(dataset)
            dataset.finish()
        except BaseException:
            dataset.discard()
            raise
        result: Path | str = str(out)
    else:
        if out_storage_options:
            raise ConfigError(
                f"out_storage_options are for a dataset in object storage; {out} is a local folder"
            )
        with _replacing(Path(out)) as staging:
            failures = run(os.fspath(staging))
        result = Path(out)
    if failures:
        warnings.warn(skipped_message(failures), DGToolsWarning, stacklevel=2)
    return result


def _write_shard(
    shard: Sequence[FilePair],
    store: RemoteStore | None,
    where: str | RemoteDataset,
    index: int,
    on_error: Literal["raise", "skip"],
    compression: str,
    keys: tuple[str, ...],
) -> tuple[int, list[Failure], Exception | None]:
    """Flatten one shard and write its part of every table.

    Returns ``(responses written, inputs left out, None)``, or ``(0, [], the error)``: an error is
    returned, not raised, so that the client waits for every task before it cleans up.  ``where``
    is the local staging folder or the dataset in object storage.
    """
    try:
        tables, failed = build_pairs(shard, store, on_error=on_error)
        if isinstance(where, RemoteDataset):
            where.write_part(tables, index, compression=compression, partition_on=keys, tags=_file_tags())
        else:
            write_part(_checked(tables), Path(where), index, _file_tags(), compression, keys)
    except Exception as exc:
        return 0, [], exc
    return tables["requests"].num_rows, failed, None


@functools.cache
def _file_tags() -> dict[str, dict[bytes, bytes]]:
    """The schema metadata of every table's files, made once per worker process (it costs ~0.2 s)."""
    return _tags()
