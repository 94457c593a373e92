"""dgtools.dask.read_store / write_dataset on a real two-process LocalCluster, and to_tables(processes=)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import dgtools
from conftest import DATA, fixture_files, missing
from dgtools.exceptions import ConfigError, DGToolsWarning, ResponseFormatError, SchemaError

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")

from dgtools.dask import read_store, write_dataset  # noqa: E402

RESPONSES = DATA / "responses"


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    """One LocalCluster of two worker processes (one thread each) for the module."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def sources() -> list[str]:
    """data/responses and the real pre-recorded Deepgram fixtures."""
    real = fixture_files(("prerecorded_",))
    if not real:
        missing("fixtures", "real Deepgram fixtures not found (prerecorded_*.json)")
    return [str(RESPONSES), *map(str, real)]


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    return df.reset_index(drop=True)


def test_read_store_equals_to_tables_for_every_table(client: distributed.Client, sources: list[str]) -> None:
    expected = dgtools.to_tables(sources)
    frames = [read_store(sources, name, shard_size=4) for name in expected.names]
    assert frames[0].npartitions == -(-len(list(_files(sources))) // 4)
    computed = client.gather(client.compute(frames))
    for name, got in zip(expected.names, computed, strict=True):
        want = expected[name]
        assert list(got.dtypes) == list(want.dtypes), name
        assert _plain(got).equals(want), name  # same rows, same order (input order)
        key = [c for c in ("file_id", "channel", "start") if c in want.columns]
        assert _plain(got.sort_values(key, kind="stable")).equals(
            _plain(want.sort_values(key, kind="stable"))
        )
    assert len(computed[expected.names.index("words")]) == len(expected.words) > 9000


def _files(sources: list[str]) -> Iterator[Path]:
    for s in map(Path, sources):
        yield from (sorted(p for p in s.iterdir() if p.suffix in (".json", ".jsonl")) if s.is_dir() else [s])


def test_meta_has_the_dtypes_of_to_tables(sources: list[str]) -> None:
    expected = dgtools.to_tables(sources)
    for name in expected.names:
        assert read_store(sources, name).dtypes.equals(expected[name].dtypes), name


def test_columns_are_projected_into_the_partitions(client: distributed.Client, sources: list[str]) -> None:
    words = dgtools.to_tables(sources).words
    got = read_store(sources, "words", columns=["word", "start"]).compute()
    assert list(got.columns) == ["word", "start"]
    assert _plain(got).equals(words[["word", "start"]])
    later = read_store(sources, "words")[["speaker", "word"]]
    from dask.dataframe.dask_expr.io import FromMapProjectable

    (io,) = [e for e in later.optimize(fuse=False).expr.walk() if isinstance(e, FromMapProjectable)]
    assert sorted(io.operand("columns")) == ["speaker", "word"]  # pushed into the partitions
    assert _plain(later.compute()).equals(words[["speaker", "word"]])
    with pytest.raises(SchemaError, match="no column"):
        read_store(sources, "words", columns=["nope"])
    with pytest.raises(SchemaError, match="not a dgtools table"):
        read_store(sources, "nope")


def test_a_store_of_local_transcriptions(client: distributed.Client, tmp_path: Path) -> None:
    store = tmp_path / "store"
    dgtools.transcribe(DATA / "audio", engine="local", store=store, progress=False)
    from dgtools.store import store_sources

    pairs = store_sources(store)
    expected = dgtools.to_tables([p for p, _ in pairs], file_id=[f for _, f in pairs])
    requests = read_store(store, "requests").compute()
    assert sorted(requests["file_id"]) == [
        "one_speaker.wav",
        "silence.wav",
        "stereo_call.wav",
        "two_voices.wav",
    ]
    assert _plain(requests).equals(expected.requests)
    assert _plain(read_store(str(store), "words", shard_size=1).compute()).equals(expected.words)
    assert _plain(read_store(dgtools.Store(store), "turns").compute()).equals(expected.turns)


def test_write_dataset_round_trip(client: distributed.Client, sources: list[str], tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    reference = dgtools.write_dataset(sources, tmp_path / "ref")
    out = write_dataset(sources, tmp_path / "out", shard_size=5, client=client)
    assert out == tmp_path / "out"
    assert sorted(p.name for p in (out / "words").iterdir())[:2] == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(dgtools.Tables.names)
    got, want = dgtools.read_parquet(out), dgtools.read_parquet(reference)
    built = dgtools.to_tables(sources)
    for name in built.names:
        assert got[name].equals(want[name]), name
        assert got[name].equals(built[name]), name
        meta = pq.read_schema(out / name / "part-00000.parquet").metadata
        assert meta == pq.read_schema(reference / name / "part-00000.parquet").metadata
    with pytest.raises(ConfigError, match="partition_on"):
        write_dataset(sources, tmp_path / "x", partition_on=["speaker"])
    assert not (tmp_path / "x").exists()


def test_write_dataset_partitioned_by_day(
    client: distributed.Client, sources: list[str], tmp_path: Path
) -> None:
    reference = dgtools.write_dataset(sources, tmp_path / "ref", partition_on="date")
    out = write_dataset(sources, tmp_path / "out", shard_size=5, client=client, partition_on="date")
    days = sorted(p.name for p in (reference / "words").iterdir())
    assert sorted(p.name for p in (out / "words").iterdir()) == days and len(days) > 5
    built, got = dgtools.to_tables(sources), dgtools.read_parquet(out)
    for name in built.names:
        key = [
            c
            for c in ("file_id", "channel", "alternative", "seq", "start", "end")
            if c in built[name].columns
        ]
        assert _plain(got[name].sort_values(key, kind="stable")).equals(
            _plain(built[name].sort_values(key, kind="stable"))
        ), name
    assert dgtools.tables.dataset_summary(out) == built.summary()
    day = built.requests["created"].dt.strftime("%Y-%m-%d").value_counts().index[0]
    words = dd.read_parquet(out / "words", filters=[("date", "==", day)]).compute()
    files = built.requests.loc[built.requests["created"].dt.strftime("%Y-%m-%d") == day, "file_id"]
    expected = built.words[built.words["file_id"].isin(set(files))]
    assert len(words) == len(expected) > 0
    assert sorted(words["file_id"].unique()) == sorted(expected["file_id"].unique())


@pytest.fixture
def with_bad(tmp_path: Path) -> list[str]:
    folder = tmp_path / "responses"
    shutil.copytree(RESPONSES, folder)
    (folder / "broken.json").write_text('{"metadata": {"request_id": "r"}, "results": ', encoding="utf-8")
    bad = json.loads((RESPONSES / "podcast_mono.json").read_text(encoding="utf-8"))
    bad["results"]["channels"][0]["alternatives"][0]["words"][3]["start"] = -1.0
    (folder / "negative.json").write_text(json.dumps(bad), encoding="utf-8")
    return [str(folder)]


def test_bad_files_are_left_out_and_listed(
    client: distributed.Client, with_bad: list[str], tmp_path: Path
) -> None:
    expected = dgtools.to_tables(with_bad, on_error="skip")
    assert len(expected.failures) == 2
    for name in ("requests", "words", "turns"):
        got = read_store(with_bad, name, shard_size=2).compute()
        assert _plain(got).equals(expected[name]), name
    failures = read_store(with_bad, "failures", shard_size=2).compute()
    assert _plain(failures).equals(expected.failures)
    assert list(failures["file_id"]) == ["broken", "negative"]
    with pytest.raises(ResponseFormatError, match=r"broken\.json.*not valid JSON"):
        read_store(with_bad, "words", on_error="raise").compute()
    with pytest.warns(DGToolsWarning, match="broken"):
        out = write_dataset(with_bad, tmp_path / "out", shard_size=3, client=client)
    got = dgtools.read_parquet(out)
    for name in expected.names:
        assert got[name].equals(expected[name]), name


def test_write_dataset_writes_nothing_when_every_input_fails(
    client: distributed.Client, tmp_path: Path
) -> None:
    (tmp_path / "a.json").write_text("nope", encoding="utf-8")
    out = dgtools.write_dataset(RESPONSES, tmp_path / "out")
    before = sorted(p.name for p in (out / "words").iterdir())
    with pytest.raises(ResponseFormatError, match="none of the 1 input"):
        write_dataset([str(tmp_path / "a.json")], out, client=client)
    assert sorted(p.name for p in (out / "words").iterdir()) == before
    assert dgtools.read_parquet(out).words.equals(dgtools.to_tables(RESPONSES).words)


def test_globs_and_ids(sources: list[str]) -> None:
    got = read_store(str(RESPONSES / "*.json"), "requests").compute(scheduler="sync")
    assert list(got["file_id"]) == sorted(p.stem for p in RESPONSES.glob("*.json"))
    named = read_store([str(RESPONSES / "silence.json")], "requests", file_id=["quiet"]).compute(
        scheduler="sync"
    )
    assert list(named["file_id"]) == ["quiet"]
    with pytest.raises(ConfigError, match="no files match"):
        read_store(str(RESPONSES / "*.nope"))
    with pytest.raises(ConfigError, match="shard_size"):
        read_store(sources, shard_size=0)


def test_to_tables_in_processes_equals_one_process(sources: list[str], with_bad: list[str]) -> None:
    for src in (sources, with_bad):
        one = dgtools.to_tables(src, on_error="skip")
        two = dgtools.to_tables(src, on_error="skip", processes=2)
        for name in one.names:
            assert two[name].equals(one[name]), name
        assert two.failures.equals(one.failures)
    seen: list[object] = []
    dgtools.to_tables(with_bad, processes=2, on_error=seen.append)
    assert [f.file_id for f in seen] == ["broken", "negative"]  # type: ignore[attr-defined]
    with pytest.raises(ResponseFormatError, match="broken"):
        dgtools.to_tables(with_bad, processes=2)
    with pytest.raises(ConfigError, match="in-memory"):
        dgtools.to_tables([{"results": {}}], processes=2)
    with pytest.raises(ConfigError, match="processes"):
        dgtools.to_tables(sources, processes=0)
