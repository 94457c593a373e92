"""Aura text-to-speech for the local server: ``POST /v1/speak`` and the WebSocket ``/v1/speak``.

The voice is espeak-ng's (:mod:`dgtools.engines.voice`): a robot, but audio in the format, length
and words asked for, without a key or a network.  ``create_app`` mounts :class:`SpeakRoute` and
:class:`SpeakStream` beside the listen routes.

``POST /v1/speak``
    As Deepgram's (its OpenAPI spec and the SDK's response headers), in order: the
    ``Authorization`` header (401 ``INVALID_AUTH``); a body over 1 MB (413, from
    ``Content-Length``) or slower than 30 seconds (408); ``Content-Type`` other than
    ``application/json`` (415); a body that is no ``{"text": "..."}`` object (400
    ``INVALID_JSON`` in the ``{category, message, details}`` shape, as Deepgram answers JSON it
    cannot read); the query (400
    ``INVALID_QUERY_PARAMETER``: :func:`dgtools.options.speak.parse_speak_query`, an unknown voice
    or a format combination Deepgram refuses included); empty text or text over 2,000 characters
    (400 ``INVALID_INPUT``).  Then the injected faults of :class:`~dgtools.server.Faults`, as on
    ``/v1/listen`` (latency, dropped connection, 402 after ``payment_after`` successes of either
    route, 429, 500/503; ``max_concurrent`` counts ``/v1/listen`` only); then the voice, in a
    worker thread.  The answer is the audio, sent chunked, with Deepgram's headers:
    ``content-type`` (``audio/mpeg`` by default), ``dg-request-id``, ``dg-model-name``,
    ``dg-model-uuid`` and ``dg-char-count``.  A voice that cannot answer is an error in
    Deepgram's shape: no espeak-ng on the server's machine (501, naming ``apt-get install
    espeak-ng``), ``encoding=aac`` without PyAV (400, naming ``pip install 'dgtools[serve]'``).
``WebSocket /v1/speak``
    The handshake of ``/v1/listen`` (credentials in the header, ``?token=`` or
    ``Sec-WebSocket-Protocol``; 401, or 400 ``INVALID_QUERY_PARAMETER`` for a query of other
    options than ``model``, ``encoding`` (``linear16``, ``mulaw``, ``alaw``), ``sample_rate``,
    ``speed``, ``mip_opt_out`` and ``container=none``).  ``Metadata`` (``request_id``,
    ``model_name``, ``model_version``, ``model_uuid``) comes first.  ``{"type": "Speak", "text":
    ...}`` adds text to the buffer (a message over 2,000 characters is refused with a ``Warning``,
    ``TEXT_TOO_LONG``, and its text dropped); ``{"type": "Flush"}`` speaks the buffer: binary
    frames of 100 ms of raw audio, then ``{"type": "Flushed", "sequence_id": n}`` (more than 20
    flushes in 60 seconds, Deepgram's limit: a ``Warning``, ``FLUSH_LIMIT_EXCEEDED``, and nothing
    spoken); ``{"type": "Clear"}`` drops the buffer and any audio not yet sent, then answers
    ``{"type": "Cleared", "sequence_id": n}``; ``{"type": "Close"}`` flushes the buffer (as
    Deepgram's AsyncAPI spec says: "Flush the buffer and close the connection gracefully after all
    audio is generated"), sends all the audio and its ``Flushed``, and closes 1000.  ``sequence_id``
    counts the ``Flush`` and ``Clear`` messages answered, from 0.  Closes: no message for
    ``stream_timeout`` seconds, 1011 ``NET-0001``; a binary frame, 1003 ``MESSAGE-0000``; a text
    frame that is no known message, 1008 ``DATA-0000`` (the codes of Deepgram's TTS WebSocket
    troubleshooting page).  Faults are not injected into these streams.

The ``Warning`` codes are the local server's own (Deepgram's spec gives the message's shape, not
its codes), and so are the 415, the ``INVALID_INPUT`` and ``UNSUPPORTED_ENCODING`` codes and their
wording: Deepgram documents that such requests fail, not the bodies it answers.  ``/_dgtools/stats`` counts all this under ``speak``: ``requests`` (POSTs),
``by_status``, ``characters`` and ``audio_bytes`` (spoken, both routes), ``streams``
(handshakes), ``stream_messages`` (text messages sent) and ``stream_closes`` (by code).

starlette is imported when a request is handled, not with this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec

from ..engines.voice import encode, synthesize
from ..exceptions import ConfigError, EngineError
from ..options.speak import MAX_CHARACTERS, SpeakFormat, parse_speak_query, speak_bit_rate, speak_format
from .faults import Decision
from .state import _drop_connection, _header, _invalid_auth, _legacy_error, _modern_error
from .stream import CLOSE_DATA, CLOSE_NET, _authorize, _control, _deny, _scrub_token

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send

    from .state import ServerState, _Credentials

__all__ = [
    "BODY_TIMEOUT_S",
    "CLOSE_MESSAGE",
    "FLUSH_LIMIT",
    "MAX_BODY_BYTES",
    "MODEL_VERSION",
    "SpeakRoute",
    "SpeakStream",
    "model_uuid",
]

logger = logging.getLogger("dgtools.server")

#: The largest ``POST /v1/speak`` body taken (2,000 characters of JSON are far less).
MAX_BODY_BYTES: Final = 1_000_000
#: Seconds a ``POST /v1/speak`` body may take to arrive, whole.
BODY_TIMEOUT_S: Final = 30.0
#: Deepgram's limit on ``Flush`` messages: this many in :data:`FLUSH_WINDOW_S` seconds.
FLUSH_LIMIT: Final = 20
FLUSH_WINDOW_S: Final = 60.0
#: Close code and reason for a binary frame (the TTS WebSocket takes text messages only).
CLOSE_MESSAGE: Final = (1003, "MESSAGE-0000")
#: ``model_version`` of the local voice (Deepgram's are dates; this one says what speaks).
MODEL_VERSION: Final = "dgtools-espeak-ng"
#: Seconds of audio in one binary frame of the WebSocket.
FRAME_S: Final = 0.1
#: Bytes in one chunk of a ``POST /v1/speak`` answer.
_CHUNK: Final = 16_384
_WIDTH: Final = {"linear16": 2, "mulaw": 1, "alaw": 1}


def model_uuid(model: str) -> str:
    """A stable ``model_uuid`` for a voice (a UUID 5 of its name; Deepgram's are its own).

    Examples
    --------
    >>> model_uuid("aura-2-thalia-en") == model_uuid("aura-2-thalia-en") != model_uuid("aura-zeus-en")
    True
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://dgtools.local/voice/{model}"))


def _synthesize(text: str, pairs: list[tuple[str, str]], fmt: SpeakFormat, *, stream: bool) -> bytes:
    """The audio of ``text`` (run in a worker thread)."""
    one = dict(pairs)
    samples = synthesize(
        text,
        model=one.get("model", "aura-asteria-en"),
        sample_rate=fmt.sample_rate,
        speed=float(one.get("speed", "1")),
    )
    return encode(
        samples,
        fmt.sample_rate,
        encoding=fmt.encoding,
        container=fmt.container,
        bit_rate=speak_bit_rate(pairs, stream=stream),
    )


# --------------------------------------------------------------------------- POST /v1/speak


class _TooLarge(Exception):
    pass


class _Dropped(Exception):
    """The ``drop_rate`` fault closed the connection: no answer."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body (None: the client went away); raises :class:`_TooLarge` past ``limit``."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(request_id: str) -> Response:
    return _legacy_error(
        413,
        "PAYLOAD_TOO_LARGE",
        f"Payload too large: a /v1/speak body is JSON of at most {MAX_CHARACTERS} characters of text "
        f"(this server takes up to {MAX_BODY_BYTES:,} bytes).",
        request_id,
        {"connection": "close"},
    )


def _invalid_json(details: str, request_id: str) -> Response:
    return _modern_error(
        400, "INVALID_JSON", "Invalid JSON submitted.", f"Json deserialize error: {details}", request_id
    )


class SpeakRoute:
    """The ``POST /v1/speak`` ASGI endpoint (see :mod:`dgtools.server.speak` for what it checks and answers).

    Parameters
    ----------
    state
        The app's :class:`~dgtools.server.app.ServerState` (its ``speak_*`` counters and fault plan).
    credentials
        The app's accepted credentials.
    """

    def __init__(self, state: ServerState, credentials: _Credentials) -> None:
        self.state = state
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        st = self.state
        st.speak_requests += 1
        request_id = str(uuid.uuid4())
        response = await self._respond(scope, receive, request_id)
        if response is None:  # the client went away, or the drop fault
            return
        st.speak_by_status[str(response.status_code)] += 1
        await response(scope, receive, send)

    async def _respond(self, scope: Scope, receive: Receive, request_id: str) -> Response | None:
        if not self.credentials.allow(_header(scope, b"authorization")):
            return _invalid_auth(request_id)
        length = _header(scope, b"content-length")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return _too_large(request_id)
        try:
            async with asyncio.timeout(BODY_TIMEOUT_S):
                body = await _read_body(receive, MAX_BODY_BYTES)
        except _TooLarge:
            return _too_large(request_id)
        except TimeoutError:
            return _legacy_error(
                408,
                "REQUEST_TIMEOUT",
                f"The request body did not arrive within {BODY_TIMEOUT_S:g} seconds.",
                request_id,
                {"connection": "close"},
            )
        if body is None:
            return None
        decision = self.state.plan.draw()
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        return await self._answer(scope, receive, body, decision, request_id)

    async def _answer(
        self, scope: Scope, receive: Receive, body: bytes, decision: Decision, request_id: str
    ) -> Response | None:
        from starlette.datastructures import QueryParams

        content_type = _header(scope, b"content-type").split(b";", 1)[0].strip().lower()
        if content_type != b"application/json":
            return _legacy_error(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "Expected request with `Content-Type: application/json` and a body such as "
                '{"text": "Hello, how can I help you today?"}',
                request_id,
            )
        try:
            payload = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            return _invalid_json(str(exc), request_id)
        if not isinstance(payload, dict):
            return _invalid_json(
                f"invalid type: {type(payload).__name__}, expected a map with a `text` field", request_id
            )
        if "text" not in payload:
            return _invalid_json("missing field `text`", request_id)
        text = payload["text"]
        if not isinstance(text, str):
            return _invalid_json(
                f"invalid type: {type(text).__name__} for `text`, expected a string", request_id
            )
        try:
            pairs = parse_speak_query(QueryParams(scope["query_string"]).multi_items())
            fmt = speak_format(pairs)
        except ConfigError as exc:
            return _legacy_error(
                400, "INVALID_QUERY_PARAMETER", f"Failed to deserialize query parameters: {exc}", request_id
            )
        if not text.strip():
            return _legacy_error(
                400,
                "INVALID_INPUT",
                'Input text is empty: send {"text": "..."} with something to say.',
                request_id,
            )
        if len(text) > MAX_CHARACTERS:
            return _legacy_error(
                400,
                "INVALID_INPUT",
                f"Input text exceeds maximum character limit of {MAX_CHARACTERS} (it has {len(text)}): "
                "split it at sentence ends into requests of at most 2000 characters.",
                request_id,
            )
        try:
            refused = await self._fault(decision, receive, request_id)
        except _Dropped:
            return None
        if refused is not None:
            return refused
        model = dict(pairs).get("model", "aura-asteria-en")
        try:
            audio = await asyncio.to_thread(_synthesize, text, pairs, fmt, stream=False)
        except EngineError as exc:
            return _legacy_error(exc.status_code, exc.err_code, exc.err_msg, request_id)
        except Exception as exc:
            logger.exception("the voice failed on request %s", request_id)
            return _modern_error(
                500,
                "INTERNAL_SERVER_ERROR",
                "Internal server error.",
                f"The local voice failed: {type(exc).__name__}: {exc}",
                request_id,
            )
        st = self.state
        st.successes += 1
        st.speak_characters += len(text)
        st.speak_audio_bytes += len(audio)
        return _audio_response(audio, fmt.content_type, request_id, model, len(text))

    async def _fault(self, decision: Decision, receive: Receive, request_id: str) -> Response | None:
        """The injected fault's answer, or None for none; raises :class:`_Dropped` after dropping the connection."""
        st, faults = self.state, self.state.faults
        if decision.drop:
            await _drop_connection(receive)
            st.dropped += 1
            raise _Dropped
        if faults.payment_after is not None and st.successes >= faults.payment_after:
            return _legacy_error(
                402,
                "PAYMENT_REQUIRED",
                "Project does not have enough credits for a TTS request.",
                request_id,
            )
        if decision.status_429:
            headers = None if faults.retry_after is None else {"Retry-After": f"{faults.retry_after:g}"}
            return _legacy_error(
                429, "TOO_MANY_REQUESTS", "Too many requests. Please try again later", request_id, headers
            )
        if decision.status_5xx is not None:
            message = "Internal server error." if decision.status_5xx == 500 else "Service unavailable."
            return _modern_error(
                decision.status_5xx,
                "INTERNAL_SERVER_ERROR",
                message,
                "The dgtools local server injected this failure (Faults.rate_5xx); retry the request.",
                request_id,
            )
        return None


def _audio_response(
    audio: bytes, content_type: str, request_id: str, model: str, characters: int
) -> Response:
    from starlette.responses import StreamingResponse

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(audio), _CHUNK):
            yield audio[i : i + _CHUNK]

    headers = {
        "dg-request-id": request_id,
        "dg-model-name": model,
        "dg-model-uuid": model_uuid(model),
        "dg-char-count": str(characters),
    }
    return StreamingResponse(chunks(), media_type=content_type, headers=headers)


# --------------------------------------------------------------------------- WebSocket /v1/speak


@dataclass(frozen=True)
class _Flush:
    """A ``Flush`` to answer: the text to speak, the ``Clear`` generation it belongs to, its ``sequence_id``."""

    text: str
    generation: int
    sequence_id: int


class _Speaker:
    """Sends one stream's messages and audio in order, from a task of its own (speaking runs in a thread).

    ``Clear`` moves on the generation: the audio of an older generation not yet sent is dropped.
    """

    def __init__(
        self, send: Send, state: ServerState, pairs: list[tuple[str, str]], fmt: SpeakFormat
    ) -> None:
        self._send = send
        self._state = state
        self._pairs = pairs
        self._fmt = fmt
        self._queue: asyncio.Queue[dict[str, Any] | _Flush | None] = asyncio.Queue()
        self.generation = 0
        self.closed = False  # the speaker sent a close frame itself (the voice failed)
        self._task = asyncio.create_task(self._run())

    def put(self, item: dict[str, Any] | _Flush) -> None:
        self._queue.put_nowait(item)

    async def _text(self, message: dict[str, Any]) -> None:
        await self._send({"type": "websocket.send", "text": msgspec.json.encode(message).decode()})
        self._state.speak_stream_messages += 1

    async def _run(self) -> None:
        st, fmt = self._state, self._fmt
        frame = max(1, round(FRAME_S * fmt.sample_rate)) * _WIDTH[fmt.encoding]
        while (item := await self._queue.get()) is not None:
            if isinstance(item, dict):
                await self._text(item)
                continue
            if item.generation != self.generation:
                continue
            try:
                audio = await asyncio.to_thread(_synthesize, item.text, self._pairs, fmt, stream=True)
            except EngineError as exc:
                await self._fail(exc.err_code, exc.err_msg)
                return
            except Exception as exc:
                logger.exception("the voice failed on a /v1/speak stream")
                await self._fail(
                    "INTERNAL_SERVER_ERROR", f"The local voice failed: {type(exc).__name__}: {exc}"
                )
                return
            for i in range(0, len(audio), frame):
                if item.generation != self.generation:
                    break
                await self._send({"type": "websocket.send", "bytes": audio[i : i + frame]})
                st.speak_audio_bytes += len(audio[i : i + frame])
            else:
                st.speak_characters += len(item.text)
                await self._text({"type": "Flushed", "sequence_id": item.sequence_id})

    async def _fail(self, code: str, description: str) -> None:
        """Warn the client, then close 1011 ``NET-0000``: the voice cannot speak."""
        await self._text({"type": "Warning", "code": code, "description": description})
        self.closed = True
        self._state.speak_stream_closes["1011"] += 1
        await self._send({"type": "websocket.close", "code": 1011, "reason": "NET-0000"})

    async def finish(self) -> bool:
        """Send what is queued and stop; False if the client went away (or the speaker closed)."""
        self._queue.put_nowait(None)
        try:
            await self._task
        except OSError:  # the client went away while we wrote
            return False
        return not self.closed

    async def cancel(self) -> None:
        """Stop at once; what is still queued is never sent."""
        if not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})
        if not self._task.cancelled():
            self._task.exception()  # retrieved: a client gone mid-send is no error here


class SpeakStream:
    """The WebSocket ``/v1/speak`` endpoint (raw ASGI; see :mod:`dgtools.server.speak` for the protocol).

    Parameters
    ----------
    state
        The app's :class:`~dgtools.server.app.ServerState` (``speak_streams``, ``speak_stream_messages``,
        ``speak_stream_closes``, ``speak_characters``, ``speak_audio_bytes``).
    credentials
        The app's accepted credentials (as for ``/v1/listen``).
    timeout
        Seconds without a message from the client before closing with 1011 ``NET-0001``.
    """

    #: The text messages the endpoint takes; any other closes the stream 1008 DATA-0000.
    controls: Final = frozenset({"Speak", "Flush", "Clear", "Close"})

    def __init__(self, state: ServerState, credentials: _Credentials, *, timeout: float = 10.0) -> None:
        self.state = state
        self.credentials = credentials
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        st = self.state
        st.speak_streams += 1
        request_id = str(uuid.uuid4())
        if (await receive())["type"] != "websocket.connect":  # pragma: no cover - ASGI guarantees it
            return
        pairs = _scrub_token(scope)
        subprotocol = _authorize(self.credentials, scope, [v for k, v in pairs if k == "token"])
        if subprotocol is None:
            await _deny(scope, receive, send, 401, "INVALID_AUTH", "Invalid credentials.", request_id)
            return
        try:
            query = parse_speak_query([(k, v) for k, v in pairs if k != "token"], stream=True)
            fmt = speak_format(query, stream=True)
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
        model = dict(query).get("model", "aura-asteria-en")
        speaker = _Speaker(send, st, query, fmt)
        speaker.put(
            {
                "type": "Metadata",
                "request_id": request_id,
                "model_name": model,
                "model_version": MODEL_VERSION,
                "model_uuid": model_uuid(model),
            }
        )
        try:
            code, reason = await self._receive(receive, speaker)
            if code == 1000 and not await speaker.finish():  # the audio asked for goes before the close
                return
        except OSError:  # the client went away while we wrote (uvicorn's ClientDisconnected)
            return
        finally:
            await speaker.cancel()
        if code and not speaker.closed:
            st.speak_stream_closes[str(code)] += 1
            with contextlib.suppress(OSError):  # the client went away first
                await send({"type": "websocket.close", "code": code, "reason": reason})

    async def _receive(self, receive: Receive, speaker: _Speaker) -> tuple[int, str]:
        """Read the client's messages until the stream ends; answers the close to send (code 0: none)."""
        buffer: list[str] = []
        flushes: deque[float] = deque()
        sequence = 0
        while True:
            try:
                async with asyncio.timeout(self.timeout):
                    message = await receive()
            except TimeoutError:
                return CLOSE_NET
            if message["type"] == "websocket.disconnect" or speaker.closed:
                return 0, ""
            text: str | None = message.get("text")
            if text is None:
                return CLOSE_MESSAGE
            kind, payload = _control(text, self.controls)
            if kind is None or (kind == "Speak" and not isinstance(payload.get("text"), str)):
                return CLOSE_DATA
            if kind == "Speak":
                words: str = payload["text"]
                if len(words) > MAX_CHARACTERS:
                    speaker.put(
                        {
                            "type": "Warning",
                            "code": "TEXT_TOO_LONG",
                            "description": f"A Speak message takes at most {MAX_CHARACTERS} characters; this one "
                            f"has {len(words)} and was dropped: send the text in shorter pieces.",
                        }
                    )
                else:
                    buffer.append(words)
            elif kind == "Flush":
                now = time.monotonic()
                while flushes and now - flushes[0] >= FLUSH_WINDOW_S:
                    flushes.popleft()
                if len(flushes) >= FLUSH_LIMIT:
                    speaker.put(
                        {
                            "type": "Warning",
                            "code": "FLUSH_LIMIT_EXCEEDED",
                            "description": f"At most {FLUSH_LIMIT} Flush messages are processed every "
                            f"{FLUSH_WINDOW_S:g} seconds; this one was not: the text stays in the buffer.",
                        }
                    )
                    continue
                flushes.append(now)
                speaker.put(_Flush("".join(buffer), speaker.generation, sequence))
                buffer.clear()
                sequence += 1
            elif kind == "Clear":
                buffer.clear()
                speaker.generation += 1
                speaker.put({"type": "Cleared", "sequence_id": sequence})
                sequence += 1
            else:  # Close: the buffer is flushed too (the AsyncAPI spec), then all its audio is sent
                if "".join(buffer).strip():
                    speaker.put(_Flush("".join(buffer), speaker.generation, sequence))
                return 1000, ""
