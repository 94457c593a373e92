"""dgtools.spark.flatten / read_store on a real local Spark (``local[2]``), against dgtools.to_tables.

Needs pyspark (``pip install 'dgtools[spark]'``) and a Java 17+ runtime; skipped without them
(failed instead under ``DGTOOLS_REQUIRE=spark``).  One SparkSession for the module, without UI
or network beyond the loopback Spark itself uses.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import dgtools
from conftest import DATA, fixture_files, missing
from dgtools.exceptions import ConfigError, SchemaError
from dgtools.tables import frame_to_arrow
from dgtools.tables.schema import SCHEMAS, TABLE_NAMES

pytestmark = pytest.mark.spark

RESPONSES = DATA / "responses"


def _need_spark() -> None:
    why = None
    if importlib.util.find_spec("pyspark") is None:
        why = "pyspark is not installed: pip install 'dgtools[spark]'"
    elif shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        why = "no Java runtime for Spark: apt-get install openjdk-17-jre-headless"
    if why is not None:
        missing("spark", why)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local[2] SparkSession for the module, stopped at the end."""
    _need_spark()
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only, whatever the host name resolves to
        session = _session(SparkSession)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _session(SparkSession: Any) -> Any:
    return (
        SparkSession.builder.master("local[2]")
        .appName("dgtools-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "512m")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")  # toArrow() timestamps in UTC, as dgtools'
        .getOrCreate()
    )


def _row_json(path: Path) -> str:
    """One row's JSON: the file, or a .jsonl capture as a JSON array of its messages (one stream)."""
    text = path.read_text()
    if path.suffix == ".jsonl":
        return "[" + ",".join(line for line in text.splitlines() if line.strip()) + "]"
    return text


@pytest.fixture(scope="module")
def sources() -> list[Path]:
    """data/responses and the real pre-recorded Deepgram fixtures."""
    real = fixture_files(("prerecorded_",))
    if not real:
        missing("fixtures", "real Deepgram fixtures not found (prerecorded_*.json)")
    return sorted(p for p in RESPONSES.iterdir() if p.suffix in (".json", ".jsonl")) + real


def _sorted(table: pa.Table) -> pa.Table:
    """Rows in a canonical order: by every column that can be sorted, then by the rest as text."""
    keys = [
        (f.name, "ascending")
        for f in table.schema
        if not (pa.types.is_list(f.type) or pa.types.is_map(f.type) or pa.types.is_struct(f.type))
    ]
    return table.sort_by(keys) if table.num_rows else table


def _same(got: pa.Table, want: pa.Table, name: str) -> None:
    schema = SCHEMAS[name]
    assert got.schema.equals(schema), (name, got.schema)  # same names, types and nullability
    assert _sorted(got.cast(schema)).equals(_sorted(want)), name


def test_flatten_equals_to_tables_for_every_table(spark: Any, sources: list[Path]) -> None:
    from dgtools.spark import flatten

    expected = dgtools.to_tables([str(p) for p in sources], file_id=[p.stem for p in sources])
    rows = [(_row_json(p), p.stem) for p in sources]
    df = spark.createDataFrame(rows, "body string, name string")  # two partitions (local[2])
    for name in TABLE_NAMES:
        got = flatten(df, name, column="body", file_id_column="name", batch_words=500).toArrow()
        _same(got, frame_to_arrow(expected[name], name), name)
    assert len(expected.words) > 5_000  # the real fixtures are in there
    assert flatten(df, "failures", column="body", file_id_column="name").count() == 0


def test_flatten_names_responses_by_request_id_as_to_tables(spark: Any) -> None:
    from dgtools.spark import flatten

    paths = sorted(p for p in RESPONSES.iterdir() if p.suffix in (".json", ".jsonl"))
    objects = [json.loads(_row_json(p)) for p in paths]
    expected = dgtools.to_tables(objects)  # in-memory responses: named by their request_id
    df = spark.createDataFrame([(_row_json(p),) for p in paths], "json string")
    for name in ("requests", "words", "turns"):
        _same(flatten(df, name).toArrow(), frame_to_arrow(expected[name], name), name)
    ids = {r["file_id"] for r in flatten(df, "requests").select("file_id").collect()}
    assert ids == set(expected.requests["file_id"]) and len(ids) == len(paths)


def test_bad_rows_go_to_the_failures_table(spark: Any) -> None:
    from dgtools.spark import arrow_schema, flatten

    good = (RESPONSES / "podcast_mono.json").read_text()
    inverted = json.loads(good)
    word = inverted["results"]["channels"][0]["alternatives"][0]["words"][3]
    word["end"] = word["start"] - 0.1
    rows = [
        (good, "good"),
        ("{not json", "broken"),
        ('{"hello": 1}', "alien"),
        (json.dumps(inverted), "inverted"),
        (None, "null"),
    ]
    df = spark.createDataFrame(rows, "json string, id string")
    failures = flatten(df, "failures", file_id_column="id").toArrow()
    assert failures.schema.equals(arrow_schema("failures"))
    by_id = {r["file_id"]: r for r in failures.to_pylist()}
    assert sorted(by_id) == ["alien", "broken", "inverted", "null"]
    assert "is not valid JSON" in by_id["broken"]["message"]
    assert "not a Deepgram response" in by_id["alien"]["message"]
    assert by_id["inverted"]["key_path"] == "results.channels[0].alternatives[0].words[3]"
    assert "null" in by_id["null"]["message"] and all(r["path"] is None for r in by_id.values())
    words = flatten(df, "words", file_id_column="id").toArrow()
    want = dgtools.to_tables(RESPONSES / "podcast_mono.json", file_id="good").words
    _same(words, frame_to_arrow(want, "words"), "words")  # the bad rows are in no table


def test_a_response_without_request_id_needs_file_ids(spark: Any) -> None:
    from dgtools.spark import flatten

    fragment = {"alternatives": [{"transcript": "hi", "words": [{"word": "hi", "start": 0, "end": 1}]}]}
    df = spark.createDataFrame([(json.dumps(fragment), None)], "json string, id string")
    (failure,) = flatten(df, "failures").collect()
    assert "file_id_column" in failure["message"]
    alien = spark.createDataFrame([('{"hello": 1}',)], "json string")
    assert "not a Deepgram response" in flatten(alien, "failures").first()["message"]
    named = spark.createDataFrame([(json.dumps(fragment), "frag")], "json string, id string")
    assert [r["file_id"] for r in flatten(named, "words", file_id_column="id").collect()] == ["frag"]


def test_read_store_equals_to_tables(spark: Any, tmp_path: Path) -> None:
    from dgtools.spark import read_store

    for p in RESPONSES.iterdir():
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "zz_broken.json").write_text("{")
    expected = dgtools.to_tables(tmp_path, on_error="skip")
    for name in ("requests", "words", "turns"):
        got = read_store(spark, tmp_path, name, shard_size=2).toArrow()
        _same(got, frame_to_arrow(expected[name], name), name)
    (failure,) = read_store(spark, tmp_path, "failures").collect()
    assert failure["file_id"] == "zz_broken" and failure["path"] == str(tmp_path / "zz_broken.json")


def test_errors_are_one_line_and_name_the_fix(spark: Any) -> None:
    from dgtools.spark import flatten, spark_schema

    df = spark.createDataFrame([("{}",)], "body string")
    with pytest.raises(ConfigError, match=r"no column 'json'.*column="):
        flatten(df, "words")
    with pytest.raises(SchemaError, match="'word' is not a dgtools table"):
        flatten(df, "word", column="body")
    with pytest.raises(SchemaError, match="column 'x' has Arrow type dictionary"):
        spark_schema(pa.schema([("x", pa.dictionary(pa.int32(), pa.string()))]))
    types = spark_schema(SCHEMAS["requests"])
    assert types["file_id"].nullable is False
    assert types["created"].dataType.typeName() == "timestamp"
    assert types["extra"].dataType.simpleString() == "map<string,string>"
    assert types["warnings"].dataType.simpleString() == (
        "array<struct<type:string,parameter:string,message:string>>"
    )
