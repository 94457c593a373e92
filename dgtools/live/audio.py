"""The audio of a live stream: what a source becomes on the wire, and what a reconnect sends again.

:func:`audio_of` turns a source (a file, raw bytes, a sync or async iterator of chunks) into what is
sent and the options that describe it: a file is decoded to 16-bit PCM (``linear16``) at its own
rate and channels unless it goes as a container.  :class:`Feed` hands the audio to one socket after
another: it keeps what no final result has acknowledged, so that a socket opened again after a
drop hears it again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import struct
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import Any, Final, TypeAlias, cast

from ..exceptions import ConfigError

__all__ = ["Audio", "Feed", "FileAudio", "Source", "audio_of", "frame_bytes", "pieces"]

#: What :func:`astream` streams: a file, raw audio bytes, or a sync or async iterator of byte chunks.
Source: TypeAlias = "str | os.PathLike[str] | bytes | Iterable[bytes] | AsyncIterable[bytes]"
#: What is sent: bytes or a file region (cut into frames), or the iterator's chunks as they come.
Audio: TypeAlias = "bytes | FileAudio | Iterable[bytes] | AsyncIterable[bytes]"

#: Bytes a file's audio is read in (then cut into frames): 1 MiB, about 30 s of 16 kHz mono.
_READ_BLOCK: Final = 1 << 20

#: Bytes a second assumed when a file's duration cannot be read (about 256 kbit/s).
_NOMINAL_BYTES_PER_SECOND: Final = 32_000


class FileAudio:
    """A region of a file sent as it is read, ``chunk`` bytes at a time: an hour of audio is never held whole.

    ``mix`` (the file's channel count) mixes interleaved 16-bit PCM down to one channel as it is
    read (Flux hears one channel), so each chunk read is a whole number of frames.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.raw"
    >>> _ = path.write_bytes(bytes(range(10)))
    >>> audio = FileAudio(path, offset=2, size=6)
    >>> len(audio), list(audio.chunks(4))
    (6, [b'\\x02\\x03\\x04\\x05', b'\\x06\\x07'])
    """

    def __init__(self, path: str | os.PathLike[str], *, offset: int, size: int, mix: int = 1) -> None:
        self.path, self.offset, self.mix = Path(path), offset, mix
        self.size = size - size % (2 * mix) if mix > 1 else size

    def __len__(self) -> int:
        """Bytes sent: after a mix-down, the mono bytes."""
        return self.size // self.mix if self.mix > 1 else self.size

    def chunks(self, chunk: int) -> Iterable[bytes]:
        """The bytes to send, about ``chunk`` at a time (read from the file as they are needed)."""
        step = (
            max(2 * self.mix, chunk * self.mix // (2 * self.mix) * (2 * self.mix)) if self.mix > 1 else chunk
        )
        with self.path.open("rb") as f:
            f.seek(self.offset)
            left = self.size
            while left > 0:
                piece = f.read(min(step, left))
                if not piece:
                    return
                left -= len(piece)
                yield _mono(piece, self.mix) if self.mix > 1 else piece


def _mono(piece: bytes, channels: int) -> bytes:
    """Interleaved 16-bit PCM of ``channels`` channels, mixed down to one (their mean, rounded)."""
    import numpy as np

    mixed = np.frombuffer(piece, "<i2").reshape(-1, channels).mean(axis=1)
    return bytes(np.round(mixed).astype("<i2").tobytes())


class Feed:
    """The audio of one stream across its sockets: what was sent, and what no final has covered yet.

    A final ``Results`` acknowledges the audio up to its end; a new socket (after a drop) is sent
    the audio from there on again and its times are offset by it (each socket starts at 0).  At
    most ``resend`` seconds are kept for that: older unacknowledged audio is let go.
    """

    def __init__(self, audio: Audio, chunk: int, rate: float, frame: int, resend: float) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=8)
        self._pump: asyncio.Task[None] | None = None
        self._audio, self._chunk = audio, chunk
        self.rate, self.frame = rate, frame
        self.sent = 0  # stream bytes sent (the position of the next new byte)
        self.acked = 0  # stream bytes no socket need hear again
        self.pending: collections.deque[tuple[int, bytes]] = collections.deque()  # (position, chunk)
        self.done = False  # the source ran out
        self._limit = max(frame, int(resend * rate))
        self.offset = 0  # stream bytes before the current socket's time 0
        self.position = 0  # stream bytes the current socket has been sent
        self.error: Exception | None = None

    @property
    def seconds(self) -> float:
        return self.sent / self.rate

    def restart(self) -> float:
        """Start a socket: its time 0 is the acknowledged position; return that in seconds."""
        if self._pump is None:
            self._pump = asyncio.create_task(self._fill())
        self.offset = self.acked
        if self.pending and self.pending[0][0] > self.offset:  # the oldest audio was let go
            self.offset = self.pending[0][0]
        return self.offset / self.rate

    def replay(self) -> list[bytes]:
        """The chunks to send a new socket again (the audio after its time 0)."""
        return [c[max(0, self.offset - pos) :] for pos, c in self.pending if pos + len(c) > self.offset]

    async def next(self) -> bytes | None:
        """The next new chunk (None at the end), recorded as pending until a final covers it."""
        if self.done:
            return None
        piece = await self._queue.get()
        if piece is None:
            self.done = True
            if self.error is not None:
                raise self.error
            return None
        self.pending.append((self.sent, piece))
        self.sent += len(piece)
        while self.pending and self.sent - self.pending[0][0] - len(self.pending[0][1]) >= self._limit:
            self.pending.popleft()
        return piece

    def ack(self, end_s: float) -> None:
        """A final covers the stream's audio up to ``end_s`` seconds."""
        pos = int(end_s * self.rate) // self.frame * self.frame
        if pos > self.acked:
            self.acked = min(pos, self.sent)
            while self.pending and self.pending[0][0] + len(self.pending[0][1]) <= self.acked:
                self.pending.popleft()

    async def _fill(self) -> None:
        try:
            async for piece in pieces(self._audio, self._chunk):
                await self._queue.put(piece)
        except Exception as exc:  # the source failed: the sender raises it
            self.error = exc
        await self._queue.put(None)

    async def close(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump


async def pieces(audio: Audio, chunk: int) -> AsyncIterator[bytes]:
    """The frames to send: ``chunk``-byte slices of bytes, or an iterator's own chunks (a sync one read in a thread)."""
    if isinstance(audio, bytes):
        for i in range(0, len(audio), chunk):
            yield audio[i : i + chunk]
    elif isinstance(audio, FileAudio):  # read a block at a time off the loop, sent in frames as bytes are
        block = max(chunk, _READ_BLOCK // chunk * chunk)
        it = iter(audio.chunks(block))
        while data := await asyncio.to_thread(next, it, b""):
            for i in range(0, len(data), chunk):
                yield data[i : i + chunk]
    elif isinstance(audio, AsyncIterable):
        async for piece in audio:
            if piece:
                yield bytes(piece)
    else:
        it = iter(audio)
        end = b""
        while piece := await asyncio.to_thread(next, it, end):
            yield bytes(piece)


#: Bytes of one sample of each raw encoding Deepgram takes.
_SAMPLE_BYTES: Final = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}


def frame_bytes(options: dict[str, Any]) -> int:
    """Bytes of one sample on every channel (1 for a container: it is never cut mid-stream)."""
    width = _SAMPLE_BYTES.get(str(options.get("encoding")))
    return (width or 1) * int(options.get("channels", 1)) if options.get("encoding") else 1


def _raw_format(options: dict[str, Any], what: str) -> float:
    """Bytes per audio second of raw audio described by ``encoding``, ``sample_rate`` and ``channels``."""
    encoding, rate = options.get("encoding"), options.get("sample_rate")
    if encoding is None or rate is None:
        raise ConfigError(f"{what} need encoding= and sample_rate= (and channels= for more than one)")
    width = _SAMPLE_BYTES.get(str(encoding))
    channels = int(options.get("channels", 1))
    return (width or 2) * int(rate) * channels


def audio_of(
    source: Source, options: dict[str, Any], *, container: bool = False, mono: bool = False
) -> tuple[str, Audio, dict[str, Any], float]:
    """``(label, what to send, options the audio implies, its bytes per audio second)``."""
    if isinstance(source, bytes):
        return "<bytes>", source, {}, _raw_format(options, "raw audio bytes")
    if not isinstance(source, str | os.PathLike):
        if not isinstance(source, AsyncIterable | Iterable):
            raise ConfigError(
                f"source={type(source).__name__}: give a file path, audio bytes, or an iterator of byte chunks"
            )
        chunks = cast("Iterable[bytes] | AsyncIterable[bytes]", source)
        return "<stream>", chunks, {}, _raw_format(options, "an iterator of audio chunks")
    label = os.fspath(source)
    try:
        size = Path(label).stat().st_size
        with Path(label).open("rb") as f:
            header = _wav_pcm16_region(f)
    except OSError as exc:
        raise ConfigError(f"cannot read audio file {label!r}: {exc.strerror or exc}") from None
    if container or "encoding" in options:  # sent as it is, read as it goes
        return label, FileAudio(label, offset=0, size=size), {}, _bytes_per_second(label, size)
    if header is not None:  # 16-bit PCM WAV: its samples are sent straight from the file
        rate, channels, offset, length = header
        length = min(length, size - offset)
        if mono:
            audio = FileAudio(label, offset=offset, size=length, mix=channels)
            return label, audio, {"encoding": "linear16", "sample_rate": rate}, 2 * rate
        declared = {"encoding": "linear16", "sample_rate": rate, "channels": channels}
        return label, FileAudio(label, offset=offset, size=length), declared, 2 * rate * channels
    try:
        data = Path(label).read_bytes()  # another format: decoded whole (mp3, flac, ...)
    except OSError as exc:
        raise ConfigError(f"cannot read audio file {label!r}: {exc.strerror or exc}") from None
    rate, channels, samples = _decode(data, label)
    if mono:  # Flux hears one channel: the file's are mixed down, as Deepgram mixes them
        if channels > 1:
            import numpy as np

            mixed = np.frombuffer(samples, "<i2").reshape(-1, channels).mean(axis=1)
            samples, channels = np.round(mixed).astype("<i2").tobytes(), 1
        return label, samples, {"encoding": "linear16", "sample_rate": rate}, 2 * rate
    declared = {"encoding": "linear16", "sample_rate": rate, "channels": channels}
    return label, samples, declared, 2 * rate * channels


def _decode(data: bytes, label: str) -> tuple[int, int, bytes]:
    """``(sample_rate, channels, samples)``: any audio file as interleaved 16-bit PCM at its own rate."""
    import numpy as np

    from ..engines.pcm import load_audio
    from ..exceptions import AudioDecodeError

    try:
        audio = load_audio(data, name=label, rate=None)
    except AudioDecodeError as exc:
        raise ConfigError(f"{exc}. Or pass container=True (--container) to send the file as it is") from None
    pcm = np.clip(audio.samples.T * 32768.0, -32768, 32767).astype("<i2")
    return audio.source_rate, audio.channels, pcm.tobytes()


def _wav_pcm16_region(f: Any) -> tuple[int, int, int, int] | None:
    """``(sample_rate, channels, data offset, data bytes)`` of a 16-bit PCM WAV file open at 0, else None.

    Only the chunk headers are read: the samples stay on disk.
    """
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    while True:
        f.seek(pos)
        chunk = f.read(8)
        if len(chunk) < 8:
            return None
        cid, size = chunk[:4], struct.unpack_from("<I", chunk, 4)[0]
        body = pos + 8
        if cid == b"fmt " and size >= 16:
            fmt = struct.unpack("<HHIIHH", f.read(16))
        elif cid == b"data" and fmt is not None:
            tag, channels, rate, _, _, bits = fmt
            if tag not in (1, 0xFFFE) or bits != 16:
                return None
            return rate, channels, body, size
        pos = body + size + (size & 1)


def _bytes_per_second(path: str, size: int) -> float:
    from ..audio import probe_duration

    try:
        seconds = probe_duration(path)
    except Exception:
        seconds = None
    return size / seconds if seconds else _NOMINAL_BYTES_PER_SECOND
