"""DeepgramClient through HTTP proxies: from the environment (as httpx reads it) and ``proxy=``.

A real proxy (``stubs.ForwardProxy``: absolute-form requests and CONNECT tunnels, on 127.0.0.1)
counts what goes through it.  The server is ``dgtools serve`` (:class:`~dgtools.server.LocalServer`)
with an API key, so an answer of 200 means the Authorization header reached it; for https, a TLS
stub whose certificate the client trusts through ``SSL_CERT_FILE``, as httpx does.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import ssl
from pathlib import Path
from typing import Any

import pytest
from stubs import ForwardProxy, Scripted, ok, self_signed

from dgtools.api import DeepgramClient
from dgtools.api.proxies import environment_proxies
from dgtools.exceptions import ConfigError, MissingDependencyError
from dgtools.options import ListenOptions
from dgtools.server import LocalServer

KEY = "0123456789abcdef0123456789abcdef01234567"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="module")
def server() -> Any:
    with LocalServer(api_keys=[KEY]) as srv:
        yield srv


async def three_requests(base_url: str, **kwargs: Any) -> list[Any]:
    async with DeepgramClient(api_key=KEY, base_url=base_url, **kwargs) as dg:
        return await asyncio.gather(
            *(dg.transcribe_url(f"https://example.com/{i}.wav", ListenOptions()) for i in range(3))
        )


def test_the_environment_is_read_as_httpx_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "proxy.corp:3128")  # no scheme: http:// is assumed
    monkeypatch.setenv("HTTP_PROXY", "http://user:pw@proxy.corp:8080")
    monkeypatch.setenv("NO_PROXY", "localhost, 127.0.0.1,::1,.internal,example.com,http://direct:1")
    assert environment_proxies() == {
        "http://": "http://user:pw@proxy.corp:8080",
        "https://": "http://proxy.corp:3128",
        "all://localhost": None,
        "all://127.0.0.1": None,
        "all://[::1]": None,
        "all://*.internal": None,
        "all://*example.com": None,
        "http://direct:1": None,
    }
    monkeypatch.setenv("NO_PROXY", "*")
    assert environment_proxies() == {}


def test_requests_go_through_the_proxy_of_the_environment(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def go() -> tuple[ForwardProxy, list[Any]]:
        async with ForwardProxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            return proxy, await three_requests(server.url)

    proxy, results = asyncio.run(go())
    assert [r.status_code for r in results] == [200] * 3  # the server refuses any other key
    assert proxy.requests == 3 and proxy.log == [f"POST {server.url}/v1/listen"] * 3
    assert all(f"Token {KEY}".encode() in req for req in proxy.forwarded)  # the forwarded request itself
    assert KEY not in "\n".join(proxy.log)


def test_no_proxy_and_proxy_false_go_direct_and_proxy_url_overrides(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def go() -> dict[str, int]:
        counts = {}
        async with ForwardProxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            await three_requests(server.url)
            counts["NO_PROXY=127.0.0.1"] = proxy.requests
            monkeypatch.delenv("NO_PROXY")
            for off in ("", False):
                await three_requests(server.url, proxy=off)
            counts["proxy='' and False"] = proxy.requests
        async with ForwardProxy() as explicit:
            monkeypatch.delenv("HTTP_PROXY")
            await three_requests(server.url, proxy=explicit.url)
            counts["proxy=URL"] = explicit.requests
        return counts

    assert asyncio.run(go()) == {"NO_PROXY=127.0.0.1": 0, "proxy='' and False": 0, "proxy=URL": 3}


def test_https_goes_through_a_connect_tunnel_that_never_sees_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    body = json.dumps({"metadata": {"request_id": "r-tls"}, "results": {"channels": []}}).encode()

    async def answer(head: bytes, _: bytes, w: asyncio.StreamWriter) -> None:
        w.write(ok(body))

    async def go() -> tuple[ForwardProxy, Scripted, list[Any]]:
        async with ForwardProxy() as proxy, Scripted(answer, ssl=tls) as srv:
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted as httpx trusts it
            return proxy, srv, await three_requests(srv.url)

    proxy, srv, results = asyncio.run(go())
    assert [r.request_id for r in results] == ["r-tls"] * 3
    assert proxy.tunnels >= 1 and set(proxy.log) == {f"CONNECT 127.0.0.1:{srv.port}"}
    assert len(srv.requests) == 3
    assert all(f"authorization: token {KEY}".encode() in head.lower() for head, _ in srv.requests)
    assert KEY.encode() not in bytes(proxy.tunneled) and len(proxy.tunneled) > 0  # encrypted end to end


def test_proxy_settings_that_cannot_work_are_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="ftp://"):
        DeepgramClient(api_key=KEY, proxy="ftp://proxy.corp:21")
    with pytest.raises(ConfigError, match="not both"):
        import httpx

        DeepgramClient(
            api_key=KEY, proxy="http://proxy.corp:3128", transport=httpx.MockTransport(lambda r: None)
        )  # type: ignore[arg-type,return-value]
    if importlib.util.find_spec("socksio") is None:
        with pytest.raises(MissingDependencyError, match="socksio") as info:
            DeepgramClient(api_key=KEY, proxy="socks5://user:secret@127.0.0.1:1080")
        assert "secret" not in str(info.value)
    else:
        DeepgramClient(api_key=KEY, proxy="socks5://127.0.0.1:1080")
