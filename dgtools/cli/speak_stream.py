"""``dgtools speak TEXT --stream``: text to speech over the WebSocket ``/v1/speak``, as the text arrives.

Two forms::

    dgtools speak "Hello there. How are you?" --stream --out hello.wav
    llm "Tell me a story" | dgtools speak - --stream --out reply.wav

TEXT is sent sentence by sentence; ``-`` reads standard input as it arrives (each read is sent
at once, cut after sentence ends) until it closes.  ``Flush`` goes after each sentence
(``--flush never``: only at the end), then ``Flush`` and ``Close``.  The audio is written to
``--out`` frame by frame (a WAV file for ``.wav``, raw mulaw or alaw for ``.ulaw``/``.alaw``: the
socket sends nothing else), the server's messages to ``STORE/speak/``.

What it prints, in order: the engine and why, the stream and its price (text of unknown length
cannot be priced before it is sent: ``--budget USD`` is then a hard cap, and no ``Speak``
message ever goes past it), a line per ``Flush`` as its audio arrives, then the characters sent,
the flushes, the audio seconds, the time to first audio, the file and the capture written.  Exit
status 0; 1 on an error, or when ``--budget`` stopped the text before its end; 130 when
interrupted (the WAV file then holds what arrived, playable).
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import math
import os
import re
import select
import sys
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from ..exceptions import ConfigError
from .output import PROG, cli_text, error, local_only

if TYPE_CHECKING:
    from ..speech import SpeakStream, SpeakStreamRun

__all__ = ["STREAM_SUFFIXES", "StdinText", "add_stream_args", "run_speak_stream", "sentences"]

#: ``--out`` suffixes with ``--stream``, and the encoding each holds (the socket sends raw audio only).
STREAM_SUFFIXES: Final[dict[str, str]] = {".wav": "linear16", ".ulaw": "mulaw", ".alaw": "alaw"}
#: ``(dest, flag, why)`` of the flags of ``dgtools speak`` that do not go with ``--stream``.
_NOT_WITH_STREAM: Final[tuple[tuple[str, str, str], ...]] = (
    ("from_csv", "--from", "a stream speaks one TEXT, or the text of stdin (TEXT -)"),
    ("column", "--column", "it goes with --from CSV, which a stream does not take"),
    ("id_column", "--id-column", "it goes with --from CSV, which a stream does not take"),
    (
        "container",
        "--container",
        "a stream writes a WAV file for --out *.wav and raw audio for *.ulaw, *.alaw",
    ),
    (
        "bit_rate",
        "--bit-rate",
        "the WebSocket /v1/speak sends only uncompressed audio (linear16, mulaw, alaw)",
    ),
    ("concurrency", "--concurrency", "one socket sends the text in order"),
    (
        "confirm_above",
        "--confirm-above",
        "a stream's cost is not known before its text arrives; cap it with --budget USD",
    ),
    (
        "yes",
        "--yes",
        "a stream asks nothing: its cost is not known before its text arrives; cap it with --budget USD",
    ),
    ("progress_every", "--progress-every", "a stream prints a line per flush as its audio arrives"),
    ("timeout", "--timeout", "a stream waits up to 30 s for the audio of its last flush"),
    ("max_retries", "--max-retries", "a stream is never sent again: the text spoken would be paid for twice"),
    ("proxy", "--proxy", "the streaming form opens its WebSocket without one"),
)
#: A sentence end followed by white space: where :func:`sentences` cuts.
_SENTENCE_END: Final = re.compile(r"[.!?…。！？][\"'”’)\]]*\s+")
#: The most bytes one read of stdin takes.
_READ_BYTES: Final = 65536
#: Seconds a read of stdin waits before looking whether the stream stopped.
_POLL_S: Final = 0.2


def add_stream_args(p: argparse.ArgumentParser) -> None:
    """``--stream`` and ``--flush`` of ``dgtools speak``."""
    s = p.add_argument_group("streaming (WebSocket /v1/speak: linear16, mulaw, alaw)")
    s.add_argument(
        "--stream",
        action="store_true",
        help="speak over the WebSocket /v1/speak as the text arrives (TEXT -: read stdin as it comes), "
        "writing the audio to --out (.wav, .ulaw or .alaw) frame by frame; --budget USD then stops "
        "sending text before it would cost more",
    )
    s.add_argument(
        "--flush",
        choices=["sentence", "never"],
        help="with --stream: send Flush after each sentence (default) or only at the end",
    )


def sentences(text: str) -> list[str]:
    """``text`` cut after each sentence end followed by white space (which stays with its sentence).

    Examples
    --------
    >>> sentences("Hello there. It is 3.5 m long! Yes")
    ['Hello there. ', 'It is 3.5 m long! ', 'Yes']
    >>> sentences("")
    []
    """
    pieces, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        pieces.append(text[start : m.end()])
        start = m.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


class StdinText:
    """The text of a file descriptor as it arrives: what each read gives, cut after sentence ends.

    An iterator of pieces of text for :func:`dgtools.speak_stream` (which reads it in a thread).
    It ends at end of file, when :attr:`stop` is set (within :data:`_POLL_S` seconds), or before
    the first piece that would take the characters given past ``cap`` (then :attr:`capped` is
    set): no piece past the cap is ever given.

    Examples
    --------
    >>> r, w = os.pipe()
    >>> _ = os.write(w, "One. Two. Three.".encode()); os.close(w)
    >>> text = StdinText(r, cap=10)
    >>> list(text), text.given, text.capped
    (['One. ', 'Two. '], 10, True)
    >>> os.close(r)
    """

    def __init__(self, fd: int, cap: int | None = None) -> None:
        self.fd = fd
        self.cap = cap
        self.given = 0  # characters given so far
        self.capped = False
        self.stop = threading.Event()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pieces: deque[str] = deque()
        self._eof = False
        self._done = False

    def __iter__(self) -> StdinText:
        return self

    def __next__(self) -> str:
        while not self._done and not self._pieces:
            if self._eof or self.stop.is_set():
                self._done = True
                break
            data = self._read()
            if data is None:
                continue
            if data:
                text = self._decoder.decode(data)
            else:
                self._eof = True
                text = self._decoder.decode(b"", final=True)
            self._pieces.extend(sentences(text))
        if self._done:
            raise StopIteration
        piece = self._pieces.popleft()
        if self.cap is not None and self.given + len(piece) > self.cap:
            self.capped, self._done = True, True
            self._pieces.clear()
            raise StopIteration
        self.given += len(piece)
        return piece

    def _read(self) -> bytes | None:
        """What one read gives (b"": end of file), or None when nothing came within :data:`_POLL_S`."""
        if os.name != "nt":  # select() takes no pipes on Windows: a plain read blocks there
            ready, _, _ = select.select([self.fd], [], [], _POLL_S)
            if not ready:
                return None
        return os.read(self.fd, _READ_BYTES)


def refuse_rest_flags(args: argparse.Namespace) -> None:
    """Refuse each flag of the REST form that ``--stream`` does not take, naming it."""
    for dest, flag, why in _NOT_WITH_STREAM:
        if getattr(args, dest, None) not in (None, False):
            raise ConfigError(f"{flag} does not go with --stream: {why}")
    from ..options.speak import STREAM_ENCODINGS

    if args.encoding is not None and args.encoding not in STREAM_ENCODINGS:
        raise ConfigError(
            f"--encoding {args.encoding} does not go with --stream: the WebSocket /v1/speak sends "
            f"{', '.join(STREAM_ENCODINGS)} only (leave --stream out for {args.encoding})"
        )


def _audio(args: argparse.Namespace) -> tuple[Path | None, str, int]:
    """``(the audio file or None, encoding, sample rate)`` of ``--out``, ``--encoding``, ``--sample-rate``."""
    from ..options.speak import speak_format, speak_stream_query

    out = Path(args.out) if args.out else None
    encoding = args.encoding or "linear16"
    if out is not None:
        implied = STREAM_SUFFIXES.get(out.suffix.lower())
        if implied is None or out.is_dir():
            raise ConfigError(
                f"--out {out}: with --stream give a .wav file (linear16), or .ulaw or .alaw (raw mulaw, "
                "alaw): the WebSocket /v1/speak sends no other audio (leave --stream out for other formats)"
            )
        if args.encoding is not None and args.encoding != implied:
            suffix = next(s for s, e in STREAM_SUFFIXES.items() if e == args.encoding)
            raise ConfigError(
                f"--out {out} holds {implied} audio, not --encoding {args.encoding}: name the file "
                f"{out.stem}{suffix}, or leave --encoding out"
            )
        encoding = implied
    query = speak_stream_query(
        model=args.model, encoding=encoding, sample_rate=args.sample_rate, speed=args.speed
    )
    return out, encoding, speak_format(query, stream=True).sample_rate


def _dollars(d: float) -> str:
    return f"${d:,.2f}" if d >= 1 else f"${d:.4f}" if d >= 0.0001 or d == 0 else f"${d:.6f}"


class _Price:
    """What a character costs on this stream, and how many characters ``--budget`` pays for."""

    def __init__(self, args: argparse.Namespace, engine: str) -> None:
        from ..pricing import DEFAULT_TTS_MODEL, TTS_PRICES_DATE, price_per_1k_characters

        self.local = engine != "deepgram"
        self.model = args.model or DEFAULT_TTS_MODEL
        self.per_thousand = 0.0 if self.local else price_per_1k_characters(self.model)
        self.budget: float | None = args.budget
        self.cap: int | None = None
        rate = f"${self.per_thousand}/1,000 characters (prices of {TTS_PRICES_DATE})"
        self.rate = "free (the local voice)" if self.local else rate
        b = self.budget
        if b is None:
            return
        if not (isinstance(b, float) and math.isfinite(b) and b >= 0):
            raise ConfigError(f"--budget {b} must be a number of dollars, 0 or more")
        if self.per_thousand is None:
            raise ConfigError(
                f"--budget {b:g} is a hard cap, but {self.model} has no price in dgtools.pricing.TTS_PRICES, "
                "so what the stream costs is not known; nothing was sent. Add its price to the table, or "
                "leave --budget out"
            )
        if self.per_thousand > 0:
            self.cap = int(b * 1000 / self.per_thousand + 1e-9)  # whole characters, never above the budget
            if self.cap < 1:
                raise ConfigError(
                    f"--budget {b:g} pays for no character at ${self.per_thousand}/1,000 characters; "
                    "nothing was sent. Raise --budget"
                )

    def cost(self, characters: int) -> str:
        """What ``characters`` cost, in words."""
        if self.local:
            return "free"
        if self.per_thousand is None:
            return "cost unknown (no price for this voice in dgtools.pricing.TTS_PRICES)"
        return f"{_dollars(characters / 1000 * self.per_thousand)} at ${self.per_thousand}/1,000 characters"

    def notice(self, text: str | None) -> str:
        """The line printed before connecting: the voice, the price, the cap."""
        voice = "the local voice (espeak-ng)" if self.local else self.model
        if text is not None:  # TEXT: its length, so its cost, is known
            price = f"{len(text):,} characters, {self.cost(len(text))}"
        elif self.local:
            price = "free (the local voice)"
        elif self.per_thousand is None:
            price = "cost unknown: no price for this voice in dgtools.pricing.TTS_PRICES"
        else:
            price = f"{self.rate}, known only as the text arrives"
            if self.cap is not None:
                price += (
                    f"; --budget {self.budget:g} stops the text at {self.cap:,} characters "
                    f"({self.cost(self.cap)})"
                )
            else:
                price += "; --budget USD caps it"
        return f"stream: WebSocket /v1/speak, {voice}; {price}"


class _Stopping:
    """What :func:`~dgtools.cli.transcribe._until_stopped` says while an interrupted stream closes."""

    def waiting(self) -> str:
        return "closing the stream; the audio received so far stays in the file..."


def run_speak_stream(args: argparse.Namespace) -> int:
    """``dgtools speak TEXT --stream``: see the module docstring."""
    from ..speech import speech_engine

    refuse_rest_flags(args)
    if args.text is None:
        raise ConfigError(
            "give TEXT, or - for the text of stdin: dgtools speak 'Hello.' --stream --out hello.wav, or "
            "llm ... | dgtools speak - --stream --out reply.wav"
        )
    local_only(args.out, "--out", "give a local audio file (copy it to object storage afterwards)")
    local_only(
        args.store, "--store", "the stream's messages are written line by line to a local store folder"
    )
    out, encoding, sample_rate = _audio(args)
    engine, why = speech_engine(args.engine, base_url=args.base_url)
    price = _Price(args, engine)
    text = None if args.text == "-" else str(args.text)
    if text is not None and price.cap is not None and len(text) > price.cap:
        raise ConfigError(
            f"--budget {price.budget:g} pays for {price.cap:,} characters, but TEXT has {len(text):,} "
            f"({price.cost(len(text))}); nothing was sent. Raise --budget, or shorten the text"
        )
    source: list[str] | StdinText
    if text is None:
        if sys.stdin is None:
            raise ConfigError("TEXT - reads the text from stdin, but there is none: pipe the text in")
        source = StdinText(sys.stdin.fileno(), price.cap)
    else:
        source = sentences(text)
    print(cli_text(why), flush=True)
    print(price.notice(text), flush=True)
    if isinstance(source, StdinText) and sys.stdin.isatty():
        print("reading the text from the terminal: end it with Ctrl-D", file=sys.stderr, flush=True)

    def progress(message: dict[str, Any], tts: SpeakStream) -> None:
        if message.get("type") == "Flushed" and not args.no_progress:
            f = tts.run.flushes
            row = f[f["sequence_id"].eq(message.get("sequence_id")).fillna(False).astype(bool)]
            if len(row):
                r = row.iloc[0]
                print(
                    f"flush {int(r['sequence_id']) + 1}: {int(r['characters']):,} characters, first audio "
                    f"{r['ttfb_s']:.2f} s after the Flush, {r['audio_seconds']:.2f} s of audio",
                    flush=True,
                )

    kwargs: dict[str, Any] = dict(
        flush=args.flush or "sentence", model=args.model, encoding=encoding, sample_rate=sample_rate,
        speed=args.speed, out=out, store=args.store, base_url=args.base_url, region=args.region,
        allow_insecure=args.allow_insecure, engine=engine, on_message=progress,
    )  # fmt: skip
    opened: list[SpeakStream] = []
    try:
        run = _speak(source, kwargs, opened)
    except KeyboardInterrupt:
        if opened:
            r = opened[0].run
            print(
                f"{PROG}: interrupted: {r.audio} holds the {r.audio_seconds:.2f} s of audio received "
                f"({len(r.text):,} characters sent); the messages are in {r.capture}",
                file=sys.stderr,
            )
        else:
            print(f"{PROG}: interrupted before the stream opened; nothing was sent", file=sys.stderr)
        return 130
    return _report(run, price, source)


def _speak(
    source: list[str] | StdinText, kwargs: dict[str, Any], opened: list[SpeakStream]
) -> SpeakStreamRun:
    """The stream, with Ctrl-C and SIGTERM closing it (the file keeps what arrived)."""
    from ..speech import aspeak_stream, speak_stream
    from .transcribe import _until_stopped

    stop = source.stop if isinstance(source, StdinText) else threading.Event()

    async def go() -> SpeakStreamRun:
        try:
            async with aspeak_stream(source, **kwargs) as tts:
                opened.append(tts)
            return tts.run
        finally:
            stop.set()  # the reader of stdin, in a thread of its own, stops too

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return cast("SpeakStreamRun", asyncio.run(_until_stopped(cast(Any, go()), cast(Any, _Stopping()))))
    try:  # inside an event loop (a notebook): a worker thread runs the stream, with no signal handling
        return speak_stream(source, **kwargs)
    finally:
        stop.set()


def _report(run: SpeakStreamRun, price: _Price, source: list[str] | StdinText) -> int:
    """The summary: characters, flushes, audio, time to first audio, the files; the budget's stop."""
    f = run.flushes
    flushes = f[f["kind"] == "flush"]
    chars = len(run.text)
    first = flushes["ttfb_s"].dropna()
    if len(first) and run.first_audio_seconds is not None:
        ttfa = (
            f"first audio {first.iloc[0]:.2f} s after the first Flush ({run.first_audio_seconds:.2f} s "
            "from the start, connecting included)"
        )
    else:
        ttfa = "no audio"
    print(
        f"spoke {chars:,} characters in {len(flushes)} flush(es), {price.cost(chars)}; "
        f"{run.audio_seconds:.2f} s of audio in {run.wall_seconds:.2f} s; {ttfa}"
    )
    print(f"wrote {run.audio}")
    print(
        f"captured the server's messages in {run.capture} (receive times in {run.capture.with_suffix('.timing')})"
    )
    if isinstance(source, StdinText) and source.capped:
        return error(
            f"--budget {price.budget:g} stopped the text at {chars:,} characters ({price.cost(chars)}): the next "
            "piece would have cost more, so it and the rest of stdin were not sent; raise --budget to speak more"
        )
    if not chars:
        return error(f"no text arrived: nothing was spoken, and {run.audio} holds no audio")
    return 0
