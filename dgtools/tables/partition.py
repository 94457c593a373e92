"""Hive partitions of a dataset by a per-response key: ``<table>/model_name=nova-3/part-NNNNN.parquet``.

``partition_on=`` of :func:`dgtools.write_dataset` and :func:`dgtools.dask.write_dataset` splits
every table by values of the *response* a row belongs to, taken from its ``requests`` row, so a
partition holds whole responses in every table: ``words/model_name=nova-3/`` holds the words of
exactly the responses in ``requests/model_name=nova-3/``.  DuckDB (``hive_partitioning=true``),
Polars, pyarrow, Dask and Spark then read the key as a column of every table and skip the folders
a filter rules out; :func:`dgtools.read_parquet` reads the files as they are.

The keys (:func:`partition_keys`):

- a column of ``requests`` holding one string, integer or boolean per response that no other table
  has under another meaning (``model_name``, ``kind``, ``channels``, ``model_arch``, ...), other
  than those unique to a response (``file_id``, ``request_id``, ``sha256``) and token counts;
- ``date``: the UTC day of ``created`` (``2026-12-06``), a column of no table.

``language`` and ``n_words`` are refused: ``words.language`` is each word's language and
``n_words`` counts other things in other tables, and a Hive reader would put the request's value in
their place.  Every file keeps all of its table's columns (pyarrow, DuckDB, Polars, Dask and Spark
read a key that is also a column of the file), so each is a whole dgtools file.  A null value is
written as ``__HIVE_DEFAULT_PARTITION__`` (read back as null by pyarrow and Spark); other values are
percent-encoded (``urllib.parse.quote``), as pyarrow and Spark decode them.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa

from ..exceptions import ConfigError
from .schema import SCHEMAS

__all__ = ["DERIVED_KEYS", "NULL_VALUE", "folder_value", "partition_keys", "selector", "split"]

#: Keys that are no column of any table, and what each holds.
DERIVED_KEYS = {"date": "the UTC day of created, YYYY-MM-DD"}
#: The folder value of a null key (pyarrow's and Spark's default).
NULL_VALUE = "__HIVE_DEFAULT_PARTITION__"

_KINDS = (pa.types.is_string, pa.types.is_integer, pa.types.is_boolean)


def _allowed() -> list[str]:
    """The ``requests`` columns a dataset can be partitioned on, in schema order."""
    elsewhere = {c for name, s in SCHEMAS.items() if name != "requests" for c in s.names}
    unique = {"file_id", "request_id", "sha256"}  # one folder per response: no partition at all
    return [
        f.name
        for f in SCHEMAS["requests"]
        if any(kind(f.type) for kind in _KINDS)
        and f.name not in elsewhere | unique
        and not f.name.endswith("_tokens")
    ]


def partition_keys(partition_on: str | Sequence[str] | None, *, where: str) -> tuple[str, ...]:
    """``partition_on`` as a tuple of keys, checked; ``()`` for none.

    ``where`` names the argument in errors, as the user wrote it: ``"write_dataset(partition_on=)"``
    in Python, ``"--partition-on"`` on the command line.

    Raises
    ------
    ConfigError
        A key is not one :mod:`dgtools.tables.partition` allows, or repeats.

    Examples
    --------
    >>> partition_keys(["date", "model_name"], where="write_dataset(partition_on=)")
    ('date', 'model_name')
    >>> partition_keys("speaker", where="write_dataset(partition_on=)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: write_dataset(partition_on=): 'speaker' is not a key...
    """
    if partition_on is None:
        return ()
    keys = (partition_on,) if isinstance(partition_on, str) else tuple(partition_on)
    allowed = _allowed()
    for key in keys:
        if not isinstance(key, str) or (key not in allowed and key not in DERIVED_KEYS):
            why = ""
            if key in ("language", "n_words"):
                why = (
                    f" ({key} is also a column of other tables with another meaning, e.g. each word's, "
                    "and a Hive reader would put the request's value there)"
                )
            raise ConfigError(
                f"{where}: {key!r} is not a key{why}; use 'date' ({DERIVED_KEYS['date']}) "
                f"or a column of requests: {', '.join(allowed)}"
            )
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{where}: {list(keys)} names a key twice")
    return keys


def _segments(requests: pa.Table, key: str) -> list[str]:
    """The folder value of ``key`` for every response (row of ``requests``); ``date`` is ``created``'s (UTC) day."""
    column = "created" if key == "date" else key
    return [folder_value(v) for v in requests.column(column).to_pylist()]  # "" has no folder: null's


def split(tables: Mapping[str, pa.Table], keys: Sequence[str]) -> Iterator[tuple[str, dict[str, pa.Table]]]:
    """Every partition of one batch of tables: ``("date=2026-12-06/model_name=nova-3", tables)``.

    Each partition has every table (some maybe empty), rows in their batch order; partitions come in
    sorted order.  With no keys, the whole batch is one partition with the path ``""``.  A row whose
    ``file_id`` has no ``requests`` row goes to the null partition of every key.

    Raises
    ------
    ConfigError
        ``requests`` repeats a ``file_id``, so rows cannot be told apart.
    """
    if not keys:
        yield "", dict(tables)
        return
    requests = tables["requests"]
    file_ids = requests.column("file_id")
    if len(file_ids.unique()) != len(file_ids):
        raise ConfigError(
            "partition_on= needs one requests row per file_id, and these tables repeat one; "
            "build them with dgtools.to_tables(), which renames a repeated id <id>#2"
        )
    columns = [_segments(requests, key) for key in keys]
    per_response = [
        "/".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
        for values in zip(*columns, strict=True)
    ]
    orphan = "/".join(f"{k}={NULL_VALUE}" for k in keys)
    paths = sorted(set(per_response) | {orphan})
    code_of = {p: i for i, p in enumerate(paths)}
    # codes[i] is the partition of response i; the last entry, the orphans'
    codes = np.array([code_of[p] for p in per_response] + [code_of[orphan]], dtype=np.int64)
    pieces: dict[str, dict[str, pa.Table]] = {p: {} for p in paths}
    for name, table in tables.items():
        for path, piece in _pieces(table, file_ids, codes, paths):
            pieces[path][name] = piece
    for path in paths:
        if path != orphan or any(t.num_rows for t in pieces[path].values()):
            yield path, pieces[path]


def _pieces(
    table: pa.Table, file_ids: pa.ChunkedArray, codes: np.ndarray, paths: list[str]
) -> Iterator[tuple[str, pa.Table]]:
    """``table`` cut by partition, keeping row order within each."""
    import pyarrow.compute as pc

    index = pc.index_in(table.column("file_id"), value_set=file_ids)
    row_codes = codes[index.fill_null(len(codes) - 1).to_numpy(zero_copy_only=False)]
    order = np.argsort(row_codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(row_codes, minlength=len(paths)))])
    ordered = table.take(pa.array(order)) if len(order) else table
    for i, path in enumerate(paths):
        yield path, ordered.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i]))


def folder_value(value: Any) -> str:
    """How a key's value is named in a folder (as :func:`split` names it): ``2025-09-18``, ``true``, ``a%2Fb``.

    Examples
    --------
    >>> import datetime
    >>> folder_value(datetime.date(2025, 9, 18)), folder_value(True), folder_value("a/b"), folder_value(None)
    ('2025-09-18', 'true', 'a%2Fb', '__HIVE_DEFAULT_PARTITION__')
    """
    if value is None:
        return NULL_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return quote(str(value), safe="") or NULL_VALUE


def selector(partitions: Mapping[str, Any] | None, *, where: str) -> Callable[[Sequence[str]], bool] | None:
    """Whether a part file's folders (``["date=2025-09-18", "kind=streaming"]``) are among ``partitions``.

    ``partitions`` maps a key to a value or a list of values (``{"date": ["2025-09-18",
    "2025-09-19"]}``); a file is selected when every key given has one of its values.  None: no
    selection.  The returned function raises :class:`ConfigError` for a file that has no folder of
    a key given (the dataset is not partitioned on it).

    Examples
    --------
    >>> pick = selector({"date": ["2025-09-18", "2025-09-19"]}, where="read_parquet(partitions=)")
    >>> pick(["date=2025-09-18", "kind=streaming"]), pick(["date=2025-09-20"])
    (True, False)
    """
    if partitions is None:
        return None
    if not isinstance(partitions, Mapping) or not partitions:
        raise ConfigError(f"{where}: give a mapping of keys to values, e.g. {{'date': '2025-09-18'}}")
    wanted: dict[str, set[str]] = {}
    for key, value in partitions.items():
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        wanted[str(key)] = {folder_value(v) for v in values}

    def pick(folders: Sequence[str]) -> bool:
        have = dict(f.split("=", 1) for f in folders if "=" in f)
        missing = [key for key in wanted if key not in have]
        if missing:
            keys = ", ".join(have) or "none: it is not partitioned"
            raise ConfigError(
                f"{where}: the dataset has no partitions by {missing[0]!r} (its keys: {keys}); "
                "partition it with write_dataset(partition_on=...)"
            )
        return all(have[key] in values for key, values in wanted.items())

    return pick
