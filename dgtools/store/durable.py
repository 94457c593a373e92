"""Durable, atomic files: the primitives under the store's crash consistency.

A file appears under its final name only complete and durable: it is written to a temp file in
the store's ``tmp/`` (same filesystem), made durable (``fsync``, or one ``syncfs`` for many files
on a local Linux filesystem), then linked into place (a hard link never replaces an existing
file, so of two writers of one key the first wins atomically; ``os.replace`` where links are not
supported), and the directory entries are made durable in turn.  A process killed mid-write leaves
only a temp file, named ``<key>.<host>.<pid>-<start>.<random>.part`` (``<start>``: when the
process started, where the system says) so that :meth:`Store.clean <dgtools.store.Store.clean>`
can tell a dead writer's leftovers from a live one's, even when the dead writer's pid was reused
(in a container every run may get the same pid).

:class:`AtomicWriter` streams one file; :func:`write_files` writes many with shared syncs.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from .secrets import SecretGuard, refusal

__all__ = [
    "BINARY",
    "LINK_UNSUPPORTED",
    "TEMP_RE",
    "AtomicWriter",
    "SyncMode",
    "TempFile",
    "clean_temps",
    "fsync_dir",
    "held_by_other",
    "host_tag",
    "link",
    "lock",
    "open_temp",
    "pid_alive",
    "process_gone",
    "process_start",
    "publish",
    "remove",
    "sync_dirs",
    "syncfs",
    "syncfs_supported",
    "temp_name",
    "write_all",
    "write_files",
]

#: ``"auto"``: one ``syncfs`` stands in for the fsyncs of two or more files on a local Linux
#: filesystem; ``"fsync"``: always fsync each file and directory.
SyncMode = Literal["auto", "fsync"]

TEMP_RE: Final = re.compile(
    r"(?P<key>[0-9a-f]{64}-[0-9a-f]+)\.(?P<host>[0-9a-f]{8})\.(?P<pid>[0-9]+)(?:-(?P<start>[0-9a-f]+))?"
    r"\.[0-9a-f]+\.part"
)
BINARY: Final = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
#: ``os.link`` errors that mean the filesystem has no hard links (FAT, some network mounts).
LINK_UNSUPPORTED: Final = frozenset(
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
#: Fewest files (or directories) to sync for which one ``syncfs`` replaces their fsyncs.  A single
#: file costs the same either way, and fsync does not wait for other programs' writes.
SYNCFS_MIN: Final = 2


def host_tag() -> str:
    """Eight hex digits naming this machine in temp-file names (hashed: no host name on disk)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "surrogatepass")).hexdigest()[:8]


def fsync_dir(path: Path) -> None:
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
def _libc() -> tuple[Callable[[int], int], Callable[[int], int | None]] | None:
    """``(syncfs(fd), fs_type(fd))`` from the C library, looked up once; None where unavailable.

    Linux 5.8+ only: earlier kernels' ``syncfs`` does not report write-back errors.
    ``fs_type(fd)`` is ``statfs.f_type`` of the filesystem holding ``fd`` (None when it fails).
    """
    if not sys.platform.startswith("linux"):  # pragma: no cover - the CI is Linux
        return None
    version = re.match(r"(\d+)\.(\d+)", os.uname().release)
    if version is None or (int(version[1]), int(version[2])) < (5, 8):  # pragma: no cover
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        c_syncfs, c_fstatfs = libc.syncfs, libc.fstatfs
    except (OSError, AttributeError):  # pragma: no cover - a libc without them
        return None
    c_syncfs.argtypes, c_syncfs.restype = [ctypes.c_int], ctypes.c_int
    c_fstatfs.argtypes, c_fstatfs.restype = [ctypes.c_int, ctypes.c_void_p], ctypes.c_int
    statfs_buffer = ctypes.c_long * 32  # struct statfs starts with f_type; the rest is not read

    def fs_type(fd: int) -> int | None:
        buf = statfs_buffer()
        return None if c_fstatfs(fd, buf) != 0 else int(buf[0] & 0xFFFFFFFF)

    def do_syncfs(fd: int) -> int:
        return int(c_syncfs(fd))  # ctypes releases the GIL for the call

    return do_syncfs, fs_type


def syncfs(fd: int) -> bool:
    """Make everything written on ``fd``'s filesystem durable with one ``syncfs(2)``; False if not done.

    Nothing is synced (and False returned) where ``syncfs`` is unavailable, on a filesystem
    outside :data:`_SYNCFS_FILESYSTEMS`, or when the call fails: the caller then fsyncs each file.
    """
    libc = _libc()
    if libc is None:
        return False
    do_syncfs, fs_type = libc
    return fs_type(fd) in _SYNCFS_FILESYSTEMS and do_syncfs(fd) == 0


def syncfs_supported(path: str | os.PathLike[str]) -> bool:
    """Whether a group commit in the folder ``path`` (which exists) can use one ``syncfs`` for many files.

    True on Linux 5.8 or later for ext2/3/4, xfs, btrfs, f2fs, tmpfs and overlayfs; False for FUSE
    and network filesystems (their ``syncfs`` may not reach the server) and elsewhere, where
    :meth:`Store.write_many <dgtools.store.Store.write_many>` fsyncs each file.

    Examples
    --------
    >>> import sys, tempfile
    >>> syncfs_supported(tempfile.gettempdir()) in (True, False)
    True
    """
    libc = _libc()
    if libc is None or os.name == "nt":
        return False
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        return libc[1](fd) in _SYNCFS_FILESYSTEMS
    finally:
        os.close(fd)


def sync_dirs(dirs: Sequence[Path], mode: SyncMode = "auto") -> None:
    """Make the entries of ``dirs`` durable: one ``syncfs`` where it works (``mode="auto"``), else an fsync of each."""
    if mode == "auto" and len(dirs) >= SYNCFS_MIN and os.name != "nt" and _libc() is not None:
        try:
            fd = os.open(dirs[0], os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:  # pragma: no cover - fall back to one directory at a time
            pass
        else:
            try:
                if syncfs(fd):
                    return
            finally:
                os.close(fd)
    for d in dirs:
        fsync_dir(d)


def temp_name(key: str) -> str:
    """A fresh temp-file name for ``key``: ``<key>.<host>.<pid>-<start>.<random>.part`` (see :data:`TEMP_RE`)."""
    pid = os.getpid()
    start = _own_start(pid)
    return f"{key}.{host_tag()}.{pid}{'-' + start if start else ''}.{os.urandom(6).hex()}.part"


def open_temp(tmp_dir: Path, key: str) -> tuple[Path, int]:
    """Create a fresh temp file for ``key`` in ``tmp_dir`` (which exists); returns its path and fd."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | BINARY
    while True:
        name = temp_name(key)
        try:
            fd = os.open(tmp_dir / name, flags, 0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        lock(fd)  # held while the file is open: clean() sees a live writer by it (held_by_other)
        return tmp_dir / name, fd


def process_start(pid: int) -> str:
    """When process ``pid`` of this machine started, as hex clock ticks since boot; "" where unknown.

    Linux only (``/proc/<pid>/stat``): with the pid it names one process for the whole uptime, so
    that a reused pid is told from the process that wrote a file.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    fields = stat.rpartition(b")")[2].split()  # the command name may hold spaces and parentheses
    try:
        return format(int(fields[19]), "x")  # field 22, starttime (fields[0] is field 3, the state)
    except (IndexError, ValueError):  # pragma: no cover - not Linux's format
        return ""


@functools.lru_cache(maxsize=4)
def _own_start(pid: int) -> str:
    """:func:`process_start` of this process (looked up once per pid: a fork gets a new one)."""
    return process_start(pid)


def process_gone(pid: int, start: str | None = None) -> bool:
    """Whether the process ``pid`` of this machine, started at ``start``, no longer runs (POSIX).

    A pid that runs but started at another time than ``start`` (:func:`process_start`) was
    reused: the process that wrote ``start`` is gone.  Without ``start``, or where start times are
    unknown, only whether the pid runs is checked.
    """
    if not pid_alive(pid):
        return True
    if start:
        now = _own_start(pid) if pid == os.getpid() else process_start(pid)
        return bool(now) and now != start
    return False


def write_all(fd: int, data: bytes | bytearray | memoryview) -> int:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less); returns its length."""
    view = memoryview(data).cast("B")
    total = len(view)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    return total


def pid_alive(pid: int) -> bool:
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


def lock(fd: int) -> None:
    """Take an exclusive advisory lock on an open file, where the platform and filesystem allow."""
    if sys.platform == "win32":  # pragma: no cover
        return
    import fcntl

    with contextlib.suppress(OSError):  # e.g. ENOLCK on a filesystem without locks: append unlocked
        fcntl.flock(fd, fcntl.LOCK_EX)


def held_by_other(path: Path) -> bool | None:
    """Whether another open file holds a :func:`lock` on ``path``: True, False, or None where locks do not work.

    A process's locks go away when it dies (even by SIGKILL), so a held lock means a live
    writer, on this machine, whatever its pid namespace.
    """
    if sys.platform == "win32":  # pragma: no cover
        return None
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | BINARY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # e.g. ENOLCK: no locks on this filesystem
        return None
    finally:
        os.close(fd)  # also releases the lock just taken
    return False


def publish(temp: Path, target: Path) -> bool:
    """Move a complete temp file to ``target`` unless it exists, durably; True when ``temp`` became ``target``."""
    dirty: dict[Path, None] = {}
    created = link(temp, target, dirty)
    for d in dirty:
        fsync_dir(d)
    return created


def link(temp: Path, target: Path, dirty: dict[Path, None]) -> bool:
    """Move a complete (durable) temp file to ``target`` unless it exists; True when ``temp`` became ``target``.

    The temp file is gone afterwards (unless this raises).  Nothing is synced:
    the directories whose entries changed are added to ``dirty``, in the order
    to sync them (``root``, ``responses/``, then the shard).
    """
    parent = target.parent
    if parent not in dirty and not parent.is_dir():  # a new shard (maybe responses/): sync their entries too
        responses = parent.parent
        new_responses = not responses.is_dir()
        parent.mkdir(parents=True, exist_ok=True)
        if new_responses:
            dirty[responses.parent] = None
        dirty[responses] = None
    try:
        # A hard link never replaces an existing file, so of two processes
        # writing the same key at once the first one wins atomically.
        os.link(temp, target)
    except FileExistsError:
        temp.unlink()
        return False
    except OSError as exc:
        if exc.errno not in LINK_UNSUPPORTED:
            raise
        if target.exists():  # filesystems without hard links (FAT, some network mounts): a race
            temp.unlink()  # between this check and the replace is possible there
            return False
        os.replace(temp, target)
    else:
        temp.unlink()
    dirty[parent] = None
    return True


class TempFile:
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


class AtomicWriter:
    """Streams one response into the store: nothing appears under ``responses/`` until it is complete.

    Made by :meth:`Store.writer <dgtools.store.Store.writer>`; use it as a context manager.  Chunks go
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
    >>> from dgtools.store import Store
    >>> store = Store(tempfile.mkdtemp())
    >>> key = Store.key("0" * 64, "0123456789abcdef")
    >>> with store.writer(key) as w:
    ...     _ = w.write(b'{"metadata": {}, ')
    ...     _ = w.write(b'"results": {}}')
    >>> w.bytes_written, w.path == store.path(key), store.has(key)
    (31, True, True)
    """

    def __init__(self, key: str, target: Path, tmp_dir: Path, guard: SecretGuard) -> None:
        self.key = key
        self.path: Path | None = None
        self.bytes_written = 0
        self.created = False
        self._tmp_dir = tmp_dir
        self._guard = guard
        self._target = target
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
            raise refusal(f"the response for key {self.key}")

    def _open(self) -> None:
        if self._state != "new":
            raise ValueError(f"this writer for {self.key} was already used ({self._state})")
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        self._temp, self._fd = open_temp(self._tmp_dir, self.key)
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
        guard = self._guard
        if guard:
            if guard.found(data, self._tail):
                self._refused = True
                self.discard()
                raise refusal(f"the response for key {self.key}")
            self._tail = guard.tail(self._tail, data)
        total = write_all(self._fd, data)
        self.bytes_written += total
        return total

    def commit(self) -> Path:
        """Make the data durable and visible under its key; returns the response path.

        When a response for the key already exists (another writer was first),
        the existing file is kept, this data is dropped and :attr:`created` is
        ``False``.
        """
        if self._refused:
            raise refusal(f"the response for key {self.key}")
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
            self.created = publish(temp, target)
        except BaseException:
            self.discard()
            raise
        self._temp = None
        self._tail = b""
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
        self._tail = b""  # the end of the data given up (maybe the start of a refused secret)
        if self._state != "committed":
            self._state = "discarded"


def write_files(
    items: Sequence[tuple[Path, bytes | bytearray | memoryview | Path]],
    tmp_dir: Path,
    *,
    mode: SyncMode = "auto",
) -> list[Path | BaseException]:
    """Write whole files atomically with shared syncs; one outcome per item, in order.

    Every temp file is written, one sync makes the data durable (one ``syncfs`` for two or more
    files where ``mode="auto"`` and the filesystem allows it, else an ``fsync`` of each), every
    file is linked into place (the first write of a target wins: an existing target is kept), and
    one more sync makes the new directory entries durable.  An item's data may also be the
    :class:`~pathlib.Path` of a complete temp file in ``tmp_dir`` (a spooled answer): it is made
    durable and moved into place the same way.  No temp file is left behind, even when this is
    interrupted, and every ``OSError`` comes back as the item's outcome.  At most ``len(items)``
    temp files are open at once: callers pass chunks.

    Returns
    -------
    list of Path or BaseException
        The target (also when it already existed), or the ``OSError`` that kept it out.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> out = write_files([(root / "a" / "x.json", b"{}"), (root / "a" / "x.json", b"[]")], root / "tmp")
    >>> out == [root / "a" / "x.json"] * 2, (root / "a" / "x.json").read_bytes(), list((root / "tmp").iterdir())
    (True, b'{}', [])
    """
    out: list[Path | BaseException | None] = [None] * len(items)
    made_tmp = False
    pending: list[TempFile] = []
    try:
        # 1. every temp file, written but not synced
        for i, (target, data) in enumerate(items):
            spooled = data if isinstance(data, Path) else None
            try:
                if target.exists():  # the first write wins: nothing to write
                    out[i] = target
                    if spooled is not None:
                        remove(spooled)
                    continue
                if spooled is not None:  # already written: open it to make it durable
                    fd = os.open(spooled, (os.O_RDWR if os.name == "nt" else os.O_RDONLY) | BINARY)
                    pending.append(TempFile(i, target, spooled, fd))
                    continue
                if not made_tmp:
                    tmp_dir.mkdir(parents=True, exist_ok=True)
                    made_tmp = True
                temp, fd = open_temp(tmp_dir, target.stem)
            except OSError as exc:
                out[i] = exc
                if spooled is not None:
                    remove(spooled)
                continue
            item = TempFile(i, target, temp, fd)
            pending.append(item)
            try:
                write_all(fd, data)  # type: ignore[arg-type]  # a Path never gets here
            except OSError as exc:
                item.drop()
                out[i] = exc
        # 2. their data made durable: one syncfs, or an fsync of each
        written = [(t, t.fd) for t in pending if t.fd is not None]
        shared = mode == "auto" and len(written) >= SYNCFS_MIN and syncfs(written[0][1])
        if written and not shared:
            for t, fd in written:
                try:
                    os.fsync(fd)
                except OSError as exc:
                    t.drop()
                    out[t.index] = exc
        for t, _ in written:
            t.close()
        # 3. linked into place (the first write of a target wins), then the new entries made durable
        dirty: dict[Path, None] = {}
        created: list[TempFile] = []
        for t, _ in written:
            if t.temp is None:  # its fsync failed
                continue
            try:
                if link(t.temp, t.target, dirty):
                    created.append(t)
            except OSError as exc:
                t.drop()
                out[t.index] = exc
                continue
            t.temp = None
            out[t.index] = t.target
        try:
            sync_dirs(list(dirty), mode)
        except OSError as exc:  # a directory fsync failed: the new entries may not be durable
            for t in created:
                out[t.index] = exc
    finally:
        for t in pending:  # on success nothing is left; on an exception, the unpublished temp files
            t.drop()
    assert all(r is not None for r in out)
    return [r for r in out if r is not None]


def remove(path: Path) -> None:
    """Remove a file if it is there (a temp file being given up)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def clean_temps(tmp_dir: Path, stale_after: float) -> int:
    """Remove the temp files in ``tmp_dir`` whose writer is gone; returns how many were removed.

    A temp file (named as :data:`TEMP_RE` says) is stale when it was written on this machine by
    a process that is gone (:func:`process_gone`: its pid no longer runs, or now names a process
    that started later) and no writer holds it open (:func:`held_by_other`), or when it is older
    than ``stale_after`` seconds (the only test for files of other machines, and on Windows).
    Other files are left alone.
    """
    try:
        names = sorted(os.listdir(tmp_dir))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    host, now = host_tag(), time.time()
    gone: dict[tuple[int, str | None], bool] = {}
    removed = 0
    for name in names:
        m = TEMP_RE.fullmatch(name)
        if m is None:
            continue  # not ours: leave it
        path = tmp_dir / name
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue  # committed or discarded meanwhile
        writer = (int(m["pid"]), m["start"])
        if age > stale_after:
            stale = True
        elif m["host"] != host or os.name == "nt":
            stale = False  # cannot tell (another machine, Windows)
        elif held_by_other(path):
            stale = False  # its writer holds it open: alive (maybe in another pid namespace)
        else:
            if writer not in gone:
                gone[writer] = process_gone(*writer)
            stale = gone[writer]
        if stale:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed
