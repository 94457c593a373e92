"""dgtools.api.client: credentials, endpoints, one request, and error mapping (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import dgtools
from dgtools.api import (
    DeepgramClient,
    check_body,
    error_from_response,
    resolve_base_url,
    resolve_credentials,
)
from dgtools.exceptions import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
    TransportError,
)

KEY = "0123456789abcdef0123456789abcdef01234567"  # a sentinel API key: must never leak
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
OK_BODY = json.dumps({"metadata": {"request_id": "rid-1"}, "results": {"channels": []}}).encode()


def options(**kw: Any) -> Any:
    from dgtools.options import ListenOptions

    return ListenOptions.from_kwargs(**kw)


# --------------------------------------------------------------------------- credentials and endpoints


def test_credentials_precedence_and_masking() -> None:
    env = {"DEEPGRAM_API_KEY": KEY, "DEEPGRAM_TOKEN": JWT}
    assert resolve_credentials(env=env).scheme == "Bearer"  # a temporary token wins over the key
    assert resolve_credentials(env={"DEEPGRAM_API_KEY": KEY}).header() == f"Token {KEY}"
    assert resolve_credentials(api_key=KEY, env=env).header() == f"Token {KEY}"
    assert resolve_credentials(access_token=JWT, env={}).header() == f"Bearer {JWT}"
    basic = resolve_credentials(username="u", password="p", env={})
    assert basic.header() == "Basic " + base64.b64encode(b"u:p").decode()
    creds = resolve_credentials(api_key=KEY, env={})
    for text in (repr(creds), str(creds), repr(DeepgramClient(credentials=creds))):
        assert "***" in text or "DeepgramClient" in text
        assert KEY not in text
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(creds)
    assert creds.looks_like() == "api key"
    assert resolve_credentials(access_token=JWT, env={}).looks_like() == "jwt"


def test_missing_or_conflicting_credentials() -> None:
    with pytest.raises(ConfigError, match="DEEPGRAM_API_KEY"):
        resolve_credentials(env={})
    with pytest.raises(ConfigError, match="only one"):
        resolve_credentials(api_key=KEY, access_token=JWT, env={})
    with pytest.raises(ConfigError, match="password"):
        resolve_credentials(username="u", env={})


def test_base_urls() -> None:
    assert resolve_base_url(env={}) == "https://api.deepgram.com"
    assert resolve_base_url(region="eu", env={}) == "https://api.eu.deepgram.com"
    assert resolve_base_url(region="AU", env={}) == "https://api.au.deepgram.com"
    assert resolve_base_url(region="in", env={}) == "https://api.in.deepgram.com"
    assert resolve_base_url("http://127.0.0.1:8080/v1/listen", env={}) == "http://127.0.0.1:8080"
    assert resolve_base_url("dg.example.com", env={}) == "https://dg.example.com"
    assert resolve_base_url(env={"DEEPGRAM_BASE_URL": "http://dg.local:9"}) == "http://dg.local:9"
    with pytest.raises(ConfigError, match="unknown region"):
        resolve_base_url(region="mars", env={})
    with pytest.raises(ConfigError, match="not both"):
        resolve_base_url("http://x", region="eu", env={})
    with pytest.raises(ConfigError, match="http"):
        resolve_base_url("ftp://x", env={})


# --------------------------------------------------------------------------- error bodies


@pytest.mark.parametrize(
    ("body", "code", "detail", "rid"),
    [
        (b'{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials.","request_id":"r-1"}', "INVALID_AUTH",
         "Invalid credentials", "r-1"),
        (b'{"category":"INTERNAL_SERVER_ERROR","message":"Something broke.","details":"shard 3","request_id":"r-2"}',
         "INTERNAL_SERVER_ERROR", "Something broke. (shard 3)", "r-2"),
        (b"Bad Gateway", None, "Bad Gateway", None),
    ],
)  # fmt: skip
def test_three_error_body_shapes(body: bytes, code: str | None, detail: str, rid: str | None) -> None:
    e = error_from_response(502, body, headers={"dg-request-id": "hdr-id"}, source="a.wav")
    assert isinstance(e, ServerError) and e.retryable
    assert e.err_code == code
    assert detail in str(e)
    assert e.request_id == (rid or "hdr-id")
    assert f"request_id={rid or 'hdr-id'}" in str(e)
    assert "'a.wav'" in str(e)


def test_status_codes_map_to_the_tree_with_advice() -> None:
    cases = {
        400: (BadRequestError, "invalid"),
        401: (AuthenticationError, "Authorization: Token <API key>"),
        402: (PaymentRequiredError, "out of credits"),
        403: (AuthenticationError, "may not use this model"),
        408: (ServerError, "retried"),
        413: (BadRequestError, "2 GB"),
        414: (BadRequestError, "fewer search"),
        429: (RateLimitError, "concurrency"),
        503: (ServerError, "retried"),
    }
    for status, (cls, advice) in cases.items():
        e = error_from_response(status, b"{}", source="calls/a.wav")
        assert type(e) is cls, status
        assert advice in str(e), (status, str(e))
        assert "request_id=unknown" in str(e)
        assert e.retryable == (status in (408, 429, 503))
        assert isinstance(e, dgtools.DGToolsError)


def test_invalid_query_parameter_is_named() -> None:
    body = b'{"err_code":"INVALID_QUERY_PARAMETER","err_msg":"Failed to deserialize query parameters: unknown field `diarise`","request_id":"r"}'
    e = error_from_response(400, body, source="a.wav")
    assert "the option 'diarise' is not accepted" in str(e)


def test_retry_after_and_401_hints() -> None:
    e = error_from_response(429, b"", headers={"Retry-After": "7"})
    assert isinstance(e, RateLimitError) and e.retry_after == 7.0
    jwt_as_token = resolve_credentials(api_key=JWT, env={})
    e = error_from_response(401, b"{}", credentials=jwt_as_token)
    assert "looks like a JWT" in str(e) and "access_token=" in str(e)
    key_as_bearer = resolve_credentials(access_token=KEY, env={})
    e = error_from_response(401, b"{}", credentials=key_as_bearer)
    assert "looks like an API key" in str(e)


def test_the_key_never_appears_in_errors() -> None:
    creds = resolve_credentials(api_key=KEY, env={})
    body = json.dumps({"err_code": "INVALID_AUTH", "err_msg": f"bad key {KEY}", "request_id": "r"}).encode()
    e = error_from_response(401, body, credentials=creds)
    assert KEY not in str(e) and KEY not in e.body and KEY not in repr(e)


def test_check_body() -> None:
    assert check_body(OK_BODY) == "rid-1"
    with pytest.raises(ServerError, match="not a complete JSON object"):
        check_body(OK_BODY[:-5], source="a.wav")
    with pytest.raises(ServerError, match="no 'results'"):
        check_body(b'{"metadata": {}}')


# --------------------------------------------------------------------------- requests


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_file_request_shape(tmp_path: Path) -> None:
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF....WAVEfmt audio")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=OK_BODY, headers={"dg-request-id": "rid-1"})

    async def go() -> Any:
        async with DeepgramClient(api_key=KEY, transport=httpx.MockTransport(handler)) as dg:
            return await dg.transcribe_file(
                audio, options(model="nova-3", diarize=True, search=["a", "b"]), content_type="audio/wav"
            )

    res = _run(go())
    assert res.body == OK_BODY and res.request_id == "rid-1"
    (req,) = seen
    assert req.method == "POST" and req.url.path == "/v1/listen"
    assert req.url.host == "api.deepgram.com"
    assert req.headers["authorization"] == f"Token {KEY}"
    assert req.headers["content-type"] == "audio/wav"
    assert req.content == audio.read_bytes()
    q = req.url.params
    assert q["model"] == "nova-3" and q["diarize"] == "true" and q.get_list("search") == ["a", "b"]


def test_url_request_and_bearer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=OK_BODY)

    async def go() -> Any:
        async with DeepgramClient(
            access_token=JWT, region="eu", transport=httpx.MockTransport(handler)
        ) as dg:
            return await dg.transcribe_url("https://example.com/a.mp3", options(model="nova-3"))

    _run(go())
    (req,) = seen
    assert req.url.host == "api.eu.deepgram.com"
    assert req.headers["authorization"] == f"Bearer {JWT}"
    assert json.loads(req.content) == {"url": "https://example.com/a.mp3"}
    assert req.headers["content-type"] == "application/json"


def test_errors_and_transport_failures(tmp_path: Path) -> None:
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"x" * 10)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("model") == "drop":
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return httpx.Response(
            402, json={"err_code": "ASR_PAYMENT_REQUIRED", "err_msg": "No credits.", "request_id": "r9"}
        )

    async def go(model: str) -> Any:
        async with DeepgramClient(api_key=KEY, transport=httpx.MockTransport(handler)) as dg:
            return await dg.transcribe_file(audio, options(model=model), source="calls/a.wav")

    with pytest.raises(PaymentRequiredError) as info:
        _run(go("nova-3"))
    assert info.value.request_id == "r9" and "calls/a.wav" in str(info.value)
    with pytest.raises(TransportError) as tinfo:
        _run(go("drop"))
    assert tinfo.value.retryable and isinstance(tinfo.value.__cause__, httpx.RemoteProtocolError)
    assert KEY not in str(tinfo.value)


def test_the_server_sees_at_most_max_connections() -> None:
    """One pooled transport sized to max_connections: 12 requests at once reach the server on 3 connections."""
    from dgtools.options import ListenOptions
    from dgtools.server import Faults, LocalServer

    async def go(url: str) -> None:
        async with DeepgramClient(api_key=KEY, base_url=url, max_connections=3) as dg:
            await asyncio.gather(
                *(dg.transcribe_url(f"https://example.com/{i}.wav", ListenOptions()) for i in range(12))
            )

    with LocalServer(faults=Faults(latency=0.05)) as server:
        _run(go(server.url))
        stats = server.stats()
    assert stats["requests"] == 12 and stats["connections"] == 3
