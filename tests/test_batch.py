"""dgtools.transcribe: the batch runner, driven through httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from tones import wav

import dgtools
from dgtools.api import RetryPolicy
from dgtools.batch import FAILURE_COLUMNS, AIMDLimiter
from dgtools.exceptions import BudgetError, ConfigError
from dgtools.store import Store, StoreWriter, store_digest, store_sources

NO_WAIT = RetryPolicy(base_delay=0.0)  # retries without backoff: the tests need no real waiting

KEY = "feedfacefeedfacefeedfacefeedfacefeedface"  # sentinel: must appear in no output, file or repr


def response(sha: str, words: int = 3) -> bytes:
    ws = [
        {
            "word": f"w{i}",
            "start": i * 0.5,
            "end": i * 0.5 + 0.4,
            "confidence": 0.9,
            "punctuated_word": f"W{i}.",
        }
        for i in range(words)
    ]
    return json.dumps(
        {
            "metadata": {
                "request_id": f"req-{sha[:8]}",
                "sha256": sha,
                "created": "2026-01-01T00:00:00Z",
                "duration": 1.0,
                "channels": 1,
                "models": ["m"],
                "model_info": {"m": {"name": "nova-3"}},
            },
            "results": {
                "channels": [{"alternatives": [{"transcript": "x", "confidence": 0.9, "words": ws}]}]
            },
        }
    ).encode()


class Deepgram:
    """A scripted Deepgram: answers per request number, records what it saw."""

    def __init__(self, script: dict[int, Any] | None = None, default: Any = 200) -> None:
        self.script = script or {}
        self.default = default
        self.calls = 0
        self.by_sha: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        import hashlib

        self.calls += 1
        n = self.calls
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)
            body = await request.aread()
            sha = hashlib.sha256(body).hexdigest()
            action = self.script.get(n, self.default)
            if callable(action):
                action = action(request)
            if action == "drop":
                raise httpx.RemoteProtocolError("peer closed connection without response", request=request)
            if isinstance(action, httpx.Response):
                return action
            assert action == 200
            self.by_sha[sha] += 1
            return httpx.Response(200, content=response(sha), headers={"dg-request-id": f"req-{sha[:8]}"})
        finally:
            self.in_flight -= 1


def err(status: int, code: str = "X", **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"err_code": code, "err_msg": f"error {status}", "request_id": f"r{status}"},
        headers=headers,
    )


@pytest.fixture(autouse=True)
def _no_credentials_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    monkeypatch.delenv("DEEPGRAM_TOKEN", raising=False)


def run(folder: Any, dg: Deepgram, store: Path, **kw: Any) -> dgtools.Run:
    kw.setdefault(
        "retry", NO_WAIT if "max_retries" not in kw else RetryPolicy(kw["max_retries"], base_delay=0.0)
    )
    kw.pop("max_retries", None)
    return dgtools.transcribe(
        folder, store=store, api_key=KEY, transport=httpx.MockTransport(dg), progress=False, **kw
    )


def test_folder_transcribed_stored_and_tabled(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    for i in range(4):
        wav(audio / f"calls/c{i}.wav", tone=i)
    (audio / "notes.txt").write_text("not audio")
    dg = Deepgram()
    r = run(audio, dg, tmp_path / "store", model="nova-3", diarize=True)
    statuses = {x.file_id: x.status for x in r.results}
    assert statuses == {**{f"calls/c{i}.wav": "transcribed" for i in range(4)}, "notes.txt": "ignored"}
    assert dg.calls == 4
    t = r.tables
    assert sorted(t.requests.file_id) == [f"calls/c{i}.wav" for i in range(4)]
    assert len(t.words) == 12
    f = r.failures
    assert list(f.columns) == list(FAILURE_COLUMNS)
    assert f.empty  # a non-audio file in a folder is left out with a note, not a failure
    note = next(x for x in r.results if x.file_id == "notes.txt")
    assert note.message == "not an audio file (.txt): left out" and r.summary()["ignored"] == 1
    assert r.summary()["transcribed"] == 4
    # a rerun sends nothing and gives the same tables
    dg2 = Deepgram()
    r2 = run(audio, dg2, tmp_path / "store", model="nova-3", diarize=True)
    assert dg2.calls == 0
    assert {x.status for x in r2.results if x.file_id.endswith(".wav")} == {"stored"}
    assert r2.tables.words.equals(t.words)
    # other options: a different store key, so sent again
    dg3 = Deepgram()
    run(audio, dg3, tmp_path / "store", model="nova-3")
    assert dg3.calls == 4


def test_same_audio_twice_is_sent_once(tmp_path: Path) -> None:
    a = wav(tmp_path / "in/a.wav", tone=7)
    (tmp_path / "in/copy_of_a.wav").write_bytes(a.read_bytes())
    dg = Deepgram()
    r = run(tmp_path / "in", dg, tmp_path / "store")
    assert dg.calls == 1
    assert [x.status for x in r.results] == ["transcribed", "duplicate"]
    assert sorted(r.tables.requests.file_id) == ["a.wav", "copy_of_a.wav"]
    assert sorted(fid for _, fid in store_sources(tmp_path / "store")) == ["a.wav", "copy_of_a.wav"]


def test_retries_transient_failures(tmp_path: Path) -> None:
    for i in range(3):
        wav(tmp_path / f"in/{i}.wav", tone=i)
    script = {1: err(429, "TOO_MANY_REQUESTS", **{"Retry-After": "0"}), 2: err(503), 3: "drop", 4: err(408)}
    dg = Deepgram(script)
    r = run(tmp_path / "in", dg, tmp_path / "store", concurrency=1)
    assert all(x.status == "transcribed" for x in r.results)
    assert sum(x.attempts for x in r.results) == 7
    assert r.retries == 4 and r.rate_limited == 1
    assert len(dg.by_sha) == 3 and set(dg.by_sha.values()) == {1}


def test_gives_up_after_max_retries(tmp_path: Path) -> None:
    wav(tmp_path / "in/a.wav")
    dg = Deepgram(default=err(500))
    r = run(tmp_path / "in", dg, tmp_path / "store", max_retries=2)
    (res,) = r.results
    assert res.status == "failed" and res.attempts == 3 and res.retryable
    assert r.failures.status.tolist() == ["500"]


@pytest.mark.parametrize("status", [400, 401, 403])
def test_never_retries_client_errors(tmp_path: Path, status: int) -> None:
    wav(tmp_path / "in/a.wav")
    wav(tmp_path / "in/b.wav", tone=3)
    dg = Deepgram(default=err(status, "E"))
    r = run(tmp_path / "in", dg, tmp_path / "store")
    assert dg.calls == 2
    f = r.failures
    assert f.attempts.tolist() == [1, 1] and f.retryable.tolist() == [False, False]
    assert f.status.tolist() == [str(status)] * 2 and f.request_id.tolist() == [f"r{status}"] * 2
    assert all(f.advice.str.len() > 10)
    with pytest.raises(dgtools.DGToolsError, match="and 1 more"):
        r.raise_for_errors()


def test_402_stops_dispatching(tmp_path: Path) -> None:
    for i in range(6):
        wav(tmp_path / f"in/{i}.wav", tone=i)
    dg = Deepgram({3: err(402, "ASR_PAYMENT_REQUIRED")})
    r = run(tmp_path / "in", dg, tmp_path / "store", concurrency=1)
    assert dg.calls == 3
    assert [x.status for x in r.results] == ["transcribed", "transcribed", "failed"] + ["not sent"] * 3
    assert "out of credits" in (r.stopped or "")
    assert "credits" in r.failures.advice.iloc[0]
    # rerun with credits: only the missing files are sent
    dg2 = Deepgram()
    r2 = run(tmp_path / "in", dg2, tmp_path / "store", concurrency=1)
    assert dg2.calls == 4 and all(x.ok for x in r2.results)


def test_budget_refuses_before_sending(tmp_path: Path) -> None:
    wav(tmp_path / "in/a.wav", seconds=60)
    dg = Deepgram()
    with pytest.raises(BudgetError, match="nothing was sent"):
        run(tmp_path / "in", dg, tmp_path / "store", budget=0.001, model="nova-3")
    assert dg.calls == 0
    r = run(tmp_path / "in", dg, tmp_path / "store", budget=1.0, model="nova-3")
    assert r.estimate is not None and r.estimate.dollars == pytest.approx(0.0043)


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    for i in range(20):
        wav(tmp_path / f"in/{i:02d}.wav", tone=i)
    dg = Deepgram()
    r = run(tmp_path / "in", dg, tmp_path / "store", concurrency=3)
    assert all(x.ok for x in r.results) and dg.max_in_flight == 3


def test_default_concurrency_follows_the_options(tmp_path: Path) -> None:
    for i in range(12):
        wav(tmp_path / f"in/{i:02d}.wav", tone=i)
    dg = Deepgram()
    run(tmp_path / "in", dg, tmp_path / "store", detect_entities=True)
    assert dg.max_in_flight <= 5


def test_aimd_limiter() -> None:
    async def go() -> list[float]:
        lim = AIMDLimiter(8)
        seen = []
        for throttled in (True, True, False, False):
            await lim.acquire()
            lim.release(throttled=throttled)
            seen.append(lim.limit)
        return seen

    assert asyncio.run(go()) == pytest.approx([4.0, 2.0, 2.5, 2.9])


def test_aimd_wakes_waiters_in_order_one_per_free_slot() -> None:
    async def go() -> None:
        lim = AIMDLimiter(4)
        for _ in range(4):
            await lim.acquire()
        order: list[int] = []

        async def waiter(i: int) -> None:
            await lim.acquire()
            order.append(i)

        tasks = [asyncio.create_task(waiter(i)) for i in range(6)]
        await asyncio.sleep(0)
        assert order == [] and lim.in_flight == 4 and lim.waiting == 6
        lim.release()  # one free slot: exactly one waiter, the first, is woken
        assert lim.in_flight == 4 and lim.waiting == 5
        await asyncio.sleep(0)
        assert order == [0]
        lim.release()
        lim.release()
        await asyncio.sleep(0)
        assert order == [0, 1, 2]
        # a 429: the limit halves (4 -> 2) and nobody is woken until fewer than 2 are in flight
        lim.release(throttled=True)
        assert lim.limit == pytest.approx(2.0) and lim.in_flight == 3
        lim.release()  # 2 in flight, limit 2.5: still no free slot
        await asyncio.sleep(0)
        assert order == [0, 1, 2] and lim.in_flight == 2 and lim.limit == pytest.approx(2.5)
        lim.release()  # 1 in flight, limit 2.9: one free slot, one waiter
        await asyncio.sleep(0)
        assert order == [0, 1, 2, 3] and lim.in_flight == 2
        lim.release()  # 1 in flight, limit 3.24: two free slots, two waiters
        await asyncio.sleep(0)
        assert order == [0, 1, 2, 3, 4, 5] and lim.in_flight == 3 and lim.waiting == 0
        for _ in range(12):  # successes: the limit grows back to the cap, never beyond it
            lim.release()
            await lim.acquire()
        assert lim.limit == pytest.approx(4.0) and lim.in_flight == 3
        await asyncio.gather(*tasks)

    asyncio.run(go())


def test_aimd_cancelled_waiter_does_not_leak_a_slot() -> None:
    async def go() -> None:
        lim = AIMDLimiter(1)
        await lim.acquire()
        first = asyncio.create_task(lim.acquire())
        second = asyncio.create_task(lim.acquire())
        third = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        first.cancel()  # cancelled while it waits: it leaves the queue
        await asyncio.sleep(0)
        assert first.cancelled() and lim.waiting == 2
        lim.release()  # the slot goes to `second`...
        second.cancel()  # ...which is cancelled before it runs: it passes the slot on to `third`
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert second.cancelled() and third.done() and lim.in_flight == 1 and lim.waiting == 0
        lim.release()
        assert lim.in_flight == 0
        await asyncio.wait_for(lim.acquire(), 1)  # the slot is free again: no leak
        assert lim.in_flight == 1
        # cancelled, and then skipped by a release before it runs: the next waiter gets the slot
        fourth, fifth = asyncio.create_task(lim.acquire()), asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        fourth.cancel()
        lim.release()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert fourth.cancelled() and fifth.done() and lim.in_flight == 1 and lim.waiting == 0

    asyncio.run(go())


def test_the_key_never_leaks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav(tmp_path / "in/a.wav")
    wav(tmp_path / "in/b.wav", tone=9)
    dg = Deepgram({2: err(401, "INVALID_AUTH")})
    r = run(tmp_path / "in", dg, tmp_path / "store", concurrency=1)
    texts = [repr(r), str(r.summary()), r.failures.to_string(), r._repr_html_(), capsys.readouterr().err]
    texts += [p.read_text(errors="replace") for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert r.failures.message.str.contains("Authorization: Token <API key>").all()
    for text in texts:
        assert KEY not in text


def test_works_inside_a_running_event_loop(tmp_path: Path) -> None:
    wav(tmp_path / "in/a.wav")
    dg = Deepgram()

    async def notebook_cell() -> dgtools.Run:
        return run(tmp_path / "in", dg, tmp_path / "store")  # the sync API, as in a Jupyter cell

    r = asyncio.run(notebook_cell())
    assert [x.status for x in r.results] == ["transcribed"]


def test_async_twin_and_urls(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=response("ab" * 32))

    r = asyncio.run(
        dgtools.atranscribe(
            ["https://example.com/a.mp3"], store=tmp_path / "s", api_key=KEY, transport=httpx.MockTransport(handler),
            progress=False,
        )
    )  # fmt: skip
    assert [x.status for x in r.results] == ["transcribed"]
    assert json.loads(seen[0].content) == {"url": "https://example.com/a.mp3"}


def test_bad_arguments(tmp_path: Path) -> None:
    wav(tmp_path / "in/a.wav")
    with pytest.raises(ConfigError, match="diarise"):
        run(tmp_path / "in", Deepgram(), tmp_path / "store", diarise=True)
    with pytest.raises(ConfigError, match="concurrency"):
        run(tmp_path / "in", Deepgram(), tmp_path / "store", concurrency=0)
    with pytest.raises(ConfigError, match="DEEPGRAM_API_KEY"):
        dgtools.transcribe(tmp_path / "in", store=tmp_path / "s2", progress=False, engine="deepgram")


# --------------------------------------------------------------------------- the store writer (group commit)


def test_cancelled_run_keeps_every_answer_received(tmp_path: Path) -> None:
    """Cancel atranscribe while answers wait for the store writer: all of them are on disk after."""
    import hashlib
    import threading

    for i in range(10):
        wav(tmp_path / f"in/{i:02d}.wav", tone=i + 1)
    answered: list[str] = []
    never = asyncio.Event()
    gate = threading.Event()
    writes: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sha = hashlib.sha256(await request.aread()).hexdigest()
        if len(answered) >= 6:
            await never.wait()  # blocks until the run is cancelled
        answered.append(sha)
        return httpx.Response(200, content=response(sha))

    class GatedStore(Store):
        def write_many(self, items: Any) -> Any:
            items = list(items)
            writes.append(len(items))
            gate.wait(30)  # a stuck disk: answers queue up in the writer until the gate opens
            return super().write_many(items)

    st = GatedStore(tmp_path / "store")

    async def go() -> int:
        task = asyncio.create_task(
            dgtools.atranscribe(
                tmp_path / "in", store=st, api_key=KEY, transport=httpx.MockTransport(handler), progress=False
            )
        )
        while len(answered) < 6 or not writes:
            await asyncio.sleep(0.005)
        for _ in range(20):  # let the workers hand the six answers to the writer
            await asyncio.sleep(0)
        in_store = len(list(st.keys()))
        timer = threading.Timer(0.05, gate.set)  # the disk comes back while the run is being cancelled
        timer.start()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        timer.join()
        return in_store

    in_store_at_cancel = asyncio.run(go())
    assert len(answered) == 6 and in_store_at_cancel == 0  # the cancel came while every write was pending
    keys = list(st.keys())
    stored = {k.split("-")[0] for k in keys}
    assert stored == set(answered)


def test_a_response_the_store_refuses_is_a_failure_row(tmp_path: Path) -> None:
    import hashlib

    for i in range(4):
        wav(tmp_path / f"in/{i}.wav", tone=i + 1)
    leaky = hashlib.sha256(wav(tmp_path / "in/1.wav", tone=2).read_bytes()).hexdigest()

    async def handler(request: httpx.Request) -> httpx.Response:
        sha = hashlib.sha256(await request.aread()).hexdigest()
        body = response(sha)
        if sha == leaky:  # e.g. a callback URL echoing the key in the metadata
            body = body.replace(
                b'"models"', b'"callback": "https://x/?token=' + KEY.encode() + b'", "models"'
            )
        return httpx.Response(200, content=body, headers={"dg-request-id": f"req-{sha[:8]}"})

    r = dgtools.transcribe(
        tmp_path / "in", store=tmp_path / "store", api_key=KEY, transport=httpx.MockTransport(handler),
        progress=False,
    )  # fmt: skip
    assert [x.status for x in r.results] == ["transcribed", "failed", "transcribed", "transcribed"]
    bad = r.results[1]
    assert bad.message is not None and bad.message.startswith(str(tmp_path / "in/1.wav"))
    assert "refusing to store" in bad.message and KEY not in bad.message
    assert bad.retryable is False and bad.request_id == f"req-{leaky[:8]}" and bad.advice
    assert len(r.tables.requests) == 3
    for p in (tmp_path / "store").rglob("*"):
        assert not p.is_file() or KEY.encode() not in p.read_bytes()


def test_disk_errors_and_index_errors_are_failure_rows(tmp_path: Path) -> None:
    import errno

    for i in range(4):
        wav(tmp_path / f"in/{i}.wav", tone=i + 1)
    dg = Deepgram()
    targets: dict[str, str] = {}

    class FlakyStore(Store):
        def write_many(self, items: Any) -> Any:
            out = super().write_many([(k, d) for k, d in items if k != targets.get("full")])
            return [
                OSError(errno.ENOSPC, "No space left on device") if k == targets.get("full") else out.pop(0)
                for k, _ in items
            ]

        def record_many(self, entries: Any) -> None:
            entries = list(entries)
            if any(e["key"] == targets.get("unindexed") for e in entries):
                raise OSError(errno.EIO, "I/O error")
            super().record_many(entries)

        def record(self, entry: Any) -> None:
            if entry["key"] == targets.get("unindexed"):
                raise OSError(errno.EIO, "I/O error")
            super().record(entry)

    st = FlakyStore(tmp_path / "store")
    keys = {p.name: st.key(hashlib_sha(p), store_digest(dgtools.ListenOptions(), "deepgram"))
            for p in sorted((tmp_path / "in").iterdir())}  # fmt: skip
    targets["full"], targets["unindexed"] = keys["1.wav"], keys["2.wav"]
    r = run(tmp_path / "in", dg, st)  # type: ignore[arg-type]
    by_name = {Path(x.source).name: x for x in r.results}
    assert [by_name[n].status for n in ("0.wav", "1.wav", "2.wav", "3.wav")] == [
        "transcribed", "failed", "failed", "transcribed"
    ]  # fmt: skip
    full, unindexed = by_name["1.wav"], by_name["2.wav"]
    assert full.message is not None and "1.wav" in full.message and "No space left" in full.message
    assert full.retryable and not st.has(keys["1.wav"])
    assert (
        unindexed.message is not None and "2.wav" in unindexed.message and "index.jsonl" in unindexed.message
    )
    assert unindexed.retryable and st.has(keys["2.wav"])
    assert {e["key"] for e in st.entries()} == {keys["0.wav"], keys["3.wav"]}
    # a rerun with a healthy store: sends only 1.wav, and indexes the stored 2.wav without sending it
    dg2 = Deepgram()
    r2 = run(tmp_path / "in", dg2, tmp_path / "store")
    assert dg2.calls == 1 and all(x.ok for x in r2.results)
    assert {e["key"] for e in Store(tmp_path / "store").entries()} == set(keys.values())


def hashlib_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_store_writer_group_commit_and_backpressure(tmp_path: Path) -> None:
    import threading

    gate = threading.Event()
    batches: list[int] = []

    class GatedStore(Store):
        def write_many(self, items: Any) -> Any:
            items = list(items)
            batches.append(len(items))
            gate.wait(10)
            return super().write_many(items)

    st = GatedStore(tmp_path / "store")
    keys = [st.key(f"{i:064x}", "0123456789abcdef") for i in range(6)]

    async def go() -> None:
        w = StoreWriter(st, max_items=3)
        puts = [asyncio.create_task(w.put(keys[0], b'{"n": 0}', {"key": keys[0]}))]
        await asyncio.sleep(0.05)
        assert batches == [1]  # the first put went straight to disk; it is still writing
        puts += [asyncio.create_task(w.put(k, b'{"n": %d}' % i, {"key": k})) for i, k in enumerate(keys) if i]
        await asyncio.sleep(0.05)
        assert w.queued == 3 and w.waiting == 3  # the queue is full: three puts wait for room
        puts[5].cancel()  # cancelled while it waits for room: its response is still handed over
        await asyncio.sleep(0)
        gate.set()
        done = await asyncio.gather(*puts[:5])
        assert done == [st.path(k) for k in keys[:5]]
        await w.aclose()
        assert puts[5].cancelled()
        assert "dgtools-store-writer" not in [
            th.name for th in threading.enumerate()
        ]  # no thread left behind

    asyncio.run(go())
    assert batches[0] == 1 and sum(batches) == 6 and len(batches) < 6  # later puts shared commits
    assert [st.read_bytes(k) for k in keys] == [b'{"n": %d}' % i for i in range(6)]
    assert sorted(e["key"] for e in st.entries()) == keys  # the cancelled put went in ahead of two others


def test_store_writer_close_waits_even_when_cancelled(tmp_path: Path) -> None:
    import threading

    gate = threading.Event()

    class GatedStore(Store):
        def write_many(self, items: Any) -> Any:
            gate.wait(10)
            return super().write_many(items)

    st = GatedStore(tmp_path / "store")
    key = st.key("ab" * 32, "0123456789abcdef")

    async def go() -> None:
        w = StoreWriter(st)
        put = asyncio.create_task(w.put(key, b"{}", {"key": key}))
        await asyncio.sleep(0.01)
        put.cancel()
        closing = asyncio.create_task(w.aclose())
        await asyncio.sleep(0.01)
        timer = threading.Timer(0.05, gate.set)  # not call_later: the loop is blocked meanwhile
        timer.start()
        closing.cancel()  # cancelled again while draining: it blocks until the write is done
        with pytest.raises(asyncio.CancelledError):
            await closing
        assert st.has(key) and gate.is_set()
        timer.join()

    asyncio.run(go())


# --------------------------------------------------------------------------- the index on reruns, store_sources


def test_rerun_does_not_index_stored_files_again(tmp_path: Path) -> None:
    a = wav(tmp_path / "in/a.wav", tone=7)
    (tmp_path / "in/copy_of_a.wav").write_bytes(a.read_bytes())
    wav(tmp_path / "in/b.wav", tone=8)
    store = tmp_path / "store"
    run(tmp_path / "in", Deepgram(), store)
    first = [(e["file_id"], e.get("status")) for e in dgtools.Store(store).entries()]
    assert sorted(first) == [
        ("a.wav", "transcribed"),
        ("b.wav", "transcribed"),
        ("copy_of_a.wav", "duplicate"),
    ]
    for _ in range(2):
        r = run(tmp_path / "in", Deepgram(), store)
        assert [x.status for x in r.results] == ["stored", "stored", "duplicate"]
    assert len(dgtools.Store(store).entries()) == 3
    wav(tmp_path / "in2/other.wav", tone=7)  # the same audio under another file id: indexed once more
    run(tmp_path / "in2", Deepgram(), store)
    run(tmp_path / "in2", Deepgram(), store)
    assert len(dgtools.Store(store).entries()) == 4


def test_store_sources_lists_responses_missing_from_the_index(tmp_path: Path) -> None:
    for i in range(2):
        wav(tmp_path / f"in/{i}.wav", tone=i + 1)
    store = tmp_path / "store"
    run(tmp_path / "in", Deepgram(), store)
    st = dgtools.Store(store)
    orphan = st.key("cd" * 32, "0123456789abcdef")  # killed between the write and its index line
    st.write_bytes(orphan, response("cd" * 32))
    sources = store_sources(store)
    assert [fid for _, fid in sources] == ["0.wav", "1.wav", orphan]
    assert sources[-1][0] == st.path(orphan)
    from dgtools.tables import to_tables

    t = to_tables([p for p, _ in sources], file_id=[f for _, f in sources])
    assert sorted(t.requests.file_id) == sorted(["0.wav", "1.wav", orphan])
    # once an entry mentions the key, the key stands in for no file id any more
    st.record({"key": orphan, "file_id": "later.wav"})
    assert [fid for _, fid in store_sources(store)] == ["0.wav", "1.wav", "later.wav"]


# --------------------------------------------------------------------------- failures that stop the run


@pytest.mark.parametrize(("status", "code"), [(401, "INVALID_AUTH"), (403, "ACCESS_DENIED")])
def test_a_rejected_key_stops_dispatch(tmp_path: Path, status: int, code: str) -> None:
    """The first 401/403 stops sending: the key (or the project) is wrong for every file."""
    for i in range(20):
        wav(tmp_path / f"in/{i:02d}.wav", tone=i + 1)
    dg = Deepgram(default=lambda request: err(status, code))
    r = run(tmp_path / "in", dg, tmp_path / "store", concurrency=1)
    assert dg.calls == 1
    assert [x.status for x in r.results] == ["failed"] + ["not sent"] * 19
    assert r.stopped is not None and f"({status})" in r.stopped and "no new files were sent" in r.stopped
    assert all(x.message and x.message.startswith("not sent: Deepgram rejected") for x in r.results[1:])
    assert all("DEEPGRAM_API_KEY" in (x.advice or "") or status == 403 for x in r.results[1:])


def test_a_store_that_cannot_keep_answers_stops_dispatch(tmp_path: Path) -> None:
    """ENOSPC on the first answer: nothing more is sent (each further answer would be paid and lost)."""
    import errno

    for i in range(10):
        wav(tmp_path / f"in/{i}.wav", tone=i + 1, seconds=30.0)

    class FullStore(Store):
        def write_many(self, items: Any) -> Any:
            return [OSError(errno.ENOSPC, "No space left on device") for _ in items]

    dg = Deepgram()
    r = run(tmp_path / "in", dg, FullStore(tmp_path / "store"), concurrency=1, model="nova-3")  # type: ignore[arg-type]
    # today: 10 requests, 10 answers paid for and thrown away. Now: the answer that found the disk full,
    # and the one request already in flight while it was being written (a worker hands its answer to the
    # store writer and frees its slot for the next file), then nothing more
    assert dg.calls == 2
    assert [x.status for x in r.results] == ["failed"] * 2 + ["not sent"] * 8
    first = r.results[0]
    assert first.answered and first.message and "paid" in first.message and "No space left" in first.message
    s = r.summary()
    assert s["unsaved"] == 2 and s["audio_minutes_sent"] == pytest.approx(1.0)
    assert s["estimated_spend"] == pytest.approx(1.0 * 0.0043)  # the paid answers are in the spend
    assert (
        r.stopped is not None
        and "could not keep an answer" in r.stopped
        and re.search(r"10 file\(s\) left need about [0-9.]+ KB \([0-9,.]+ MB free\)", r.stopped)
    )
    assert all(
        x.message == f"not sent: {r.stopped}" and "make room" in (x.advice or "") for x in r.results[2:]
    )


# --------------------------------------------------------------------------- what is never sent


def test_files_that_cannot_be_audio_are_never_sent(tmp_path: Path) -> None:
    import random
    import struct

    folder = tmp_path / "in"
    wav(folder / "good.wav", tone=3)
    (folder / "notes.wav").write_text("speaker,start,end\nA,0.0,1.5\n")  # text named .wav
    (folder / "noise.wav").write_bytes(random.Random(7).randbytes(5000))
    (folder / "six.flac").write_bytes(b"fLaC\x00\x00")
    header = b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 0, 0, 0, 0, 16)
    (folder / "corrupt.wav").write_bytes(header + b"data" + struct.pack("<I", 0))
    (folder / "passwd.wav").symlink_to("/etc/passwd")
    with open(folder / "zeros.wav", "wb") as f:  # 1.9 GB of zeros (sparse: no disk used)
        f.truncate(1_900_000_000)
    (folder / "readme.txt").write_text("recorded on monday")
    dg = Deepgram()
    r = run(folder, dg, tmp_path / "store")
    assert dg.calls == 1  # only good.wav; today every one of them is uploaded and billed
    by = {x.file_id: x for x in r.results}
    assert by["good.wav"].status == "transcribed" and by["readme.txt"].status == "ignored"
    bad = ["corrupt.wav", "noise.wav", "notes.wav", "passwd.wav", "six.flac", "zeros.wav"]
    assert {f: by[f].status for f in bad} == dict.fromkeys(bad, "skipped")
    assert by["notes.wav"].message == "named .wav, but it holds text, not audio"
    assert by["zeros.wav"].message == "named .wav, but it holds zeros, not audio"
    assert by["six.flac"].message == "too short for FLAC audio (6 bytes)"
    assert by["corrupt.wav"].message is not None and "WAV header is corrupt" in by["corrupt.wav"].message
    assert sorted(r.failures.file.str.rsplit("/", n=1).str[-1]) == bad  # the text sidecar is not a failure


# --------------------------------------------------------------------------- the budget is a hard cap


def _webm_without_duration(path: Path) -> Path:
    """A WebM whose length no header gives (as a browser's MediaRecorder writes them)."""
    ebml = bytes.fromhex("1a45dfa3 8b 4282 84") + b"webm" + bytes.fromhex("42878102 4285 8102")
    segment = bytes.fromhex("18538067 01ffffffffffffff") + bytes.fromhex("1549a966 87 2ad7b1 83 0f4240")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ebml + segment + bytes(range(256)) * 400)
    return path


def test_a_budget_is_not_bypassed_by_files_of_unknown_length(tmp_path: Path) -> None:
    wav(tmp_path / "in/a.wav", tone=1)
    _webm_without_duration(tmp_path / "in/b.webm")
    dg = Deepgram()
    with pytest.raises(
        BudgetError, match=r"duration of 1 file\(s\) cannot be read .*b\.webm.*nothing was sent"
    ):
        run(tmp_path / "in", dg, tmp_path / "store", budget=0.000001)  # today: b.webm counts as $0
    assert dg.calls == 0
    with pytest.raises(BudgetError, match="fetched by Deepgram"):
        run(["https://example.com/a.mp3"], dg, tmp_path / "store", budget=100.0)
    assert dg.calls == 0
    r = run(tmp_path / "in", dg, tmp_path / "store")  # without a budget: an estimate from its size, said so
    assert (
        r.estimate is not None
        and r.estimate.from_size == 1
        and "estimated from their size" in str(r.estimate)
    )


# --------------------------------------------------------------------------- a server that enforces a limit


def test_limiter_drops_to_what_the_server_allows_and_halves_once_per_round() -> None:
    async def go() -> list[float]:
        lim = AIMDLimiter(100, start=60)
        slots = [await lim.acquire() for _ in range(60)]
        seen = []
        lim.release(slots[57], throttled=True)  # turned away as the 58th in flight: fewer than 58 allowed
        seen.append(lim.limit)
        lim.release(slots[50], throttled=True)  # the 51st too: fewer than 51
        seen.append(lim.limit)
        lim.release(slots[55], throttled=True)  # sent with 56 in flight, more than allowed now: old news
        seen.append(lim.limit)
        for s in slots[:10]:  # successes: held at what the 429s taught (no probing for a few rounds)
            lim.release(s)
        seen.append(round(lim.limit, 2))
        new = await lim.acquire()  # 48 in flight with it, sent under the bound of 50: that bound was wrong
        lim.release(new, throttled=True)  # so the margin below n doubles: 48 - 2
        seen.append(lim.limit)
        for s in slots[10:12]:  # 45 in flight: room for one more
            lim.release(s)
        again = await lim.acquire()  # sent under 46 and turned away as the 46th: 46 - 4
        lim.release(again, throttled=True)
        seen.append(lim.limit)
        one = AIMDLimiter(4)
        alone = await one.acquire()
        first, second = await one.acquire(), await one.acquire()
        one.release(alone, throttled=True)  # alone in flight: nothing to learn, halve
        one.release(second, throttled=True)  # sent with 3 in flight, more than the 2 allowed now: old news
        seen += [one.limit]
        one.release(first, throttled=True)  # sent with 2 in flight: fewer than 2 allowed, 1
        seen += [one.limit]
        return seen

    assert asyncio.run(go()) == [57.0, 50.0, 50.0, 50.0, 46.0, 42.0, 2.0, 1.0]


def test_a_run_asked_for_more_than_the_project_allows_settles_near_its_limit(tmp_path: Path) -> None:
    """A server that turns away requests beyond 50 in flight (as Deepgram does): few 429s, nothing lost."""
    for i in range(400):
        wav(tmp_path / f"in/{i:03d}.wav", tone=i, seconds=0.05 + 0.01 * (i // 256))  # 400 distinct files
    limit = 50

    class Limited(Deepgram):
        async def __call__(self, request: httpx.Request) -> httpx.Response:
            if self.in_flight >= limit:
                self.calls += 1
                return err(429, "TOO_MANY_REQUESTS")
            return await super().__call__(request)

    dg = Limited()
    r = run(tmp_path / "in", dg, tmp_path / "store", concurrency=100)
    assert [x.status for x in r.results] == ["transcribed"] * 400
    assert dg.max_in_flight <= limit
    assert r.rate_limited <= 0.05 * 400, (
        r.rate_limited
    )  # today: 50 in the first wave, then more on every climb


# --------------------------------------------------------------------------- the key is in no object


def test_no_object_of_a_run_holds_the_key(tmp_path: Path) -> None:
    """pickle.dumps(run) held the key in clear (through the store's secret guard); tracebacks with locals too."""
    import pickle
    import traceback

    wav(tmp_path / "in/a.wav")
    r = run(tmp_path / "in", Deepgram(), tmp_path / "store")
    blob = pickle.dumps(r)
    assert KEY.encode() not in blob and KEY not in repr(pickle.loads(blob))
    assert pickle.loads(blob).summary()["transcribed"] == 1

    def crash(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug in a transport")

    wav(tmp_path / "in/b.wav", tone=5)
    with pytest.raises(RuntimeError) as info:
        dgtools.transcribe(
            tmp_path / "in",
            store=tmp_path / "store",
            api_key=KEY,
            transport=httpx.MockTransport(crash),
            progress=False,
        )
    frames = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    ours = [f for f in frames.stack if "/dgtools/" in f.filename]
    assert ours and KEY not in "".join(traceback.StackSummary.from_list(ours).format())


# --------------------------------------------------------------------------- answers checked before they are stored


@pytest.mark.parametrize(
    "body",
    [b'{"results":{"channels":[,,,]}}', b'{"note":"results"}', b'{"metadata": {}, "results": null}'],
    ids=["broken-json", "no-results", "null-results"],
)
def test_a_bad_200_is_retried_once_and_never_stored(tmp_path: Path, body: bytes) -> None:
    """check_body stored these as transcribed, poisoning the store for good."""
    wav(tmp_path / "in/a.wav")
    bad = Deepgram(
        default=lambda request: httpx.Response(200, content=body, headers={"dg-request-id": "r-bad"})
    )
    r = run(tmp_path / "in", bad, tmp_path / "store")
    (x,) = r.results
    assert bad.calls == 2 and x.status == "failed" and x.attempts == 2  # one retry, then a failure row
    assert x.message is not None and "is not a whole response" in x.message and x.request_id == "r-bad"
    assert list(Store(tmp_path / "store").keys()) == [] and r.summary()["unsaved"] == 1
    good = Deepgram()
    assert (
        run(tmp_path / "in", good, tmp_path / "store").results[0].status == "transcribed" and good.calls == 1
    )


def test_an_answer_for_other_audio_is_not_stored(tmp_path: Path) -> None:
    wav(tmp_path / "in/a.wav")

    def other(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=response("ee" * 32))  # metadata.sha256 of some other audio

    dg = Deepgram(default=other)
    (x,) = run(tmp_path / "in", dg, tmp_path / "store").results
    assert dg.calls == 1 and x.status == "failed" and x.retryable is False
    assert x.message is not None and "answer is for other audio" in x.message
    assert list(Store(tmp_path / "store").keys()) == []


def test_a_file_changed_while_it_was_sent_is_not_stored_under_its_old_hash(tmp_path: Path) -> None:
    """A file changed between hashing and upload was stored under the old sha256: the original audio later
    got another recording's transcript from the store."""
    a, b = wav(tmp_path / "in/a.wav", tone=1), wav(tmp_path / "in/b.wav", tone=2)
    b_before = b.read_bytes()

    def change_b_on_first_request(request: httpx.Request) -> int:
        if not change_b_on_first_request.__dict__.get("done"):
            change_b_on_first_request.__dict__["done"] = True
            wav(b, tone=9)  # b is re-recorded after it was hashed, before it is sent
        return 200

    dg = Deepgram(default=change_b_on_first_request)
    r = run(tmp_path / "in", dg, tmp_path / "store", concurrency=1)
    by = {x.file_id: x for x in r.results}
    assert by["a.wav"].status == "transcribed" and by["b.wav"].status == "failed"
    assert by["b.wav"].message is not None and "changed while it was being sent" in by["b.wav"].message
    st = Store(tmp_path / "store")
    old_key = st.key(hashlib_sha(a.with_name("a.wav")), store_digest(dgtools.ListenOptions(), "deepgram"))
    assert st.has(old_key)
    import hashlib

    assert not any(k.startswith(hashlib.sha256(b_before).hexdigest()) for k in list(st.keys()))
    rerun = Deepgram()
    assert {x.status for x in run(tmp_path / "in", rerun, tmp_path / "store").results} == {
        "stored",
        "transcribed",
    }


def test_large_answers_are_spooled_to_the_store_and_stored_whole(tmp_path: Path) -> None:
    import hashlib

    for i in range(3):
        wav(tmp_path / f"in/{i}.wav", tone=i + 1)
    padded: dict[str, bytes] = {}

    def big(request: httpx.Request) -> httpx.Response:
        sha = hashlib.sha256(request.content).hexdigest()
        doc = json.loads(response(sha, words=2000))  # about 200 KB
        body = json.dumps(doc).encode()
        padded[sha] = body
        return httpx.Response(200, content=body)

    client = dgtools.DeepgramClient(api_key=KEY, transport=httpx.MockTransport(big), spool_above=10_000)

    async def go() -> dgtools.Run:
        async with client:
            return await dgtools.atranscribe(
                tmp_path / "in", store=tmp_path / "store", client=client, progress=False
            )

    r = asyncio.run(go())
    assert [x.status for x in r.results] == ["transcribed"] * 3
    st = Store(tmp_path / "store")
    assert sorted(st.read_bytes(k) for k in list(st.keys())) == sorted(padded.values())
    assert not any((tmp_path / "store" / "tmp").iterdir())  # every spooled file was moved into place
    assert len(r.tables.words) == 3 * 2000


def test_an_unreadable_stored_answer_is_quarantined_and_requested_again(tmp_path: Path) -> None:
    for i in range(3):
        wav(tmp_path / f"in/{i}.wav", tone=i + 1)
    run(tmp_path / "in", Deepgram(), tmp_path / "store")
    st = Store(tmp_path / "store")
    victim = sorted(st.keys())[1]
    st.path(victim).write_bytes(
        b'{"metadata": {"request_id": "r"}, "results": {"channels": [{"alternatives": [{"wor'
    )
    dg = Deepgram()
    r = run(tmp_path / "in", dg, tmp_path / "store")
    assert dg.calls == 0 and len(r.tables.requests) == 2  # today: every later run fails with no tables at all
    (bad,) = [x for x in r.results if x.status == "failed"]
    assert bad.key == victim and bad.message is not None and "moved to quarantine" in bad.message
    assert not st.has(victim) and [k for k, _ in st.quarantined()] == [victim]
    again = Deepgram()
    r2 = run(tmp_path / "in", again, tmp_path / "store")
    assert again.calls == 1 and len(r2.tables.requests) == 3


def test_a_server_asking_to_wait_a_day_gets_a_failure_row_not_a_day_of_waiting(tmp_path: Path) -> None:
    wav(tmp_path / "in/a.wav")
    dg = Deepgram(default=lambda request: err(429, "TOO_MANY_REQUESTS", **{"Retry-After": "86400"}))
    (x,) = run(tmp_path / "in", dg, tmp_path / "store").results  # today: sleeps for a day
    assert dg.calls == 1 and x.status == "failed" and x.retryable
    assert x.message is not None and "86400" in x.message and "max_retry_after=60" in x.message
