"""Finding and probing audio: what a batch will send to Deepgram, and what it will skip and why.

:func:`collect` turns folders, files, glob patterns and URLs into
:class:`AudioSource` rows (what to send) and :class:`Skipped` rows (what not
to send, with the reason and what to do about it); it never raises for a bad
input.  :func:`sha256_file` gives the content hash the raw store is keyed by
and :func:`probe_duration` the length of a file, read locally.

``import dgtools.audio`` is light: soundfile and librosa are imported only
inside :func:`probe_duration`.
"""

from __future__ import annotations

import fnmatch
import glob as _glob
import hashlib
import math
import os
import re
import shlex
import stat
import struct
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "AUDIO_TYPES",
    "MAX_UPLOAD_BYTES",
    "AudioSource",
    "Skipped",
    "collect",
    "content_type",
    "fingerprint",
    "is_audio",
    "probe_duration",
    "sha256_file",
    "wav_duration",
]

# Deepgram "can handle nearly all audio formats and encodings available (over 100+)", naming
# MP3, MP4, MP2, AAC, WAV, FLAC, PCM, M4A, Ogg, Opus and WebM as the most common:
# https://developers.deepgram.com/docs/supported-audio-formats
# Headerless PCM (.pcm, .raw) is left out: it needs encoding= and sample_rate= with every request.
AUDIO_TYPES: Final[dict[str, str]] = {
    ".wav": "audio/wav",
    ".wave": "audio/wav",
    ".mp3": "audio/mpeg",
    ".mp2": "audio/mpeg",
    ".mpga": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".webm": "audio/webm",
    ".amr": "audio/amr",
    ".mka": "audio/x-matroska",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
    ".3gp": "audio/3gpp",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".wma": "audio/x-ms-wma",
}

#: Deepgram's limit on one pre-recorded upload (2 GB).
MAX_UPLOAD_BYTES: int = 2 * 1024**3

_MAGIC_CHARS: Final = re.compile(r"[*?\[]")
_URL_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_JUNK_NAMES: Final = frozenset({"thumbs.db", "desktop.ini", "icon\r", "__macosx"})
_LOSSLESS: Final = frozenset({".wav", ".wave", ".aif", ".aiff"})
_SNIFF_BYTES: Final = 64


@dataclass(frozen=True, slots=True)
class AudioSource:
    """One audio input to send to Deepgram.

    Attributes
    ----------
    source : str
        The path or URL as given or found (a file in a folder: the folder as
        given joined with the file's relative path).
    file_id : str
        The id of this input in every table: the path relative to the folder
        searched (POSIX, with its suffix, e.g. ``"calls/a.wav"``); for a file
        given directly its name; for a URL the URL.  Unique within one
        :func:`collect` result.
    path : Path or None
        The absolute path of a local file; ``None`` for a URL.
    url : str or None
        The URL Deepgram fetches; ``None`` for a local file.
    size : int or None
        Bytes of a local file; ``None`` for a URL.
    content_type : str or None
        The ``Content-Type`` to upload with, e.g. ``"audio/wav"``; for a URL,
        guessed from its suffix (``None`` when unknown).

    Examples
    --------
    >>> AudioSource("https://dpgr.am/spacewalk.wav", "https://dpgr.am/spacewalk.wav",
    ...             None, "https://dpgr.am/spacewalk.wav", None, "audio/wav").is_url
    True
    """

    source: str
    file_id: str
    path: Path | None
    url: str | None
    size: int | None
    content_type: str | None

    @property
    def is_url(self) -> bool:
        """Whether Deepgram fetches this input itself (a URL), rather than receiving an upload."""
        return self.url is not None


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that will not be sent, with the reason and what to do about it.

    Attributes
    ----------
    source : str
        The path, pattern or URL as given or found.
    file_id : str
        As for :class:`AudioSource`.
    reason : str
        What is wrong, e.g. ``"not an audio file (.txt)"``, ``"empty file (0 bytes)"``,
        ``"3.1 GB is above Deepgram's 2 GB upload limit"``, ``"no such file"``.
    advice : str
        What to do, e.g. a ready-to-run ``ffmpeg`` command.

    Examples
    --------
    >>> s = Skipped("notes.txt", "notes.txt", "not an audio file (.txt)", "leave it out")
    >>> s.reason
    'not an audio file (.txt)'
    """

    source: str
    file_id: str
    reason: str
    advice: str


# --------------------------------------------------------------------------- types


def _sniff_bytes(head: bytes) -> str | None:
    """The audio Content-Type that a file's first bytes announce, or None."""
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:3] == b"ID3":
        return "audio/mpeg"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "audio/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM or Matroska, named by the DocType
        return "audio/webm" if b"webm" in head else "audio/x-matroska"
    if head[:6] == b"#!AMR\n" or head[:9] == b"#!AMR-WB\n":
        return "audio/amr"
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if len(head) >= 4 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG/ADTS frame sync
        layer = (head[1] >> 1) & 0x3
        if layer == 0:
            return "audio/aac" if head[1] & 0xF0 == 0xF0 else None  # ADTS (AAC): 12-bit sync, layer 00
        bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0x3
        if (head[1] >> 3) & 0x3 != 1 and bitrate != 0xF and rate != 0x3:
            return "audio/mpeg"
    return None


def _sniff(path: Path) -> str | None:
    with open(path, "rb") as f:
        return _sniff_bytes(f.read(_SNIFF_BYTES))


def content_type(path: str | os.PathLike[str]) -> str | None:
    """The ``Content-Type`` to upload a file with, or ``None`` when it is not audio.

    Known suffixes (:data:`AUDIO_TYPES`, any case) decide without reading the
    file; for other suffixes the first bytes are sniffed for a WAV (RIFF/WAVE),
    MP3 (ID3 or an MPEG frame sync), AAC (ADTS), FLAC, Ogg, MP4 (``ftyp``),
    WebM/Matroska (EBML), AMR or AIFF header.  Never raises: an unreadable file
    gives ``None``.

    Examples
    --------
    >>> content_type("calls/a.WAV")
    'audio/wav'
    >>> content_type("notes.txt") is None      # no such file: nothing to sniff
    True
    """
    p = Path(path)
    known = AUDIO_TYPES.get(p.suffix.lower())
    if known is not None:
        return known
    try:
        return _sniff(p)
    except OSError:
        return None


def is_audio(path: str | os.PathLike[str]) -> bool:
    """Whether a file is audio Deepgram accepts, by suffix or else by its first bytes.

    Examples
    --------
    >>> is_audio("talk.mp3"), is_audio("slides.pdf")
    (True, False)
    """
    return content_type(path) is not None


# --------------------------------------------------------------------------- hashing and probing


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


def probe_duration(path: str | os.PathLike[str]) -> float | None:
    """The duration of an audio file in seconds, read locally; ``None`` when it cannot be read.

    Reads the header with ``soundfile.info`` (WAV, FLAC, Ogg, and MP3 with
    libsndfile >= 1.1) without decoding the audio; other formats fall back to
    ``librosa.get_duration(path=...)``, which may decode them.  Never raises
    for a missing, unreadable or corrupt file, and emits no warnings.

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


# --------------------------------------------------------------------------- collecting


def _size_text(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    raise AssertionError  # pragma: no cover


def _q(name: str) -> str:
    return shlex.quote(name)


def _not_audio(path: Path) -> tuple[str, str]:
    suffix = path.suffix.lower()
    what = f"({path.suffix})" if suffix else "(no suffix, and no audio header)"
    if suffix in (".pcm", ".raw"):
        return (
            f"not an audio file {what}: headerless PCM",
            "wrap it in WAV, naming its format, e.g. "
            f"ffmpeg -f s16le -ar 16000 -ac 1 -i {_q(path.name)} {_q(path.stem + '.wav')}",
        )
    return (
        f"not an audio file {what}",
        "leave it out (e.g. patterns=('*.wav', '*.mp3')); if it is audio in another format, convert it: "
        f"ffmpeg -i {_q(path.name)} -c:a flac {_q(path.stem + '.flac')}",
    )


def _too_big(path: Path, size: int, limit: int) -> tuple[str, str]:
    name, stem, suffix = path.name, path.stem, path.suffix
    ways = []
    if suffix.lower() in _LOSSLESS:
        ways.append(f"convert it to .flac or .mp3 (ffmpeg -i {_q(name)} -c:a flac {_q(stem + '.flac')})")
    ways.append(
        f"split it (ffmpeg -i {_q(name)} -f segment -segment_time 3600 -c copy {_q(stem + '_%03d' + suffix)})"
    )
    ways.append("send it as a URL")
    advice = ", ".join(ways[:-1]) + " or " + ways[-1]
    return f"{_size_text(size)} is above Deepgram's {_size_text(limit)} upload limit", advice


def _classify(
    path: Path, source: str, file_id: str, st: os.stat_result | None = None
) -> AudioSource | Skipped:
    """One local file as an AudioSource, or a Skipped row saying why not (``st``: its stat, if known)."""
    try:
        if st is None:
            st = path.stat()
    except FileNotFoundError:
        broken = path.is_symlink()
        return Skipped(
            source,
            file_id,
            "broken symbolic link" if broken else "no such file",
            "check the path (relative paths start from the current folder, " + os.getcwd() + ")",
        )
    except OSError as exc:
        return Skipped(source, file_id, f"cannot be read ({exc.strerror or exc})", "check its permissions")
    if not stat.S_ISREG(st.st_mode):
        return Skipped(source, file_id, "not a file", "pass a folder, an audio file, a glob pattern or a URL")
    ctype = AUDIO_TYPES.get(path.suffix.lower())
    if ctype is None:
        try:
            ctype = _sniff(path)
        except OSError as exc:
            return Skipped(
                source, file_id, f"cannot be read ({exc.strerror or exc})", "check its permissions"
            )
        if ctype is None:
            return Skipped(source, file_id, *_not_audio(path))
    size = st.st_size
    if size == 0:
        return Skipped(
            source,
            file_id,
            "empty file (0 bytes)",
            "export or copy it again; Deepgram rejects empty audio (400 Bad Request)",
        )
    limit = MAX_UPLOAD_BYTES  # read at call time, so it can be patched
    if size > limit:
        return Skipped(source, file_id, *_too_big(path, size, limit))
    if not os.access(path, os.R_OK):
        return Skipped(source, file_id, "cannot be read (permission denied)", "check its permissions")
    return AudioSource(source, file_id, Path(os.path.abspath(path)), None, size, ctype)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in _JUNK_NAMES


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    """fnmatch on the relative path or the name, case-insensitively (``*.wav`` matches ``A.WAV``)."""
    rel_l = rel.lower()
    name_l = rel_l.rsplit("/", 1)[-1]
    return any(
        fnmatch.fnmatchcase(rel_l, p.lower()) or fnmatch.fnmatchcase(name_l, p.lower()) for p in patterns
    )


def _walk(folder: Path, recursive: bool) -> Iterator[tuple[Path, str]]:
    """(path, relative posix path) of the visible files under ``folder`` (symlinked folders not followed)."""
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not _hidden(d)) if recursive else []
        base = Path(top)
        rel_top = PurePath(os.path.relpath(top, folder)).as_posix()  # once per folder, not per file
        prefix = "" if rel_top == "." else rel_top + "/"
        for name in files:
            if not _hidden(name):
                yield base / name, prefix + name


def _glob_base(pattern: str) -> Path:
    """The folder a glob pattern searches: its parts before the first wildcard."""
    parts = PurePath(pattern).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if _MAGIC_CHARS.search(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path()


def _display(folder: str, rel: str) -> str:
    """The folder as given joined with a relative posix path, in the platform's spelling."""
    return os.fspath(Path(folder, *rel.split("/")))


class _Collector:
    def __init__(self, patterns: Sequence[str], recursive: bool) -> None:
        self.patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
        self.recursive = recursive
        self.found: list[AudioSource] = []
        self.skipped: list[Skipped] = []
        self._seen: set[object] = set()  # (device, inode) of files, URLs
        self._ids: set[str] = set()

    def _unique_id(self, file_id: str, source: str) -> str:
        if file_id not in self._ids:
            return file_id
        alt = PurePath(source).as_posix()
        n = 2
        candidate = alt
        while candidate in self._ids:
            candidate = f"{alt}#{n}"
            n += 1
        return candidate

    def add_file(self, path: Path, source: str, file_id: str) -> None:
        # The same file reached twice (a symlink, overlapping inputs) is the same device and inode;
        # one stat, reused by _classify, instead of resolving every path component.
        st: os.stat_result | None
        try:
            st = os.stat(path)
            # (some filesystems on Windows report no inode numbers: fall back to the resolved path)
            seen_as: object = (st.st_dev, st.st_ino) if st.st_ino else os.path.realpath(path)
        except (OSError, ValueError):
            st, seen_as = None, os.path.abspath(path)
        if seen_as in self._seen:
            return
        self._seen.add(seen_as)
        file_id = self._unique_id(file_id, source)
        self._ids.add(file_id)
        row = _classify(path, source, file_id, st)
        if isinstance(row, AudioSource):
            self.found.append(row)
        else:
            self.skipped.append(row)

    def skip(self, source: str, file_id: str, reason: str, advice: str) -> None:
        self.skipped.append(Skipped(source, file_id, reason, advice))

    def add(self, item: str | os.PathLike[str]) -> None:
        text = os.fspath(item)
        if not isinstance(text, str):
            self.skip(
                repr(item), repr(item), "not a path or URL (bytes)", "pass paths as str or pathlib.Path"
            )
            return
        if isinstance(item, str) and _URL_RE.match(text):
            self.add_url(text)
        elif os.path.isdir(text):
            self.add_folder(text)
        elif os.path.lexists(text):
            path = Path(text)
            self.add_file(path, text, path.name)
        elif _MAGIC_CHARS.search(text):
            self.add_glob(text)
        else:
            self.add_file(Path(text), text, Path(text).name or text)

    def add_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            self.skip(
                url,
                url,
                f"not an http(s) URL ({parts.scheme}://)" if parts.netloc else "not a valid URL",
                "Deepgram fetches http:// and https:// URLs; download the file, "
                "or share it with a (presigned) https URL",
            )
            return
        if url in self._seen:
            return
        self._seen.add(url)
        self._ids.add(url)
        ctype = AUDIO_TYPES.get(PurePath(parts.path).suffix.lower())
        self.found.append(AudioSource(url, url, None, url, None, ctype))

    def add_folder(self, folder: str) -> None:
        base = Path(folder)
        files = sorted(_walk(base, self.recursive), key=lambda pr: pr[1])
        considered = [(p, rel) for p, rel in files if _matches(rel, self.patterns)]
        if not considered:
            what = "folder has no files" if not files else f"no file matches patterns={self.patterns!r}"
            self.skip(
                folder,
                PurePath(folder).as_posix(),
                what + ("" if self.recursive else " (recursive=False)"),
                "check the folder; pass patterns= (e.g. ('*.wav', '*.mp3')) or recursive=True",
            )
            return
        for p, rel in considered:
            self.add_file(p, _display(folder, rel), rel)

    def add_glob(self, pattern: str) -> None:
        base = _glob_base(pattern)
        hits = []
        for hit in _glob.glob(pattern, recursive=self.recursive):
            p = Path(hit)
            if not p.is_file():
                continue
            try:
                rel = p.relative_to(base).as_posix() if base.parts else p.as_posix()
            except ValueError:  # pragma: no cover - glob results start with the base
                rel = p.name
            if any(_hidden(part) for part in PurePath(rel).parts):
                continue
            if _matches(rel, self.patterns):
                hits.append((rel, hit, p))
        if not hits:
            self.skip(
                pattern,
                pattern,
                "no files match this pattern",
                "check the pattern; '**' matches folders at any depth with recursive=True "
                "(e.g. 'calls/**/*.wav')",
            )
            return
        for rel, hit, p in sorted(hits):
            self.add_file(p, hit, rel)


def collect(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    patterns: Sequence[str] = ("*",),
    recursive: bool = True,
) -> tuple[list[AudioSource], list[Skipped]]:
    """Find the audio to send to Deepgram, and say what will be skipped and why.

    Parameters
    ----------
    source : str, os.PathLike or iterable of these
        A folder (walked, skipping hidden files and folders and names like
        ``.DS_Store``, ``Thumbs.db``, ``__MACOSX``; symlinked folders are not
        followed), a file, a glob pattern (``"calls/*.wav"``,
        ``"data/**/*.mp3"``), an ``http(s)`` URL, or a list of any of those.
    patterns : sequence of str, default ``("*",)``
        Which files of a folder or glob are considered: ``fnmatch`` patterns
        matched, case-insensitively, against the path relative to the folder
        or against the name.  A file named directly is always considered.
    recursive : bool, default True
        Walk sub-folders, and let ``**`` in a glob match folders at any depth.

    Returns
    -------
    (list of AudioSource, list of Skipped)
        Sources in the order given; the files of one folder or glob sorted by
        ``file_id``.  A file reached twice (same resolved path) is listed once;
        ``file_id`` values are unique (a clash falls back to the path as found).
        A considered file that is not audio (by suffix, or for an unknown suffix
        by its first bytes), is empty, is above :data:`MAX_UPLOAD_BYTES`, is
        missing or unreadable becomes a :class:`Skipped` row, as does a folder
        or pattern with nothing to consider; nothing raises.

    Examples
    --------
    >>> found, skipped = collect("recordings/", patterns=["*.wav", "*.mp3"])   # doctest: +SKIP
    >>> [a.file_id for a in found]                                             # doctest: +SKIP
    ['calls/2024-01-02.wav', 'calls/2024-01-03.mp3', 'intro.wav']
    >>> [(s.file_id, s.reason) for s in skipped]                               # doctest: +SKIP
    [('calls/empty.wav', 'empty file (0 bytes)')]
    >>> found, skipped = collect(["https://dpgr.am/spacewalk.wav", "missing.wav"])
    >>> found[0].file_id, found[0].content_type
    ('https://dpgr.am/spacewalk.wav', 'audio/wav')
    >>> skipped[0].reason
    'no such file'
    """
    collector = _Collector(patterns, recursive)
    items: Iterable[str | os.PathLike[str]] = [source] if isinstance(source, (str, os.PathLike)) else source
    for item in items:
        collector.add(item)
    return collector.found, collector.skipped
