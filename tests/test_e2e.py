"""End-to-end: :func:`dgtools.transcribe` and ``dgtools transcribe`` against the real local server.

Every request here is real HTTP on 127.0.0.1: the client side is the public
API (``dgtools.transcribe``) or the CLI (in-process ``main(argv)``, or
``python -m dgtools`` in a subprocess when it has to be killed), the server
side is :class:`dgtools.server.LocalServer` with injected faults, and the
assertions read the server's own counters (``GET /_dgtools/stats``) and the
raw store on disk.  Retry backoff is patched to a few milliseconds; nothing
asserts on wall-clock time.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tones import wav

import dgtools
from dgtools.api import RetryPolicy
from dgtools.cli import main
from dgtools.server import Faults, LocalServer, ReplayEngine, SyntheticEngine, create_app
from dgtools.store import Store, store_sources
from dgtools.tables.schema import TABLE_NAMES

REPO = Path(__file__).resolve().parents[1]
#: Sentinel API key: it must appear in no message, repr, file or output.
KEY = "e2e0sentinel0key0e2e0sentinel0key0e2e000"
OPTIONS: dict[str, Any] = {"model": "nova-3", "diarize": True, "utterances": True, "search": ["the", "okay"]}
QUICK = RetryPolicy(base_delay=0.01)  # short backoffs: the server's Retry-After still applies


# --------------------------------------------------------------------------- helpers


def audio_folder(root: Path, n: int, *, seconds: float = 1.0, nested: bool = False) -> dict[str, str]:
    """``n`` WAVs under ``root``; returns ``{file_id: sha256}`` (file_id: path relative to root)."""
    out: dict[str, str] = {}
    for i in range(n):
        rel = f"team_{'ab'[i % 2]}/call_{i:02d}.wav" if nested else f"call_{i:02d}.wav"
        p = wav(root / rel, seconds=seconds, tone=i + 1)
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def transcribe(folder: Path, server: LocalServer, store: Path, **kw: Any) -> dgtools.Run:
    kw.setdefault("retry", RetryPolicy(kw.pop("max_retries", QUICK.max_retries), base_delay=QUICK.base_delay))
    return dgtools.transcribe(folder, store=store, api_key=KEY, base_url=server.url, progress=False, **kw)


def response_files(store: Path) -> list[Path]:
    return sorted((store / "responses").rglob("*.json")) if (store / "responses").is_dir() else []


def stored_shas(store: Path) -> set[str]:
    keys = Store(store).keys()
    return {k.split("-", 1)[0] for k in keys}


def files_text(root: Path) -> Iterator[tuple[Path, bytes]]:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield p, p.read_bytes()


def run_line(stdout: str) -> dict[str, str]:
    """The ``run: k=v, ...`` line that ``dgtools transcribe`` prints, as a dict."""
    (line,) = [x for x in stdout.splitlines() if x.startswith("run: ")]
    return dict(item.split("=", 1) for item in line.removeprefix("run: ").split(", "))


def sort_words(df: pd.DataFrame) -> pd.DataFrame:
    keys = ["file_id", "channel", "alternative", "word_index"]
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def assert_store_consistent(store: Path) -> None:
    """Only complete responses under responses/, and an index of whole JSON lines (but a torn last one)."""
    for p in response_files(store):
        json.loads(p.read_bytes())  # never partial
    keys = set(Store(store).keys())
    assert {p.stem for p in response_files(store)} == keys
    index = store / "index.jsonl"
    if index.exists():
        lines = index.read_bytes().split(b"\n")
        for line in lines[:-1]:  # every line that was finished with a newline is whole
            assert isinstance(json.loads(line), dict)
        entries = Store(store).entries()
        assert {e["key"] for e in entries} <= keys


class RecordRequestIds:
    """ASGI wrapper: remembers the ``dg-request-id`` of every ``/v1/listen`` response."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ids: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/listen":
            await self.app(scope, receive, send)
            return

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                self.ids.append(headers[b"dg-request-id"].decode())
            await send(message)

        await self.app(scope, receive, recording_send)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    monkeypatch.delenv("DEEPGRAM_TOKEN", raising=False)
    monkeypatch.delenv("DEEPGRAM_BASE_URL", raising=False)
    # `dgtools transcribe` installs a SIGTERM handler; in-process runs must not leave it behind.
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


# --------------------------------------------------------------------------- the library


def test_happy_path_tables_and_a_rerun_that_sends_nothing(tmp_path: Path) -> None:
    shas = audio_folder(tmp_path / "audio", 12, seconds=8, nested=True)
    store = tmp_path / "store"
    with LocalServer(engine=SyntheticEngine(seed=0), api_keys=[KEY]) as server:
        run = transcribe(tmp_path / "audio", server, store, concurrency=4, **OPTIONS)
        stats = server.stats()

        assert [r.file_id for r in run.results] == sorted(shas)
        assert {r.status for r in run.results} == {"transcribed"}
        assert run.failures.empty and run.stopped is None
        assert stats["by_sha256"] == dict.fromkeys(shas.values(), 1)
        assert stats["requests"] == 12 and stats["by_status"] == {"200": 12}
        assert run.summary()["audio_minutes_sent"] == pytest.approx(12 * 8 / 60, abs=1e-3)

        t = run.tables
        assert sorted(t.requests.file_id) == sorted(shas)  # paths relative to the folder
        assert dict(zip(t.requests.file_id, t.requests.sha256, strict=True)) == shas
        assert (t.requests.duration == 8.0).all()
        words = t.words
        assert set(words.file_id) == set(shas)
        assert words.speaker.notna().all() and set(words.speaker) == {0, 1}
        assert words.speaker_confidence.notna().all()
        assert len(t.utterances) > 0 and set(t.utterances.file_id) == set(shas)
        # search: one row per query and file even without hits; hits are the words equal to the query
        hits = t.search_hits
        assert set(zip(hits.file_id, hits["query"], strict=True)) == {
            (f, q) for f in shas for q in OPTIONS["search"]
        }
        real = hits[hits.hit_index.notna()]
        assert len(real) > 0 and (real.snippet == real["query"]).all()
        found = real.groupby(["file_id", "query"]).size().to_dict()
        expected = (
            words[words.word.isin(OPTIONS["search"])]
            .groupby(["file_id", "word"])
            .size()
            .rename_axis(["file_id", "query"])
            .to_dict()
        )
        assert found == expected
        no_hits = hits[hits.hit_index.isna()]
        assert not set(zip(no_hits.file_id, no_hits["query"], strict=True)) & set(found)

        # a rerun: nothing sent, the same tables
        rerun = transcribe(tmp_path / "audio", server, store, concurrency=4, **OPTIONS)
        assert server.stats() == stats
    assert {r.status for r in rerun.results} == {"stored"}
    assert rerun.summary()["audio_minutes_sent"] == 0
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(rerun.tables[name], t[name], obj=name)


def test_faults_every_file_transcribed_and_stored_once(tmp_path: Path) -> None:
    shas = audio_folder(tmp_path / "audio", 40)
    store = tmp_path / "store"
    faults = Faults(rate_429=0.3, retry_after=0, rate_5xx=0.1, drop_rate=0.1, seed=11)
    with LocalServer(engine=SyntheticEngine(seed=0), api_keys=[KEY], faults=faults) as server:
        # max_retries high enough that giving up is out of the question (p < 1e-6 per file)
        run = transcribe(tmp_path / "audio", server, store, concurrency=8, max_retries=20)
        stats = server.stats()
    assert {r.status for r in run.results} == {"transcribed"}, run.failures.to_string()
    assert stats["by_sha256"] == dict.fromkeys(shas.values(), 1)
    assert stats["by_status"]["200"] == 40
    # every attempt reached the server once; every failed attempt was retried
    assert sum(r.attempts for r in run.results) == stats["requests"]
    assert run.retries == stats["requests"] - 40 > 0
    assert run.rate_limited == stats["by_status"].get("429", 0) > 0
    assert stats["dropped"] > 0 and stats["by_status"].keys() - {"200", "429"} <= {"500", "503"}
    # stored exactly once: 40 responses, 40 index entries with distinct keys, no temp files left
    assert len(response_files(store)) == 40
    entries = Store(store).entries()
    assert len(entries) == 40 and len({e["key"] for e in entries}) == 40
    assert stored_shas(store) == set(shas.values())
    assert not any((store / "tmp").iterdir())
    assert sorted(run.tables.requests.file_id) == sorted(shas)


@pytest.mark.parametrize("concurrency", [8, 20])  # 20: more than one pool of 16 connections
def test_connections_are_bounded_by_concurrency(tmp_path: Path, concurrency: int) -> None:
    audio_folder(tmp_path / "audio", 40)
    with LocalServer(api_keys=[KEY], faults=Faults(latency=0.05)) as server:
        run = transcribe(tmp_path / "audio", server, tmp_path / "store", concurrency=concurrency)
        stats = server.stats()
    assert all(r.status == "transcribed" for r in run.results)
    assert stats["by_status"] == {"200": 40}
    assert 1 <= stats["connections"] <= concurrency  # pooled connections, reused across requests
    # the limit is used (timing allowing), never exceeded
    assert concurrency * 3 // 4 <= stats["in_flight_max"] <= concurrency


def test_401_explains_the_fix_and_never_leaks_the_key(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    audio_folder(tmp_path / "audio", 3)
    store = tmp_path / "store"
    app = RecordRequestIds(create_app(engine=SyntheticEngine(), api_keys=["the-right-key"]))
    with LocalServer(app=app) as server:
        run = transcribe(tmp_path / "audio", server, store, concurrency=2)  # sends the sentinel KEY
        stats = server.stats()
    # the first 401 stops dispatch: only the 2 already in flight were sent (the key is wrong for all)
    assert stats["by_status"] == {"401": 2} and stats["requests"] == 2
    f = run.failures
    assert len(f) == 3
    sent, unsent = f[f.status == "401"], f[f.status == "not sent"]
    assert len(sent) == 2 and len(unsent) == 1
    assert sent.err_code.tolist() == ["INVALID_AUTH"] * 2
    assert sent.retryable.tolist() == [False] * 2
    assert sent.attempts.tolist() == [1] * 2
    assert sorted(sent.request_id) == sorted(app.ids)  # the server's dg-request-id, one per request
    for rid in sent.request_id:
        uuid.UUID(rid)
    for message in sent.message:
        assert "401" in message and "Token <API key>" in message and "Bearer" in message
        assert "DEEPGRAM_API_KEY" in message
    assert "Deepgram rejected" in unsent.message.iloc[0] and "key is wrong" in unsent.message.iloc[0]
    assert f.advice.str.contains("DEEPGRAM_TOKEN").all()
    assert response_files(store) == []

    out, err = capfd.readouterr()
    texts = [repr(run), str(run.summary()), run.failures.to_string(), run._repr_html_()]
    texts += [run.results_frame.to_string(), *map(repr, run.results), out, err, caplog.text]
    for text in texts:
        assert KEY not in text
    for path, data in files_text(store):
        assert KEY.encode() not in data, path


def test_402_stops_and_a_rerun_sends_only_the_missing_files(tmp_path: Path) -> None:
    shas = audio_folder(tmp_path / "audio", 8)
    store = tmp_path / "store"
    with LocalServer(api_keys=[KEY], faults=Faults(payment_after=3)) as server:
        run = transcribe(tmp_path / "audio", server, store, concurrency=1)
        stats = server.stats()
    statuses = [r.status for r in run.results]
    assert sorted(statuses) == sorted(["transcribed"] * 3 + ["failed"] + ["not sent"] * 4)
    assert stats["requests"] == 4 and stats["by_status"] == {"200": 3, "402": 1}
    (failed,) = [r for r in run.results if r.status == "failed"]
    assert failed.status_code == 402 and failed.err_code == "ASR_PAYMENT_REQUIRED"
    assert failed.retryable is False and failed.attempts == 1
    assert "credits" in (run.stopped or "")
    f = run.failures
    assert f.status.tolist().count("not sent") == 4 and f.retryable[f.status == "not sent"].all()
    first = {shas[r.file_id] for r in run.results if r.status == "transcribed"}
    assert stored_shas(store) == first

    with LocalServer(api_keys=[KEY]) as fresh:  # the account has credits again
        rerun = transcribe(tmp_path / "audio", fresh, store, concurrency=1)
        stats2 = fresh.stats()
    assert stats2["requests"] == 5
    assert set(stats2["by_sha256"]) == set(shas.values()) - first
    assert sorted(r.status for r in rerun.results) == ["stored"] * 3 + ["transcribed"] * 5
    assert sorted(rerun.tables.requests.file_id) == sorted(shas)


def test_a_file_retrying_when_a_402_stops_the_batch_is_reported_not_sent(tmp_path: Path) -> None:
    audio_folder(tmp_path / "audio", 4)
    # seed 3: the first request drawn gets 429 (Retry-After: 1 s), the next ones do not; after one 200
    # every request gets 402. With two workers: one file waits out its Retry-After while the other worker
    # gets a 200, then a 402 for the third file, and finds the fourth not sent.
    faults = Faults(rate_429=0.5, retry_after=1, payment_after=1, seed=3)
    with LocalServer(api_keys=[KEY], faults=faults) as server:
        run = transcribe(tmp_path / "audio", server, tmp_path / "store", concurrency=2)
        stats = server.stats()
    n402 = stats["by_status"]["402"]  # the 402 itself, plus one more if the other slot was in flight
    assert stats["by_status"] == {"200": 1, "402": n402, "429": 1} and n402 in (1, 2)
    statuses = sorted(r.status for r in run.results)
    assert statuses == sorted(["transcribed"] + ["failed"] * n402 + ["not sent"] * (3 - n402))
    for r in run.results:
        if r.status == "not sent":  # the file that had a 429 first forgets it
            assert (r.status_code, r.err_code, r.request_id) == (None, None, None), r
    f = run.failures
    assert sorted(f.status) == sorted(["402"] * n402 + ["not sent"] * (3 - n402))


def test_replay_engine_answers_what_was_recorded(tmp_path: Path) -> None:
    shas = audio_folder(tmp_path / "audio", 5, seconds=6)
    with LocalServer(engine=SyntheticEngine(seed=3), api_keys=[KEY]) as server:
        recorded = transcribe(tmp_path / "audio", server, tmp_path / "recorded", **OPTIONS)
    engine = ReplayEngine(tmp_path / "recorded" / "responses")
    with LocalServer(engine=engine, api_keys=[KEY]) as server:
        replayed = transcribe(tmp_path / "audio", server, tmp_path / "fresh", **OPTIONS)
        stats = server.stats()
    assert {r.status for r in replayed.results} == {"transcribed"}
    assert stats["by_sha256"] == dict.fromkeys(shas.values(), 1)
    a, b = recorded.tables, replayed.tables
    assert len(a.words) > 0
    assert set(a.requests.request_id).isdisjoint(b.requests.request_id)  # fresh ids from the replay
    for name in TABLE_NAMES:
        drop = [c for c in ("request_id", "created") if c in a[name].columns]
        pd.testing.assert_frame_equal(b[name].drop(columns=drop), a[name].drop(columns=drop), obj=name)


# --------------------------------------------------------------------------- the CLI, in-process


def test_cli_transcribe_prints_the_summary_and_tables_rebuilds_the_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    audio_folder(tmp_path / "audio", 4, seconds=4)
    store, out = tmp_path / "store", tmp_path / "out"
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    with LocalServer(api_keys=[KEY]) as server:
        argv = ["transcribe", str(tmp_path / "audio"), "--store", str(store), "--out", str(out)]
        argv += ["--base-url", server.url, "--no-progress", "--diarize", "--search", "okay"]
        assert main(argv) == 0
        first = capsys.readouterr()
        assert server.stats()["by_status"] == {"200": 4}

        written = dgtools.read_parquet(out)
        assert sorted(written.requests.file_id) == [f"call_{i:02d}.wav" for i in range(4)]
        assert str(written.summary()) in first.out
        line = run_line(first.out)
        assert line["files"] == line["transcribed"] == "4" and "failed_total" not in line
        assert f"wrote {out / '<table>.parquet'}; raw responses in {store}" in first.out
        assert "failed" not in first.out and first.err == ""

        # a non-audio file in the folder: left out with a note, not a failure (exit 0)
        (tmp_path / "audio" / "notes.txt").write_text("not audio")
        assert main(argv) == 0
        second = capsys.readouterr()
        assert "failed" not in second.out
        line = run_line(second.out)
        assert (line["files"], line["stored"], line["ignored"]) == ("5", "4", "1")
        assert "transcribed" not in line and "failed_total" not in line
        # an audio file that is not audio: a skipped row, exit status 1 and the failure table
        (tmp_path / "audio" / "fake.wav").write_text("not audio either")
        assert main(argv) == 1
        fake = capsys.readouterr()
        assert "1 file(s) failed:" in fake.out and "fake.wav" in fake.out and "skipped" in fake.out
        line = run_line(fake.out)
        assert (line["files"], line["stored"], line["skipped"], line["failed_total"]) == ("6", "4", "1", "1")
        assert server.stats()["requests"] == 4  # nothing sent again

    # `dgtools tables STORE` rebuilds the same words from the raw store
    rebuilt = tmp_path / "rebuilt"
    assert main(["tables", str(store), "--out", str(rebuilt)]) == 0
    third = capsys.readouterr()
    assert "wrote" in third.out
    again = dgtools.read_parquet(rebuilt)
    pd.testing.assert_frame_equal(sort_words(again.words), sort_words(written.words))
    assert sorted(again.requests.file_id) == sorted(written.requests.file_id)
    for text in (first.out, first.err, second.out, second.err, fake.out, fake.err, third.out, third.err):
        assert KEY not in text


def test_cli_401_prints_the_failure_table_without_the_key(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    audio_folder(tmp_path / "audio", 2)
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    with LocalServer(api_keys=["the-right-key"]) as server:
        argv = ["transcribe", str(tmp_path / "audio"), "--store", str(tmp_path / "store")]
        argv += ["--out", str(tmp_path / "out"), "--base-url", server.url, "--no-progress"]
        assert main(argv) == 1
    out, err = capfd.readouterr()
    assert "2 file(s) failed:" in out and "401" in out and "DEEPGRAM_API_KEY" in out
    assert "Traceback" not in err
    assert KEY not in out and KEY not in err
    for path, data in files_text(tmp_path):
        assert KEY.encode() not in data, path


def test_cli_transcribe_restores_the_sigterm_handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    audio_folder(tmp_path / "audio", 1)
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    before = signal.getsignal(signal.SIGTERM)
    with LocalServer(api_keys=[KEY]) as server:
        argv = ["transcribe", str(tmp_path / "audio"), "--store", str(tmp_path / "store")]
        argv += ["--out", str(tmp_path / "out"), "--base-url", server.url, "--no-progress"]
        assert main(argv) == 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_cli_transcribe_works_from_a_worker_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    audio_folder(tmp_path / "audio", 1)
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    with LocalServer(api_keys=[KEY]) as server:
        argv = ["transcribe", str(tmp_path / "audio"), "--store", str(tmp_path / "store")]
        argv += ["--out", str(tmp_path / "out"), "--base-url", server.url, "--no-progress"]
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(main, argv).result() == 0
        assert server.stats()["by_status"] == {"200": 1}


def test_cli_sigterm_during_a_request_is_a_one_line_interruption(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    audio_folder(tmp_path / "audio", 6)
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)

    class SignallingEngine:
        """Answers like the synthetic engine; the third request brings a SIGTERM, as `kill -TERM` would."""

        def __init__(self) -> None:
            self.inner, self.requests = SyntheticEngine(), 0

        async def transcribe(self, **kw: Any) -> dict[str, Any]:
            self.requests += 1
            if self.requests == 3:
                signal.raise_signal(signal.SIGTERM)
            return await self.inner.transcribe(**kw)

    with LocalServer(engine=SignallingEngine(), api_keys=[KEY]) as server:
        argv = [
            "transcribe",
            str(tmp_path / "audio"),
            "--store",
            str(tmp_path / "store"),
            "--concurrency",
            "2",
        ]
        argv += ["--out", str(tmp_path / "out"), "--base-url", server.url, "--no-progress"]
        assert main(argv) == 130
        gc.collect()  # a task holding an unretrieved exception reports it when collected
    _, err = capfd.readouterr()
    *waiting, last = err.splitlines()  # what it waited for (if slow), how many are saved, how to finish
    assert last.startswith("dgtools: interrupted: ")
    assert all(w.startswith("dgtools: waiting for ") for w in waiting)
    assert_store_consistent(tmp_path / "store")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# --------------------------------------------------------------------------- the CLI, killed and rerun


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPGRAM_")}
    env["DEEPGRAM_API_KEY"] = KEY
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def cli_transcribe(folder: Path, store: Path, out: Path, server: LocalServer) -> list[str]:
    return [sys.executable, "-m", "dgtools", "transcribe", str(folder), "--store", str(store),
            "--out", str(out), "--base-url", server.url, "--concurrency", "2", "--no-progress"]  # fmt: skip


def start(cmd: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd, cwd=cwd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_until(proc: subprocess.Popen[str], ready: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll until ``ready()``; fail if the process exits first (or after ``timeout``, a hang guard)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the CLI exited ({proc.returncode}) too early:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail("the CLI made no progress")
        time.sleep(0.02)


def test_cli_killed_mid_run_then_rerun_sends_no_completed_file_again(tmp_path: Path) -> None:
    shas = audio_folder(tmp_path / "audio", 20)
    store, out = tmp_path / "store", tmp_path / "out"
    with LocalServer(api_keys=[KEY], faults=Faults(latency=0.2)) as server:
        cmd = cli_transcribe(tmp_path / "audio", store, out, server)
        proc = start(cmd, tmp_path)
        wait_until(proc, lambda: len(response_files(store)) >= 4)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL

        assert_store_consistent(store)
        before = stored_shas(store)
        assert 4 <= len(before) < 20
        assert not out.exists()  # killed before writing tables

        done = subprocess.run(cmd, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
        stats = server.stats()
    assert done.returncode == 0, done.stderr
    line = run_line(done.stdout)
    assert (line["stored"], line["transcribed"]) == (str(len(before)), str(20 - len(before)))
    assert KEY not in done.stdout + done.stderr
    assert stored_shas(store) == set(shas.values())
    assert len(response_files(store)) == 20
    # a file stored before the kill was never sent again
    for sha in before:
        assert stats["by_sha256"][sha] == 1
    # only requests in flight at the kill (at most --concurrency) can have been answered twice
    assert sum(stats["by_sha256"].values()) - 20 <= 2
    assert_store_consistent(store)
    # the rerun indexed every file, so the tables rebuilt from the store hold all 20
    assert sorted(fid for _, fid in store_sources(store)) == sorted(shas)
    assert sorted(dgtools.read_parquet(out).requests.file_id) == sorted(shas)
    Store(store).clean()  # the killed process's temp files, if any
    assert not any((store / "tmp").iterdir())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_interrupted_exits_130_and_a_rerun_completes(tmp_path: Path, sig: signal.Signals) -> None:
    shas = audio_folder(tmp_path / "audio", 12)
    store, out = tmp_path / "store", tmp_path / "out"
    with LocalServer(api_keys=[KEY], faults=Faults(latency=0.2)) as server:
        cmd = cli_transcribe(tmp_path / "audio", store, out, server)
        proc = start(cmd, tmp_path)
        wait_until(proc, lambda: len(response_files(store)) >= 2)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)  # a safety bound for a hang, not a performance check
        assert proc.returncode == 130
        # one line, no traceback (SIGTERM cancels the run like Ctrl-C)
        assert err.splitlines()[-1].startswith("dgtools: interrupted: ")  # how many saved, how to finish
        assert "Traceback" not in err
        assert_store_consistent(store)
        before = stored_shas(store)
        assert len(before) < 12

        done = subprocess.run(cmd, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
        stats = server.stats()
    assert done.returncode == 0, done.stderr
    assert KEY not in err + done.stdout + done.stderr
    assert stored_shas(store) == set(shas.values())
    for sha in before:
        assert stats["by_sha256"][sha] == 1
    assert sum(stats["by_sha256"].values()) - 12 <= 2
    assert sorted(dgtools.read_parquet(out).requests.file_id) == sorted(shas)


# --------------------------------------------------------------------------- interrupting a notebook cell


def test_interrupting_a_notebook_cell_stops_spending(tmp_path: Path) -> None:
    """Ctrl-C (a KeyboardInterrupt) in the caller of the sync API cancels the run: no request goes out after it."""
    import threading

    shas = audio_folder(tmp_path / "audio", 40)
    with LocalServer(faults=Faults(latency=0.2), api_keys=[KEY]) as server:

        def interrupt_when_busy() -> None:
            while server.stats()["requests"] < 4:
                threading.Event().wait(0.01)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)  # the stop button

        async def notebook_cell() -> None:
            threading.Thread(target=interrupt_when_busy, daemon=True).start()
            transcribe(tmp_path / "audio", server, tmp_path / "store", concurrency=2)  # the sync API

        loop = asyncio.new_event_loop()  # a kernel's loop: Python's own SIGINT handler, as in Jupyter
        try:
            with pytest.raises(KeyboardInterrupt):
                loop.run_until_complete(notebook_cell())
        finally:
            loop.close()
        sent = server.stats()["requests"]
        assert "dgtools-sync" not in [t.name for t in threading.enumerate()]  # nothing left running
        threading.Event().wait(0.6)  # today the run goes on in a daemon thread: 3 more rounds would be sent
        assert server.stats()["requests"] == sent < len(shas)
    assert_store_consistent(tmp_path / "store")
    stored = stored_shas(tmp_path / "store")
    assert stored <= set(shas.values())  # what completed is kept; a rerun sends only the rest


# --------------------------------------------------------------------------- two runs on one store


def test_two_runs_on_one_store_pay_for_each_file_once(tmp_path: Path) -> None:
    """Two `dgtools transcribe` processes on the same folder and store: every file answered 200 exactly once."""
    shas = audio_folder(tmp_path / "audio", 40)
    store = tmp_path / "store"
    with LocalServer(faults=Faults(latency=0.05), api_keys=[KEY]) as server:
        procs = [
            start(cli_transcribe(tmp_path / "audio", store, tmp_path / f"out{i}", server), tmp_path)
            for i in (1, 2)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        stats = server.stats()
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert KEY not in out + err
    assert stats["by_sha256"] == dict.fromkeys(shas.values(), 1)  # today: 80 requests for 40 files
    assert stats["by_status"] == {"200": 40}
    lines = [run_line(out) for out, _ in outputs]
    sent = [int(line.get("transcribed", "0")) for line in lines]
    assert sum(sent) == 40 and all(line["files"] == "40" for line in lines)
    assert all(int(line.get("transcribed", "0")) + int(line.get("stored", "0")) == 40 for line in lines)
    assert_store_consistent(store)
    assert stored_shas(store) == set(shas.values())


def test_a_file_stored_by_another_run_between_plan_and_claim_is_not_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run stores a file after this run's plan and before its claims: this run does not pay for it."""
    shas = audio_folder(tmp_path / "audio", 3)
    store = tmp_path / "store"
    take = dgtools.store.Claims.take
    other: list[dgtools.Run] = []
    started: list[bool] = []

    def take_after_another_run(self: dgtools.store.Claims, keys: list[str]) -> Any:
        if not started:  # the first take is this run's, just after its plan: the other run finishes first
            started.append(True)
            other.append(
                dgtools.transcribe(
                    tmp_path / "audio", store=store, api_key=KEY, base_url=server.url, progress=False
                )
            )
        return take(self, keys)

    with LocalServer(api_keys=[KEY]) as server:
        monkeypatch.setattr(dgtools.store.Claims, "take", take_after_another_run)
        run = dgtools.transcribe(
            tmp_path / "audio", store=store, api_key=KEY, base_url=server.url, progress=False
        )
        stats = server.stats()
    assert other[0].summary()["transcribed"] == 3
    assert stats["by_sha256"] == dict.fromkeys(shas.values(), 1)  # before: 2 requests for each file
    results = run.results_frame
    assert results["status"].tolist() == ["stored"] * 3
    assert results["message"].str.contains("another run meanwhile").all()
    assert len(run.tables.requests) == 3


# --------------------------------------------------------------------------- a soak: every fault at once


def test_soak_every_fault_at_once_stores_every_file_exactly_once(tmp_path: Path) -> None:
    """429s, 5xx, dropped connections, jitter and a concurrency limit, two runs sharing one store, a duplicate,
    a text file named .wav and a sidecar: every file is answered 200 once and stored once."""
    shas = audio_folder(tmp_path / "audio", 60)
    (tmp_path / "audio" / "copy_of_call_00.wav").write_bytes(
        (tmp_path / "audio" / "call_00.wav").read_bytes()
    )
    (tmp_path / "audio" / "fake.wav").write_text("not audio")
    (tmp_path / "audio" / "notes.txt").write_text("a sidecar")
    faults = Faults(
        latency=0.02, jitter=0.03, rate_429=0.15, retry_after=0.05, rate_5xx=0.1, drop_rate=0.05,
        max_concurrent=6, retry_after_concurrent=0.05, seed=11,
    )  # fmt: skip
    store = tmp_path / "store"
    with LocalServer(faults=faults, api_keys=[KEY]) as server:

        async def two_runs() -> list[dgtools.Run]:
            kw: dict[str, Any] = dict(
                store=store, api_key=KEY, base_url=server.url, progress=False, concurrency=8,
                retry=RetryPolicy(max_retries=30, base_delay=0.01, max_delay=0.1),
            )  # fmt: skip
            return list(await asyncio.gather(
                dgtools.atranscribe(tmp_path / "audio", **kw), dgtools.atranscribe(tmp_path / "audio", **kw)
            ))  # fmt: skip

        runs = asyncio.run(two_runs())
        stats = server.stats()
    assert stats["by_sha256"] == dict.fromkeys(shas.values(), 1)  # answered 200 once each, duplicate included
    for run in runs:
        status = {r.file_id: r.status for r in run.results}
        assert status.pop("fake.wav") == "skipped" and status.pop("notes.txt") == "ignored"
        assert status.pop("copy_of_call_00.wav") == "duplicate"
        assert set(status.values()) <= {"transcribed", "stored"}, run.failures.to_string()
        assert len(run.tables.requests) == 61
    sent = [sum(r.status == "transcribed" for r in run.results) for run in runs]
    assert sum(sent) == 60
    assert_store_consistent(store)
    assert stored_shas(store) == set(shas.values()) and len(response_files(store)) == 60
    assert (
        stats["by_status"].get("429", 0) > 0
        and stats["by_status"].get("500", 0) + stats["by_status"].get("503", 0) > 0
    )


# --------------------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted for the test (skips where mounting is not allowed, e.g. without root)."""
    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_stops_paying_and_says_how_much_room_the_rest_needs(
    tmp_path: Path, small_disk: Path
) -> None:
    """The store on a 2 MB filesystem: today 161 of 200 answers were paid for and thrown away, on every rerun."""
    audio_folder(tmp_path / "audio", 100)
    with LocalServer(engine=SyntheticEngine(response_kb=60), api_keys=[KEY]) as server:
        run = transcribe(tmp_path / "audio", server, small_disk / "store", concurrency=4)
        stats = server.stats()
    s = run.summary()
    answered = stats["by_status"]["200"]
    stored = len(response_files(small_disk / "store"))
    assert 0 < stored < 100 and answered - stored <= 8  # only what was in flight when the disk filled up
    assert s["unsaved"] == answered - stored and s["not sent"] == 100 - answered
    assert s["audio_minutes_sent"] == pytest.approx(
        answered / 60, abs=1e-3
    )  # the spend counts what was paid for
    assert (
        run.stopped is not None and "No space left on device" in run.stopped and "need about" in run.stopped
    )
    assert_store_consistent(small_disk / "store")
