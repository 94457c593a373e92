"""The callback receiver: stores the transcripts Deepgram POSTs (or PUTs) to a callback URL.

:func:`collect_callbacks` serves one small HTTP app (starlette on uvicorn, the ``serve`` extra) on
``host:port``; every path accepts POST and PUT.  Each delivery is checked, in this order:

1. the body is one JSON object (else 400);
2. it names its request: ``metadata.request_id`` (else 400);
3. ``dg-token``: Deepgram sends the *identifier* of the API key that made the request (never the
   secret) in this header.  With ``key_id=`` a delivery whose ``dg-token`` differs is refused (403);
   one without the header is accepted (the check is made where Deepgram sends it);
4. the request_id was already delivered and stored: 200, nothing stored again (Deepgram and
   proxies may deliver twice);
5. the request_id is pending in this store (:class:`~dgtools.store.Pending`; an earlier
   submission's id of a resubmitted file counts): else 404, nothing stored; but while a
   submission of this store is in flight (its answer, the request_id, not recorded yet: a short
   file on a fast server is delivered that soon) 503 with ``Retry-After: 1``, so it comes again;
6. the body is a whole ``/v1/listen`` response for that audio (:func:`dgtools.tables.validate_response`;
   ``metadata.sha256``, when present, equals the audio's sha256): else 422.

A delivery that passes is written into the raw store atomically under the pending file's key, with
its index line, exactly like a synchronous answer (``run.tables`` and ``dgtools.to_tables(store)``
see it), and the pending record moves to ``pending/done/``; then 200.  A 4xx tells Deepgram not to
try again; the summary lists each refusal and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._aio import sync_twin
from .._extras import require
from ..exceptions import ConfigError, ResponseFormatError
from ..store import Pending, Store, index
from ..tables import validate_response

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["DEFAULT_PORT", "CallbackSummary", "acollect_callbacks", "collect_callbacks", "create_receiver"]

#: The port :func:`collect_callbacks` listens on by default.
DEFAULT_PORT = 8766


@dataclass
class CallbackSummary:
    """What a :func:`collect_callbacks` session received.

    Attributes
    ----------
    stored : int
        Deliveries stored (one per pending request).
    duplicates : int
        Deliveries of a request already stored: answered 200, stored nothing.
    refused : int
        Deliveries refused (4xx): see ``refusals``.
    deferred : int
        Deliveries of an unknown request_id answered 503 (try again) because a submission was in
        flight: its request_id may not have been recorded yet.
    pending : int
        Requests still pending when the session ended.
    timed_out : bool
        The session ended at ``timeout=`` with requests still pending.
    refusals : list of str
        One line per refused delivery: status and reason.
    stored_keys : list of str
        The store keys written, in arrival order.
    """

    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    deferred: int = 0
    pending: int = 0
    timed_out: bool = False
    refusals: list[str] = field(default_factory=list)
    stored_keys: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        end = "timed out" if self.timed_out else "done"
        return (
            f"{self.stored} stored, {self.duplicates} duplicate(s), {self.refused} refused, "
            f"{self.pending} still pending ({end})"
        )


class _Receiver:
    """The state of one receiver app: the store, the checks, the counts."""

    def __init__(self, store: Store, key_id: str | None) -> None:
        self.store = store
        self.book = Pending(store)
        self.key_id = key_id
        self.summary = CallbackSummary()
        self.lock = asyncio.Lock()
        self.changed = asyncio.Event()

    def refuse(self, status: int, reason: str) -> Response:
        from starlette.responses import JSONResponse

        self.summary.refused += 1
        self.summary.refusals.append(f"{status}: {reason}")
        self.changed.set()
        return JSONResponse({"error": reason}, status_code=status)

    async def handle(self, request: Request) -> Response:
        """One delivery: check it, store it, answer."""
        from starlette.responses import JSONResponse

        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.refuse(400, "the body is not a JSON object (a /v1/listen response)")
        meta = body.get("metadata")
        request_id = meta.get("request_id") if isinstance(meta, dict) else None
        if not isinstance(request_id, str) or not request_id:
            return self.refuse(400, "the body has no metadata.request_id")
        token = request.headers.get("dg-token")
        if self.key_id is not None and token is not None and token != self.key_id:
            return self.refuse(403, f"request_id={request_id}: dg-token is not the expected key id")
        async with self.lock:
            done = self.book.find_done(request_id)
            if done is not None and self.store.has(str(done.get("key"))):
                self.summary.duplicates += 1
                self.changed.set()
                return JSONResponse({"request_id": request_id, "stored": False, "duplicate": True})
            record = self.book.find(request_id)
            if record is None and self.book.in_flight():  # its submission may not be recorded yet
                self.summary.deferred += 1
                return JSONResponse(
                    {"error": f"request_id={request_id} is not pending yet: submissions are in flight"},
                    status_code=503,
                    headers={"Retry-After": "1"},
                )
            if record is None:
                return self.refuse(404, f"request_id={request_id} is not pending in this store")
            key = str(record["key"])
            try:
                info = validate_response(raw, source=str(record.get("file")))
            except ResponseFormatError as exc:
                return self.refuse(422, f"request_id={request_id}: not a whole /v1/listen response: {exc}")
            sha = key.split("-", 1)[0]
            if info.sha256 and info.sha256 != sha:
                return self.refuse(422, f"request_id={request_id}: the transcript is for other audio")
            await asyncio.to_thread(self._keep, key, raw, record, request_id)
            self.summary.stored += 1
            self.summary.stored_keys.append(key)
            self.changed.set()
        return JSONResponse({"request_id": request_id, "stored": True, "duplicate": False})

    def _keep(self, key: str, raw: bytes, record: dict[str, Any], request_id: str) -> None:
        """Store the transcript (atomic, durable), index it, then mark the request done."""
        self.store.write_bytes(key, raw)
        self.store.record(
            index.entry(
                key=key,
                source=str(record.get("file")),
                file_id=str(record.get("file_id") or record.get("file")),
                options=str(record.get("options", "")),
                status="transcribed",
                request_id=request_id,
                size=len(raw),
            )
        )
        self.book.done(key)


def create_receiver(store: str | os.PathLike[str] | Store, *, key_id: str | None = None) -> Starlette:
    """The receiver as an ASGI app (to mount in your own server): POST or PUT to any path.

    ``app.state.dgtools_receiver.summary`` is its :class:`CallbackSummary`; ``GET /_dgtools/stats``
    answers it as JSON (so :class:`dgtools.server.LocalServer` can serve the app in tests).
    """
    require("starlette", extra="serve", feature="dgtools receive")
    from starlette.applications import Starlette
    from starlette.routing import Route

    st = store if isinstance(store, Store) else Store(store)
    receiver = _Receiver(st, key_id)

    async def stats(request: Request) -> Response:
        from starlette.responses import JSONResponse

        return JSONResponse(dataclasses.asdict(receiver.summary))

    app = Starlette(
        routes=[
            Route("/_dgtools/stats", stats, methods=["GET"]),
            Route("/{path:path}", receiver.handle, methods=["POST", "PUT"]),
        ]
    )
    app.state.dgtools_receiver = receiver
    return app


_COLLECT_DOC = """Receive Deepgram's callbacks into the store until nothing is pending (or ``timeout``).

Serves a small HTTP receiver (the ``serve`` extra: starlette and uvicorn) on ``host:port``: every
path accepts POST and PUT.  Each delivery must carry a ``metadata.request_id`` pending in this
store (see :func:`dgtools.transcribe`'s ``callback=``); it is then stored atomically under the
file's key, exactly like a synchronous answer, and marked done.  A second delivery of the same
request is answered 200 and stored once; anything else is refused with a 4xx (see
:mod:`dgtools.callbacks.receiver` for every check).

Deepgram calls back only public HTTPS URLs: put a TLS-terminating proxy or tunnel (ngrok,
cloudflared, Caddy) in front of this port and pass that URL as ``callback=``.

Parameters
----------
store
    The store the callback run recorded its pending requests in.
host, port
    Where to listen (default ``127.0.0.1:8766``).
until_done
    Return as soon as nothing is pending (default); False: serve until ``timeout``.
timeout
    Seconds to serve at most; None: no limit.
key_id
    The identifier of the API key that submitted the requests: a delivery whose ``dg-token``
    header names another key is refused (403).

Returns
-------
CallbackSummary

Examples
--------
>>> run = dgtools.transcribe("calls/", store="st", callback="https://hooks.example.com/dg")  # doctest: +SKIP
>>> dgtools.collect_callbacks("st", port=8766, timeout=3600)                                  # doctest: +SKIP
"""


async def acollect_callbacks(
    store: str | os.PathLike[str] | Store,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    until_done: bool = True,
    timeout: float | None = None,
    key_id: str | None = None,
) -> CallbackSummary:
    """The async twin of :func:`collect_callbacks`."""
    require("uvicorn", extra="serve", feature="dgtools receive")
    import uvicorn

    if timeout is not None and not timeout > 0:
        raise ConfigError(f"timeout={timeout!r} must be a positive number of seconds, or None")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"port={port!r} must be a TCP port number (0-65535)")
    st = store if isinstance(store, Store) else Store(store)
    app = create_receiver(st, key_id=key_id)
    receiver: _Receiver = app.state.dgtools_receiver
    summary = receiver.summary
    if until_done and not receiver.book.records():
        return summary
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while not serving.done():
            if until_done and not receiver.book.records():
                break
            if deadline is not None and time.monotonic() >= deadline:
                summary.timed_out = bool(receiver.book.records())
                break
            receiver.changed.clear()
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(receiver.changed.wait(), wait)
    finally:
        server.should_exit = True
        try:
            await serving
        except SystemExit:  # uvicorn exits when it cannot bind
            raise ConfigError(
                f"cannot listen on {host}:{port} (in use, or not an address of this machine); "
                "pick another port= (the callback URL must name it too)"
            ) from None
    summary.pending = len(receiver.book.records())
    return summary


collect_callbacks = sync_twin(acollect_callbacks, name="collect_callbacks", doc=_COLLECT_DOC)
