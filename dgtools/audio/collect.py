"""Finding audio: what a batch will send to Deepgram, and what it will skip and why.

:func:`collect` turns folders, files, glob patterns and URLs into :class:`AudioSource` rows (what
to send) and :class:`Skipped` rows (what not to send, with the reason and what to do about it); it
never raises for a bad input.  Every file's first bytes are sniffed (:mod:`dgtools.audio.sniff`)
before it is hashed or sent: a file that cannot be audio (text or zeros named ``.wav``, a corrupt
header, a 6-byte ``.flac``) is never uploaded, so never billed.
"""

from __future__ import annotations

import fnmatch
import glob as _glob
import os
import re
import shlex
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Final, Literal
from urllib.parse import urlsplit

from .sniff import HEAD_BYTES, sniff, unusable

__all__ = ["AUDIO_TYPES", "MAX_UPLOAD_BYTES", "AudioSource", "Skipped", "collect", "content_type", "is_audio"]

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

    ``kind`` tells a note from a problem: ``"ignored"`` is a file that is not audio, found while
    walking a folder or glob (a ``.txt`` sidecar, a PDF): it is left out and the run goes on as
    if it were not there; ``"invalid"`` is an input that should have been audio and cannot be sent
    (named directly but not audio, named ``.wav`` but holding text or zeros, a corrupt header,
    empty, above the upload limit, missing, unreadable, a folder with nothing in it).

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
    kind : {"invalid", "ignored"}
        A problem with an input, or a non-audio file left out of a folder.

    Examples
    --------
    >>> s = Skipped("notes.txt", "notes.txt", "not an audio file (.txt)", "leave it out", "ignored")
    >>> s.reason, s.kind
    ('not an audio file (.txt)', 'ignored')
    """

    source: str
    file_id: str
    reason: str
    advice: str
    kind: Literal["invalid", "ignored"] = "invalid"


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(HEAD_BYTES)


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
        return sniff(_head(p))
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
    path: Path, source: str, file_id: str, st: os.stat_result | None = None, *, in_folder: bool = False
) -> AudioSource | Skipped:
    """One local file as an AudioSource, or a Skipped row saying why not.

    ``st``: its stat, if known; ``in_folder``: found while walking a folder or glob, where a file
    that is not audio at all is left out (``"ignored"``) rather than reported as a problem.
    """
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
        return Skipped(source, file_id, *_unreadable(exc))
    if not stat.S_ISREG(st.st_mode):
        return Skipped(source, file_id, "not a file", "pass a folder, an audio file, a glob pattern or a URL")
    size = st.st_size
    if size == 0:
        return Skipped(
            source,
            file_id,
            "empty file (0 bytes)",
            "export or copy it again; Deepgram rejects empty audio (400 Bad Request)",
        )
    try:
        head = _head(path)
    except OSError as exc:
        return Skipped(source, file_id, *_unreadable(exc))
    suffix = path.suffix.lower()
    known = AUDIO_TYPES.get(suffix)
    why = unusable(suffix, head, size)
    if why is not None:
        if known is None and in_folder:
            return Skipped(source, file_id, *_not_audio(path), "ignored")
        if known is None:
            return Skipped(source, file_id, *_not_audio(path))
        return Skipped(source, file_id, why, _unusable_advice(path))
    limit = MAX_UPLOAD_BYTES  # read at call time, so it can be patched
    if size > limit:
        return Skipped(source, file_id, *_too_big(path, size, limit))
    return AudioSource(source, file_id, Path(os.path.abspath(path)), None, size, known or sniff(head))


def _unreadable(exc: OSError) -> tuple[str, str]:
    reason = exc.strerror or str(exc)
    if exc.errno == 40:  # ELOOP: a symbolic link that points (through others) back to itself
        return (
            "a symbolic link that loops back on itself",
            "replace the link with the file it should point to",
        )
    return f"cannot be read ({reason})", "check its permissions"


def _unusable_advice(path: Path) -> str:
    name = _q(path.name)
    return (
        f"check the file (does it play? file {name} says what it is); if it is audio in another container, "
        f"convert it: ffmpeg -i {name} -c:a flac {_q(path.stem + '.flac')}; otherwise leave it out"
    )


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

    def add_file(self, path: Path, source: str, file_id: str, *, in_folder: bool = False) -> None:
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
        row = _classify(path, source, file_id, st, in_folder=in_folder)
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
            self.add_file(p, _display(folder, rel), rel, in_folder=True)

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
            self.add_file(p, hit, rel, in_folder=True)


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
