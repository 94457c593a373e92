"""One dgtools table of a store, or of response files, as a ``dask.dataframe.DataFrame``: :func:`read_store`.

The responses are cut into shards (``shard_size`` files each, in input order) and each shard
is one partition: :func:`dgtools.tables.build.build_shard` flattens it on a worker, exactly as
:func:`dgtools.to_tables` would, and only the table and columns asked for leave the worker.
The file ids are decided on the client before anything is built (:mod:`dgtools.tables.shards`),
so shards built apart give the ids of one build.  ``meta`` is the empty table of the dgtools
Arrow schema, so the frame's dtypes are those of :attr:`dgtools.Tables.words` and the rest.

Dask is optional (``pip install 'dgtools[dask]'``) and imported when :func:`read_store` is called.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .._extras import require
from ..exceptions import ConfigError, DGToolsWarning, SchemaError
from ..store import Store, is_store, store_sources
from ..tables.build import build_shard
from ..tables.failures import FAILURE_COLUMNS, failures_frame
from ..tables.schema import SCHEMAS, TABLE_NAMES
from ..tables.shards import FilePair, file_sources, split

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["StoreInput", "read_store", "resolve_shards"]

#: What :func:`read_store` and :func:`dgtools.dask.write_dataset` read: a :class:`~dgtools.Store`, a store
#: folder, a folder or glob of response files, a response file, or a list of these.
StoreInput = Store | str | os.PathLike[str] | Iterable[Store | str | os.PathLike[str]]

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
) -> dd.DataFrame:
    """One table of the responses of a store (or of response files), as a Dask DataFrame.

    Parameters
    ----------
    store_or_glob : Store, str, os.PathLike or list of these
        A :class:`~dgtools.Store` or a store folder (its responses, each named by its audio as
        ``dgtools tables STORE`` names them; a file answered twice, with other options, is
        ``<id>#2``); a folder of response files (named by their path in it, as
        :func:`dgtools.to_tables` names them); a glob such as ``"responses/**/*.json"``
        (sorted; files named by their stem); a file; or a list of these (not stores mixed
        with files).  Paths must be readable where the workers run.
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
        positive integer; ``file_id`` has too few ids or repeats one.

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
    """
    dask_df = require("dask.dataframe", extra="dask", feature="dgtools.dask.read_store", package="dask")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f'on_error must be "raise" or "skip" on a cluster, not {on_error!r}')
    cols = _columns(table, columns)
    shards = resolve_shards(store_or_glob, shard_size=shard_size, file_id=file_id) or [[]]
    build = ShardTable(table, on_error)
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
    partitions.  Plain data only: it is pickled to the workers.

    Examples
    --------
    >>> from dgtools.tables.shards import file_sources
    >>> f = ShardTable("words", "skip")
    >>> f(file_sources("data/responses")[:1], columns=["word"]).shape
    (50, 1)
    >>> list(f.meta(["file_id", "word"]).columns)
    ['file_id', 'word']
    """

    def __init__(self, table: str, on_error: Literal["raise", "skip"]) -> None:
        self.table = table
        self.on_error: Literal["raise", "skip"] = on_error

    def meta(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The empty frame of these columns (all by default), with their dtypes."""
        cols = _columns(self.table, columns)
        if self.table == "failures":
            return failures_frame(())[cols]
        return _frame(SCHEMAS[self.table].empty_table().select(cols))

    def __call__(self, shard: Sequence[FilePair], columns: Sequence[str] | None = None) -> pd.DataFrame:
        cols = _columns(self.table, columns)
        if self.table == "failures":
            _, failed = build_shard(shard, on_error="skip", tables=())
            return failures_frame(failed)[cols]
        tables, _ = build_shard(shard, on_error=self.on_error, tables=[self.table], columns=cols)
        return _frame(tables[self.table])


def _frame(table: Any) -> pd.DataFrame:
    """A pyarrow Table as :func:`dgtools.to_tables` makes its frames: Arrow-backed dtypes, RangeIndex."""
    df: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
    df.index = pd.RangeIndex(len(df))
    return df


def resolve_shards(
    source: StoreInput, *, shard_size: int = SHARD_SIZE, file_id: str | Sequence[str] | None = None
) -> list[list[FilePair]]:
    """The ``(path, file_id)`` pairs of ``source``, cut into shards of ``shard_size`` in input order.

    What :func:`read_store` and :func:`dgtools.dask.write_dataset` build their tasks from (see
    :func:`read_store` for what ``source`` may be).  An empty source gives no shards.

    Examples
    --------
    >>> [len(s) for s in resolve_shards("data/responses", shard_size=4)]
    [4, 2]
    >>> resolve_shards("data/responses/*.jsonl")
    [[('data/responses/live_session.jsonl', 'live_session')]]
    """
    items: list[Any] = [source] if isinstance(source, (Store, str, os.PathLike)) else list(source)
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


def _store_pairs(stores: list[Store | str | os.PathLike[str]]) -> tuple[list[str], list[str]]:
    """The response paths of stores and their file ids, each its own (``dgtools tables STORE``'s)."""
    paths: list[str] = []
    ids: list[str] = []
    taken: set[str] = set()
    for store in stores:
        for path, fid in store_sources(store):
            given, n = fid, 2
            while given in taken:
                given, n = f"{fid}#{n}", n + 1
            if given != fid:
                warnings.warn(
                    f"{fid} has more than one response in the store (other options?); the tables call it {given}",
                    DGToolsWarning,
                    stacklevel=3,
                )
            taken.add(given)
            paths.append(os.fspath(path))
            ids.append(given)
    return paths, ids


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
