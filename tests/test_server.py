"""Tests of :mod:`dgtools.server`: real HTTP on 127.0.0.1 through :class:`LocalServer` and httpx."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Iterator
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
