"""Live transcription over WebSocket for the local server: ``/v1/listen`` answered like Deepgram.

:class:`ListenStream` is the ASGI endpoint (``create_app`` mounts it beside
the REST route); :mod:`dgtools.server.live` has what it is made of:
:class:`SyntheticStream`, the transcriber behind it (a deterministic
synthetic transcript of the audio received so far, the words of
:mod:`dgtools.engines.synthetic`, about 2.5 a second), the audio clock, and
:func:`parse_stream_query`, which validates the handshake's query.

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
  word under way); with ``interim_results=true`` interims (``is_final:
  false``) for the audio since the last final come as audio arrives.
  ``speech_final`` is true on a final whose last word ends a sentence
  (never with ``endpointing=false``).  ``utterance_end_ms`` adds
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

starlette is imported when a stream is handled, not with this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import msgspec

from ..exceptions import ConfigError
from .live import AudioClock, BadAudio, StreamOptions, SyntheticStream, parse_stream_query

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

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


class ListenStream:
    """The ``/v1/listen`` WebSocket endpoint (raw ASGI; see the module docstring for the protocol).

    Parameters
    ----------
    state
        The app's :class:`~dgtools.server.app.ServerState`: counts ``streams``
        (handshakes), ``stream_messages`` (messages sent) and ``stream_closes``
        (server closes by code).
    credentials
        The app's accepted credentials (as for ``POST /v1/listen``).
    timeout
        Seconds without a frame before closing with 1011 ``NET-0001``.
    seed
        Seed of the synthetic words.
    """

    def __init__(
        self,
        state: ServerState,
        credentials: _Credentials,
        *,
        timeout: float = DEFAULT_STREAM_TIMEOUT,
        seed: int = 0,
    ) -> None:
        self.state = state
        self.credentials = credentials
        self.timeout = timeout
        self.seed = seed

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
            options = parse_stream_query([(k, v) for k, v in pairs if k != "token"])
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

    def _authorize(self, scope: Scope, token: list[str]) -> str | None:
        """The subprotocol to accept ("" for none), or None to refuse."""
        from .state import _header

        allow: Callable[[bytes], bool] = self.credentials.allow
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

    async def _session(
        self, receive: Receive, send: Send, options: StreamOptions, request_id: str
    ) -> tuple[int, str]:
        """Run one stream; answers the close to send (code 0: the client is gone, send nothing)."""
        st = self.state
        clock = AudioClock(
            encoding=options.encoding, sample_rate=options.sample_rate, channels=options.channels
        )
        digest = hashlib.sha256()
        stream: SyntheticStream | None = None

        async def emit(messages: list[dict[str, Any]]) -> None:
            for m in messages:
                await send({"type": "websocket.send", "text": msgspec.json.encode(m).decode()})
                st.stream_messages += 1

        def transcriber() -> SyntheticStream:
            nonlocal stream
            if stream is None:
                stream = SyntheticStream(
                    options, channels=clock.channels, request_id=request_id, seed=self.seed
                )
            return stream

        while True:
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
                if clock.known:
                    await emit(transcriber().feed(clock.seconds))
                    drop_after = st.faults.stream_drop_after
                    if drop_after is not None and clock.seconds >= drop_after:
                        _abort(receive)  # the Faults.stream_drop_after fault: no close frame
                        st.dropped += 1
                        return 0, ""
                continue
            kind = _control(text) if text is not None else "CloseStream"  # an empty binary frame
            if kind == "KeepAlive":
                continue
            if kind is None:
                return CLOSE_DATA
            if kind == "CloseStream":
                try:
                    clock.check_end()
                except BadAudio:
                    return CLOSE_DATA
            if clock.known:
                await emit(transcriber().flush(clock.seconds, from_finalize=kind == "Finalize"))
            if kind == "CloseStream":
                channels = clock.channels if clock.total else 0
                meta = transcriber().metadata(
                    sha256=digest.hexdigest(), duration=clock.seconds, channels=channels
                )
                await emit([meta])
                return 1000, ""


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


def _abort(receive: Receive) -> None:
    """Reset the connection under uvicorn (its ``receive`` is a method of the protocol holding the transport)."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise RuntimeError(
            "Faults.stream_drop_after needs an ASGI server that exposes its transport (uvicorn)"
        )
    transport.abort()


def _control(text: str) -> str | None:
    """The type of a known control message (KeepAlive, Finalize, CloseStream), else None."""
    try:
        payload = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
    kind = payload.get("type") if isinstance(payload, dict) else None
    return kind if kind in ("KeepAlive", "Finalize", "CloseStream") else None
