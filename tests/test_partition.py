"""write_dataset(partition_on=): Hive partitions by a key of each response, read by dgtools and by DuckDB,
Polars and pyarrow; replacing and being replaced by the other layouts."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as pads
import pytest

import dgtools
from conftest import DATA, fixture_files, missing
from dgtools.exceptions import ConfigError
from dgtools.tables import dataset_summary

RESPONSES = DATA / "responses"
KEYS = {
    "requests": ["file_id"],
    "words": ["file_id", "channel", "alternative", "word_index"],
    "utterances": ["file_id", "utterance_index"],
    "messages": ["file_id", "seq"],
}


@pytest.fixture(scope="module")
def sources() -> list[str]:
    """data/responses and the real pre-recorded Deepgram fixtures: six models, many days."""
    real = fixture_files(("prerecorded_",))
    if not real:
        missing("fixtures", "real Deepgram fixtures not found (prerecorded_*.json)")
    return [str(RESPONSES), *map(str, real)]


@pytest.fixture(scope="module")
def built(sources: list[str]) -> dgtools.Tables:
    return dgtools.to_tables(sources)


def _sorted(df: pd.DataFrame, name: str) -> pd.DataFrame:
    key = KEYS.get(name) or [c for c in ("file_id", "channel", "start", "end") if c in df.columns]
    return df.sort_values(key, kind="stable").reset_index(drop=True)


def _files(out: Path, table: str) -> list[str]:
    return sorted(str(p.relative_to(out / table)) for p in (out / table).rglob("*.parquet"))


def test_every_table_is_split_by_the_day_of_each_response(
    sources: list[str], built: dgtools.Tables, tmp_path: Path
) -> None:
    out = dgtools.write_dataset(sources, tmp_path / "out", partition_on="date")
    days = sorted(built.requests["created"].dt.strftime("%Y-%m-%d").unique())
    assert len(days) > 5
    want = [f"date={d}/part-00000.parquet" for d in days]
    for name in built.names:
        assert _files(out, name) == want, name  # every table has a file in every partition
    back = dgtools.read_parquet(out)
    for name in built.names:
        assert list(back[name].dtypes) == list(built[name].dtypes), name
        assert _sorted(back[name], name).equals(_sorted(built[name], name)), name
    assert dataset_summary(out) == built.summary()
    # a partition holds whole responses: its words are those of its requests, and only those
    for day in days:
        requests = pd.read_parquet(out / "requests" / f"date={day}")
        words = pd.read_parquet(out / "words" / f"date={day}")
        assert set(requests["created"].dt.strftime("%Y-%m-%d")) == {day}
        expected = built.words[built.words["file_id"].isin(set(requests["file_id"]))]
        assert sorted(words["file_id"].unique()) == sorted(expected["file_id"].unique()), day
        assert len(words) == len(expected), day


def test_duckdb_polars_and_pyarrow_read_the_key_as_a_column(
    sources: list[str], built: dgtools.Tables, tmp_path: Path
) -> None:
    out = dgtools.write_dataset(
        sources, tmp_path / "out", partition_on=["kind", "model_name"], batch_words=2000
    )
    names = built.requests.set_index("file_id")["model_name"]
    expected = built.words.assign(model_name=built.words["file_id"].map(names))
    per_model = expected.groupby("model_name").size().to_dict()
    got = duckdb.sql(
        f"select model_name, count(*) from read_parquet('{out}/words/**/*.parquet', hive_partitioning=true) "
        "group by model_name"
    ).fetchall()
    assert dict(got) == per_model
    nova = duckdb.sql(
        f"select file_id, word from read_parquet('{out}/words/**/*.parquet', hive_partitioning=true) "
        "where model_name = '2-general-nova' order by file_id, channel, word_index"
    ).df()
    want = expected[expected["model_name"] == "2-general-nova"].sort_values(
        ["file_id", "channel", "word_index"]
    )
    assert nova["word"].tolist() == want["word"].tolist() and len(nova) > 100
    scanned = pl.scan_parquet(f"{out}/words/**/*.parquet", hive_partitioning=True)
    streaming = scanned.filter(pl.col("kind") == "streaming").select(pl.len()).collect().item()
    kinds = built.requests.set_index("file_id")["kind"]
    assert streaming == int((built.words["file_id"].map(kinds) == "streaming").sum()) > 0
    table = pads.dataset(out / "requests", format="parquet", partitioning="hive").to_table()
    assert sorted(table.column("file_id").to_pylist()) == sorted(built.requests["file_id"])


def test_parts_come_back_in_part_order_and_partitions_in_path_order(
    built: dgtools.Tables, tmp_path: Path
) -> None:
    out = dgtools.write_dataset(RESPONSES, tmp_path / "out", partition_on="kind", batch_words=60)
    files = _files(out, "requests")
    assert "kind=streaming/part-00000.parquet" in files and "kind=prerecorded/part-00001.parquet" in files
    back = dgtools.read_parquet(out).requests
    order = sorted(files, key=lambda f: (f.split("/")[-1], f))
    expected = pd.concat([pd.read_parquet(out / "requests" / f, dtype_backend="pyarrow") for f in order])
    assert back["file_id"].tolist() == expected["file_id"].tolist()
    assert sorted(back["file_id"]) == sorted(
        built.requests["file_id"][built.requests["file_id"].isin(back["file_id"])]
    )
    assert len(back) == len(dgtools.to_tables(RESPONSES).requests)


def test_null_and_awkward_values_get_hive_folders_that_readers_decode(tmp_path: Path) -> None:
    tables = dgtools.to_tables(RESPONSES)
    names = tables.requests["model_name"].astype(object).tolist()
    names[0], names[1] = None, "team a/b=c 50%"
    tables.requests["model_name"] = pd.array(names, dtype=tables.requests["model_name"].dtype)
    out = dgtools.write_dataset(tables, tmp_path / "out", partition_on="model_name")
    folders = sorted(p.name for p in (out / "words").iterdir())
    assert "model_name=__HIVE_DEFAULT_PARTITION__" in folders
    assert "model_name=team%20a%2Fb%3Dc%2050%25" in folders
    read = pads.dataset(out / "requests", format="parquet", partitioning="hive").to_table(
        columns=["file_id", "model_name"]
    )
    by_file = dict(
        zip(read.column("file_id").to_pylist(), read.column("model_name").to_pylist(), strict=True)
    )
    fids = tables.requests["file_id"].tolist()
    assert by_file[fids[0]] is None and by_file[fids[1]] == "team a/b=c 50%"
    back = dgtools.read_parquet(out)
    assert _sorted(back.requests, "requests").equals(_sorted(tables.requests, "requests"))


def test_bad_keys_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = dgtools.write_dataset(RESPONSES, tmp_path / "out")
    before = _files(out, "words")
    for key, words in [
        ("speaker", "'speaker' is not a key"),
        ("language", "another meaning"),
        ("file_id", "'file_id' is not a key"),
        (["kind", "kind"], "names a key twice"),
    ]:
        with pytest.raises(ConfigError, match=words) as caught:
            dgtools.write_dataset(RESPONSES, out, partition_on=key)
        assert str(caught.value).startswith("write_dataset(partition_on=): ")
        assert "model_name" in str(caught.value) or "twice" in words
        assert "\n" not in str(caught.value)
    assert _files(out, "words") == before


def test_tables_with_a_repeated_file_id_cannot_be_partitioned(tmp_path: Path) -> None:
    tables = dgtools.to_tables(RESPONSES)
    ids = tables.requests["file_id"].tolist()
    ids[1] = ids[0]
    tables.requests["file_id"] = pd.array(ids, dtype=tables.requests["file_id"].dtype)
    with pytest.raises(ConfigError, match="one requests row per file_id"):
        dgtools.write_dataset(tables, tmp_path / "out", partition_on="kind")
    assert not (tmp_path / "out" / "words").exists()


@pytest.mark.parametrize("own_files", [False, True])
def test_layouts_replace_each_other_without_leftovers(tmp_path: Path, own_files: bool) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if own_files:  # the tables are then swapped file by file, and the user's files stay
        (out / "notes.txt").write_text("mine", encoding="utf-8")
    dgtools.write_dataset(RESPONSES, out, partition_on="date")
    assert len(_files(out, "words")) == 6
    dgtools.write_dataset(RESPONSES, out, partition_on="kind")
    assert _files(out, "words") == [
        "kind=prerecorded/part-00000.parquet",
        "kind=streaming/part-00000.parquet",
    ]
    dgtools.write_dataset(RESPONSES, out)
    assert _files(out, "words") == ["part-00000.parquet"]
    dgtools.write_dataset(RESPONSES, out, partition_on="date")
    dgtools.to_tables(RESPONSES).to_parquet(out)
    assert not (out / "words").exists() and (out / "words.parquet").is_file()
    assert dgtools.read_parquet(out).words.equals(dgtools.to_tables(RESPONSES).words)
    if own_files:
        assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in out.iterdir() if p.name != "notes.txt") == sorted(
        f"{n}.parquet" for n in dgtools.Tables.names
    )


def test_a_failing_write_leaves_the_partitioned_dataset_whole(tmp_path: Path) -> None:
    out = dgtools.write_dataset(RESPONSES, tmp_path / "out", partition_on="date")
    before = {f: (out / "words" / f).read_bytes() for f in _files(out, "words")}
    bad = tmp_path / "bad.json"
    bad.write_text('{"metadata": {}, "results": ', encoding="utf-8")
    with pytest.raises(dgtools.ResponseFormatError):
        dgtools.write_dataset([RESPONSES, bad], out, partition_on="kind")
    assert {f: (out / "words" / f).read_bytes() for f in _files(out, "words")} == before


def test_an_empty_source_writes_one_unpartitioned_part_of_empty_tables(tmp_path: Path) -> None:
    empty = dgtools.Tables.from_arrow({})
    out = dgtools.write_dataset(empty, tmp_path / "out", partition_on="date")
    assert _files(out, "words") == ["part-00000.parquet"]
    back = dgtools.read_parquet(out)
    assert len(back.words) == 0 and list(back.words.dtypes) == list(empty.words.dtypes)


def test_read_parquet_reads_only_the_partitions_asked_for(
    sources: list[str], built: dgtools.Tables, tmp_path: Path
) -> None:
    import datetime

    out = dgtools.write_dataset(sources, tmp_path / "out", partition_on=["date", "kind"], batch_words=3000)
    days = built.requests["created"].dt.strftime("%Y-%m-%d")
    two = sorted(set(days))[-2:]
    for selection, chosen in [
        ({"date": two[0]}, days == two[0]),
        ({"date": two}, days.isin(two)),  # a list of values
        ({"date": datetime.date.fromisoformat(two[1])}, days == two[1]),  # a date, as the folder names it
        ({"kind": "streaming", "date": list(set(days))}, built.requests["kind"] == "streaming"),
    ]:
        ids = set(built.requests.loc[chosen, "file_id"])
        got = dgtools.read_parquet(out, partitions=selection)
        assert sorted(got.requests["file_id"]) == sorted(ids) and ids, selection
        for name in built.names:
            want = built[name][built[name]["file_id"].isin(ids)]
            assert _sorted(got[name], name).equals(_sorted(want.reset_index(drop=True), name)), (
                selection,
                name,
            )
    none = dgtools.read_parquet(out, partitions={"date": "1999-01-01"})  # no such day: empty tables
    assert len(none.requests) == 0 and list(none.words.dtypes) == list(built.words.dtypes)
    words_only = dgtools.read_parquet(out, tables="words", partitions={"kind": "streaming"})
    assert len(words_only.requests) == 0 and len(words_only.words) > 0
    with pytest.raises(ConfigError, match=r"no partitions by 'model_name' \(its keys: date, kind\)"):
        dgtools.read_parquet(out, partitions={"model_name": "x"})
    flat = dgtools.write_dataset(RESPONSES, tmp_path / "flat")
    with pytest.raises(ConfigError, match="its keys: none: it is not partitioned"):
        dgtools.read_parquet(flat, partitions={"date": "2025-09-18"})
    with pytest.raises(ConfigError, match="give a mapping"):
        dgtools.read_parquet(out, partitions=["date"])  # type: ignore[arg-type]
