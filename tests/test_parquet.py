"""Parquet I/O: round trips, other readers (DuckDB, Polars), metadata and refusals."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_tables import assert_schema, flux_messages, full_response, simple, stream_messages

import dgtools
from conftest import FIXTURES, fixture_files, missing
from dgtools import SchemaError
from dgtools.tables import dataset_summary
from dgtools.tables.schema import SCHEMA_VERSION, SCHEMAS, TABLE_NAMES, columns_in

REJECTED_PREFIXES = ("speak_", "streaming_v2_")
REPO = Path(__file__).resolve().parents[1]
#: Golden files written by table schema version 1 (see tests/data/parquet/README.md); never regenerated.
GOLDEN_V1 = REPO / "tests" / "data" / "parquet" / "v1"
#: The tables schema version 1 had (version 2 added latency and turns_v2).
V1_TABLES = [name for name in TABLE_NAMES if columns_in(name, 1)]
#: Golden files written by table schema version 2, and what they were made of (make_v2.py).
GOLDEN_V2 = REPO / "tests" / "data" / "parquet" / "v2"
V2_SOURCES = [REPO / "data" / "responses", REPO / "tests" / "data" / "streams"]


def _fixture_paths() -> list[Path]:
    return [p for p in fixture_files() if not p.name.startswith(REJECTED_PREFIXES)]


def _handmade() -> list[Any]:
    empty = {"metadata": {"request_id": "empty"}, "results": {"channels": [{"alternatives": [
        {"transcript": "", "words": []}]}]}}  # fmt: skip
    read = {"metadata": {"request_id": "read", "created": "2024-01-30T15:29:38.662Z"},
            "results": {"summary": {"text": "A text."}}}  # fmt: skip
    return [full_response(), stream_messages(), empty, read, simple(5, request_id="plain"), flux_messages()]


@pytest.fixture(scope="module")
def handmade() -> dgtools.Tables:
    return dgtools.to_tables(_handmade())


def assert_tables_equal(a: dgtools.Tables, b: dgtools.Tables) -> None:
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


# --------------------------------------------------------------------------- round trips


def test_round_trip_handmade(handmade: dgtools.Tables, tmp_path: Path) -> None:
    assert all(len(df) for _, df in handmade.items())  # every table has rows, every type is exercised
    out = handmade.to_parquet(tmp_path / "out")
    assert out == tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.parquet" for n in TABLE_NAMES)
    back = dgtools.read_parquet(out)
    assert_schema(back)
    assert_tables_equal(back, handmade)


def test_round_trip_fixtures(tmp_path: Path) -> None:
    paths = _fixture_paths()
    if not paths:
        missing("fixtures", f"real Deepgram fixtures not found at {FIXTURES}")
    t = dgtools.to_tables(paths)
    t.to_parquet(tmp_path)
    assert_tables_equal(dgtools.read_parquet(tmp_path), t)


def test_round_trip_empty_tables(tmp_path: Path) -> None:
    t = dgtools.Tables()
    t.to_parquet(tmp_path)
    back = dgtools.read_parquet(tmp_path)
    assert_schema(back)
    assert_tables_equal(back, t)


def test_round_trip_empty_transcript(tmp_path: Path) -> None:
    t = dgtools.to_tables(_handmade()[2])
    t.to_parquet(tmp_path)
    back = dgtools.read_parquet(tmp_path)
    assert len(back.words) == 0 and len(back.requests) == 1
    assert_tables_equal(back, t)


def test_round_trip_keeps_nulls_and_nested_values(handmade: dgtools.Tables, tmp_path: Path) -> None:
    handmade.to_parquet(tmp_path)
    back = dgtools.read_parquet(tmp_path)
    r = back.requests.set_index("file_id")
    assert r.loc["req-1", "warnings"] == [{"type": "unsupported_language", "parameter": "language",
                                            "message": "fell back"}]  # fmt: skip
    assert dict(r.loc["req-1", "extra"]) == {"customer": "acme", "n": "3"}
    assert r.loc["req-1", "created"] == pd.Timestamp("2024-05-12T18:57:13.123Z")
    assert r.loc["plain", "tags"] is pd.NA
    w = back.words
    assert w[w["file_id"] == "plain"]["speaker"].isna().all()
    assert w["speaker"].dtype == pd.ArrowDtype(pa.int64())
    assert back.search_hits["hit_index"].isna().sum() == 1
    assert back.messages["channel_index"].iloc[0] == [0, 1]


def test_read_only_some_tables(handmade: dgtools.Tables, tmp_path: Path) -> None:
    handmade.to_parquet(tmp_path)
    back = dgtools.read_parquet(tmp_path, tables=["words", "turns"])
    pd.testing.assert_frame_equal(back.words, handmade.words)
    pd.testing.assert_frame_equal(back.turns, handmade.turns)
    assert len(back.requests) == 0 and list(back.requests.columns) == SCHEMAS["requests"].names
    one = dgtools.read_parquet(tmp_path, tables="words")
    pd.testing.assert_frame_equal(one.words, handmade.words)
    with pytest.raises(SchemaError, match="unknown table"):
        dgtools.read_parquet(tmp_path, tables=["wordz"])


def test_missing_table_file_reads_back_empty(handmade: dgtools.Tables, tmp_path: Path) -> None:
    handmade.to_parquet(tmp_path)
    (tmp_path / "turns.parquet").unlink()
    back = dgtools.read_parquet(tmp_path)
    assert len(back.turns) == 0
    pd.testing.assert_frame_equal(back.words, handmade.words)


def test_to_arrow_has_the_exact_schema(handmade: dgtools.Tables) -> None:
    for name in TABLE_NAMES:
        assert handmade.to_arrow(name).schema.equals(SCHEMAS[name]), name


# --------------------------------------------------------------------------- other readers


def test_duckdb_reads_the_files(handmade: dgtools.Tables, tmp_path: Path) -> None:
    handmade.to_parquet(tmp_path)
    con = duckdb.connect()
    for name in TABLE_NAMES:
        n = con.sql(f"select count(*) from read_parquet('{tmp_path / name}.parquet')").fetchall()
        assert n == [(len(handmade[name]),)], name
    rows = con.sql(
        f"select word, speaker, start from read_parquet('{tmp_path}/words.parquet') "
        "where file_id = 'req-1' and channel = 0 and alternative = 0 order by word_index"
    ).fetchall()
    assert rows[:3] == [("w0", 0, 0.0), ("w1", 0, 0.5), ("w2", 1, 1.0)]
    described = con.sql(f"describe select * from read_parquet('{tmp_path}/requests.parquet')").fetchall()
    types = {row[0]: row[1] for row in described}
    assert types["created"] == "TIMESTAMP WITH TIME ZONE"
    assert types["models"] == "VARCHAR[]"
    assert types["channels"] == "BIGINT"
    speakers = con.sql(
        f"select count(distinct speaker) from read_parquet('{tmp_path}/turns.parquet')"
    ).fetchall()
    assert speakers == [(handmade.turns["speaker"].nunique(),)]


def test_polars_reads_the_files(handmade: dgtools.Tables, tmp_path: Path) -> None:
    handmade.to_parquet(tmp_path)
    for name in TABLE_NAMES:
        df = pl.read_parquet(tmp_path / f"{name}.parquet")
        assert df.height == len(handmade[name]), name
        assert df.columns == SCHEMAS[name].names, name
    words = pl.read_parquet(tmp_path / "words.parquet")
    assert words.schema["speaker"] == pl.Int64 and words.schema["start"] == pl.Float64
    assert words["word"].to_list() == handmade.words["word"].tolist()
    assert words["speaker"].null_count() == int(handmade.words["speaker"].isna().sum())
    req = pl.read_parquet(tmp_path / "requests.parquet")
    assert req.schema["created"] == pl.Datetime("us", "UTC")
    assert req.filter(pl.col("file_id") == "req-1")["models"].to_list() == [
        [handmade.requests["models"].iloc[0][0]]
    ]


def test_dataset_layout_is_readable_by_duckdb_and_polars(tmp_path: Path) -> None:
    dgtools.write_dataset(_handmade(), tmp_path, batch_words=5)
    n = len(dgtools.to_tables(_handmade()).words)
    assert duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/words/*.parquet')").fetchall() == [(n,)]
    assert pl.scan_parquet(tmp_path / "words" / "*.parquet").select(pl.len()).collect().item() == n


# --------------------------------------------------------------------------- plain pandas


def _plain_values(s: pd.Series) -> list[Any]:
    """Values as plain Python objects, every null as None (to compare dtypes that spell them differently)."""
    return [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in s.tolist()]


def _kind_dtypes(field: pa.Field) -> tuple[str, ...]:
    """The dtypes plain ``pd.read_parquet`` may give a column of this Arrow type (README, Parquet section)."""
    if pa.types.is_integer(field.type):
        return ("Int64",)
    if pa.types.is_boolean(field.type):
        return ("boolean",)
    return ()


@pytest.mark.parametrize("layout", ["files", "dataset"])
def test_plain_pandas_read_restores_nullable_integers(tmp_path: Path, layout: str) -> None:
    """pd.read_parquet without options: no int64 column of the schema comes back as float64."""
    t = dgtools.to_tables(REPO / "data" / "responses")
    if layout == "files":
        t.to_parquet(tmp_path)
        paths = {name: tmp_path / f"{name}.parquet" for name in TABLE_NAMES}
    else:
        dgtools.write_dataset(REPO / "data" / "responses", tmp_path, batch_words=60)
        assert len(_parts(tmp_path, "words")) > 1
        paths = {name: tmp_path / name for name in TABLE_NAMES}  # pandas reads a folder of parts
    assert t.words["speaker"].isna().any() and t.words["speaker"].notna().any()
    for name in TABLE_NAMES:
        plain = pd.read_parquet(paths[name])
        assert list(plain.columns) == SCHEMAS[name].names, name
        assert isinstance(plain.index, pd.RangeIndex) and len(plain) == len(t[name]), name
        for field in SCHEMAS[name]:
            col = plain[field.name]
            if pa.types.is_integer(field.type) or pa.types.is_boolean(field.type):
                assert str(col.dtype) in _kind_dtypes(field), (name, field.name, col.dtype)
                assert _plain_values(col) == _plain_values(t[name][field.name]), (name, field.name)
    words = pd.read_parquet(paths["words"])
    assert words["speaker"].dtype == pd.Int64Dtype()
    assert words["speaker"].dropna().tolist() == t.words["speaker"].dropna().tolist()
    assert words["speaker"].isna().sum() == t.words["speaker"].isna().sum()


def test_pandas_dtype_backends_read_the_files(tmp_path: Path) -> None:
    """dtype_backend="pyarrow" gives exactly the frames of dgtools.read_parquet; "numpy_nullable" Int64."""
    t = dgtools.to_tables(REPO / "data" / "responses")
    t.to_parquet(tmp_path)
    back = dgtools.read_parquet(tmp_path)
    for name in TABLE_NAMES:
        arrow = pd.read_parquet(tmp_path / f"{name}.parquet", dtype_backend="pyarrow")
        pd.testing.assert_frame_equal(arrow, back[name], check_exact=True, obj=name)
        nullable = pd.read_parquet(tmp_path / f"{name}.parquet", dtype_backend="numpy_nullable")
        for field in SCHEMAS[name]:
            if pa.types.is_integer(field.type):
                assert nullable[field.name].dtype == pd.Int64Dtype(), (name, field.name)


def test_pandas_metadata_changes_nothing_for_other_readers(tmp_path: Path) -> None:
    """The files of today (with pandas metadata) read in DuckDB and Polars exactly as the v1 files without it."""
    dgtools.to_tables(REPO / "data" / "responses").to_parquet(tmp_path)
    con = duckdb.connect()
    for name in V1_TABLES:  # the columns version 1 has; those added since are null here (no .timing file)
        assert b"pandas" in pq.read_schema(tmp_path / f"{name}.parquet").metadata, name
        assert b"pandas" not in pq.read_schema(GOLDEN_V1 / f"{name}.parquet").metadata, name
        new, old = tmp_path / f"{name}.parquet", GOLDEN_V1 / f"{name}.parquet"
        v1 = columns_in(name, 1)
        assert pl.read_parquet(new).select(v1).schema == pl.read_parquet(old).schema, name
        assert pl.read_parquet(new).select(v1).equals(pl.read_parquet(old)), name
        cols = ", ".join(f'"{c}"' for c in v1)
        new_rel, old_rel = (con.sql(f"select {cols} from read_parquet('{p}')") for p in (new, old))
        assert new_rel.types == old_rel.types and new_rel.fetchall() == old_rel.fetchall(), name


def test_plain_pandas_read_of_schema_version_1_files_gives_floats() -> None:
    """What the README says of files written before the pandas metadata: plain pandas guesses float64."""
    plain = pd.read_parquet(GOLDEN_V1 / "words.parquet")
    assert plain["speaker"].dtype == "float64"
    nullable = pd.read_parquet(GOLDEN_V1 / "words.parquet", dtype_backend="numpy_nullable")
    assert nullable["speaker"].dtype == "Int64"


# --------------------------------------------------------------------------- golden files of older versions


def test_reads_the_schema_version_1_golden_files() -> None:
    """Files written by schema version 1 read back as to_tables builds the same responses today.

    The dgtools metadata of the files holds the dgtools version that wrote them, so the
    comparison is on content: columns, dtypes and values, table by table.
    """
    assert sorted(p.name for p in GOLDEN_V1.iterdir() if p.suffix == ".parquet") == sorted(
        f"{name}.parquet" for name in V1_TABLES
    )
    for name in V1_TABLES:
        meta = json.loads(pq.read_schema(GOLDEN_V1 / f"{name}.parquet").metadata[b"dgtools"])
        assert (meta["schema_version"], meta["table"]) == (1, name)
    golden = dgtools.read_parquet(GOLDEN_V1)
    today = dgtools.to_tables(REPO / "data" / "responses")
    for name in V1_TABLES:
        assert len(today[name]), f"data/responses leaves {name} empty: the golden files would not test it"
        assert list(golden[name].columns) == list(today[name].columns), name
        assert golden[name].dtypes.equals(today[name].dtypes), name
        # version 2 added columns to messages (null here: live_session.jsonl has no .timing file)
        pd.testing.assert_frame_equal(golden[name], today[name], check_exact=True, obj=name)
    for name in set(TABLE_NAMES) - set(V1_TABLES):  # tables added since: no file, read back empty
        assert len(golden[name]) == 0 and list(golden[name].columns) == SCHEMAS[name].names, name
    assert_schema(golden)
    summary = today.summary()
    rows = {name: n if name in V1_TABLES else 0 for name, n in summary.rows.items()}
    assert dataset_summary(GOLDEN_V1) == dataclasses.replace(summary, rows=rows)


def test_reads_the_schema_version_2_golden_files() -> None:
    """Files written by schema version 2 (stream timing, latency, turns_v2) read back as to_tables builds them."""
    assert sorted(p.name for p in GOLDEN_V2.iterdir() if p.suffix == ".parquet") == sorted(
        f"{name}.parquet" for name in TABLE_NAMES
    )
    for name in TABLE_NAMES:
        meta = json.loads(pq.read_schema(GOLDEN_V2 / f"{name}.parquet").metadata[b"dgtools"])
        assert (meta["schema_version"], meta["table"]) == (2, name)
    golden = dgtools.read_parquet(GOLDEN_V2)
    today = dgtools.to_tables(V2_SOURCES)
    for name in TABLE_NAMES:
        assert len(today[name]), f"the v2 sources leave {name} empty: the golden files would not test it"
        assert golden[name].dtypes.equals(today[name].dtypes), name
        pd.testing.assert_frame_equal(golden[name], today[name], check_exact=True, obj=name)
    assert today.messages["received_at"].notna().any() and today.latency["latency"].notna().any()
    assert dataset_summary(GOLDEN_V2) == today.summary()


def test_a_version_1_file_with_columns_of_version_2_is_refused(tmp_path: Path) -> None:
    """An older version's file must have exactly that version's columns."""
    table = pq.read_table(GOLDEN_V2 / "messages.parquet")
    meta = json.loads(table.schema.metadata[b"dgtools"])
    tags = {**table.schema.metadata, b"dgtools": json.dumps({**meta, "schema_version": 1}).encode()}
    pq.write_table(table.replace_schema_metadata(tags), tmp_path / "messages.parquet")
    with pytest.raises(SchemaError, match=r"schema version 1\): missing \[\], unexpected \['sequence_id'"):
        dgtools.read_parquet(tmp_path)


# --------------------------------------------------------------------------- metadata and refusals


def test_file_metadata(handmade: dgtools.Tables, tmp_path: Path) -> None:
    handmade.to_parquet(tmp_path)
    for name in TABLE_NAMES:
        schema = pq.read_schema(tmp_path / f"{name}.parquet")
        meta = json.loads(schema.metadata[b"dgtools"])
        assert meta == {
            "schema_version": SCHEMA_VERSION,
            "table": name,
            "dgtools_version": dgtools.__version__,
        }
        assert schema.remove_metadata().equals(SCHEMAS[name].remove_metadata()), name


def test_foreign_parquet_is_refused(tmp_path: Path) -> None:
    handmade_words = dgtools.to_tables(simple()).words
    handmade_words.to_parquet(tmp_path / "words.parquet")  # plain pandas: no dgtools metadata
    with pytest.raises(SchemaError, match="not written by dgtools") as exc:
        dgtools.read_parquet(tmp_path)
    assert exc.value.table == "words" and exc.value.path == str(tmp_path / "words.parquet")


def _rewrite_metadata(path: Path, **changes: Any) -> None:
    t = pq.read_table(path)
    meta = json.loads(t.schema.metadata[b"dgtools"])
    meta.update(changes)
    pq.write_table(t.replace_schema_metadata({b"dgtools": json.dumps(meta).encode()}), path)


def test_newer_schema_version_is_refused(handmade: dgtools.Tables, tmp_path: Path) -> None:
    handmade.to_parquet(tmp_path)
    _rewrite_metadata(tmp_path / "words.parquet", schema_version=SCHEMA_VERSION + 1, dgtools_version="9.0")
    with pytest.raises(SchemaError, match="upgrade") as exc:
        dgtools.read_parquet(tmp_path)
    assert "9.0" in str(exc.value) and exc.value.path == str(tmp_path / "words.parquet")


def test_renamed_table_file_is_refused(handmade: dgtools.Tables, tmp_path: Path) -> None:
    handmade.to_parquet(tmp_path)
    (tmp_path / "turns.parquet").replace(tmp_path / "words.parquet")
    with pytest.raises(SchemaError, match="renamed"):
        dgtools.read_parquet(tmp_path)


def test_unreadable_metadata_is_refused(tmp_path: Path) -> None:
    t = pa.table({"a": [1]}).replace_schema_metadata({b"dgtools": b"{not json"})
    pq.write_table(t, tmp_path / "words.parquet")
    with pytest.raises(SchemaError, match="metadata"):
        dgtools.read_parquet(tmp_path)


def test_wrong_columns_in_a_dgtools_file(handmade: dgtools.Tables, tmp_path: Path) -> None:
    handmade.to_parquet(tmp_path)
    path = tmp_path / "words.parquet"
    t = pq.read_table(path)
    pq.write_table(t.drop_columns(["speaker"]).append_column("loudness", pa.array([1.0] * t.num_rows)), path)
    with pytest.raises(SchemaError) as exc:
        dgtools.read_parquet(tmp_path)
    assert "speaker" in str(exc.value) and "loudness" in str(exc.value)


def test_wrong_column_type_in_a_dgtools_file(handmade: dgtools.Tables, tmp_path: Path) -> None:
    handmade.to_parquet(tmp_path)
    path = tmp_path / "words.parquet"
    t = pq.read_table(path)
    i = t.schema.get_field_index("word")
    pq.write_table(t.set_column(i, "word", pa.array([[1]] * t.num_rows)), path)
    with pytest.raises(SchemaError, match="types"):
        dgtools.read_parquet(tmp_path)


def test_not_a_parquet_file(tmp_path: Path) -> None:
    (tmp_path / "words.parquet").write_text("nope")
    with pytest.raises(SchemaError, match="not a readable Parquet file"):
        dgtools.read_parquet(tmp_path)


def test_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no such folder"):
        dgtools.read_parquet(tmp_path / "absent")
    with pytest.raises(SchemaError, match="no dgtools Parquet files"):
        dgtools.read_parquet(tmp_path)


# --------------------------------------------------------------------------- writing bad tables


def _with_frame(t: dgtools.Tables, name: str, df: pd.DataFrame) -> dgtools.Tables:
    frames = {n: t[n] for n in TABLE_NAMES}
    frames[name] = df
    return dgtools.Tables(frames)


def test_extra_column_is_refused(handmade: dgtools.Tables, tmp_path: Path) -> None:
    words = handmade.words.assign(loudness=1.0)
    with pytest.raises(SchemaError, match="loudness") as exc:
        _with_frame(handmade, "words", words).to_parquet(tmp_path / "out")
    assert exc.value.table == "words"
    assert not (tmp_path / "out").exists()  # nothing was written


def test_missing_and_reordered_columns_are_refused(handmade: dgtools.Tables, tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="speaker"):
        _with_frame(handmade, "words", handmade.words.drop(columns="speaker")).to_parquet(tmp_path)
    cols = list(handmade.words.columns)
    with pytest.raises(SchemaError, match="order"):
        _with_frame(handmade, "words", handmade.words[cols[::-1]]).to_parquet(tmp_path)


def test_values_that_do_not_fit_are_refused(handmade: dgtools.Tables, tmp_path: Path) -> None:
    words = handmade.words.astype({"speaker": object})
    words.loc[0, "speaker"] = "alice"
    with pytest.raises(SchemaError, match="words"):
        _with_frame(handmade, "words", words).to_parquet(tmp_path)
    with pytest.raises(SchemaError, match="file_id"):
        _with_frame(handmade, "words", handmade.words.assign(file_id=None)).to_parquet(tmp_path)


def test_a_failed_write_leaves_earlier_files_alone(handmade: dgtools.Tables, tmp_path: Path) -> None:
    handmade.to_parquet(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    bad = _with_frame(dgtools.Tables(), "turns", handmade.turns.assign(extra=1))
    with pytest.raises(SchemaError):
        bad.to_parquet(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_filtered_frames_write_and_read(handmade: dgtools.Tables, tmp_path: Path) -> None:
    words = handmade.words[handmade.words["channel"] == 1]  # a non-default index
    _with_frame(handmade, "words", words).to_parquet(tmp_path)
    back = dgtools.read_parquet(tmp_path).words
    pd.testing.assert_frame_equal(back, words.reset_index(drop=True))


# --------------------------------------------------------------------------- write_dataset


def _parts(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in (folder / name).glob("*.parquet"))


def test_write_dataset_in_batches(tmp_path: Path) -> None:
    source = [*_handmade(), *(simple(8, request_id=f"r{i}", speakers=[i % 2] * 8) for i in range(5))]
    out = dgtools.write_dataset(source, tmp_path, batch_words=10)
    assert out == tmp_path
    parts = _parts(tmp_path, "words")
    assert len(parts) >= 4 and parts[0] == "part-00000.parquet"
    for name in TABLE_NAMES:
        assert _parts(tmp_path, name) == parts, name  # one part per batch for every table
    back = dgtools.read_parquet(tmp_path)
    assert_schema(back)
    assert_tables_equal(back, dgtools.to_tables(source))


def test_write_dataset_parts_never_split_a_file(tmp_path: Path) -> None:
    source = [simple(30, request_id=f"r{i}") for i in range(3)]
    dgtools.write_dataset(source, tmp_path, batch_words=7)
    for part in _parts(tmp_path, "words"):
        ids = pq.read_table(tmp_path / "words" / part)["file_id"].to_pylist()
        assert ids and len(set(ids)) == 1 and len(ids) == 30


def test_write_dataset_from_a_folder_of_fixtures(tmp_path: Path) -> None:
    paths = _fixture_paths()
    if not paths:
        missing("fixtures", f"real Deepgram fixtures not found at {FIXTURES}")
    dgtools.write_dataset(paths, tmp_path / "ds", batch_words=200)
    assert len(_parts(tmp_path / "ds", "words")) > 1
    assert_tables_equal(dgtools.read_parquet(tmp_path / "ds"), dgtools.to_tables(paths))


def test_write_dataset_from_tables(handmade: dgtools.Tables, tmp_path: Path) -> None:
    dgtools.write_dataset(handmade, tmp_path)
    assert _parts(tmp_path, "words") == ["part-00000.parquet"]
    assert_tables_equal(dgtools.read_parquet(tmp_path), handmade)


def test_write_dataset_of_nothing(tmp_path: Path) -> None:
    dgtools.write_dataset([], tmp_path)
    back = dgtools.read_parquet(tmp_path)
    assert_tables_equal(back, dgtools.Tables())


def test_write_dataset_replaces_old_parts(tmp_path: Path) -> None:
    dgtools.write_dataset([simple(8, request_id=f"r{i}") for i in range(6)], tmp_path, batch_words=8)
    assert len(_parts(tmp_path, "words")) == 6
    dgtools.write_dataset([simple(3, request_id="new")], tmp_path, batch_words=8)
    assert _parts(tmp_path, "words") == ["part-00000.parquet"]
    assert dgtools.read_parquet(tmp_path).requests["file_id"].tolist() == ["new"]


def test_switching_layouts_in_one_folder(handmade: dgtools.Tables, tmp_path: Path) -> None:
    """Each writer replaces the other layout, so read_parquet never reads both and doubles the rows."""
    handmade.to_parquet(tmp_path)
    small = dgtools.to_tables(simple(3, request_id="small"))
    dgtools.write_dataset(small, tmp_path)
    assert not (tmp_path / "words.parquet").exists()
    assert_tables_equal(dgtools.read_parquet(tmp_path), small)
    handmade.to_parquet(tmp_path)
    assert not (tmp_path / "words").exists()
    assert_tables_equal(dgtools.read_parquet(tmp_path), handmade)


def test_write_dataset_extra_column_is_refused(handmade: dgtools.Tables, tmp_path: Path) -> None:
    bad = _with_frame(handmade, "turns", handmade.turns.assign(mood="good"))
    with pytest.raises(SchemaError, match="mood"):
        dgtools.write_dataset(bad, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_write_dataset_bad_response_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text(json.dumps(simple(request_id="a")))
    (tmp_path / "in" / "b.json").write_text("{}")
    with pytest.raises(dgtools.ResponseFormatError) as exc:
        dgtools.write_dataset(tmp_path / "in", tmp_path / "out")
    assert exc.value.path == str(tmp_path / "in" / "b.json")


def test_write_dataset_numbers_responses_without_ids_as_to_tables_does(tmp_path: Path) -> None:
    source = [simple(6, request_id=None) for _ in range(4)]
    dgtools.write_dataset(source, tmp_path, batch_words=6)
    assert len(_parts(tmp_path, "words")) == 4
    back = dgtools.read_parquet(tmp_path)
    assert back.requests["file_id"].tolist() == [f"response-{i}" for i in range(4)]
    assert_tables_equal(back, dgtools.to_tables(source))


def test_write_dataset_bad_first_batch_leaves_the_folder_alone(tmp_path: Path) -> None:
    dgtools.write_dataset([simple(3, request_id="old")], tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(dgtools.ResponseFormatError):
        dgtools.write_dataset([simple(3, request_id="new"), {"nothing": "here"}], tmp_path, batch_words=100)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_dataset_summary_equals_the_tables_summary(tmp_path: Path) -> None:
    source = _handmade()
    expected = dgtools.to_tables(source).summary()
    dgtools.write_dataset(source, tmp_path / "ds", batch_words=5)
    assert len(_parts(tmp_path / "ds", "words")) > 1
    assert dataset_summary(tmp_path / "ds") == expected
    dgtools.to_tables(source).to_parquet(tmp_path / "single")
    assert dataset_summary(tmp_path / "single") == expected


# --------------------------------------------------------------------------- replacing an older output


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _no_temp_beside(folder: Path) -> None:
    """Nothing but ``folder`` (and what the test put there) in its parent, nothing hidden inside it."""
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []
    assert [p for p in folder.rglob(".*")] == []


def test_write_dataset_failing_midway_leaves_the_old_dataset_whole(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    dgtools.write_dataset([simple(8, request_id=f"old{i}") for i in range(6)], out, batch_words=8)
    before = _snapshot(out)
    assert len(_parts(out, "words")) == 6
    source = [simple(8, request_id="new0"), simple(8, request_id="new1"), {"not": "a response"}]
    with pytest.raises(dgtools.ResponseFormatError):
        dgtools.write_dataset(source, out, batch_words=8)  # fails after two parts were written
    assert _snapshot(out) == before
    _no_temp_beside(out)
    assert dgtools.read_parquet(out).requests["file_id"].tolist() == [f"old{i}" for i in range(6)]


def test_write_dataset_swaps_the_new_dataset_in_whole(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    dgtools.write_dataset([simple(8, request_id=f"old{i}") for i in range(6)], out, batch_words=8)
    out.chmod(0o750)
    dgtools.write_dataset([simple(3, request_id="new")], out)
    assert _parts(out, "words") == ["part-00000.parquet"]
    assert dgtools.read_parquet(out).requests["file_id"].tolist() == ["new"]
    assert out.stat().st_mode & 0o777 == 0o750  # the folder keeps its permissions
    _no_temp_beside(out)


def test_a_new_output_folder_gets_ordinary_permissions(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    for out in (dgtools.write_dataset([simple()], tmp_path / "a" / "ds"),
                dgtools.to_tables(simple()).to_parquet(tmp_path / "b" / "single")):  # fmt: skip
        assert out.stat().st_mode & 0o777 == 0o777 & ~umask
        _no_temp_beside(out)


def test_other_files_in_the_output_folder_are_kept(tmp_path: Path) -> None:
    """An output folder that also holds the user's own files: only dgtools' tables are replaced."""
    out = tmp_path / "work"
    write = out / "response.json"
    write.parent.mkdir()
    write.write_text(json.dumps(simple(request_id="mine")))
    (out / "notes.txt").write_text("keep me")
    dgtools.write_dataset(out, out, batch_words=2)
    assert dgtools.read_parquet(out).requests["file_id"].tolist() == ["response"]
    dgtools.to_tables(simple(request_id="b")).to_parquet(out)
    assert (out / "notes.txt").read_text() == "keep me" and write.is_file()
    assert dgtools.read_parquet(out).requests["file_id"].tolist() == ["b"]
    assert not (out / "words").exists()
    with pytest.raises(dgtools.ResponseFormatError):
        dgtools.write_dataset([simple(request_id="c"), {"bad": 1}], out, batch_words=1)
    assert dgtools.read_parquet(out).requests["file_id"].tolist() == ["b"]
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".parquet")) == [
        "notes.txt",
        "response.json",
    ]
    _no_temp_beside(out)


def test_to_parquet_failing_midway_leaves_the_old_files_whole(
    handmade: dgtools.Tables, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    handmade.to_parquet(out)
    (out / "turns.parquet").unlink()
    (out / "turns.parquet").mkdir()  # the last table cannot be put in place
    before = _snapshot(out)
    with pytest.raises(OSError):
        dgtools.to_tables(simple(3, request_id="new")).to_parquet(out)
    assert _snapshot(out) == before
    assert (out / "turns.parquet").is_dir()
    _no_temp_beside(out)
    with pytest.raises(pa.ArrowException, match="compression"):
        dgtools.to_tables(simple(3, request_id="new")).to_parquet(out, compression="no-such-codec")
    assert _snapshot(out) == before
    _no_temp_beside(out)


def test_write_dataset_into_a_symlinked_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    dgtools.write_dataset([simple(request_id="old")], real)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    dgtools.write_dataset([simple(request_id="new")], link)
    assert link.is_symlink()
    assert dgtools.read_parquet(real).requests["file_id"].tolist() == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_write_into_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--out .``: the folder the process (and the user's shell) is in is never renamed away."""
    out = tmp_path / "here"
    dgtools.write_dataset([simple(request_id="old")], out)
    monkeypatch.chdir(out)
    inode = out.stat().st_ino
    dgtools.write_dataset([simple(request_id="new")], ".")
    dgtools.to_tables(simple(request_id="newer")).to_parquet(".")
    assert Path.cwd().stat().st_ino == inode == out.stat().st_ino
    assert dgtools.read_parquet(".").requests["file_id"].tolist() == ["newer"]
    assert not (out / "words").exists()
    _no_temp_beside(out)
