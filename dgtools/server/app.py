"""The Starlette app of the local Deepgram-compatible server.

Routes:

``POST /v1/listen``
    Deepgram's pre-recorded transcription endpoint.  A request goes through,
    in order: read the body; wait the injected latency; check the
    ``Authorization`` header (401 ``INVALID_AUTH``); read the body as audio,
    or as ``{"url": ...}`` when the Content-Type is ``application/json``
    (empty body: 400); validate the query (400 ``INVALID_QUERY_PARAMETER``);
    injected faults (dropped connection, 402, 429, 500/503); the engine.
    Every response carries a ``dg-request-id`` header equal to the body's
    ``request_id`` (or ``metadata.request_id``).
``GET /_dgtools/stats``
    Counters for tests: ``requests`` (POSTs to ``/v1/listen`` received),
    ``by_sha256`` (200s per audio sha256), ``by_status`` (responses per
    status, as strings), ``dropped`` (connections dropped by the
    ``drop_rate`` fault), ``connections`` (distinct client
    ``(host, port)`` pairs seen on ``/v1/listen``), ``in_flight`` and
    ``in_flight_max`` (concurrent ``/v1/listen`` requests, now and at most).
``POST /_dgtools/reset``
    Zeroes the counters, the 402 success count, and restarts the fault
    sequence from its seed; answers the zeroed stats.

The ``/_dgtools/`` paths are not Deepgram's; they exist for tests.

starlette (the ``serve`` extra: ``pip install 'dgtools[serve]'``) is imported
when :func:`create_app` builds an app, not with this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from .._extras import require
from ..engines.base import Engine
from ..exceptions import ConfigError, EngineError
from .faults import Decision, FaultPlan, Faults

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send

    from ..options import ListenOptions

__all__ = ["ServerState", "create_app"]

logger = logging.getLogger("dgtools.server")


def _validate(params: Sequence[tuple[str, str]]) -> ListenOptions:
    """Validate the query as Deepgram would (unknown names, wrong types, enum values).

    Raises
    ------
    ConfigError
        With ``.option`` naming the offending parameter.
    """
    from ..options import validate_query  # the one place that knows every /v1/listen option

    return validate_query(params)


class ServerState:
    """Counters and fault sequence of one app (``app.state.dgtools``); lives on the event loop.

    Examples
    --------
    >>> state = ServerState(Faults(seed=1))
    >>> state.requests += 1
    >>> state.snapshot()["requests"], state.reset(), state.snapshot()["requests"]
    (1, None, 0)
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.plan = FaultPlan(faults)
        self.reset()

    def reset(self) -> None:
        """Zero the counters and the 402 success count; restart the fault sequence."""
        self.requests = 0
        self.successes = 0
        self.dropped = 0
        self.by_sha256: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.connections: set[tuple[str, int]] = set()
        self.in_flight = 0
        self.in_flight_max = 0
        self.plan.reset()

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-ready data (what ``GET /_dgtools/stats`` answers)."""
        return {
            "requests": self.requests,
            "by_sha256": dict(self.by_sha256),
            "by_status": dict(sorted(self.by_status.items())),
            "dropped": self.dropped,
            "connections": len(self.connections),
            "in_flight": self.in_flight,
            "in_flight_max": self.in_flight_max,
        }


def _json(
    status: int, body: dict[str, Any], request_id: str, headers: dict[str, str] | None = None
) -> Response:
    from starlette.responses import Response

    return Response(
        msgspec.json.encode(body),
        status_code=status,
        media_type="application/json",
        headers={"dg-request-id": request_id, **(headers or {})},
    )


def _legacy_error(
    status: int, err_code: str, err_msg: str, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"err_code": err_code, "err_msg": err_msg, "request_id": request_id}
    return _json(status, body, request_id, headers)


def _modern_error(status: int, category: str, message: str, details: str, request_id: str) -> Response:
    body = {"category": category, "message": message, "details": details, "request_id": request_id}
    return _json(status, body, request_id)


class _Listen:
    """The ``POST /v1/listen`` ASGI endpoint (raw ASGI: it may need to drop the connection)."""

    def __init__(
        self, engine: Engine, state: ServerState, api_keys: Collection[str], access_tokens: Collection[str]
    ) -> None:
        self.engine = engine
        self.state = state
        self.api_keys = frozenset(api_keys)
        self.access_tokens = frozenset(access_tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.requests import ClientDisconnect, Request

        st = self.state
        st.requests += 1
        client = scope.get("client")
        if client:
            st.connections.add((str(client[0]), int(client[1])))
        st.in_flight += 1
        st.in_flight_max = max(st.in_flight_max, st.in_flight)
        try:
            request = Request(scope, receive)
            try:
                body = await request.body()
            except ClientDisconnect:
                return
            decision = st.plan.draw()
            if decision.delay > 0:
                await asyncio.sleep(decision.delay)
            response = await self._answer(request, body, decision, receive)
            if response is None:
                st.dropped += 1
                return
            st.by_status[str(response.status_code)] += 1
            await response(scope, receive, send)
        finally:
            st.in_flight -= 1

    def _authorized(self, header: str) -> bool:
        scheme, _, credential = header.strip().partition(" ")
        credential = credential.strip()
        if not credential:
            return False
        scheme = scheme.lower()
        if not self.api_keys and not self.access_tokens:
            return scheme in ("token", "bearer")
        if scheme == "token":
            return credential in self.api_keys
        if scheme == "bearer":
            return credential in self.access_tokens
        return False

    async def _answer(
        self, request: Request, body: bytes, decision: Decision, receive: Receive
    ) -> Response | None:
        request_id = str(uuid.uuid4())
        if not self._authorized(request.headers.get("authorization", "")):
            return _legacy_error(401, "INVALID_AUTH", "Invalid credentials.", request_id)
        if not body:
            return _legacy_error(
                400,
                "Bad Request",
                "Bad Request: failed to process audio: corrupt or unsupported data",
                request_id,
            )
        audio: bytes | None = body
        url: str | None = None
        sha256: str | None = None
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type == "application/json":
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

        params = request.query_params.multi_items()
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
        return _json(200, result, response_id)


async def _drop_connection(receive: Receive) -> None:
    """Close the client's connection abruptly (TCP reset), without any HTTP response.

    Under uvicorn the ASGI ``receive`` callable is a bound method of the
    request cycle, which holds the connection's ``asyncio.Transport``:
    ``transport.abort()`` closes it at once.  We then wait for the
    ``http.disconnect`` the server reports when it notices, so it never
    writes its own 500 for a request that returned no response.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise RuntimeError(
            "Faults.drop_rate needs an ASGI server that exposes its transport (uvicorn); this one does not."
        )
    transport.abort()
    try:
        async with asyncio.timeout(2.0):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:  # pragma: no cover - uvicorn reports the disconnect at once
        pass


def create_app(
    *,
    engine: Engine,
    api_keys: Collection[str] = (),
    access_tokens: Collection[str] = (),
    faults: Faults | None = None,
) -> Starlette:
    """Build the local Deepgram-compatible server app (Starlette, ASGI).

    Parameters
    ----------
    engine
        What answers transcription requests: :class:`~dgtools.server.SyntheticEngine`,
        :class:`~dgtools.server.ReplayEngine`, or any object with the
        :class:`~dgtools.engines.base.Engine` ``transcribe`` coroutine.
    api_keys
        Accepted ``Authorization: Token <key>`` keys.
    access_tokens
        Accepted ``Authorization: Bearer <jwt>`` tokens.  When both
        collections are empty, any non-empty Token or Bearer credential is
        accepted.
    faults
        Injected faults (:class:`~dgtools.server.Faults`); none by default.

    Returns
    -------
    starlette.applications.Starlette
        Serve it with uvicorn (or use :class:`~dgtools.server.LocalServer`).
        Its counters are ``app.state.dgtools`` (a :class:`ServerState`).

    Raises
    ------
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
    from starlette.routing import Route

    state = ServerState(faults or Faults())

    async def stats(request: Request) -> Response:
        return _json(200, state.snapshot(), str(uuid.uuid4()))

    async def reset(request: Request) -> Response:
        state.reset()
        return _json(200, state.snapshot(), str(uuid.uuid4()))

    app = Starlette(
        routes=[
            Route("/v1/listen", _Listen(engine, state, api_keys, access_tokens), methods=["POST"]),
            Route("/_dgtools/stats", stats, methods=["GET"]),
            Route("/_dgtools/reset", reset, methods=["POST"]),
        ]
    )
    app.state.dgtools = state
    return app
