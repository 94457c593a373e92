"""dgtools.dask over a store in S3 (moto's server on 127.0.0.1) on a real two-process LocalCluster.

``read_store`` / ``write_dataset`` of an ``s3://`` store: each worker fetches its shards'
responses from the bucket itself; the result equals :func:`dgtools.store.store_tables`.
``dgtools.dask.transcribe(store="s3://...")``: the shards claim their files in the bucket, the
real local server's counters (``by_sha256``) say what was paid for.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tones import wav

import dgtools
from conftest import DATA, fixture_files, missing
from dgtools.api import RetryPolicy
from dgtools.exceptions import ConfigError
from dgtools.server import Faults, LocalServer, SyntheticEngine
from dgtools.store import RemoteStore, store_tables
from dgtools.tables.schema import TABLE_NAMES

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")
pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

from moto_s3 import moto_s3  # noqa: E402  (after the skips)

from dgtools.dask import read_store, transcribe, write_dataset  # noqa: E402  (after the skips)

BUCKET = "dgtools-dask"
KEY = "da5k3sentinel0key0da5k3sentinel0key0da5"
QUICK = RetryPolicy(max_retries=20, base_delay=0.01)
VOLATILE = ("request_id", "created")  # differ between two runs that send the same audio


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, Any]]:
    """moto's S3 server on 127.0.0.1 (a free port), one bucket, and the storage_options to reach it."""
    with moto_s3(BUCKET) as (_, options):
        yield options


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """One LocalCluster of two worker processes (one thread each) for the module."""
    config = {
        "distributed.scheduler.locks.lease-timeout": "2s",  # a killed worker's leases come back soon
        "distributed.scheduler.locks.lease-validation-interval": "200ms",
    }
    with (
        dask.config.set(config),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def filled(s3: dict[str, Any]) -> str:
    """A store in the bucket holding data/responses/*.json and the real pre-recorded fixtures, indexed."""
    files = sorted(DATA.glob("responses/*.json")) + fixture_files(("prerecorded_",))
    if len(files) < 10:
        missing("fixtures", "real Deepgram fixtures not found (prerecorded_*.json)")
    url = f"s3://{BUCKET}/filled"
    store = RemoteStore(url, storage_options=s3)
    keys = [RemoteStore.key(hashlib.sha256(p.read_bytes()).hexdigest(), "0123456789abcdef") for p in files]
    assert all(
        isinstance(out, str)
        for out in store.write_many(zip(keys, [p.read_bytes() for p in files], strict=True))
    )
    store.record_many({"key": k, "file_id": f"calls/{p.stem}.wav"} for k, p in zip(keys, files, strict=True))
    return url


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in df.columns if c not in VOLATILE]
    order = [c for c in keep if c in ("file_id", "channel", "start", "word_index", "query")] or keep[:1]
    return df[keep].sort_values(order, kind="stable", ignore_index=True)


def test_read_store_of_an_s3_store_equals_store_tables(client: Any, s3: dict[str, Any], filled: str) -> None:
    expected = store_tables(RemoteStore(filled, storage_options=s3))
    frames = [read_store(filled, name, shard_size=4, storage_options=s3) for name in TABLE_NAMES]
    assert frames[0].npartitions == -(-len(expected.requests) // 4) > 1
    computed = client.gather(client.compute(frames))
    assert len(expected.words) > 5_000
    for name, got in zip(TABLE_NAMES, computed, strict=True):
        want = expected[name]
        assert list(got.dtypes) == list(want.dtypes), name
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want, obj=name)  # the index's order
        pd.testing.assert_frame_equal(_sorted(got), _sorted(want), obj=name)
    # columns selected on the workers; a RemoteStore object works as its URL does
    words = read_store(RemoteStore(filled, storage_options=s3), "words", columns=["file_id", "word"])
    got_words = client.compute(words).result().reset_index(drop=True)
    pd.testing.assert_frame_equal(got_words, expected.words[["file_id", "word"]])


def test_a_bad_response_is_left_out_and_named_by_its_url(
    client: Any, s3: dict[str, Any], tmp_path: Path
) -> None:
    url = f"s3://{BUCKET}/with-bad"
    store = RemoteStore(url, storage_options=s3)
    good, bad = (RemoteStore.key(c * 64, "0123456789abcdef") for c in "ab")
    store.write_bytes(good, (DATA / "responses" / "silence.json").read_bytes())
    store.write_bytes(bad, b'{"results": ')
    store.record_many([{"key": good, "file_id": "good.wav"}, {"key": bad, "file_id": "bad.wav"}])
    failures = client.compute(read_store(url, "failures", storage_options=s3)).result()
    assert failures[["file_id", "path"]].values.tolist() == [["bad.wav", store.path(bad)]]
    requests = client.compute(read_store(url, "requests", storage_options=s3)).result()
    assert requests["file_id"].tolist() == ["good.wav"]
    with pytest.warns(dgtools.DGToolsWarning, match="left out 1 input.*with-bad/responses/bb/bbbb"):
        out = write_dataset(url, tmp_path / "ds", storage_options=s3)
    assert dgtools.read_parquet(out).requests["file_id"].tolist() == ["good.wav"]


def test_write_dataset_of_an_s3_store(client: Any, s3: dict[str, Any], filled: str, tmp_path: Path) -> None:
    out = write_dataset(filled, tmp_path / "ds", shard_size=5, storage_options=s3, client=client)
    expected = store_tables(RemoteStore(filled, storage_options=s3))
    back = dgtools.read_parquet(out)
    assert len(list((out / "words").iterdir())) == -(-len(expected.requests) // 5)
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(_sorted(back[name]), _sorted(expected[name]), obj=name)


def test_write_dataset_from_an_s3_store_to_s3(client: Any, s3: dict[str, Any], filled: str) -> None:
    """The workers share no disk: every task fetches its shard from the store and PUTs its parts."""
    import s3fs

    out = f"s3://{BUCKET}/tables/by-day"
    got = write_dataset(filled, out, shard_size=5, partition_on="date", storage_options=s3, client=client)
    assert got == out
    expected = store_tables(RemoteStore(filled, storage_options=s3))
    back = dgtools.read_parquet(out, storage_options=s3)
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(_sorted(back[name]), _sorted(expected[name]), obj=name)
    fs = s3fs.S3FileSystem(**s3)
    days = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{out}/words"))
    assert days == sorted({f"date={d}" for d in expected.requests["created"].dt.strftime("%Y-%m-%d")})
    assert fs.exists(f"{out}/_SUCCESS")
    with pytest.raises(ConfigError, match="already holds dgtools tables"):
        write_dataset(filled, out, storage_options=s3, client=client)


def test_a_failed_write_dataset_to_s3_removes_its_parts(client: Any, s3: dict[str, Any]) -> None:
    import s3fs

    url = f"s3://{BUCKET}/half-bad"
    store = RemoteStore(url, storage_options=s3)
    keys = [RemoteStore.key(c * 64, "0123456789abcdef") for c in "abc"]
    store.write_bytes(keys[0], (DATA / "responses" / "podcast_mono.json").read_bytes())
    store.write_bytes(keys[1], (DATA / "responses" / "silence.json").read_bytes())
    store.write_bytes(keys[2], b'{"results": ')
    store.record_many({"key": k, "file_id": f"{i}.wav"} for i, k in enumerate(keys))
    out = f"s3://{BUCKET}/tables/failed"
    with pytest.raises(dgtools.ResponseFormatError):
        write_dataset(url, out, shard_size=1, on_error="raise", storage_options=s3, client=client)
    fs = s3fs.S3FileSystem(**s3)
    assert fs.find(out) == []
    with pytest.raises(dgtools.SchemaError, match="_SUCCESS"):
        dgtools.read_parquet(out, storage_options=s3)


def test_storage_options_go_with_one_store_url(s3: dict[str, Any], filled: str) -> None:
    with pytest.raises(ConfigError, match="storage_options= go with a store URL"):
        read_store(str(DATA / "responses"), storage_options=s3)
    with pytest.raises(ConfigError, match="one store in object storage at a time"):
        read_store([filled, str(DATA / "responses")], storage_options=s3)
    with pytest.raises(ConfigError, match="file_id= names response files"):
        write_dataset(filled, "unused", file_id=["a"], storage_options=s3)


def test_transcribe_into_s3_sends_every_file_once(tmp_path: Path, client: Any, s3: dict[str, Any]) -> None:
    audio = tmp_path / "audio"
    shas = {
        f"call_{i:02d}.wav": hashlib.sha256(
            wav(audio / f"call_{i:02d}.wav", tone=i + 1).read_bytes()
        ).hexdigest()
        for i in range(8)
    }
    url = f"s3://{BUCKET}/transcribed"
    opts: dict[str, Any] = {"model": "nova-3", "diarize": True, "utterances": True}
    common: dict[str, Any] = {"api_key": KEY, "progress": False, "retry": QUICK, **opts}
    with LocalServer(engine=SyntheticEngine(seed=0), api_keys=[KEY]) as server:
        fanned = transcribe(audio, client=client, store=url, storage_options=s3, concurrency=4, shard_size=2,
                            base_url=server.url, **common)  # fmt: skip
        first = server.stats()
        again = transcribe(audio, client=client, store=RemoteStore(url, storage_options=s3), base_url=server.url,
                           **common)  # fmt: skip
        second = server.stats()
        server.reset()
        plain = dgtools.transcribe(audio, store=tmp_path / "plain", base_url=server.url, **common)
    assert first["by_sha256"] == dict.fromkeys(shas.values(), 1)  # every file sent (and paid for) once
    assert second["requests"] == first["requests"] == 8  # the rerun found everything in the bucket
    assert [(r.file_id, r.status) for r in fanned.results] == [(f, "transcribed") for f in sorted(shas)]
    assert {r.status for r in again.results} == {"stored"}
    remote = RemoteStore(url, storage_options=s3)
    assert sorted(k.split("-", 1)[0] for k in remote.keys()) == sorted(shas.values())  # noqa: SIM118
    assert list(remote._fs.find(f"{BUCKET}/transcribed/claims")) == []  # every claim released
    assert sorted({e["file_id"] for e in remote.entries()}) == sorted(shas)
    in_s3 = store_tables(remote)
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(_sorted(fanned.tables[name]), _sorted(plain.tables[name]), obj=name)
        pd.testing.assert_frame_equal(_sorted(in_s3[name]), _sorted(plain.tables[name]), obj=name)
    stored = remote._fs.cat(remote._fs.find(f"{BUCKET}/transcribed"))
    assert stored and all(KEY.encode() not in data for data in stored.values())


def test_transcribe_refuses_other_urls_and_stray_storage_options(
    tmp_path: Path, client: Any, s3: dict[str, Any]
) -> None:
    wav(tmp_path / "audio" / "a.wav")
    kw: dict[str, Any] = {"client": client, "api_key": KEY, "progress": False}
    with pytest.raises(ConfigError, match="only an s3:// store"):
        transcribe(tmp_path / "audio", store="memory://dgtools-dask/refused", **kw)
    with pytest.raises(ConfigError, match="storage_options= go with a store URL"):
        transcribe(tmp_path / "audio", store=tmp_path / "local", storage_options=s3, **kw)
    with pytest.raises(ConfigError, match="storage_options= go with a store URL"):
        transcribe(tmp_path / "audio", store=RemoteStore(f"s3://{BUCKET}/x", storage_options=s3),
                   storage_options=s3, **kw)  # fmt: skip


def test_a_killed_worker_loses_nothing_with_an_s3_store(
    tmp_path: Path, client: Any, s3: dict[str, Any]
) -> None:
    concurrency, n = 4, 24
    audio = tmp_path / "audio"
    shas = {
        hashlib.sha256(wav(audio / f"c{i:02d}.wav", tone=i + 1).read_bytes()).hexdigest() for i in range(n)
    }
    url = f"s3://{BUCKET}/killed"
    with LocalServer(api_keys=[KEY], faults=Faults(latency=0.3)) as server, ThreadPoolExecutor(1) as pool:
        running = pool.submit(
            transcribe, audio, client=client, store=url, storage_options=s3, concurrency=concurrency,
            shard_size=4, api_key=KEY, base_url=server.url, progress=False, retry=QUICK,
        )  # fmt: skip
        while server.stats()["by_status"].get("200", 0) < 6 and not running.done():
            time.sleep(0.02)  # polling for progress, not a deadline
        busy = [w for w, keys in client.processing().items() if any("dgtools-shard-" in str(k) for k in keys)]
        assert busy and not running.done()
        victim = busy[0]
        os.kill(client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
        run = running.result()
        stats = server.stats()
    repeated = sum(stats["by_sha256"].values()) - n
    print(f"killed worker (S3 store): {repeated} answered twice")
    assert set(stats["by_sha256"]) == shas  # every file answered...
    remote = RemoteStore(url, storage_options=s3)
    assert {k.split("-", 1)[0] for k in remote.keys()} == shas  # noqa: SIM118  ...and stored
    assert all(r.ok for r in run.results) and run.failures.empty  # nothing lost
    assert 0 <= repeated <= 2 * concurrency  # paid twice: at most what one shard can hold unstored
    assert all(count <= 2 for count in stats["by_sha256"].values())
