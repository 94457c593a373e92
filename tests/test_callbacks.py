"""Callback runs end to end: ``transcribe(callback=...)``, the local server calling back, the receiver."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tones import wav

import dgtools
from dgtools.batch.callbacks import check_callback_url
from dgtools.callbacks import create_receiver
from dgtools.exceptions import ConfigError
from dgtools.server import Faults, LocalServer
from dgtools.server.callbacks import CallbackLog
from dgtools.store import Pending, Store, store_sources

pytest.importorskip("uvicorn")

KEY = "callback-test-key-0123456789abcdef01234567"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _audio(folder: Path, n: int) -> Path:
    for i in range(n):
        wav(folder / f"call-{i:02d}.wav", seconds=0.5 + i / 10, tone=i + 1)
    return folder


def _log(server: LocalServer) -> CallbackLog:
    log = server.app.state.dgtools.callbacks
    assert isinstance(log, CallbackLog)
    return log


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --------------------------------------------------------------------------- the URL checks


def test_callback_urls_deepgram_cannot_call_are_refused() -> None:
    assert check_callback_url("https://hooks.example.com/dg") == "POST"
    assert check_callback_url("https://hooks.example.com/dg", "put") == "PUT"
    assert check_callback_url("http://127.0.0.1:9/hook", base_url="http://127.0.0.1:8765") == "POST"
    assert check_callback_url("https://localhost/hook", base_url="http://localhost:8765") == "POST"
    with pytest.raises(ConfigError, match=r"plain http on another machine.*HTTPS"):
        check_callback_url("http://hooks.example.com/dg")
    with pytest.raises(ConfigError, match=r"Deepgram cannot reach.*public HTTPS"):
        check_callback_url("http://127.0.0.1:9/hook")  # to Deepgram itself: never fires
    with pytest.raises(ConfigError, match="Deepgram cannot reach"):
        check_callback_url("https://[::1]/hook", base_url="https://api.deepgram.com")
    with pytest.raises(ConfigError, match="not an http"):
        check_callback_url("ftp://hooks.example.com/dg")
    with pytest.raises(ConfigError, match="callback_method='get'"):
        check_callback_url("https://hooks.example.com/dg", "get")


def test_transcribe_refuses_a_bad_callback_before_sending(tmp_path: Path) -> None:
    folder = _audio(tmp_path / "in", 1)
    with pytest.raises(ConfigError, match="HTTPS"):
        dgtools.transcribe(folder, store=tmp_path / "st", api_key=KEY, callback="http://example.com/hook")
    with pytest.raises(ConfigError, match="engine='local'"):
        dgtools.transcribe(folder, store=tmp_path / "st", engine="local", callback="https://example.com/h")
    with pytest.raises(ConfigError, match="would be gone when Deepgram calls back"):
        dgtools.transcribe(
            folder, store=tmp_path / "st", api_key=KEY, callback="https://example.com/h", temporary_key=True
        )
    assert not (tmp_path / "st" / "pending").exists()


# --------------------------------------------------------------------------- end to end


def test_callback_run_of_20_files_end_to_end(tmp_path: Path) -> None:
    folder = _audio(tmp_path / "in", 20)
    st = Store(tmp_path / "st")
    faults = Faults(callback_twice=2, callback_unknown=1, callback_retry_base=0.05)
    receiver = create_receiver(st)
    with LocalServer(faults=faults) as server, LocalServer(app=receiver) as rx:
        run = dgtools.transcribe(
            folder, store=st, base_url=server.url, api_key=KEY, callback=f"{rx.url}/hook", progress=False
        )
        assert {r.status for r in run.results} <= {"submitted", "transcribed"}
        assert len(run.pending) + sum(r.status == "transcribed" for r in run.results) == 20
        assert run.failures.empty
        log = _log(server)
        _wait(lambda: log.accepted == 20 and not log.tasks)
        summary = receiver.state.dgtools_receiver.summary
        assert (summary.stored, summary.duplicates, summary.refused) == (20, 2, 1)
        assert summary.refusals[0].startswith("404: request_id=") and "not pending" in summary.refusals[0]
        assert log.delivered == 22 and log.failed == 1  # the unknown one was refused: not retried
        counts = server.stats()["callbacks"]  # what anyone can read from GET /_dgtools/stats
        assert {k: counts[k] for k in ("accepted", "delivered", "failed", "running")} == {
            "accepted": 20,
            "delivered": 22,
            "failed": 1,
            "running": 0,
        }
        assert counts["attempts"] >= 23  # every delivery, the refused copy, and any retry
        assert run.pending.empty
        assert {r.status for r in run.results} == {"transcribed"}
        assert sorted(run.tables.requests["file_id"]) == sorted(r.file_id for r in run.results)
        assert Pending(st).records() == []
        assert len(store_sources(st)) == 20  # each stored and indexed once
        assert len(dgtools.to_tables(st.root / "responses").requests) == 20

        requests = server.stats()["requests"]
        again = dgtools.transcribe(
            folder, store=st, base_url=server.url, api_key=KEY, callback=f"{rx.url}/hook", progress=False
        )
        assert {r.status for r in again.results} == {"stored"}
        assert server.stats()["requests"] == requests and log.accepted == 20  # nothing sent
        # the same files without callback: the same store keys, nothing sent either
        plain = dgtools.transcribe(folder, store=st, base_url=server.url, api_key=KEY, progress=False)
        assert {r.status for r in plain.results} == {"stored"}


def test_the_server_retries_until_the_receiver_is_up(tmp_path: Path) -> None:
    folder = _audio(tmp_path / "in", 3)
    port = _free_port()
    faults = Faults(callback_retry_base=0.1)
    with LocalServer(faults=faults) as server:
        run = dgtools.transcribe(
            folder,
            store=tmp_path / "st",
            base_url=server.url,
            api_key=KEY,
            callback=f"http://127.0.0.1:{port}/hook",
            callback_method="put",
            progress=False,
        )
        assert len(run.pending) == 3 and {r.status for r in run.results} == {"submitted"}
        log = _log(server)
        _wait(lambda: log.attempts >= 6)  # every first attempt was refused: nobody listens yet
        assert log.delivered == 0
        summary = dgtools.collect_callbacks(tmp_path / "st", port=port, timeout=30)
        assert (summary.stored, summary.pending, summary.timed_out) == (3, 0, False)
        assert log.delivered == 3
    assert run.pending.empty
    assert len(run.tables.requests) == 3


def test_pending_files_are_not_resubmitted_unless_asked(tmp_path: Path) -> None:
    folder = _audio(tmp_path / "in", 2)
    hook = f"http://127.0.0.1:{_free_port()}/hook"  # nobody listens
    with LocalServer(faults=Faults(callback_retry_base=1000)) as server:
        first = dgtools.transcribe(
            folder, store=tmp_path / "st", base_url=server.url, api_key=KEY, callback=hook, progress=False
        )
        ids = set(first.pending["request_id"])
        assert len(ids) == 2
        before = first.pending["submitted_at"].tolist()
        assert all(isinstance(t, str) and t.endswith("Z") for t in before)

        second = dgtools.transcribe(
            folder, store=tmp_path / "st", base_url=server.url, api_key=KEY, callback=hook, progress=False
        )
        assert server.stats()["requests"] == 2  # not sent again
        assert set(second.pending["request_id"]) == ids
        assert all("not sent again" in (r.message or "") for r in second.results)

        third = dgtools.transcribe(
            folder,
            store=tmp_path / "st",
            base_url=server.url,
            api_key=KEY,
            callback=hook,
            resubmit_pending=True,
            progress=False,
        )
        assert server.stats()["requests"] == 4
        new_ids = set(third.pending["request_id"])
        assert not new_ids & ids
        records = Pending(Store(tmp_path / "st")).records()
        assert {r["request_id"] for r in records} == new_ids
        assert {i for r in records for i in r["earlier_request_ids"]} == ids
        assert (
            Pending(Store(tmp_path / "st")).find(next(iter(ids))) is not None
        )  # a late delivery still counts


def test_a_402_stops_the_submissions_and_a_rerun_submits_only_the_rest(tmp_path: Path) -> None:
    folder = _audio(tmp_path / "in", 6)
    hook = f"http://127.0.0.1:{_free_port()}/hook"  # nobody listens: the submissions are what counts here
    with LocalServer(faults=Faults(payment_after=2, callback_retry_base=1000)) as server:
        run = dgtools.transcribe(
            folder, store=tmp_path / "st", base_url=server.url, api_key=KEY, callback=hook, concurrency=1,
            progress=False,
        )  # fmt: skip
        stats = server.stats()
    assert stats["by_status"] == {"200": 2, "402": 1}  # before: all 6 were sent, 4 of them to get a 402
    assert sorted(r.status for r in run.results) == [
        "failed",
        "not sent",
        "not sent",
        "not sent",
        "submitted",
        "submitted",
    ]
    assert "credits" in (run.stopped or "")
    with LocalServer(faults=Faults(callback_retry_base=1000)) as fresh:
        rerun = dgtools.transcribe(
            folder, store=tmp_path / "st", base_url=fresh.url, api_key=KEY, callback=hook, progress=False
        )
        assert fresh.stats()["requests"] == 4  # the 2 pending ones are not sent again
    assert sorted(r.status for r in rerun.results) == ["submitted"] * 6


def test_listen_with_callback_answers_a_request_id_at_once(tmp_path: Path) -> None:
    audio = wav(tmp_path / "a.wav").read_bytes()
    with LocalServer(faults=Faults(callback_retry_base=1000)) as server:
        r = httpx.post(
            f"{server.url}/v1/listen",
            params={"callback": "http://127.0.0.1:9/hook", "model": "nova-3"},
            content=audio,
            headers={"Authorization": "Token whatever", "Content-Type": "audio/wav"},
        )
        assert r.status_code == 200
        assert r.json() == {"request_id": r.headers["dg-request-id"]}
        assert _log(server).accepted == 1


# --------------------------------------------------------------------------- the receiver's checks


def test_the_receiver_refuses_what_it_cannot_match(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    st = Store(tmp_path / "st")
    key = Store.key("ab" * 32, "0123456789abcdef")
    Pending(st).add(key, request_id="rid-1", file="a.wav", file_id="a.wav", options="")
    body = {
        "metadata": {"request_id": "rid-1", "sha256": "ab" * 32, "duration": 1.0, "channels": 1},
        "results": {"channels": [{"alternatives": [{"transcript": "hi", "confidence": 0.9, "words": []}]}]},
    }
    with TestClient(create_receiver(st, key_id="key-a")) as client:
        assert client.post("/", content=b"not json").status_code == 400
        assert client.post("/", json={"metadata": {}}).status_code == 400
        unknown = {**body, "metadata": {**body["metadata"], "request_id": "nobody"}}
        assert client.post("/", json=unknown).status_code == 404
        assert client.post("/", json=body, headers={"dg-token": "key-b"}).status_code == 403
        assert client.post("/", json={"metadata": {"request_id": "rid-1"}}).status_code == 422
        other = {**body, "metadata": {**body["metadata"], "sha256": "cd" * 32}}
        assert client.post("/", json=other).status_code == 422
        assert not st.has(key)
        r = client.put("/any/path", json=body, headers={"dg-token": "key-a"})
        assert r.status_code == 200 and r.json()["stored"] is True
        assert client.post("/", json=body).json()["duplicate"] is True
    assert json.loads(st.read_bytes(key))["metadata"]["request_id"] == "rid-1"
    assert Pending(st).records() == [] and Pending(st).find_done("rid-1") is not None
    assert [e["file_id"] for e in st.entries()] == ["a.wav"]


def test_collect_callbacks_returns_at_once_when_nothing_is_pending(tmp_path: Path) -> None:
    summary = dgtools.collect_callbacks(tmp_path / "st", port=_free_port())
    assert (summary.stored, summary.pending, summary.timed_out) == (0, 0, False)
    assert str(summary) == "0 stored, 0 duplicate(s), 0 refused, 0 still pending (done)"


def test_collect_callbacks_times_out_with_what_is_still_pending(tmp_path: Path) -> None:
    st = Store(tmp_path / "st")
    Pending(st).add(
        Store.key("ab" * 32, "0123456789abcdef"), request_id="r", file="a", file_id="a", options=""
    )
    summary = dgtools.collect_callbacks(st, port=_free_port(), timeout=0.3)
    assert (summary.pending, summary.timed_out) == (1, True)


def test_the_receive_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dgtools.cli import main

    assert main(["receive", "--store", str(tmp_path / "st"), "--port", str(_free_port())]) == 0
    assert "0 stored" in capsys.readouterr().out
    st = Store(tmp_path / "st")
    Pending(st).add(
        Store.key("ab" * 32, "0123456789abcdef"), request_id="r", file="a", file_id="a", options=""
    )
    argv = ["receive", "--store", str(st.root), "--port", str(_free_port()), "--timeout", "0.2"]
    assert main(argv) == 1  # still pending
    assert "1 still pending (timed out)" in capsys.readouterr().out


def test_the_command_line_submits_with_a_callback_and_says_how_to_receive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dgtools.cli import main

    folder = _audio(tmp_path / "in", 2)
    hook = f"http://127.0.0.1:{_free_port()}/hook"  # nobody listens yet
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    with LocalServer(faults=Faults(callback_retry_base=1000)) as server:
        argv = ["transcribe", str(folder), "--store", str(tmp_path / "st"), "--out", str(tmp_path / "out"),
                "--base-url", server.url, "--callback", hook, "--callback-method", "put", "--no-progress"]  # fmt: skip
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert (
            "2 file(s) submitted with a callback" in out
            and f"dgtools receive --store {tmp_path / 'st'}" in out
        )
        assert main([*argv, "--resubmit-pending"]) == 0
        assert server.stats()["requests"] == 4  # submitted again only when asked
    assert (
        main(
            [
                "transcribe",
                str(folder),
                "--callback",
                "http://example.com/hook",
                "--base-url",
                "https://api.deepgram.com",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTPS" in err
