"""What the REST and WebSocket routes of the local server share: its counters, credentials and answers.

:class:`ServerState` counts what the app saw (``GET /_dgtools/stats``); ``_Credentials`` checks
``Authorization`` headers and ``?token=`` values against the accepted keys (holding digests, never
the keys); the ``_json`` family builds Deepgram's JSON error answers; ``_drop_connection`` is the
``drop_rate`` fault (``/v1/listen`` and ``/v1/speak``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import msgspec

from .callbacks import CallbackLog
from .faults import FaultPlan, Faults

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Receive, Scope

__all__ = ["ServerState"]


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
        self.in_flight = 0  # /v1/listen requests being handled
        self.admitted = 0  # ... of which past the credential, size and concurrency checks
        self.callbacks = CallbackLog()  # /v1/listen?callback= deliveries (dgtools.server.callbacks)
        self.reset()

    def reset(self) -> None:
        """Zero the counters and the 402 success count; restart the fault sequence.

        Requests in flight stay counted (they are): the maxima restart from them.
        """
        self.requests = 0
        self.successes = 0
        self.dropped = 0
        self.by_sha256: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.connections: set[tuple[str, int]] = set()
        self.in_flight_max = self.in_flight
        self.max_in_flight = self.admitted
        self.concurrency_429 = 0
        self.streams = 0
        self.stream_messages = 0
        self.stream_closes: Counter[str] = Counter()
        self.streams_dropped = 0  # by Faults.stream_drop_after (also in ``dropped``), for Faults.stream_drops
        self.speak_requests = 0  # POSTs to /v1/speak received
        self.speak_by_status: Counter[str] = Counter()
        self.speak_characters = 0  # characters spoken (200s of /v1/speak, flushes of its WebSocket)
        self.speak_audio_bytes = 0
        self.speak_streams = 0  # handshakes on the WebSocket /v1/speak
        self.speak_stream_messages = 0  # text messages the server sent on them
        self.speak_stream_closes: Counter[str] = Counter()
        # callback counts (deliveries still running go on, and are counted when they end)
        self.callbacks.accepted = self.callbacks.delivered = self.callbacks.attempts = (
            self.callbacks.failed
        ) = 0
        self.plan.reset()

    def may_drop_stream(self) -> bool:
        """Whether ``Faults.stream_drops`` leaves a stream to drop (the caller then drops one)."""
        limit = self.faults.stream_drops
        return limit is None or self.streams_dropped < limit

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-ready data (what ``GET /_dgtools/stats`` answers)."""
        snapshot: dict[str, Any] = {
            "requests": self.requests,
            "by_sha256": dict(self.by_sha256),
            "by_status": dict(sorted(self.by_status.items())),
            "dropped": self.dropped,
            "connections": len(self.connections),
            "in_flight": self.in_flight,
            "in_flight_max": self.in_flight_max,
            "max_in_flight": self.max_in_flight,
            "concurrency_429": self.concurrency_429,
        }
        snapshot["streams"] = self.streams
        snapshot["stream_messages"] = self.stream_messages
        snapshot["stream_closes"] = dict(sorted(self.stream_closes.items()))
        snapshot["speak"] = {
            "requests": self.speak_requests,
            "by_status": dict(sorted(self.speak_by_status.items())),
            "characters": self.speak_characters,
            "audio_bytes": self.speak_audio_bytes,
            "streams": self.speak_streams,
            "stream_messages": self.speak_stream_messages,
            "stream_closes": dict(sorted(self.speak_stream_closes.items())),
        }
        snapshot["callbacks"] = self.callbacks.snapshot()
        return snapshot


class _Credentials:
    """What ``Authorization`` headers the app accepts; keeps sha256 digests, never the keys themselves.

    With no keys and no tokens, any non-empty ``Token`` or ``Bearer``
    credential is accepted; otherwise only ``Token <key>`` for a key and
    ``Bearer <token>`` for a token: every other credential is refused.
    """

    def __init__(self, api_keys: Collection[str], access_tokens: Collection[str]) -> None:
        self.keys = frozenset(hashlib.sha256(k.encode()).digest() for k in api_keys)
        self.tokens = frozenset(hashlib.sha256(t.encode()).digest() for t in access_tokens)
        self.required = bool(self.keys or self.tokens)

    def allow(self, header: bytes) -> bool:
        scheme, _, credential = header.strip().partition(b" ")
        credential = credential.strip()
        if not credential:
            return False
        scheme = scheme.lower()
        if not self.required:
            return scheme in (b"token", b"bearer")
        if scheme == b"token":
            return hashlib.sha256(credential).digest() in self.keys
        if scheme == b"bearer":
            return hashlib.sha256(credential).digest() in self.tokens
        return False


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


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


def _invalid_auth(request_id: str, headers: dict[str, str] | None = None) -> Response:
    return _legacy_error(401, "INVALID_AUTH", "Invalid credentials.", request_id, headers)


def _too_large(limit: int, request_id: str) -> Response:
    return _legacy_error(
        413,
        "PAYLOAD_TOO_LARGE",
        f"Payload too large: the request body is over this server's limit of {limit:,} bytes "
        "(Deepgram accepts up to 2 GB); send a smaller file, or a URL with Content-Type: application/json.",
        request_id,
        {"connection": "close"},
    )


def _too_many(request_id: str, retry_after: float | None, close: bool) -> Response:
    headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
    if close:
        headers["connection"] = "close"
    return _legacy_error(
        429, "TOO_MANY_REQUESTS", "Too many requests. Please try again later", request_id, headers
    )


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
