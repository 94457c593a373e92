"""dgtools.manage (Deepgram's Manage API), the local server's Manage routes, Run.reconcile, dgtools keys/usage.

Unit tests go through ``httpx.MockTransport``; end-to-end tests through a :class:`LocalServer`, where
a created key authenticates ``/v1/listen`` until it is deleted, a granted token until its ttl passes,
and every answer is billed from :mod:`dgtools.pricing`.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import pickle
import time
import wave
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pytest

import dgtools
import dgtools.manage as dgm
from dgtools.cli import main
from dgtools.exceptions import AuthenticationError, BadRequestError, ConfigError, TransportError
from dgtools.manage.frames import MONEY_SCALE, money
from dgtools.pricing import PRICES, price_per_1k_characters
from dgtools.server import LocalServer
from dgtools.server.manage import PROJECT_ID, STARTING_BALANCE, cost_of_listen

KEY = "a1b2" * 10  # the server's start-up key: 40 hex characters, like Deepgram's
MONEY = pd.ArrowDtype(pa.decimal128(38, MONEY_SCALE))
DATA = Path(__file__).resolve().parents[1] / "data" / "audio"


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


def _listen(server: LocalServer, authorization: str, seconds: float = 3.0, query: str = "") -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/listen{query}",
        content=_wav(seconds),
        headers={"Authorization": authorization, "Content-Type": "audio/wav"},
        trust_env=False,
    )


# --------------------------------------------------------------------------- unit: frames and the client


def test_money_is_an_exact_decimal() -> None:
    assert money(0.1) == Decimal("0.1")
    assert money("0.00000000000049") == Decimal("0.000000000000")  # half-even at 12 places
    assert money(None) is None


def test_frames_are_typed_and_empty_answers_keep_the_schema() -> None:
    from dgtools.manage.frames import balances_frame, keys_frame, requests_frame, usage_frame

    empty = requests_frame([{"requests": []}])
    assert len(empty) == 0 and empty["usd"].dtype == MONEY
    assert str(empty["created"].dtype) == "timestamp[us, tz=UTC][pyarrow]"
    keys = keys_frame({"api_keys": [{"api_key": {"api_key_id": "k", "scopes": ["member"],
                                                 "created": "2026-01-01T00:00:00Z"}}]})  # fmt: skip
    assert keys["scopes"].iloc[0] == ["member"] and keys["expiration_date"].isna().all()
    assert usage_frame({"start": "2026-01-01"}).columns.tolist()[:2] == ["start", "end"]
    assert balances_frame({"balances": [{"amount": 12, "units": "usd"}]})["amount"].dtype == MONEY


def _mock(handler: Any) -> dgm.Manage:
    return dgm.Manage(
        api_key=KEY, base_url="https://api.deepgram.com", transport=httpx.MockTransport(handler)
    )


def test_requests_reads_every_page() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Token {KEY}"
        if request.url.path == "/v1/projects":
            return httpx.Response(200, json={"projects": [{"project_id": "p1", "name": "P"}]})
        q = dict(request.url.params)
        seen.append(q)
        page, limit = int(q["page"]), int(q["limit"])
        n = limit if page == 0 else 3
        rows = [{"request_id": f"r{page}-{i}", "path": "/v1/listen", "created": "2026-01-02T03:04:05Z",
                 "response": {"details": {"usd": 0.0043, "duration": 60}, "code": 200}} for i in range(n)]  # fmt: skip
        return httpx.Response(200, content=json.dumps({"page": page, "limit": limit, "requests": rows}))

    with _mock(handler) as m:
        df = m.requests(start="2026-01-01", status="succeeded")
    assert len(df) == 1003 and [q["page"] for q in seen] == ["0", "1"]
    assert seen[0]["start"] == "2026-01-01" and seen[0]["status"] == "succeeded"
    assert df["usd"].sum() == Decimal("0.0043") * 1003
    assert df["endpoint"].iloc[0] == "listen" and df["code"].iloc[0] == 200


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (401, {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "r1"},
         AuthenticationError, "DEEPGRAM_API_KEY"),
        (403, {"category": "INSUFFICIENT_PERMISSIONS", "message": "no", "request_id": "r2"},
         AuthenticationError, "scope"),
        (404, "Not Found", BadRequestError, "check the id"),
    ],
)  # fmt: skip
def test_errors_are_mapped_like_listen(status: int, body: Any, error: type, words: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return (
            httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)
        )

    with _mock(handler) as m, pytest.raises(error) as info:
        m.projects()
    assert info.value.status_code == status and words in str(info.value) and KEY not in str(info.value)


def test_a_transport_failure_is_a_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with _mock(handler) as m, pytest.raises(TransportError, match="no answer"):
        m.projects()


def test_arguments_are_checked_before_anything_is_sent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:  # pragma: no cover - never called
        raise AssertionError("sent")

    with _mock(handler) as m:
        for call in (
            lambda: m.create_key("p", "c", []),
            lambda: m.create_key("p", "c", expires_in=1, expiration_date=pd.Timestamp.now().to_pydatetime()),
            lambda: m.grant_token(ttl=0),
            lambda: m.requests("p", status="ok"),
            lambda: m.requests("p", start="yesterday"),
            lambda: m.keys("p", status="old"),
        ):
            with pytest.raises(ConfigError):
                call()


# --------------------------------------------------------------------------- end to end: keys


def test_a_created_key_works_until_deleted_and_its_secret_goes_nowhere(
    server: LocalServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = dgm.create_key(comment="e2e", scopes=["usage:write"], expires_in=600, **_opts(server))
    secret = key.secret
    assert len(secret) == 40 and key.project_id == PROJECT_ID and key.expiration_date is not None
    for shown in (repr(key), str(key), f"{key}", repr(key.credentials())):
        assert secret not in shown and "***" in shown
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(key)

    listed = dgm.keys(**_opts(server))
    assert key.api_key_id in set(listed["api_key_id"]) and secret not in listed.to_string()
    listed.to_parquet(tmp_path / "keys.parquet")
    listed.to_csv(tmp_path / "keys.csv")

    assert _listen(server, f"Token {secret}").status_code == 200
    run = dgtools.transcribe(DATA / "one_speaker.wav", api_key=secret, base_url=server.url,
                             store=tmp_path / "store", progress=False)  # fmt: skip
    assert run.summary()["transcribed"] == 1
    run.tables.to_parquet(tmp_path / "out")

    dgm.delete_key(key_id=key.api_key_id, **_opts(server))
    assert _listen(server, f"Token {secret}").status_code == 401
    assert key.api_key_id not in set(dgm.keys(**_opts(server))["api_key_id"])
    with pytest.raises(AuthenticationError):
        dgm.projects(**_opts(server, secret))

    assert secret not in caplog.text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_key_expires(server: LocalServer) -> None:
    key = dgm.create_key(comment="short", expires_in=0.3, **_opts(server))
    assert _listen(server, f"Token {key.secret}").status_code == 200
    time.sleep(0.5)
    assert _listen(server, f"Token {key.secret}").status_code == 401
    assert key.api_key_id in set(dgm.keys(status="expired", **_opts(server))["api_key_id"])


def test_scopes(server: LocalServer) -> None:
    reader = dgm.create_key(comment="reader", scopes=["usage:read"], **_opts(server))
    assert _listen(server, f"Token {reader.secret}").status_code == 401  # cannot transcribe
    assert len(dgm.requests(**_opts(server, reader.secret))) == 0  # may read the log
    with pytest.raises(AuthenticationError, match="scope") as info:
        dgm.keys(**_opts(server, reader.secret))
    assert info.value.status_code == 403
    with pytest.raises(AuthenticationError):  # only member (or higher) may grant tokens
        dgm.grant_token(**_opts(server, reader.secret))


def test_an_open_server_refuses_a_deleted_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPGRAM_BASE_URL", raising=False)
    with LocalServer() as server:
        opts = {"api_key": "f" * 40, "base_url": server.url}  # any key is the owner of an open server
        key = dgm.create_key(comment="x", **opts)
        assert _listen(server, f"Token {key.secret}").status_code == 200
        dgm.delete_key(key_id=key.api_key_id, **opts)
        assert _listen(server, f"Token {key.secret}").status_code == 401
        assert _listen(server, f"Token {'e' * 40}").status_code == 200


# --------------------------------------------------------------------------- end to end: tokens


def test_a_granted_token_works_then_expires(server: LocalServer) -> None:
    token = dgm.grant_token(ttl=0.5, **_opts(server))
    assert token.access_token not in repr(token) and token.expires_in == 0.5
    with pytest.raises(TypeError):
        pickle.dumps(token)
    payload = token.access_token.split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=="))["scope"] == "usage:write"
    assert _listen(server, f"Bearer {token.access_token}").status_code == 200
    with pytest.raises(AuthenticationError) as info:  # tokens do not work on the Manage API
        dgm.projects(access_token=token.access_token, base_url=server.url)
    assert info.value.status_code == 403
    while not token.expired:
        time.sleep(0.05)
    time.sleep(0.05)
    assert _listen(server, f"Bearer {token.access_token}").status_code == 401


# --------------------------------------------------------------------------- end to end: requests, usage, balances


def test_requests_are_billed_from_the_price_table(server: LocalServer) -> None:
    assert _listen(server, f"Token {KEY}", 3.0, "?model=nova-3-medical").status_code == 200
    assert _listen(server, f"Token {KEY}", 1.5).status_code == 200
    assert _listen(server, f"Token {KEY}", 1.0, "?model=nova-3&bogus_option=1").status_code == 400
    assert _listen(server, "Token wrong").status_code == 401  # not the project's: not in its log
    speak = httpx.post(f"{server.url}/v1/speak?model=aura-2-thalia-en", json={"text": "Hello there."},
                       headers={"Authorization": f"Token {KEY}"}, trust_env=False)  # fmt: skip
    assert speak.status_code == 200

    df = dgm.requests(**_opts(server))
    assert len(df) == 4 and df["usd"].dtype == MONEY
    by = df.set_index("path")
    medical = by.loc["/v1/listen?model=nova-3-medical"]
    assert medical["duration"] == 3.0 and medical["usd"] == Decimal("3") / 60 * Decimal(
        str(PRICES["nova-3-medical"])
    )
    assert by.loc["/v1/listen"]["usd"] == Decimal("1.5") / 60 * Decimal(str(PRICES["nova-3"]))
    assert by.loc["/v1/listen?model=nova-3&bogus_option=1"]["usd"] == 0
    spoken = by.loc["/v1/speak?model=aura-2-thalia-en"]
    assert spoken["characters"] == len("Hello there.")
    rate = price_per_1k_characters("aura-2-thalia-en")
    assert spoken["usd"] == money(Decimal(len("Hello there.")) * Decimal(str(rate)) / 1000)

    assert len(dgm.requests(status="failed", **_opts(server))) == 1
    assert len(dgm.requests(start="2000-01-01", end="2000-01-02", **_opts(server))) == 0
    usage = dgm.usage(**_opts(server))
    assert usage["requests"].sum() == 4 and usage["hours"].sum() == pytest.approx(4.5 / 3600)
    balance = dgm.balances(**_opts(server))["amount"].iloc[0]
    assert balance == STARTING_BALANCE - df["usd"].sum()


def test_reconcile_matches_the_billed_amounts(server: LocalServer, tmp_path: Path) -> None:
    run = dgtools.transcribe(DATA, api_key=KEY, base_url=server.url, store=tmp_path / "store", progress=False)
    assert run.summary()["transcribed"] == 4
    df = run.reconcile(**_opts(server))
    assert df.columns.tolist() == ["file_id", "request_id", "estimated", "billed", "difference"]
    assert (df["billed"].dtype, df["estimated"].dtype) == (MONEY, MONEY)
    log = dgm.requests(**_opts(server)).set_index("request_id")
    for row in df.itertuples():
        assert row.billed == log.loc[row.request_id, "usd"]
        assert row.billed == cost_of_listen(log.loc[row.request_id, "duration"], "nova-3")  # the price table
        assert abs(row.difference) < Decimal("1e-8")  # the estimate, before Deepgram's rounding
    again = run.reconcile(billed=dgm.requests(**_opts(server)))  # offline, from a saved frame
    assert again["billed"].tolist() == df["billed"].tolist()


# --------------------------------------------------------------------------- the command line


def test_keys_create_prints_the_secret_once_on_stdout(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    base = ["--base-url", server.url]
    assert (
        main(["keys", "create", "--comment", "cli", "--scope", "usage:write", "--expires-in", "600", *base])
        == 0
    )
    out, err = capsys.readouterr()
    secret = out.strip()
    assert len(secret) == 40 and out == secret + "\n"
    assert "not shown again" in err and secret not in err
    assert _listen(server, f"Token {secret}").status_code == 200

    assert main(["keys", "list", *base]) == 0
    out, err = capsys.readouterr()
    assert "cli" in out and secret not in out + err
    (kid,) = [line.split()[0] for line in out.splitlines() if " cli " in line]
    assert main(["keys", "delete", kid, *base]) == 0
    assert _listen(server, f"Token {secret}").status_code == 401

    assert main(["usage", *base]) == 0
    out, _ = capsys.readouterr()
    assert "hours" in out and "requests" in out
    assert main(["usage", "--requests", "--start", "2000-01-01", *base]) == 0
    out, _ = capsys.readouterr()
    assert "total: 1 request(s)" in out and secret not in out
    assert main(["keys", "delete", "no-such-key", *base]) == 1
    assert "404" in capsys.readouterr().err


def test_every_keys_action_has_help() -> None:
    import argparse

    from dgtools.cli import build_parser

    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    (actions,) = (a for a in sub.choices["keys"]._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(actions.choices) == ["create", "delete", "list"]
    for name, parser in actions.choices.items():
        assert parser.description, name
        for action in parser._actions:
            assert isinstance(action, argparse._HelpAction) or action.help, (name, action.dest)
