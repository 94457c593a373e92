"""dgtools.batch.credentials: transcribe(temporary_key=...), token_ttl= renewal, an expired token stops the batch.

End to end against the local server, whose keys are listed by its Manage API and whose tokens
(``/v1/auth/grant``) expire after their ttl.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dgtools
import dgtools.manage as dgm
from dgtools.batch.credentials import RenewedToken, expired_token, key_lifetime
from dgtools.exceptions import ConfigError, DGToolsWarning, TransportError
from dgtools.server import Faults
from dgtools.server.testing import LocalServer

KEY = "c3d4" * 10


def _wav(seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


def _audio(folder: Path, n: int) -> Path:
    """``n`` different short WAV files (different lengths: no two are duplicates)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"f{i:02d}.wav").write_bytes(_wav(0.5 + 0.1 * i))
    return folder


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPGRAM_API_KEY", "DEEPGRAM_TOKEN", "DEEPGRAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(api_keys=[KEY]) as s:
        yield s


@pytest.fixture
def slow() -> Iterator[LocalServer]:
    """A server taking 0.3 s per request: a batch of a few files outlives a 1 s token."""
    with LocalServer(api_keys=[KEY], faults=Faults(latency=0.3)) as s:
        yield s


class _Spy:
    """Records the keys create_key returns (to look for their secrets) and the ids deleted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.created: list[dgm.CreatedKey] = []
        self.deleted: list[str] = []
        create, delete = dgm.Manage.create_key, dgm.Manage.delete_key

        def spy_create(m: dgm.Manage, *args: Any, **kwargs: Any) -> dgm.CreatedKey:
            key = create(m, *args, **kwargs)
            self.created.append(key)
            return key

        def spy_delete(m: dgm.Manage, project: str | None = None, key_id: str = "") -> None:
            delete(m, project, key_id)
            self.deleted.append(key_id)

        monkeypatch.setattr(dgm.Manage, "create_key", spy_create)
        monkeypatch.setattr(dgm.Manage, "delete_key", spy_delete)


def _key_ids(server: LocalServer) -> set[str]:
    return set(dgm.keys(api_key=KEY, base_url=server.url)["api_key_id"])


def test_a_temporary_key_sends_every_request_and_is_deleted_after_the_run(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    spy = _Spy(monkeypatch)
    before = _key_ids(server)
    run = dgtools.transcribe(_audio(tmp_path / "audio", 3), api_key=KEY, base_url=server.url, temporary_key=True,
                             store=tmp_path / "store", progress=False)  # fmt: skip
    assert run.summary()["transcribed"] == 3
    [key] = spy.created
    assert key.scopes == ("usage:write",) and key.expiration_date is not None
    assert spy.deleted == [key.api_key_id]
    assert _key_ids(server) == before  # gone after the run

    log = dgm.requests(api_key=KEY, base_url=server.url, endpoint="listen")
    assert set(log["api_key_id"]) == {key.api_key_id}  # every request went with the temporary key

    secret = key.secret
    shown = [repr(run), str(run.summary()), run.failures.to_string(), caplog.text, *run.warnings]
    assert all(secret not in s for s in shown)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_temporary_key_is_deleted_when_the_run_fails_partway(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _Spy(monkeypatch)
    before = _key_ids(server)

    async def boom(self: Any, jobs: Any) -> None:
        assert _key_ids(server) - before == {spy.created[0].api_key_id}  # listed while the run sends
        raise RuntimeError("boom")

    monkeypatch.setattr("dgtools.batch.runner.SendLoop.drive", boom)
    with pytest.raises(RuntimeError, match="boom"):
        dgtools.transcribe(_audio(tmp_path / "audio", 2), api_key=KEY, base_url=server.url, temporary_key=True,
                           store=tmp_path / "store", progress=False)  # fmt: skip
    assert len(spy.created) == 1 and spy.deleted == [spy.created[0].api_key_id]
    assert _key_ids(server) == before


def test_a_key_that_cannot_be_deleted_warns_once_naming_it(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _Spy(monkeypatch)

    def unreachable(m: dgm.Manage, project: str | None = None, key_id: str = "") -> None:
        raise TransportError("DELETE got no answer: ConnectError", path="DELETE")

    monkeypatch.setattr(dgm.Manage, "delete_key", unreachable)
    with pytest.warns(DGToolsWarning, match="expires by itself") as caught:
        run = dgtools.transcribe(_audio(tmp_path / "audio", 1), api_key=KEY, base_url=server.url,
                                 temporary_key=600, store=tmp_path / "store", progress=False)  # fmt: skip
    [key] = spy.created
    assert len(caught) == 1 and key.api_key_id in str(caught[0].message)
    assert [w for w in run.warnings if key.api_key_id in w] and key.secret not in str(run.warnings)
    assert (key.expiration_date - key.expiration_date.now(key.expiration_date.tzinfo)).total_seconds() <= 600


def test_minting_is_refused_where_it_cannot_work(tmp_path: Path) -> None:
    audio = _audio(tmp_path / "audio", 1)
    with pytest.raises(ConfigError, match="engine='deepgram'"):
        dgtools.transcribe(audio, engine="local", temporary_key=True, store=tmp_path / "s", progress=False)
    with pytest.raises(ConfigError, match="not both"):
        dgtools.transcribe(audio, api_key=KEY, temporary_key=True, token_ttl=30, store=tmp_path / "s")
    with pytest.raises(ConfigError, match="positive number"):
        dgtools.transcribe(audio, api_key=KEY, token_ttl=-1, store=tmp_path / "s")


def test_a_token_cannot_mint(server: LocalServer, tmp_path: Path) -> None:
    token = dgm.grant_token(ttl=30, api_key=KEY, base_url=server.url)
    with pytest.raises(ConfigError, match="needs an API key"):
        dgtools.transcribe(_audio(tmp_path / "audio", 1), access_token=token.access_token, base_url=server.url,
                           temporary_key=True, store=tmp_path / "store", progress=False)  # fmt: skip


def test_key_lifetime_spreads_the_audio_over_the_concurrency() -> None:
    class J:
        def __init__(self, duration: float | None) -> None:
            self.duration = duration

    assert key_lifetime([J(3600.0), J(3600.0)], cap=2) == 900 + 3600  # type: ignore[list-item]
    assert key_lifetime([J(None)], cap=1) == 900 + 600  # type: ignore[list-item]


# --------------------------------------------------------------------------- tokens


def test_a_batch_longer_than_a_token_renews_it(slow: LocalServer, tmp_path: Path) -> None:
    run = dgtools.transcribe(_audio(tmp_path / "audio", 8), api_key=KEY, base_url=slow.url, token_ttl=1,
                             concurrency=1, store=tmp_path / "store", progress=False)  # fmt: skip
    assert run.summary()["transcribed"] == 8, run.failures
    assert run.stopped is None
    log = dgm.requests(api_key=KEY, base_url=slow.url, endpoint="listen")
    assert set(log["api_key_id"]) == {"temporary-token"} and len(log) == 8


def test_a_user_token_that_expires_mid_batch_stops_it_with_the_reason(
    slow: LocalServer, tmp_path: Path
) -> None:
    token = dgm.grant_token(ttl=2, api_key=KEY, base_url=slow.url)
    run = dgtools.transcribe(_audio(tmp_path / "audio", 12), access_token=token.access_token, base_url=slow.url,
                             concurrency=1, store=tmp_path / "store", progress=False)  # fmt: skip
    counts = run.summary()
    assert 0 < counts["transcribed"] < 12
    assert run.stopped is not None
    assert "expired" in run.stopped and "lived 2 s" in run.stopped and "token_ttl" in run.stopped
    assert token.access_token not in run.stopped
    failed = run.failures
    assert len(failed) == 12 - counts["transcribed"]
    assert failed["advice"].str.contains("API key").all()


def test_expired_token_reads_only_jwt_bearer_tokens() -> None:
    def jwt(**claims: int) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"eyJhbGciOiJIUzI1NiJ9.{body}.c2lnbmF0dXJlAAAAAAAA"

    now = time.time()
    from dgtools.api import Credentials

    assert expired_token(Credentials("Token", "f" * 40, "api_key=")) is None
    assert expired_token(Credentials("Bearer", "not-a-jwt-token-at-all", "access_token=")) is None
    assert expired_token(Credentials("Bearer", jwt(iat=int(now), exp=int(now) + 60), "access_token=")) is None
    said = expired_token(Credentials("Bearer", jwt(iat=int(now) - 40, exp=int(now) - 10), "DEEPGRAM_TOKEN"))
    assert said is not None and "DEEPGRAM_TOKEN" in said and "lived 30 s" in said
    renewed = RenewedToken(jwt(iat=int(now) - 40, exp=int(now) - 10), 30)
    assert "could renew" in (expired_token(renewed) or "") and "***" in repr(renewed)


def test_the_command_line_flag_creates_and_deletes_the_key(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dgtools.cli import main

    spy = _Spy(monkeypatch)
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    before = _key_ids(server)
    args = ["transcribe", str(_audio(tmp_path / "audio", 2)), "--temporary-key", "--base-url", server.url,
            "--store", str(tmp_path / "store"), "--out", str(tmp_path / "out"), "--no-progress", "--no-plots", "-y"]  # fmt: skip
    assert main(args) == 0
    [key] = spy.created
    assert spy.deleted == [key.api_key_id] and _key_ids(server) == before
    out = capsys.readouterr()
    assert key.secret not in out.out + out.err


def test_a_temporary_key_is_deleted_when_the_run_is_cancelled(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Ctrl-C does (the sync wrapper cancels the run's task): the key is deleted all the same."""
    spy = _Spy(monkeypatch)
    sending = asyncio.Event()

    async def hang(self: Any, jobs: Any) -> None:
        sending.set()
        await asyncio.sleep(60)

    monkeypatch.setattr("dgtools.batch.runner.SendLoop.drive", hang)

    async def main() -> None:
        run = dgtools.atranscribe(_audio(tmp_path / "audio", 2), api_key=KEY, base_url=server.url,
                                  temporary_key=True, store=tmp_path / "store", progress=False)  # fmt: skip
        task = asyncio.ensure_future(run)
        await sending.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    before = _key_ids(server)
    asyncio.run(main())
    assert len(spy.created) == 1 and spy.deleted == [spy.created[0].api_key_id]
    assert _key_ids(server) == before - {spy.created[0].api_key_id}


def test_no_key_is_created_when_the_budget_stops_the_run(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _Spy(monkeypatch)
    with pytest.raises(dgtools.BudgetError):
        dgtools.transcribe(_audio(tmp_path / "audio", 2), api_key=KEY, base_url=server.url, temporary_key=True,
                           budget=1e-9, store=tmp_path / "store", progress=False)  # fmt: skip
    assert spy.created == [] and spy.deleted == []
