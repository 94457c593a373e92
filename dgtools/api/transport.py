"""A lean HTTP/1.1 keep-alive transport for httpx, on asyncio protocols.

:class:`PooledTransport` is an ``httpx.AsyncBaseTransport``: dgtools keeps
httpx's client API (URLs, headers, auth, timeouts, ``MockTransport`` in
tests) and replaces only the part that sends bytes; origins reached through a
proxy are routed by the client to httpx's own proxy transport instead
(:mod:`dgtools.api.proxies`).  Why: at 32-64 requests in flight on a small machine, httpcore 1.0's
connection pool is where the client's time goes (its pool re-checks every
connection with a ``poll`` and a ``getpeername`` system call on every request
and response, about 1.5-2.5 ms of CPU per request here), and the first wave of
requests of a batch then queues behind the client itself.  This transport
does one ``write`` per request, parses responses with ``httptools`` (llhttp,
the parser in Node.js and uvicorn) from ``data_received`` callbacks, and keeps
idle connections on a LIFO stack:

* at most ``max_connections`` connections in all; a request that finds none
  idle opens one if it may, else waits its turn (FIFO) for one to come back;
* idle connections are reused most-recently-used first and dropped after
  ``keepalive_expiry`` seconds, or as soon as the server closes them;
* a response is complete by ``Content-Length``, chunked framing, or the
  connection closing; ``Connection: close`` answers are not reused;
* timeouts come from the request (httpx's ``timeout`` extension): ``connect``,
  ``write`` (each wait for the socket to drain), ``read`` (each wait for data
  from the server) and ``pool`` (the wait for a connection);
* failures raise httpx's own exceptions (``ConnectError``, ``ReadTimeout``,
  ``RemoteProtocolError`` ...) so callers handle them as with httpx's default
  transport.

Request bodies are sent as they come: bytes at once, async iterators chunk by
chunk (chunked framing when httpx asked for it) with write flow control;
response bodies are streamed to httpx, and reading from the socket pauses
while more than 1 MB is buffered and unread.  HTTP/2, ``Expect: 100-continue``
and protocol upgrades are not supported (Deepgram's pre-recorded API needs
none of them).
"""

from __future__ import annotations

import asyncio
import collections
import ssl as _ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import httptools
import httpx

__all__ = ["PooledTransport"]

_HIGH_WATER = 1 << 20  # unread response bytes above which reading from the socket pauses
_Origin = tuple[str, str, int]


def _expire(fut: asyncio.Future[Any], exc: BaseException) -> None:
    """A timer's callback: fail ``fut`` with ``exc`` unless it is already done."""
    if not fut.done():
        fut.set_exception(exc)


def _head(request: httpx.Request) -> bytes:
    """The request line and headers of ``request``, as sent."""
    lines = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: at most one request at a time, reusable when the exchange ends cleanly."""

    def __init__(self, origin: _Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._loop = asyncio.get_running_loop()
        self._parser: Any = None
        self._waiter: asyncio.Future[None] | None = None  # woken by headers / body data / end / error
        self._drain: asyncio.Future[None] | None = None  # woken by resume_writing / error
        self._paused_writing = False
        self._paused_reading = False
        self._error: BaseException | None = None
        self._reset()

    # ------------------------------------------------------------------ state of one exchange

    def _reset(self) -> None:
        self.active = False  # a request is in flight on this connection
        self.head = False  # the request is HEAD: its response has no body
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.body: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.complete = False
        self.eof_body = False  # the body ends when the server closes the connection
        self.keep_alive = True

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.active or self.complete:  # bytes nobody asked for: this connection cannot be trusted
            self.keep_alive = False
            if not self.active and self.transport is not None:
                self.closed = True
                self.transport.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP response from the server: {exc}"))
            return
        if self._paused_reading is False and self.buffered > _HIGH_WATER and self.transport is not None:
            self._paused_reading = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.active and not self.complete:
            if self.headers_done and self.eof_body:
                self.complete = True  # a body delimited by the connection closing
                self.keep_alive = False
            elif not self.headers_done and self.status == 0:
                self._fail(
                    httpx.RemoteProtocolError("the server closed the connection without sending a response")
                )
            else:
                self._fail(
                    httpx.RemoteProtocolError("the server closed the connection before the response ended")
                )
        self._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(
                self._error or httpx.WriteError("the connection was closed while sending")
            )

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # ------------------------------------------------------------------ httptools callbacks

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        if 100 <= self.status < 200:  # an informational answer: the real one follows
            self.status, self.reason, self.headers = 0, b"", []
            return
        self.headers_done = True
        self.keep_alive = bool(self._parser.should_keep_alive())
        if self.head:  # no body follows, whatever the headers say (the next request gets a new parser)
            self.complete = True
            return
        if self.status in (204, 304):
            return
        framed = False
        for name, value in self.headers:
            low = name.lower()
            if low == b"content-length" or (low == b"transfer-encoding" and b"chunked" in value.lower()):
                framed = True
                break
        self.eof_body = not framed

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        if self.status == 0:  # the end of an informational answer
            return
        self.complete = True

    # ------------------------------------------------------------------ used by the transport

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        self.keep_alive = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def usable(self, now: float, expiry: float) -> bool:
        """Whether this idle connection can carry another request."""
        return (
            not self.closed
            and self.transport is not None
            and not self.transport.is_closing()
            and now - self.idle_since < expiry
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def _wait(self, timeout: float | None, on_timeout: type[httpx.TimeoutException], what: str) -> None:
        """Wait for the next event from the server (or the socket draining); raise on error or timeout."""
        fut = self._loop.create_future()
        self._waiter = fut
        timer = None
        if timeout is not None:
            timer = self._loop.call_later(timeout, _expire, fut, on_timeout(f"timed out {what}"))
        try:
            await fut
        except BaseException:
            self.abort()  # cancelled or timed out mid-exchange: the connection's state is unknown
            raise
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def send(self, request: httpx.Request, timeouts: dict[str, Any]) -> None:
        """Write the request (head, then body) on this connection."""
        assert self.transport is not None
        self._reset()
        self.active = True
        self.head = request.method == "HEAD"
        self._parser = httptools.HttpResponseParser(self)
        self._error = None
        # The head (which holds the Authorization header) is built and written in one expression:
        # no local of this frame holds it while the body is sent (tracebacks with locals show them).
        stream = request.stream
        if isinstance(stream, httpx.ByteStream):
            body = request.content
            if len(body) < 65536:  # one write; a larger body is not copied onto the head
                self.transport.write(_head(request) + body)
            else:
                self.transport.write(_head(request))
                self.transport.write(body)
            await self._drained(timeouts.get("write"))
            return
        self.transport.write(_head(request))
        chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        assert isinstance(stream, httpx.AsyncByteStream)
        async for chunk in stream:
            if self.closed or self._error is not None:
                break
            if not chunk:
                continue
            if chunked:
                self.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                self.transport.write(chunk)
            await self._drained(timeouts.get("write"))
        if chunked and not self.closed:
            self.transport.write(b"0\r\n\r\n")
        await self._drained(timeouts.get("write"))

    async def _drained(self, timeout: float | None) -> None:
        if self._error is not None:
            raise self._error
        if self.closed and not self.headers_done:
            raise httpx.WriteError("the server closed the connection while the request was being sent")
        if not self._paused_writing:
            return
        fut = self._loop.create_future()
        self._drain = fut
        timer = None
        if timeout is not None:
            timer = self._loop.call_later(
                timeout, _expire, fut, httpx.WriteTimeout("timed out sending the request")
            )
        try:
            await fut
        except BaseException:
            self.abort()
            raise
        finally:
            self._drain = None
            if timer is not None:
                timer.cancel()

    async def receive_head(self, timeout: float | None) -> None:
        """Wait until the response's status line and headers are in."""
        while not self.headers_done:
            if self._error is not None:
                raise self._error
            if self.closed:
                raise httpx.RemoteProtocolError("the server closed the connection without sending a response")
            await self._wait(timeout, httpx.ReadTimeout, "waiting for the response")
        if self._error is not None and not self.complete:
            raise self._error

    async def receive_body(self, timeout: float | None) -> AsyncIterator[bytes]:
        """The response body, chunk by chunk as it arrives."""
        while True:
            while self.body:
                chunk = self.body.popleft()
                self.buffered -= len(chunk)
                if self._paused_reading and self.buffered <= _HIGH_WATER // 2 and self.transport is not None:
                    self._paused_reading = False
                    self.transport.resume_reading()
                yield chunk
            if self.complete:
                return
            if self._error is not None:
                raise self._error
            if self.closed:
                raise httpx.RemoteProtocolError("the server closed the connection before the response ended")
            await self._wait(timeout, httpx.ReadTimeout, "reading the response")

    @property
    def reusable(self) -> bool:
        return self.complete and self.keep_alive and self._error is None and not self.closed and not self.body


class _ResponseStream(httpx.AsyncByteStream):
    """The body of one response; gives the connection back to the pool when closed."""

    def __init__(self, pool: PooledTransport, conn: _Connection, timeout: float | None) -> None:
        self._pool = pool
        self._conn = conn
        self._timeout = timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._conn.receive_body(self._timeout):
                yield chunk
        except BaseException:
            self._release()
            raise

    async def aclose(self) -> None:
        self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release(self._conn)


class PooledTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive over asyncio protocols, at most ``max_connections`` connections.

    Parameters
    ----------
    max_connections : int
        Connections open at once, over all origins; a request waits (FIFO)
        when all are busy.
    keepalive_expiry : float
        Seconds an idle connection is kept for reuse.
    ssl_context : ssl.SSLContext, optional
        For ``https`` URLs; default: the system's default verified context.

    Examples
    --------
    >>> import httpx
    >>> client = httpx.AsyncClient(transport=PooledTransport(max_connections=32))  # doctest: +SKIP
    >>> r = await client.post("https://api.deepgram.com/v1/listen", content=audio)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        max_connections: int = 50,
        keepalive_expiry: float = 30.0,
        ssl_context: _ssl.SSLContext | None = None,
    ) -> None:
        self.max_connections = max(1, int(max_connections))
        self.keepalive_expiry = float(keepalive_expiry)
        self._ssl = ssl_context
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._open = 0  # connections open or being opened
        self._waiters: collections.deque[tuple[_Origin, asyncio.Future[_Connection | None]]] = (
            collections.deque()
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"<PooledTransport max_connections={self.max_connections} open={self._open}>"

    @property
    def open_connections(self) -> int:
        """Connections open now (idle or busy) or being opened; never more than ``max_connections``."""
        return self._open

    # ------------------------------------------------------------------ the pool

    async def _acquire(self, origin: _Origin, timeouts: dict[str, Any]) -> _Connection:
        if self._closed:
            raise RuntimeError("the transport is closed")
        conn = self._idle_connection(origin)
        if conn is not None:
            return conn
        if self._open >= self.max_connections:
            self._close_idle_elsewhere(origin)
        if self._open >= self.max_connections:
            conn = await self._wait_turn(origin, timeouts.get("pool"))
            if conn is not None:
                return conn
            # handed a free slot (None), already counted: open a connection in it
        else:
            self._open += 1
        try:
            return await self._connect(origin, timeouts.get("connect"))
        except BaseException:
            self._open -= 1
            self._wake_waiter()
            raise

    async def _wait_turn(self, origin: _Origin, timeout: float | None) -> _Connection | None:
        """Wait (FIFO) for a connection to ``origin`` or for a free slot (``None``)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[_Connection | None] = loop.create_future()
        self._waiters.append((origin, fut))
        timer = None
        if timeout is not None:
            timer = loop.call_later(
                timeout,
                _expire,
                fut,
                httpx.PoolTimeout("timed out waiting for a free connection"),
            )
        try:
            return await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                handed = fut.result()  # handed over just as this task was cancelled: pass it on
                if handed is None:
                    self._open -= 1
                    self._wake_waiter()
                else:
                    self._release(handed)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        stack = self._idle.get(origin)
        now = time.monotonic()
        while stack:
            conn = stack.pop()  # most recently used first: the least likely to have been closed
            if conn.usable(now, self.keepalive_expiry):
                return conn
            conn.close()
            self._open -= 1
        return None

    def _close_idle_elsewhere(self, origin: _Origin) -> None:
        """At the limit: close the oldest idle connection to another origin to make room."""
        for other, stack in self._idle.items():
            if other != origin and stack:
                stack.pop(0).close()
                self._open -= 1
                return

    async def _connect(self, origin: _Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        ssl_ctx: Any = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = _ssl.create_default_context()
            ssl_ctx = self._ssl
        coro = loop.create_connection(
            lambda: _Connection(origin), host, port, ssl=ssl_ctx, server_hostname=host if ssl_ctx else None
        )
        try:
            _, conn = await (coro if timeout is None else asyncio.wait_for(coro, timeout))
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except (OSError, _ssl.SSLError) as exc:
            raise httpx.ConnectError(f"could not connect to {host}:{port}: {exc}") from exc
        return conn

    def _release(self, conn: _Connection) -> None:
        """Take a connection back after its exchange: reuse it, or close it and free its slot."""
        reusable = conn.reusable and not self._closed
        conn.active = False
        if not reusable:
            if conn.complete:
                conn.close()
            else:
                conn.abort()
            self._open -= 1
            self._wake_waiter()
            return
        conn.idle_since = time.monotonic()
        while self._waiters:
            origin, w = self._waiters.popleft()
            if w.done():
                continue
            if origin == conn.origin:
                w.set_result(conn)
            else:  # the next in line wants another origin: its slot is this connection's
                conn.close()
                w.set_result(None)
            return
        self._idle.setdefault(conn.origin, []).append(conn)

    def _wake_waiter(self) -> None:
        """A slot is free: let the first waiter open a connection in it."""
        while self._waiters:
            _, w = self._waiters.popleft()
            if not w.done():
                self._open += 1
                w.set_result(None)
                return

    # ------------------------------------------------------------------ httpx.AsyncBaseTransport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(
                f"PooledTransport sends http:// and https:// URLs, not {scheme}://"
            )
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.host, port)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        conn = await self._acquire(origin, timeouts)
        try:
            try:
                await conn.send(request, timeouts)
            except httpx.WriteError:
                if not conn.headers_done:  # the server may have answered early (e.g. 413): read it
                    raise
            await conn.receive_head(timeouts.get("read"))
        except BaseException:
            conn.abort()
            self._release(conn)
            raise
        return httpx.Response(
            conn.status,
            headers=conn.headers,
            stream=_ResponseStream(self, conn, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason},
        )

    async def aclose(self) -> None:
        """Close every idle connection; connections in use close when their response is closed."""
        self._closed = True
        for stack in self._idle.values():
            for conn in stack:
                conn.close()
                self._open -= 1
        self._idle.clear()
        while self._waiters:
            _, w = self._waiters.popleft()
            if not w.done():
                w.set_exception(httpx.PoolTimeout("the transport was closed"))
