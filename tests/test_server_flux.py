"""Tests of the local server's WebSocket ``/v2/listen`` (Flux, :mod:`dgtools.server.flux`).

End to end with ``dgtools.stream(..., model="flux-general-en")``, with the websockets client, with
the official deepgram-sdk, and against the frames of a real Flux stream.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import dgtools
from conftest import fixture_path
from dgtools.server import Faults, LocalServer
from dgtools.server.flux import TURN_STEP_S, SyntheticFlux, parse_flux_options

REPO = Path(__file__).resolve().parents[1]
WAV = REPO / "data" / "audio" / "one_speaker.wav"
KEY = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed"  # sentinel, shaped like a Deepgram key
HANG = 30  # seconds: a guard against a hung test, never a limit on how fast anything must be
FLUX = "model=flux-general-en&encoding=linear16&sample_rate=16000"
REAL = "streaming_v2_flux_turninfo_frames__deepgram-dotnet-sdk.json"
#: The events of one turn, in order.
TURN = re.compile(r"StartOfTurn( EagerEndOfTurn TurnResumed)*( EagerEndOfTurn)? EndOfTurn")
#: The events of a turn cut short (see :func:`check_turns`).
CUT = re.compile(r"(StartOfTurn( EagerEndOfTurn TurnResumed)*( EagerEndOfTurn)?)?")


def pcm(path: Path = WAV) -> bytes:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        return w.readframes(w.getnframes())


def ws_url(server: LocalServer, query: str = FLUX) -> str:
    return server.url.replace("http://", "ws://") + "/v2/listen" + (f"?{query}" if query else "")


def run(coro: Any) -> Any:
    async def guarded() -> Any:
        async with asyncio.timeout(HANG):
            return await coro

    return asyncio.run(guarded())


async def receive_all(ws: ClientConnection) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        async for raw in ws:
            out.append(json.loads(raw))
    except ConnectionClosed:
        pass
    return out


async def stream_raw(
    server: LocalServer,
    query: str = FLUX,
    *,
    audio: bytes | None = None,
    chunk_s: float = 0.08,
    controls: dict[float, dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], ClientConnection]:
    """Send ``audio`` in chunks, each ``controls[t]`` once ``t`` audio seconds have gone, then CloseStream."""
    audio = pcm() if audio is None else audio
    step = int(chunk_s * 16000) * 2
    pending = sorted((controls or {}).items())
    async with connect(ws_url(server, query), additional_headers={"Authorization": f"Token {KEY}"}) as ws:
        for i in range(0, len(audio), step):
            await ws.send(audio[i : i + step])
            while pending and (i + step) / 32000 >= pending[0][0]:
                await ws.send(json.dumps(pending.pop(0)[1]))
        await ws.send(json.dumps({"type": "CloseStream"}))
        messages = await receive_all(ws)
    return messages, ws


def turns(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The TurnInfo messages by turn, in order; a socket's turns end where the next socket's begin."""
    out: list[list[dict[str, Any]]] = []
    for m in messages:
        if m["type"] == "Connected" or not out:
            out.append([])
        if m["type"] == "TurnInfo":
            if out[-1] and out[-1][-1]["turn_index"] != m["turn_index"]:
                out.append([])
            out[-1].append(m)
    return [t for t in out if t]


def check_turns(messages: list[dict[str, Any]]) -> None:
    """Each turn's events in Flux's order.  A socket's last turn may be cut short: silence (Updates
    only) when the audio ended after a turn, a turn not yet ended when the connection dropped."""
    every = turns(messages)
    for turn, after in itertools.zip_longest(every, every[1:]):
        events = " ".join(m["event"] for m in turn if m["event"] != "Update")
        last_of_socket = after is None or after[0]["request_id"] != turn[0]["request_id"]
        assert TURN.fullmatch(events) or (last_of_socket and CUT.fullmatch(events)), events
        assert len({m["audio_window_start"] for m in turn}) == 1  # the turn's start
        ends = [m["audio_window_end"] for m in turn]
        assert ends == sorted(ends)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(api_keys={KEY}) as s:
        yield s


# --------------------------------------------------------------------------- dgtools.stream end to end


def test_dgtools_stream_gets_connected_then_turns_in_flux_order(server: LocalServer, tmp_path: Path) -> None:
    before = server.stats()
    run_ = dgtools.stream(
        WAV, store=tmp_path, model="flux-general-en", realtime=0, api_key=KEY, base_url=server.url,
        eager_eot_threshold=0.5,
    )  # fmt: skip
    messages = run_.messages
    seconds = len(pcm()) / 32000
    assert run_.audio_seconds == pytest.approx(seconds)
    assert messages[0] == {"type": "Connected", "request_id": run_.request_id, "sequence_id": 0}
    assert [m["sequence_id"] for m in messages] == list(range(len(messages)))
    assert {m["request_id"] for m in messages} == {run_.request_id}
    assert {m["type"] for m in messages} == {"Connected", "TurnInfo"}
    check_turns(messages)
    events = [m["event"] for m in messages if m["type"] == "TurnInfo"]
    assert {"StartOfTurn", "EagerEndOfTurn", "TurnResumed", "EndOfTurn"} <= set(events)
    # a TurnInfo every 240 ms of audio; the last, at the close, ends the turn in progress
    updates = [m["audio_window_end"] for m in messages if m.get("event") == "Update"]
    assert all(round(end / TURN_STEP_S, 6).is_integer() for end in updates)
    # the EndOfTurn windows tile the audio and hold their turn's words
    ends = [m for m in messages if m.get("event") == "EndOfTurn"]
    assert run_.finals == ends and len(ends) >= 2
    assert ends[0]["audio_window_start"] == 0.0
    for a, b in itertools.pairwise(ends):
        assert b["audio_window_start"] == a["audio_window_end"]
        assert b["turn_index"] == a["turn_index"] + 1
    assert ends[-1]["audio_window_end"] == pytest.approx(seconds, abs=1e-6)
    words = [w for m in ends for w in m["words"]]
    assert len(words) > 2 * seconds  # about 2.5 words a second
    for m in ends:
        assert m["transcript"] == " ".join(w["word"] for w in m["words"])
        for w in m["words"]:
            assert m["audio_window_start"] <= w["start"] < w["end"] <= m["audio_window_end"]
        assert m["words"][0]["word"][0].isupper()  # punctuated and cased, as Flux gives its words
    assert all(m["words"][-1]["word"][-1] in ".?" for m in ends[:-1])  # a turn ends with a sentence...
    assert ends[-1]["end_of_turn_confidence"] < 0.5  # ... but the last, ended by the close
    assert run_.transcript == " ".join(m["transcript"] for m in ends)
    # the tables read the capture as Flux's
    t = run_.tables
    assert list(t.turns_v2["event"]) == events
    assert list(t.turns_v2["turn_index"]) == [m["turn_index"] for m in messages if m["type"] == "TurnInfo"]
    assert t.requests["kind"].tolist() == ["streaming_v2"]
    assert len(t.words) == len(words)
    after = server.stats()
    assert after["streams"] == before.get("streams", 0) + 1
    assert after["stream_messages"] == before.get("stream_messages", 0) + len(messages)
    assert after["stream_closes"]["1000"] == before.get("stream_closes", {}).get("1000", 0) + 1


def test_without_eager_eot_threshold_there_is_no_eager_end_of_turn(server: LocalServer) -> None:
    messages, ws = run(stream_raw(server))
    assert ws.close_code == 1000
    check_turns(messages)
    events = {m.get("event") for m in messages}
    assert "EndOfTurn" in events and not events & {"EagerEndOfTurn", "TurnResumed"}


# --------------------------------------------------------------------------- the handshake


def test_flux_options_are_refused_by_the_client_or_at_the_handshake(
    server: LocalServer, tmp_path: Path
) -> None:
    streams = server.stats().get("streams", 0)
    with pytest.raises(dgtools.ConfigError, match=r"eot_threshold=0.95: Flux takes 0.5 to 0.9"):
        dgtools.stream(WAV, store=tmp_path, model="flux-general-en", realtime=0, api_key=KEY,
                       base_url=server.url, eot_threshold=0.95)  # fmt: skip
    assert server.stats().get("streams", 0) == streams  # checked before connecting
    # raw audio with no sample_rate: only the server can tell (the file goes as it is with encoding=)
    with pytest.raises(dgtools.BadRequestError, match="sample_rate") as info:
        dgtools.stream(WAV, store=tmp_path, model="flux-general-en", realtime=0, api_key=KEY,
                       base_url=server.url, encoding="linear16")  # fmt: skip
    assert info.value.status_code == 400 and info.value.request_id
    assert server.stats()["streams"] == streams + 1


@pytest.mark.parametrize(
    ("query", "option"),
    [
        ("encoding=linear16&sample_rate=16000", "model"),
        ("model=nova-3", "model"),
        ("model=flux-general-en&eot_treshold=0.8", "eot_treshold"),
        ("model=flux-general-en&eot_threshold=1.5", "eot_threshold"),
        ("model=flux-general-en&eager_eot_threshold=x", "eager_eot_threshold"),
        ("model=flux-general-en&encoding=linear16", "sample_rate"),
        ("model=flux-general-en&sample_rate=16000", "sample_rate"),
        ("model=flux-general-en&interim_results=true", "interim_results"),
        ("model=flux-general-en&language_hint=en", "language_hint"),
    ],
)
def test_a_bad_query_is_refused_at_the_handshake_with_400_naming_the_option(
    server: LocalServer, query: str, option: str
) -> None:
    async def go() -> None:
        async with connect(ws_url(server, query), additional_headers={"Authorization": f"Token {KEY}"}):
            pass

    with pytest.raises(InvalidStatus) as info:
        run(go())
    response = info.value.response
    assert response.status_code == 400
    body = json.loads(response.body)
    assert body["err_code"] == "INVALID_QUERY_PARAMETER"
    assert option in body["err_msg"]
    assert response.headers["dg-request-id"] == body["request_id"]
    assert response.headers["dg-error"] == body["err_msg"]


def test_a_wrong_key_is_refused_with_401(server: LocalServer, tmp_path: Path) -> None:
    with pytest.raises(dgtools.AuthenticationError) as info:
        dgtools.stream(WAV, store=tmp_path, model="flux-general-en", realtime=0, api_key="0" * 40,
                       base_url=server.url)  # fmt: skip
    assert info.value.status_code == 401

    async def go() -> None:
        async with connect(ws_url(server), additional_headers={"Authorization": "Token wrong"}):
            pass

    with pytest.raises(InvalidStatus) as raw:
        run(go())
    assert raw.value.response.status_code == 401
    assert json.loads(raw.value.response.body)["err_code"] == "INVALID_AUTH"


@pytest.mark.parametrize(
    ("query", "subprotocols"),
    [(f"{FLUX}&token={KEY}", None), (FLUX, ["token", KEY])],
    ids=["query", "subprotocol"],
)
def test_the_v1_ways_of_giving_the_key_work(
    server: LocalServer, query: str, subprotocols: list[str] | None
) -> None:
    async def go() -> tuple[list[dict[str, Any]], int | None]:
        async with connect(ws_url(server, query), subprotocols=subprotocols) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"type": "CloseStream"}))
            return await receive_all(ws), ws.close_code

    messages, code = run(go())
    assert [m["type"] for m in messages] == ["Connected"] and code == 1000


# --------------------------------------------------------------------------- client messages


def test_configure_answers_configure_success_with_the_values_in_force(server: LocalServer) -> None:
    configure = {"type": "Configure", "thresholds": {"eot_threshold": 0.8}, "keyterms": ["Deepgram"]}
    bad = {"type": "Configure", "thresholds": {"eot_threshold": 3}}
    messages, ws = run(
        stream_raw(server, f"{FLUX}&eager_eot_threshold=0.5", controls={2.0: configure, 4.0: bad})
    )
    assert ws.close_code == 1000  # a rejected Configure does not end the stream
    assert [m["sequence_id"] for m in messages] == list(range(len(messages)))
    success = next(m for m in messages if m["type"] == "ConfigureSuccess")
    assert success == {
        "type": "ConfigureSuccess",
        "request_id": messages[0]["request_id"],
        "thresholds": {"eot_threshold": 0.8, "eager_eot_threshold": 0.5, "eot_timeout_ms": 5000},
        "keyterms": ["Deepgram"],
        "profanity_filter": False,
        "sequence_id": success["sequence_id"],
    }
    failure = next(m for m in messages if m["type"] == "ConfigureFailure")
    assert failure["sequence_id"] > success["sequence_id"] and "eot_threshold" in failure["description"]
    after = [m for m in messages[success["sequence_id"] + 1 :] if m.get("event") == "EndOfTurn"]
    assert all(m["end_of_turn_confidence"] >= 0.8 for m in after[:-1])  # the new threshold holds
    assert after[-1]["audio_window_end"] == pytest.approx(len(pcm()) / 32000)  # (the close ends the last)
    check_turns(messages)


def test_configure_changes_when_turns_end() -> None:
    def ends(payload: dict[str, Any] | None) -> list[float]:
        flux = SyntheticFlux(parse_flux_options([("model", "flux-general-en")]), request_id="r")
        if payload is not None:
            flux.configure(payload)
        return [m["audio_window_end"] for m in flux.feed(30.0) if m["event"] == "EndOfTurn"]

    plain = ends(None)
    assert len(ends({"thresholds": {"eot_threshold": 0.9}})) < len(plain)
    assert len(ends({"thresholds": {"eot_threshold": 0.5}})) > len(plain)
    assert ends({"thresholds": {"eot_threshold": 5}}) == plain  # refused: nothing changes


def test_force_end_turn_ends_the_turn_in_progress(server: LocalServer) -> None:
    messages, ws = run(stream_raw(server, controls={1.5: {"type": "ForceEndTurn"}}))
    assert ws.close_code == 1000
    first = next(m for m in messages if m.get("event") == "EndOfTurn")
    assert first["audio_window_end"] == pytest.approx(1.52) and first["words"]  # the chunk it came after
    check_turns(messages)
    following = [m for m in messages if m.get("turn_index") == 1]
    assert following and all(m["audio_window_start"] == first["audio_window_end"] for m in following)
    assert all(w["start"] >= first["audio_window_end"] for m in following for w in m["words"])


@pytest.mark.parametrize(
    "frames",
    [[b"\0" * 3, json.dumps({"type": "CloseStream"})], [json.dumps({"type": "KeepAlive"})], ["not json"]],
    ids=["partial-frame", "keepalive", "garbage"],
)
def test_bad_data_sends_an_error_then_closes_1008_data_0000(
    server: LocalServer, frames: list[bytes | str]
) -> None:
    async def go() -> tuple[list[dict[str, Any]], int | None, str | None]:
        async with connect(ws_url(server), additional_headers={"Authorization": f"Token {KEY}"}) as ws:
            for frame in frames:
                await ws.send(frame)
            return await receive_all(ws), ws.close_code, ws.close_reason

    messages, code, reason = run(go())
    assert (code, reason) == (1008, "DATA-0000")
    assert messages[-1]["type"] == "Error" and messages[-1]["code"] == "DATA-0000"
    assert [m["sequence_id"] for m in messages] == list(range(len(messages)))


def test_a_silent_socket_gets_an_error_then_1011_net_0001() -> None:
    async def go(server: LocalServer) -> tuple[list[dict[str, Any]], int | None, str | None]:
        async with connect(ws_url(server), additional_headers={"Authorization": f"Token {KEY}"}) as ws:
            await ws.send(pcm()[:32000])
            return await receive_all(ws), ws.close_code, ws.close_reason

    with LocalServer(api_keys={KEY}, stream_timeout=0.5) as impatient:
        messages, code, reason = run(go(impatient))
        assert (code, reason) == (1011, "NET-0001")
        assert messages[0]["type"] == "Connected" and messages[-1]["type"] == "Error"
        assert impatient.stats()["stream_closes"] == {"1011": 1}


# --------------------------------------------------------------------------- faults


def test_final_delay_holds_back_each_end_of_turn() -> None:
    delay = 0.3
    audio = pcm()[: 10 * 32000]

    async def go(server: LocalServer) -> tuple[list[tuple[float, dict[str, Any]]], list[tuple[float, float]]]:
        step = int(0.1 * 16000) * 2
        got: list[tuple[float, dict[str, Any]]] = []
        sent: list[tuple[float, float]] = []
        async with connect(ws_url(server), additional_headers={"Authorization": f"Token {KEY}"}) as ws:

            async def read() -> None:
                async for raw in ws:
                    got.append((time.monotonic(), json.loads(raw)))

            reader = asyncio.create_task(read())
            for i in range(0, len(audio), step):
                sent.append((min(i + step, len(audio)) / 32000, time.monotonic()))
                await ws.send(audio[i : i + step])
                await asyncio.sleep(0.02)
            await ws.send(json.dumps({"type": "CloseStream"}))
            await reader
        return got, sent

    with LocalServer(api_keys={KEY}, faults=Faults(final_delay=delay)) as slow:
        got, sent = run(go(slow))
    ids = [m["sequence_id"] for _, m in got]
    assert ids == list(range(len(got)))  # the order holds
    ends = [(at, m) for at, m in got if m.get("event") == "EndOfTurn"]
    assert ends
    for at, m in ends:  # no earlier than `delay` after the audio that completed its window went out
        went = next(t for seconds, t in sent if seconds >= m["audio_window_end"] - 1e-6)
        assert at - went >= delay * 0.9


def test_a_dropped_flux_stream_reconnects_and_its_turns_still_tile_the_audio(tmp_path: Path) -> None:
    with LocalServer(api_keys={KEY}, faults=Faults(stream_drop_after=10.0, stream_drops=1)) as flaky:
        run_ = dgtools.stream(WAV, store=tmp_path, model="flux-general-en", realtime=0, api_key=KEY,
                              base_url=flaky.url)  # fmt: skip
        stats = flaky.stats()
    assert run_.reconnects == 1 and len(run_.request_ids) == 2
    assert (stats["streams"], stats["dropped"]) == (2, 1)
    assert [m["type"] for m in run_.messages].count("Connected") == 2
    check_turns(run_.messages)
    ends = run_.finals
    assert ends[0]["audio_window_start"] == 0.0
    for a, b in itertools.pairwise(ends):  # times of the second socket moved to where its audio sits
        assert b["audio_window_start"] == pytest.approx(a["audio_window_end"], abs=1e-6)
    assert ends[-1]["audio_window_end"] == pytest.approx(run_.audio_seconds, abs=1e-6)


# --------------------------------------------------------------------------- the transcriber alone


def test_the_synthetic_flux_is_deterministic_and_chunking_does_not_change_it() -> None:
    opts = parse_flux_options([("model", "flux-general-en"), ("eager_eot_threshold", "0.4")])

    def messages(steps: list[float], seed: int = 0) -> list[dict[str, Any]]:
        flux = SyntheticFlux(opts, request_id="r", seed=seed)
        return [m for t in steps for m in flux.feed(t)] + flux.flush(steps[-1])

    fine = messages([i / 100 for i in range(1, 2001)])
    assert fine == messages([1.0, 7.3, 7.31, 20.0])
    assert fine != messages([20.0], seed=1)
    assert [m["sequence_id"] for m in fine] == list(range(len(fine)))
    check_turns(fine)


# --------------------------------------------------------------------------- real frames and the official SDK


def test_messages_have_the_keys_and_types_of_real_flux_frames(server: LocalServer) -> None:
    real = [json.loads(f) for f in json.loads(fixture_path(REAL).read_text())["frames"]]
    configure = {"type": "Configure", "thresholds": {"eot_threshold": 0.8}, "keyterms": ["Deepgram"]}
    ours, _ = run(
        stream_raw(server, f"{FLUX}&eot_threshold=0.7&eager_eot_threshold=0.5", controls={2.0: configure})
    )

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return sorted({json.dumps(shape(v), sort_keys=True) for v in value})
        return type(value).__name__

    def shapes(messages: list[dict[str, Any]]) -> dict[str, list[Any]]:
        """Per message type, the distinct shapes: keys in order with the types of their values."""
        out: dict[str, list[Any]] = {}
        for m in messages:
            if m.get("words"):  # the shape of a word, whatever the number of words
                m = {**m, "words": m["words"][:1]}
            s = [(k, shape(v)) for k, v in m.items()]
            if s not in out.setdefault(m["type"], []):
                out[m["type"]].append(s)
        return out

    real_shapes, our_shapes = shapes(real), shapes(ours)
    assert set(real_shapes) == set(our_shapes) == {"Connected", "TurnInfo", "ConfigureSuccess"}
    for kind, seen in our_shapes.items():
        assert all(s in real_shapes[kind] for s in seen), (kind, seen, real_shapes[kind])
    real_events = {m.get("event") for m in real} - {None}
    assert real_events <= {m.get("event") for m in ours}


# deepgram-sdk imports websockets.legacy and websockets.exceptions.InvalidStatusCode, both deprecated
# since websockets 14: third-party warnings at import, nothing dgtools can change (tests/test_server.py).
@pytest.mark.filterwarnings("ignore:websockets.exceptions.InvalidStatusCode is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")
def test_official_sdk_flux_client_gets_turns(server: LocalServer) -> None:
    import deepgram
    from deepgram.environment import DeepgramClientEnvironment

    ws = server.url.replace("http://", "ws://")
    environment = DeepgramClientEnvironment(base=server.url, production=ws, agent=ws, agent_rest=server.url)
    client = deepgram.DeepgramClient(api_key=KEY, environment=environment)
    audio = pcm()
    with client.listen.v2.connect(
        model="flux-general-en", encoding="linear16", sample_rate=16000, eager_eot_threshold=0.5
    ) as socket:
        for i in range(0, len(audio), 2560):
            socket.send_media(audio[i : i + 2560])
            if i == 2560 * 20:
                socket.send_configure({"type": "Configure", "thresholds": {"eot_threshold": 0.8}})
        socket.send_close_stream()
        messages = list(socket)
    kinds = [type(m).__name__ for m in messages]
    assert kinds[0] == "ListenV2Connected" and "ListenV2ConfigureSuccess" in kinds, kinds
    turn_infos = [m for m in messages if type(m).__name__ == "ListenV2TurnInfo"]
    assert {m.event for m in turn_infos} >= {"StartOfTurn", "EagerEndOfTurn", "EndOfTurn"}
    assert all(w.word and w.confidence is not None for m in turn_infos for w in m.words)
