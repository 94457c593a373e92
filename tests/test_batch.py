"""dgtools.transcribe: the batch runner, driven through httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
import wave
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

import dgtools
from dgtools import batch
from dgtools.exceptions import BudgetError, ConfigError

KEY = "feedfacefeedfacefeedfacefeedfacefeedface"  # sentinel: must appear in no output, file or repr


def wav(path: Path, seconds: float = 1.0, tone: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes([tone % 256, 0]) * int(8000 * seconds))
    return path


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
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "_backoff", lambda attempt, **kw: 0.0)
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    monkeypatch.delenv("DEEPGRAM_TOKEN", raising=False)


def run(folder: Any, dg: Deepgram, store: Path, **kw: Any) -> dgtools.Run:
    return batch.transcribe(
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
    assert statuses == {**{f"calls/c{i}.wav": "transcribed" for i in range(4)}, "notes.txt": "skipped"}
    assert dg.calls == 4
    t = r.tables
    assert sorted(t.requests.file_id) == [f"calls/c{i}.wav" for i in range(4)]
    assert len(t.words) == 12
    f = r.failures
    assert list(f.columns) == list(batch.FAILURE_COLUMNS)
    assert f.file.tolist() == [str(audio / "notes.txt")] and "not an audio file" in f.message[0]
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
    from dgtools.batch import store_sources

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
        lim = batch._AIMD(8)
        seen = []
        for throttled in (True, True, False, False):
            await lim.acquire()
            await lim.release(throttled=throttled)
            seen.append(lim.limit)
        return seen

    assert asyncio.run(go()) == pytest.approx([4.0, 2.0, 2.5, 2.9])


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
        batch.atranscribe(
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
        batch.transcribe(tmp_path / "in", store=tmp_path / "s2", progress=False)
