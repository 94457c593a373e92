"""dgtools.dask.transcribe on a real LocalCluster (2 worker processes) against the real local server.

Every request is real HTTP on 127.0.0.1 from the worker processes; the assertions read the server's
own counters (``GET /_dgtools/stats``: ``max_in_flight``, ``by_sha256``, ``by_status``) and the store
on disk.  The semaphore's lease timeout is shortened for the module (a killed worker's leases come
back in 2 s instead of 30 s); nothing asserts on wall-clock time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tones import wav

import dgtools
from dgtools.api import RetryPolicy
from dgtools.server import Faults, LocalServer, SyntheticEngine
from dgtools.store import Store
from dgtools.tables.schema import TABLE_NAMES

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from dgtools.dask.transcribe import transcribe  # noqa: E402  (after the skip: needs distributed)

#: Sentinel API key: it must appear in no message, repr, log or output.
KEY = "d45c0sentinel0key0d45c0sentinel0key0d45"
QUICK = RetryPolicy(max_retries=20, base_delay=0.01)
VOLATILE = ("request_id", "created")  # differ between two runs that send the same audio


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    config = {
        "distributed.scheduler.locks.lease-timeout": "2s",  # a killed worker's leases come back soon
        "distributed.scheduler.locks.lease-validation-interval": "200ms",
    }
    with (
        dask.config.set(config),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def audio_folder(root: Path, n: int, *, seconds: float = 1.0) -> dict[str, str]:
    """``n`` WAVs in two subfolders; ``{file_id: sha256}``."""
    out: dict[str, str] = {}
    for i in range(n):
        rel = f"team_{'ab'[i % 2]}/call_{i:02d}.wav"
        out[rel] = hashlib.sha256(wav(root / rel, seconds=seconds, tone=i + 1).read_bytes()).hexdigest()
    return out


def stored_shas(store: Path) -> list[str]:
    return sorted(k.split("-", 1)[0] for k in Store(store).keys())  # noqa: SIM118  (Store.keys() lists keys)


def fan_out(folder: Path, server: LocalServer, store: Path, client: Any, **kw: Any) -> dgtools.Run:
    kw.setdefault("retry", QUICK)
    return transcribe(
        folder, client=client, store=store, api_key=KEY, base_url=server.url, progress=False, **kw
    )


def shard_workers(client: Any, run: Callable[[], None]) -> set[str]:
    """The workers that ran shard tasks during ``run()`` (Dask's own task stream)."""
    with distributed.get_task_stream(client) as ts:
        run()
    return {t["worker"] for t in ts.data if str(t["key"]).startswith("dgtools-shard-")}


def test_the_cap_holds_across_the_cluster(tmp_path: Path, client: Any) -> None:
    shas = audio_folder(tmp_path / "audio", 16)
    out: dict[str, dgtools.Run] = {}
    with LocalServer(api_keys=[KEY], faults=Faults(latency=0.25)) as server:

        def go() -> None:
            out["run"] = fan_out(
                tmp_path / "audio", server, tmp_path / "st", client, concurrency=3, shard_size=4
            )

        workers = shard_workers(client, go)
        stats = server.stats()
    run = out["run"]
    assert len(workers) == 2  # both worker processes sent, each asked for 3 at once...
    assert 1 < stats["max_in_flight"] <= 3  # ...and the server never saw more than 3 in all
    assert stats["in_flight_max"] <= 3  # nor among requests it turned away
    assert stats["by_sha256"] == dict.fromkeys(shas.values(), 1)
    assert [r.file_id for r in run.results] == sorted(shas)
    assert {r.status for r in run.results} == {"transcribed"} and run.failures.empty
    assert stored_shas(tmp_path / "st") == sorted(shas.values())


def test_the_same_run_as_a_plain_transcribe(
    tmp_path: Path, client: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    audio = tmp_path / "audio"
    shas = audio_folder(audio, 9)
    wav(audio / "team_a" / "copy.wav", tone=1)  # the same audio as call_00: sent once
    (audio / "notes.txt").write_text("not audio")
    (audio / "broken.wav").write_bytes(b"RIFF\x00\x00")
    opts: dict[str, Any] = {"model": "nova-3", "diarize": True, "utterances": True}
    caplog.set_level(logging.DEBUG)
    with LocalServer(engine=SyntheticEngine(seed=0), api_keys=[KEY]) as server:
        plain = dgtools.transcribe(audio, store=tmp_path / "plain", api_key=KEY, base_url=server.url,
                                   progress=False, retry=QUICK, **opts)  # fmt: skip
        server.reset()
        fanned = fan_out(audio, server, tmp_path / "fan", client, concurrency=4, shard_size=2, **opts)
        assert server.stats()["by_sha256"] == dict.fromkeys(shas.values(), 1)
        again = fan_out(audio, server, tmp_path / "fan", client, concurrency=4, shard_size=2, **opts)
        assert server.stats()["requests"] == 9  # the rerun sent nothing

    def rows(run: dgtools.Run) -> list[tuple[Any, ...]]:
        return [(r.file_id, r.status, r.key, r.retryable) for r in run.results]

    assert rows(fanned) == rows(plain)
    assert {r.status for r in again.results if r.ok} == {"stored", "duplicate"}
    pd.testing.assert_frame_equal(
        fanned.failures.drop(columns="request_id"), plain.failures.drop(columns="request_id")
    )
    assert fanned.summary()["audio_minutes_sent"] == plain.summary()["audio_minutes_sent"]
    for name in TABLE_NAMES:
        a, b = fanned.tables[name], plain.tables[name]
        keep = [c for c in a.columns if c not in VOLATILE]
        order = [c for c in keep if c in ("file_id", "start", "channel", "word_index", "query")] or keep[:1]
        pd.testing.assert_frame_equal(
            a[keep].sort_values(order, ignore_index=True),
            b[keep].sort_values(order, ignore_index=True),
            obj=name,
        )
    index_ids = {(e["key"], e["file_id"]) for e in Store(tmp_path / "fan").entries()}
    assert {
        (r.key, r.file_id) for r in fanned.results if r.ok
    } <= index_ids  # indexed under the folder's names
    # the key in no output, log, repr or message
    seen = capsys.readouterr()
    text = (
        seen.out + seen.err + caplog.text + repr(fanned) + fanned.failures.to_string() + str(fanned.warnings)
    )
    assert KEY not in text


def test_a_429_on_any_worker_lowers_the_cap_of_all(tmp_path: Path, client: Any) -> None:
    shas = audio_folder(tmp_path / "audio", 16)
    faults = Faults(latency=0.2, max_concurrent=2, retry_after_concurrent=None)
    with LocalServer(api_keys=[KEY], faults=faults) as server:
        run = fan_out(tmp_path / "audio", server, tmp_path / "st", client, concurrency=6, shard_size=4)
        stats = server.stats()
    turned_away = stats["by_status"].get("429", 0)
    assert turned_away > 0 and run.rate_limited == turned_away == stats["concurrency_429"]
    assert stats["by_sha256"] == dict.fromkeys(shas.values(), 1)  # a 429 is not an answer: nothing billed
    assert {r.status for r in run.results} == {"transcribed"} and run.failures.empty
    (note,) = [w for w in run.warnings if "held back" in w]
    assert "of the cluster's 6 concurrent requests" in note


def test_bad_arguments_are_one_line_config_errors(tmp_path: Path, client: Any) -> None:
    bad: list[dict[str, Any]] = [
        {"concurrency": 0},
        {"shard_size": "64"},
        {"transport": object()},
        {"temporary_key": True},
        {"callback": "https://example.com/hook"},
        {"progress": 3},
        {"engine": "nope"},
        {"budget": -1},
        {"modle": "nova-3"},
    ]
    wav(tmp_path / "a.wav")
    for kw in bad:
        with pytest.raises(dgtools.ConfigError) as info:
            transcribe(tmp_path / "a.wav", client=client, store=tmp_path / "st", api_key=KEY, **kw)
        message = str(info.value)
        assert "\n" not in message and KEY not in message, kw
    assert not (tmp_path / "st").exists()  # nothing planned, nothing stored


def test_engine_local_needs_workers_that_may_start_processes(tmp_path: Path, client: Any) -> None:
    shas = audio_folder(tmp_path / "audio", 3)
    with pytest.raises(dgtools.ConfigError, match=r"daemonic.*'distributed.worker.daemon': False"):
        transcribe(tmp_path / "audio", client=client, store=tmp_path / "st", engine="local", progress=False)
    may_fork = {"distributed.worker.daemon": False}
    with (
        dask.config.set(may_fork),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as other,
    ):
        run = transcribe(tmp_path / "audio", client=other, store=tmp_path / "st", engine="local",
                         concurrency=1, shard_size=2, progress=False)  # fmt: skip
    assert [r.status for r in run.results] == ["transcribed"] * 3 and run.engine == "local"
    assert stored_shas(tmp_path / "st") == sorted(shas.values())
    assert sorted(run.tables.requests.file_id) == sorted(shas)  # tones: no words, but an answer each


def test_a_killed_worker_loses_nothing_and_pays_twice_at_most_what_it_had_in_flight(
    tmp_path: Path, client: Any
) -> None:
    concurrency, n = 4, 24
    shas = audio_folder(tmp_path / "audio", n)
    with LocalServer(api_keys=[KEY], faults=Faults(latency=0.3)) as server, ThreadPoolExecutor(1) as pool:
        running = pool.submit(fan_out, tmp_path / "audio", server, tmp_path / "st", client,
                              concurrency=concurrency, shard_size=4)  # fmt: skip
        while server.stats()["by_status"].get("200", 0) < 6 and not running.done():
            time.sleep(0.02)  # polling for progress, not a deadline
        busy = [w for w, keys in client.processing().items() if any("dgtools-shard-" in str(k) for k in keys)]
        assert busy and not running.done()
        victim = busy[0]
        pid = client.run(os.getpid, workers=[victim])[victim]
        in_flight_then = server.stats()["in_flight"]
        os.kill(pid, signal.SIGKILL)
        run = running.result()
        stats = server.stats()
    answered = sum(stats["by_sha256"].values())
    repeated = answered - n
    print(
        f"killed worker: {in_flight_then} in flight at the kill, {repeated} answered twice, {answered} in all"
    )
    assert set(stats["by_sha256"]) == set(shas.values())  # every file answered...
    assert stored_shas(tmp_path / "st") == sorted(shas.values())  # ...and stored exactly once
    assert all(r.ok for r in run.results) and run.failures.empty  # nothing lost
    assert 0 <= repeated <= 2 * concurrency  # paid twice: at most what one shard can hold unstored
    assert all(count <= 2 for count in stats["by_sha256"].values())
