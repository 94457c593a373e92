"""Callbacks on the local server, performed like Deepgram's.

A ``POST /v1/listen?callback=URL`` is answered at once with ``{"request_id": "..."}`` (200, the
OpenAPI spec's accepted response); a background task then runs the engine and sends its response
to ``URL`` with ``callback_method`` (POST by default, or PUT), JSON, with the header ``dg-token``
naming the key the request came with (its identifier, as Deepgram does: here the first 8 characters
of a sha256 of the credential, never the credential).

Delivery is retried when the receiver cannot be reached (connection refused, reset, timeout) or
answers 5xx (or 408/429): at most :data:`ATTEMPTS` attempts, the n-th retry after
``Faults.callback_retry_base * 2**(n-1)`` seconds, capped at 30 seconds (defaults: 0.5, 1, 2, 4, 8,
16, 30, 30, 30 s: about two minutes in all).  A 2xx ends it; any other 4xx ends it too (the
receiver refused it: Deepgram does not retry those either).

Faults for tests (:class:`~dgtools.server.Faults`): ``callback_twice=N`` delivers the first N
callbacks twice; ``callback_unknown=N`` sends, after each of the first N callbacks, a copy under a
request_id nobody submitted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from ..engines.base import Engine
    from ..options import ListenOptions
    from .faults import Faults

__all__ = ["ATTEMPTS", "MAX_DELAY", "CallbackLog", "deliver_later", "key_id"]

logger = logging.getLogger("dgtools.server")

#: Most delivery attempts of one callback.
ATTEMPTS = 10
#: The longest wait between two attempts, in seconds.
MAX_DELAY = 30.0


@dataclass
class CallbackLog:
    """What the server's callbacks did (``state.callbacks``): counts, and the tasks still running."""

    accepted: int = 0  # callback requests answered with a request_id
    delivered: int = 0  # deliveries the receiver answered 2xx (a duplicate counts again)
    attempts: int = 0  # HTTP attempts in all
    failed: int = 0  # callbacks given up (a 4xx, or every attempt failed)
    tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    def snapshot(self) -> dict[str, int]:
        """The counts as JSON-ready data."""
        return {
            "accepted": self.accepted,
            "delivered": self.delivered,
            "attempts": self.attempts,
            "failed": self.failed,
            "running": len(self.tasks),
        }


def key_id(authorization: bytes | str) -> str:
    """The identifier sent as ``dg-token`` for a credential: never the credential itself.

    Examples
    --------
    >>> key_id(b"Token secret-key"), len(key_id("Token secret-key"))  # doctest: +ELLIPSIS
    ('...', 8)
    """
    raw = authorization.encode() if isinstance(authorization, str) else authorization
    secret = raw.split(b" ", 1)[-1].strip()
    return hashlib.sha256(b"dgtools-key-id:" + secret).hexdigest()[:8]


def deliver_later(
    log: CallbackLog,
    faults: Faults,
    *,
    engine: Engine,
    audio: bytes | None,
    url: str | None,
    options: ListenOptions,
    request_id: str,
    sha256: str | None,
    token: str | None,
    shape: Any = None,
) -> None:
    """Start the background task that transcribes and calls back (the caller answers the request_id)."""
    callback = str(options["callback"])
    method = str(options["callback_method"]).upper() if "callback_method" in options else "POST"
    plain = options.updated(callback=None, callback_method=None)
    n = log.accepted
    log.accepted += 1
    task = asyncio.ensure_future(
        _run(
            log, faults, engine=engine, audio=audio, url=url, options=plain, request_id=request_id,
            sha256=sha256, callback=callback, method=method, token=token, shape=shape, n=n,
        )
    )  # fmt: skip
    log.tasks.add(task)
    task.add_done_callback(log.tasks.discard)


async def _run(
    log: CallbackLog,
    faults: Faults,
    *,
    engine: Engine,
    audio: bytes | None,
    url: str | None,
    options: ListenOptions,
    request_id: str,
    sha256: str | None,
    callback: str,
    method: str,
    token: str | None,
    shape: Any,
    n: int,
) -> None:
    import httpx

    try:
        result = await engine.transcribe(
            audio=audio, url=url, options=options, request_id=request_id, sha256=sha256
        )
    except Exception as exc:  # Deepgram calls back with the error body
        result = {"err_code": "INTERNAL_SERVER_ERROR", "err_msg": str(exc), "request_id": request_id}
    else:
        meta = result.setdefault("metadata", {})
        if isinstance(meta, dict):
            meta["request_id"] = request_id
        if shape is not None:
            result = shape(result)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["dg-token"] = token
    bodies = [msgspec.json.encode(result)]
    if n < faults.callback_twice:
        bodies.append(bodies[0])
    if n < faults.callback_unknown:
        stranger = dict(result)
        meta = dict(stranger.get("metadata") or {})
        meta["request_id"] = str(uuid.uuid4())
        stranger["metadata"] = meta
        bodies.append(msgspec.json.encode(stranger))
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
        for body in bodies:
            await _deliver(log, client, method, callback, body, headers, faults.callback_retry_base)


async def _deliver(
    log: CallbackLog,
    client: Any,
    method: str,
    callback: str,
    body: bytes,
    headers: dict[str, str],
    base: float,
) -> None:
    import httpx

    for attempt in range(1, ATTEMPTS + 1):
        log.attempts += 1
        try:
            response = await client.request(method, callback, content=body, headers=headers)
        except httpx.TransportError as exc:
            why = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code < 300:
                log.delivered += 1
                return
            if response.status_code < 500 and response.status_code not in (408, 429):
                log.failed += 1
                return
            why = f"HTTP {response.status_code}"
        if attempt < ATTEMPTS:
            delay = min(MAX_DELAY, base * 2 ** (attempt - 1))
            logger.info("callback to %s failed (%s); retry %d in %.2f s", callback, why, attempt, delay)
            await asyncio.sleep(delay)
    log.failed += 1
