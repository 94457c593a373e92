"""dgtools doctor and dgtools estimate, against the local server and real audio files."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from dgtools.cli import main
from dgtools.doctor import doctor, silence_wav
from dgtools.server import LocalServer

KEY = "0badc0de0badc0de0badc0de0badc0de0badc0de"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.fixture(autouse=True)
def _no_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    monkeypatch.delenv("DEEPGRAM_TOKEN", raising=False)
    monkeypatch.delenv("DEEPGRAM_BASE_URL", raising=False)


@pytest.fixture(scope="module")
def server() -> LocalServer:
    with LocalServer(api_keys=[KEY], access_tokens=[JWT]) as s:
        yield s


def test_silence_wav_is_one_second() -> None:
    import io

    with wave.open(io.BytesIO(silence_wav()), "rb") as w:
        assert w.getnframes() / w.getframerate() == 1.0


def test_doctor_all_good(server: LocalServer) -> None:
    report = doctor(api_key=KEY, base_url=server.url)
    assert report.ok, str(report)
    text = str(report)
    assert "Token from api_key= (an API key, 40 hex characters)" in text
    assert f"endpoint {server.url} answers" in text
    assert "round trip" in text and "request_id=" in text
    assert KEY not in text


def test_doctor_tells_a_token_bearer_mixup_apart(server: LocalServer) -> None:
    # a JWT given as an API key: rejected as Token, accepted as Bearer
    report = doctor(api_key=JWT, base_url=server.url)
    assert not report.ok
    text = str(report)
    assert "looks like" in text or "wrong scheme" in text
    assert "accepted as Bearer" in text and "DEEPGRAM_TOKEN" in text
    assert JWT not in text


def test_doctor_wrong_key_and_no_key(server: LocalServer) -> None:
    report = doctor(api_key="f" * 40, base_url=server.url)
    assert not report.ok and "rejected as Token and as Bearer" in str(report)
    report = doctor(base_url=server.url)
    assert not report.ok and "no Deepgram credentials" in str(report)


def test_doctor_unreachable_endpoint() -> None:
    report = doctor(api_key=KEY, base_url="http://127.0.0.1:9")  # the discard port: nothing listens
    assert not report.ok and "does not answer" in str(report)


def test_doctor_cli_exit_codes(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    assert main(["doctor", "--base-url", server.url]) == 0
    out = capsys.readouterr().out
    assert "ok    /v1/listen round trip" in out and KEY not in out
    monkeypatch.setenv("DEEPGRAM_API_KEY", "e" * 40)
    assert main(["doctor", "--base-url", server.url]) == 1


def test_estimate_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i, seconds in enumerate((30, 90)):
        with wave.open(str(tmp_path / f"{i}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0" * 8000 * seconds)
    (tmp_path / "notes.txt").write_text("x")
    assert main(["estimate", str(tmp_path), "--model", "nova-3-medical"]) == 0
    captured = capsys.readouterr()
    assert "2 file(s), 2.0 audio minutes with nova-3-medical: $0.0118 at $0.0059/min" in captured.out
    assert "notes.txt" in captured.err and "not an audio file" in captured.err
