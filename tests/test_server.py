"""Tests of :mod:`dgtools.server`: real HTTP on 127.0.0.1 through :class:`LocalServer` and httpx."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import wave
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import dgtools
from dgtools.server import (
    EngineError,
    Faults,
    LocalServer,
    ReplayEngine,
    SyntheticEngine,
    create_app,
    make_engine,
    run,
)

REPO = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": "Token test-key"}


def wav_bytes(seconds: float, *, channels: int = 1, rate: int = 8000) -> bytes:
    """A silent 16-bit WAV of this length."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0" * int(seconds * rate) * 2 * channels)
    return buf.getvalue()


AUDIO = wav_bytes(20)


def listen(
    server: LocalServer,
    body: bytes = AUDIO,
    params: Any = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/listen",
        content=body,
        params=params,
        headers=AUTH if headers is None else headers,
        timeout=10,
        trust_env=False,  # no proxies for 127.0.0.1
        verify=False,  # plain HTTP: skips building an SSL context (~25 ms a call)
    )


def assert_legacy_error(r: httpx.Response, status: int, err_code: str) -> dict[str, Any]:
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    assert set(body) == {"err_code", "err_msg", "request_id"}
    assert body["err_code"] == err_code
    assert r.headers["dg-request-id"] == body["request_id"]
    uuid.UUID(body["request_id"])
    return body


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    """A synthetic server accepting any credential."""
    with LocalServer() as s:
        yield s


# --------------------------------------------------------------------------- auth


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[LocalServer]:
    with LocalServer(api_keys={"key-1"}, access_tokens={"jwt-1"}) as s:
        yield s


@pytest.mark.parametrize("header", ["Token key-1", "token key-1", "Bearer jwt-1"])
def test_valid_credentials_are_accepted(keyed_server: LocalServer, header: str) -> None:
    r = listen(keyed_server, headers={"Authorization": header})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["dg-request-id"] == r.json()["metadata"]["request_id"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Token wrong"}, {"Authorization": "Bearer key-1"}, {"Authorization": "Token"}],
    ids=["missing", "wrong-key", "key-as-bearer", "no-key"],
)
def test_invalid_credentials_get_401(keyed_server: LocalServer, headers: dict[str, str]) -> None:
    body = assert_legacy_error(listen(keyed_server, headers=headers), 401, "INVALID_AUTH")
    assert body["err_msg"] == "Invalid credentials."


def test_any_credential_when_no_keys_are_configured(server: LocalServer) -> None:
    assert listen(server, headers={"Authorization": "Token anything"}).status_code == 200
    assert listen(server, headers={"Authorization": "Bearer a.b.c"}).status_code == 200
    assert listen(server, headers={"Authorization": "Basic abc"}).status_code == 401
    assert listen(server, headers={}).status_code == 401


# --------------------------------------------------------------------------- request validation


def test_empty_body_is_400(server: LocalServer) -> None:
    body = assert_legacy_error(listen(server, body=b""), 400, "Bad Request")
    assert body["err_msg"] == "Bad Request: failed to process audio: corrupt or unsupported data"


@pytest.mark.parametrize(
    ("params", "name"), [({"nonsense": "1"}, "nonsense"), ({"diarize": "maybe"}, "diarize")]
)
def test_invalid_option_is_400_naming_it(server: LocalServer, params: dict[str, str], name: str) -> None:
    body = assert_legacy_error(listen(server, params=params), 400, "INVALID_QUERY_PARAMETER")
    assert body["err_msg"].startswith("Failed to deserialize query parameters: ")
    assert name in body["err_msg"]


def test_url_body_is_answered_and_bad_json_is_400(server: LocalServer) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    r = listen(server, body=b'{"url": "https://example.com/a.wav"}', headers=headers)
    assert r.status_code == 200
    assert r.json()["metadata"]["duration"] == 60.0
    assert_legacy_error(listen(server, body=b'{"nourl": 1}', headers=headers), 400, "Bad Request")
    assert_legacy_error(listen(server, body=b"not json", headers=headers), 400, "Bad Request")


# --------------------------------------------------------------------------- synthetic engine

FULL = [
    ("model", "nova-3"),
    ("diarize", "true"),
    ("punctuate", "true"),
    ("utterances", "true"),
    ("paragraphs", "true"),
    ("search", "hello"),
    ("search", "zebra"),
    ("tag", "batch-1"),
]


def test_synthetic_response_shape(server: LocalServer) -> None:
    r = listen(server, params=FULL)
    assert r.status_code == 200
    response = r.json()
    meta = response["metadata"]
    assert meta["transaction_key"] == "deprecated"
    assert meta["request_id"] == r.headers["dg-request-id"]
    assert meta["sha256"] == hashlib.sha256(AUDIO).hexdigest()
    assert meta["created"].endswith("Z") and len(meta["created"]) == len("2025-08-11T21:38:53.244Z")
    assert meta["duration"] == 20.0
    assert meta["channels"] == 1
    assert meta["tags"] == ["batch-1"]
    (model,) = meta["models"]
    assert meta["model_info"][model]["arch"] == "nova-3"
    assert "warnings" not in meta
    channel = response["results"]["channels"][0]
    alt = channel["alternatives"][0]
    assert alt["transcript"] == " ".join(w["punctuated_word"] for w in alt["words"])
    assert 0.5 <= alt["confidence"] <= 1
    assert alt["paragraphs"]["transcript"].startswith("\nSpeaker 0: ")
    assert [q["query"] for q in channel["search"]] == ["hello", "zebra"]


def test_synthetic_response_flattens_with_to_tables(server: LocalServer) -> None:
    response = listen(server, params=FULL).json()
    tables = dgtools.to_tables(response, file_id="call")
    words = tables.words
    assert 35 <= len(words) <= 65  # about one word every 0.4 s of 20 s
    assert words["confidence"].between(0.5, 1).all()
    assert words["start"].is_monotonic_increasing
    assert (words["end"] <= 20.0).all()
    assert set(words["speaker"]) == {0, 1}
    assert words["speaker_confidence"].notna().all()
    assert words["punctuated_word"].notna().all()
    assert tables.requests["request_id"].tolist() == [response["metadata"]["request_id"]]
    utterances = tables.utterances
    assert len(utterances) >= 2
    assert utterances["n_words"].sum() == len(words)
    assert set(utterances["speaker"]) == {0, 1}
    assert len(tables.paragraphs) >= 2
    assert len(tables.turns) >= 2
    hits = tables.search_hits
    assert set(hits["query"]) == {"hello", "zebra"}
    zebra = hits[hits["query"] == "zebra"]  # not in the vocabulary: one row without a hit
    assert len(zebra) == 1 and zebra["hit_index"].isna().all()
    hello = hits[hits["query"] == "hello"]
    assert len(hello.dropna(subset=["hit_index"])) == (words["word"] == "hello").sum()


def test_synthetic_is_deterministic_and_follows_options(server: LocalServer) -> None:
    first = listen(server, params=FULL).json()
    second = listen(server, params=FULL).json()
    assert first["metadata"]["request_id"] != second["metadata"]["request_id"]
    assert first["results"] == second["results"]
    plain = listen(server).json()["results"]["channels"][0]["alternatives"][0]
    assert "punctuated_word" not in plain["words"][0] and "speaker" not in plain["words"][0]
    assert "paragraphs" not in plain
    other = listen(server, body=wav_bytes(20.5)).json()["results"]["channels"][0]["alternatives"][0]
    assert other["words"] != plain["words"]  # another sha256, other words


def test_synthetic_multichannel_alternatives_and_warnings(server: LocalServer) -> None:
    stereo = wav_bytes(60, channels=2)
    params = [("multichannel", "true"), ("alternatives", "2"), ("summarize", "v2"), ("extra", "k:v")]
    response = listen(server, body=stereo, params=params).json()
    assert response["metadata"]["channels"] == 2
    assert response["metadata"]["extra"] == {"k": "v"}
    assert [w["parameter"] for w in response["metadata"]["warnings"]] == ["summarize"]
    channels = response["results"]["channels"]
    assert len(channels) == 2 and all(len(c["alternatives"]) == 2 for c in channels)
    tables = dgtools.to_tables(response, file_id="stereo")
    assert set(tables.words["channel"]) == {0, 1}
    assert len(tables.requests) == 1


def test_headerless_audio_is_16khz_16bit_mono() -> None:
    engine = SyntheticEngine()
    response = asyncio.run(
        engine.transcribe(audio=b"\1" * 64000, url=None, options=[], request_id="r", sha256=None)
    )
    assert response["metadata"]["duration"] == 2.0
    assert response["metadata"]["sha256"] == hashlib.sha256(b"\1" * 64000).hexdigest()


def test_response_kb_pads_the_response() -> None:
    engine = SyntheticEngine(response_kb=100)
    options = [("diarize", "true"), ("punctuate", "true"), ("utterances", "true")]
    response = asyncio.run(
        engine.transcribe(audio=AUDIO, url=None, options=options, request_id="r", sha256=None)
    )
    size = len(json.dumps(response, separators=(",", ":")))
    assert 95_000 <= size <= 105_000
    assert len(dgtools.to_tables(response, file_id="big").words) > 200


# --------------------------------------------------------------------------- replay engine


@pytest.fixture
def replay_folder(tmp_path: Path) -> Path:
    sha = hashlib.sha256(AUDIO).hexdigest()
    recorded = {
        "metadata": {
            "transaction_key": "deprecated",
            "request_id": "11111111-1111-4111-8111-111111111111",
            "sha256": sha,
            "created": "2024-01-01T00:00:00.000Z",
            "duration": 20.0,
            "channels": 1,
            "models": ["m"],
            "model_info": {"m": {"name": "general-nova-3", "version": "v", "arch": "nova-3"}},
        },
        "results": {
            "channels": [{"alternatives": [{"transcript": "recorded words", "confidence": 0.9, "words": []}]}]
        },
    }
    (tmp_path / "call-a.json").write_text(json.dumps(recorded))
    other = wav_bytes(3)
    by_stem = json.loads(json.dumps(recorded))
    by_stem["metadata"]["sha256"] = "not-this-one"
    by_stem["results"]["channels"][0]["alternatives"][0]["transcript"] = "found by stem"
    (tmp_path / f"{hashlib.sha256(other).hexdigest()}.json").write_text(json.dumps(by_stem))
    (tmp_path / "notes.json").write_text("[1, 2]")  # not a response: skipped
    return tmp_path


def test_replay_answers_the_recorded_response(replay_folder: Path) -> None:
    engine = ReplayEngine(replay_folder)
    assert len(engine) == 2
    recorded = json.loads((replay_folder / "call-a.json").read_text())
    with LocalServer(engine=engine) as server:
        r = listen(server)
        assert r.status_code == 200
        response = r.json()
        assert response["results"] == recorded["results"]
        meta = response["metadata"]
        assert meta["request_id"] == r.headers["dg-request-id"] != recorded["metadata"]["request_id"]
        assert meta["created"] != recorded["metadata"]["created"]
        assert {k: v for k, v in meta.items() if k not in ("request_id", "created")} == {
            k: v for k, v in recorded["metadata"].items() if k not in ("request_id", "created")
        }
        by_stem = listen(server, body=wav_bytes(3)).json()
        assert by_stem["results"]["channels"][0]["alternatives"][0]["transcript"] == "found by stem"
        assert by_stem["metadata"]["sha256"] == hashlib.sha256(wav_bytes(3)).hexdigest()

        unknown = wav_bytes(4)
        body = assert_legacy_error(listen(server, body=unknown), 400, "Bad Request")
        assert hashlib.sha256(unknown).hexdigest() in body["err_msg"]

        headers = {**AUTH, "Content-Type": "application/json"}
        by_url = listen(server, body=b'{"url": "https://example.com/calls/call-a.wav?x=1"}', headers=headers)
        assert by_url.json()["results"] == recorded["results"]
        missing = listen(server, body=b'{"url": "https://example.com/b.wav"}', headers=headers)
        assert "b.wav" in assert_legacy_error(missing, 400, "REMOTE_CONTENT_ERROR")["err_msg"]
        assert server.stats()["by_sha256"] == {
            recorded["metadata"]["sha256"]: 2,
            hashlib.sha256(wav_bytes(3)).hexdigest(): 1,
        }


def test_replay_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(dgtools.ConfigError, match="not a directory"):
        ReplayEngine(tmp_path / "missing")


# --------------------------------------------------------------------------- faults


def statuses(server: LocalServer, n: int) -> list[int]:
    return [listen(server).status_code for _ in range(n)]


def test_429_with_retry_after() -> None:
    with LocalServer(faults=Faults(rate_429=1.0, retry_after=3, seed=1)) as server:
        r = listen(server)
        body = assert_legacy_error(r, 429, "TOO_MANY_REQUESTS")
        assert body["err_msg"] == "Too many requests. Please try again later"
        assert r.headers["retry-after"] == "3"
        assert server.stats()["by_sha256"] == {}  # a faulted request is not counted


def test_fault_sequence_is_deterministic_for_a_seed() -> None:
    with LocalServer(faults=Faults(rate_429=0.5, seed=3)) as server:
        first = statuses(server, 12)
        server.reset()
        assert statuses(server, 12) == first
        assert set(first) == {200, 429}
        stats = server.stats()
        assert stats["by_status"] == {str(s): first.count(s) for s in set(first)}
        assert sum(stats["by_sha256"].values()) == first.count(200)


def test_5xx_bodies_have_the_category_shape() -> None:
    with LocalServer(faults=Faults(rate_5xx=1.0, seed=5)) as server:
        responses = [listen(server) for _ in range(8)]
    assert {r.status_code for r in responses} == {500, 503}
    for r in responses:
        body = r.json()
        assert set(body) == {"category", "message", "details", "request_id"}
        assert body["category"] == "INTERNAL_SERVER_ERROR"
        assert r.headers["dg-request-id"] == body["request_id"]


def test_dropped_connection_is_a_transport_error(caplog: pytest.LogCaptureFixture) -> None:
    with LocalServer(faults=Faults(drop_rate=1.0, seed=0)) as server:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            listen(server)
        stats = server.stats()
    assert stats["requests"] == 1
    assert stats["dropped"] == 1
    assert stats["by_status"] == {}  # no response at all, in particular no 500
    assert [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
    ] == []  # uvicorn is content


def test_402_after_n_successes() -> None:
    with LocalServer(faults=Faults(payment_after=2)) as server:
        codes = statuses(server, 4)
        r = listen(server)
    assert codes == [200, 200, 402, 402]
    body = assert_legacy_error(r, 402, "ASR_PAYMENT_REQUIRED")
    assert body["err_msg"] == "Project does not have enough credits for an ASR request."


def test_latency_delays_every_answer_without_serialising() -> None:
    latency = 0.2

    async def main(url: str) -> list[float]:
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10, trust_env=False) as client:

            async def one() -> float:
                t0 = time.perf_counter()
                r = await client.post("/v1/listen", content=AUDIO)
                assert r.status_code == 200
                return time.perf_counter() - t0

            return await asyncio.gather(*(one() for _ in range(5)))

    with LocalServer(faults=Faults(latency=latency)) as server:
        elapsed = asyncio.run(main(server.url))
        stats = server.stats()
    assert min(elapsed) >= latency
    assert stats["in_flight_max"] == 5  # all five waited at once


def test_faults_are_validated() -> None:
    with pytest.raises(dgtools.ConfigError, match="rate_429"):
        Faults(rate_429=1.5)
    with pytest.raises(dgtools.ConfigError, match="latency"):
        Faults(latency=-1)


# --------------------------------------------------------------------------- stats


def test_stats_count_requests_statuses_and_connections() -> None:
    async def main(url: str) -> list[int]:
        limits = httpx.Limits(max_connections=4)
        async with httpx.AsyncClient(
            base_url=url, headers=AUTH, limits=limits, timeout=10, trust_env=False
        ) as client:
            responses = await asyncio.gather(*(client.post("/v1/listen", content=AUDIO) for _ in range(20)))
        return [r.status_code for r in responses]

    with LocalServer(faults=Faults(latency=0.02)) as server:
        assert asyncio.run(main(server.url)) == [200] * 20
        listen(server, body=b"")
        stats = server.stats()
        assert stats["requests"] == 21
        assert stats["by_status"] == {"200": 20, "400": 1}
        assert stats["by_sha256"] == {hashlib.sha256(AUDIO).hexdigest(): 20}
        assert stats["connections"] == 5  # the pool's 4, and one for the last request
        assert stats["in_flight_max"] == 4
        assert stats["max_in_flight"] == 4  # no limit: every request with a valid key is admitted
        assert stats["in_flight"] == 0
        zeroed = server.reset()
        assert zeroed == server.stats()
    assert zeroed == {
        "requests": 0,
        "by_sha256": {},
        "by_status": {},
        "dropped": 0,
        "connections": 0,
        "in_flight": 0,
        "in_flight_max": 0,
        "max_in_flight": 0,
        "concurrency_429": 0,
        "streams": 0,
        "stream_messages": 0,
        "stream_closes": {},
        "speak": {
            "requests": 0,
            "by_status": {},
            "characters": 0,
            "audio_bytes": 0,
            "streams": 0,
            "stream_messages": 0,
            "stream_closes": {},
        },
        "callbacks": {"accepted": 0, "delivered": 0, "attempts": 0, "failed": 0, "running": 0},
    }


# --------------------------------------------------------------------------- engines, app, run


class Broken:
    async def transcribe(self, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("boom")


class Refusing:
    async def transcribe(self, **kwargs: Any) -> dict[str, Any]:
        raise EngineError(415, "UNSUPPORTED_MEDIA", "cannot read this")


def test_engine_failures_are_deepgram_shaped(caplog: pytest.LogCaptureFixture) -> None:
    with LocalServer(engine=Broken()) as server:
        r = listen(server)
    assert r.status_code == 500
    assert r.json()["category"] == "INTERNAL_SERVER_ERROR"
    assert "boom" in r.json()["details"]
    assert "engine" in caplog.text
    with LocalServer(engine=Refusing()) as server:
        assert_legacy_error(listen(server), 415, "UNSUPPORTED_MEDIA")


class Recording:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def transcribe(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return await SyntheticEngine().transcribe(**kwargs)


def test_engines_get_the_validated_options() -> None:
    from dgtools.engines.base import option_pairs
    from dgtools.options import ListenOptions

    engine = Recording()
    with LocalServer(engine=engine) as server:
        assert (
            listen(server, params=[("search", "a"), ("search", "b"), ("diarize", "true")]).status_code == 200
        )
    (call,) = engine.calls
    assert isinstance(call["options"], ListenOptions)
    assert option_pairs(call["options"]) == [("diarize", "true"), ("search", "a"), ("search", "b")]
    assert call["audio"] == AUDIO and call["url"] is None
    assert call["sha256"] == hashlib.sha256(AUDIO).hexdigest()
    uuid.UUID(call["request_id"])


def test_make_engine() -> None:
    assert isinstance(make_engine("synthetic", seed=2), SyntheticEngine)
    with pytest.raises(dgtools.ConfigError, match="unknown engine"):
        make_engine("nope")
    with pytest.raises(dgtools.ConfigError, match="seed"):
        make_engine("replay", seed=1)


def test_run_rejects_bad_arguments() -> None:
    with pytest.raises(dgtools.ConfigError, match="unknown fault"):
        run(engine="synthetic", rate_4299=1)
    with pytest.raises(dgtools.ConfigError, match="folder"):
        run(engine="replay")


def test_create_app_exposes_its_state() -> None:
    app = create_app(engine=SyntheticEngine(), faults=Faults(seed=1))
    assert app.state.dgtools.snapshot()["requests"] == 0


def test_light_imports() -> None:
    code = (
        "import json, sys\nimport dgtools, dgtools.server\nfrom dgtools.server import Faults, SyntheticEngine\n"
        "from dgtools.server import LocalServer, ReplayEngine, create_app, make_engine, run\n"
        "heavy = ('starlette', 'uvicorn', 'httpx', 'pocketsphinx', 'dgtools.engines.local')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(out.stdout) == []


def test_the_server_package_exports_the_engines_from_their_homes() -> None:
    import dgtools.engines
    import dgtools.server

    for name in ("Engine", "ReplayEngine", "SyntheticEngine", "make_engine"):
        assert getattr(dgtools.server, name) is getattr(dgtools.engines, name)
    assert dgtools.server.EngineError is dgtools.EngineError
    assert dgtools.server.__all__ == sorted(dgtools.server.__all__)
    assert all(getattr(dgtools.server, name) is not None for name in dgtools.server.__all__)


# The serve extra missing: each call that needs it says which pip install brings it, in one line.
_WITHOUT_EXTRA = """
import json, sys
sys.modules[{missing!r}] = None  # as if not installed: importing it raises ImportError
import dgtools
import dgtools.server
from dgtools.server import Faults, LocalServer, SyntheticEngine, create_app, run
out = {{}}
calls = {{
    "create_app": lambda: create_app(engine=SyntheticEngine()),
    "LocalServer": lambda: LocalServer(),
    "LocalServer(app)": lambda: LocalServer(app=object()),
    "run": lambda: run(port=0),
}}
for name, call in calls.items():
    try:
        call()
    except Exception as exc:
        out[name] = [isinstance(exc, dgtools.MissingDependencyError), exc.extra, str(exc)]
from dgtools.cli import main
out["cli"] = main(["serve", "--port", "0"])
print(json.dumps(out))
"""


@pytest.mark.parametrize("missing", ["starlette", "uvicorn"])
def test_without_the_serve_extra_the_server_names_the_pip_install(missing: str) -> None:
    code = _WITHOUT_EXTRA.format(missing=missing)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    got = json.loads(out.stdout)
    message = f"dgtools serve needs {missing}, which is not installed: pip install 'dgtools[serve]'"
    expected = [True, "serve", message]
    assert got.pop("cli") == 1
    assert out.stderr == f"dgtools: error: {message}\n"
    if missing == "starlette":
        assert got == {
            "create_app": expected,
            "LocalServer": expected,
            "LocalServer(app)": expected,
            "run": expected,
        }
    else:  # the app is built without uvicorn; serving it needs uvicorn
        assert got == {"LocalServer": expected, "LocalServer(app)": expected, "run": expected}


# --------------------------------------------------------------------------- answers before the body (issue 11)

#: Bounds a read from the server, so that a server which never answers fails the test instead of
#: hanging it; a server that behaves answers in milliseconds.  Not a timing assertion.
HANG = 10.0
HTTP_IMPLS = ["httptools", "h11"]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length: (status, lower-cased headers, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (x.partition(":") for x in lines if x)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), HANG)
    return int(status_line.split()[1]), headers, body


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Whether the server closes the connection (EOF) rather than sending more."""
    return await asyncio.wait_for(reader.read(), HANG) == b""


async def exchange(port: int, *parts: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """Send ``parts`` (and nothing more), read the answer: (status, headers, body, closed by the server).

    A plain socket, not an ``asyncio.StreamReader``: a server closing with some of the client's bytes
    unread makes the kernel send a reset, and a StreamReader then raises instead of returning the
    answer it already holds.
    """
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        for part in parts:
            await loop.sock_sendall(sock, part)
        data, closed = b"", True
        while True:
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), HANG)
            except TimeoutError:  # still open after the answer
                closed = False
                break
            except ConnectionResetError:  # closed with some of our bytes unread
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (x.partition(":") for x in lines if x)}
    assert len(body) == int(headers["content-length"])
    return int(status_line.split()[1]), headers, body, closed


def post_head(headers: dict[str, str]) -> bytes:
    lines = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "127.0.0.1", **headers}.items())
    return f"POST /v1/listen HTTP/1.1\r\n{lines}\r\n".encode()


@pytest.mark.parametrize("http", HTTP_IMPLS)
@pytest.mark.parametrize("authorization", ["Token wrong", "Bearer key-1", None])
def test_bad_credentials_get_401_before_the_body_is_sent(http: str, authorization: str | None) -> None:
    # 1 GB announced, 4 bytes sent: the answer comes while the client has not sent the body
    headers = {"Content-Length": str(10**9)}
    if authorization:
        headers["Authorization"] = authorization
    with LocalServer(api_keys={"key-1"}, http=http) as server:
        status, got, body, closed = asyncio.run(exchange(server.port, post_head(headers), b"RIFF"))
        stats = server.stats()
    assert status == 401
    assert json.loads(body)["err_code"] == "INVALID_AUTH"
    assert got["connection"] == "close" and closed  # so the client stops sending
    assert stats["by_status"] == {"401": 1} and stats["max_in_flight"] == 0


@pytest.mark.parametrize("http", HTTP_IMPLS)
def test_a_content_length_over_the_limit_gets_413_before_the_body(http: str) -> None:
    head = post_head({**AUTH, "Content-Length": "1001"})
    with LocalServer(max_body_bytes=1000, http=http) as server:
        status, got, body, closed = asyncio.run(exchange(server.port, head, b"RIFF"))
        stats = server.stats()
    assert status == 413
    error = json.loads(body)
    assert error["err_code"] == "PAYLOAD_TOO_LARGE" and "1,000 bytes" in error["err_msg"]
    assert got["connection"] == "close" and closed
    assert stats["by_status"] == {"413": 1}


@pytest.mark.parametrize("http", HTTP_IMPLS)
def test_a_chunked_body_is_cut_off_with_413_once_over_the_limit(http: str) -> None:
    head = post_head({**AUTH, "Transfer-Encoding": "chunked"})
    chunk = b"%x\r\n%s\r\n" % (600, b"\0" * 600)
    with LocalServer(max_body_bytes=1000, http=http) as server:
        # two chunks (1,200 bytes), never the terminating one
        status, got, body, closed = asyncio.run(exchange(server.port, head, chunk, chunk))
    assert status == 413 and json.loads(body)["err_code"] == "PAYLOAD_TOO_LARGE"
    assert got["connection"] == "close" and closed


def test_a_body_at_the_limit_is_accepted() -> None:
    with LocalServer(max_body_bytes=1000) as server:
        assert listen(server, body=b"\0" * 1000).status_code == 200
        assert_legacy_error(listen(server, body=b"\0" * 1001), 413, "PAYLOAD_TOO_LARGE")
        chunked = httpx.post(
            f"{server.url}/v1/listen",
            content=iter([b"\0" * 500, b"\0" * 500]),  # an iterator: httpx sends it chunked
            headers=AUTH,
            trust_env=False,
        )
        assert chunked.status_code == 200
    with pytest.raises(dgtools.ConfigError, match="max_body_bytes"):
        create_app(engine=SyntheticEngine(), max_body_bytes=0)


# --------------------------------------------------------------------------- keys


def test_stats_and_reset_need_the_key_when_one_is_set() -> None:
    with LocalServer(api_keys={"key-1"}) as server:
        assert listen(server, headers={"Authorization": "Token key-1"}).status_code == 200

        def admin(method: str, path: str, headers: dict[str, str]) -> httpx.Response:
            return httpx.request(method, f"{server.url}{path}", headers=headers, trust_env=False)

        refused = [
            {},
            {"Authorization": "Token wrong"},
            {"Authorization": "Bearer key-1"},
            {"X-Dgtools-Local-Server": "guessed"},  # LocalServer's own secret is per server
        ]
        for headers in refused:
            assert_legacy_error(admin("GET", "/_dgtools/stats", headers), 401, "INVALID_AUTH")
            assert_legacy_error(admin("POST", "/_dgtools/reset", headers), 401, "INVALID_AUTH")
        assert server.stats()["by_status"] == {"200": 1}  # nothing was reset
        keyed = {"Authorization": "Token key-1"}
        assert admin("GET", "/_dgtools/stats", keyed).json()["requests"] == 1
        assert admin("POST", "/_dgtools/reset", keyed).json()["requests"] == 0
        assert server.reset()["requests"] == 0  # LocalServer reaches its own routes


def test_stats_are_open_without_keys(server: LocalServer) -> None:
    r = httpx.get(f"{server.url}/_dgtools/stats", trust_env=False)
    assert r.status_code == 200 and "requests" in r.json()


def test_local_server_reaches_the_stats_of_a_keyed_app_it_was_given() -> None:
    app = create_app(engine=SyntheticEngine(), api_keys=["the-key"])
    with LocalServer(app=app) as server:
        listen(server, headers={"Authorization": "Token other"})
        assert server.stats()["by_status"] == {"401": 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dgtools_serve_takes_the_key_from_the_environment() -> None:
    import os

    key = "env-key-0123456789abcdef"
    port = free_port()
    env = {**os.environ, "DEEPGRAM_API_KEY": key}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dgtools", "serve", "--port", str(port), "--header-timeout", "5"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(int(30 / 0.05)):  # until it listens (a bound against a server that never starts)
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                stats = httpx.get(f"{url}/_dgtools/stats", trust_env=False)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert_legacy_error(stats, 401, "INVALID_AUTH")  # the key is required here too

        def post(authorization: str) -> int:
            headers = {"Authorization": authorization}
            return httpx.post(f"{url}/v1/listen", content=AUDIO, headers=headers, trust_env=False).status_code

        assert post(f"Token {key}") == 200
        assert [post("Token other"), post(f"Bearer {key}"), post("Bearer a.b.c")] == [401, 401, 401]
        got = httpx.get(f"{url}/_dgtools/stats", headers={"Authorization": f"Token {key}"}, trust_env=False)
        assert got.json()["by_status"] == {"200": 1, "401": 3}
        assert key.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()  # not in ps
    finally:
        proc.terminate()
        proc.wait(timeout=HANG)
        if proc.stderr:
            proc.stderr.close()


def test_serve_help_prefers_the_environment_and_shows_the_limits(capsys: pytest.CaptureFixture[str]) -> None:
    from dgtools.cli import main

    assert main(["serve", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    flags = (
        "--max-body-bytes",
        "--header-timeout",
        "--body-timeout",
        "--keep-alive-timeout",
        "--max-concurrent",
    )
    for flag in flags:
        assert flag in text
    assert "prefer setting DEEPGRAM_API_KEY" in text


@pytest.mark.parametrize("host", ["192.0.2.1", "example.invalid"])
def test_run_refuses_an_address_beyond_loopback_without_a_key(host: str) -> None:
    with pytest.raises(dgtools.ConfigError) as info:
        run(host=host, port=0)
    message = str(info.value)
    assert "\n" not in message
    assert "DEEPGRAM_API_KEY" in message and "--api-key" in message and "127.0.0.1" in message


def test_dgtools_serve_refuses_every_interface_without_a_key() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "DEEPGRAM_API_KEY"}
    out = subprocess.run(
        [sys.executable, "-m", "dgtools", "serve", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,  # a bound: today's server would serve forever
    )
    assert out.returncode == 1
    (line,) = out.stderr.splitlines()
    assert line.startswith("dgtools: error: refusing to serve on 0.0.0.0 without an API key")
    assert "DEEPGRAM_API_KEY" in line and "bind 127.0.0.1" in line


# --------------------------------------------------------------------------- timeouts


@pytest.mark.parametrize("http", HTTP_IMPLS)
def test_a_silent_connection_is_closed_after_the_header_timeout(http: str) -> None:
    async def main(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(reader.read(), HANG)
        finally:
            writer.close()

    with LocalServer(header_timeout=0.2, http=http) as server:
        assert asyncio.run(main(server.port)) == b""  # closed, without an answer


@pytest.mark.parametrize("http", HTTP_IMPLS)
def test_headers_trickled_a_byte_at_a_time_are_cut_off(http: str) -> None:
    head = post_head({**AUTH, "Content-Length": "0", "X-Padding": "x" * 400})

    async def main(port: int) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        eof = asyncio.ensure_future(reader.read())
        sent = 0
        try:
            for byte in head:  # a byte every 20 ms: 9 s for the whole head, never complete in 0.2 s
                done, _ = await asyncio.wait({eof}, timeout=0.02)
                if done:
                    break
                writer.write(bytes([byte]))
                sent += 1
            return sent, await asyncio.wait_for(eof, HANG)
        finally:
            writer.close()

    with LocalServer(header_timeout=0.2, http=http) as server:
        sent, rest = asyncio.run(main(server.port))
    assert rest == b"" and sent < len(head)


@pytest.mark.parametrize("http", HTTP_IMPLS)
def test_the_body_is_not_timed_and_idle_keep_alive_is_closed(http: str) -> None:
    body = b"\0" * 32000
    head = post_head({**AUTH, "Content-Length": str(len(body))})

    async def main(port: int) -> tuple[int, int, bool]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(head)
            await asyncio.sleep(0.4)  # twice the header timeout, between the headers and the body
            writer.write(body)
            first, _, _ = await read_response(reader)
            writer.write(head + body)  # the connection is kept alive for a second request
            second, _, _ = await read_response(reader)
            return first, second, await closed_by_server(reader)  # then closed when idle
        finally:
            writer.close()

    with LocalServer(header_timeout=0.2, keep_alive_timeout=0.2, http=http) as server:
        first, second, closed = asyncio.run(main(server.port))
        stats = server.stats()
    assert (first, second, closed) == (200, 200, True)
    assert stats["connections"] == 1


@pytest.mark.parametrize("http", HTTP_IMPLS)
def test_a_stalled_body_is_abandoned_and_a_slow_one_is_not(http: str) -> None:
    async def stalled(port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(post_head({**AUTH, "Content-Length": "1000"}) + b"RIFF")  # then nothing
            return await asyncio.wait_for(reader.read(), HANG)
        finally:
            writer.close()

    async def slow(url: str) -> int:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(8):  # a chunk every 0.05 s: 0.4 s in all, never 0.5 s without a byte
                yield b"\0" * 4000
                await asyncio.sleep(0.05)

        async with httpx.AsyncClient(timeout=HANG, trust_env=False) as client:
            r = await client.post(f"{url}/v1/listen", content=body(), headers=AUTH)
            return r.status_code

    with LocalServer(body_timeout=0.5, http=http) as server:
        assert asyncio.run(stalled(server.port)) == b""  # closed, without an answer
        assert asyncio.run(slow(server.url)) == 200
        stats = server.stats()
    assert stats["by_status"] == {"200": 1} and stats["in_flight"] == 0


def test_timeouts_are_validated() -> None:
    with pytest.raises(dgtools.ConfigError, match="header_timeout"):
        LocalServer(header_timeout=0)
    with pytest.raises(dgtools.ConfigError, match="keep_alive_timeout"):
        LocalServer(keep_alive_timeout=-1)
    with pytest.raises(dgtools.ConfigError, match="h2"):
        LocalServer(http="h2")
    with pytest.raises(dgtools.ConfigError, match="body_timeout"):
        create_app(engine=SyntheticEngine(), body_timeout=0)


# --------------------------------------------------------------------------- corrupt audio


def riff(*chunks: tuple[bytes, bytes], size: int | None = None) -> bytes:
    """A RIFF/WAVE file of these (id, payload) chunks; ``size`` overrides the first chunk's size field."""
    out = b"WAVE"
    for i, (chunk_id, payload) in enumerate(chunks):
        declared = size if (size is not None and i == 0) else len(payload)
        out += chunk_id + struct.pack("<I", declared) + payload + b"\0" * (len(payload) & 1)
    return b"RIFF" + struct.pack("<I", len(out)) + out


def fmt(
    channels: int = 1, rate: int = 8000, bits: int = 16, *, tag: int = 1, block: int | None = None
) -> bytes:
    align = channels * bits // 8 if block is None else block
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


ONE_SECOND = b"\0" * 16000  # 8 kHz, 16-bit mono
SMALL = wav_bytes(1)  # 16 KB: under the 64 KiB uvicorn reads before the app asks

CORRUPT = {
    # the fmt chunk's size runs past the RIFF size: Python's wave module raised RuntimeError (a 500)
    "chunk-past-the-end": riff((b"fmt ", fmt()), (b"data", ONE_SECOND), size=65536),
    "zero-channels": riff((b"fmt ", fmt(channels=0)), (b"data", ONE_SECOND)),
    "zero-sample-rate": riff((b"fmt ", fmt(rate=0)), (b"data", ONE_SECOND)),
    "absurd-sample-rate": riff((b"fmt ", fmt(rate=4_000_000_000 // 2)), (b"data", ONE_SECOND)),
    "zero-frame-size": riff((b"fmt ", fmt(bits=0, block=0)), (b"data", ONE_SECOND)),
    "short-fmt": riff((b"fmt ", fmt()[:12]), (b"data", ONE_SECOND)),
    "data-before-fmt": riff((b"data", ONE_SECOND), (b"fmt ", fmt())),
    "header-cut-short": riff((b"fmt ", fmt()), (b"data", ONE_SECOND))[:30],
    "no-data-chunk": riff((b"fmt ", fmt()), (b"LIST", b"INFO")),
}


@pytest.mark.parametrize("name", list(CORRUPT))
def test_corrupt_wav_is_400_not_500(server: LocalServer, name: str) -> None:
    body = assert_legacy_error(listen(server, body=CORRUPT[name]), 400, "Bad Request")
    assert body["err_msg"] == "Bad Request: failed to process audio: corrupt or unsupported data"


def test_absurd_raw_audio_options_are_400(server: LocalServer) -> None:
    for params in ({"channels": "99999999999999999999"}, {"encoding": "linear16", "sample_rate": "1"}):
        assert_legacy_error(listen(server, body=b"\0" * 32000, params=params), 400, "Bad Request")


def test_a_truncated_data_chunk_counts_the_audio_present(server: LocalServer) -> None:
    header = riff((b"fmt ", fmt()), (b"data", b""))[:-4]  # up to the data chunk's size field
    hour = header + struct.pack("<I", 3600 * 16000)  # the data chunk claims 3,600 s ...
    streaming = header + struct.pack("<I", 0xFFFFFFFF)  # ... or a streaming placeholder
    for wav in (hour + ONE_SECOND, streaming + ONE_SECOND + b"\0"):  # ... with 1 s present (and an odd byte)
        r = listen(server, body=wav)
        assert r.status_code == 200 and r.json()["metadata"]["duration"] == 1.0
    stereo = riff((b"fmt ", fmt(channels=2)), (b"data", b"\0" * 64000))
    assert listen(server, body=stereo, params={"multichannel": "true"}).json()["metadata"]["channels"] == 2
    rf64 = b"RF64" + stereo[4:]
    assert listen(server, body=rf64).json()["metadata"]["duration"] == 2.0


def test_any_damaged_wav_header_is_a_response_or_a_400() -> None:
    import random

    engine = SyntheticEngine()
    valid = wav_bytes(1)
    rng = random.Random(11)
    outcomes: Counter[int] = Counter()
    for _ in range(400):
        damaged = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(44)] = rng.randrange(256)
        if rng.random() < 0.3:
            damaged = damaged[: rng.randrange(60)]
        try:
            response = asyncio.run(
                engine.transcribe(audio=bytes(damaged), url=None, options=[], request_id="r", sha256=None)
            )
        except EngineError as exc:
            assert (exc.status_code, exc.err_code) == (400, "Bad Request")
            outcomes[400] += 1
        else:
            # never more than the bytes present at the lowest rate taken (1 kHz, 1-byte frames); the
            # wave module trusted a damaged data size: up to 74 hours, and seconds of CPU per answer
            assert 0 <= response["metadata"]["duration"] <= len(damaged) / 1000
            outcomes[200] += 1
    assert outcomes[200] > 100 and outcomes[400] > 100


# --------------------------------------------------------------------------- the max_concurrent fault


class Gate:
    """An engine holding every request until released (threading primitives: the server has its own thread)."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    async def transcribe(self, **kwargs: Any) -> dict[str, Any]:
        self.entered.release()
        await asyncio.to_thread(self.release.wait, HANG)
        return await SyntheticEngine().transcribe(**kwargs)


@pytest.mark.parametrize("http", HTTP_IMPLS)
def test_max_concurrent_answers_429_beyond_the_limit(http: str) -> None:
    gate = Gate()

    async def main(server: LocalServer) -> tuple[list[httpx.Response], list[httpx.Response], httpx.Response]:
        async with httpx.AsyncClient(
            base_url=server.url, headers=AUTH, timeout=HANG, trust_env=False
        ) as client:
            held = [asyncio.ensure_future(client.post("/v1/listen", content=AUDIO)) for _ in range(2)]
            for _ in held:  # both are in the engine
                assert await asyncio.to_thread(gate.entered.acquire, True, HANG)
            zeroed = await asyncio.to_thread(server.reset)  # requests in flight stay counted
            assert (zeroed["in_flight"], zeroed["max_in_flight"], zeroed["requests"]) == (2, 2, 0)
            over = [await client.post("/v1/listen", content=body) for body in (SMALL, AUDIO)]
            gate.release.set()
            first = list(await asyncio.gather(*held))
            after = await client.post("/v1/listen", content=AUDIO)  # a slot is free again
            return over, first, after

    faults = Faults(max_concurrent=2, retry_after_concurrent=0.25)
    with LocalServer(engine=gate, faults=faults, http=http) as server:
        over, first, after = asyncio.run(main(server))
        stats = server.stats()
    for r in over:
        error = assert_legacy_error(r, 429, "TOO_MANY_REQUESTS")
        assert error["err_msg"] == "Too many requests. Please try again later"
        assert r.headers["retry-after"] == "0.25"
    small, big = over
    assert "connection" not in small.headers  # answered at once; uvicorn had the body: the connection is kept
    assert big.headers["connection"] == "close"  # 320 KB announced: cut off rather than read
    assert [r.status_code for r in first] == [200, 200] and after.status_code == 200
    assert stats["by_status"] == {"200": 3, "429": 2}
    assert stats["max_in_flight"] == 2 and stats["in_flight_max"] == 3 and stats["in_flight"] == 0
    assert stats["concurrency_429"] == 2 and stats["requests"] == 3
    assert stats["by_sha256"] == {hashlib.sha256(AUDIO).hexdigest(): 3}


def test_max_concurrent_is_a_fault_option() -> None:
    assert Faults(max_concurrent=50).retry_after_concurrent == 1
    with pytest.raises(dgtools.ConfigError, match="max_concurrent"):
        Faults(max_concurrent=0)
    with pytest.raises(dgtools.ConfigError, match="retry_after_concurrent"):
        Faults(max_concurrent=1, retry_after_concurrent=-1)


# --------------------------------------------------------------------------- the official SDK


# deepgram-sdk 7.17 imports websockets.legacy and websockets.exceptions.InvalidStatusCode, both deprecated
# since websockets 14: third-party warnings at import, nothing dgtools can change.
@pytest.mark.filterwarnings("ignore:websockets.exceptions.InvalidStatusCode is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")
def test_official_sdk_transcribes_against_the_server() -> None:
    import deepgram  # the test extra installs the official SDK
    from deepgram.environment import DeepgramClientEnvironment

    with LocalServer(api_keys={"sdk-key"}) as server, httpx.Client(timeout=10, trust_env=False) as http:
        # The SDK takes every base URL from a DeepgramClientEnvironment; REST calls use `.base`.
        ws = server.url.replace("http://", "ws://")
        environment = DeepgramClientEnvironment(
            base=server.url, production=ws, agent=ws, agent_rest=server.url
        )
        client = deepgram.DeepgramClient(api_key="sdk-key", environment=environment, httpx_client=http)
        response = client.listen.v1.media.transcribe_file(request=AUDIO, model="nova-3", diarize=True)
        stats = server.stats()
    words = response.results.channels[0].alternatives[0].words
    assert len(words) > 10
    assert {w.speaker for w in words} == {0, 1}
    assert response.metadata.sha256 == hashlib.sha256(AUDIO).hexdigest()
    assert stats["by_status"] == {"200": 1}
    tables = dgtools.to_tables(response, file_id="sdk")  # the SDK object itself
    assert len(tables.words) == len(words)
