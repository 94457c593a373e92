"""``dgtools speak TEXT --stream`` and ``dgtools speak - --stream`` against ``dgtools serve``'s WebSocket ``/v1/speak``.

The local server speaks each ``Flush`` with espeak-ng in 100 ms binary frames, then answers
``Flushed``; its stats count the characters it spoke and the audio bytes it sent.  Without
espeak-ng the tests that speak skip (fail under ``DGTOOLS_REQUIRE=voice``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from conftest import missing
from dgtools.cli import main
from dgtools.cli.speak_stream import StdinText, sentences
from dgtools.pricing import price_per_1k_characters
from dgtools.server import LocalServer

KEY = "5717ea175717ea175717ea175717ea175717ea17"  # sentinel: must appear in no output and no written file
REPO = Path(__file__).resolve().parents[1]
TEXT = "Please call me tomorrow. The number is five five five. Thank you!"
posix_only = pytest.mark.skipif(os.name == "nt", reason="pipes in select() and SIGINT are POSIX")


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    if shutil.which("espeak-ng") is None:
        missing("voice", "espeak-ng is not installed (apt-get install espeak-ng)")
    with LocalServer(api_keys={KEY}) as s:
        yield s


@pytest.fixture(autouse=True)
def _key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPGRAM_TOKEN", "DEEPGRAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)


def argv(server: LocalServer, tmp_path: Path, *extra: str) -> list[str]:
    return ["speak", *extra, "--stream", "--base-url", server.url, "--store", str(tmp_path / "store")]


def speak_stats(server: LocalServer) -> dict[str, int]:
    s = server.stats()["speak"]
    return {k: int(s[k]) for k in ("streams", "characters", "audio_bytes")}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after}


def capture(store: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The one stream's messages and their timing lines."""
    (jsonl,) = (store / "speak").glob("*.jsonl")
    messages = [json.loads(line) for line in jsonl.read_text().splitlines()]
    timing = [json.loads(line) for line in jsonl.with_suffix(".timing").read_text().splitlines()]
    return messages, timing


def flushed(messages: list[dict[str, Any]]) -> list[int]:
    return [m["sequence_id"] for m in messages if m["type"] == "Flushed"]


def written(folder: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("dgtools: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --------------------------------------------------------------------------- pure parts


def test_sentences_cut_after_sentence_ends_and_keep_every_character() -> None:
    assert sentences(TEXT) == ["Please call me tomorrow. ", "The number is five five five. ", "Thank you!"]
    assert sentences('He said "no!" Then 3.5 m. Done\n') == ['He said "no!" ', "Then 3.5 m. ", "Done\n"]
    assert sentences("no end") == ["no end"] and sentences("") == []


@posix_only
def test_stdin_text_gives_what_each_read_gives_and_never_a_piece_past_the_cap() -> None:
    r, w = os.pipe()
    try:
        os.write(w, b"Hello there. How")
        text = StdinText(r)
        assert [next(text), next(text)] == ["Hello there. ", "How"]  # what the pipe held, without EOF
        os.write(w, b" are you? Fine." + "é".encode()[:1])  # a character cut in two by the read
        assert [next(text), next(text)] == [" are you? ", "Fine."]
        os.write(w, "é".encode()[1:] + b"\n")
        os.close(w)
        w = -1
        assert list(text) == ["é\n"] and text.given == 33 and not text.capped
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    r, w = os.pipe()
    os.write(w, b"One. Two. Three.")
    os.close(w)
    capped = StdinText(r, cap=9)
    assert list(capped) == ["One. "] and capped.given == 5 and capped.capped  # "Two. " would make 10
    assert list(capped) == []  # it stays ended
    os.close(r)


# --------------------------------------------------------------------------- TEXT --stream


def test_text_is_spoken_sentence_by_sentence_into_a_playable_wav(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reply.wav"
    before = speak_stats(server)
    assert main([*argv(server, tmp_path, TEXT, "--out", str(out), "--sample-rate", "16000")]) == 0
    stdout, stderr = capsys.readouterr()
    sent = delta(speak_stats(server), before)
    assert sent["streams"] == 1 and sent["characters"] == len(TEXT) == 65
    messages, timing = capture(tmp_path / "store")
    assert flushed(messages) == [0, 1, 2]  # one Flush per sentence
    audio_bytes = timing[-1]["audio_bytes"]
    assert audio_bytes == sent["audio_bytes"] > 0
    info = sf.info(str(out))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", 16000, 1)
    assert info.frames * 2 == audio_bytes  # every byte that came is in the file, its header true
    audio_seconds = audio_bytes / 2 / 16000
    assert info.frames / info.samplerate == audio_seconds

    lines = stdout.splitlines()
    per_k = price_per_1k_characters("aura-asteria-en")
    assert per_k == 0.015
    assert lines[0] == "engine auto: Deepgram, because a server was named (--base-url)"
    assert (
        lines[1]
        == f"stream: WebSocket /v1/speak, aura-asteria-en; 65 characters, $0.0010 at ${per_k}/1,000 characters"
    )
    assert [line.split(",")[0] for line in lines[2:5]] == [
        "flush 1: 25 characters",
        "flush 2: 30 characters",
        "flush 3: 10 characters",
    ]
    summary = lines[5]
    assert summary.startswith("spoke 65 characters in 3 flush(es), $0.0010 at $0.015/1,000 characters; ")
    assert f"; {audio_seconds:.2f} s of audio in " in summary and "; first audio " in summary
    first = next(t for m, t in zip(messages, timing, strict=True) if m["type"] == "Flushed")
    assert first["audio_bytes"] > 0  # the first flush's audio came before its Flushed
    (jsonl,) = (tmp_path / "store" / "speak").glob("*.jsonl")
    assert lines[6:] == [
        f"wrote {out}",
        f"captured the server's messages in {jsonl} (receive times in {jsonl.with_suffix('.timing')})",
    ]
    assert stderr == ""
    assert KEY not in stdout + stderr + written(tmp_path)


def test_mulaw_out_is_raw_8000_hz_and_never_flush_is_one_flush(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reply.ulaw"
    before = speak_stats(server)
    assert main(argv(server, tmp_path, TEXT, "--out", str(out), "--flush", "never")) == 0
    stdout = capsys.readouterr().out
    sent = delta(speak_stats(server), before)
    messages, timing = capture(tmp_path / "store")
    assert flushed(messages) == [0] and sent["characters"] == len(TEXT)
    data = out.read_bytes()
    assert len(data) == timing[-1]["audio_bytes"] == sent["audio_bytes"] > 0 and data[:4] != b"RIFF"
    assert f"; {len(data) / 8000:.2f} s of audio in " in stdout  # one byte a sample at 8000 Hz
    assert "in 1 flush(es)" in stdout


def test_the_local_engine_is_free_and_alaw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("espeak-ng") is None:
        missing("voice", "espeak-ng is not installed (apt-get install espeak-ng)")
    monkeypatch.delenv("DEEPGRAM_API_KEY")
    out = tmp_path / "a.alaw"
    assert main(["speak", "Thank you.", "--stream", "--out", str(out), "--store", str(tmp_path / "st")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("engine auto: the local voice (espeak-ng")
    assert lines[1] == "stream: WebSocket /v1/speak, the local voice (espeak-ng); 10 characters, free"
    assert lines[3].startswith("spoke 10 characters in 1 flush(es), free; ")
    messages, timing = capture(tmp_path / "st")
    assert (
        out.stat().st_size == timing[-1]["audio_bytes"] > 0
        and messages[0]["model_version"] == "dgtools-espeak-ng"
    )


# --------------------------------------------------------------------------- the budget


def test_budget_stops_stdin_before_the_first_sentence_past_it(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "One two three four five. Six seven eight nine ten. Eleven twelve.\n"
    source = tmp_path / "text.txt"
    source.write_text(text)
    budget = (
        40 * 0.015 / 1000
    )  # 40 characters of aura-asteria-en: "One ... five. " (25) fits, the next does not
    out = tmp_path / "capped.wav"
    before = speak_stats(server)
    with source.open() as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        code = main(argv(server, tmp_path, "-", "--out", str(out), "--budget", f"{budget:g}"))
    stdout, stderr = capsys.readouterr()
    assert code == 1
    sent = delta(speak_stats(server), before)
    assert sent["characters"] == 25 <= 40  # the server spoke no character past the budget
    assert sent["characters"] * 0.015 / 1000 <= budget
    assert "; --budget 0.0006 stops the text at 40 characters ($0.0006 at $0.015/1,000 characters)" in stdout
    assert "spoke 25 characters in 1 flush(es), $0.0004 at $0.015/1,000 characters;" in stdout
    assert_one_line_error(stderr, "--budget 0.0006 stopped the text at 25 characters", "raise --budget")
    assert sf.info(str(out)).frames * 2 == sent["audio_bytes"] > 0  # what was sent is spoken, playable


def test_budget_refuses_a_text_above_it_before_connecting(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = speak_stats(server)
    assert main(argv(server, tmp_path, TEXT, "--out", str(tmp_path / "x.wav"), "--budget", "0.0009")) == 1
    assert_one_line_error(
        capsys.readouterr().err, "--budget 0.0009 pays for 60 characters, but TEXT has 65", "nothing was sent"
    )
    assert main(argv(server, tmp_path, "-", "--budget", "0.00001")) == 1
    assert_one_line_error(capsys.readouterr().err, "--budget 1e-05 pays for no character")
    assert speak_stats(server) == before and not (tmp_path / "store").exists()


# --------------------------------------------------------------------------- refused flags


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--from", "texts.csv"], "--from does not go with --stream"),
        (["--column", "text"], "--column does not go with --stream"),
        (["--id-column", "id"], "--id-column does not go with --stream"),
        (["--container", "none"], "--container does not go with --stream"),
        (["--bit-rate", "48000"], "--bit-rate does not go with --stream"),
        (["--concurrency", "2"], "--concurrency does not go with --stream"),
        (["--confirm-above", "1"], "--confirm-above does not go with --stream"),
        (["--yes"], "--yes does not go with --stream"),
        (["--progress-every", "5"], "--progress-every does not go with --stream"),
        (["--timeout", "5"], "--timeout does not go with --stream"),
        (["--max-retries", "1"], "--max-retries does not go with --stream"),
        (["--proxy", "http://127.0.0.1:9"], "--proxy does not go with --stream"),
        (["--encoding", "mp3"], "--encoding mp3 does not go with --stream"),
        (["--out", "a.mp3"], "--out a.mp3: with --stream give a .wav file"),
        (["--out", "a.wav", "--encoding", "mulaw"], "name the file a.ulaw"),
        (["--out", "a.ulaw", "--sample-rate", "24000"], "--sample-rate 24000"),
        (["--speed", "3"], "--speed 3"),
        (["--model", "aura-2-thalai-en"], "did you mean aura-2-thalia-en"),
    ],
)
def test_flags_that_do_not_apply_are_refused_in_one_line_before_connecting(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], fragment: str
) -> None:
    before = speak_stats(server)
    assert main(argv(server, tmp_path, "Hello.", *extra)) == 1
    stdout, stderr = capsys.readouterr()
    assert stdout == ""
    assert_one_line_error(stderr, fragment)
    for python in ("encoding=", "sample_rate=", "speed=", "model=", "out="):
        assert python not in stderr
    assert speak_stats(server) == before and not (tmp_path / "store").exists()


def test_stream_only_flags_without_stream_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["speak", "Hello.", "--flush", "never", "--store", str(tmp_path)]) == 1
    assert_one_line_error(capsys.readouterr().err, "--flush never goes with --stream")
    assert main(["speak", "-", "--store", str(tmp_path)]) == 1
    assert_one_line_error(capsys.readouterr().err, "TEXT - (the text of stdin) goes with --stream")
    assert main(["speak", "--stream", "--store", str(tmp_path)]) == 1
    assert_one_line_error(capsys.readouterr().err, "give TEXT, or - for the text of stdin")


# --------------------------------------------------------------------------- stdin, as it arrives


class Child:
    """``python -m dgtools speak - --stream`` with a pipe for stdin."""

    def __init__(self, server: LocalServer, tmp_path: Path, out: Path) -> None:
        self.store = tmp_path / "store"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dgtools", *argv(server, tmp_path, "-", "--out", str(out))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
            env={**os.environ, "DEEPGRAM_API_KEY": KEY},
        )  # fmt: skip

    def write(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def wait_for_flushed(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The capture once it holds a Flushed (polled: the child runs on; no time is asserted)."""
        for _ in range(3000):  # a safety net against a hang, not a speed limit
            assert self.proc.poll() is None, self.proc.communicate()
            files = list((self.store / "speak").glob("*.jsonl")) if (self.store / "speak").is_dir() else []
            if files and '"Flushed"' in files[0].read_text():
                return capture(self.store)
            time.sleep(0.02)
        raise AssertionError("no Flushed in the capture")

    def finish(self, rest: str | None = None) -> tuple[int, str, str]:
        """Write ``rest`` and close stdin, then wait for the end; ``rest`` None: wait with stdin still open."""
        if rest is not None:
            out, err = self.proc.communicate(rest, timeout=120)
            return self.proc.returncode, out, err
        self.proc.wait(120)  # what it prints is far less than a pipe holds
        assert self.proc.stdin is not None and self.proc.stdout is not None and self.proc.stderr is not None
        out, err = self.proc.stdout.read(), self.proc.stderr.read()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            pipe.close()
        return self.proc.returncode, out, err


@posix_only
def test_stdin_is_spoken_as_it_arrives_the_first_audio_before_stdin_closes(
    server: LocalServer, tmp_path: Path
) -> None:
    out = tmp_path / "reply.wav"
    before = speak_stats(server)
    child = Child(server, tmp_path, out)
    child.write("Hello there.\n")
    messages, timing = child.wait_for_flushed()  # stdin is still open: the child waits for more
    assert flushed(messages) == [0] and timing[-1]["audio_bytes"] > 0
    closed_at = datetime.now(UTC)
    code, stdout, stderr = child.finish("How are you today?\n")  # the rest, then stdin closes
    assert code == 0, stderr
    sent = delta(speak_stats(server), before)
    assert sent["characters"] == len("Hello there.\nHow are you today?\n")
    messages_after, timing_after = capture(tmp_path / "store")
    assert flushed(messages_after) == [0, 1]
    assert messages_after[: len(messages)] == messages  # what was seen before stdin closed, unchanged
    first = next(t for m, t in zip(messages_after, timing_after, strict=True) if m["type"] == "Flushed")
    assert first["audio_bytes"] > 0 and datetime.fromisoformat(first["received_at"]) <= closed_at
    assert sf.info(str(out)).frames * 2 == timing_after[-1]["audio_bytes"] == sent["audio_bytes"]
    assert "spoke 32 characters in 2 flush(es)" in stdout and stdout.count("\nflush ") == 2
    assert KEY not in stdout + stderr + written(tmp_path)


@posix_only
def test_ctrl_c_exits_130_leaving_a_playable_wav(server: LocalServer, tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    child = Child(server, tmp_path, out)
    child.write("Hello there.\n")
    child.wait_for_flushed()
    child.proc.send_signal(signal.SIGINT)  # stdin still open: the reader of stdin stops too
    code, _, stderr = child.finish()
    assert code == 130, stderr
    _, timing = capture(tmp_path / "store")
    assert sf.info(str(out)).frames * 2 == timing[-1]["audio_bytes"] > 0
    assert stderr.strip().splitlines()[-1].startswith(f"dgtools: interrupted: {out} holds the ")
    assert "Traceback" not in stderr
