"""Tests of the local server's WebSocket ``/v1/listen`` (:mod:`dgtools.server.stream`), with the websockets client."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dgtools.server import LocalServer, SyntheticEngine, create_app
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


def test_messages_have_the_shape_of_real_frames(server: LocalServer) -> None:
    fixtures = REPO.parent / "shared" / "fixtures" / "deepgram"
    real = fixtures / "streaming_results_final_speechfinal__deepgram-docs.json"
    if not real.is_file():
        pytest.skip("real Deepgram fixtures not found")
    messages, _, _ = run(stream_file(server, f"{LINEAR16}&punctuate=true"))
    final = next(m for m in messages if m["type"] == "Results")
    frame = json.loads(real.read_text())
    assert list(final) == list(frame)  # same keys, same order
    assert set(final["metadata"]) == set(frame["metadata"])
    metadata_doc = json.loads((fixtures / "streaming_metadata_closestream__deepgram-docs.json").read_text())
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
