"""One dgtools table of a store, or of response files, as a ``dask.dataframe.DataFrame``: :func:`read_store`.

The responses are cut into shards (``shard_size`` files each, in input order) and each shard
is one partition: :func:`dgtools.tables.build.build_shard` flattens it on a worker, exactly as
:func:`dgtools.to_tables` would, and only the table and columns asked for leave the worker.
A store in object storage (``s3://bucket/prefix``, a :class:`~dgtools.store.RemoteStore`) is
listed once, on the client (its index: ``(URL, file_id)`` pairs); each task gets the store
(pickled: its URL and storage options), fetches its shard's responses concurrently
(:meth:`~dgtools.store.RemoteStore.read_many`) and builds them in memory
(:func:`dgtools.tables.build.build_shard_blobs`), so the workers need the credentials, not a shared disk.
The file ids are decided on the client before anything is built (:mod:`dgtools.tables.shards`),
so shards built apart give the ids of one build.  ``meta`` is the empty table of the dgtools
Arrow schema, so the frame's dtypes are those of :attr:`dgtools.Tables.words` and the rest.

Dask is optional (``pip install 'dgtools[dask]'``) and imported when :func:`read_store` is called.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .._extras import require
from ..exceptions import ConfigError, DGToolsWarning, SchemaError
from ..store import RemoteStore, Store, is_store, open_store, store_sources, unique_file_ids
from ..store.remote import is_url
from ..tables.build import build_shard, build_shard_blobs
from ..tables.failures import FAILURE_COLUMNS, Failure, failures_frame
from ..tables.schema import SCHEMAS, TABLE_NAMES
from ..tables.shards import FilePair, file_sources, split

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["StoreInput", "build_pairs", "read_store", "resolve_shards"]

#: What :func:`read_store` and :func:`dgtools.dask.write_dataset` read: a :class:`~dgtools.Store`, a store
#: folder, a folder or glob of response files, a response file, or a list of these; or one store in
#: object storage (a :class:`~dgtools.store.RemoteStore` or its URL, ``s3://bucket/prefix``).
StoreInput = Store | RemoteStore | str | os.PathLike[str] | Iterable[Store | str | os.PathLike[str]]

#: Responses per shard (one partition, one task): 64 ten-minute responses are about 100,000 words.
SHARD_SIZE = 64


def read_store(
    store_or_glob: StoreInput,
    table: str = "words",
    *,
    columns: Sequence[str] | None = None,
    shard_size: int = SHARD_SIZE,
    file_id: str | Sequence[str] | None = None,
    on_error: Literal["raise", "skip"] = "skip",
    storage_options: Mapping[str, Any] | None = None,
) -> dd.DataFrame:
    """One table of the responses of a store (or of response files), as a Dask DataFrame.

    Parameters
    ----------
    store_or_glob : Store, RemoteStore, str, os.PathLike or list of these
        A :class:`~dgtools.Store` or a store folder (its responses, each named by its audio as
        ``dgtools tables STORE`` names them; a file answered twice, with other options, is
        ``<id>#2``); a folder of response files (named by their path in it, as
        :func:`dgtools.to_tables` names them); a glob such as ``"responses/**/*.json"``
        (sorted; files named by their stem); a file; or a list of these (not stores mixed
        with files).  Paths must be readable where the workers run.  Or one store in object
        storage: its URL (``"s3://bucket/prefix"``, with ``storage_options=``) or a
        :class:`~dgtools.store.RemoteStore`; its rows are those of
        :func:`dgtools.store.store_tables`, and every worker fetches its shards' responses itself.
    table : str, default "words"
        A dgtools table name (:data:`dgtools.Tables.names`), or ``"failures"``: the inputs left
        out (``file_id``, ``path``, ``key_path``, ``message``), as :attr:`dgtools.Tables.failures`.
    columns : sequence of str, optional
        Only these columns, in this order.  They are selected on the worker, before the
        partition becomes a pandas frame, and so is a later ``df[[...]]``: Dask pushes it into
        the partitions.  Each shard still builds every table (so that a bad response is left
        out of all of them), then drops the rest.
    shard_size : int, default 64
        Responses per partition (per task).  A worker holds one shard's tables at a time.
    file_id : str or sequence of str, optional
        The ids of the files (not for a store), as for :func:`dgtools.to_tables`.
    on_error : "raise" or "skip", default "skip"
        ``"skip"`` (unlike :func:`dgtools.to_tables`, so one bad file among millions does not
        fail the computation): an input that is not a usable response is left out of every
        table and listed by ``read_store(..., table="failures")``.  ``"raise"``: computing a
        partition holding one raises its :class:`~dgtools.ResponseFormatError`.
    storage_options : mapping, optional
        For a store URL: passed to its fsspec filesystem, here and on every worker
        (credentials, ``client_kwargs={"endpoint_url": ...}``), as for :func:`dgtools.store.open_store`.

    Returns
    -------
    dask.dataframe.DataFrame
        One partition per shard, in input order (divisions unknown; each partition's index
        starts at 0).  ``.compute()`` equals ``dgtools.to_tables(...)[table]`` with the same
        rows in the same order, once the index is reset.

    Raises
    ------
    MissingDependencyError
        Dask is not installed.
    SchemaError
        ``table`` is not a dgtools table, or a column is not one of its columns.
    ConfigError
        A glob matches nothing; stores are mixed with files; ``shard_size`` is not a
        positive integer; ``file_id`` has too few ids or repeats one; ``storage_options`` are
        given without a store URL, or a store URL comes in a list.

    Warns
    -----
    DGToolsWarning
        A folder holds no responses; two inputs get the same id (the later is ``<id>#2``).

    Examples
    --------
    >>> from dgtools.dask import read_store
    >>> words = read_store("data/responses", "words", columns=["file_id", "word"], shard_size=2)
    >>> words.npartitions, list(words.columns)
    (3, ['file_id', 'word'])
    >>> len(words.compute(scheduler="sync"))
    271

    A store in a bucket (here fsspec's in-memory filesystem; ``s3://`` works the same way):

    >>> from pathlib import Path
    >>> from dgtools.store import RemoteStore
    >>> store = RemoteStore("memory://read-store-doc/store")
    >>> key = RemoteStore.key("ab" * 32, "0123456789abcdef")
    >>> _ = store.write_bytes(key, Path("data/responses/silence.json").read_bytes())
    >>> store.record({"key": key, "file_id": "calls/silence.wav"})
    >>> read_store(store, "requests").compute(scheduler="sync")["file_id"].tolist()
    ['calls/silence.wav']
    """
    dask_df = require("dask.dataframe", extra="dask", feature="dgtools.dask.read_store", package="dask")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f'on_error must be "raise" or "skip" on a cluster, not {on_error!r}')
    cols = _columns(table, columns)
    shards, remote = _resolve(store_or_glob, shard_size, file_id, storage_options)
    build = ShardTable(table, on_error, remote)
    frame: dd.DataFrame = dask_df.from_map(
        build, shards, columns=cols, meta=build.meta(cols), label=f"dgtools-{table}", enforce_metadata=False
    )
    return frame


def _columns(table: str, columns: Sequence[str] | None) -> list[str]:
    """The columns asked for of ``table`` (all by default); unknown ones raise SchemaError."""
    if table == "failures":
        known = list(FAILURE_COLUMNS)
    elif table in TABLE_NAMES:
        known = list(SCHEMAS[table].names)
    else:
        raise SchemaError(
            f"{table!r} is not a dgtools table; give one of {', '.join(TABLE_NAMES)}, or 'failures'",
            table=table,
        )
    if columns is None:
        return known
    wanted = [columns] if isinstance(columns, str) else list(columns)
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise SchemaError(
            f"table {table!r} has no column(s) {unknown}; its columns are {', '.join(known)}", table=table
        )
    return wanted


class ShardTable:
    """The partition function of :func:`read_store`: one shard's table, with only some columns.

    Its ``columns=`` keyword is how Dask pushes a column selection made on the frame into the
    partitions.  Plain data only (and the :class:`~dgtools.store.RemoteStore` a shard of URLs
    is fetched from, which pickles as its URL and storage options): it is pickled to the workers.

    Examples
    --------
    >>> from dgtools.tables.shards import file_sources
    >>> f = ShardTable("words", "skip")
    >>> f(file_sources("data/responses")[:1], columns=["word"]).shape
    (50, 1)
    >>> list(f.meta(["file_id", "word"]).columns)
    ['file_id', 'word']
    """

    def __init__(
        self, table: str, on_error: Literal["raise", "skip"], store: RemoteStore | None = None
    ) -> None:
        self.table = table
        self.on_error: Literal["raise", "skip"] = on_error
        self.store = store

    def meta(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The empty frame of these columns (all by default), with their dtypes."""
        cols = _columns(self.table, columns)
        if self.table == "failures":
            return failures_frame(())[cols]
        return _frame(SCHEMAS[self.table].empty_table().select(cols))

    def __call__(self, shard: Sequence[FilePair], columns: Sequence[str] | None = None) -> pd.DataFrame:
        cols = _columns(self.table, columns)
        if self.table == "failures":
            _, failed = build_pairs(shard, self.store, on_error="skip", tables=())
            return failures_frame(failed)[cols]
        tables, _ = build_pairs(shard, self.store, on_error=self.on_error, tables=[self.table], columns=cols)
        return _frame(tables[self.table])


def build_pairs(
    shard: Sequence[FilePair],
    store: RemoteStore | None,
    *,
    on_error: Literal["raise", "skip"],
    tables: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[dict[str, Any], list[Failure]]:
    """:func:`~dgtools.tables.build.build_shard` of local files, or of responses fetched from ``store``.

    With a store the shard's paths are the responses' URLs in it (:func:`resolve_shards`): they are
    fetched concurrently in one :meth:`~dgtools.store.RemoteStore.read_many` and built in memory;
    one that cannot be fetched is an input that fails, named by its URL.

    Examples
    --------
    >>> from dgtools.store import RemoteStore
    >>> store = RemoteStore("memory://build-pairs-doc/store")
    >>> key = RemoteStore.key("cd" * 32, "0123456789abcdef")
    >>> shard = [(store.write_bytes(key, b'{"metadata": {}, "results": {"channels": []}}'), "a.wav")]
    >>> t, failed = build_pairs(shard + [(store.path(RemoteStore.key("ef" * 32, "0123456789abcdef")), "b.wav")],
    ...                         store, on_error="skip", tables=["requests"])
    >>> t["requests"].column("file_id").to_pylist(), [f.file_id for f in failed]
    (['a.wav'], ['b.wav'])
    """
    if store is None:
        return build_shard(shard, on_error=on_error, tables=tables, columns=columns)
    keys = [url.rsplit("/", 1)[-1].removesuffix(".json") for url, _ in shard]
    fetched = store.read_many(keys)
    blobs = [(data, fid, url) for data, (url, fid) in zip(fetched, shard, strict=True)]
    return build_shard_blobs(blobs, on_error=on_error, tables=tables, columns=columns)


def _frame(table: Any) -> pd.DataFrame:
    """A pyarrow Table as :func:`dgtools.to_tables` makes its frames: Arrow-backed dtypes, RangeIndex."""
    df: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
    df.index = pd.RangeIndex(len(df))
    return df


def resolve_shards(
    source: StoreInput,
    *,
    shard_size: int = SHARD_SIZE,
    file_id: str | Sequence[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> list[list[FilePair]]:
    """The ``(path, file_id)`` pairs of ``source``, cut into shards of ``shard_size`` in input order.

    What :func:`read_store` and :func:`dgtools.dask.write_dataset` build their tasks from (see
    :func:`read_store` for what ``source`` may be).  An empty source gives no shards.  For a store
    in object storage the paths are the responses' URLs (:func:`dgtools.store.store_sources`).

    Examples
    --------
    >>> [len(s) for s in resolve_shards("data/responses", shard_size=4)]
    [4, 2]
    >>> resolve_shards("data/responses/*.jsonl")
    [[('data/responses/live_session.jsonl', 'live_session')]]
    """
    shards, _ = _resolve(source, shard_size, file_id, storage_options)
    return shards if any(shards) else []


def _resolve(
    source: StoreInput,
    shard_size: int,
    file_id: str | Sequence[str] | None,
    storage_options: Mapping[str, Any] | None,
) -> tuple[list[list[FilePair]], RemoteStore | None]:
    """The shards of ``source`` (at least one, maybe empty), and the remote store they are fetched from."""
    if not isinstance(source, (str, os.PathLike, Store, RemoteStore)):
        source = list[Any](source)  # once: it may be an iterator
    remote = _remote(source, storage_options)
    if remote is not None:
        if file_id is not None:
            raise ConfigError("file_id= names response files; a store's responses are named by their audio")
        paths, ids = _store_pairs([remote])
        return split(list(zip(paths, ids, strict=True)), shard_size) or [[]], remote
    if storage_options:
        raise ConfigError(
            "storage_options= go with a store URL such as s3://bucket/prefix; this source is local, leave them out"
        )
    if isinstance(source, str) and source.startswith("file://"):
        source = source[len("file://") :]
    return _local_shards(source, shard_size, file_id) or [[]], None


def _remote(source: StoreInput, storage_options: Mapping[str, Any] | None) -> RemoteStore | None:
    """The remote store ``source`` is (opened with ``storage_options``), or None when it is local."""
    if isinstance(source, RemoteStore):
        if storage_options:
            raise ConfigError("storage_options= go with a store URL; this RemoteStore has its own")
        return source
    if isinstance(source, str) and is_url(source) and not source.startswith("file://"):
        opened = open_store(source, storage_options=storage_options)
        assert isinstance(opened, RemoteStore)
        return opened
    if isinstance(source, list) and any(
        isinstance(i, RemoteStore) or (isinstance(i, str) and is_url(i)) for i in source
    ):
        raise ConfigError(
            "read_store reads one store in object storage at a time: pass its URL alone, not in a list"
        )
    return None


def _local_shards(
    source: StoreInput, shard_size: int, file_id: str | Sequence[str] | None
) -> list[list[FilePair]]:
    items: list[Any] = (
        [source] if isinstance(source, (Store, RemoteStore, str, os.PathLike)) else list(source)
    )
    stores = [i for i in items if isinstance(i, Store) or (isinstance(i, (str, os.PathLike)) and is_store(i))]
    if stores and len(stores) < len(items):
        raise ConfigError("give either raw stores or response files/folders to read_store, not both")
    if stores:
        if file_id is not None:
            raise ConfigError("file_id= names response files; a store's responses are named by their audio")
        paths, ids = _store_pairs(stores)
        pairs = (file_sources(paths, file_id=ids) or []) if paths else []
    else:
        pairs = file_sources(_expand_globs(items), file_id=file_id) or []
    return split(pairs, shard_size)


def _store_pairs(
    stores: Sequence[Store | RemoteStore | str | os.PathLike[str]],
) -> tuple[list[str], list[str]]:
    """The response paths of stores and their file ids, each its own (``dgtools tables STORE``'s)."""
    pairs = [(os.fspath(path), fid) for store in stores for path, fid in store_sources(store)]
    ids, renamed = unique_file_ids(fid for _, fid in pairs)
    for fid, given in renamed:
        warnings.warn(
            f"{fid} has more than one response in the store (other options?); the tables call it {given}",
            DGToolsWarning,
            stacklevel=3,
        )
    return [p for p, _ in pairs], ids


def _expand_globs(items: list[Any]) -> list[str | os.PathLike[str]]:
    """Items with every glob (a string with ``*``, ``?`` or ``[`` that is not a path) replaced by its matches."""
    out: list[str | os.PathLike[str]] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise ConfigError(
                f"read_store reads stores, folders, globs and response files, not a {type(item).__name__}; "
                "flatten in-memory responses with dgtools.to_tables"
            )
        text = os.fspath(item)
        if isinstance(item, str) and any(c in text for c in "*?[") and not os.path.exists(text):
            found = sorted(glob.glob(text, recursive=True))
            if not found:
                raise ConfigError(f"{text}: no files match this glob; check the pattern and the folder")
            out.extend(found)
        else:
            out.append(item)
    return out
