"""Peers on 127.0.0.1 for the HTTP tests: a scripted HTTP server and a forward/CONNECT proxy.

:class:`Scripted` reads each request and lets the test write the answer as raw bytes, so that
framing, early closes, trickling answers and timeouts happen on a real connection.
:class:`ForwardProxy` is a small HTTP proxy (absolute-form requests and ``CONNECT`` tunnels) that
counts what went through it and logs what a proxy would log: request lines and tunnel targets.
Both run on the test's own event loop.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

Answer = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[None]]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def ok(body: bytes = b"ok", *extra: bytes) -> bytes:
    """A 200 answer with a Content-Length, ``extra`` header lines and ``body``."""
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n" % len(body) + b"".join(h + b"\r\n" for h in extra)
    return head + b"\r\n" + body


def content_length(head: bytes) -> int:
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """(head, body) of one request, or None at EOF; handles Content-Length and chunked bodies."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    if b"transfer-encoding: chunked" in head.lower():
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return head, body
            body += chunk[:-2]
    return head, await reader.readexactly(content_length(head))


async def read_message(reader: asyncio.StreamReader) -> bytes:
    """One whole HTTP message (head and body) exactly as it is on the wire."""
    head = await reader.readuntil(b"\r\n\r\n")
    if b"transfer-encoding: chunked" not in head.lower():
        return head + await reader.readexactly(content_length(head))
    out = [head]
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";")[0].strip(), 16)
        out += (line, await reader.readexactly(size + 2))
        if size == 0:
            return b"".join(out)


class Scripted:
    """An asyncio server on 127.0.0.1 whose answer to each request is written by ``answer``.

    ``handler`` instead takes over each connection whole (reader and writer), for peers that
    misbehave before a request is read.  ``ssl`` serves https.
    """

    def __init__(
        self,
        answer: Answer | None = None,
        *,
        handler: Handler | None = None,
        ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.answer = answer
        self.handler = handler
        self.ssl = ssl
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.server: asyncio.base_events.Server | None = None
        self.url = ""
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.handler is not None:
                await self.handler(reader, writer)
                return
            assert self.answer is not None
            while not writer.is_closing():
                req = await read_request(reader)
                if req is None:
                    break
                self.requests.append(req)
                await self.answer(req[0], req[1], writer)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):  # cancelled: the test's loop is closing
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.ssl else 'http'}://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


class ForwardProxy:
    """An HTTP proxy on 127.0.0.1: forwards absolute-form requests and tunnels ``CONNECT``.

    Attributes
    ----------
    requests : int
        Requests forwarded (absolute-form, i.e. ``http://`` targets).
    tunnels : int
        ``CONNECT`` tunnels opened (``https://`` targets).
    log : list of str
        What the proxy logs: one request line per request or tunnel.
    forwarded : list of bytes
        Every forwarded request, head and body, as sent on to the server.
    tunneled : bytearray
        Every byte relayed through the tunnels, both ways.
    """

    def __init__(self) -> None:
        self.requests = 0
        self.tunnels = 0
        self.log: list[str] = []
        self.forwarded: list[bytes] = []
        self.tunneled = bytearray()
        self.server: asyncio.base_events.Server | None = None
        self.url = ""
        self._writers: list[asyncio.StreamWriter] = []

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                self.tunneled += data
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        upstream: tuple[str, asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, _, rest = head.partition(b"\r\n")
                method, target, _version = line.decode("latin-1").split(" ", 2)
                self.log.append(f"{method} {target}")
                if method == "CONNECT":
                    host, port = target.rsplit(":", 1)
                    ur, uw = await asyncio.open_connection(host, int(port))
                    self._writers.append(uw)
                    self.tunnels += 1
                    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    await writer.drain()
                    await asyncio.gather(self._pipe(reader, uw), self._pipe(ur, writer))
                    return
                url = urlsplit(target)
                self.requests += 1
                body = await reader.readexactly(content_length(head))
                kept = [h for h in rest.split(b"\r\n") if h and not h.lower().startswith(b"proxy-")]
                path = (url.path or "/") + (f"?{url.query}" if url.query else "")
                request = f"{method} {path} HTTP/1.1\r\n".encode() + b"\r\n".join(kept) + b"\r\n\r\n" + body
                if upstream is None or upstream[0] != url.netloc:
                    if upstream is not None:
                        upstream[2].close()
                    ur, uw = await asyncio.open_connection(url.hostname, url.port or 80)
                    self._writers.append(uw)
                    upstream = (url.netloc, ur, uw)
                self.forwarded.append(request)
                upstream[2].write(request)
                await upstream[2].drain()
                writer.write(await read_message(upstream[1]))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return  # (cancelled: the test's loop is closing)
        finally:
            writer.close()
            if upstream is not None:
                upstream[2].close()

    async def __aenter__(self) -> ForwardProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for w in self._writers:
            w.close()


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """(cert, key) of a certificate for 127.0.0.1 made with the openssl command (the caller skips without it)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key
