"""``dgtools.speak_stream`` end to end against ``dgtools serve``'s WebSocket ``/v1/speak`` (espeak-ng's voice).

The server speaks each ``Flush`` in 100 ms binary frames, then ``Flushed``; ``Clear`` drops what it
holds and answers ``Cleared`` (:mod:`dgtools.server.speak`).  Without espeak-ng the tests that
speak skip (fail under ``DGTOOLS_REQUIRE=voice``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import dgtools
from conftest import missing
from dgtools.live.errors import SpeakWarning, SpeakWarningError, StreamTimeoutError
from dgtools.server import LocalServer
from dgtools.speech.stream import (
    FLUSH_COLUMNS,
    SpeakStream,
    SpeakStreamRun,
    aspeak_stream,
    ends_sentence,
    speak_stream,
)
from dgtools.speech.stream_session import _pieces

KEY = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"  # sentinel: must appear in no written file
RATE = 16000
SENTENCES = ["Please call me tomorrow.", " The number is five five five.", " Thank you!"]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    if shutil.which("espeak-ng") is None:
        missing("voice", "espeak-ng is not installed (apt-get install espeak-ng)")
    with LocalServer(api_keys={KEY}) as s:
        yield s


def opts(server: LocalServer, tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    return {"api_key": KEY, "base_url": server.url, "store": tmp_path, "sample_rate": RATE, **kwargs}


def wav_frames(path: Path) -> tuple[int, int, bytes]:
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnframes(), w.readframes(w.getnframes())


def written(folder: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- pure parts


def test_sentence_ends_and_long_pieces() -> None:
    assert ends_sentence("Done.") and ends_sentence("Really?!  ") and ends_sentence("“Go.”")
    assert not ends_sentence("Dear John,") and not ends_sentence("3.5 m")
    text = "word " * 900  # 4,500 characters: three Speak messages, cut after spaces
    pieces = _pieces(text, 2000)
    assert "".join(pieces) == text and [len(p) <= 2000 for p in pieces] == [True] * 3
    assert all(p.endswith(" ") for p in pieces)
    assert _pieces("x" * 4001, 2000) == ["x" * 2000, "x" * 2000, "x"]


def test_close_frames_and_warnings_say_what_to_do() -> None:
    from dgtools.live.errors import StreamClosedError, StreamDataError, speak_close_error, speak_warning_text

    cases = {
        (1003, "MESSAGE-0000"): (StreamDataError, "JSON text frames"),
        (1008, "DATA-0000"): (StreamDataError, "JSON text frames"),
        (1009, "BIG-0001"): (StreamDataError, "at most 2000 characters"),
        (1011, "NET-0001"): (StreamTimeoutError, "Close"),
        (1011, "NET-0000"): (
            StreamClosedError,
            "1011 NET-0000, request_id=r1): the server failed while speaking",
        ),
        (4000, ""): (StreamClosedError, "4000 no reason given"),
    }
    for (code, reason), (kind, message) in cases.items():
        error = speak_close_error(code, reason, source="reply.wav", request_id="r1")
        assert type(error) is kind and error.code == code and error.request_id == "r1"
        assert str(error).startswith(
            "reply.wav: the server closed the text-to-speech stream"
        ) and message in str(error)
    text = speak_warning_text(
        {"type": "Warning", "code": "X", "description": "Odd."}, source="s", request_id=None
    )
    assert text == "s: the server warned (X, request_id=unknown): Odd."


def test_bad_options_are_refused_before_connecting(server: LocalServer, tmp_path: Path) -> None:
    before = server.stats()["speak"]["streams"]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"model": "aura-2-thalai-en"}, "did you mean aura-2-thalia-en"),
        ({"encoding": "mp3"}, "encoding='mp3'"),
        ({"sample_rate": 44100}, "sample_rate=44100"),
        ({"encoding": "mulaw", "sample_rate": 24000}, "encoding=mulaw takes 8000, 16000"),
        ({"speed": 3}, "speed=3"),
        ({"flush": "paragraph"}, "flush='paragraph'"),
        ({"on_warning": "shout"}, "on_warning='shout'"),
        ({"engine": "whisper"}, "engine='whisper'"),
        ({"out": tmp_path / "a.wav", "encoding": "mulaw", "sample_rate": 8000}, r"name the file a\.ulaw"),
        ({"flush_timeout": 0}, "flush_timeout=0"),
    ]
    for kwargs, message in bad:
        with pytest.raises(dgtools.ConfigError, match=message):
            speak_stream("Hello.", **{**opts(server, tmp_path), **kwargs})
    with pytest.raises(dgtools.ConfigError, match="text must be a str or an iterable"):
        speak_stream(42, **opts(server, tmp_path))  # type: ignore[arg-type]
    assert server.stats()["speak"]["streams"] == before  # not one handshake
    assert not (tmp_path / "speak").exists()


# --------------------------------------------------------------------------- end to end


def test_a_flush_gives_flushed_and_its_audio_in_a_wav_written_as_it_comes(
    server: LocalServer, tmp_path: Path
) -> None:
    sizes: list[int] = []

    def on_audio(chunk: bytes, tts: SpeakStream) -> None:
        _, frames, _ = wav_frames(tts.run.audio)  # type: ignore[arg-type]
        sizes.append(frames * 2)  # the file on disk is a valid WAV of everything so far

    run = speak_stream("Please call me tomorrow.", flush="never", on_audio=on_audio, **opts(server, tmp_path))
    assert [m["type"] for m in run.messages] == ["Metadata", "Flushed"]
    assert run.request_id == run.messages[0]["request_id"] and run.messages[1]["sequence_id"] == 0
    f = run.flushes
    assert list(f.columns) == list(FLUSH_COLUMNS) and dict(f.dtypes.astype(str)) == FLUSH_COLUMNS
    row = f.iloc[0]
    assert len(f) == 1 and row.kind == "flush" and row.sequence_id == 0 and not row.cleared
    assert row.text == "Please call me tomorrow." and row.characters == 24
    assert 0 < row.text_s <= row.sent_s < row.first_audio_s <= row.answered_s <= run.wall_seconds
    assert row.ttfb_s == pytest.approx(row.first_audio_s - row.sent_s, abs=1e-5)
    assert row.audio_bytes == run.audio_bytes > 0 and row.audio_seconds == pytest.approx(run.audio_seconds)
    rate, frames, _ = wav_frames(run.audio)  # type: ignore[arg-type]
    assert rate == RATE and frames * 2 == run.audio_bytes and 1.0 < run.audio_seconds < 4.0
    assert sizes == sorted(sizes) and sizes[-1] == run.audio_bytes and len(sizes) >= 10  # 100 ms frames
    assert run.audio.parent == tmp_path / "speak" and run.audio.stem == run.capture.stem  # type: ignore[union-attr]
    lines = run.capture.read_text().splitlines()
    assert [json.loads(line) for line in lines] == run.messages
    timing = [json.loads(line) for line in run.capture.with_suffix(".timing").read_text().splitlines()]
    assert [t["audio_bytes"] for t in timing] == [0, run.audio_bytes]  # Flushed comes after the audio
    assert run.first_audio_seconds == pytest.approx(row.first_audio_s, abs=1e-5)
    assert "1 flush(es), 24 characters" in repr(run)


def test_the_sentence_policy_flushes_after_each_sentence_and_speaks_everything(
    server: LocalServer, tmp_path: Path
) -> None:
    tokens = [w for s in SENTENCES for w in s.replace(" ", "| ").split("|")]  # word by word, spaces kept
    run = speak_stream(tokens, **opts(server, tmp_path))  # flush="sentence", the default
    f = run.flushes
    assert f.text.tolist() == SENTENCES and f.sequence_id.tolist() == [0, 1, 2]
    assert (f.audio_bytes > 0).all() and f.audio_bytes.sum() == run.audio_bytes
    assert (f.ttfb_s > 0).all() and f.answered_s.is_monotonic_increasing
    assert run.text == "".join(SENTENCES)


def test_never_and_a_callable_policy(server: LocalServer, tmp_path: Path) -> None:
    pieces = ["One two", " three four", " five six", " seven eight", " nine ten."]
    never = speak_stream(pieces, flush="never", **opts(server, tmp_path))
    assert never.flushes.text.tolist() == ["".join(pieces)]
    seen: list[str] = []

    def twenty(text: str) -> bool:
        seen.append(text)
        return len(text) >= 20

    run = speak_stream(
        iter(pieces), flush=twenty, **opts(server, tmp_path)
    )  # a sync iterator: read in a thread
    assert seen[:2] == ["One two", "One two three four"]  # the text since the last flush
    assert run.flushes.text.tolist() == ["One two three four five six", " seven eight nine ten."]
    assert run.flushes.sequence_id.tolist() == [0, 1]


def test_an_async_text_iterator_is_spoken_as_it_comes(server: LocalServer, tmp_path: Path) -> None:
    async def llm() -> AsyncIterator[str]:
        for token in ["Thank", " you", " for", " calling.", " Good", "bye", "!"]:
            await asyncio.sleep(0.05)
            yield token

    async def main() -> SpeakStreamRun:
        return await aspeak_stream(llm(), **opts(server, tmp_path))

    run = asyncio.run(main())
    f = run.flushes
    assert f.text.tolist() == ["Thank you for calling.", " Goodbye!"]
    # the first sentence was flushed, and its audio came, before the last tokens were read
    assert f.sent_s.iloc[0] < f.text_s.iloc[1] and f.first_audio_s.iloc[0] < f.sent_s.iloc[1]


def test_clear_answers_cleared_and_drops_the_buffered_text(server: LocalServer, tmp_path: Path) -> None:
    long = "One, two, three, four, five, six, seven, eight, nine, ten. " * 3

    async def main(clear: bool) -> Any:
        async with aspeak_stream(flush="never", **opts(server, tmp_path)) as tts:
            tts.speak("Hello there.")
            tts.flush()
            assert await tts.wait_flushed(10)
            tts.speak(long)  # buffered by the server until a Flush
            await asyncio.sleep(0.1)
            if clear:
                tts.clear()
                assert await tts.wait_flushed(10)
        return tts.run

    kept, cleared = asyncio.run(main(False)), asyncio.run(main(True))
    assert cleared.flushes.kind.tolist() == ["flush", "clear"]
    assert [m["type"] for m in cleared.messages] == ["Metadata", "Flushed", "Cleared"]
    row = cleared.flushes.iloc[1]
    assert row.sequence_id == 1 and row.text == long and row.cleared and row.audio_bytes == 0
    assert kept.flushes.kind.tolist() == ["flush", "flush"]
    assert cleared.audio_seconds < kept.audio_seconds / 3  # the long text was never spoken


def test_a_clear_while_the_server_speaks_drops_that_flush_and_the_stream_goes_on(
    server: LocalServer, tmp_path: Path
) -> None:
    long = "One, two, three, four, five, six, seven, eight, nine, ten. " * 6

    async def main() -> Any:
        async with aspeak_stream(flush="never", **opts(server, tmp_path)) as tts:
            tts.speak(long)
            tts.flush()
            await asyncio.sleep(0.01)  # the Flush goes; the server is still speaking it
            tts.clear()
            tts.speak("Sorry, go ahead.")
        return tts.run

    run = asyncio.run(main())
    f = run.flushes
    assert f.kind.tolist() == ["flush", "clear", "flush"] and f.cleared.tolist() == [True, True, False]
    assert pd_na(f.sequence_id.iloc[0]) and f.sequence_id.iloc[1:].tolist() == [1, 2]  # no Flushed for it
    assert [m["type"] for m in run.messages] == ["Metadata", "Cleared", "Flushed"]
    assert f.audio_bytes.iloc[0] == 0 and f.audio_bytes.iloc[2] == run.audio_bytes > 0
    assert f.text.iloc[1] == "" and f.text.iloc[2] == "Sorry, go ahead."  # nothing unsent was left to drop
    assert run.audio_seconds < 3  # "Sorry, go ahead." only


def test_clear_from_a_callback(server: LocalServer, tmp_path: Path) -> None:
    def interrupt(chunk: bytes, tts: SpeakStream) -> None:
        if not tts.run.flushes.kind.eq("clear").any():
            tts.clear()  # the listener spoke over the voice
            tts.speak("Sorry, go ahead.")

    run = speak_stream(SENTENCES[0], flush="never", on_audio=interrupt, **opts(server, tmp_path))
    f = run.flushes
    assert f.kind.tolist() == ["flush", "clear", "flush"] and f.text.iloc[2] == "Sorry, go ahead."
    assert run.messages[-2]["type"] == "Cleared" and run.messages[-1]["type"] == "Flushed"
    assert f.audio_bytes.iloc[2] > 0 and f.audio_bytes.sum() == run.audio_bytes


def pd_na(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_clear_with_stop_stops_reading_the_text(server: LocalServer, tmp_path: Path) -> None:
    read: list[str] = []

    async def endless() -> AsyncIterator[str]:
        n = 0
        while True:
            n += 1
            read.append(f" Sentence {n}.")
            yield read[-1]
            await asyncio.sleep(0.02)

    async def main() -> Any:
        async with aspeak_stream(endless(), **opts(server, tmp_path)) as tts:
            while tts.run.audio_bytes == 0:
                await asyncio.sleep(0.01)
            tts.clear(stop=True)
            assert tts.stopped
        return tts.run

    run = asyncio.run(main())
    assert run.flushes.kind.iloc[-1] == "clear" and run.flushes.kind.eq("flush").sum() < len(read) + 1
    assert len(read) < 100 and run.wall_seconds < 10


@pytest.fixture
def short_window(monkeypatch: pytest.MonkeyPatch) -> float:
    """Deepgram's flush window (60 s) made 1.5 s, on the client and on the in-process server alike."""
    import dgtools.server.speak
    import dgtools.speech.stream_session

    monkeypatch.setattr(dgtools.speech.stream_session, "_FLUSH_LIMIT", (20, 1.5))
    monkeypatch.setattr(dgtools.server.speak, "FLUSH_WINDOW_S", 1.5)
    return 1.5


def test_more_sentences_than_the_flush_limit_wait_for_the_window_and_raise_no_warning(
    server: LocalServer, tmp_path: Path, short_window: float
) -> None:
    """25 one-word sentences at once: the flushes after the 20th wait for the window (warnings are errors here)."""
    words = [f"{w}. " for w in ("one two three four five six seven eight nine ten " * 3).split()[:25]]
    run = speak_stream(words, **opts(server, tmp_path))
    f = run.flushes
    assert len(f) == 21 and f.sequence_id.tolist() == list(range(21))
    assert f.text.tolist() == [*words[:20], "".join(words[20:])]  # the rest, flushed once the window allowed
    assert f.sent_s.iloc[20] - f.sent_s.iloc[0] >= short_window
    assert not run.warnings and run.text == "".join(words) and (f.audio_bytes > 0).all()


def test_a_server_warning_warns_or_raises(server: LocalServer, tmp_path: Path, short_window: float) -> None:
    async def main(**kwargs: Any) -> Any:
        async with aspeak_stream(**opts(server, tmp_path), **kwargs) as tts:
            for i in range(21):  # flushes asked for go as asked: the 21st is over the server's limit
                tts.speak(f" {i}.")
                tts.flush()
            assert await tts.wait_flushed(10)  # the refused one is not waited for
        return tts.run

    with pytest.warns(
        SpeakWarning, match="FLUSH_LIMIT_EXCEEDED.*at most 20 Flush messages in 60 s"
    ) as record:
        run = asyncio.run(main())
    assert record[0].message.code == "FLUSH_LIMIT_EXCEEDED"  # type: ignore[union-attr]
    f = run.flushes
    assert len(run.warnings) == 1 and f.sequence_id.tolist() == list(range(21))
    assert f.text.iloc[-1] == " 20." and f.audio_bytes.iloc[-1] > 0  # its text went with the Flush at the end
    with pytest.raises(SpeakWarningError, match="FLUSH_LIMIT_EXCEEDED") as info:
        asyncio.run(main(on_warning="raise"))
    assert info.value.request_id
    seen: list[dict[str, Any]] = []
    asyncio.run(main(on_warning=seen.append))
    assert [m["code"] for m in seen] == ["FLUSH_LIMIT_EXCEEDED"]


def test_a_wrong_key_is_refused_at_the_handshake(server: LocalServer, tmp_path: Path) -> None:
    with pytest.raises(dgtools.AuthenticationError) as info:
        speak_stream("Hello.", **{**opts(server, tmp_path), "api_key": "0" * 40})
    assert "401" in str(info.value) and "0" * 40 not in str(info.value)
    assert not (tmp_path / "speak").exists()


def test_a_silent_text_source_is_closed_1011_with_the_fix(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        missing("voice", "espeak-ng is not installed (apt-get install espeak-ng)")

    def slow() -> Iterator[str]:
        yield "Hello."
        time.sleep(1.0)  # longer than the server's timeout: nothing is sent meanwhile
        yield " Again."

    with (
        LocalServer(api_keys={KEY}, stream_timeout=0.4) as quick,
        pytest.raises(StreamTimeoutError, match=r"1011 NET-0001.*Close") as info,
    ):
        speak_stream(slow(), flush="never", **opts(quick, tmp_path))
    assert info.value.code == 1011 and info.value.request_id


def test_the_key_is_in_no_written_file_and_no_repr(server: LocalServer, tmp_path: Path) -> None:
    out = tmp_path / "out" / "reply.wav"
    run = speak_stream(SENTENCES, out=out, **opts(server, tmp_path))
    assert run.audio == out and out.is_file()
    assert KEY not in written(tmp_path) + repr(run) + run.flushes.to_string()
    assert KEY.encode() not in out.read_bytes()


def test_mulaw_is_written_raw_and_the_engine_auto_starts_a_local_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("espeak-ng") is None:
        missing("voice", "espeak-ng is not installed (apt-get install espeak-ng)")
    for name in ("DEEPGRAM_API_KEY", "DEEPGRAM_TOKEN", "DEEPGRAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    run = speak_stream("Thank you.", store=tmp_path, encoding="mulaw", sample_rate=8000)
    assert run.audio is not None and run.audio.suffix == ".ulaw"
    assert run.audio.stat().st_size == run.audio_bytes and run.audio_seconds == run.audio_bytes / 8000
    assert run.messages[0]["model_version"] == "dgtools-espeak-ng"


def test_the_sync_twin_works_inside_a_running_loop_and_from_another_thread(
    server: LocalServer, tmp_path: Path
) -> None:
    async def in_a_notebook_cell() -> Any:
        return speak_stream("Hello.", **opts(server, tmp_path))  # a worker thread with its own loop

    assert asyncio.run(in_a_notebook_cell()).flushes.sequence_id.tolist() == [0]

    async def main() -> Any:
        async with aspeak_stream(flush="never", **opts(server, tmp_path)) as tts:
            other = threading.Thread(target=lambda: (tts.speak("From a thread."), tts.flush()))
            other.start()
            await asyncio.to_thread(other.join)
            assert await tts.wait_flushed(10)
        return tts.run

    run = asyncio.run(main())
    assert run.flushes.text.tolist() == ["From a thread."] and run.audio_bytes > 0
