"""dgtools.api.transport.PooledTransport against real sockets on 127.0.0.1.

A scripted asyncio server (``stubs.Scripted``) reads each request and answers
with raw bytes chosen by the test, so that framing (Content-Length, chunked,
connection close), keep-alive, early closes, malformed answers and timeouts
are exercised on a real connection; the local Deepgram-compatible server
(uvicorn) checks pooling end to end.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest
from stubs import Scripted, ok, read_request, self_signed

from dgtools.api.transport import PooledTransport
from dgtools.server import LocalServer


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def client(**kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=PooledTransport(**kwargs), timeout=5)


# --------------------------------------------------------------------------- framing and keep-alive


def test_content_length_answers_reuse_one_connection() -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        w.write(ok(b"echo:" + body))

    async def go() -> None:
        async with Scripted(answer) as srv, client() as c:
            for i in range(5):
                r = await c.post(srv.url + "/v1/listen?model=nova-3", content=b"x" * i)
                assert r.status_code == 200 and r.content == b"echo:" + b"x" * i
                assert r.http_version == "HTTP/1.1" and r.reason_phrase == "OK"
            assert srv.connections == 1
            head = srv.requests[0][0]
            assert head.startswith(b"POST /v1/listen?model=nova-3 HTTP/1.1\r\n")
            assert b"\r\nHost: 127.0.0.1:" in head

    run(go())


def test_chunked_and_close_delimited_and_gzip_answers() -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        if b"/chunked" in head:
            w.write(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )
        elif b"/gzip" in head:
            z = gzip.compress(b'{"results": {}}')
            w.write(ok(z, b"content-encoding: gzip", b"content-type: application/json"))
        else:  # no length: the body ends when the connection closes
            w.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
            await w.drain()
            w.close()

    async def go() -> None:
        async with Scripted(answer) as srv, client() as c:
            assert (await c.get(srv.url + "/chunked")).content == b"hello world"
            assert (await c.get(srv.url + "/gzip")).json() == {"results": {}}
            assert (await c.get(srv.url + "/close")).content == b"until the end"
            assert (await c.get(srv.url + "/chunked")).content == b"hello world"  # a fresh connection
            assert srv.connections == 2

    run(go())


def test_connection_close_header_and_server_idle_close_open_new_connections() -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        if b"/bye" in head:
            w.write(ok(b"bye", b"connection: close"))
            await w.drain()
            w.close()
        elif b"/idle-close" in head:
            w.write(ok(b"fine"))
            await w.drain()
            await asyncio.sleep(0.05)
            w.close()  # the server drops the idle keep-alive connection
        else:
            w.write(ok())

    async def go() -> None:
        async with Scripted(answer) as srv, client() as c:
            await c.get(srv.url + "/bye")
            await c.get(srv.url + "/")
            assert srv.connections == 2
            await c.get(srv.url + "/idle-close")
            await asyncio.sleep(0.2)
            r = await c.get(srv.url + "/")  # not sent on the closed connection
            assert r.content == b"ok" and srv.connections == 3

    run(go())


def test_informational_answer_is_skipped_and_head_has_no_body() -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        if head.startswith(b"HEAD"):
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
        else:
            w.write(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final"))

    async def go() -> None:
        async with Scripted(answer) as srv, client() as c:
            r = await c.post(srv.url + "/", content=b"abc")
            assert (r.status_code, r.content) == (200, b"final")
            h = await c.head(srv.url + "/")
            assert h.status_code == 200 and h.headers["content-length"] == "1000" and h.content == b""
            assert (await c.post(srv.url + "/", content=b"abc")).content == b"final"

    run(go())


def test_streamed_request_body_and_large_bodies_both_ways() -> None:
    big = bytes(range(256)) * 20_000  # 5 MB

    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        w.write(ok(body[::-1]))

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 700_000):
            yield big[i : i + 700_000]

    async def go() -> None:
        async with Scripted(answer) as srv, client() as c:
            r = await c.post(srv.url + "/", content=big)
            assert r.content == big[::-1]
            r = await c.post(srv.url + "/", content=chunks())  # no length: chunked framing
            assert r.content == big[::-1]
            assert b"transfer-encoding: chunked" in srv.requests[-1][0].lower()
            # a streamed response read chunk by chunk
            async with c.stream("POST", srv.url + "/", content=b"abc" * 1000) as s:
                got = b"".join([part async for part in s.aiter_raw()])
            assert got == (b"abc" * 1000)[::-1]

    run(go())


# --------------------------------------------------------------------------- failures


def test_server_closing_early_or_garbling_raises_httpx_errors_and_frees_the_slot() -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        if b"/drop" in head:
            w.close()
        elif b"/half" in head:
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
            await w.drain()
            w.close()
        elif b"/garbage" in head:
            w.write(b"NOT HTTP AT ALL\r\n\r\n")
        else:
            w.write(ok())

    async def go() -> None:
        async with Scripted(answer) as srv, client(max_connections=1) as c:
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await c.get(srv.url + "/drop")
            with pytest.raises(httpx.RemoteProtocolError, match="before the response ended"):
                await c.get(srv.url + "/half")
            with pytest.raises(httpx.RemoteProtocolError, match="malformed"):
                await c.get(srv.url + "/garbage")
            # max_connections=1: each failure gave its slot back
            assert (await c.get(srv.url + "/")).content == b"ok"

    run(go())


def test_connect_read_and_pool_timeouts() -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        if b"/slow" in head:
            await asyncio.sleep(1.0)
        w.write(ok())

    async def go() -> None:
        async with Scripted(answer) as srv, client(max_connections=1) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.get(srv.url + "/slow", timeout=httpx.Timeout(5, read=0.1))
            slow = asyncio.create_task(c.get(srv.url + "/slow", timeout=5))
            await asyncio.sleep(0.05)
            with pytest.raises(httpx.PoolTimeout):
                await c.get(srv.url + "/", timeout=httpx.Timeout(5, pool=0.1))
            assert (await slow).status_code == 200
            assert (await c.get(srv.url + "/", timeout=5)).content == b"ok"
        async with client() as c:
            with pytest.raises(httpx.ConnectError, match="could not connect"):
                await c.get(srv.url + "/")  # the server is gone

    run(go())


def test_cancelled_requests_give_their_connection_back() -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        if b"/hang" in head:
            await asyncio.sleep(10)
        w.write(ok())

    async def go() -> None:
        transport = PooledTransport(max_connections=2)
        async with Scripted(answer) as srv, httpx.AsyncClient(transport=transport, timeout=5) as c:
            hung = [asyncio.create_task(c.get(srv.url + "/hang")) for _ in range(3)]  # 2 sent, 1 waiting
            await asyncio.sleep(0.1)
            for t in hung:
                t.cancel()
            await asyncio.gather(*hung, return_exceptions=True)
            rs = await asyncio.gather(*(c.get(srv.url + "/") for _ in range(4)))
            assert [r.content for r in rs] == [b"ok"] * 4
            assert transport.open_connections <= 2

    run(go())


# --------------------------------------------------------------------------- pooling end to end


def test_the_server_sees_exactly_max_connections_however_many_requests_wait() -> None:
    async def go(url: str) -> tuple[int, ...]:
        async with client(max_connections=6) as c:
            rs = await asyncio.gather(
                *(c.post(url + "/v1/listen", content=b"\0" * 32000, headers={"Authorization": "Token k"})
                  for _ in range(40))
            )  # fmt: skip
            assert {r.status_code for r in rs} == {200}
            stats = (await c.get(url + "/_dgtools/stats")).json()
            return stats["connections"], stats["in_flight_max"], stats["requests"]

    from dgtools.server import Faults

    with LocalServer(faults=Faults(latency=0.02)) as server:
        assert run(go(server.url)) == (6, 6, 40)


def test_two_origins_share_the_connection_limit() -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.01)
        w.write(ok())

    async def go() -> None:
        async with Scripted(answer) as a, Scripted(answer) as b, client(max_connections=1) as c:
            rs = await asyncio.gather(*(c.get((a if i % 2 else b).url + "/") for i in range(10)))
            assert [r.content for r in rs] == [b"ok"] * 10
            assert a.connections + b.connections >= 2

    run(go())


def test_https_with_a_verified_certificate(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (req := await read_request(reader)) is not None:
            writer.write(ok(b"secure " + req[1]))
            await writer.drain()
        writer.close()

    async def go() -> None:
        srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        port = srv.sockets[0].getsockname()[1]
        try:
            trusted = ssl.create_default_context(cafile=str(cert))
            async with client(ssl_context=trusted) as c:
                for _ in range(2):
                    r = await c.post(f"https://127.0.0.1:{port}/", content=b"hi")
                    assert r.content == b"secure hi"
            async with client() as c:  # the system CAs do not know this certificate
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await c.get(f"https://127.0.0.1:{port}/")
        finally:
            srv.close()

    run(go())


def test_unsupported_scheme_and_closed_transport() -> None:
    async def go() -> None:
        t = PooledTransport()
        with pytest.raises(httpx.UnsupportedProtocol):
            await t.handle_async_request(httpx.Request("GET", "ftp://example.com/"))
        await t.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await t.handle_async_request(httpx.Request("GET", "http://127.0.0.1:9/"))

    run(go())
