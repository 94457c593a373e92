"""dgtools.manage.AsyncManage: the Manage API client for async code, against Manage (its sync twin).

Unit tests go through ``httpx.MockTransport`` (the same calls as :class:`~dgtools.manage.Manage`
sends, the event loop free while an answer is awaited); end-to-end tests through a
:class:`LocalServer`, as in ``tests/test_manage.py``: a created key authenticates ``/v1/listen``
until it is deleted, a granted token until its ttl passes, and the frames and errors equal the sync
client's on the same server.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import pickle
import re
import wave
from collections.abc import Callable, Coroutine, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pandas as pd
import pyarrow as pa
import pytest

import dgtools.manage as dgm
from dgtools.exceptions import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    DeepgramAPIError,
    ResponseFormatError,
    TransportError,
)
from dgtools.manage.frames import MONEY_SCALE
from dgtools.pricing import PRICES
from dgtools.server import LocalServer
from dgtools.server.manage import PROJECT_ID, PROJECT_NAME, STARTING_BALANCE

KEY = "a1b2" * 10  # the server's start-up key: 40 hex characters, like Deepgram's
OTHER = "f00d" * 10  # a key the server does not know
MONEY = pd.ArrowDtype(pa.decimal128(38, MONEY_SCALE))
R = TypeVar("R")


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coro)


def _wav(seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    for name in ("DEEPGRAM_API_KEY", "DEEPGRAM_TOKEN", "DEEPGRAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with LocalServer(api_keys=[KEY]) as s:
        yield s


def _opts(server: LocalServer, key: str = KEY) -> dict[str, Any]:
    return {"api_key": key, "base_url": server.url}


def _listen(server: LocalServer, authorization: str, seconds: float = 3.0, query: str = "") -> int:
    return httpx.post(
        f"{server.url}/v1/listen{query}",
        content=_wav(seconds),
        headers={"Authorization": authorization, "Content-Type": "audio/wav"},
        trust_env=False,
    ).status_code


def _without_request_id(message: str) -> str:
    return re.sub(r"request_id=[^,)\s]+", "request_id=...", message)


# --------------------------------------------------------------------------- unit: the same wire as Manage

Handler = Callable[[httpx.Request], httpx.Response]


def _deepgram(seen: list[tuple[str, str, dict[str, str], Any]]) -> Handler:
    """A fake Deepgram recording (method, path, query, body) of every request."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Token {KEY}"
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, dict(request.url.params), body))
        path = request.url.path
        if path == "/v1/projects":
            return httpx.Response(200, json={"projects": [{"project_id": "p1", "name": "P"}]})
        if path == "/v1/auth/grant":
            return httpx.Response(
                200, json={"access_token": "eyJ0.eyJ1.sig", "expires_in": body["ttl_seconds"]}
            )
        if path.endswith("/keys") and request.method == "POST":
            return httpx.Response(200, json={"api_key_id": "k9", "key": "c0ffee" * 6 + "c0ff", **body})
        if path.endswith("/requests"):
            page, limit = int(request.url.params["page"]), int(request.url.params["limit"])
            rows = [{"request_id": f"r{page}-{i}", "path": "/v1/listen", "created": "2026-01-02T03:04:05Z",
                     "response": {"details": {"usd": 0.0043, "duration": 60}, "code": 200}}
                    for i in range(limit if page == 0 else 3)]  # fmt: skip
            return httpx.Response(200, json={"page": page, "limit": limit, "requests": rows})
        if path.endswith("/usage"):
            return httpx.Response(200, json={"results": [{"start": "2026-01-01", "end": "2026-01-01",
                                                          "hours": 1.5, "requests": 7}]})  # fmt: skip
        if path.endswith("/balances"):
            return httpx.Response(
                200, json={"balances": [{"balance_id": "b", "amount": 12.5, "units": "usd"}]}
            )
        return httpx.Response(200, json={"api_keys": [], "message": "ok"})

    return handler


def _calls(m: Any) -> list[Any]:
    """Every call of the client, as zero-argument callables (sync results or coroutines)."""
    return [
        lambda: m.projects(),
        lambda: m.project_id("P"),
        lambda: m.keys(status="active"),
        lambda: m.create_key("P", "job", ["usage:write"], expires_in=90, tags=["t"]),
        lambda: m.delete_key(key_id="k9"),
        lambda: m.grant_token(12.5),
        lambda: m.requests(
            start="2026-01-01", end=pd.Timestamp("2026-01-02").to_pydatetime(), status="failed"
        ),
        lambda: m.usage(start="2026-01-01"),
        lambda: m.balances(),
    ]


def test_every_call_sends_what_manage_sends_and_reads_it_the_same() -> None:
    sync_seen: list[Any] = []
    async_seen: list[Any] = []
    with dgm.Manage(api_key=KEY, transport=httpx.MockTransport(_deepgram(sync_seen))) as m:
        sync_results = [call() for call in _calls(m)]

    async def go() -> list[Any]:
        async with dgm.AsyncManage(api_key=KEY, transport=httpx.MockTransport(_deepgram(async_seen))) as m:
            return [await call() for call in _calls(m)]

    async_results = run(go())
    assert async_seen == sync_seen
    assert len(sync_seen) == 1 + 1 + 2 + 2 + 2 + 1 + 3 + 2 + 2  # the project lookups, two pages of requests
    assert ("POST", "/v1/auth/grant", {}, {"ttl_seconds": 12.5}) in async_seen
    assert ("GET", "/v1/projects/p1/requests", {"start": "2026-01-01", "end": "2026-01-02T00:00:00",
            "status": "failed", "limit": "1000", "page": "1"}, None) in async_seen  # fmt: skip
    for a, s in zip(async_results, sync_results, strict=True):
        if isinstance(s, pd.DataFrame):
            pd.testing.assert_frame_equal(a, s)
        elif isinstance(s, dgm.CreatedKey):
            assert (a.secret, a.api_key_id, a.scopes, a.tags, a.project_id, a.expiration_date) == (
                s.secret, s.api_key_id, s.scopes, s.tags, s.project_id, s.expiration_date)  # fmt: skip
        elif isinstance(s, dgm.TemporaryToken):
            assert (a.access_token, a.expires_in) == (s.access_token, s.expires_in) == ("eyJ0.eyJ1.sig", 12.5)
        else:
            assert a == s
    requests = async_results[6]
    assert len(requests) == 1003 and requests["usd"].sum() == Decimal("0.0043") * 1003
    assert async_results[1] == "p1" and async_results[4] is None
    assert async_results[8]["amount"].iloc[0] == Decimal("12.5") and async_results[8]["amount"].dtype == MONEY


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (401, {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "r1"},
         AuthenticationError, "DEEPGRAM_API_KEY"),
        (403, {"category": "INSUFFICIENT_PERMISSIONS", "message": "no", "request_id": "r2"},
         AuthenticationError, "scope"),
        (404, "Not Found", BadRequestError, "check the id"),
        (429, {"err_code": "TOO_MANY_REQUESTS", "err_msg": "Slow down.", "request_id": "r3"},
         DeepgramAPIError, "429"),
    ],
)  # fmt: skip
def test_errors_are_those_of_manage(status: int, body: Any, error: type[Exception], words: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, dict):
            return httpx.Response(status, json=body)
        return httpx.Response(status, text=body)

    with dgm.Manage(api_key=KEY, transport=httpx.MockTransport(handler)) as m, pytest.raises(error) as sync:
        m.projects()

    async def go() -> None:
        async with dgm.AsyncManage(api_key=KEY, transport=httpx.MockTransport(handler)) as m:
            await m.projects()

    with pytest.raises(error) as info:
        run(go())
    assert type(info.value) is type(sync.value) and str(info.value) == str(sync.value)
    assert isinstance(info.value, DeepgramAPIError) and info.value.status_code == status
    assert words in str(info.value) and KEY not in str(info.value) and KEY not in repr(info.value)


def test_a_transport_failure_and_a_bad_answer() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def not_json(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>")

    async def go(handler: Handler) -> None:
        async with dgm.AsyncManage(api_key=KEY, transport=httpx.MockTransport(handler)) as m:
            await m.grant_token(30)

    with pytest.raises(
        TransportError, match=re.escape("POST /v1/auth/grant on https://api.deepgram.com got no answer")
    ):
        run(go(refused))
    with pytest.raises(ResponseFormatError, match="not a JSON object"):
        run(go(not_json))


def test_arguments_are_checked_before_anything_is_sent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:  # pragma: no cover - never called
        raise AssertionError("sent")

    async def go() -> int:
        refused = 0
        async with dgm.AsyncManage(api_key=KEY, transport=httpx.MockTransport(handler)) as m:
            for call in (
                lambda: m.create_key("p", "c", []),
                lambda: m.create_key("p", "", ["usage:write"]),
                lambda: m.create_key("p", "c", expires_in=-1),
                lambda: m.grant_token(ttl=0),
                lambda: m.grant_token(ttl=True),
                lambda: m.delete_key("p", ""),
                lambda: m.requests("p", status="ok"),
                lambda: m.requests("p", start="yesterday"),
                lambda: m.usage("p", end="soon"),
                lambda: m.keys("p", status="old"),
            ):
                with pytest.raises(ConfigError):
                    await call()
                refused += 1
        return refused

    assert run(go()) == 10


def test_the_event_loop_runs_while_an_answer_is_awaited() -> None:
    """Deepgram answers only once another task has run: a blocking client would never get the answer."""
    released = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await released.wait()
        return httpx.Response(200, json={"access_token": "eyJ0.eyJ1.sig", "expires_in": 30})

    async def release() -> str:
        released.set()
        return "released"

    async def go() -> tuple[dgm.TemporaryToken, str]:
        async with dgm.AsyncManage(api_key=KEY, transport=httpx.MockTransport(handler)) as m:
            return await asyncio.gather(m.grant_token(30), release())

    token, other = run(go())
    assert other == "released" and token.access_token == "eyJ0.eyJ1.sig" and token.expires_in == 30.0


def test_repr_and_pickling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPGRAM_BASE_URL", raising=False)

    async def go() -> tuple[str, str]:
        async with dgm.AsyncManage(api_key=KEY) as m:
            with pytest.raises(TypeError, match="an AsyncManage client cannot be pickled"):
                pickle.dumps(m)
            return repr(m), str(m)

    shown, as_str = run(go())
    with dgm.Manage(api_key=KEY) as m:
        assert shown == repr(m).replace("dgtools.Manage ", "dgtools.AsyncManage ")
    assert (
        shown == "<dgtools.AsyncManage https://api.deepgram.com with <Credentials Token from api_key=: ***>>"
    )
    assert KEY not in shown and KEY not in as_str


# --------------------------------------------------------------------------- end to end: keys and tokens


def test_a_created_key_works_until_deleted_and_its_secret_goes_nowhere(
    server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def create() -> tuple[pd.DataFrame, dgm.CreatedKey, pd.DataFrame]:
        async with dgm.AsyncManage(**_opts(server)) as m:
            projects = await m.projects()
            key = await m.create_key(comment="e2e async", scopes=["usage:write"], expires_in=600)
            return projects, key, await m.keys()

    projects, key, listed = run(create())
    assert projects.to_dict("records") == [{"project_id": PROJECT_ID, "name": PROJECT_NAME}]
    secret = key.secret
    assert len(secret) == 40 and key.project_id == PROJECT_ID and key.expiration_date is not None
    assert key.comment == "e2e async" and key.scopes == ("usage:write",)
    for shown in (repr(key), str(key), f"{key}", repr(key.credentials())):
        assert secret not in shown and "***" in shown
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(key)
    assert key.api_key_id in set(listed["api_key_id"]) and secret not in listed.to_string()
    assert _listen(server, f"Token {secret}") == 200

    async def with_the_new_key() -> str:
        async with dgm.AsyncManage(**_opts(server, secret)) as m:
            return repr(m)

    assert secret not in run(with_the_new_key())  # usage:write may list its project

    async def delete() -> pd.DataFrame:
        async with dgm.AsyncManage(**_opts(server)) as m:
            await m.delete_key(key_id=key.api_key_id)
            return await m.keys()

    assert key.api_key_id not in set(run(delete())["api_key_id"])
    assert _listen(server, f"Token {secret}") == 401

    async def projects_with_deleted_key() -> None:
        async with dgm.AsyncManage(**_opts(server, secret)) as m:
            await m.projects()

    with pytest.raises(AuthenticationError) as info:
        run(projects_with_deleted_key())
    assert info.value.status_code == 401 and secret not in str(info.value) and secret not in repr(info.value)
    assert secret not in caplog.text and "GET /v1/projects" in caplog.text


def test_granted_tokens_work_then_expire_and_may_be_granted_concurrently(server: LocalServer) -> None:
    async def grant() -> list[dgm.TemporaryToken]:
        async with dgm.AsyncManage(**_opts(server)) as m:
            return list(await asyncio.gather(m.grant_token(0.5), *(m.grant_token(60) for _ in range(7))))

    short, *tokens = run(grant())
    assert len({t.access_token for t in [short, *tokens]}) == 8  # eight different tokens
    assert short.expires_in == 0.5 and all(t.expires_in == 60.0 for t in tokens)
    for token in (short, *tokens):
        assert token.access_token not in repr(token) and token.access_token not in str(token)
        payload = token.access_token.split(".")[1]
        assert json.loads(base64.urlsafe_b64decode(payload + "=="))["scope"] == "usage:write"
        with pytest.raises(TypeError):
            pickle.dumps(token)
    assert _listen(server, f"Bearer {short.access_token}") == 200
    assert all(_listen(server, f"Bearer {t.access_token}", 0.5) == 200 for t in tokens)

    async def manage_with_a_token() -> None:
        async with dgm.AsyncManage(access_token=tokens[0].access_token, base_url=server.url) as m:
            await m.projects()

    with pytest.raises(AuthenticationError) as info:  # tokens do not work on the Manage API
        run(manage_with_a_token())
    assert info.value.status_code == 403 and tokens[0].access_token not in str(info.value)

    async def until_expired() -> None:
        while not short.expired:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.05)

    run(until_expired())
    assert _listen(server, f"Bearer {short.access_token}") == 401
    assert _listen(server, f"Bearer {tokens[0].access_token}") == 200


# --------------------------------------------------------------------------- end to end: frames and errors


def test_requests_usage_and_balances_equal_the_sync_clients(server: LocalServer) -> None:
    assert _listen(server, f"Token {KEY}", 3.0, "?model=nova-3-medical") == 200
    assert _listen(server, f"Token {KEY}", 1.5) == 200
    assert _listen(server, f"Token {KEY}", 1.0, "?bogus_option=1") == 400

    async def read() -> dict[str, pd.DataFrame]:
        async with dgm.AsyncManage(**_opts(server)) as m:
            frames = await asyncio.gather(m.requests(), m.requests(status="failed"), m.usage(), m.balances(),
                                          m.keys(), m.projects())  # fmt: skip
        return dict(zip(["requests", "failed", "usage", "balances", "keys", "projects"], frames, strict=True))

    frames = run(read())
    with dgm.Manage(**_opts(server)) as m:
        expected = {
            "requests": m.requests(),
            "failed": m.requests(status="failed"),
            "usage": m.usage(),
            "balances": m.balances(),
            "keys": m.keys(),
            "projects": m.projects(),
        }
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, expected[name], check_exact=True)
        assert frame.dtypes.to_dict() == expected[name].dtypes.to_dict(), name
    requests = frames["requests"]
    assert len(requests) == 3 and len(frames["failed"]) == 1 and requests["usd"].dtype == MONEY
    medical = requests.set_index("path").loc["/v1/listen?model=nova-3-medical", "usd"]
    assert medical == Decimal(3) / 60 * Decimal(str(PRICES["nova-3-medical"]))
    assert frames["usage"]["requests"].sum() == 3
    assert frames["usage"]["hours"].sum() == pytest.approx(4.5 / 3600)  # the 400 has no audio hours
    assert frames["balances"]["amount"].iloc[0] == STARTING_BALANCE - requests["usd"].sum()
    assert str(frames["usage"]["start"].dtype) == "date32[day][pyarrow]"


@pytest.mark.parametrize(
    ("key", "project", "error", "status", "words"),
    [
        (OTHER, None, AuthenticationError, 401, "DEEPGRAM_API_KEY"),
        (KEY, "no-such-project", BadRequestError, 404, "check the id"),
    ],
)
def test_errors_equal_the_sync_clients(
    server: LocalServer, key: str, project: str | None, error: type[Exception], status: int, words: str
) -> None:
    async def go() -> None:
        async with dgm.AsyncManage(**_opts(server, key)) as m:
            await m.balances(project)

    with pytest.raises(error) as info:
        run(go())
    with dgm.Manage(**_opts(server, key)) as m, pytest.raises(error) as sync:
        m.balances(project)
    assert type(info.value) is type(sync.value)
    assert isinstance(info.value, DeepgramAPIError) and info.value.status_code == status
    assert _without_request_id(str(info.value)) == _without_request_id(str(sync.value))
    assert words in str(info.value) and key not in str(info.value) and "\n" not in str(info.value)
