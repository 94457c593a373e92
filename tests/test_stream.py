"""``dgtools.stream`` end to end against ``dgtools serve``'s WebSocket ``/v1/listen``."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import dgtools
from dgtools.live import StreamDataError, StreamTimeoutError
from dgtools.server import LocalServer

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
KEY = "feedfacefeedfacefeedfacefeedfacefeedface"  # sentinel: must appear in no captured file


@pytest.fixture(scope="module")
def server() -> LocalServer:
    with LocalServer(api_keys={KEY}) as s:
        yield s


def samples(name: str) -> tuple[bytes, int, int]:
    with wave.open(str(AUDIO / name)) as w:
        return w.readframes(w.getnframes()), w.getframerate(), w.getnchannels()


def test_a_wav_file_streams_as_linear16_and_every_message_is_captured(
    server: LocalServer, tmp_path: Path
) -> None:
    run = dgtools.stream(
        AUDIO / "one_speaker.wav", store=tmp_path, realtime=0, api_key=KEY, base_url=server.url,
        interim_results=True, punctuate=True,
    )  # fmt: skip
    pcm, rate, channels = samples("one_speaker.wav")
    assert run.audio_seconds == pytest.approx(len(pcm) / (2 * rate * channels))
    kinds = [m["type"] for m in run.messages]
    assert kinds[-1] == "Metadata" and "Results" in kinds
    meta = run.messages[-1]
    assert meta["sha256"] == hashlib.sha256(pcm).hexdigest()  # the samples, sent as linear16
    assert meta["duration"] == pytest.approx(run.audio_seconds, abs=0.01)
    finals = run.finals
    assert any(not m["is_final"] for m in run.messages if m["type"] == "Results")  # interims too
    spans = [(m["start"], m["start"] + m["duration"]) for m in finals]
    assert spans[0][0] == 0 and all(a[1] == pytest.approx(b[0]) for a, b in itertools.pairwise(spans))
    assert spans[-1][1] == pytest.approx(run.audio_seconds, abs=0.01)  # the finals cover the audio once
    assert run.transcript and run.request_id
    lines = run.capture.read_text().splitlines()
    assert [json.loads(line) for line in lines] == run.messages  # one message per line, as received
    timing = [json.loads(line) for line in run.capture.with_suffix(".timing").read_text().splitlines()]
    assert len(timing) == len(lines) and [t["monotonic"] for t in timing] == sorted(
        t["monotonic"] for t in timing
    )
    assert all(0 <= t["audio_sent_s"] <= run.audio_seconds + 1e-6 for t in timing)
    assert KEY not in "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file()) + repr(run)
    messages = run.tables.messages
    assert len(messages) == len(run.messages)
    assert len(dgtools.to_tables(tmp_path / "streams").messages) == len(
        run.messages
    )  # the timing file is passed by


def test_raw_bytes_need_their_format_and_stream_at_real_time(server: LocalServer, tmp_path: Path) -> None:
    pcm, rate, _ = samples("one_speaker.wav")
    second = pcm[: 2 * rate]  # one second of audio
    with pytest.raises(dgtools.ConfigError, match="raw audio bytes need encoding= and sample_rate="):
        dgtools.stream(second, store=tmp_path, api_key=KEY, base_url=server.url)
    run = dgtools.stream(
        second, store=tmp_path, realtime=4.0, chunk_ms=50, api_key=KEY, base_url=server.url,
        encoding="linear16", sample_rate=rate,
    )  # fmt: skip
    assert run.audio_seconds == pytest.approx(1.0)
    assert run.wall_seconds >= 0.25 * 0.9  # paced at four times real time, not as fast as possible
    assert run.messages[-1]["type"] == "Metadata"


def test_options_are_checked_before_connecting(server: LocalServer, tmp_path: Path) -> None:
    with pytest.raises(dgtools.ConfigError, match="interim_results='yes'"):
        dgtools.stream(
            AUDIO / "silence.wav", store=tmp_path, api_key=KEY, base_url=server.url, interim_results="yes"
        )
    with pytest.raises(dgtools.ConfigError, match="diarise"):
        dgtools.stream(AUDIO / "silence.wav", store=tmp_path, api_key=KEY, base_url=server.url, diarise=True)
    assert server.stats()["streams"] == 0 or not list((tmp_path / "streams").glob("*.jsonl"))


def test_a_wrong_key_is_refused_at_the_handshake(server: LocalServer, tmp_path: Path) -> None:
    with pytest.raises(dgtools.AuthenticationError) as info:
        dgtools.stream(AUDIO / "silence.wav", store=tmp_path, api_key="0" * 40, base_url=server.url)
    assert "401" in str(info.value) and "0" * 40 not in str(info.value)


def test_bytes_that_are_not_the_declared_audio_close_1008(server: LocalServer, tmp_path: Path) -> None:
    with pytest.raises(StreamDataError, match=r"1008 DATA-0000.*encoding=linear16") as info:
        dgtools.stream(
            b"\0" * 3201, store=tmp_path, realtime=0, api_key=KEY, base_url=server.url,
            encoding="linear16", sample_rate=16000,
        )  # fmt: skip
    assert info.value.code == 1008 and info.value.request_id


def test_a_silent_stream_is_closed_1011_and_says_to_send_keepalive(tmp_path: Path) -> None:
    with (
        LocalServer(api_keys={KEY}, stream_timeout=0.5) as slow,
        pytest.raises(StreamTimeoutError, match=r"1011 NET-0001.*KeepAlive"),
    ):
        dgtools.stream(  # 1.5 s of audio sent at a tenth of real time: a frame every 1 s of wall time
            b"\0" * 48_000, store=tmp_path, realtime=0.1, chunk_ms=100, api_key=KEY, base_url=slow.url,
            encoding="linear16", sample_rate=16000, keepalive=30.0,
        )  # fmt: skip


def test_the_command_line_prints_finals_as_they_arrive_and_writes_the_tables(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dgtools.cli import main

    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    argv = ["stream", str(AUDIO / "two_voices.wav"), "--realtime", "0", "--interim-results", "--punctuate",
            "--base-url", server.url, "--store", str(tmp_path / "store"), "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    finals = [line for line in out if line.startswith("[")]
    assert len(finals) >= 10 and all(line[1:].split("]")[0].count("-") == 1 for line in finals)
    assert re.fullmatch(
        r"\d+ messages \(\d+ finals\) for [\d.]+ audio s in [\d.]+ s; captured in .*", out[-1]
    )
    assert (tmp_path / "out" / "messages.parquet").is_file()
    assert main([*argv[:2], "--option", "interim_results=maybe", "--base-url", server.url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interim_results='maybe'" in err  # one line, before connecting


def test_a_dropped_stream_is_a_transport_error_and_keeps_what_arrived(tmp_path: Path) -> None:
    from dgtools.server import Faults

    with LocalServer(api_keys={KEY}, faults=Faults(stream_drop_after=2.0)) as dropping:
        with pytest.raises(
            dgtools.TransportError, match=r"dropped without a close frame.*so far are in"
        ) as info:
            dgtools.stream(
                AUDIO / "two_voices.wav", store=tmp_path, realtime=8, api_key=KEY, base_url=dropping.url
            )
        dropped = dropping.stats()["dropped"]
    assert dropped == 1
    (capture,) = (tmp_path / "streams").glob("*.jsonl")
    assert str(capture) in str(info.value)
    kept = [json.loads(line) for line in capture.read_text().splitlines()]
    assert kept and all(m["type"] == "Results" for m in kept)  # what arrived before the drop; no Metadata


def test_an_async_source_that_waits_is_kept_alive_and_its_audio_is_all_transcribed(tmp_path: Path) -> None:
    """A microphone-like source goes quiet for longer than the server's timeout: KeepAlive holds the socket."""
    import asyncio

    pcm, rate, _ = samples("one_speaker.wav")
    second = 2 * rate

    async def microphone() -> AsyncIterator[bytes]:
        for i in range(3):
            yield pcm[i * second : (i + 1) * second]
            await asyncio.sleep(1.5)  # nothing to send for 1.5 s: the server's timeout here is 0.75 s

    with LocalServer(api_keys={KEY}, stream_timeout=0.75) as strict:
        run = dgtools.stream(
            microphone(), store=tmp_path, realtime=0, api_key=KEY, base_url=strict.url,
            encoding="linear16", sample_rate=rate, keepalive=0.25,
        )  # fmt: skip
    assert run.audio_seconds == pytest.approx(3.0)
    assert run.messages[-1]["type"] == "Metadata" and run.messages[-1]["duration"] == pytest.approx(3.0)
    assert run.finals[-1]["start"] + run.finals[-1]["duration"] == pytest.approx(3.0)


def test_a_sync_iterator_is_read_in_a_thread_and_needs_its_format(
    server: LocalServer, tmp_path: Path
) -> None:
    pcm, rate, _ = samples("one_speaker.wav")
    chunks = [pcm[i : i + 3200] for i in range(0, 2 * rate, 3200)]  # one second in 0.1 s chunks
    with pytest.raises(
        dgtools.ConfigError, match="an iterator of audio chunks need encoding= and sample_rate="
    ):
        dgtools.stream(iter(chunks), store=tmp_path, api_key=KEY, base_url=server.url)
    with pytest.raises(
        dgtools.ConfigError, match="source=int: give a file path, audio bytes, or an iterator"
    ):
        dgtools.stream(7, store=tmp_path, api_key=KEY, base_url=server.url)  # type: ignore[arg-type]
    run = dgtools.stream(
        iter(chunks), store=tmp_path, realtime=0, api_key=KEY, base_url=server.url,
        encoding="linear16", sample_rate=rate,
    )  # fmt: skip
    assert (
        run.audio_seconds == pytest.approx(1.0)
        and run.messages[-1]["sha256"] == hashlib.sha256(b"".join(chunks)).hexdigest()
    )
