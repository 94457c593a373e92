"""What a file's first bytes say: its audio container, or why it cannot be audio at all.

Deepgram bills an attempt on a file it cannot decode, and a batch would upload a 2 GB file of
zeros before learning that.  So the container is sniffed before anything is hashed or sent, from
the file's first :data:`HEAD_BYTES`, and the suffix is only a hint: a ``.wav`` must start with a
RIFF/WAVE header whose ``fmt`` chunk makes sense, a ``.flac`` with ``fLaC`` and its stream info,
an ``.mp3`` with an ID3 tag or two consecutive MPEG frame headers, and so on.  :func:`sniff`
names the container; :func:`unusable` says, in a short phrase for a skipped row, why a file
cannot be audio (text, zeros, a header that does not match its suffix, a corrupt header, too
short), or returns None.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["HEAD_BYTES", "describe", "sniff", "unusable"]

#: How much of a file's start is read to sniff it.
HEAD_BYTES: Final = 4096

#: ISO base media (MP4, M4A, MOV, 3GP) top-level boxes a file may start with.
_ISO_BOXES: Final = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid"})
#: The ASF (WMA) header object's GUID.
_ASF: Final = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
#: The content types each suffix may carry (a file's header must announce one of them).
_FAMILIES: Final[dict[str, frozenset[str]]] = {
    ".wav": frozenset({"audio/wav"}),
    ".wave": frozenset({"audio/wav"}),
    ".flac": frozenset({"audio/flac"}),
    ".ogg": frozenset({"audio/ogg"}),
    ".oga": frozenset({"audio/ogg"}),
    ".opus": frozenset({"audio/ogg"}),
    ".m4a": frozenset({"audio/mp4", "video/quicktime"}),
    ".mp4": frozenset({"audio/mp4", "video/quicktime"}),
    ".mov": frozenset({"audio/mp4", "video/quicktime"}),
    ".3gp": frozenset({"audio/mp4", "video/quicktime"}),
    ".webm": frozenset({"audio/webm", "audio/x-matroska"}),
    ".mka": frozenset({"audio/webm", "audio/x-matroska"}),
    ".mkv": frozenset({"audio/webm", "audio/x-matroska"}),
    ".aif": frozenset({"audio/aiff"}),
    ".aiff": frozenset({"audio/aiff"}),
    ".amr": frozenset({"audio/amr"}),
    ".wma": frozenset({"audio/x-ms-wma"}),
    ".mp3": frozenset({"audio/mpeg"}),
    ".mp2": frozenset({"audio/mpeg"}),
    ".mpga": frozenset({"audio/mpeg"}),
    ".aac": frozenset({"audio/aac", "audio/mpeg"}),
}
#: Fewest bytes a file of each container can have and still hold audio.
_MINIMUM: Final[dict[str, int]] = {
    "audio/wav": 44,  # RIFF + WAVE + fmt (24) + data header
    "audio/flac": 42,  # fLaC + STREAMINFO block
    "audio/aiff": 54,
}
# MPEG audio: bitrates (kbit/s) by [version is 1][layer index], sample rates by version.
_BITRATES: Final = {
    (True, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),  # layer I
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),  # layer II
    (True, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # layer III
    (False, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 1): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES: Final = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame(head: bytes, pos: int) -> int | None:
    """The length of the MPEG audio frame whose header starts at ``pos``, or None if there is none."""
    if pos + 4 > len(head) or head[pos] != 0xFF or head[pos + 1] & 0xE0 != 0xE0:
        return None
    version = (head[pos + 1] >> 3) & 0x3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
    layer = (head[pos + 1] >> 1) & 0x3  # 3: I, 2: II, 1: III, 0: reserved
    index, rate_index = head[pos + 2] >> 4, (head[pos + 2] >> 2) & 0x3
    if version == 1 or layer == 0 or index in (0, 15) or rate_index == 3:
        return None
    bitrate = _BITRATES[(version == 3, layer)][index] * 1000
    rate = _RATES[version][rate_index]
    padding = (head[pos + 2] >> 1) & 0x1
    if layer == 3:
        return (12 * bitrate // rate + padding) * 4
    per_frame = 144 if layer == 2 or version == 3 else 72
    return per_frame * bitrate // rate + padding


def _mpeg(head: bytes) -> bool:
    """Two consecutive MPEG audio frame headers within ``head`` (at its start, or after zero padding)."""
    start = 0
    while start < len(head) and head[start] == 0:
        start += 1
    length = _mpeg_frame(head, start)
    if length is None:
        return False
    return start + length + 4 > len(head) or _mpeg_frame(head, start + length) is not None


def _adts(head: bytes) -> bool:
    """An AAC ADTS frame header (12-bit sync, layer 0) followed by another one."""
    if len(head) < 7 or head[0] != 0xFF or head[1] & 0xF6 != 0xF0:
        return False
    length = ((head[3] & 0x3) << 11) | (head[4] << 3) | (head[5] >> 5)
    if length < 7:
        return False
    nxt = head[length : length + 2]
    return len(nxt) < 2 or (nxt[0] == 0xFF and nxt[1] & 0xF6 == 0xF0)


def sniff(head: bytes) -> str | None:
    """The audio ``Content-Type`` a file's first bytes announce, or None.

    Examples
    --------
    >>> sniff(b"RIFF\\x24\\x00\\x00\\x00WAVEfmt ")
    'audio/wav'
    >>> sniff(b"hello, world") is None
    True
    """
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:3] == b"ID3":
        return "audio/mpeg"  # an ID3v2 tag: MP3, or AAC/FLAC behind a tag (Deepgram sniffs further)
    if len(head) >= 12 and head[4:8] in _ISO_BOXES:
        return "video/quicktime" if head[8:12] == b"qt  " else "audio/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM or Matroska, named by the DocType
        return "audio/webm" if b"webm" in head[:64] else "audio/x-matroska"
    if head[:6] == b"#!AMR\n" or head[:9] == b"#!AMR-WB\n":
        return "audio/amr"
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if head[:16] == _ASF:
        return "audio/x-ms-wma"
    if head[:4] == b"ADIF" or _adts(head):
        return "audio/aac"
    if _mpeg(head):
        return "audio/mpeg"
    return None


def describe(head: bytes) -> str:
    """What bytes that are not audio look like, for a message: text, zeros, or other data.

    Examples
    --------
    >>> describe(b"\\x00" * 64), describe(b"name,start,end\\n"), describe(bytes(range(200, 256)))
    ('zeros', 'text', 'other data')
    """
    if not head.strip(b"\x00"):
        return "zeros"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head[:-3].decode("utf-8", "ignore") if len(head) > 3 else ""
        if not text:
            return "other data"
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return "text" if text and printable >= 0.95 * len(text) else "other data"


def _wav_problem(head: bytes) -> str | None:
    """Why a RIFF/WAVE header cannot hold audio (no or a broken ``fmt`` chunk), or None."""
    if head[:4] == b"RF64":
        return None  # 64-bit sizes in a ds64 chunk: left to the decoder
    pos = 12
    while pos + 8 <= len(head):
        cid = head[pos : pos + 4]
        (size,) = struct.unpack_from("<I", head, pos + 4)
        if cid == b"fmt ":
            if size < 16 or pos + 24 > len(head):
                return "its WAV header is corrupt (the fmt chunk is too short)"
            _tag, channels, rate, _byte_rate, block_align, _bits = struct.unpack_from(
                "<HHIIHH", head, pos + 8
            )
            if channels == 0 or rate == 0 or block_align == 0:
                return f"its WAV header is corrupt ({channels} channels, {rate} Hz, block size {block_align})"
            return None
        if cid == b"data":
            return "its WAV header is corrupt (audio data comes before any fmt chunk)"
        pos += 8 + size + (size & 1)
    return None  # fmt beyond the first bytes: unusual but possible


def unusable(suffix: str, head: bytes, size: int) -> str | None:
    """Why a file cannot be audio Deepgram decodes, from its suffix, first bytes and size; or None.

    Parameters
    ----------
    suffix
        The file's suffix, lower case (``".wav"``), or ``""``.
    head
        Its first bytes (:data:`HEAD_BYTES` of them, or all of a shorter file).
    size
        Its size in bytes.

    Examples
    --------
    >>> unusable(".wav", b"id,start,end\\n1,0.0,1.5\\n", 24)
    'named .wav, but it holds text, not audio'
    >>> unusable(".flac", b"fLaC\\x00\\x00", 6)
    'too short for FLAC audio (6 bytes)'
    >>> unusable(".wav", b"\\x00" * 4096, 2_000_000_000)
    'named .wav, but it holds zeros, not audio'
    >>> unusable(".ogg", b"OggS\\x00\\x02" + bytes(80), 86) is None
    True
    """
    ctype = sniff(head)
    expected = _FAMILIES.get(suffix)
    if ctype is None:
        what = describe(head)
        if expected is not None:
            return f"named {suffix}, but it holds {what}, not audio"
        return f"not audio: it holds {what}"
    if expected is not None and ctype not in expected and not (ctype == "audio/mpeg" and head[:3] == b"ID3"):
        return f"named {suffix}, but its header is {ctype.split('/')[-1].removeprefix('x-').upper()}"
    minimum = _MINIMUM.get(ctype, 0)
    if size < minimum:
        return f"too short for {ctype.split('/')[-1].upper()} audio ({size} bytes)"
    if ctype == "audio/wav":
        return _wav_problem(head)
    return None
