"""dgtools.api.client: credentials, endpoints, one request, and error mapping (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import traceback
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from stubs import Scripted, ok

import dgtools
from dgtools.api import (
    DeepgramClient,
    RetryPolicy,
    check_body,
    error_from_response,
    resolve_base_url,
    resolve_credentials,
)
from dgtools.exceptions import (
    AuthenticationError,
    BadRequestError,
    BadResponseError,
    ConfigError,
    DeepgramAPIError,
    DGToolsWarning,
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
    assert resolve_base_url(env={"DEEPGRAM_BASE_URL": "https://dg.local:9"}) == "https://dg.local:9"
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


# --------------------------------------------------------------------------- Retry-After: both forms, capped

IN_2099 = "Thu, 01 Jan 2099 00:00:00 GMT"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retry_after_is_read_in_both_forms_on_every_retryable_status(status: int) -> None:
    for value, least in (("86400", 86400.0), (IN_2099, 2e9)):
        e = error_from_response(status, b"", headers={"Retry-After": value}, source="a.wav")
        assert e.retryable and e.retry_after is not None and e.retry_after >= least, (status, value)
    past = error_from_response(status, b"", headers={"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert past.retry_after == 0.0
    for junk in ("soon", "nan", "inf", "-5"):
        got = error_from_response(status, b"", headers={"Retry-After": junk}).retry_after
        assert got is None or got == 0.0, (junk, got)


def test_retry_policy_gives_up_when_the_server_asks_to_wait_longer_than_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.0)
    assert policy.max_retry_after == 60.0
    a_day = RateLimitError("429", status_code=429, retry_after=86400.0)
    assert not policy.should_retry(a_day, attempts=1)
    assert policy.why_not(a_day, attempts=1) == (
        "Deepgram asked to wait 86400 s (Retry-After), more than max_retry_after=60 s: rerun later, "
        "or raise it with retry=RetryPolicy(max_retry_after=...)"
    )
    assert policy.delay(a_day, attempts=1) <= 60.0
    half_a_minute = ServerError("503", status_code=503, retry_after=30.0)
    assert (
        policy.should_retry(half_a_minute, attempts=1) and policy.why_not(half_a_minute, attempts=1) is None
    )
    assert policy.delay(half_a_minute, attempts=1) == 30.0
    patient = RetryPolicy(max_retry_after=86400)
    assert patient.should_retry(a_day, attempts=1) and patient.delay(a_day, attempts=1) == 86400.0
    # however large the backoff, the delay stays under the cap
    assert (
        RetryPolicy(base_delay=100, max_delay=100, max_retry_after=5).delay(TransportError("x"), attempts=3)
        <= 5
    )
    why = RetryPolicy(max_retries=2).why_not(half_a_minute, attempts=3)
    assert why is not None and "3 attempts" in why and "max_retries=2" in why
    why = policy.why_not(BadRequestError("400", status_code=400), attempts=1)
    assert why is not None and "not retried" in why
    with pytest.raises(ConfigError, match="max_retry_after"):
        RetryPolicy(max_retry_after=-1)


def test_a_503_with_a_date_and_a_429_for_a_day_are_not_waited_for() -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        if b"day" in body:
            w.write(b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 86400\r\ncontent-length: 0\r\n\r\n")
        else:
            w.write(
                b"HTTP/1.1 503 Service Unavailable\r\nretry-after: %s\r\ncontent-length: 0\r\n\r\n"
                % IN_2099.encode()
            )

    async def go() -> list[DeepgramAPIError]:
        errors = []
        async with Scripted(answer) as srv, DeepgramClient(api_key=KEY, base_url=srv.url) as dg:
            for url in ("https://example.com/date.wav", "https://example.com/day.wav"):
                with pytest.raises(DeepgramAPIError) as info:
                    await dg.transcribe_url(url, options())
                errors.append(info.value)
        return errors

    policy = RetryPolicy()
    for e in _run(go()):
        assert e.retryable and e.retry_after is not None and e.retry_after >= 86400
        assert not policy.should_retry(e, attempts=1)
        assert "(Retry-After), more than max_retry_after=60 s" in (policy.why_not(e, attempts=1) or "")


# --------------------------------------------------------------------------- an overall deadline per request


def test_a_trickling_answer_hits_the_overall_deadline() -> None:
    body = b'{"results": {}' + b" " * 165 + b"}"  # 180 bytes, 3 every 50 ms: 3 s in all

    async def answer(head: bytes, _: bytes, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 3):
            if w.is_closing():
                return
            w.write(body[i : i + 3])
            await w.drain()
            await asyncio.sleep(0.05)

    async def go() -> None:
        async with Scripted(answer) as srv, DeepgramClient(api_key=KEY, base_url=srv.url, timeout=0.5) as dg:
            with pytest.raises(TransportError) as info:
                await dg.transcribe_url("https://example.com/a.wav", options())
            e = info.value
            assert e.retryable and "deadline" in str(e) and "timeout=" in str(e) and "--timeout" in str(e)

    _run(go())


def test_the_default_deadline_scales_with_upload_size_and_duration() -> None:
    dg = DeepgramClient(api_key=KEY)
    assert dg.deadline(size=10_000_000, duration=600.0) == pytest.approx(60 + 10 + 300)
    # duration unknown: assumed from the size, as audio of at least 16 kbps (2 kB/s)
    assert dg.deadline(size=10_000_000) == pytest.approx(60 + 10 + 0.5 * 5_000)
    assert dg.deadline(duration=7200.0) == pytest.approx(60 + 3600)  # a URL: nothing uploaded
    assert DeepgramClient(api_key=KEY, timeout=5).deadline(size=10**9, duration=1e5) == 5
    with pytest.raises(ConfigError, match="timeout"):
        DeepgramClient(api_key=KEY, timeout=0)


# --------------------------------------------------------------------------- huge and hostile answers


def test_answers_above_max_response_bytes_are_refused_even_when_compressed() -> None:
    big = b'{"results": {"pad": "' + b"a" * (3 << 20) + b'"}}'
    bomb = gzip.compress(
        b'{"results": {"pad": "' + b"\0" * (16 << 20) + b'"}}'
    )  # 16 kB that inflate to 16 MB
    small = b'{"metadata": {"request_id": "r-z"}, "results": {"pad": "' + b"z" * 50_000 + b'"}}'

    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        if b"bomb" in body:
            w.write(ok(bomb, b"content-encoding: gzip"))
        elif b"half" in body:  # a whole HTTP body holding half a gzip stream
            w.write(ok(gzip.compress(small)[:60], b"content-encoding: gzip"))
        elif b"gzip" in body:
            w.write(ok(gzip.compress(small), b"content-encoding: gzip"))
        elif b"deflate" in body:
            w.write(ok(zlib.compress(small), b"content-encoding: deflate"))
        else:
            w.write(ok(big))

    async def go() -> None:
        async with (
            Scripted(answer) as srv,
            DeepgramClient(api_key=KEY, base_url=srv.url, max_response_bytes=1 << 20) as dg,
        ):
            for name in ("big", "bomb"):
                with pytest.raises(BadResponseError, match="max_response_bytes=1,048,576") as info:
                    await dg.transcribe_url(f"https://example.com/{name}.wav", options())
                assert not info.value.retryable and "DeepgramClient(max_response_bytes=" in str(info.value)
            with pytest.raises(BadResponseError, match="cut short") as info:
                await dg.transcribe_url("https://example.com/half.wav", options())
            assert info.value.retryable
            for name in ("gzip", "deflate"):  # within the limit, decompressed
                res = await dg.transcribe_url(f"https://example.com/{name}.wav", options())
                assert res.body == small and res.request_id == "r-z" and res.path is None

    _run(go())


def test_large_answers_are_spooled_to_a_file_and_removed_on_error(tmp_path: Path) -> None:
    raw = json.dumps({"metadata": {"request_id": "rid-big"}, "results": {"pad": "x" * (3 << 20)}}).encode()

    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter) -> None:
        if b"gz" in body:
            w.write(ok(gzip.compress(raw), b"content-encoding: gzip"))
        elif b"cut" in body:  # the connection drops 2 MB into a 3 MB answer
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(raw) + raw[: 2 << 20])
            await w.drain()
            w.close()
        elif b"small" in body:
            w.write(ok(OK_BODY, b"dg-request-id: rid-1"))
        else:
            w.write(ok(raw, b"dg-request-id: rid-header"))

    paths: list[Path] = []

    def spool() -> Path:
        paths.append(tmp_path / f"{len(paths)}.part")
        return paths[-1]

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Scripted(answer) as srv:
            async with DeepgramClient(api_key=KEY, base_url=srv.url, spool_above=1 << 20) as dg:
                for name in ("plain", "gz", "small"):
                    url = f"https://example.com/{name}.wav"
                    out[name] = await dg.transcribe_url(url, options(), spool=spool)
                with pytest.raises(TransportError):
                    await dg.transcribe_url("https://example.com/cut.wav", options(), spool=spool)
                out["not spooled"] = await dg.transcribe_url("https://example.com/plain.wav", options())
            async with DeepgramClient(api_key=KEY, base_url=srv.url, spool_above=1 << 20,
                                      max_response_bytes=2 << 20) as dg:  # fmt: skip
                with pytest.raises(BadResponseError, match="max_response_bytes"):  # found out once spooled
                    await dg.transcribe_url("https://example.com/gz.wav", options(), spool=spool)
        return out

    out = _run(go())
    plain, gz, small = out["plain"], out["gz"], out["small"]
    assert plain.path == paths[0] and plain.body == b"" and paths[0].read_bytes() == raw
    assert plain.request_id == "rid-header"
    assert gz.path == paths[1] and gz.body == b"" and paths[1].read_bytes() == raw
    assert gz.request_id == "rid-big"  # no header: from the first 4 KB of the body
    assert small.path is None and small.body == OK_BODY and small.request_id == "rid-1"
    assert out["not spooled"].path is None and out["not spooled"].body == raw
    assert len(paths) == 4 and not paths[2].exists() and not paths[3].exists()  # cut short, too large


# --------------------------------------------------------------------------- the sha256 of exactly the bytes sent


def test_sent_sha256_is_the_hash_of_exactly_the_bytes_sent(tmp_path: Path) -> None:
    small = tmp_path / "small.wav"
    small.write_bytes(b"RIFF" + b"1" * 5000)
    large = tmp_path / "large.wav"  # streamed from disk in 1 MB chunks (above 32 MB)
    size = 33 << 20
    with large.open("wb") as f:
        f.write(b"RIFF")
        f.truncate(size)
    received: list[tuple[str, int]] = []
    change: list[Any] = []  # what to do to the large file once its first chunk has been sent

    class Server(httpx.AsyncBaseTransport):  # reads the upload as it comes, like a server
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            h, n = hashlib.sha256(), 0
            async for chunk in request.stream:  # type: ignore[union-attr]
                if n == 0 and change:
                    change.pop()()
                h.update(chunk)
                n += len(chunk)
            received.append((h.hexdigest(), n))
            return httpx.Response(200, content=OK_BODY)

    def overwrite() -> None:
        with large.open("r+b") as f:
            f.seek(5 << 20)
            f.write(b"changed while it was sent")

    def grow() -> None:
        with large.open("ab") as f:
            f.write(b"grown")

    def shrink() -> None:
        with large.open("r+b") as f:
            f.truncate(10 << 20)

    async def go() -> list[Any]:
        async with DeepgramClient(api_key=KEY, transport=Server()) as dg:
            out = [await dg.transcribe_file(small, options())]
            small.write_bytes(b"RIFF" + b"2" * 5000)  # changed between two attempts: each hashes what it sent
            out.append(await dg.transcribe_file(small, options()))
            change.append(overwrite)
            out.append(await dg.transcribe_file(large, options()))
            change.append(grow)
            out.append(await dg.transcribe_file(large, options()))  # only the bytes Content-Length announced
            change.append(shrink)
            with pytest.raises(TransportError, match="changed while it was being sent"):
                await dg.transcribe_file(large, options())
            out.append(await dg.transcribe_url("https://example.com/a.wav", options()))
            return out

    results = _run(go())
    assert [r.sent_sha256 for r in results[:4]] == [h for h, _ in received[:4]]
    assert results[0].sent_sha256 != results[1].sent_sha256
    assert results[1].sent_sha256 == hashlib.sha256(b"RIFF" + b"2" * 5000).hexdigest()
    assert received[2][1] == received[3][1] == size
    unchanged = hashlib.sha256(b"RIFF" + bytes(size - 4)).hexdigest()
    assert results[2].sent_sha256 != unchanged  # the change made mid-upload was sent, and hashed
    assert results[2].sent_sha256 == results[3].sent_sha256  # the same 33 MB, the growth not sent
    assert results[4].sent_sha256 is None  # a URL: Deepgram fetches the audio


# --------------------------------------------------------------------------- plain http, keys


def test_plain_http_to_a_remote_host_is_refused_unless_allowed() -> None:
    for url in ("http://example.com", "http://10.0.0.5:8080", "http://dg.local:9"):
        with pytest.raises(ConfigError, match="allow_insecure=True") as info:
            resolve_base_url(url, env={})
        assert "\n" not in str(info.value) and "https://" in str(info.value)
        assert resolve_base_url(url, env={}, allow_insecure=True) == url
    with pytest.raises(ConfigError, match="allow_insecure"):
        resolve_base_url(env={"DEEPGRAM_BASE_URL": "http://dg.local:9"})
    with pytest.raises(ConfigError, match="allow_insecure"):
        DeepgramClient(api_key=KEY, base_url="http://example.com")
    assert DeepgramClient(api_key=KEY, base_url="http://example.com", allow_insecure=True).base_url == (
        "http://example.com"
    )
    for url in ("http://127.0.0.1:8080", "http://127.1.2.3", "http://[::1]:8080", "http://localhost:8080"):
        assert resolve_base_url(url, env={}) == url


def test_the_key_stays_out_of_the_locals_of_dgtools_frames(tmp_path: Path) -> None:
    audio = tmp_path / "a.wav"
    with audio.open("wb") as f:
        f.truncate(12 << 20)  # more than the socket buffers hold: the client is still sending

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.1)
        writer.transport.abort()  # a reset in the middle of the upload

    async def go() -> TransportError:
        async with Scripted(handler=handler) as srv, DeepgramClient(api_key=KEY, base_url=srv.url) as dg:
            with pytest.raises(TransportError) as info:
                await dg.transcribe_file(audio, options())
            return info.value

    exc = _run(go())
    frames = dgtools_frames(exc)
    assert {"_post", "send"} <= {f.name for f in frames}  # it failed inside the transport, mid-upload
    assert_key_absent(frames)


def test_the_key_stays_out_of_frame_locals_when_configuration_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    failures: list[Exception] = []
    for call in (
        lambda: DeepgramClient(api_key=KEY, base_url="http://example.com"),  # insecure base_url
        lambda: DeepgramClient(api_key=KEY, timeout=-1),
        lambda: DeepgramClient(base_url="http://example.com"),  # the key from the environment
        lambda: resolve_credentials(api_key=KEY, access_token=JWT),
    ):
        with pytest.raises(ConfigError) as info:
            call()
        failures.append(info.value)
    for exc in failures:
        frames = dgtools_frames(exc)
        assert frames
        assert_key_absent(frames, JWT)


def dgtools_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """The frames of dgtools modules in ``exc``'s traceback and its causes, with their locals."""
    frames: list[traceback.FrameSummary] = []
    todo = [traceback.TracebackException.from_exception(exc, capture_locals=True)]
    while todo:
        te = todo.pop()
        frames += te.stack
        todo += [t for t in (te.__cause__, te.__context__) if t is not None]
    package = Path(dgtools.__file__).parent
    return [f for f in frames if Path(f.filename).is_relative_to(package)]


def assert_key_absent(frames: list[traceback.FrameSummary], *secrets: str) -> None:
    for f in frames:
        assert f.locals is not None
        shown = " ".join(f.locals.values())
        for secret in (KEY, *secrets):
            assert secret not in shown, (f.filename, f.name, {k: v[:200] for k, v in f.locals.items()})


def test_a_key_too_short_to_be_real_warns_once() -> None:
    with pytest.warns(DGToolsWarning, match="40 hex characters") as rec:
        creds = resolve_credentials(env={"DEEPGRAM_API_KEY": "x"})
    assert len(rec) == 1 and "DEEPGRAM_API_KEY" in str(rec[0].message)
    assert creds.secrets == ()  # too short to be looked for in answers ("x" is in most of them)
    assert creds.redact("a box of x") == "a box of x"

    async def go() -> None:
        async with DeepgramClient(
            api_key="short", transport=httpx.MockTransport(lambda r: httpx.Response(200, content=OK_BODY))
        ) as dg:
            for _ in range(3):
                await dg.transcribe_url("https://example.com/a.wav", options())

    with pytest.warns(DGToolsWarning, match="looks wrong") as rec:
        _run(go())
    assert len(rec) == 1
    resolve_credentials(api_key=KEY, env={})  # a real key: no warning (warnings are errors here)
