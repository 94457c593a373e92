"""Live transcription over WebSocket for the local server: ``/v1/listen`` answered like Deepgram.

:class:`ListenStream` is the ASGI endpoint (``create_app`` mounts it beside
the REST route); :mod:`dgtools.server.live` has what it is made of:
:class:`SyntheticStream`, the transcriber behind it (a deterministic
synthetic transcript of the audio received so far, the words of
:mod:`dgtools.engines.synthetic`, about 2.5 a second), the audio clock, and
:func:`parse_stream_query`, which validates the handshake's query.  When the
app's engine is an offline one (``local``, ``whisper``), that engine
transcribes the stream instead, cut into segments at pauses
(:mod:`dgtools.server.segments`).

Messages go out from a task of their own, in order (the ``Faults.final_delay``
fault holds each final back, and what follows it waits); the receiving loop
never waits for them, nor for a segment being transcribed.

The protocol, as Deepgram's ``wss://api.deepgram.com/v1/listen``:

- **Handshake.**  A credential in the ``Authorization`` header (``Token
  KEY`` or ``Bearer TOKEN``), the ``?token=KEY`` query parameter, or the
  ``Sec-WebSocket-Protocol`` header ``token, KEY`` (or ``bearer, TOKEN``:
  the server then echoes ``token``/``bearer`` as the accepted subprotocol),
  checked as the REST route checks its ``Authorization`` header.  A missing
  or wrong one is refused with HTTP 401 ``INVALID_AUTH``, a bad query with
  400 ``INVALID_QUERY_PARAMETER``: the REST route's JSON bodies, with the
  ``dg-request-id`` and ``dg-error`` headers Deepgram documents for failed
  upgrades.  An accepted socket's 101 carries ``dg-request-id``.  The
  ``token`` parameter is removed from the scope's query string before
  anything (uvicorn's log line included) can print it.
- **Audio.**  Binary frames.  With ``encoding`` (``linear16``,
  ``linear32``, ``mulaw``, ``alaw``) audio seconds are bytes over
  ``sample_rate * channels * width``; without it the stream must open with
  a container: a WAV header is parsed from the first bytes (rate and
  channels from its ``fmt`` chunk); other containers (FLAC, Ogg, MP3,
  WebM, MP4) and compressed encodings are timed at a nominal 32,000 bytes a
  second, as the synthetic engine times headerless audio.  An empty binary
  frame ends the stream as ``CloseStream`` does (Deepgram's old protocol).
- **Text frames.**  ``{"type": "KeepAlive"}`` (resets the timeout, no
  answer), ``{"type": "Finalize"}`` (flushes the audio not yet final as a
  final with ``from_finalize: true``), ``{"type": "CloseStream"}`` (flushes
  the rest as finals, sends ``Metadata`` and closes with 1000).
- **Results.**  Finals tile the audio: each ``[start, start + duration)``
  follows the previous one, about a second long (stretched to the end of a
  word under way; an offline engine's finals are its segments); with
  ``interim_results=true`` interims (``is_final: false``) for the audio
  since the last final come as audio arrives.  ``speech_final`` is true on
  a final whose last word ends a sentence (an offline engine's: that ended
  at a pause; never with ``endpointing=false``).  ``utterance_end_ms`` adds
  ``UtteranceEnd`` messages after that much silence following a word,
  ``vad_events=true`` ``SpeechStarted`` messages where speech starts after a
  pause.  ``multichannel=true`` transcribes each channel apart
  (``channel_index: [c, n]``).
- **Closes.**  No frame for ``stream_timeout`` seconds (Deepgram: 10):
  ``1011 NET-0001``.  Data that cannot be the declared audio (raw audio
  ending in a partial frame, a corrupt WAV header, bytes of no known
  container, a text frame that is no known control message): ``1008
  DATA-0000``.  Both as in Deepgram's table of close frames
  (https://developers.deepgram.com/docs/stt-troubleshooting-websocket-data-and-net-errors).
  An offline engine that fails on a segment: ``1011 NET-0000`` (logged);
  one that cannot decode audio kept whole (its 400): ``1008 DATA-0000``.
- **Faults** (:class:`~dgtools.server.faults.Faults`).  ``stream_drop_after``
  ends a stream without a close frame (after the messages already due have
  been written: the server half-closes the TCP connection, then resets it if
  the client has not closed within a second), for at most ``stream_drops``
  streams; ``final_delay`` holds back each final.

starlette is imported when a stream is handled, not with this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

import msgspec

from ..exceptions import ConfigError
from .live import AudioClock, BadAudio, StreamOptions, SyntheticStream, parse_stream_query
from .segments import MAX_SEGMENT_S, EngineFailed, failure_close

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from ..engines.base import Engine
    from .state import ServerState, _Credentials


__all__ = [
    "CLOSE_DATA",
    "CLOSE_NET",
    "DEFAULT_STREAM_TIMEOUT",
    "ListenStream",
    "StreamOptions",
    "SyntheticStream",
    "parse_stream_query",
]

logger = logging.getLogger("dgtools.server")

#: Seconds without a frame from the client before the stream is closed (Deepgram's documented 10 s).
DEFAULT_STREAM_TIMEOUT: Final = 10.0
#: Close code and reason for data that cannot be the declared audio (Deepgram's table of close frames).
CLOSE_DATA: Final = (1008, "DATA-0000")
#: Close code and reason for a client silent for the timeout (Deepgram's table of close frames).
CLOSE_NET: Final = (1011, "NET-0001")


def _scrub_token(scope: Scope) -> list[tuple[str, str]]:
    """The query pairs; removes ``token`` from the scope's query string (uvicorn logs the path with it)."""
    from starlette.datastructures import QueryParams

    pairs = QueryParams(scope["query_string"]).multi_items()
    if any(name == "token" for name, _ in pairs):
        from urllib.parse import urlencode

        kept = [(k, v) for k, v in pairs if k != "token"]
        scope["query_string"] = urlencode([*kept, ("token", "REDACTED")]).encode()
    return pairs


def _authorize(credentials: _Credentials, scope: Scope, token: list[str]) -> str | None:
    """The subprotocol to accept ("" for none), or None to refuse: a handshake's credential checked.

    From the ``Authorization`` header, a ``?token=`` value (as ``Token``), or the
    ``Sec-WebSocket-Protocol`` header ``token, KEY`` / ``bearer, TOKEN`` (then that scheme is the
    subprotocol to accept).  The WebSockets ``/v1/listen``, ``/v2/listen`` and ``/v1/speak`` share it.
    """
    from .state import _header

    allow: Callable[[bytes], bool] = credentials.allow
    authorization = _header(scope, b"authorization")
    if authorization and allow(authorization):
        return ""
    if any(allow(b"Token " + t.encode()) for t in token if t):
        return ""
    offered = [p.strip() for p in _header(scope, b"sec-websocket-protocol").decode("latin-1").split(",")]
    if len(offered) >= 2 and offered[0].lower() in ("token", "bearer"):
        scheme = offered[0].lower()
        if allow(f"{scheme} {offered[1]}".encode()):
            return scheme
    return None


class ListenStream:
    """The ``/v1/listen`` WebSocket endpoint (raw ASGI; see the module docstring for the protocol).

    :class:`~dgtools.server.flux.FluxStream` (``/v2/listen``) shares its handshake and receiving loop.

    Parameters
    ----------
    state
        The app's :class:`~dgtools.server.app.ServerState`: counts ``streams``
        (handshakes), ``stream_messages`` (messages sent) and ``stream_closes``
        (server closes by code).
    credentials
        The app's accepted credentials (as for ``POST /v1/listen``).
    engine
        The app's engine: an offline one (``local``, ``whisper``) transcribes streams
        (:mod:`dgtools.server.segments`); with any other (or None) they get synthetic words.
    timeout
        Seconds without a frame before closing with 1011 ``NET-0001``.
    seed
        Seed of the synthetic words.
    max_segment
        With an offline engine: the longest segment transcribed at once, in audio seconds.
    """

    def __init__(
        self,
        state: ServerState,
        credentials: _Credentials,
        *,
        engine: Engine | None = None,
        timeout: float = DEFAULT_STREAM_TIMEOUT,
        seed: int = 0,
        max_segment: float = MAX_SEGMENT_S,
    ) -> None:
        self.state = state
        self.credentials = credentials
        self.engine = engine
        self.timeout = timeout
        self.seed = seed
        self.max_segment = max_segment

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        st = self.state
        st.streams += 1
        request_id = str(uuid.uuid4())
        if (await receive())["type"] != "websocket.connect":  # pragma: no cover - ASGI guarantees it
            return
        pairs = _scrub_token(scope)
        token = [v for k, v in pairs if k == "token"]
        subprotocol = self._authorize(scope, token)
        if subprotocol is None:
            await _deny(scope, receive, send, 401, "INVALID_AUTH", "Invalid credentials.", request_id)
            return
        try:
            options = self._parse([(k, v) for k, v in pairs if k != "token"])
        except ConfigError as exc:
            message = f"Failed to deserialize query parameters: {exc}"
            await _deny(scope, receive, send, 400, "INVALID_QUERY_PARAMETER", message, request_id)
            return
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": subprotocol or None,
                "headers": [(b"dg-request-id", request_id.encode())],
            }
        )
        try:
            code, reason = await self._session(receive, send, options, request_id)
        except OSError:  # the client went away while we wrote (uvicorn's ClientDisconnected)
            return
        if code:
            st.stream_closes[str(code)] += 1
            with contextlib.suppress(OSError):  # the client went away first
                await send({"type": "websocket.close", "code": code, "reason": reason})

    def _parse(self, pairs: list[tuple[str, str]]) -> Any:
        """The handshake's validated query (raises :class:`ConfigError` with ``.option``)."""
        return parse_stream_query(pairs)

    def _authorize(self, scope: Scope, token: list[str]) -> str | None:
        """The subprotocol to accept ("" for none), or None to refuse."""
        return _authorize(self.credentials, scope, token)

    async def _session(
        self, receive: Receive, send: Send, options: StreamOptions, request_id: str
    ) -> tuple[int, str]:
        """Run one stream; answers the close to send (code 0: the client is gone, send nothing)."""
        st = self.state
        offline = self._offline()
        clock = AudioClock(
            encoding=options.encoding,
            sample_rate=options.sample_rate,
            channels=options.channels,
            keep_audio=offline,
        )
        outbox = _Outbox(send, st, st.faults.final_delay)
        transcriber: _Transcriber
        if self.engine is not None and offline:
            from .segments import EngineStream

            transcriber = EngineStream(
                self.engine, options, clock, request_id, outbox.put, max_segment=self.max_segment
            )
        else:
            transcriber = _Synthetic(options, clock, request_id, self.seed, outbox.put)
        try:
            code, reason = await self._receive(receive, clock, transcriber, outbox)
            if code and not await outbox.close():  # every message queued goes before the close frame
                return 0, ""
            return code, reason
        finally:
            await transcriber.aclose()
            await outbox.cancel()

    #: The text frames (their ``type``) the endpoint takes; any other closes the stream 1008 DATA-0000.
    controls: ClassVar[frozenset[str]] = frozenset({"KeepAlive", "Finalize", "CloseStream"})

    async def _receive(
        self,
        receive: Receive,
        clock: AudioClock,
        transcriber: _Transcriber,
        outbox: _Outbox,
        *,
        configure: Callable[[dict[str, Any]], None] | None = None,
    ) -> tuple[int, str]:
        """Read the client's frames until the stream ends; answers the close (code 0: send none).

        ``configure`` is called with the payload of each ``Configure`` text frame (Flux's).
        """
        st = self.state
        digest = hashlib.sha256()
        while True:
            if transcriber.failed is not None:
                return failure_close(transcriber.failed)
            try:
                async with asyncio.timeout(self.timeout):
                    message = await receive()
            except TimeoutError:
                return CLOSE_NET
            if message["type"] == "websocket.disconnect":
                return 0, ""
            data: bytes | None = message.get("bytes")
            text: str | None = message.get("text")
            if data:
                digest.update(data)
                try:
                    clock.add(data)
                except BadAudio:
                    return CLOSE_DATA
                transcriber.feed(data)
                drop_after = st.faults.stream_drop_after
                if (
                    drop_after is not None
                    and clock.known
                    and clock.seconds >= drop_after
                    and st.may_drop_stream()
                ):
                    await outbox.sent_due()
                    await _drop(receive)  # the Faults.stream_drop_after fault: no close frame
                    st.dropped += 1
                    st.streams_dropped += 1
                    return 0, ""
                continue
            # an empty binary frame is a CloseStream, as in Deepgram's old protocol
            kind, payload = _control(text, self.controls) if text is not None else ("CloseStream", {})
            if kind == "KeepAlive":
                continue
            if kind == "Configure":
                if configure is not None:
                    configure(payload)
                continue
            if kind is None:
                return CLOSE_DATA
            if kind == "CloseStream":
                try:
                    clock.check_end()
                except BadAudio:
                    return CLOSE_DATA
            transcriber.flush(from_finalize=kind == "Finalize")
            if kind == "CloseStream":
                channels = clock.channels if clock.total else 0
                try:
                    await transcriber.finish(
                        sha256=digest.hexdigest(), duration=clock.seconds, channels=channels
                    )
                except EngineFailed as exc:
                    return failure_close(exc.__cause__ or exc)
                return 1000, ""

    def _offline(self) -> bool:
        """Whether the engine is an offline one (its words then answer streams, not synthetic ones)."""
        from ..engines.offline import OfflineEngine

        return isinstance(self.engine, OfflineEngine)


class _Transcriber(Protocol):
    """What answers a stream: :class:`_Synthetic` or :class:`~dgtools.server.segments.EngineStream`."""

    failed: BaseException | None

    def feed(self, data: bytes) -> None: ...

    def flush(self, *, from_finalize: bool) -> None: ...

    async def finish(self, *, sha256: str, duration: float, channels: int) -> None: ...

    async def aclose(self) -> None: ...


class _Synthetic:
    """:class:`SyntheticStream` behind the :class:`_Transcriber` calls (created once the format is known)."""

    failed: BaseException | None = None

    def __init__(
        self,
        options: StreamOptions,
        clock: AudioClock,
        request_id: str,
        seed: int,
        put: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        self.options, self.clock, self.request_id, self.seed, self.put = options, clock, request_id, seed, put
        self._stream: SyntheticStream | None = None

    @property
    def stream(self) -> SyntheticStream:
        if self._stream is None:
            self._stream = SyntheticStream(
                self.options, channels=self.clock.channels, request_id=self.request_id, seed=self.seed
            )
        return self._stream

    def feed(self, data: bytes) -> None:
        if self.clock.known:
            self.put(self.stream.feed(self.clock.seconds))

    def flush(self, *, from_finalize: bool) -> None:
        if self.clock.known:
            self.put(self.stream.flush(self.clock.seconds, from_finalize=from_finalize))

    async def finish(self, *, sha256: str, duration: float, channels: int) -> None:
        self.put([self.stream.metadata(sha256=sha256, duration=duration, channels=channels)])

    async def aclose(self) -> None:
        pass


class _Outbox:
    """Sends a stream's messages in order from a task of its own, holding each final back ``final_delay`` s.

    A message is due when it is put, a final ``Results`` (or Flux ``EndOfTurn``) ``final_delay``
    seconds later, and no
    message before the one put ahead of it: everything queued after a held-back final waits for it.
    """

    def __init__(self, send: Send, state: ServerState, final_delay: float) -> None:
        self._send = send
        self._state = state
        self._delay = final_delay
        self._loop = asyncio.get_running_loop()
        self._items: deque[tuple[float, dict[str, Any]]] = deque()
        self._last_due = -math.inf
        self._closing = False
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self.sent = 0
        self._task = asyncio.create_task(self._run())

    def put(self, messages: list[dict[str, Any]]) -> None:
        """Queue messages (in order)."""
        now = self._loop.time()
        for m in messages:
            due = now + self._delay if self._delay and _is_final(m) else now
            self._last_due = max(due, self._last_due)
            self._items.append((self._last_due, m))
        if messages:
            self._wake.set()

    async def _run(self) -> None:
        try:
            while True:
                while not self._items:
                    if self._closing:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                due, message = self._items[0]
                wait = due - self._loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._send({"type": "websocket.send", "text": msgspec.json.encode(message).decode()})
                self._items.popleft()  # after the send: sent_due counts a message being sent as queued
                self.sent += 1
                self._state.stream_messages += 1
                self._progress.set()
        finally:
            self._progress.set()

    async def sent_due(self) -> None:
        """Wait until every message due by now has been sent (not the finals held back)."""
        now = self._loop.time()
        target = self.sent + sum(1 for due, _ in self._items if due <= now)
        while self.sent < target and not self._task.done():
            self._progress.clear()
            await self._progress.wait()

    async def close(self) -> bool:
        """Send everything queued (waiting out held-back finals) and stop; False if the client went away."""
        self._closing = True
        self._wake.set()
        try:
            await self._task
        except OSError:  # the client went away while we wrote (uvicorn's ClientDisconnected)
            return False
        return True

    async def cancel(self) -> None:
        """Stop at once; what is still queued is never sent."""
        if not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})
        if not self._task.cancelled():
            self._task.exception()  # retrieved: a client gone mid-send is no error here


def _is_final(message: dict[str, Any]) -> bool:
    """A final ``Results`` message, or Flux's ``EndOfTurn`` ``TurnInfo`` (what ``final_delay`` holds back)."""
    kind = message.get("type")
    return (kind == "Results" and message.get("is_final") is True) or (
        kind == "TurnInfo" and message.get("event") == "EndOfTurn"
    )


async def _deny(
    scope: Scope, receive: Receive, send: Send, status: int, err_code: str, err_msg: str, request_id: str
) -> None:
    """Refuse the handshake with the REST route's JSON error (HTTP ``status``), or close 1008 without it.

    The HTTP answer needs the ASGI denial-response extension (uvicorn has it);
    without it the handshake is closed before accept (the client sees 403).
    """
    from .state import _legacy_error

    if "websocket.http.response" in scope.get("extensions", {}):
        response = _legacy_error(status, err_code, err_msg, request_id, {"dg-error": err_msg})
        await response(scope, receive, send)
    else:  # pragma: no cover - uvicorn offers the denial-response extension
        await send({"type": "websocket.close", "code": 1008, "reason": err_code})


async def _drop(receive: Receive) -> None:
    """End the connection without a close frame, under uvicorn (its ``receive`` is a method of the
    protocol holding the transport).

    What was sent before arrives first: a reset would discard what the client has not read yet,
    so the server half-closes the TCP connection (FIN, after its write buffer), lets the client
    close its side (its frames meanwhile are read and ignored), and resets the connection only if
    the client has not closed within a second.  The client sees the connection end with no close
    frame (``1006``), as when a network path fails.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise RuntimeError(
            "Faults.stream_drop_after needs an ASGI server that exposes its transport (uvicorn)"
        )
    with contextlib.suppress(TimeoutError, OSError, RuntimeError):
        async with asyncio.timeout(1.0):
            if transport.can_write_eof():
                transport.write_eof()
            while (await receive())["type"] != "websocket.disconnect":
                pass
    transport.abort()


def _control(text: str, kinds: frozenset[str]) -> tuple[str | None, dict[str, Any]]:
    """``(type, payload)`` of a control message whose type is one of ``kinds``, else ``(None, {})``."""
    try:
        payload = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None, {}
    kind = payload.get("type") if isinstance(payload, dict) else None
    return (kind, payload) if kind in kinds else (None, {})
