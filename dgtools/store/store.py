"""The resumable, content-addressed store of raw Deepgram responses.

The raw JSON of every response is the source of truth: it is written once,
atomically, and never edited; every table is rebuilt from it.  A response is
filed under a key made of the SHA-256 of the audio bytes and the digest of the
canonical request options, so a rerun of a batch finds what is already done and
sends only the rest.

Layout under ``root``::

    responses/ab/ab12…ef-0123456789abcdef.json   one response per key (plain JSON)
    tmp/<key>.<host>.<pid>.<random>.part        writes in progress (same filesystem)
    index.jsonl                                 one JSON line per stored response

``dgtools.to_tables(store.root / "responses")`` reads the responses directly
(its ``file_id`` is then the key's relative path, ``ab/<key>``; join on
``request_id`` or on the ``index.jsonl`` entries to get the audio's file id).

The store never holds the API key: pass it as ``Store(root, secrets=[api_key])``
and every write whose data contains it (as raw text or JSON-escaped) is refused
with a :class:`~dgtools.ConfigError` (a ``ValueError``) whose message does not
repeat it.

Crash consistency: a response file appears under ``responses/`` only complete
(temp file in ``tmp/``, ``os.fsync``, then an atomic link or ``os.replace`` and
an ``fsync`` of the directory).  :meth:`Store.write_many` gives many responses
the same guarantee with shared syncs: every temp file is written, one sync makes
the data durable, every file is linked, one more sync makes the links durable
(on Linux, one ``syncfs`` each).  A process killed mid-write leaves temp files in
``tmp/`` and nothing else; :meth:`Store.clean` removes such leftovers.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import functools
import hashlib
import json
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from ..exceptions import ConfigError

__all__ = ["AtomicWriter", "Store"]

_HEX_RE: Final = re.compile(r"[0-9a-f]+")
_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")
_KEY_RE: Final = re.compile(r"[0-9a-f]{64}-[0-9a-f]+")
_TEMP_RE: Final = re.compile(
    r"(?P<key>[0-9a-f]{64}-[0-9a-f]+)\.(?P<host>[0-9a-f]{8})\.(?P<pid>[0-9]+)\.[0-9a-f]+\.part"
)
_BINARY: Final = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_UNSUPPORTED_LINK: Final = frozenset(
    {errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
)
_DIR_FSYNC_UNSUPPORTED: Final = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF})
#: Filesystems (statfs ``f_type``) on which one ``syncfs`` makes every file and directory durable, as
#: ``fsync`` of each would.  Not FUSE or network filesystems: their ``syncfs`` may not reach the server.
_SYNCFS_FILESYSTEMS: Final = frozenset(
    {
        0xEF53,  # ext2, ext3, ext4
        0x58465342,  # xfs
        0x9123683E,  # btrfs
        0xF2F52010,  # f2fs
        0x01021994,  # tmpfs (nothing to write back)
        0x794C7630,  # overlayfs (syncs its upper layer)
    }
)
#: Most temp files :meth:`Store.write_many` keeps open at once (it syncs in chunks of this size).
_MANY_CHUNK: Final = 128
#: Fewest files (or directories) to sync for which one ``syncfs`` replaces their fsyncs.  A single
#: file costs the same either way, and fsync does not wait for other programs' writes.
_SYNCFS_MIN: Final = 2


def _host_tag() -> str:
    """Eight hex digits naming this machine in temp-file names (hashed: no host name on disk)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _fsync_dir(path: Path) -> None:
    """Make a rename or link inside ``path`` durable (POSIX; a no-op on Windows)."""
    if os.name == "nt":  # pragma: no cover - directories cannot be opened on Windows
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:  # pragma: no cover - depends on the filesystem
        if exc.errno in _DIR_FSYNC_UNSUPPORTED:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:  # pragma: no cover - some filesystems refuse fsync on directories
        if exc.errno not in _DIR_FSYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


@functools.cache
def _syncfs_fn() -> Callable[[int], bool] | None:
    """``sync(fd)``: one ``syncfs(2)`` of the filesystem holding ``fd``; None where unavailable.

    Looked up once (ctypes).  Linux 5.8+ only: earlier kernels' ``syncfs`` does
    not report write-back errors.  ``sync(fd)`` returns False, having synced
    nothing, on a filesystem outside :data:`_SYNCFS_FILESYSTEMS`, and False
    when the call fails; the caller then fsyncs each file instead.
    """
    if not sys.platform.startswith("linux"):  # pragma: no cover - the CI is Linux
        return None
    version = re.match(r"(\d+)\.(\d+)", os.uname().release)
    if version is None or (int(version[1]), int(version[2])) < (5, 8):  # pragma: no cover
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        syncfs, fstatfs = libc.syncfs, libc.fstatfs
    except (OSError, AttributeError):  # pragma: no cover - a libc without them
        return None
    syncfs.argtypes, syncfs.restype = [ctypes.c_int], ctypes.c_int
    fstatfs.argtypes, fstatfs.restype = [ctypes.c_int, ctypes.c_void_p], ctypes.c_int
    statfs_buffer = ctypes.c_long * 32  # struct statfs starts with f_type; the rest is not read

    def sync(fd: int) -> bool:
        buf = statfs_buffer()
        if fstatfs(fd, buf) != 0 or (buf[0] & 0xFFFFFFFF) not in _SYNCFS_FILESYSTEMS:
            return False
        return bool(syncfs(fd) == 0)  # ctypes releases the GIL for the call

    return sync


def _syncfs(fd: int) -> bool:
    """Make everything written on ``fd``'s filesystem durable with one ``syncfs``; False if not done."""
    sync = _syncfs_fn()
    return sync is not None and sync(fd)


def _sync_dirs(dirs: Sequence[Path]) -> None:
    """Make the entries of ``dirs`` durable: one ``syncfs`` where it works, else an fsync of each."""
    if len(dirs) >= _SYNCFS_MIN and os.name != "nt" and _syncfs_fn() is not None:
        try:
            fd = os.open(dirs[0], os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:  # pragma: no cover - fall back to one directory at a time
            pass
        else:
            try:
                if _syncfs(fd):
                    return
            finally:
                os.close(fd)
    for d in dirs:
        _fsync_dir(d)


def _open_temp(tmp_dir: Path, key: str) -> tuple[Path, int]:
    """Create a fresh temp file for ``key`` in ``tmp_dir`` (which exists); returns its path and fd."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY
    while True:
        name = f"{key}.{_host_tag()}.{os.getpid()}.{os.urandom(6).hex()}.part"
        try:
            return tmp_dir / name, os.open(tmp_dir / name, flags, 0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> int:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less); returns its length."""
    view = memoryview(data).cast("B")
    total = len(view)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    return total


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (POSIX only)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to another user
        return True
    except OSError:  # pragma: no cover - be conservative: keep the file
        return True
    return True


def _lock(fd: int) -> None:
    """Take an exclusive advisory lock on an open file, where the platform and filesystem allow."""
    if sys.platform == "win32":  # pragma: no cover
        return
    import fcntl

    with contextlib.suppress(OSError):  # e.g. ENOLCK on a filesystem without locks: append unlocked
        fcntl.flock(fd, fcntl.LOCK_EX)


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"index entries hold JSON values; got {type(value).__name__}")


def _utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _SecretGuard:
    """Finds any of the secrets in data, including across chunk boundaries."""

    __slots__ = ("_needles", "_overlap")

    def __init__(self, secrets: Sequence[str]) -> None:
        needles: set[bytes] = set()
        for secret in secrets:
            needles.add(secret.encode("utf-8", "surrogatepass"))
            needles.add(json.dumps(secret)[1:-1].encode("ascii"))  # as JSON writes it (\uXXXX, \")
            needles.add(json.dumps(secret, ensure_ascii=False)[1:-1].encode("utf-8", "surrogatepass"))
        self._needles: tuple[bytes, ...] = tuple(sorted(needles))
        self._overlap = max((len(n) for n in self._needles), default=1) - 1

    def __bool__(self) -> bool:
        return bool(self._needles)

    def found(self, data: bytes | bytearray | memoryview, tail: bytes = b"") -> bool:
        """Whether ``tail + data`` holds a secret (``tail``: the end of the previous chunk)."""
        if not self._needles:
            return False
        buf = data if isinstance(data, (bytes, bytearray)) else memoryview(data).tobytes()
        head = tail + bytes(buf[: self._overlap]) if tail else b""
        return any(needle in buf or needle in head for needle in self._needles)

    def tail(self, previous: bytes, data: bytes | bytearray | memoryview) -> bytes:
        """The last bytes to carry into the next :meth:`found` check."""
        if self._overlap == 0:
            return b""
        buf = data if isinstance(data, (bytes, bytearray)) else memoryview(data).tobytes()
        return (previous + bytes(buf[-self._overlap :]))[-self._overlap :]


def _refusal(what: str) -> ConfigError:
    return ConfigError(
        f"refusing to store {what}: it contains a value passed as Store(secrets=...) (e.g. the API key). "
        "The store never holds the key; remove it from the data (check headers, URLs and options)."
    )


class AtomicWriter:
    """Streams one response into the store: nothing appears under ``responses/`` until it is complete.

    Made by :meth:`Store.writer`; use it as a context manager.  Chunks go
    straight to the temp file's descriptor (no user-space buffer to flush).  On
    a clean exit the data is committed (``os.fsync``, atomic link or
    ``os.replace``, ``fsync`` of the directory) and :attr:`path` is set; on an
    exception, or after :meth:`discard`, the temp file is removed and nothing
    is stored.

    Attributes
    ----------
    key : str
        The store key being written.
    path : Path or None
        The committed response file; ``None`` until committed (and after a discard).
    bytes_written : int
        Bytes written so far.
    created : bool
        Whether the commit stored this writer's data; ``False`` when a response
        for the key already existed (the first write wins and is kept).

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> key = Store.key("0" * 64, "0123456789abcdef")
    >>> with store.writer(key) as w:
    ...     _ = w.write(b'{"metadata": {}, ')
    ...     _ = w.write(b'"results": {}}')
    >>> w.bytes_written, w.path == store.path(key), store.has(key)
    (31, True, True)
    """

    def __init__(self, store: Store, key: str) -> None:
        self.key = key
        self.path: Path | None = None
        self.bytes_written = 0
        self.created = False
        self._store = store
        self._target = store.path(key)
        self._temp: Path | None = None
        self._fd: int | None = None
        self._tail = b""
        self._refused = False
        self._state = "new"  # new -> open -> committed | discarded

    def __repr__(self) -> str:
        return (
            f"<dgtools.AtomicWriter key={self.key!r} state={self._state} bytes_written={self.bytes_written}>"
        )

    def __enter__(self) -> AtomicWriter:
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.discard()
        elif self._state == "open":
            self.commit()
        elif self._refused:
            raise _refusal(f"the response for key {self.key}")

    def _open(self) -> None:
        if self._state != "new":
            raise ValueError(f"this writer for {self.key} was already used ({self._state})")
        tmp_dir = self._store.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self._temp, self._fd = _open_temp(tmp_dir, self.key)
        self._state = "open"

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data`` to the temp file; returns the number of bytes written.

        Raises
        ------
        ConfigError
            The data holds one of the store's secrets; the temp file is removed
            and the writer can no longer commit.
        ValueError
            The writer is not open (used outside ``with``, committed or discarded).
        """
        if self._state == "new":
            self._open()
        if self._state != "open" or self._fd is None:
            raise ValueError(f"this writer for {self.key} is {self._state}; it takes no more data")
        guard = self._store._guard
        if guard:
            if guard.found(data, self._tail):
                self._refused = True
                self.discard()
                raise _refusal(f"the response for key {self.key}")
            self._tail = guard.tail(self._tail, data)
        total = _write_all(self._fd, data)
        self.bytes_written += total
        return total

    def commit(self) -> Path:
        """Make the data durable and visible under its key; returns the response path.

        When a response for the key already exists (another writer was first),
        the existing file is kept, this data is dropped and :attr:`created` is
        ``False``.
        """
        if self._refused:
            raise _refusal(f"the response for key {self.key}")
        if self._state == "new":
            self._open()
        if self._state == "committed" and self.path is not None:
            return self.path
        if self._state != "open" or self._fd is None or self._temp is None:
            raise ValueError(f"this writer for {self.key} is {self._state}; nothing to commit")
        fd, temp, target = self._fd, self._temp, self._target
        try:
            os.fsync(fd)
        except BaseException:
            self.discard()
            raise
        os.close(fd)
        self._fd = None
        try:
            self.created = _publish(temp, target)
        except BaseException:
            self.discard()
            raise
        self._temp = None
        self._state = "committed"
        self.path = target
        return target

    def discard(self) -> None:
        """Drop what was written: close and remove the temp file (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()
            self._temp = None
        if self._state != "committed":
            self._state = "discarded"


def _publish(temp: Path, target: Path) -> bool:
    """Move a complete temp file to ``target`` unless it exists, durably; True when ``temp`` became ``target``."""
    dirty: dict[Path, None] = {}
    created = _link(temp, target, dirty)
    for d in dirty:
        _fsync_dir(d)
    return created


def _link(temp: Path, target: Path, dirty: dict[Path, None]) -> bool:
    """Move a complete (durable) temp file to ``target`` unless it exists; True when ``temp`` became ``target``.

    The temp file is gone afterwards (unless this raises).  Nothing is synced:
    the directories whose entries changed are added to ``dirty``, in the order
    to sync them (``root``, ``responses/``, then the shard).
    """
    parent = target.parent
    if not parent.is_dir():  # a new shard (and maybe responses/): make their entries durable too
        responses = parent.parent
        new_responses = not responses.is_dir()
        parent.mkdir(parents=True, exist_ok=True)
        if new_responses:
            dirty[responses.parent] = None
        dirty[responses] = None
    if target.exists():
        temp.unlink()
        return False
    try:
        # A hard link never replaces an existing file, so of two processes
        # writing the same key at once the first one wins atomically.
        os.link(temp, target)
    except FileExistsError:
        temp.unlink()
        return False
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED_LINK:
            raise
        os.replace(temp, target)  # filesystems without hard links (FAT, some network mounts)
    else:
        temp.unlink()
    dirty[parent] = None
    return True


class _Temp:
    """One item of :meth:`Store.write_many` on its way: its temp file and descriptor while they exist."""

    __slots__ = ("fd", "index", "target", "temp")

    def __init__(self, index: int, target: Path, temp: Path, fd: int) -> None:
        self.index, self.target = index, target
        self.temp: Path | None = temp
        self.fd: int | None = fd

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

    def drop(self) -> None:
        """Close and remove the temp file (idempotent)."""
        self.close()
        if self.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self.temp.unlink()
            self.temp = None


class Store:
    """A folder of raw Deepgram responses, one immutable JSON file per (audio, options) key.

    Parameters
    ----------
    root : str or os.PathLike
        The store's folder; created on the first write.
    secrets : sequence of str, optional
        Values that must never be written, such as the API key: a response or
        index entry containing one (raw or JSON-escaped) is refused with
        :class:`~dgtools.ConfigError`, whose message does not repeat it.  The
        store never holds the key.

    Attributes
    ----------
    root : Path
        The store's folder.

    Notes
    -----
    Responses are written once, atomically (temp file in ``root/tmp``, fsync,
    link or ``os.replace``, fsync of the directory) and never edited: the first
    write of a key wins.  :meth:`write_many` stores many responses with the
    same guarantees and shared syncs (the batch runner's group commit).
    ``index.jsonl`` gets one line per entry, the lines of one :meth:`record`
    or :meth:`record_many` call appended with a single ``O_APPEND`` write so
    that threads and processes can record concurrently.  Tables are rebuilt from the responses
    with ``dgtools.to_tables(store.root / "responses")``.

    Examples
    --------
    >>> import hashlib, tempfile
    >>> store = Store(tempfile.mkdtemp(), secrets=["my-api-key"])
    >>> key = Store.key(hashlib.sha256(b"audio").hexdigest(), "0123456789abcdef")
    >>> store.has(key)
    False
    >>> path = store.write_bytes(key, b'{"metadata": {"request_id": "r1"}, "results": {}}')
    >>> store.has(key), path.relative_to(store.root).parts[:2]
    (True, ('responses', '6e'))
    >>> store.record({"key": key, "file_id": "calls/a.wav", "request_id": "r1"})
    >>> [e["file_id"] for e in store.entries()]
    ['calls/a.wav']
    >>> store.write_bytes(key.replace("0123", "4567"), b'{"token": "my-api-key"}')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: refusing to store the response for key ...
    """

    #: Temp files older than this (seconds) are stale even when their owner cannot be checked.
    STALE_AFTER: Final = 24 * 3600.0

    def __init__(self, root: str | os.PathLike[str], *, secrets: Sequence[str] = ()) -> None:
        self.root = Path(root)
        if isinstance(secrets, str):  # one key passed bare: not a sequence of characters
            secrets = (secrets,)
        self._guard = _SecretGuard([s for s in secrets if s])

    def __repr__(self) -> str:
        try:
            count: int | str = sum(1 for _ in self.keys())
        except OSError:
            count = "?"
        return f"<dgtools.Store root={str(self.root)!r} responses={count}>"

    # ------------------------------------------------------------------ keys and paths

    @staticmethod
    def key(audio_sha256: str, options_digest: str) -> str:
        """The store key of one audio file sent with one set of options.

        Parameters
        ----------
        audio_sha256 : str
            SHA-256 of the audio bytes, 64 lowercase hex digits.
        options_digest : str
            Digest of the canonical request options, lowercase hex (16 digits).

        Returns
        -------
        str
            ``f"{audio_sha256}-{options_digest}"``.

        Raises
        ------
        ConfigError
            Either part is not lowercase hex (a ``ValueError``).

        Examples
        --------
        >>> Store.key("ab" * 32, "0123456789abcdef")[-21:]
        'abab-0123456789abcdef'
        """
        if not isinstance(audio_sha256, str) or not _SHA256_RE.fullmatch(audio_sha256):
            raise ConfigError(
                f"audio_sha256 must be 64 lowercase hex digits (hashlib.sha256(data).hexdigest()), "
                f"got {audio_sha256!r:.80}"
            )
        if not isinstance(options_digest, str) or not _HEX_RE.fullmatch(options_digest):
            raise ConfigError(f"options_digest must be lowercase hex digits, got {options_digest!r:.80}")
        return f"{audio_sha256}-{options_digest}"

    def path(self, key: str) -> Path:
        """Where the response for ``key`` lives: ``root/responses/<key[:2]>/<key>.json``.

        Raises
        ------
        ConfigError
            ``key`` is not a key made by :meth:`key`.

        Examples
        --------
        >>> key = Store.key("ab" * 32, "0123456789abcdef")
        >>> Store("st").path(key).as_posix().startswith("st/responses/ab/abab")
        True
        """
        _check_key(key)
        return self.root / "responses" / key[:2] / f"{key}.json"

    def has(self, key: str) -> bool:
        """Whether a complete response for ``key`` is stored.

        Examples
        --------
        >>> Store("nowhere").has(Store.key("ab" * 32, "0123456789abcdef"))
        False
        """
        return self.path(key).is_file()

    def read_bytes(self, key: str) -> bytes:
        """The stored response for ``key``, as bytes.

        Raises
        ------
        FileNotFoundError
            Nothing is stored under ``key``.

        Examples
        --------
        >>> import json, tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> key = Store.key("ab" * 32, "0123456789abcdef")
        >>> _ = store.write_bytes(key, b"{}")
        >>> json.loads(store.read_bytes(key))
        {}
        """
        path = self.path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(
                errno.ENOENT, f"no response stored for key {key} (check store.has(key) first)", str(path)
            ) from None

    # ------------------------------------------------------------------ writing

    def write_bytes(self, key: str, data: bytes | bytearray | memoryview) -> Path:
        """Store a whole response atomically; returns its path.

        If a response for ``key`` already exists, it is kept (the first write
        wins) and its path is returned.

        Raises
        ------
        ConfigError
            ``data`` contains one of the store's secrets; nothing is written.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> key = Store.key("ab" * 32, "0123456789abcdef")
        >>> first = store.write_bytes(key, b'{"n": 1}')
        >>> store.write_bytes(key, b'{"n": 2}') == first, store.read_bytes(key)
        (True, b'{"n": 1}')
        """
        if self._guard.found(data):
            raise _refusal(f"the response for key {key}")
        with self.writer(key) as w:
            w.write(data)
        assert w.path is not None
        return w.path

    def write_many(
        self, items: Iterable[tuple[str, bytes | bytearray | memoryview]]
    ) -> list[Path | BaseException]:
        """Store many whole responses atomically, with shared syncs; one result per item.

        Every item gets the guarantees of :meth:`write_bytes`: nothing appears
        under ``responses/`` until it is complete and durable, the first write
        of a key wins, and no temp file is left behind.  The syncs are shared:
        every temp file is written, one sync makes the data durable, every file
        is linked into place, and one more sync makes the new directory entries
        durable.  On Linux (5.8 or later, on ext4, xfs, btrfs, f2fs, tmpfs or
        overlayfs) a sync of two or more files (or directories) is one
        ``syncfs(2)``; otherwise, or when it fails, each temp file and then
        each directory that changed is fsynced.

        Parameters
        ----------
        items : iterable of (str, bytes-like)
            ``(key, data)`` pairs.  A key given twice is stored once: the first
            data written wins, as with two calls to :meth:`write_bytes`.

        Returns
        -------
        list of Path or BaseException
            For each item, in order: the response's path (also when the key was
            already stored), or the exception that kept it out of the store,
            :class:`~dgtools.ConfigError` for a bad key or data holding one of
            the store's secrets, :class:`OSError` for an I/O failure (disk
            full, permissions).  One item's failure does not affect the others.

        Notes
        -----
        ``syncfs`` writes back everything pending on the filesystem, other
        programs' writes included: on a disk busy with other writes one call
        can take longer than a few fsyncs.  Items are synced in chunks of 128
        (the temp files stay open until their data is durable).

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp(), secrets=["my-api-key"])
        >>> a, b = Store.key("a" * 64, "0123456789abcdef"), Store.key("b" * 64, "0123456789abcdef")
        >>> out = store.write_many([(a, b'{"n": 1}'), (b, b'{"key": "my-api-key"}'), (a, b'{"n": 2}')])
        >>> out[0] == out[2] == store.path(a), type(out[1]).__name__, store.read_bytes(a), store.has(b)
        (True, 'ConfigError', b'{"n": 1}', False)
        """
        items = list(items)
        out: list[Path | BaseException] = []
        for start in range(0, len(items), _MANY_CHUNK):
            out += self._write_chunk(items[start : start + _MANY_CHUNK])
        return out

    def _write_chunk(
        self, items: Sequence[tuple[str, bytes | bytearray | memoryview]]
    ) -> list[Path | BaseException]:
        """:meth:`write_many` for at most ``_MANY_CHUNK`` items (one open temp file each)."""
        out: list[Path | BaseException | None] = [None] * len(items)
        tmp_dir = self.root / "tmp"
        made_tmp = False
        pending: list[_Temp] = []
        try:
            # 1. every temp file, written but not synced
            for i, (key, data) in enumerate(items):
                try:
                    target = self.path(key)
                except ConfigError as exc:
                    out[i] = exc
                    continue
                if self._guard.found(data):
                    out[i] = _refusal(f"the response for key {key}")
                    continue
                if target.exists():  # the first write wins: nothing to write
                    out[i] = target
                    continue
                try:
                    if not made_tmp:
                        tmp_dir.mkdir(parents=True, exist_ok=True)
                        made_tmp = True
                    temp, fd = _open_temp(tmp_dir, key)
                except OSError as exc:
                    out[i] = exc
                    continue
                item = _Temp(i, target, temp, fd)
                pending.append(item)
                try:
                    _write_all(fd, data)
                except OSError as exc:
                    item.drop()
                    out[i] = exc
            # 2. their data made durable: one syncfs, or an fsync of each
            written = [(t, t.fd) for t in pending if t.fd is not None]
            if written and not (len(written) >= _SYNCFS_MIN and _syncfs(written[0][1])):
                for t, fd in written:
                    try:
                        os.fsync(fd)
                    except OSError as exc:
                        t.drop()
                        out[t.index] = exc
            for t, _ in written:
                t.close()
            # 3. linked into place (the first write of a key wins), then the new entries made durable
            dirty: dict[Path, None] = {}
            created: list[_Temp] = []
            for t, _ in written:
                if t.temp is None:  # its fsync failed
                    continue
                try:
                    if _link(t.temp, t.target, dirty):
                        created.append(t)
                except OSError as exc:
                    t.drop()
                    out[t.index] = exc
                    continue
                t.temp = None
                out[t.index] = t.target
            try:
                _sync_dirs(list(dirty))
            except OSError as exc:  # pragma: no cover - a directory fsync failed: not durable
                for t in created:
                    out[t.index] = exc
        finally:
            for t in pending:  # on success nothing is left; on an exception, the unpublished temp files
                t.drop()
        assert all(r is not None for r in out)
        return [r for r in out if r is not None]

    def writer(self, key: str) -> AtomicWriter:
        """A context manager that streams one response into the store.

        ``w.write(chunk)`` appends to a temp file under ``root/tmp``; a clean
        exit commits (fsync, atomic link or ``os.replace``) and sets ``w.path``;
        an exception or ``w.discard()`` removes the temp file.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> key = Store.key("ab" * 32, "0123456789abcdef")
        >>> with store.writer(key) as w:
        ...     for chunk in (b"{", b"}"):
        ...         _ = w.write(chunk)
        >>> store.read_bytes(key), w.bytes_written
        (b'{}', 2)
        """
        return AtomicWriter(self, key)

    # ------------------------------------------------------------------ the index

    def record(self, entry: Mapping[str, Any]) -> None:
        """Append one entry to ``root/index.jsonl`` as one JSON line.

        Entries describe stored responses, e.g. ``key``, ``source``,
        ``file_id``, ``sha256``, ``options`` (the canonical string),
        ``request_id``, ``bytes``; ``at`` (UTC ISO time) is added when absent.
        The line goes out in a single ``os.write`` on an ``O_APPEND`` file, so
        concurrent records from threads and processes never interleave; an
        advisory ``flock`` held meanwhile lets a record that follows a crash
        mid-append start on a fresh line, so only the torn fragment is lost.

        Raises
        ------
        ConfigError
            A value contains one of the store's secrets; nothing is written.
        TypeError
            A value is not JSON serializable (datetimes and paths are converted).

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> store.record({"key": "k", "file_id": "a.wav", "at": "2025-01-01T00:00:00Z"})
        >>> (store.root / "index.jsonl").read_text()
        '{"key":"k","file_id":"a.wav","at":"2025-01-01T00:00:00Z"}\\n'
        """
        self.record_many((entry,))

    def record_many(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Append several entries to ``root/index.jsonl``, one JSON line each, in one write.

        As :meth:`record` (one ``os.write`` on an ``O_APPEND`` file under an
        advisory ``flock``; a torn last line left by a crash is skipped), for
        many entries at the cost of one.  All or nothing: when an entry cannot
        be written, none is.

        Raises
        ------
        ConfigError
            A value contains one of the store's secrets; nothing is written.
        TypeError
            A value is not JSON serializable; nothing is written.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> store.record_many([{"key": "k1", "file_id": "a.wav"}, {"key": "k2", "file_id": "b.wav"}])
        >>> [(e["key"], e["file_id"]) for e in store.entries()]
        [('k1', 'a.wav'), ('k2', 'b.wav')]
        """
        lines: list[bytes] = []
        for entry in entries:
            row = dict(entry)
            row.setdefault("at", _utc_now())
            text = json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_json_default)
            line = text.encode("utf-8", "surrogatepass")
            if b"\n" in line or b"\r" in line:  # pragma: no cover - json.dumps escapes newlines
                raise ValueError("an index entry must serialize to one line")
            if self._guard.found(line):
                raise _refusal("the index entry")
            lines.append(line)
        if not lines:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "index.jsonl", os.O_RDWR | os.O_APPEND | os.O_CREAT | _BINARY, 0o666)
        try:
            _lock(fd)  # released by close; makes the torn-line check below see only whole appends
            size = os.fstat(fd).st_size
            # A crash mid-append leaves a last line without its newline: start on a fresh line,
            # so that the torn fragment is skipped alone and these entries stay readable.
            torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
            data = (b"\n" if torn else b"") + b"\n".join(lines) + b"\n"
            written = os.write(fd, data)
            while written < len(data):  # pragma: no cover - only on a full disk or a signal
                written += os.write(fd, data[written:])
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        """The index entries, in the order they were recorded.

        Lines that are not complete JSON objects (a torn last line left by a
        crash mid-append) are skipped.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> store.entries()
        []
        >>> store.record({"key": "k"})
        >>> [e["key"] for e in store.entries()]
        ['k']
        """
        try:
            data = (self.root / "index.jsonl").read_bytes()
        except FileNotFoundError:
            return []
        out: list[dict[str, Any]] = []
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:  # torn (crash mid-append) or not UTF-8
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    # ------------------------------------------------------------------ listing and cleaning

    def keys(self) -> Iterator[str]:
        """The keys of the complete responses on disk, sorted.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> key = Store.key("ab" * 32, "0123456789abcdef")
        >>> _ = store.write_bytes(key, b"{}")
        >>> list(store.keys()) == [key]
        True
        """
        responses = self.root / "responses"
        found: list[str] = []
        try:
            shards = list(os.scandir(responses))
        except (FileNotFoundError, NotADirectoryError):
            return
        for shard in shards:
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            with os.scandir(shard.path) as it:
                for entry in it:
                    stem, dot, suffix = entry.name.rpartition(".")
                    if (
                        dot
                        and suffix == "json"
                        and stem.startswith(shard.name)
                        and _KEY_RE.fullmatch(stem)
                        and entry.is_file()
                    ):
                        found.append(stem)
        yield from sorted(found)

    def clean(self) -> int:
        """Remove stale temp files (left by a process that was killed mid-write).

        A temp file is stale when the process that wrote it no longer runs
        (checked for files written on this machine, on POSIX) or when it is
        older than :attr:`STALE_AFTER`.  Writes in progress are left alone.

        Returns
        -------
        int
            How many temp files were removed.

        Examples
        --------
        >>> import tempfile
        >>> Store(tempfile.mkdtemp()).clean()
        0
        """
        tmp_dir = self.root / "tmp"
        try:
            names = sorted(os.listdir(tmp_dir))
        except (FileNotFoundError, NotADirectoryError):
            return 0
        host, me, now = _host_tag(), os.getpid(), time.time()
        removed = 0
        for name in names:
            m = _TEMP_RE.fullmatch(name)
            if m is None:
                continue  # not ours: leave it
            path = tmp_dir / name
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue  # committed or discarded meanwhile
            pid = int(m["pid"])
            if age > self.STALE_AFTER:
                stale = True
            elif m["host"] != host or os.name == "nt" or pid == me:
                stale = False  # cannot tell (another machine, Windows), or a write of this process
            else:
                stale = not _pid_alive(pid)
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        return removed


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ConfigError(
            f"not a store key: {key!r:.100}; make one with Store.key(audio_sha256, options_digest)"
        )
