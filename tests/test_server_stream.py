"""Tests of the local server's WebSocket ``/v1/listen`` (:mod:`dgtools.server.stream`), with the websockets client."""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
import logging
import statistics
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import dgtools
from conftest import fixture_path
from dgtools.engines.local import LocalEngine
from dgtools.server import Faults, LocalServer, SyntheticEngine, create_app
from dgtools.server.segments import PauseSegmenter
from dgtools.server.stream import SyntheticStream, parse_stream_query

REPO = Path(__file__).resolve().parents[1]
WAV = REPO / "data" / "audio" / "one_speaker.wav"
STEREO = REPO / "data" / "audio" / "stereo_call.wav"
KEY = "sentinel-key-7f3a"
TOKEN = "sentinel-jwt-1c9e"
HANG = 30  # seconds: a guard against a hung test, never a limit on how fast anything must be


def pcm(path: Path) -> tuple[bytes, int, int]:
    """The PCM frames of a 16-bit WAV, its rate and channels."""
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes()), w.getframerate(), w.getnchannels()


def ws_url(server: LocalServer, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/v1/listen" + (f"?{query}" if query else "")


def run(coro: Any) -> Any:
    async def guarded() -> Any:
        async with asyncio.timeout(HANG):
            return await coro

    return asyncio.run(guarded())


async def receive_all(ws: ClientConnection) -> list[dict[str, Any]]:
    """Every message until the server closes."""
    out: list[dict[str, Any]] = []
    try:
        async for raw in ws:
            out.append(json.loads(raw))
    except ConnectionClosed:
        pass
    return out


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(api_keys={KEY}, access_tokens={TOKEN}) as s:  # Deepgram's 10 s stream timeout
        yield s


@pytest.fixture(scope="module")
def impatient() -> Iterator[LocalServer]:
    """A server that closes a socket silent for 1 s."""
    with LocalServer(api_keys={KEY}, stream_timeout=1.0) as s:
        yield s


LINEAR16 = "encoding=linear16&sample_rate=16000&channels=1"


async def stream_file(
    server: LocalServer, query: str, *, chunk_s: float = 0.1, headers: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], ClientConnection, bytes]:
    audio, rate, channels = pcm(WAV)
    step = int(chunk_s * rate) * 2 * channels
    async with connect(
        ws_url(server, query), additional_headers=headers or {"Authorization": f"Token {KEY}"}
    ) as ws:
        for i in range(0, len(audio), step):
            await ws.send(audio[i : i + step])
        await ws.send(json.dumps({"type": "CloseStream"}))
        messages = await receive_all(ws)
    return messages, ws, audio


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    ("query", "headers", "subprotocols", "accepted"),
    [
        ("", {"Authorization": f"Token {KEY}"}, None, None),
        ("", {"Authorization": f"Bearer {TOKEN}"}, None, None),
        (f"token={KEY}", {}, None, None),
        ("", {}, ["token", KEY], "token"),
        ("", {}, ["bearer", TOKEN], "bearer"),
    ],
    ids=["header-token", "header-bearer", "query-token", "subprotocol-token", "subprotocol-bearer"],
)
def test_credentials_are_accepted_every_way(
    server: LocalServer,
    query: str,
    headers: dict[str, str],
    subprotocols: list[str] | None,
    accepted: str | None,
) -> None:
    async def go() -> tuple[str | None, str, list[dict[str, Any]], int | None]:
        async with connect(
            ws_url(server, query),
            additional_headers=headers,
            subprotocols=subprotocols,  # type: ignore[arg-type]
        ) as ws:
            request_id = ws.response.headers["dg-request-id"]
            await ws.send(json.dumps({"type": "CloseStream"}))
            messages = await receive_all(ws)
        return ws.subprotocol, request_id, messages, ws.close_code

    subprotocol, request_id, messages, code = run(go())
    assert subprotocol == accepted
    assert code == 1000
    assert [m["type"] for m in messages] == ["Metadata"]
    meta = messages[0]
    assert meta["request_id"] == request_id
    assert (meta["duration"], meta["channels"], meta["transaction_key"]) == (0.0, 0, "deprecated")
    assert meta["sha256"] == hashlib.sha256(b"").hexdigest()  # Deepgram's own example for no audio


@pytest.mark.parametrize(
    ("query", "headers", "subprotocols"),
    [
        ("", {}, None),
        ("", {"Authorization": "Token wrong"}, None),
        ("", {"Authorization": f"Bearer {KEY}"}, None),
        ("token=wrong", {}, None),
        ("", {}, ["token", "wrong"]),
    ],
    ids=["missing", "wrong-key", "key-as-bearer", "wrong-query-token", "wrong-subprotocol"],
)
def test_bad_credentials_are_refused_at_the_handshake_with_401(
    server: LocalServer, query: str, headers: dict[str, str], subprotocols: list[str] | None
) -> None:
    async def go() -> None:
        async with connect(ws_url(server, query), additional_headers=headers, subprotocols=subprotocols):  # type: ignore[arg-type]
            pass

    with pytest.raises(InvalidStatus) as info:
        run(go())
    response = info.value.response
    assert response.status_code == 401
    body = json.loads(response.body)
    assert body["err_code"] == "INVALID_AUTH"
    assert response.headers["dg-request-id"] == body["request_id"]
    assert response.headers["dg-error"] == body["err_msg"]


@pytest.mark.parametrize(
    "query",
    ["interim_results=maybe", "endpointing=soon", "utterance_end_ms=0", "encoding=linear16", "diarise=true"],
)
def test_invalid_options_are_refused_at_the_handshake_with_400(server: LocalServer, query: str) -> None:
    async def go() -> None:
        async with connect(ws_url(server, query), additional_headers={"Authorization": f"Token {KEY}"}):
            pass

    with pytest.raises(InvalidStatus) as info:
        run(go())
    assert info.value.response.status_code == 400
    assert json.loads(info.value.response.body)["err_code"] == "INVALID_QUERY_PARAMETER"


def test_the_query_token_never_reaches_the_log(server: LocalServer, caplog: pytest.LogCaptureFixture) -> None:
    uvicorn_log = logging.getLogger("uvicorn.error")  # uvicorn logs each WebSocket's path and query here
    level = uvicorn_log.level
    uvicorn_log.setLevel(logging.INFO)
    try:
        with caplog.at_level(logging.INFO):

            async def go() -> None:
                async with connect(ws_url(server, f"token={KEY}&punctuate=true")) as ws:
                    await ws.send(json.dumps({"type": "CloseStream"}))
                    await receive_all(ws)

            run(go())
    finally:
        uvicorn_log.setLevel(level)
    assert "WebSocket /v1/listen" in caplog.text
    assert KEY not in caplog.text


# --------------------------------------------------------------------------- results


def test_a_streamed_file_gets_finals_tiling_the_audio_once_and_metadata(server: LocalServer) -> None:
    before = server.stats()
    messages, ws, audio = run(stream_file(server, f"{LINEAR16}&interim_results=true&punctuate=true"))
    assert ws.close_code == 1000
    seconds = len(audio) / (2 * 16000)
    results = [m for m in messages if m["type"] == "Results"]
    finals = [m for m in results if m["is_final"]]
    assert any(not m["is_final"] for m in results)  # interims came too
    assert finals[0]["start"] == 0.0
    for a, b in itertools.pairwise(finals):
        assert b["start"] == pytest.approx(a["start"] + a["duration"], abs=1e-6)
    assert finals[-1]["start"] + finals[-1]["duration"] == pytest.approx(seconds, abs=1e-6)
    assert any(m["speech_final"] for m in finals)
    words = [w for m in finals for w in m["channel"]["alternatives"][0]["words"]]
    assert len(words) > 2 * seconds  # about 2.5 words a second
    for m in finals:
        for w in m["channel"]["alternatives"][0]["words"]:
            assert m["start"] <= w["start"] < w["end"] <= m["start"] + m["duration"] + 1e-6
            assert "punctuated_word" in w
    # interims cover the audio since the last final
    for m in results:
        assert m["channel_index"] == [0, 1]
        assert set(m["metadata"]) == {"request_id", "model_info", "model_uuid"}
        assert m["from_finalize"] is False
    meta = messages[-1]
    assert meta["type"] == "Metadata"
    assert meta["duration"] == pytest.approx(seconds, abs=1e-6)
    assert meta["sha256"] == hashlib.sha256(audio).hexdigest()
    assert meta["channels"] == 1
    assert meta["models"] == [finals[0]["metadata"]["model_uuid"]]
    assert meta["request_id"] == finals[0]["metadata"]["request_id"]
    after = server.stats()
    assert after["streams"] == before.get("streams", 0) + 1
    assert after["stream_messages"] == before.get("stream_messages", 0) + len(messages)
    closes = before.get("stream_closes", {})
    assert after["stream_closes"]["1000"] == closes.get("1000", 0) + 1


def test_some_interims_are_revised_by_their_finals_and_finals_do_not_change(server: LocalServer) -> None:
    with_interims, _, _ = run(stream_file(server, f"{LINEAR16}&interim_results=true&punctuate=true"))
    without, _, _ = run(stream_file(server, f"{LINEAR16}&punctuate=true"))

    def finals(messages: list[dict[str, Any]]) -> list[tuple[float, float, dict[str, Any]]]:
        return [
            (m["start"], m["duration"], m["channel"]["alternatives"][0])
            for m in messages
            if m["type"] == "Results" and m["is_final"]
        ]

    assert finals(with_interims) == finals(without)  # interims, revised or not, change no final
    final_words = {start: alt["words"] for start, _, alt in finals(with_interims)}
    interims = [
        m
        for m in with_interims
        if m["type"] == "Results" and not m["is_final"] and m["channel"]["alternatives"][0]["words"]
    ]
    revised = 0
    for m in interims:
        alt = m["channel"]["alternatives"][0]
        words = alt["words"]
        final = final_words[m["start"]][: len(words)]  # an interim covers the start of its final's audio
        assert [(w["start"], w["end"]) for w in words] == [(w["start"], w["end"]) for w in final]
        assert words[:-1] == final[:-1]  # only the last word may be wrong
        if words[-1]["word"] != final[-1]["word"]:
            revised += 1
            assert words[-1]["confidence"] < final[-1]["confidence"]
            assert words[-1]["punctuated_word"].lower().startswith(words[-1]["word"])
            assert alt["transcript"].endswith(words[-1]["punctuated_word"])
    print(f"{revised} of {len(interims)} interims revised by their final")
    assert 0 < revised < len(interims) / 2


def test_messages_have_the_shape_of_real_frames(server: LocalServer) -> None:
    real = fixture_path("streaming_results_final_speechfinal__deepgram-docs.json")
    messages, _, _ = run(stream_file(server, f"{LINEAR16}&punctuate=true"))
    final = next(m for m in messages if m["type"] == "Results")
    frame = json.loads(real.read_text())
    assert list(final) == list(frame)  # same keys, same order
    assert set(final["metadata"]) == set(frame["metadata"])
    metadata_doc = json.loads(fixture_path("streaming_metadata_closestream__deepgram-docs.json").read_text())
    assert set(metadata_doc) <= set(messages[-1])


def test_a_wav_container_is_timed_from_its_header(server: LocalServer) -> None:
    data = STEREO.read_bytes()
    _, rate, channels = pcm(STEREO)

    async def go() -> list[dict[str, Any]]:
        async with connect(
            ws_url(server, "multichannel=true"), additional_headers={"Authorization": f"Token {KEY}"}
        ) as ws:
            for i in range(0, len(data), 8000):
                await ws.send(data[i : i + 8000])
            await ws.send(json.dumps({"type": "CloseStream"}))
            return await receive_all(ws)

    messages = run(go())
    with wave.open(str(STEREO), "rb") as w:
        seconds = w.getnframes() / rate
    meta = messages[-1]
    assert (meta["channels"], meta["duration"]) == (channels, pytest.approx(seconds, abs=1e-6))
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    for c in range(channels):
        finals = [m for m in messages if m["type"] == "Results" and m["channel_index"] == [c, channels]]
        assert finals[-1]["start"] + finals[-1]["duration"] == pytest.approx(seconds, abs=1e-6)


def test_utterance_end_and_speech_started_when_asked(server: LocalServer) -> None:
    messages, _, _ = run(
        stream_file(server, f"{LINEAR16}&interim_results=true&utterance_end_ms=500&vad_events=true")
    )
    kinds = {m["type"] for m in messages}
    assert {"UtteranceEnd", "SpeechStarted"} <= kinds
    finals_words = [
        w["end"]
        for m in messages
        if m["type"] == "Results" and m["is_final"]
        for w in m["channel"]["alternatives"][0]["words"]
    ]
    for m in messages:
        if m["type"] == "UtteranceEnd":
            assert m["channel"] == [0, 1] and m["last_word_end"] in finals_words
        if m["type"] == "SpeechStarted":
            assert m["channel"] == [0, 1] and m["timestamp"] >= 0


def test_finalize_flushes_a_final_from_finalize(server: LocalServer) -> None:
    audio, _, _ = pcm(WAV)

    async def go() -> list[dict[str, Any]]:
        async with connect(
            ws_url(server, LINEAR16), additional_headers={"Authorization": f"Token {KEY}"}
        ) as ws:
            await ws.send(audio[: int(0.5 * 32000)])  # half a second: no final due yet
            await ws.send(json.dumps({"type": "Finalize"}))
            first = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "CloseStream"}))
            return [first, *await receive_all(ws)]

    messages = run(go())
    assert messages[0]["type"] == "Results"
    assert messages[0]["is_final"] is True and messages[0]["from_finalize"] is True
    assert (messages[0]["start"], messages[0]["duration"]) == (0.0, 0.5)
    assert [m["type"] for m in messages[1:]] == ["Metadata"]


# --------------------------------------------------------------------------- closes


def test_a_silent_socket_closes_1011_net_0001_and_keepalive_keeps_it_open(impatient: LocalServer) -> None:
    server = impatient

    async def silent() -> tuple[int | None, str | None]:
        async with connect(ws_url(server), additional_headers={"Authorization": f"Token {KEY}"}) as ws:
            await receive_all(ws)
        return ws.close_code, ws.close_reason

    assert run(silent()) == (1011, "NET-0001")

    async def kept_alive() -> list[dict[str, Any]]:
        async with connect(ws_url(server), additional_headers={"Authorization": f"Token {KEY}"}) as ws:
            for _ in range(10):  # 2 s in all, past the 1 s timeout
                await ws.send(json.dumps({"type": "KeepAlive"}))
                await asyncio.sleep(0.2)
            await ws.send(json.dumps({"type": "CloseStream"}))
            messages = await receive_all(ws)
        assert ws.close_code == 1000
        return messages

    assert [m["type"] for m in run(kept_alive())] == ["Metadata"]


@pytest.mark.parametrize(
    ("query", "frames"),
    [
        (LINEAR16, [b"\0" * 3201, json.dumps({"type": "CloseStream"})]),  # linear16 with an odd byte count
        ("", [b"this is not audio at all", json.dumps({"type": "CloseStream"})]),  # no known container
        ("", [b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0" + b"\0" * 16 + b"data\0\0\0\0"]),  # zero channels
        (LINEAR16, [b"\0" * 3200, "hello"]),  # a text frame that is no control message
        (LINEAR16, [json.dumps({"type": "Unknown"})]),
    ],
    ids=["odd-linear16", "not-a-container", "corrupt-wav", "text", "unknown-type"],
)
def test_bad_data_closes_1008_data_0000(server: LocalServer, query: str, frames: list[bytes | str]) -> None:
    async def go() -> tuple[int | None, str | None]:
        async with connect(ws_url(server, query), additional_headers={"Authorization": f"Token {KEY}"}) as ws:
            for frame in frames:
                await ws.send(frame)
            await receive_all(ws)
        return ws.close_code, ws.close_reason

    assert run(go()) == (1008, "DATA-0000")


def test_stream_timeout_is_validated() -> None:
    with pytest.raises(ValueError, match="stream_timeout"):
        create_app(engine=SyntheticEngine(), stream_timeout=0)


# --------------------------------------------------------------------------- the transcriber alone


def test_the_synthetic_stream_is_deterministic_and_chunking_does_not_change_finals() -> None:
    opts = parse_stream_query([("encoding", "linear16"), ("sample_rate", "16000")])

    def finals(steps: list[float]) -> list[tuple[float, float, str]]:
        s = SyntheticStream(opts, channels=1, request_id="r")
        out = [m for t in steps for m in s.feed(t)] + s.flush(steps[-1])
        return [(m["start"], m["duration"], m["channel"]["alternatives"][0]["transcript"]) for m in out]

    fine = finals([i / 10 for i in range(1, 101)])
    coarse = finals([2.5, 5.0, 7.5, 10.0])
    assert fine == coarse
    assert sum(d for _, d, _ in fine) == pytest.approx(10.0)


# --------------------------------------------------------------------------- the official SDK


# deepgram-sdk 7.17 imports websockets.legacy and websockets.exceptions.InvalidStatusCode, both deprecated
# since websockets 14: third-party warnings at import, nothing dgtools can change (as in tests/test_server.py).
@pytest.mark.filterwarnings("ignore:websockets.exceptions.InvalidStatusCode is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")
def test_official_sdk_live_client_gets_results(server: LocalServer) -> None:
    import deepgram
    from deepgram.environment import DeepgramClientEnvironment

    ws = server.url.replace("http://", "ws://")
    environment = DeepgramClientEnvironment(base=server.url, production=ws, agent=ws, agent_rest=server.url)
    client = deepgram.DeepgramClient(api_key=KEY, environment=environment)
    audio, _, _ = pcm(WAV)
    with client.listen.v1.connect(
        model="nova-3", encoding="linear16", sample_rate=16000, interim_results="true", punctuate="true"
    ) as socket:
        for i in range(0, len(audio), 3200):
            socket.send_media(audio[i : i + 3200])
        socket.send_close_stream()
        messages = list(socket)
    kinds = [type(m).__name__ for m in messages]
    results = [m for m in messages if getattr(m, "type", None) == "Results"]
    assert results, kinds
    assert any(m.is_final for m in results)
    assert any(w.punctuated_word for m in results for w in m.channel.alternatives[0].words)
    metadata = [m for m in messages if getattr(m, "type", None) == "Metadata"]
    assert len(metadata) == 1
    assert metadata[0].sha256 == hashlib.sha256(audio).hexdigest()


# --------------------------------------------------------------------------- faults on streams


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"final_delay": -0.1}, "final_delay must be >= 0"),
        ({"stream_drops": 1}, "set stream_drop_after=SECONDS too"),
        ({"stream_drops": -1, "stream_drop_after": 1.0}, "stream_drops must be >= 0"),
    ],
)
def test_stream_faults_are_validated(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(dgtools.ConfigError, match=message):
        Faults(**fields)


async def paced(
    server: LocalServer, query: str, audio: bytes, *, chunk_s: float = 0.1, pace: float = 0.05
) -> tuple[list[tuple[float, dict[str, Any]]], list[tuple[float, float]]]:
    """Stream ``audio`` (16 kHz linear16) a chunk every ``pace`` s; every message with its receive time,
    and ``(audio seconds sent, when)`` after each chunk."""
    step = int(chunk_s * 16000) * 2
    got: list[tuple[float, dict[str, Any]]] = []
    sent: list[tuple[float, float]] = []
    async with connect(ws_url(server, query), additional_headers={"Authorization": f"Token {KEY}"}) as ws:

        async def read() -> None:
            async for raw in ws:
                got.append((time.monotonic(), json.loads(raw)))

        reader = asyncio.create_task(read())
        for i in range(0, len(audio), step):
            await ws.send(audio[i : i + step])
            sent.append((min(i + step, len(audio)) / 32000, time.monotonic()))
            await asyncio.sleep(pace)
        await ws.send(json.dumps({"type": "CloseStream"}))
        await reader
    return got, sent


def lateness(got: list[tuple[float, dict[str, Any]]], sent: list[tuple[float, float]]) -> list[float]:
    """For each final: seconds from sending the chunk that completed its audio to receiving it."""
    out = []
    for at, m in got:
        if m["type"] == "Results" and m["is_final"]:
            end = m["start"] + m["duration"]
            out.append(at - next(t for seconds, t in sent if seconds >= end - 1e-6))
    return out


def shape(got: list[tuple[float, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    return [(m["type"], m.get("is_final"), m.get("start"), m.get("duration")) for _, m in got]


def test_final_delay_holds_back_finals_and_keeps_the_order() -> None:
    delay = 0.4
    audio = pcm(WAV)[0][: 4 * 32000]  # 4 s, sent at twice real time
    query = f"{LINEAR16}&interim_results=true"
    with (
        LocalServer(api_keys={KEY}) as plain,
        LocalServer(api_keys={KEY}, faults=Faults(final_delay=delay)) as slow,
    ):
        got_plain, sent_plain = run(paced(plain, query, audio))
        got_slow, sent_slow = run(paced(slow, query, audio))
    assert shape(got_slow) == shape(got_plain)  # the same messages in the same order
    assert shape(got_slow)[-1][0] == "Metadata"
    late_plain, late_slow = lateness(got_plain, sent_plain), lateness(got_slow, sent_slow)
    assert len(late_slow) == len(late_plain) >= 3
    added = statistics.median(late_slow) - statistics.median(late_plain)
    print(f"final_delay={delay}: finals arrive {added:.3f} s later (median)")
    assert added > delay / 2
    assert min(late_slow) > min(late_plain)


def test_stream_drops_drops_only_the_first_streams_to_reach_the_limit() -> None:
    async def one(server: LocalServer) -> tuple[int | None, list[str]]:
        messages, ws, _ = await stream_file(server, LINEAR16)
        return ws.close_code, [m["type"] for m in messages]

    with LocalServer(api_keys={KEY}, faults=Faults(stream_drop_after=2.0, stream_drops=1)) as server:
        code, kinds = run(one(server))
        assert code == 1006 and kinds and set(kinds) == {"Results"}  # no close frame, no Metadata
        for _ in range(2):  # the next streams run to their end
            code, kinds = run(one(server))
            assert code == 1000 and kinds[-1] == "Metadata"
        stats = server.stats()
        assert (stats["streams"], stats["dropped"]) == (3, 1)
        server.reset()  # the count starts again
        assert run(one(server))[0] == 1006
        assert run(one(server))[0] == 1000


def test_a_dropped_stream_gets_every_message_sent_before_the_drop() -> None:
    """The drop comes after what the server sent: a reset could discard messages the client had not read."""

    async def go(server: LocalServer) -> list[dict[str, Any]]:
        return (await stream_file(server, f"{LINEAR16}&interim_results=true"))[0]

    with LocalServer(api_keys={KEY}, faults=Faults(stream_drop_after=2.0)) as server:
        for _ in range(3):
            before = server.stats()["stream_messages"]
            messages = run(go(server))
            assert len(messages) == server.stats()["stream_messages"] - before > 0


# --------------------------------------------------------------------------- offline engines on streams

REAL = REPO / "data" / "real"
TWO_VOICES = REPO / "data" / "audio" / "two_voices.wav"


@pytest.fixture(scope="module")
def local() -> Iterator[LocalServer]:
    """A server with the pocketsphinx engine, whose streams may be one 60 s segment."""
    with (
        LocalEngine(max_decoders=2) as engine,
        LocalServer(engine=engine, api_keys={KEY}, stream_max_segment=60) as s,
    ):
        yield s


@pytest.fixture(scope="module", params=["local", "whisper"])
def offline(request: pytest.FixtureRequest, local: LocalServer) -> Iterator[LocalServer]:
    """The pocketsphinx server, then one with Whisper tiny.en (skipped without it, failed under
    DGTOOLS_REQUIRE=whisper)."""
    if request.param == "local":
        yield local
        return
    import importlib.util

    from conftest import missing

    if importlib.util.find_spec("faster_whisper") is None:
        missing("whisper", "faster-whisper is not installed (pip install 'dgtools[whisper]')")
    from dgtools.engines.whisper import WhisperEngine, available_models

    if "tiny.en" not in available_models():
        missing("whisper", "the Whisper tiny.en weights are not installed")
    engine = WhisperEngine(model="tiny.en", cpu_threads=2)
    with engine, LocalServer(engine=engine, api_keys={KEY}, stream_max_segment=60) as s:
        yield s


RestWords = Callable[[LocalServer, Path], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def rest_words() -> RestWords:
    """The words a server's REST route gives for a file (asked once per server and file: decodes are slow)."""
    import httpx

    seen: dict[tuple[str, Path], list[dict[str, Any]]] = {}

    def words(server: LocalServer, path: Path) -> list[dict[str, Any]]:
        key = (server.url, path)
        if key not in seen:
            r = httpx.post(
                f"{server.url}/v1/listen",
                content=path.read_bytes(),
                headers={"Authorization": f"Token {KEY}"},
                timeout=HANG,
                trust_env=False,
            )
            r.raise_for_status()
            seen[key] = list(r.json()["results"]["channels"][0]["alternatives"][0]["words"])
        return seen[key]

    return words


def final_words(messages: list[dict[str, Any]], channel: int = 0) -> list[dict[str, Any]]:
    return [
        w
        for m in messages
        if m["type"] == "Results" and m["is_final"] and m["channel_index"][0] == channel
        for w in m["channel"]["alternatives"][0]["words"]
    ]


def check_finals_tile(messages: list[dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
    finals = [m for m in messages if m["type"] == "Results" and m["is_final"]]
    assert finals[0]["start"] == 0.0
    for a, b in itertools.pairwise(finals):
        assert b["start"] == pytest.approx(a["start"] + a["duration"], abs=1e-5)
    assert finals[-1]["start"] + finals[-1]["duration"] == pytest.approx(seconds, abs=1e-5)
    for m in finals:
        for w in m["channel"]["alternatives"][0]["words"]:
            assert m["start"] - 0.05 <= w["start"] <= w["end"] <= m["start"] + m["duration"] + 0.05
    return finals


def test_one_segment_gives_the_words_of_the_rest_route(
    offline: LocalServer, rest_words: RestWords, real_speech: Path, tmp_path: Path
) -> None:
    """endpointing=false and a long stream_max_segment: the whole stream is one segment, transcribed as the
    REST route transcribes the file (30 s of a real call)."""
    path = real_speech / "call.wav"
    expected = rest_words(offline, path)
    streamed = dgtools.stream(
        path, store=tmp_path, realtime=0, api_key=KEY, base_url=offline.url, endpointing=False
    )
    assert len(streamed.finals) == 1 and streamed.finals[0]["speech_final"] is False
    got = final_words(streamed.messages)
    assert [w["word"] for w in got] == [w["word"] for w in expected] and len(got) > 20
    assert [w["start"] for w in got] == pytest.approx([w["start"] for w in expected], abs=1e-5)
    meta = streamed.messages[-1]
    assert meta["type"] == "Metadata" and meta["duration"] == pytest.approx(streamed.audio_seconds)
    assert streamed.finals[0]["metadata"]["model_uuid"] == meta["models"][0]
    assert meta["model_info"][meta["models"][0]]["name"] in ("pocketsphinx-en-us", "whisper-tiny.en")


def test_pauses_cut_real_speech_into_finals_close_to_the_rest_route(
    offline: LocalServer, rest_words: RestWords, real_speech: Path, tmp_path: Path
) -> None:
    """The call and the LibriVox sentences, cut at pauses: the words stay close to the REST route's."""
    import jiwer

    expected, got, finals = [], [], []
    for path in [real_speech / "call.wav", *sorted((real_speech / "librivox").glob("*.wav"))]:
        expected.append(" ".join(w["word"] for w in rest_words(offline, path)))
        streamed = dgtools.stream(path, store=tmp_path, realtime=0, api_key=KEY, base_url=offline.url)
        finals.append(check_finals_tile(streamed.messages, streamed.audio_seconds))
        got.append(" ".join(w["word"] for w in final_words(streamed.messages)))
    call, pooled = jiwer.wer(expected[0], got[0]), jiwer.wer(expected, got)
    engine = finals[0][0]["metadata"]["model_info"]["name"]
    print(f"{engine}: WER of streamed (cut at pauses) against REST words: call {call:.3f}, all {pooled:.3f}")
    assert len(finals[0]) >= 3 and sum(m["speech_final"] for m in finals[0]) >= 2
    assert call <= 0.2 and pooled <= 0.1


def test_an_offline_stream_sends_speech_started_utterance_end_and_interims(
    local: LocalServer, tmp_path: Path
) -> None:
    """Espeak turns 0.9 s apart: a final per turn at least, SpeechStarted where each turn starts."""
    turns = [
        float(line.split()[3])
        for line in (REPO / "data" / "references" / "two_voices.rttm").read_text().splitlines()
    ]
    streamed = dgtools.stream(
        TWO_VOICES, store=tmp_path, realtime=0, api_key=KEY, base_url=local.url,
        vad_events=True, utterance_end_ms=700, interim_results=True, punctuate=True,
    )  # fmt: skip
    messages = streamed.messages
    finals = check_finals_tile(messages, streamed.audio_seconds)
    assert sum(m["speech_final"] for m in finals) >= len(turns) - 1
    started = [m["timestamp"] for m in messages if m["type"] == "SpeechStarted"]
    for t in turns:
        assert any(abs(s - t) < 0.2 for s in started), (t, started)
    ends = [m for m in messages if m["type"] == "UtteranceEnd"]
    assert len(ends) >= len(turns) - 1
    words = final_words(messages)
    assert {m["last_word_end"] for m in ends} <= {w["end"] for w in words}
    assert all("punctuated_word" in w for w in words)
    for i, m in enumerate(messages):  # an UtteranceEnd follows the final holding its word
        if m["type"] == "UtteranceEnd":
            before = final_words(messages[:i])
            assert before[-1]["end"] == m["last_word_end"]
    interims = [m for m in messages if m["type"] == "Results" and not m["is_final"]]
    for m in interims:  # an interim covers the audio of a final to come, from its start
        assert any(f["start"] == m["start"] and f["duration"] >= m["duration"] for f in finals)


def test_finalize_ends_the_segment_and_multichannel_wav_is_transcribed_per_channel(
    local: LocalServer,
) -> None:
    audio, _, _ = pcm(WAV)

    async def finalize() -> list[dict[str, Any]]:
        async with connect(
            ws_url(local, LINEAR16), additional_headers={"Authorization": f"Token {KEY}"}
        ) as ws:
            await ws.send(audio[: 3 * 32000])
            await ws.send(json.dumps({"type": "Finalize"}))
            await ws.send(audio[3 * 32000 :])
            await ws.send(json.dumps({"type": "CloseStream"}))
            return await receive_all(ws)

    messages = run(finalize())
    finals = check_finals_tile(messages, len(audio) / 32000)
    flushed = [m for m in finals if m["from_finalize"]]
    assert len(flushed) == 1 and flushed[0]["start"] + flushed[0]["duration"] == pytest.approx(3.0)
    assert messages[-1]["type"] == "Metadata"

    data = STEREO.read_bytes()

    async def stereo() -> list[dict[str, Any]]:
        async with connect(
            ws_url(local, "multichannel=true"), additional_headers={"Authorization": f"Token {KEY}"}
        ) as ws:
            for i in range(0, len(data), 8000):
                await ws.send(data[i : i + 8000])
            await ws.send(json.dumps({"type": "CloseStream"}))
            return await receive_all(ws)

    messages = run(stereo())
    assert {tuple(m["channel_index"]) for m in messages if m["type"] == "Results"} == {(0, 2), (1, 2)}
    assert final_words(messages, 0) and final_words(messages, 1)
    assert messages[-1]["channels"] == 2


def test_audio_that_cannot_be_cut_is_transcribed_whole_at_the_end(
    local: LocalServer, rest_words: RestWords, tmp_path: Path
) -> None:
    """A FLAC stream (a container the server does not cut into frames): one final at CloseStream."""
    import soundfile as sf

    x, rate = sf.read(WAV, dtype="int16")
    buffer = io.BytesIO()
    sf.write(buffer, x, rate, format="FLAC")
    flac = tmp_path / "one_speaker.flac"
    flac.write_bytes(buffer.getvalue())
    expected = [w["word"] for w in rest_words(local, flac)]

    async def go() -> list[dict[str, Any]]:
        data = flac.read_bytes()
        async with connect(ws_url(local), additional_headers={"Authorization": f"Token {KEY}"}) as ws:
            for i in range(0, len(data), 4000):
                await ws.send(data[i : i + 4000])
            await ws.send(json.dumps({"type": "CloseStream"}))
            return await receive_all(ws)

    messages = run(go())
    assert [m["type"] for m in messages] == ["Results", "Metadata"]
    assert [w["word"] for w in final_words(messages)] == expected and expected


def test_audio_kept_whole_that_the_engine_cannot_decode_closes_1008(local: LocalServer) -> None:
    messages, code = run(_send(local, "", [b"OggS" + bytes(4000), json.dumps({"type": "CloseStream"})]))
    assert code == (1008, "DATA-0000") and messages == []


async def _send(
    server: LocalServer, query: str, frames: list[bytes | str]
) -> tuple[list[dict[str, Any]], tuple[int | None, str | None]]:
    async with connect(ws_url(server, query), additional_headers={"Authorization": f"Token {KEY}"}) as ws:
        for frame in frames:
            await ws.send(frame)
        messages = await receive_all(ws)
    return messages, (ws.close_code, ws.close_reason)


class _Failing(LocalEngine):
    def transcribe_bytes(self, audio: bytes, options: Any = None, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("the decoder fell over")


def test_an_engine_failure_closes_the_stream_1011(caplog: pytest.LogCaptureFixture) -> None:
    with (
        _Failing(max_decoders=1) as engine,
        LocalServer(engine=engine, api_keys={KEY}) as server,
        caplog.at_level(logging.ERROR),
    ):
        _, ws, _ = run(stream_file(server, LINEAR16))
    assert (ws.close_code, ws.close_reason) == (1011, "NET-0000")
    assert "the decoder fell over" in caplog.text


def test_the_pause_segmenter_cuts_in_the_pauses_whatever_the_chunks() -> None:
    audio, rate, _ = pcm(TWO_VOICES)
    rttm = (REPO / "data" / "references" / "two_voices.rttm").read_text().splitlines()
    turns = [(float(f[3]), float(f[3]) + float(f[4])) for f in (line.split() for line in rttm)]

    def cuts(chunk_s: float) -> list[tuple[int, int, bool]]:
        seg = PauseSegmenter(
            rate=rate, frame_bytes=2, pause=0.3,
            decode=lambda b: np.frombuffer(b, "<i2").astype(np.float32) / 32768,
        )  # fmt: skip
        step = 2 * int(chunk_s * rate)
        out = [s for i in range(0, len(audio), step) for s in seg.add(audio[i : i + step])]
        last = seg.rest()
        return [(s.start, s.end, s.at_pause) for s in [*out, *([last] if last else [])]]

    reference = cuts(0.1)
    assert cuts(0.02) == reference and cuts(0.37) == reference
    assert reference[0][0] == 0 and reference[-1][1] == len(audio) // 2
    assert all(a[1] == b[0] for a, b in itertools.pairwise(reference))  # consecutive
    at_pauses = [end / rate for _, end, at_pause in reference if at_pause]
    for a, b in itertools.pairwise(turns):  # one cut in each gap between turns (others between sentences)
        assert sum(a[1] < t < b[0] for t in at_pauses) == 1


def test_serve_takes_the_stream_settings_and_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    import dgtools.server
    from dgtools.cli import main

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(dgtools.server, "run", lambda **kwargs: calls.append(kwargs))
    argv = ["serve", "--stream-timeout", "2.5", "--stream-max-segment", "30", "--stream-drop-after", "1.5",
            "--stream-drops", "1", "--final-delay", "0.25", "--callback-twice", "2", "--callback-unknown", "1",
            "--callback-retry-base", "0.05"]  # fmt: skip
    assert main(argv) == 0
    (kwargs,) = calls
    assert (kwargs["stream_timeout"], kwargs["stream_max_segment"]) == (2.5, 30.0)
    assert (kwargs["stream_drop_after"], kwargs["stream_drops"], kwargs["final_delay"]) == (1.5, 1, 0.25)
    assert (kwargs["callback_twice"], kwargs["callback_unknown"], kwargs["callback_retry_base"]) == (
        2,
        1,
        0.05,
    )
    assert main(["serve"]) == 0
    assert "stream_timeout" not in calls[-1] and calls[-1]["final_delay"] == 0.0
    defaults = Faults()
    assert (calls[-1]["callback_twice"], calls[-1]["callback_retry_base"]) == (
        0,
        defaults.callback_retry_base,
    )
    Faults(**{k: v for k, v in kwargs.items() if k in Faults.names()})  # every fault the CLI passes is one


def test_stream_max_segment_is_validated() -> None:
    with pytest.raises(ValueError, match="stream_max_segment"):
        create_app(engine=SyntheticEngine(), stream_max_segment=0)


@pytest.mark.parametrize(("encoding", "width"), [("linear16", 2), ("linear32", 4), ("mulaw", 1), ("alaw", 1)])
def test_the_clock_keeps_raw_audio_with_a_wav_format_that_reads_back(encoding: str, width: int) -> None:
    """What an offline engine is sent for a piece of a raw stream: a WAV file of the same samples."""
    import soundfile as sf

    from dgtools.engines.pcm import load_audio
    from dgtools.server.live import AudioClock, wav_container

    data = bytes(range(256)) * (8 * width)
    clock = AudioClock(encoding=encoding, sample_rate=8000, channels=2, keep_audio=True)
    for i in range(0, len(data), 333):
        clock.add(data[i : i + 333])
    assert clock.fmt is not None and clock.take_audio() == data and clock.take_audio() == b""
    wav = wav_container(clock.fmt, data)
    x, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    raw = load_audio(data, name="raw", encoding=encoding, sample_rate=8000, channels=2)
    assert rate == 8000 and x.shape == (len(data) // (2 * width), 2)
    assert np.allclose(load_audio(wav, name="wav").samples, raw.samples, atol=1e-4)
