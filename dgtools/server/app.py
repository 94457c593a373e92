"""The Starlette app of the local Deepgram-compatible server.

Routes:

``POST /v1/listen``
    Deepgram's pre-recorded transcription endpoint.  A request goes through,
    in order, first from its headers alone, before any of the body is read:
    the ``Authorization`` header (401 ``INVALID_AUTH``); a ``Content-Length``
    above ``max_body_bytes`` (413 ``PAYLOAD_TOO_LARGE``); the
    ``Faults.max_concurrent`` limit (429 ``TOO_MANY_REQUESTS``, with
    ``Retry-After``).  These answers go out at once; when more than 64 KiB
    of body may still be on its way (or the body is chunked), they carry
    ``Connection: close`` and the connection is closed, so the client stops
    sending.  Then: read the body, counting it against ``max_body_bytes`` as
    it streams (a chunked body over the limit is cut off with 413; a body
    with no byte arriving for ``body_timeout`` seconds is abandoned and the
    connection closed, without an answer); wait the
    injected latency; read the body as audio, or as ``{"url": ...}`` when
    the Content-Type is ``application/json`` (empty body: 400); validate the
    query (400 ``INVALID_QUERY_PARAMETER``); injected faults (dropped
    connection, 402, 429, 500/503); the engine.  Every response carries a
    ``dg-request-id`` header equal to the body's ``request_id`` (or
    ``metadata.request_id``).  With ``callback=URL`` the answer is
    ``{"request_id": ...}`` at once, and the engine's response is POSTed (or
    PUT, ``callback_method``) to the URL later, with retries
    (:mod:`dgtools.server.callbacks`).
``GET /_dgtools/stats``
    Counters for tests: ``requests`` (POSTs to ``/v1/listen`` received),
    ``by_sha256`` (200s per audio sha256), ``by_status`` (responses per
    status, as strings), ``dropped`` (connections dropped by the
    ``drop_rate`` fault), ``connections`` (distinct client
    ``(host, port)`` pairs seen on ``/v1/listen``), ``in_flight`` and
    ``in_flight_max`` (``/v1/listen`` requests being handled, now and at
    most: every request, rejected or not), ``max_in_flight`` (the most
    requests in flight at once among those admitted past the credential,
    size and ``max_concurrent`` checks: never above ``max_concurrent``) and
    ``concurrency_429`` (requests answered 429 by the ``max_concurrent``
    limit); for the WebSockets, once one has connected since the last reset,
    ``streams`` (handshakes on ``/v1/listen`` and ``/v2/listen``),
    ``stream_messages`` (messages the server sent on them) and
    ``stream_closes`` (close frames the server sent, per code, as strings).
``WebSocket /v1/listen``
    Deepgram's live transcription endpoint: the same credentials (also as
    ``?token=`` or the ``Sec-WebSocket-Protocol`` header), interim and final
    ``Results`` (synthetic words, or an offline engine's words for the audio
    cut at pauses: :mod:`dgtools.server.segments`), ``Metadata`` on
    ``CloseStream``, and Deepgram's close codes (:mod:`dgtools.server.stream`).
``POST /v2/listen``
    The old API of brain.deepgram.com: HTTP Basic auth (``basic_auth`` pairs), then as
    ``POST /v1/listen``, answered in the old response shape (:mod:`dgtools.server.v2`).
``WebSocket /v2/listen``
    Deepgram's Flux (``model=flux-general-en``): the same credentials, Flux's
    options, ``Connected`` then ``TurnInfo`` messages every 240 ms of audio
    (``StartOfTurn``, ``EagerEndOfTurn``, ``TurnResumed``, ``EndOfTurn``) from
    synthetic words, ``Configure`` answered ``ConfigureSuccess``
    (:mod:`dgtools.server.flux`).
``POST /v1/speak`` and ``WebSocket /v1/speak``
    Deepgram's Aura text-to-speech: the same credentials, ``{"text": ...}`` (at most 2,000
    characters) answered with audio in the format the query asks (``mp3`` by default) and
    Deepgram's ``dg-*`` headers; on the WebSocket, ``Metadata``, then audio for each ``Flush``
    with ``Flushed``, ``Cleared``, ``Warning`` (:mod:`dgtools.server.speak`; the voice is
    espeak-ng's, :mod:`dgtools.engines.voice`).  ``GET /_dgtools/stats`` counts them under
    ``speak``.
``POST /_dgtools/reset``
    Zeroes the counters, the 402 success count, and restarts the fault
    sequence from its seed; answers the zeroed stats.

The ``/_dgtools/`` paths are not Deepgram's; they exist for tests.  When
the app has credentials (``api_keys`` or ``access_tokens``), they require
one of them, as ``/v1/listen`` does (:class:`~dgtools.server.LocalServer`
reaches them with its own per-server secret).

starlette (the ``serve`` extra: ``pip install 'dgtools[serve]'``) is imported
when :func:`create_app` builds an app, not with this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from .._extras import require
from ..engines.base import Engine
from ..exceptions import ConfigError, EngineError
from .callbacks import deliver_later, key_id
from .faults import Decision, Faults
from .state import (
    ServerState,
    _Credentials,
    _drop_connection,
    _header,
    _invalid_auth,
    _json,
    _legacy_error,
    _modern_error,
    _too_large,
    _too_many,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send

    from ..options import ListenOptions

__all__ = ["DEFAULT_BODY_TIMEOUT", "DEFAULT_MAX_BODY_BYTES", "TRUSTED_SCOPE_KEY", "ServerState", "create_app"]

logger = logging.getLogger("dgtools.server")

#: Deepgram's limit on a pre-recorded request body: 2 GB.
DEFAULT_MAX_BODY_BYTES = 2_000_000_000
#: Seconds a request body may go without a byte arriving before the server gives up on it.
DEFAULT_BODY_TIMEOUT = 30.0

#: An ASGI scope key that :class:`~dgtools.server.LocalServer` sets (in-process, where no network
#: client can) on its own requests to ``/_dgtools/``; the app then answers them without a key.
TRUSTED_SCOPE_KEY = "dgtools.trusted"

# uvicorn reads up to 64 KiB of a body before the app asks for it and discards the unread rest of a
# body after an answer on a kept-alive connection; a longer body is cut off by closing the connection.
_BUFFERED_BODY = 65_536

_CORRUPT = "Bad Request: failed to process audio: corrupt or unsupported data"


def _validate(params: Sequence[tuple[str, str]]) -> ListenOptions:
    """Validate the query as Deepgram would (unknown names, wrong types, enum values).

    Raises
    ------
    ConfigError
        With ``.option`` naming the offending parameter.
    """
    from ..options import validate_query  # the one place that knows every /v1/listen option

    return validate_query(params)


class _BodyTooLarge(Exception):
    """The streamed body went over ``max_body_bytes``."""


async def _read_body(receive: Receive, limit: int, timeout: float) -> bytes | None:
    """The whole request body (None: the client went away, or stalled ``timeout`` seconds between bytes).

    Raises :class:`_BodyTooLarge` past ``limit``.  The stall timer is one
    ``call_later`` per chunk that closes the connection (under uvicorn,
    whose ``receive`` holds the transport): uvicorn then reports a
    disconnect to the pending ``receive``.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    close: Callable[[], object] | None = None if transport is None else transport.close
    loop = asyncio.get_running_loop()
    timer = None if close is None else loop.call_later(timeout, close)
    chunks: list[bytes] = []
    size = 0
    more = True
    try:
        while more:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect
                return None
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise _BodyTooLarge
                chunks.append(chunk)
            if more and timer is not None and close is not None:  # a stall counts from the last chunk
                timer.cancel()
                timer = loop.call_later(timeout, close)
    finally:
        if timer is not None:
            timer.cancel()
    return b"".join(chunks)  # one chunk: returned as is, no copy


class _Listen:
    """The ``POST /v1/listen`` ASGI endpoint (raw ASGI: it answers before the body and may drop the connection).

    ``shape`` rewrites a 200 answer's body (``POST /v2/listen``: :func:`dgtools.server.v2.to_v2`).
    """

    def __init__(
        self,
        engine: Engine,
        state: ServerState,
        credentials: _Credentials,
        max_body_bytes: int,
        body_timeout: float,
        shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.engine = engine
        self.state = state
        self.credentials = credentials
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.shape = shape

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        st = self.state
        st.requests += 1
        client = scope.get("client")
        if client:
            st.connections.add((str(client[0]), int(client[1])))
        st.in_flight += 1
        st.in_flight_max = max(st.in_flight_max, st.in_flight)
        try:
            response = self._refuse_early(scope)
            if response is not None:
                st.by_status[str(response.status_code)] += 1
                await response(scope, receive, send)
                return
            st.admitted += 1
            st.max_in_flight = max(st.max_in_flight, st.admitted)
            try:
                await self._admitted(scope, receive, send)
            finally:
                st.admitted -= 1
        finally:
            st.in_flight -= 1

    def _refuse_early(self, scope: Scope) -> Response | None:
        """The answer from the headers alone (401, 413, concurrency 429), or None to go on."""
        authorization = content_length = transfer_encoding = b""
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value
            elif key == b"content-length":
                content_length = value
            elif key == b"transfer-encoding":
                transfer_encoding = value
        length = int(content_length) if content_length.isdigit() else 0
        # more body may be on its way than uvicorn holds: close the connection so the client stops sending
        close = {"connection": "close"} if length > _BUFFERED_BODY or transfer_encoding else None
        if not self.credentials.allow(authorization):
            return _invalid_auth(str(uuid.uuid4()), close)
        if length > self.max_body_bytes:
            return _too_large(self.max_body_bytes, str(uuid.uuid4()))
        st = self.state
        limit = st.faults.max_concurrent
        if limit is not None and st.admitted >= limit:
            st.concurrency_429 += 1
            return _too_many(str(uuid.uuid4()), st.faults.retry_after_concurrent, close is not None)
        return None

    async def _admitted(self, scope: Scope, receive: Receive, send: Send) -> None:
        st = self.state
        try:
            body = await _read_body(receive, self.max_body_bytes, self.body_timeout)
        except _BodyTooLarge:
            response: Response | None = _too_large(self.max_body_bytes, str(uuid.uuid4()))
        else:
            if body is None:  # the client went away
                return
            decision = st.plan.draw()
            if decision.delay > 0:
                await asyncio.sleep(decision.delay)
            response = await self._answer(scope, body, decision, receive)
        if response is None:
            st.dropped += 1
            return
        st.by_status[str(response.status_code)] += 1
        await response(scope, receive, send)

    async def _answer(
        self, scope: Scope, body: bytes, decision: Decision, receive: Receive
    ) -> Response | None:
        from starlette.datastructures import QueryParams

        request_id = str(uuid.uuid4())
        if not body:
            return _legacy_error(400, "Bad Request", _CORRUPT, request_id)
        audio: bytes | None = body
        url: str | None = None
        sha256: str | None = None
        content_type = _header(scope, b"content-type").split(b";", 1)[0].strip().lower()
        if content_type == b"application/json":
            audio = None
            try:
                payload = msgspec.json.decode(body)
            except msgspec.DecodeError:
                payload = None
            if not (isinstance(payload, dict) and isinstance(payload.get("url"), str) and payload["url"]):
                return _legacy_error(
                    400,
                    "Bad Request",
                    'Bad Request: a JSON body must be an object with a "url" string, e.g. '
                    '{"url": "https://example.com/audio.wav"}; send audio bytes with another Content-Type.',
                    request_id,
                )
            url = payload["url"]
        else:
            sha256 = hashlib.sha256(body).hexdigest()

        params = QueryParams(scope["query_string"]).multi_items()
        try:
            options = _validate(params)
        except ConfigError as exc:
            return _legacy_error(
                400, "INVALID_QUERY_PARAMETER", f"Failed to deserialize query parameters: {exc}", request_id
            )

        st, faults = self.state, self.state.faults
        if decision.drop:
            await _drop_connection(receive)
            return None
        if faults.payment_after is not None and st.successes >= faults.payment_after:
            return _legacy_error(
                402,
                "ASR_PAYMENT_REQUIRED",
                "Project does not have enough credits for an ASR request.",
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

        if "callback" in options:  # answered at once; the engine's response is delivered later
            deliver_later(
                st.callbacks, faults, engine=self.engine, audio=audio, url=url, options=options,
                request_id=request_id, sha256=sha256, token=key_id(_header(scope, b"authorization")),
                shape=self.shape,
            )  # fmt: skip
            st.successes += 1
            return _json(200, {"request_id": request_id}, request_id)
        try:
            result = await self.engine.transcribe(
                audio=audio, url=url, options=options, request_id=request_id, sha256=sha256
            )
        except EngineError as exc:
            return _legacy_error(exc.status_code, exc.err_code, exc.err_msg, request_id)
        except Exception as exc:
            logger.exception("engine %r failed on request %s", self.engine, request_id)
            return _modern_error(
                500,
                "INTERNAL_SERVER_ERROR",
                "Internal server error.",
                f"The {type(self.engine).__name__} engine failed: {type(exc).__name__}: {exc}",
                request_id,
            )
        metadata = result.get("metadata") or {}
        response_id = str(metadata.get("request_id") or request_id)
        st.successes += 1
        st.by_sha256[str(metadata.get("sha256") or sha256 or "")] += 1
        return _json(200, result if self.shape is None else self.shape(result), response_id)


def create_app(
    *,
    engine: Engine,
    api_keys: Collection[str] = (),
    access_tokens: Collection[str] = (),
    basic_auth: Collection[tuple[str, str]] = (),
    faults: Faults | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    stream_timeout: float = 10.0,
    stream_max_segment: float = 15.0,
) -> Starlette:
    """Build the local Deepgram-compatible server app (Starlette, ASGI).

    Parameters
    ----------
    engine
        What answers transcription requests: :class:`~dgtools.server.SyntheticEngine`,
        :class:`~dgtools.server.ReplayEngine`, or any object with the
        :class:`~dgtools.engines.base.Engine` ``transcribe`` coroutine.  An offline
        engine (``local``, ``whisper``) answers WebSocket streams too, segment by
        segment; with any other, streams get synthetic words.
    api_keys
        Accepted ``Authorization: Token <key>`` keys.
    access_tokens
        Accepted ``Authorization: Bearer <jwt>`` tokens.  When both
        collections are empty, any non-empty Token or Bearer credential is
        accepted and ``/_dgtools/`` is open; otherwise every other
        credential gets 401 and ``/_dgtools/`` needs one of these too.
        The app keeps their sha256 digests, not the credentials.
    basic_auth
        Accepted ``(username, password)`` pairs for ``POST /v2/listen`` (the old API, HTTP
        Basic); none: any non-empty pair.  Kept as sha256 digests too.
    faults
        Injected faults (:class:`~dgtools.server.Faults`); none by default.
    max_body_bytes
        The largest request body accepted (default 2 GB, Deepgram's limit).
        A larger ``Content-Length`` gets 413 before any of the body is read;
        a chunked body is cut off with 413 once it passes the limit.
    body_timeout
        Seconds a request body may go without a byte arriving (a stalled
        upload) before the connection is closed (default 30).  A slow but
        steady upload is not cut off.  Needs uvicorn (the only server the
        app is run with); under another ASGI server bodies are not timed.
    stream_timeout
        Seconds a ``/v1/listen`` or ``/v2/listen`` WebSocket may go without a frame from the
        client (audio, ``KeepAlive``, ...) before it is closed with
        ``1011 NET-0001`` (default 10, Deepgram's).
    stream_max_segment
        With an offline engine: the longest piece of a ``/v1/listen`` WebSocket stream
        transcribed at once, in audio seconds (default 15); pauses end pieces sooner
        (:mod:`dgtools.server.segments`).

    Returns
    -------
    starlette.applications.Starlette
        The app; ``app.state.dgtools`` is its :class:`ServerState` (its
        ``snapshot()`` is what ``GET /_dgtools/stats`` answers).

    Raises
    ------
    ConfigError
        ``max_body_bytes`` is not a positive integer, or ``body_timeout``, ``stream_timeout``
        or ``stream_max_segment`` not a positive number.
    MissingDependencyError
        starlette is not installed (``pip install 'dgtools[serve]'``).

    Examples
    --------
    >>> from dgtools.server import SyntheticEngine, create_app
    >>> app = create_app(engine=SyntheticEngine(), api_keys={"test-key"})
    >>> app.state.dgtools.snapshot()["requests"]
    0
    >>> import uvicorn; uvicorn.run(app, port=8765)        # doctest: +SKIP
    """
    require("starlette", extra="serve", feature="dgtools serve")
    from starlette.applications import Starlette
    from starlette.routing import Route, WebSocketRoute

    from .flux import FluxStream
    from .manage import ManageState
    from .speak import SpeakRoute, SpeakStream
    from .stream import ListenStream
    from .v2 import BasicCredentials, to_v2

    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
        raise ConfigError(f"max_body_bytes must be a positive number of bytes, got {max_body_bytes!r}")
    if isinstance(body_timeout, bool) or not isinstance(body_timeout, int | float) or not body_timeout > 0:
        raise ConfigError(f"body_timeout must be a positive number of seconds, got {body_timeout!r}")
    for name, value in (("stream_timeout", stream_timeout), ("stream_max_segment", stream_max_segment)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    state = ServerState(faults or Faults())
    manage = ManageState(api_keys, access_tokens)  # the Manage API: created keys and tokens count too
    credentials: _Credentials = manage.credentials
    seed = int(getattr(engine, "seed", 0) or 0)

    def allowed(request: Request) -> bool:
        return (
            not credentials.required
            or request.scope.get(TRUSTED_SCOPE_KEY) is True
            or credentials.allow(_header(request.scope, b"authorization"))
        )

    async def stats(request: Request) -> Response:
        if not allowed(request):
            return _invalid_auth(str(uuid.uuid4()))
        return _json(200, state.snapshot(), str(uuid.uuid4()))

    async def reset(request: Request) -> Response:
        if not allowed(request):
            return _invalid_auth(str(uuid.uuid4()))
        state.reset()
        return _json(200, state.snapshot(), str(uuid.uuid4()))

    app = Starlette(
        routes=[
            Route(
                "/v1/listen",
                _Listen(engine, state, credentials, max_body_bytes, body_timeout),
                methods=["POST"],
            ),
            WebSocketRoute(
                "/v1/listen",
                ListenStream(
                    state,
                    credentials,
                    engine=engine,
                    timeout=stream_timeout,
                    seed=seed,
                    max_segment=stream_max_segment,
                ),
            ),
            Route(
                "/v2/listen",
                _Listen(engine, state, BasicCredentials(basic_auth), max_body_bytes, body_timeout, to_v2),
                methods=["POST"],
            ),
            WebSocketRoute("/v2/listen", FluxStream(state, credentials, timeout=stream_timeout, seed=seed)),
            Route("/v1/speak", SpeakRoute(state, credentials), methods=["POST"]),
            WebSocketRoute("/v1/speak", SpeakStream(state, credentials, timeout=stream_timeout)),
            Route("/_dgtools/stats", stats, methods=["GET"]),
            Route("/_dgtools/reset", reset, methods=["POST"]),
            *manage.routes(),
        ],
        middleware=manage.middleware(),
    )
    app.state.dgtools = state
    app.state.manage = manage
    return app
