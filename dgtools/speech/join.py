"""Joining the audio of a text's chunks into one file, and reading how long audio lasts.

How the chunks of one text become one file depends on the encoding:

* **PCM in WAV** (``linear16``, ``mulaw``, ``alaw`` with ``container="wav"``, the default for
  them): gapless.  The samples of every chunk are concatenated under one WAV header, so the file
  lasts exactly the sum of its chunks.
* **Raw PCM** (``container="none"``): the samples concatenated.
* **MP3**: the frames of every chunk are concatenated (MP3 frames stand alone, so the result
  plays as one stream).  Only the first chunk's ``Xing``/``Info`` frame is kept (the header that
  tells a player the length, and the encoder's delay and padding to trim), rewritten for the
  whole file: its frame and byte counts, its seek table, and the end padding of the last chunk;
  the other chunks' header frames and ID3 tags are dropped.  An MP3 encoder pads the start and
  end of each chunk to whole frames, so a joined file lasts a little longer than the same text
  spoken at once (a few tens of milliseconds of silence at each join).  Durations of MP3 count
  whole frames, padding included, so a joined file lasts exactly the sum of its chunks.
* **Opus (Ogg), FLAC, AAC**: a text of one chunk only.  Their streams do not concatenate into
  one valid file, so :func:`dgtools.speak` refuses a longer text in them (a failure row, before
  anything is sent) and says to use ``linear16`` or ``mp3``.

:func:`duration` reads the length of one answer (WAV and raw PCM from their sizes, MP3 and AAC
from their frames, FLAC from its STREAMINFO, Opus from its last Ogg page); None where it cannot.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final, NamedTuple

from ..exceptions import ConfigError
from ..options.speak import SpeakFormat

__all__ = ["JOINABLE", "duration", "join", "joinable", "kind", "wav_bytes"]

#: Bytes per sample of the raw encodings.
_WIDTH: Final = {"linear16": 2, "mulaw": 1, "alaw": 1}


def kind(fmt: SpeakFormat) -> str:
    """How audio in ``fmt`` joins: ``"wav"``, ``"raw"`` (PCM without a container), or the encoding.

    Examples
    --------
    >>> from dgtools.options.speak import speak_format
    >>> kind(speak_format({"encoding": "linear16"})), kind(speak_format({"encoding": "mulaw", "container": "none"}))
    ('wav', 'raw')
    >>> kind(speak_format({}))
    'mp3'
    """
    if fmt.encoding in _WIDTH:
        return "wav" if fmt.container == "wav" else "raw"
    return fmt.encoding


#: Kinds of audio (:func:`kind`) whose chunks join into one playable file.
JOINABLE: Final = frozenset({"wav", "raw", "mp3"})


def joinable(fmt: SpeakFormat) -> bool:
    """Whether chunks in ``fmt`` join into one file (a text may then be longer than one request)."""
    return kind(fmt) in JOINABLE


def join(parts: Sequence[bytes], fmt: SpeakFormat) -> bytes:
    """The audio of ``parts`` (one answer per chunk, in order) as one file.

    Raises
    ------
    ValueError
        A WAV part that is not WAV, or parts whose sample formats differ.
    ConfigError
        Several parts in a format that does not join (see :func:`joinable`).

    Examples
    --------
    >>> from dgtools.options.speak import speak_format
    >>> fmt = speak_format({"encoding": "linear16", "sample_rate": 8000})
    >>> a, b = wav_bytes(b"\\x01\\x00" * 80, 8000), wav_bytes(b"\\x02\\x00" * 40, 8000)
    >>> duration(join([a, b], fmt), fmt), duration(a, fmt) + duration(b, fmt)
    (0.015, 0.015)
    """
    if len(parts) == 1:
        return parts[0]
    how = kind(fmt)
    if how == "wav":
        return _join_wav(parts)
    if how == "raw":
        return b"".join(parts)
    if how == "mp3":
        return _join_mp3(parts)
    raise ConfigError(f"{fmt.encoding} audio of several chunks cannot be joined into one file")


def duration(data: bytes, fmt: SpeakFormat) -> float | None:
    """Seconds of audio in one answer (or a joined file), or None when it cannot be read.

    Examples
    --------
    >>> from dgtools.options.speak import speak_format
    >>> duration(wav_bytes(b"\\0\\0" * 24000, 24000), speak_format({"encoding": "linear16"}))
    1.0
    >>> duration(b"\\0" * 8000, speak_format({"encoding": "mulaw", "container": "none"}))
    1.0
    """
    try:
        how = kind(fmt)
        if how == "wav":
            info, samples = _parse_wav(data)
            return _round(len(samples) / info.byte_rate) if info.byte_rate else None
        if how == "raw":
            return _round(len(data) / (fmt.sample_rate * _WIDTH[fmt.encoding]))
        if how == "mp3":
            frames = _mp3_frames(data)
            if not frames:
                return None
            return _round(sum(f.samples / f.sample_rate for f in frames if not f.info))
        if how == "flac":
            return _flac_duration(data)
        if how == "opus":
            return _opus_duration(data)
        if how == "aac":
            return _adts_duration(data)
    except (ValueError, IndexError, struct.error, ZeroDivisionError):
        return None
    return None


def _round(seconds: float) -> float:
    return round(seconds, 6)


# --------------------------------------------------------------------------- WAV


class _WavInfo(NamedTuple):
    fmt: bytes  # the whole 'fmt ' chunk body
    byte_rate: int
    block_align: int


def wav_bytes(
    samples: bytes, sample_rate: int, *, channels: int = 1, bits: int = 16, format_code: int = 1
) -> bytes:
    """A WAV file of ``samples`` (PCM ``format_code=1``; 7 mu-law, 6 A-law).

    Examples
    --------
    >>> wav_bytes(b"\\0\\0" * 10, 16000)[:4], len(wav_bytes(b"\\0\\0" * 10, 16000))
    (b'RIFF', 64)
    """
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", format_code, channels, sample_rate, sample_rate * block, block, bits)
    return _wav_file(fmt, samples)


def _wav_file(fmt: bytes, samples: bytes) -> bytes:
    pad = b"\0" if len(samples) % 2 else b""
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples))
    return b"RIFF" + struct.pack("<I", len(body) + len(samples) + len(pad)) + body + samples + pad


def _parse_wav(data: bytes) -> tuple[_WavInfo, bytes]:
    """The format and the samples of a WAV file; a streamed header's unknown data size reads to the end."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file (no RIFF/WAVE header)")
    pos = 12
    fmt: bytes | None = None
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        start = pos + 8
        if cid == b"data":
            if fmt is None:
                raise ValueError("a WAV file whose data comes before its format")
            end = len(data) if size in (0, 0xFFFFFFFF) or start + size > len(data) else start + size
            byte_rate, block_align = struct.unpack_from("<IH", fmt, 8)
            samples = data[start:end]
            if block_align:
                samples = samples[: len(samples) - len(samples) % block_align]
            return _WavInfo(fmt, byte_rate, block_align), samples
        if cid == b"fmt ":
            fmt = data[start : start + size]
            if len(fmt) < 16:
                raise ValueError("a WAV format chunk shorter than 16 bytes")
        pos = start + size + (size & 1)
    raise ValueError("a WAV file without a data chunk")


def _join_wav(parts: Sequence[bytes]) -> bytes:
    first, samples = _parse_wav(parts[0])
    out = [samples]
    for i, part in enumerate(parts[1:], start=2):
        info, more = _parse_wav(part)
        if info.fmt[:16] != first.fmt[:16]:
            raise ValueError(f"chunk {i} has another sample format than chunk 1: they cannot be joined")
        out.append(more)
    return _wav_file(first.fmt, b"".join(out))


# --------------------------------------------------------------------------- MP3

_MP3_BITRATES: Final = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1 layer III
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2/2.5 layer III
}
_MP3_RATES: Final = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


class _Frame(NamedTuple):
    start: int
    end: int
    samples: int
    sample_rate: int
    info: bool  # a Xing/Info/VBRI header frame: metadata, no audio of its own


def _id3v2_size(data: bytes, pos: int) -> int:
    """Bytes of an ID3v2 tag at ``pos`` (0 when there is none)."""
    if data[pos : pos + 3] != b"ID3" or len(data) < pos + 10:
        return 0
    size = 0
    for b in data[pos + 6 : pos + 10]:
        size = (size << 7) | (b & 0x7F)
    footer = 10 if data[pos + 5] & 0x10 else 0
    return 10 + size + footer


def _mp3_frames(data: bytes) -> list[_Frame]:
    """The MPEG layer III frames of ``data`` (after any ID3v2 tag; an ID3v1 tag or junk ends the list)."""
    pos = _id3v2_size(data, 0)
    frames: list[_Frame] = []
    while pos + 4 <= len(data):
        (header,) = struct.unpack_from(">I", data, pos)
        if header >> 21 != 0x7FF:
            if not frames:
                raise ValueError("no MPEG frame where the audio should start")
            break
        version = (header >> 19) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
        layer = (header >> 17) & 3  # 1: layer III
        bitrate_index = (header >> 12) & 15
        rate_index = (header >> 10) & 3
        if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
            raise ValueError("not an MPEG layer III frame of a known bitrate")
        mpeg1 = version == 3
        bitrate = _MP3_BITRATES[1 if mpeg1 else 2][bitrate_index] * 1000
        rate = _MP3_RATES[version][rate_index]
        padding = (header >> 9) & 1
        length = (144 if mpeg1 else 72) * bitrate // rate + padding
        end = pos + length
        if end > len(data):  # a frame cut short at the end: keep what there is, count no samples
            break
        body = data[pos + 4 : min(end, pos + 4 + 40)]
        info = not frames and (b"Xing" in body or b"Info" in body or b"VBRI" in body)
        frames.append(_Frame(pos, end, 1152 if mpeg1 else 576, rate, info))
        pos = end
    return frames


def _join_mp3(parts: Sequence[bytes]) -> bytes:
    """The frames of every part in order, under the first part's Xing/Info frame rewritten for them all."""
    try:
        parsed = [(p, _mp3_frames(p)) for p in parts]
    except (ValueError, struct.error):
        return b"".join(parts)  # not frames we know: appended as they are (players resynchronise)
    audio = [p[f.start : f.end] for p, frames in parsed for f in frames if not f.info]
    first, frames = parsed[0]
    head = first[: _id3v2_size(first, 0)]
    if not frames or not frames[0].info:
        return head + b"".join(audio)
    last, last_frames = parsed[-1]
    end_padding = _lame_padding(last, last_frames[0]) if last_frames and last_frames[0].info else None
    info = _rewrite_info(bytearray(first[frames[0].start : frames[0].end]), audio, end_padding)
    return head + info + b"".join(audio)


def _xing_offset(frame: bytes | bytearray) -> int:
    """Where the Xing/Info tag starts in its frame: after the header and the side information."""
    mpeg1 = (frame[1] >> 3) & 3 == 3
    mono = frame[3] >> 6 == 3
    return 4 + ((17 if mono else 32) if mpeg1 else (9 if mono else 17))


def _lame_offset(frame: bytes | bytearray) -> int | None:
    """Where the LAME extension starts (after the Xing fields), or None without one."""
    at = _xing_offset(frame)
    if bytes(frame[at : at + 4]) not in (b"Xing", b"Info"):
        return None
    (flags,) = struct.unpack_from(">I", frame, at + 4)
    at += 8 + 4 * bool(flags & 1) + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
    return at if at + 36 <= len(frame) and frame[at : at + 4].isalpha() else None


def _lame_padding(data: bytes, frame: _Frame) -> int | None:
    at = _lame_offset(data[frame.start : frame.end])
    if at is None:
        return None
    packed = int.from_bytes(data[frame.start + at + 21 : frame.start + at + 24], "big")
    return packed & 0xFFF


def _rewrite_info(frame: bytearray, audio: list[bytes], end_padding: int | None) -> bytes:
    """The Xing/Info frame ``frame`` counting ``audio``'s frames and bytes, with a seek table for them."""
    at = _xing_offset(frame)
    if bytes(frame[at : at + 4]) not in (b"Xing", b"Info"):
        return b""
    (flags,) = struct.unpack_from(">I", frame, at + 4)
    total = len(frame) + sum(len(a) for a in audio)
    pos = at + 8
    if flags & 1:
        struct.pack_into(">I", frame, pos, len(audio))
        pos += 4
    if flags & 2:
        struct.pack_into(">I", frame, pos, total)
        pos += 4
    if flags & 4:  # entry i: where i% of the way through the frames starts, in 256ths of the file
        starts, offset = [], len(frame)
        for a in audio:
            starts.append(offset)
            offset += len(a)
        for i in range(100):
            where = starts[min(len(starts) - 1, i * len(starts) // 100)] if starts else 0
            frame[pos + i] = min(255, where * 256 // total)
    lame = _lame_offset(frame)
    if lame is not None:
        if end_padding is not None:
            packed = int.from_bytes(frame[lame + 21 : lame + 24], "big")
            frame[lame + 21 : lame + 24] = ((packed & ~0xFFF) | end_padding).to_bytes(3, "big")
        struct.pack_into(">I", frame, lame + 28, total)
        struct.pack_into(">H", frame, lame + 34, _crc16(bytes(frame[: lame + 34])))
    return bytes(frame)


def _crc16(data: bytes) -> int:
    """CRC-16 (ARC: polynomial 0x8005 reflected), as the LAME tag's checksum."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


# --------------------------------------------------------------------------- FLAC, Opus, AAC


def _flac_duration(data: bytes) -> float | None:
    if data[:4] != b"fLaC" or data[4] & 0x7F != 0:  # the first metadata block is STREAMINFO
        return None
    info = data[8:42]
    packed = int.from_bytes(info[10:18], "big")  # 20 bits rate, 3 channels, 5 bits, 36 total samples
    rate = packed >> 44
    total = packed & ((1 << 36) - 1)
    return _round(total / rate) if rate and total else None


def _opus_duration(data: bytes) -> float | None:
    pos = 0
    pre_skip = 0
    last_granule = -1
    while pos + 27 <= len(data) and data[pos : pos + 4] == b"OggS":
        (granule,) = struct.unpack_from("<q", data, pos + 6)
        segments = data[pos + 26]
        lacing = data[pos + 27 : pos + 27 + segments]
        body = pos + 27 + segments
        if data[body : body + 8] == b"OpusHead":
            (pre_skip,) = struct.unpack_from("<H", data, body + 10)
        if granule >= 0:
            last_granule = granule
        pos = body + sum(lacing)
    if last_granule < 0:
        return None
    return _round(max(0, last_granule - pre_skip) / 48000)


_ADTS_RATES: Final = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def _adts_duration(data: bytes) -> float | None:
    pos = _id3v2_size(data, 0)
    seconds = 0.0
    while pos + 7 <= len(data) and data[pos] == 0xFF and data[pos + 1] & 0xF6 == 0xF0:
        rate = _ADTS_RATES[(data[pos + 2] >> 2) & 15]
        length = ((data[pos + 3] & 3) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
        blocks = (data[pos + 6] & 3) + 1
        if length < 7:
            break
        seconds += 1024 * blocks / rate
        pos += length
    return _round(seconds) if seconds else None
