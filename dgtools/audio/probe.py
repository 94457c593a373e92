"""Hashing and probing audio: the sha256 a store key is made of, and durations for cost estimates.

Durations are read locally, from headers wherever possible (WAV, MP4/M4A, WebM/Matroska here;
FLAC, Ogg, MP3 through soundfile), so that a cost estimate and a budget are known before
anything is sent.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import warnings
from collections.abc import Iterator
from typing import BinaryIO, Final

__all__ = ["ebml_duration", "fingerprint", "mp4_duration", "probe_duration", "sha256_file", "wav_duration"]


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes as lowercase hex, read in chunks (constant memory).

    This is the audio half of a :meth:`dgtools.store.Store.key`.

    Examples
    --------
    >>> import hashlib, tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"RIFF")
    >>> sha256_file(f.name) == hashlib.sha256(b"RIFF").hexdigest()
    True
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    digest = hashlib.sha256()
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def _finite_positive(value: object) -> float | None:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """``(type, body start, body end)`` of the ISO base media boxes between ``start`` and ``end``."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        header = f.read(16)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header[:8])
        body = pos + 8
        if size == 1:  # a 64-bit size follows
            if len(header) < 16:
                return
            (size,) = struct.unpack(">Q", header[8:16])
            body = pos + 16
        elif size == 0:  # to the end of the file
            size = end - pos
        if size < body - pos:
            return
        yield kind, body, min(pos + size, end)
        pos += size


def mp4_duration(path: str | os.PathLike[str]) -> float | None:
    """The duration of an MP4/M4A/MOV/3GP file from its ``moov/mvhd`` box, or None.

    Reads box headers only (the ``moov`` box may come after the audio data).

    Examples
    --------
    >>> import os, struct, tempfile
    >>> mvhd = struct.pack(">B3xIIII", 0, 0, 0, 1000, 90_500) + bytes(80)
    >>> moov = struct.pack(">I4s", 8 + 8 + len(mvhd), b"moov") + struct.pack(">I4s", 8 + len(mvhd), b"mvhd") + mvhd
    >>> path = os.path.join(tempfile.mkdtemp(), "a.m4a")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(struct.pack(">I4s4s", 12, b"ftyp", b"M4A ") + moov)
    >>> mp4_duration(path)
    90.5
    """
    try:
        with open(path, "rb") as f:
            end = os.fstat(f.fileno()).st_size
            for kind, body, stop in _boxes(f, 0, end):
                if kind != b"moov":
                    continue
                for inner, ibody, _ in _boxes(f, body, stop):
                    if inner != b"mvhd":
                        continue
                    f.seek(ibody)
                    data = f.read(32)
                    if data[:1] == b"\x01" and len(data) >= 32:
                        timescale, duration = struct.unpack(">IQ", data[20:32])
                    elif len(data) >= 20:
                        timescale, duration = struct.unpack(">II", data[12:20])
                    else:
                        return None
                    if timescale == 0 or duration in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
                        return None
                    return float(duration) / float(timescale)
    except OSError:
        return None
    return None


def _ebml_number(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length number at ``pos``: ``(value, next position)``; IDs keep their marker bit."""
    if pos >= len(data) or data[pos] == 0:
        return None
    first = data[pos]
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        return None
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, pos + length


_EBML_SEGMENT, _EBML_INFO, _EBML_SCALE, _EBML_DURATION = 0x18538067, 0x1549A966, 0x2AD7B1, 0x4489


def ebml_duration(head: bytes) -> float | None:
    """The duration of a WebM/Matroska file from the ``Segment/Info`` at its start, or None.

    Live recordings (a browser's MediaRecorder) often carry no duration: None.

    Examples
    --------
    >>> import struct
    >>> info = bytes.fromhex("2ad7b1 83 0f4240") + bytes.fromhex("4489 88") + struct.pack(">d", 12_500.0)
    >>> segment = bytes.fromhex("1549a966") + bytes([0x80 | len(info)]) + info
    >>> head = bytes.fromhex("1a45dfa3 80 18538067 01ffffffffffffff") + segment
    >>> ebml_duration(head)
    12.5
    """
    pos, end = 0, len(head)
    scale, duration = 1_000_000, None
    while pos < end:
        ident = _ebml_number(head, pos, keep_marker=True)
        if ident is None:
            return None
        size = _ebml_number(head, ident[1], keep_marker=False)
        if size is None:
            return None
        (eid, _), (length, body) = ident, size
        if eid in (_EBML_SEGMENT, _EBML_INFO):  # descend into the master elements that hold the duration
            if eid == _EBML_INFO:
                end = min(end, body + length)
            pos = body
            continue
        if eid == _EBML_SCALE and 0 < length <= 8:
            scale = int.from_bytes(head[body : body + length], "big")
        elif eid == _EBML_DURATION and length in (4, 8) and body + length <= len(head):
            (duration,) = struct.unpack(">f" if length == 4 else ">d", head[body : body + length])
        pos = body + length
    if duration is None or scale <= 0:
        return None
    return _finite_positive(duration * scale / 1e9)


def probe_duration(path: str | os.PathLike[str]) -> float | None:
    """The duration of an audio file in seconds, read locally; ``None`` when it cannot be read.

    Reads the header with ``soundfile.info`` (WAV, FLAC, Ogg, and MP3 with
    libsndfile >= 1.1) without decoding the audio; MP4/M4A/MOV
    (:func:`mp4_duration`) and WebM/Matroska (:func:`ebml_duration`) from their
    container headers; other formats fall back to
    ``librosa.get_duration(path=...)``, which may decode them (and needs ffmpeg
    for AAC).  Never raises for a missing, unreadable or corrupt file, and emits
    no warnings.

    Examples
    --------
    >>> import os, tempfile, numpy as np, soundfile as sf
    >>> wav = os.path.join(tempfile.mkdtemp(), "half-second.wav")
    >>> sf.write(wav, np.zeros(8000), 16000)
    >>> probe_duration(wav)
    0.5
    >>> probe_duration(__file__) is None
    True
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa: "PySoundFile failed. Trying audioread instead."
        try:
            import soundfile

            info = soundfile.info(p)
            frames, rate = int(info.frames), int(info.samplerate)
        except Exception:  # not installed, or libsndfile cannot read the file
            pass
        else:
            if rate > 0 and 0 <= frames < 2**62:  # libsndfile gives a huge count for an unknown length
                return frames / rate
        try:
            with open(p, "rb") as f:
                head = f.read(1 << 16)
        except OSError:
            return None
        found = mp4_duration(p) if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") else None
        if found is None and head[:4] == b"\x1a\x45\xdf\xa3":
            found = ebml_duration(head)
        if found is not None:
            return found
        try:
            import librosa

            return _finite_positive(librosa.get_duration(path=p))
        except Exception:  # not installed, or no backend reads the file
            return None


_WAV_FORMATS: Final = frozenset({1, 3, 6, 7, 0xFFFE})  # PCM, IEEE float, A-law, mu-law, extensible


def wav_duration(head: bytes, file_size: int) -> float | None:
    """The duration of a RIFF/WAVE file from its first bytes, or ``None`` when they do not tell.

    Walks the chunks of ``head`` (the file's start, e.g. its first 64 KB) to
    ``fmt `` and ``data``; uncompressed formats only (PCM, float, A-law,
    mu-law, extensible).  A ``data`` size of 0 or 0xFFFFFFFF (written by
    recorders that never went back to fill it in) or one past the end of the
    file is taken to run to the end of the file.  Other files (RF64, ADPCM, a
    ``data`` chunk beyond ``head`` ...) give ``None``: use
    :func:`probe_duration`.

    Examples
    --------
    >>> import struct
    >>> fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    >>> wav = b"RIFF" + struct.pack("<I", 36 + 32000) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
    >>> wav += b"data" + struct.pack("<I", 32000) + bytes(32000)
    >>> wav_duration(wav[:64], len(wav))
    1.0
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, block_align, rate = 12, 0, 0
    while pos + 8 <= len(head):
        cid = head[pos : pos + 4]
        (size,) = struct.unpack_from("<I", head, pos + 4)
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(head):
                return None
            tag, _channels, rate, _byte_rate, block_align, _bits = struct.unpack_from("<HHIIHH", head, body)
            if tag not in _WAV_FORMATS or rate <= 0 or block_align <= 0:
                return None
        elif cid == b"data":
            if not block_align:
                return None  # no (usable) fmt chunk before the data
            available = file_size - body
            if size in (0, 0xFFFFFFFF) or size > available:
                size = max(0, available)
            return float((size // block_align) / rate)
        pos = body + size + (size & 1)  # chunks are padded to an even size
    return None


def fingerprint(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> tuple[str, float | None]:
    """``(sha256, duration)`` of an audio file, reading it once.

    The SHA-256 is :func:`sha256_file`'s; the duration comes from the WAV
    header seen on the way (:func:`wav_duration`) or, for other formats, from
    :func:`probe_duration`.  The batch runner calls this for every input
    before sending anything (store keys, duplicates and the cost estimate).

    Raises
    ------
    OSError
        The file cannot be read.

    Examples
    --------
    >>> import hashlib, os, tempfile, numpy as np, soundfile as sf
    >>> wav = os.path.join(tempfile.mkdtemp(), "half-second.wav")
    >>> sf.write(wav, np.zeros(8000), 16000)
    >>> sha, seconds = fingerprint(wav)
    >>> sha == sha256_file(wav), seconds
    (True, 0.5)
    """
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(min(chunk_size, 1 << 16))
        digest.update(head)
        if size > len(head):  # the rest, through one buffer of at most chunk_size (none for small files)
            buf = bytearray(min(chunk_size, size - len(head)))
            view = memoryview(buf)
            while n := f.readinto(buf):
                digest.update(view[:n])
    duration = wav_duration(head, size)
    if duration is None:
        duration = probe_duration(path)
    return digest.hexdigest(), duration
