"""What a text-to-speech stream (:mod:`dgtools.speech.stream`) sent and received, and its audio file.

:class:`SpeakStreamRun` holds the messages, the audio's size and one row per ``Flush``, ``Clear``
or final ``Close`` (:attr:`SpeakStreamRun.flushes`, columns :data:`FLUSH_COLUMNS`);
:class:`_AudioFile` writes audio as it arrives, its WAV header kept true after every frame.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from ..exceptions import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FLUSH_COLUMNS", "SpeakStreamRun", "flush_frame"]

#: Bytes per sample of the streaming ``/v1/speak``'s encodings (raw, mono).
_SAMPLE_BYTES: Final[dict[str, int]] = {"linear16": 2, "mulaw": 1, "alaw": 1}
#: The columns of :attr:`SpeakStreamRun.flushes`, in order, with their dtypes.
FLUSH_COLUMNS: Final[dict[str, str]] = {
    "kind": "string",  # "flush", "clear", or "close" (what the socket's close ended: text never flushed, late audio)
    "sequence_id": "Int64",  # the server's Flushed/Cleared sequence_id (NA: no answer)
    "text": "string",  # the text this Flush covered (for a Clear: the text dropped before it reached the server)
    "characters": "int64",
    "text_s": "float64",  # when the first Speak of this text was sent (s from the start, connect included)
    "sent_s": "float64",  # when the Flush (Clear, Close) was sent
    "first_audio_s": "float64",  # when its first audio byte arrived
    "ttfb_s": "float64",  # first_audio_s - sent_s: time to first audio byte after the Flush
    "answered_s": "float64",  # when Flushed (Cleared) arrived
    "audio_bytes": "int64",
    "audio_seconds": "float64",
    "cleared": "boolean",  # a Clear cut this flush's audio short (or this is the Clear)
}


# --------------------------------------------------------------------------- results


@dataclass
class _Row:
    """One Flush, Clear or Close as it goes and is answered (a row of :attr:`SpeakStreamRun.flushes`)."""

    kind: str
    text: str
    text_s: float | None
    sent_s: float | None = None
    first_audio_s: float | None = None
    answered_s: float | None = None
    sequence_id: int | None = None
    audio_bytes: int = 0
    cleared: bool = False


@dataclass
class SpeakStreamRun:
    """What one ``/v1/speak`` stream sent and received.

    Attributes
    ----------
    audio : pathlib.Path or None
        The audio file (a WAV file for ``linear16``, raw bytes otherwise), written as frames arrived.
    capture : pathlib.Path
        The JSONL capture of the server's messages (one per line, as received; binary audio
        frames are not in it).  Its ``.timing`` file has, for line *n*, its receive time and the
        audio bytes received by then.
    encoding, sample_rate : str, int
        The audio's format.
    request_id : str or None
        The socket's ``dg-request-id`` (or the ``Metadata`` message's ``request_id``).
    messages : list of dict
        Every JSON message from the server, in order.
    warnings : list of dict
        The ``Warning`` messages among them.
    text : str
        All the text sent in ``Speak`` messages, in order.
    audio_bytes : int
        Audio bytes received.
    connect_seconds : float
        From the start to the socket being open.
    first_audio_seconds : float or None
        From the start (connecting included) to the first audio byte.
    wall_seconds : float
        From the start to the socket's close.
    """

    audio: Path | None
    capture: Path
    encoding: str
    sample_rate: int
    request_id: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""
    audio_bytes: int = 0
    connect_seconds: float = 0.0
    first_audio_seconds: float | None = None
    wall_seconds: float = 0.0
    _rows: list[_Row] = field(default_factory=list, repr=False)

    def __repr__(self) -> str:
        name = self.audio.name if self.audio is not None else self.capture.name
        flushes = sum(r.kind == "flush" for r in self._rows)
        clears = sum(r.kind == "clear" for r in self._rows)
        return (
            f"<dgtools.SpeakStreamRun {name}: {flushes} flush(es)"
            + (f", {clears} clear(s)" if clears else "")
            + f", {len(self.text)} characters, {self.audio_seconds:.2f} audio s in {self.wall_seconds:.2f} s>"
        )

    @property
    def bytes_per_second(self) -> int:
        """Audio bytes a second (mono)."""
        return _SAMPLE_BYTES[self.encoding] * self.sample_rate

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio received."""
        return self.audio_bytes / self.bytes_per_second

    @property
    def flushes(self) -> pd.DataFrame:
        """One row per ``Flush`` (``Clear``, final ``Close``) sent, in order: see :data:`FLUSH_COLUMNS`.

        Times are seconds from the start of the stream (connecting included); ``ttfb_s`` is the
        time from the ``Flush`` leaving to its first audio byte arriving.  A ``Flush`` whose audio a
        ``Clear`` cut short has ``cleared`` set and may have no ``sequence_id``.
        """
        return flush_frame(self._rows, self.bytes_per_second)


def _ttfb(row: _Row) -> float | None:
    if row.first_audio_s is None or row.sent_s is None or row.kind == "clear":
        return None
    return row.first_audio_s - row.sent_s


def flush_frame(rows: Iterable[_Row], bytes_per_second: int) -> pd.DataFrame:
    """The :attr:`SpeakStreamRun.flushes` table of ``rows`` (fixed columns and dtypes, 0 rows too)."""
    import pandas as pd

    def t(value: float | None) -> float:
        return math.nan if value is None else round(value, 6)

    rows = list(rows)
    columns: dict[str, list[Any]] = {
        "kind": [r.kind for r in rows],
        "sequence_id": [r.sequence_id for r in rows],
        "text": [r.text for r in rows],
        "characters": [len(r.text) for r in rows],
        "text_s": [t(r.text_s) for r in rows],
        "sent_s": [t(r.sent_s) for r in rows],
        "first_audio_s": [t(r.first_audio_s) for r in rows],
        "ttfb_s": [t(_ttfb(r)) for r in rows],
        "answered_s": [t(r.answered_s) for r in rows],
        "audio_bytes": [r.audio_bytes for r in rows],
        "audio_seconds": [r.audio_bytes / bytes_per_second for r in rows],
        "cleared": [r.cleared for r in rows],
    }
    return pd.DataFrame({k: pd.array(v, dtype=FLUSH_COLUMNS[k]) for k, v in columns.items()})


# --------------------------------------------------------------------------- audio file


class _AudioFile:
    """Audio written as it arrives, flushed frame by frame; a WAV header kept true after every frame."""

    def __init__(self, path: Path, *, wav: bool, sample_rate: int) -> None:
        self.path = path
        self.wav = wav
        self.size = 0
        self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed by close()
        if wav:
            self._file.write(_wav_header(0, sample_rate))
            self._file.flush()

    def write(self, chunk: bytes) -> None:
        f = self._file
        f.write(chunk)
        self.size += len(chunk)
        if self.wav:  # the data first, then the sizes: a reader never sees a size beyond the data
            f.seek(4)
            f.write(struct.pack("<I", 36 + self.size))
            f.seek(40)
            f.write(struct.pack("<I", self.size))
            f.seek(0, os.SEEK_END)
        f.flush()

    def close(self) -> None:
        self._file.close()


def _wav_header(data_bytes: int, sample_rate: int) -> bytes:
    """A 44-byte header of mono 16-bit PCM WAV."""
    return (
        b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, 2 * sample_rate, 2, 16)
        + b"data" + struct.pack("<I", data_bytes)
    )  # fmt: skip


@dataclass
class _Files:
    """A stream's files: the capture, its timing, the audio."""

    capture: IO[str]
    timing: IO[str]
    audio: _AudioFile


def _open_files(capture: Path, audio: Path, wav: bool, sample_rate: int, label: str) -> _Files:
    """Create the stream's files (and their folders), or ConfigError saying why not."""
    opened: list[IO[Any] | _AudioFile] = []
    try:
        capture.parent.mkdir(parents=True, exist_ok=True)
        audio.parent.mkdir(parents=True, exist_ok=True)
        opened.append(c := open(capture, "w", encoding="utf-8"))  # noqa: SIM115 - closed by SpeakStream._end
        opened.append(t := open(capture.with_suffix(".timing"), "w", encoding="utf-8"))  # noqa: SIM115
        opened.append(a := _AudioFile(audio, wav=wav, sample_rate=sample_rate))
    except OSError as exc:
        for f in opened:
            f.close()
        raise ConfigError(f"{label}: cannot write the stream's files ({exc})") from None
    return _Files(c, t, a)
