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
    assert out[0] == "engine auto: Deepgram, because a server was named (base_url=)"
    finals = [line for line in out if line.startswith("[")]
    assert len(finals) >= 10 and all(line[1:].split("]")[0].count("-") == 1 for line in finals)
    assert re.fullmatch(
        r"\d+ messages \(\d+ finals\) for [\d.]+ audio s in [\d.]+ s; captured in .*", out[-1]
    )
    assert (tmp_path / "out" / "messages.parquet").is_file()
    assert main([*argv[:2], "--option", "interim_results=maybe", "--base-url", server.url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interim_results='maybe'" in err  # one line, before connecting


def test_a_stream_that_keeps_dropping_is_a_transport_error_and_keeps_what_arrived(tmp_path: Path) -> None:
    from dgtools.server import Faults

    with LocalServer(api_keys={KEY}, faults=Faults(stream_drop_after=2.0)) as dropping:
        with pytest.raises(
            dgtools.TransportError,
            match=r"dropped without a close frame after 2 reconnect\(s\).*so far are in.*reconnects=",
        ) as info:
            dgtools.stream(
                AUDIO / "two_voices.wav", store=tmp_path, realtime=8, api_key=KEY, base_url=dropping.url,
                reconnects=2,
            )  # fmt: skip
        dropped = dropping.stats()["dropped"]
    assert dropped == 3  # the first socket and two reconnects
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


def test_a_dropped_socket_reconnects_resends_what_no_final_covered_and_corrects_the_times(
    tmp_path: Path,
) -> None:
    from dgtools.server import Faults

    with LocalServer(api_keys={KEY}, faults=Faults(stream_drop_after=2.0, stream_drops=1)) as flaky:
        run = dgtools.stream(
            AUDIO / "two_voices.wav", store=tmp_path, realtime=0, api_key=KEY, base_url=flaky.url,
            interim_results=True,
        )  # fmt: skip
        assert flaky.stats()["dropped"] == 1
    pcm, rate, channels = samples("two_voices.wav")
    total = len(pcm) / (2 * rate * channels)
    assert run.reconnects == 1 and len(set(run.request_ids)) == 2 and "1 reconnect(s)" in repr(run)
    timing = [json.loads(line) for line in run.capture.with_suffix(".timing").read_text().splitlines()]
    assert [t["socket"] for t in timing] == sorted(t["socket"] for t in timing) and timing[-1]["socket"] == 1
    offset = next(t["offset_s"] for t in timing if t["socket"] == 1)
    raw = [json.loads(line) for line in run.capture.read_text().splitlines()]
    first_finals = [m for m, t in zip(raw, timing, strict=True) if t["socket"] == 0 and m.get("is_final")]
    assert first_finals and 0 < offset <= 2.0
    assert offset == pytest.approx(first_finals[-1]["start"] + first_finals[-1]["duration"], abs=1e-3)
    resumed = [m for m, t in zip(raw, timing, strict=True) if t["socket"] == 1 and m["type"] == "Results"]
    assert resumed[0]["start"] == 0  # the new socket starts at 0 as received ...
    spans = [(m["start"], m["start"] + m["duration"]) for m in run.finals]  # ... and at `offset` in the run
    assert spans[0][0] == 0  # times in the run are stream times: the finals tile the audio (to a sample)
    assert all(a[1] == pytest.approx(b[0], abs=1e-4) for a, b in itertools.pairwise(spans))
    assert spans[-1][1] == pytest.approx(total, abs=0.01)  # the finals cover the audio once, in order
    assert run.messages[-1]["type"] == "Metadata" and run.messages[-1]["duration"] == pytest.approx(
        total, abs=0.01
    )
    words = [w for m in run.finals for w in m["channel"]["alternatives"][0]["words"]]
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert run.audio_seconds == pytest.approx(total)
    tables = run.tables  # the tables read the capture as received and correct its times from .timing
    finals = tables.messages[tables.messages["is_final"].fillna(False)]
    assert finals["start"].is_monotonic_increasing and finals["socket"].tolist()[-1] == 1
    assert finals["start"].tolist() == pytest.approx([m["start"] for m in run.finals])
    assert tables.words["start"].is_monotonic_increasing and len(tables.words) == len(words)
    assert tables.requests["duration"].iloc[0] == pytest.approx(total, abs=0.01)
    assert (tables.latency["latency"] >= 0).all()  # a final never arrives before its audio was sent


def test_a_failing_source_raises_its_own_error(server: LocalServer, tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield bytes(3200)
        raise OSError("microphone unplugged")

    with pytest.raises(OSError, match="microphone unplugged"):
        dgtools.stream(
            broken(), store=tmp_path, realtime=0, api_key=KEY, base_url=server.url,
            encoding="linear16", sample_rate=16000,
        )  # fmt: skip


def test_any_audio_file_is_decoded_to_linear16_unless_sent_as_a_container(
    server: LocalServer, tmp_path: Path
) -> None:
    import numpy as np
    import soundfile as sf

    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)).astype("float32")
    flac = tmp_path / "tone.flac"
    sf.write(flac, np.stack([tone, tone], axis=1), 22050)
    run = dgtools.stream(flac, store=tmp_path, realtime=0, api_key=KEY, base_url=server.url)
    assert run.audio_seconds == pytest.approx(1.0) and run.messages[-1]["channels"] == 2
    whole = dgtools.stream(flac, store=tmp_path, realtime=0, api_key=KEY, base_url=server.url, container=True)
    assert whole.messages[-1]["sha256"] == hashlib.sha256(flac.read_bytes()).hexdigest()
    (tmp_path / "noise.ogg").write_bytes(b"OggS" + bytes(100))
    with pytest.raises(dgtools.ConfigError, match=r"noise.ogg.*container=True"):
        dgtools.stream(tmp_path / "noise.ogg", store=tmp_path, api_key=KEY, base_url=server.url)


def test_without_a_key_the_stream_goes_to_an_offline_engine_on_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """engine="local": a dgtools serve with pocketsphinx starts for the stream; its words are the REST path's."""
    pytest.importorskip("pocketsphinx")
    from dgtools.cli import main

    for name in ("DEEPGRAM_API_KEY", "DEEPGRAM_TOKEN", "DEEPGRAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    run = dgtools.stream(
        AUDIO / "one_speaker.wav", store=tmp_path, realtime=0, engine="local", endpointing=False
    )
    batch = dgtools.transcribe(
        AUDIO / "one_speaker.wav", store=tmp_path / "batch", engine="local", progress=False
    )
    expected = " ".join(batch.tables.words.sort_values("start")["word"])
    assert (
        " ".join(w["word"] for m in run.finals for w in m["channel"]["alternatives"][0]["words"]) == expected
    )
    argv = ["stream", str(AUDIO / "one_speaker.wav"), "--realtime", "0", "--engine", "local",
            "--store", str(tmp_path / "cli"), "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "engine local: as asked" and any(line.startswith("[") for line in out)
    assert main([*argv, "--whisper-model", "tiny.en"]) == 1
    assert "--whisper-model is for --engine whisper, not --engine local" in capsys.readouterr().err


def test_flux_options_are_checked_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(dgtools.ConfigError, match="did you mean eot_threshold"):
        dgtools.stream(AUDIO / "one_speaker.wav", store=tmp_path, api_key=KEY, base_url="http://127.0.0.1:9",
                       model="flux-general-en", eot_treshold=0.8)  # fmt: skip
    with pytest.raises(dgtools.ConfigError, match=r"eot_threshold=1.5: Flux takes 0.5 to 0.9"):
        dgtools.stream(AUDIO / "one_speaker.wav", store=tmp_path, api_key=KEY, base_url="http://127.0.0.1:9",
                       model="flux-general-en", eot_threshold=1.5)  # fmt: skip
    with pytest.raises(dgtools.ConfigError, match="language_hint is only for model=flux-general-multi"):
        dgtools.stream(AUDIO / "one_speaker.wav", store=tmp_path, api_key=KEY, base_url="http://127.0.0.1:9",
                       model="flux-general-en", language_hint="en")  # fmt: skip
    assert not (tmp_path / "streams").exists() or not list((tmp_path / "streams").iterdir())  # nothing sent


def test_progress_shows_a_bar_of_the_audio_sent_and_the_finals(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = dgtools.stream(
        AUDIO / "one_speaker.wav", store=tmp_path, realtime=0, api_key=KEY, base_url=server.url, progress=True
    )
    err = capsys.readouterr().err
    assert (
        "streaming one_speaker.wav: 100%" in err
        and f"{run.audio_seconds:.1f}/{run.audio_seconds:.1f} audio s" in err
    )
    assert f"finals={len(run.finals)}" in err
    dgtools.stream(AUDIO / "one_speaker.wav", store=tmp_path, realtime=0, api_key=KEY, base_url=server.url)
    assert capsys.readouterr().err == ""  # None: no bar where nobody can see one (pytest captures stderr)


def test_options_of_pre_recorded_requests_only_are_refused_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dgtools.cli import main

    with pytest.raises(
        dgtools.ConfigError, match=r"summarize='v2' is an option of pre-recorded requests only"
    ):
        dgtools.stream(AUDIO / "one_speaker.wav", store=tmp_path, api_key=KEY, base_url="http://127.0.0.1:9",
                       summarize="v2")  # fmt: skip
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    argv = ["stream", str(AUDIO / "one_speaker.wav"), "--utterances", "--base-url", "http://127.0.0.1:9"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--utterances is an option of pre-recorded requests only" in err


def test_to_tables_of_a_store_reads_its_answers_and_captures_not_its_bookkeeping(
    server: LocalServer, tmp_path: Path
) -> None:
    dgtools.transcribe(
        AUDIO / "one_speaker.wav", store=tmp_path, base_url=server.url, api_key=KEY, progress=False
    )
    run = dgtools.stream(
        AUDIO / "two_voices.wav", store=tmp_path, realtime=0, base_url=server.url, api_key=KEY
    )
    assert (tmp_path / "index.jsonl").is_file()  # the store's own files are beside its answers
    tables = dgtools.to_tables(tmp_path)
    assert sorted(tables.requests["kind"].tolist()) == sorted(["prerecorded", "streaming"])
    assert len(tables.messages) == len(run.messages)


def test_a_wav_file_is_sent_from_disk_as_it_is_read(tmp_path: Path) -> None:
    import asyncio

    import numpy as np

    from dgtools.live.audio import FileAudio, audio_of, pieces

    rng = np.random.default_rng(0)
    stereo = rng.integers(-20000, 20000, size=(16000 * 3, 2)).astype("<i2")
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(stereo.tobytes())

    async def sent(audio: object) -> bytes:
        return b"".join([p async for p in pieces(audio, 3200)])  # type: ignore[arg-type]

    _, audio, declared, per_second = audio_of(path, {})
    assert isinstance(audio, FileAudio) and len(audio) == stereo.nbytes  # a region of the file, not its bytes
    assert declared == {"encoding": "linear16", "sample_rate": 16000, "channels": 2} and per_second == 64000
    assert asyncio.run(sent(audio)) == stereo.tobytes()
    _, mono, declared, per_second = audio_of(path, {}, mono=True)  # Flux: mixed down as it is read
    assert declared == {"encoding": "linear16", "sample_rate": 16000} and per_second == 32000
    expected = np.round(stereo.mean(axis=1)).astype("<i2").tobytes()
    assert asyncio.run(sent(mono)) == expected
    _, raw, declared, _ = audio_of(path, {}, container=True)  # as it is, header and all
    assert declared == {} and asyncio.run(sent(raw)) == path.read_bytes()
