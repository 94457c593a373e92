"""dgtools tables on Spark: :func:`flatten` (a column of JSON responses) and :func:`read_store`.

Both run :meth:`pyspark.sql.DataFrame.mapInArrow`: each Arrow record batch of the input is
flattened on an executor by dgtools' own builder (:class:`dgtools.tables.TableBuilder`, or
:func:`dgtools.tables.build.build_shard` for files, as :func:`dgtools.dask.read_store` does), and
the table asked for comes back as record batches with exactly its dgtools Arrow schema.  The Spark
schema of the result is converted from that Arrow schema (:func:`spark_schema`), so
``result.toArrow()`` has the table's columns, in order, with the same types.  An input that is not
a usable response never fails the job: it is left out of every table, and ``table="failures"``
lists it (``file_id``, ``path``, ``key_path``, ``message``), as :attr:`dgtools.Tables.failures`.

Spark is optional (``pip install 'dgtools[spark]'``, plus a Java 17+ runtime) and imported when a
function is called.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ._extras import require
from .exceptions import ConfigError, ResponseFormatError, SchemaError
from .tables.build import TableBuilder, build_shard
from .tables.failures import FAILURE_COLUMNS, Failure, failure_from
from .tables.read import decode_bytes
from .tables.schema import SCHEMAS, TABLE_NAMES
from .tables.shards import FilePair, split
from .tables.wire import is_stream_message

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

    from .dask.read import StoreInput

__all__ = ["arrow_schema", "flatten", "read_store", "spark_schema"]

#: The Arrow schema of ``table="failures"``: four strings, only ``message`` never null.
FAILURES_SCHEMA = pa.schema(
    [pa.field(name, pa.string(), nullable=name != "message") for name in FAILURE_COLUMNS]
)

#: Words built before the rows so far leave an executor as record batches (memory stays bounded).
BATCH_WORDS = 65_536

#: Response files per build on an executor in :func:`read_store` (as Dask's shard size).
SHARD_SIZE = 64

# pyspark warns about pandas >= 3 whenever a pandas or Arrow UDF is declared; mapInArrow hands
# Arrow batches to Python and never touches pandas, so the warning does not apply here.
_PANDAS_WARNING = "PySpark does not yet fully support pandas"


def flatten(
    df: DataFrame,
    table: str = "words",
    *,
    column: str = "json",
    file_id_column: str | None = None,
    batch_words: int = BATCH_WORDS,
) -> DataFrame:
    """One dgtools table of a Spark DataFrame of Deepgram JSON responses, one response per row.

    Each row's JSON (a pre-recorded ``/v1/listen`` or ``/v1/read`` response, a channel fragment,
    one streaming message, or a JSON array of one stream's messages) is flattened on the
    executors by dgtools' builder, exactly as :func:`dgtools.to_tables` flattens the same
    response: same rows, same values, same Arrow types.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One response per row, as a JSON string (or binary) in ``column``.
    table : str, default "words"
        A dgtools table name (:data:`dgtools.Tables.names`), or ``"failures"``: the rows left out.
    column : str, default "json"
        The column holding the JSON.
    file_id_column : str, optional
        A column holding each response's ``file_id`` (a null falls back as below).  Without one
        a response is named by its ``request_id``, as :func:`dgtools.to_tables` names an
        in-memory response; a response without a ``request_id`` (a channel fragment, some
        streaming captures) is then a failure, since the ``response-<n>`` counter of
        ``to_tables`` cannot be kept across executors.  Ids must be unique: a repeat is only
        renamed ``<id>#2`` when it meets the first one in the same partition.
    batch_words : int, default 65_536
        Rows leave the executor as a record batch every this many words.

    Returns
    -------
    pyspark.sql.DataFrame
        The table, with the Spark schema :func:`spark_schema` of its Arrow schema
        (``toArrow()`` gives back the dgtools Arrow types).  Row order follows the input's
        partitions; sort before comparing.

    Raises
    ------
    MissingDependencyError
        pyspark is not installed.
    SchemaError
        ``table`` is not a dgtools table or ``"failures"``.
    ConfigError
        ``column`` or ``file_id_column`` is not a column of ``df``; ``batch_words`` is not a
        positive integer.

    Examples
    --------
    >>> from dgtools.spark import flatten                       # doctest: +SKIP
    >>> df = spark.read.text("responses/*.json", wholetext=True).withColumnRenamed("value", "json")  # doctest: +SKIP
    >>> words = flatten(df, "words")                            # doctest: +SKIP
    >>> words.groupBy("speaker").avg("confidence").show()       # doctest: +SKIP
    >>> flatten(df, "failures").show(truncate=False)            # doctest: +SKIP
    """
    require("pyspark", extra="spark", feature="dgtools.spark.flatten")
    if isinstance(batch_words, bool) or not isinstance(batch_words, int) or batch_words < 1:
        raise ConfigError(f"batch_words must be a positive integer, not {batch_words!r}")
    schema = _table_schema(table)
    wanted = [column] if file_id_column is None else [column, file_id_column]
    for name in wanted:
        if name not in df.columns:
            raise ConfigError(
                f"the DataFrame has no column {name!r} (its columns: {', '.join(df.columns)}); "
                "pass column= (the JSON) and file_id_column= to name yours"
            )
    rows = df.select(*wanted)
    return _map_in_arrow(rows, _JsonRows(table, file_id_column is not None, batch_words), schema)


def read_store(
    spark: SparkSession,
    store_or_glob: StoreInput,
    table: str = "words",
    *,
    shard_size: int = SHARD_SIZE,
    file_id: str | Sequence[str] | None = None,
) -> DataFrame:
    """One dgtools table of a store (or of response files), as a Spark DataFrame.

    The files and their ids are listed on the driver as :func:`dgtools.dask.read_store` lists
    them (a store's responses named by their audio; files by their path in the folder, or their
    stem); each executor reads its files and builds them with
    :func:`dgtools.tables.build.build_shard`, ``shard_size`` files at a time.  The paths must be
    readable where the executors run.  Bad files are left out and listed by ``table="failures"``.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    store_or_glob : Store, str, os.PathLike or list of these
        As for :func:`dgtools.dask.read_store`.
    table : str, default "words"
        A dgtools table name, or ``"failures"``.
    shard_size : int, default 64
        Files built together on an executor.
    file_id : str or sequence of str, optional
        The ids of the files (not for a store), as for :func:`dgtools.to_tables`.

    Returns
    -------
    pyspark.sql.DataFrame
        Sorted, it equals ``dgtools.to_tables(...)[table]`` of the same files.

    Raises
    ------
    MissingDependencyError
        pyspark is not installed.
    SchemaError
        ``table`` is not a dgtools table or ``"failures"``.
    ConfigError
        As for :func:`dgtools.dask.read_store`.

    Examples
    --------
    >>> from dgtools.spark import read_store                         # doctest: +SKIP
    >>> read_store(spark, "store/", "turns").groupBy("speaker").count().show()  # doctest: +SKIP
    """
    require("pyspark", extra="spark", feature="dgtools.spark.read_store")
    from .dask.read import resolve_shards

    schema = _table_schema(table)
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ConfigError(f"shard_size must be a positive integer, not {shard_size!r}")
    pairs = [
        pair
        for shard in resolve_shards(store_or_glob, shard_size=shard_size, file_id=file_id)
        for pair in shard
    ]
    files = spark.createDataFrame([(os.fspath(p), f) for p, f in pairs], "path string, file_id string")
    parts = max(1, -(-len(pairs) // shard_size))
    return _map_in_arrow(files.repartition(parts), _FileRows(table, shard_size), schema)


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark schema of an Arrow schema of dgtools' tables (nullability kept).

    Strings, 64-bit integers, doubles, booleans, microsecond timestamps (with a time zone:
    ``TimestampType``; without: ``TimestampNTZType``), lists, maps and structs of these.

    Raises
    ------
    SchemaError
        A field has a type with no Spark equivalent here (the message names the field).

    Examples
    --------
    >>> from dgtools.spark import spark_schema                          # doctest: +SKIP
    >>> from dgtools.tables.schema import schema_for
    >>> spark_schema(schema_for("words"))["speaker"].dataType           # doctest: +SKIP
    LongType()
    """
    require("pyspark", extra="spark", feature="dgtools.spark.spark_schema")
    from pyspark.sql import types as T

    return T.StructType([T.StructField(f.name, _spark_type(f.type, f.name), f.nullable) for f in schema])


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a table of :func:`flatten`: a dgtools table's, or the failures'.

    Examples
    --------
    >>> from dgtools.spark import arrow_schema
    >>> arrow_schema("failures").names
    ['file_id', 'path', 'key_path', 'message']
    >>> arrow_schema("words").field("speaker").type
    DataType(int64)
    """
    return _table_schema(table)


def _table_schema(table: str) -> pa.Schema:
    if table == "failures":
        return FAILURES_SCHEMA
    if table not in TABLE_NAMES:
        raise SchemaError(
            f"{table!r} is not a dgtools table; give one of {', '.join(TABLE_NAMES)}, or 'failures'",
            table=table,
        )
    return SCHEMAS[table]


def _spark_type(t: pa.DataType, where: str) -> DataType:
    """The Spark type of one Arrow type; ``where`` names the field in the error."""
    from pyspark.sql import types as T

    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return T.StringType()
    if pa.types.is_int64(t):
        return T.LongType()
    if pa.types.is_int32(t):
        return T.IntegerType()
    if pa.types.is_float64(t):
        return T.DoubleType()
    if pa.types.is_boolean(t):
        return T.BooleanType()
    if pa.types.is_timestamp(t) and t.unit == "us":
        return T.TimestampType() if t.tz is not None else T.TimestampNTZType()
    if pa.types.is_map(t):
        return T.MapType(
            _spark_type(t.key_type, f"{where}.key"),
            _spark_type(t.item_type, f"{where}.value"),
            t.item_field.nullable,
        )
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return T.ArrayType(_spark_type(t.value_type, f"{where}[]"), t.value_field.nullable)
    if pa.types.is_struct(t):
        return T.StructType(
            [T.StructField(f.name, _spark_type(f.type, f"{where}.{f.name}"), f.nullable) for f in t]
        )
    raise SchemaError(
        f"column {where!r} has Arrow type {t}, which dgtools.spark cannot map to a Spark type; "
        "add it to dgtools.spark._spark_type"
    )


def _map_in_arrow(df: DataFrame, fn: Any, schema: pa.Schema) -> DataFrame:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _PANDAS_WARNING, FutureWarning)
        out: DataFrame = df.mapInArrow(fn, spark_schema(schema))
    return out


class _JsonRows:
    """The mapInArrow function of :func:`flatten` (plain data: it is pickled to the executors)."""

    def __init__(self, table: str, with_ids: bool, batch_words: int) -> None:
        self.table = table
        self.with_ids = with_ids
        self.batch_words = batch_words

    def __call__(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        builder = TableBuilder(batch_words=self.batch_words)
        failures: list[Failure] = []
        for batch in batches:
            texts = batch.column(0).to_pylist()
            ids = batch.column(1).to_pylist() if self.with_ids else [None] * len(texts)
            for text, fid in zip(texts, ids, strict=True):
                failure = _add_json(builder, text, fid)
                if failure is not None:
                    failures.append(failure)
                if self.table != "failures" and builder.total_words >= self.batch_words:
                    yield from builder.finish()[self.table].to_batches()
            if self.table == "failures" and failures:
                yield _failures_batch(failures)
                failures = []
        if self.table != "failures":
            yield from builder.finish()[self.table].to_batches()


def _add_json(builder: TableBuilder, text: str | bytes | None, fid: str | None) -> Failure | None:
    """Add one row's response to ``builder``; the :class:`Failure` when it cannot be used."""
    rid = None
    try:
        if text is None:
            raise ResponseFormatError("the JSON column is null; expected a Deepgram response")
        decoded = decode_bytes(text.encode() if isinstance(text, str) else text, None)
        if isinstance(decoded, list) and decoded and all(r.results is not None for r in decoded):
            raise ResponseFormatError(
                "is a JSON list of whole responses; put one response per row "
                "(or one stream's messages as a JSON list)"
            )
        rid = _request_id(decoded)
        if fid is None and rid is None and _is_response(decoded):
            raise ResponseFormatError(
                "has no request_id to name it by; pass file_id_column= (a column of file ids) to flatten"
            )
        builder.add(decoded, fid)
    except ResponseFormatError as exc:
        return failure_from(exc, fid if fid is not None else rid, None)
    return None


def _is_response(decoded: Any) -> bool:
    """Whether the builder would take it (else it raises, saying what it is not)."""
    if isinstance(decoded, list):
        return True
    parts = (decoded.results, decoded.alternatives, decoded.search)
    return any(p is not None for p in parts) or bool(is_stream_message(decoded))


def _request_id(decoded: Any) -> str | None:
    """The request id dgtools' builder names a response or stream by (None: it has none)."""
    if not isinstance(decoded, list) and decoded.results is not None:
        return decoded.metadata.request_id if decoded.metadata is not None else None
    msgs = decoded if isinstance(decoded, list) else [decoded]
    for m in msgs:
        rid = getattr(m, "request_id", None) or (m.metadata.request_id if m.metadata is not None else None)
        if rid:
            return str(rid)
    return None


def _failures_batch(failures: Sequence[Failure]) -> pa.RecordBatch:
    columns = [pa.array([f[i] for f in failures], pa.string()) for i in range(len(FAILURE_COLUMNS))]
    return pa.RecordBatch.from_arrays(columns, schema=FAILURES_SCHEMA)


class _FileRows:
    """The mapInArrow function of :func:`read_store`: rows of ``(path, file_id)`` built in shards."""

    def __init__(self, table: str, shard_size: int) -> None:
        self.table = table
        self.shard_size = shard_size

    def __call__(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            pairs: list[FilePair] = list(
                zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)
            )
            for shard in split(pairs, self.shard_size):
                if self.table == "failures":
                    _, failed = build_shard(shard, on_error="skip", tables=())
                    if failed:
                        yield _failures_batch(failed)
                else:
                    tables, _ = build_shard(shard, on_error="skip", tables=[self.table])
                    yield from tables[self.table].to_batches()
