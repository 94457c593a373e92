"""End-to-end: :func:`dgtools.transcribe` straight into an S3 store (moto's server on 127.0.0.1).

The Deepgram side is the real local server (:class:`dgtools.server.LocalServer`), the S3 side
moto's server mode; the assertions read the server's counters (``by_sha256``: what was paid for)
and the store in the bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tones import wav

import dgtools
from dgtools.api import RetryPolicy
from dgtools.exceptions import ConfigError
from dgtools.server import Faults, LocalServer
from dgtools.store import RemoteStore, store_tables
from dgtools.tables.schema import TABLE_NAMES

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

from moto_s3 import moto_s3  # noqa: E402  (after the skips)

KEY = "s3e2e0sentinel0key0s3e2e0sentinel0key000"
BUCKET = "dgtools-transcribe"
QUICK = RetryPolicy(base_delay=0.01)


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict[str, Any]]:
    """moto's S3 server on 127.0.0.1 (a free port), one bucket, and the storage_options to reach it."""
    with moto_s3(BUCKET) as (_, options):
        yield options


def audio_folder(root: Path, n: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(n):
        p = wav(root / f"call_{i:02d}.wav", seconds=1.0, tone=i + 1)
        out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def transcribe(folder: Path, server: LocalServer, store: Any, **kw: Any) -> dgtools.Run:
    return dgtools.transcribe(
        folder, store=store, api_key=KEY, base_url=server.url, progress=False, retry=QUICK, **kw
    )


def test_transcribe_into_s3_once_then_a_rerun_sends_nothing(
    tmp_path: Path, s3_options: dict[str, Any]
) -> None:
    shas = audio_folder(tmp_path / "audio", 8)
    url = f"s3://{BUCKET}/once"
    with LocalServer(api_keys=[KEY]) as server:
        run = transcribe(tmp_path / "audio", server, url, storage_options=s3_options, concurrency=4)
        first = server.stats()
        again = transcribe(tmp_path / "audio", server, RemoteStore(url, storage_options=s3_options))
        second = server.stats()
    assert {r.status for r in run.results} == {"transcribed"} and run.failures.empty
    assert first["by_sha256"] == dict.fromkeys(shas.values(), 1)
    assert {r.status for r in again.results} == {"stored"}
    assert second["requests"] == first["requests"] == 8
    remote = RemoteStore(url, storage_options=s3_options)
    assert {k.split("-", 1)[0] for k in remote.keys()} == set(shas.values())  # noqa: SIM118
    assert sorted(e["file_id"] for e in remote.entries()) == sorted(shas)  # indexed once, not per run
    assert list(remote._fs.find(f"{BUCKET}/once/claims")) == []  # every claim released
    stored = remote._fs.cat(remote._fs.find(f"{BUCKET}/once"))
    assert stored and all(KEY.encode() not in data for data in stored.values())
    # The same files transcribed into a local folder give the same tables (but for request ids and times).
    with LocalServer(api_keys=[KEY]) as server:
        transcribe(tmp_path / "audio", server, tmp_path / "local")
    local, in_s3 = store_tables(tmp_path / "local"), store_tables(remote)
    for name in TABLE_NAMES:
        per_request = [c for c in ("request_id", "created") if c in getattr(local, name).columns]
        pd.testing.assert_frame_equal(  # files in the order their answers arrived: sorted by file here
            _by_file(getattr(local, name).drop(columns=per_request)),
            _by_file(getattr(in_s3, name).drop(columns=per_request)),
        )
        pd.testing.assert_frame_equal(_by_file(getattr(run.tables, name)), _by_file(getattr(in_s3, name)))


def test_two_concurrent_runs_on_one_s3_store_pay_for_each_file_once(
    tmp_path: Path, s3_options: dict[str, Any]
) -> None:
    shas = audio_folder(tmp_path / "audio", 16)
    url = f"s3://{BUCKET}/two-runs"
    with LocalServer(api_keys=[KEY], faults=Faults(latency=0.05)) as server:
        with ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(
                    transcribe, tmp_path / "audio", server, url, storage_options=s3_options, concurrency=3
                )
                for _ in range(2)
            ]
            runs = [f.result() for f in futures]
        stats = server.stats()
    assert stats["by_sha256"] == dict.fromkeys(shas.values(), 1)
    assert stats["by_status"] == {"200": 16}
    for run in runs:
        assert run.failures.empty
        assert {r.status for r in run.results} <= {"transcribed", "stored"}
    assert sum(r.status == "transcribed" for run in runs for r in run.results) == 16
    waited = [r for run in runs for r in run.results if r.status == "stored"]
    assert len(waited) == 16  # the other run's: claimed by the first, so waited for, never sent
    assert all("transcribed by another run" in (r.message or "") for r in waited)
    remote = RemoteStore(url, storage_options=s3_options)
    assert {k.split("-", 1)[0] for k in remote.keys()} == set(shas.values())  # noqa: SIM118
    assert list(remote._fs.find(f"{BUCKET}/two-runs/claims")) == []


def test_stores_without_conditional_writes_and_callbacks_are_refused(
    tmp_path: Path, s3_options: dict[str, Any]
) -> None:
    audio_folder(tmp_path / "audio", 1)
    with LocalServer(api_keys=[KEY]) as server:
        with pytest.raises(ConfigError, match="only an s3:// store"):
            transcribe(tmp_path / "audio", server, "memory://dgtools-refused/store")
        with pytest.raises(ConfigError, match="callback= records pending requests"):
            transcribe(
                tmp_path / "audio", server, f"s3://{BUCKET}/cb", storage_options=s3_options,
                callback=f"{server.url}/hook",
            )  # fmt: skip
        with pytest.raises(ConfigError, match="storage_options= go with a store URL"):
            transcribe(
                tmp_path / "audio", server, RemoteStore(f"s3://{BUCKET}/x"), storage_options=s3_options
            )
        assert server.stats()["requests"] == 0


def _by_file(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows grouped by file in file order, each file's rows in their own order."""
    return frame.sort_values("file_id", kind="stable").reset_index(drop=True) if "file_id" in frame else frame
