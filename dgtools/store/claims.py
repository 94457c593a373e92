"""Claims: two runs on one store never send the same file at once.

Two processes (or notebooks, maybe on two machines sharing a network store) transcribing into one
store would each send every file it lacks, and pay twice.  Before sending a key, a run claims it;
a key claimed by another live run is not sent (the run waits for it or skips it).  Claims are
advisory files under the store's root (or a folder given instead: ``STORE/speech/`` for speech), a
pair per run, so that taking N keys costs a few file operations whatever N is::

    claims/lock                 flocked by every take, take-over and close; its text registers the
                                runs ("+<run_id>" when one starts, "-<run_id>" when its files go)
    claims/runs/<run_id>.json   the heartbeat {"run_id", "pid", "host", "start", "since"}: its mtime
                                is the beat, and the live run holds a flock on it
    claims/runs/<run_id>.keys   the run's keys, appended: a header, then one write per take of
                                "@<UTC time>" and "+<key>" lines; a release appends "-<key>"

:meth:`Claims.take` holds the lock while it judges every other run (registered, or found in
``runs/``), removes the files of stale runs (their keys are free again), reads what the live ones
appended to their lists since it last looked, and appends the keys nobody holds to its own list
in one write.  A run is stale when its heartbeat is older than ``stale_after`` (on the
filesystem's clock: skew between machines does not matter) or, on this machine, when it no longer
holds the lock on its heartbeat file (the kernel drops it when a process dies, even by SIGKILL)
and its pid is gone (or names a later process): a killed run's keys are taken over at once here,
elsewhere once its heartbeat is stale.  A run writes only its own list, so a release (one append,
no lock) never removes another run's claim; a hung run whose files were removed finds out at its
next heartbeat or take and holds nothing.  Appends are seen as a prefix, so only a list's last
line may be torn: it is read once whole.

What the lock guarantees depends on the filesystem:

- Local (ext4, xfs, btrfs, tmpfs, APFS, ...): ``flock`` excludes every other open file of the
  lock (each take opens it anew), so processes and :class:`Claims` objects of one process never
  take one key at once; a mutex per lock file excludes threads.  One live run holds each key.
- NFS (v3 with the lock manager, or v4): Linux emulates ``flock`` with POSIX locks, granted by
  the server, so runs on every client are excluded.  Taking the lock revalidates the cached lock
  file (so runs are found from its registry, not only from directory listings, which clients
  cache up to ``acdirmin``), and a take writes its list through a file it closes before unlocking
  (close-to-open), so a take sees every run and key taken before it.  Releases may be seen late
  (a key waits longer, never is sent twice); heartbeat times are the server's.  A hung run that
  comes back under a name a client removed may be missed by that client until its cache expires.
  With ``local_lock=flock``, ``nolock`` or ``nocto`` the lock only excludes runs of one client.
- SMB/CIFS, FUSE (sshfs, ...): whether ``flock`` reaches other machines depends on the mount.
- No locks (``flock`` fails with ``ENOLCK``, ``EOPNOTSUPP``; Windows): takes run unlocked, best
  effort: two runs taking one free key in the same instant may both get it.
The host is the 8-hex-digit tag of the store's temp files (a hash: no host name on disk).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from ..exceptions import ConfigError
from .durable import BINARY, held_by_other, host_tag, lock, process_gone, process_start, write_all
from .index import utc_now
from .keys import check_key
from .store import Store

__all__ = ["Claims", "Owner"]

CLAIMS_DIR: Final = "claims"
RUNS_DIR: Final = "runs"
LOCK_FILE: Final = "lock"
_RUN_ID_RE: Final = re.compile(r"[0-9A-Za-z_-]{1,64}")
_HOST_RE: Final = re.compile(r"[0-9a-f]{8}")
#: How often :meth:`Claims.owner` refreshes the heartbeat by itself (seconds).
_AUTO_BEAT: Final = 1.0
#: The first line of a key list (then a nonce: a list made anew never reads as the old one).
_HEADER: Final = b"#dgtools-claims 1 "
#: The lock file's registry is rewritten with only the runs it holds once larger than this and 8 times that.
_REGISTRY_COMPACT: Final = 4096
#: ``flock`` errors that mean the filesystem has no locks: take unlocked (best effort).
_NO_LOCKS: Final = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS})
#: Errors that mean a file is gone (ESTALE: removed by another NFS client).
_GONE: Final = frozenset({errno.ENOENT, errno.ESTALE})

# One mutex per lock file (device, inode) in this process: on NFS ``flock`` is a POSIX lock, which
# belongs to the process, so two Claims of one process on one store must also exclude each other here.
_MUTEXES: dict[tuple[int, int], threading.Lock] = {}
_MUTEXES_GUARD: Final = threading.Lock()

_Ident = tuple[int, int]  # (st_dev, st_ino): which file a path named when it was opened


@dataclass(frozen=True)
class Owner:
    """Who holds a claim: another run, alive as far as this run can tell.

    Attributes
    ----------
    run_id : str
        The run's id ("" when its heartbeat file is still being written or unreadable).
    pid : int
        Its process id (on its machine).
    host : str
        The 8-hex-digit tag of its machine (a hash of the host name).
    this_host : bool
        Whether it runs on this machine.
    since : str
        UTC ISO time the claim was taken.

    Examples
    --------
    >>> str(Owner("3f2a9c0b7d1e", 4242, "0badc0de", False, "2026-12-05T10:00:00.000Z"))
    'run 3f2a9c0b… (pid 4242 on host 0badc0de, since 2026-12-05T10:00:00.000Z)'
    """

    run_id: str
    pid: int
    host: str
    this_host: bool
    since: str

    def __str__(self) -> str:
        if not self.run_id:
            return f"another run (starting, since {self.since})"
        where = "on this machine" if self.this_host else f"on host {self.host}"
        return f"run {self.run_id[:8]}… (pid {self.pid} {where}, since {self.since})"


_Beat = tuple[Owner, str | None]  # a heartbeat file's run, and when its process started


@dataclass
class _List:
    """Another run's key list as read so far (lists only grow, so the next read starts at ``offset``)."""

    ident: _Ident
    stamp: tuple[int, int]  # (size, mtime_ns) when last read
    head: bytes = b""  # its first line, to tell a list made anew under the same name
    offset: int = 0  # bytes of whole lines read
    since: str = ""  # the time of the latest "@" line
    keys: dict[str, str] = field(default_factory=dict)  # key -> since ("" before any "@" line)


@dataclass
class _Registry:
    """The lock file, open (and locked, where the filesystem has locks) for one take."""

    fd: int
    locked: bool
    runs: set[str]
    size: int

    def add(self, run_id: str, sign: str = "+") -> None:
        """Register a run ("+"), or drop its registration ("-")."""
        if (run_id in self.runs) != (sign == "+"):
            self.size += write_all(self.fd, f"{sign}{run_id}\n".encode())
            (self.runs.add if sign == "+" else self.runs.discard)(run_id)

    def compact(self) -> None:
        """Rewrite the registry with only the runs it holds, once it has grown large (locked only)."""
        if self.locked and self.size > _REGISTRY_COMPACT:
            text = "".join(f"+{r}\n" for r in sorted(self.runs)).encode()
            if self.size > 8 * len(text):
                os.ftruncate(self.fd, 0)
                self.size = write_all(self.fd, text)


class Claims:
    """One run's claims on one store; a context manager that releases them all on exit.

    Parameters
    ----------
    store : Store or path-like
        The store whose keys are claimed (claims in ``<store root>/claims/``), or a folder of a
        family of keys (``<folder>/claims/``: ``dgtools.speak`` uses ``STORE/speech``).
    stale_after : float, default 120
        Seconds without a heartbeat after which another run's claims are taken over (from any
        machine; on this one a dead pid is enough).  Call :meth:`heartbeat` well within it.
    run_id : str, optional
        This run's id (letters, digits, ``-``, ``_``); a fresh random one by default.  Two live
        Claims must not share one (a new one takes over what an earlier one of that id left).

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> key = Store.key("ab" * 32, "0123456789abcdef")
    >>> with Claims(store) as first, Claims(store) as second:
    ...     mine, theirs = first.take([key]), second.take([key])
    ...     first.release(key)
    ...     again = second.take([key])
    >>> mine[key] is None, theirs[key].run_id == first.run_id, again[key] is None
    (True, True, True)
    >>> print(theirs[key])  # doctest: +ELLIPSIS
    run ... (pid ... on this machine, since ...Z)
    >>> Claims(store.root / "speech").root == store.root / "speech"  # a folder of its own: other claims
    True
    """

    def __init__(self, store: Store | str | os.PathLike[str], *, stale_after: float = 120.0, run_id: str | None = None) -> None:  # fmt: skip
        if not stale_after > 0:
            raise ConfigError(f"stale_after must be a positive number of seconds, got {stale_after!r}")
        if run_id is None:
            run_id = uuid.uuid4().hex
        if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
            raise ConfigError(f"run_id must be 1-64 letters, digits, '-' or '_'; got {run_id!r:.80}")
        self.store: Store | None = store if isinstance(store, Store) else None
        self.root: Path = store.root if isinstance(store, Store) else Path(store)
        self.stale_after, self.run_id = float(stale_after), run_id
        self._dir = self.root / CLAIMS_DIR
        self._runs = self._dir / RUNS_DIR
        self._run_file = self._runs / f"{run_id}.json"
        self._keys_file = self._runs / f"{run_id}.keys"
        self._host, self._pid = host_tag(), os.getpid()
        self._start = process_start(self._pid)
        self._held: set[str] = set()
        self._lock = threading.RLock()  # this object's state; taken after the store's lock, never before
        self._clock: tuple[float, float] | None = None  # (heartbeat mtime, monotonic time) at the last beat
        self._run_fd: int | None = None  # the heartbeat file, locked while the run lives
        self._run_ident: _Ident | None = None
        self._keys_fd: int | None = None  # the key list, open for releases
        self._keys_ident: _Ident | None = None
        self._infos: dict[str, tuple[_Ident, _Beat]] = {}  # other runs' heartbeat files, read once
        self._lists: dict[str, _List] = {}  # other runs' key lists, read so far
        self._registered: set[str] = set()  # the registry as last read (for owner(), which reads unlocked)
        self._swept = False
        self._closed = False

    def __getstate__(self) -> dict[str, Any]:
        """A pickled Claims is a closed one: claims belong to the live run that took them."""
        skip = ("_lock", "_run_fd", "_keys_fd", "_infos", "_lists", "_registered")
        state = {k: v for k, v in self.__dict__.items() if k not in skip}
        state.update(_held=set(), _closed=True, _clock=None, _run_ident=None, _keys_ident=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock, self._run_fd, self._keys_fd = threading.RLock(), None, None
        self._infos, self._lists, self._registered = {}, {}, set()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"held={len(self._held)}"
        return f"<dgtools.store.Claims run_id={self.run_id!r} root={str(self.root)!r} {state}>"

    def __enter__(self) -> Claims:
        self.heartbeat()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def held(self) -> frozenset[str]:
        """The keys this run holds a claim on."""
        with self._lock:
            return frozenset(self._held)

    # ------------------------------------------------------------------ liveness

    def heartbeat(self) -> None:
        """Tell other runs this run is alive (touches its heartbeat file: one small write).

        The first one (or take) creates this run's files; one that finds them removed (this run
        was judged stale, its keys taken over) makes them anew, holding nothing.
        """
        self._check_open()
        with self._lock:
            beaten = self._beat()
        if not beaten or not self._swept:
            with self._exclusive() as registry:
                self._ready(registry)
                if not self._swept:  # the first beat also sweeps what dead runs left
                    self._swept = True
                    self._scan(registry)

    def _beat(self) -> bool:
        """Touch this run's heartbeat file; False when it has none (yet, or any more)."""
        if self._run_ident is None:
            return False
        try:
            os.utime(self._run_file)
            st = os.stat(self._run_file)
        except OSError as exc:
            if exc.errno in _GONE:
                return False
            raise
        if (st.st_dev, st.st_ino) != self._run_ident:
            return False
        self._clock = (st.st_mtime, time.monotonic())
        return True

    def _now(self, *, beat: bool = True) -> float:
        """The filesystem's clock now, from this run's last heartbeat (other runs' are on the same clock)."""
        if beat and (self._clock is None or time.monotonic() - self._clock[1] > _AUTO_BEAT):
            self.heartbeat()
        assert self._clock is not None  # without ``beat``: the caller just beat
        mtime, then = self._clock
        return mtime + (time.monotonic() - then)

    # ------------------------------------------------------------------ taking and releasing

    def take(self, keys: Iterable[str]) -> dict[str, Owner | None]:
        """Claim each key for this run, unless another live run holds it.

        Returns
        -------
        dict of str to Owner or None
            For each key: None when this run now holds it (it may send it), or the
            :class:`Owner` of the live run that does.  The claims of dead or stale runs are
            taken over (their files removed, under the lock: of two runs, one gets each key).

        Raises
        ------
        ConfigError
            A key is not a store key.
        OSError
            The claim could not be written (a full or read-only store).
        RuntimeError
            The claims were closed.
        """
        self._check_open()
        keys = list(keys)
        for key in keys:
            check_key(key)
        with self._exclusive() as registry:
            self._ready(registry)
            live, _ = self._scan(registry)
            out = {key: None if key in self._held else _holder(live, key) for key in keys}
            fresh = [key for key, owner in out.items() if owner is None and key not in self._held]
            if fresh:
                self._append_take(fresh)
                self._held.update(fresh)
        return out

    def owner(self, key: str) -> Owner | None:
        """The live run other than this one that holds ``key``; None when it is free, stale or this run's.

        Reads the other runs' lists (only what they appended since the last read) without the
        lock: a hint, which :meth:`take` confirms.
        """
        check_key(key)
        self._check_open()
        now = self._now()  # (and a beat, at most once a second)
        with self._lock:  # a key this run holds is in no other live run's list, unless it took it over
            for run_id in self._run_ids(self._registered):
                listed = self._read_list(run_id)
                if listed is not None and key in listed.keys:  # only a run listing it is judged
                    owner = self._judge(run_id, now)
                    if owner is not None:
                        return _holder([(owner, listed)], key)
            return None

    def release(self, key: str) -> None:
        """Give up this run's claim on ``key`` (once its answer is stored, or it failed); idempotent.

        One append to this run's own list, without the lock.  A claim that another run has
        meanwhile taken over (this run was judged stale) is left to it: it is in that run's list.
        If the append fails (a full disk), the key stays claimed until :meth:`close`.
        """
        with self._lock:
            if key not in self._held:
                return
            self._held.discard(key)
            if self._keys_fd is not None:
                with contextlib.suppress(OSError):
                    write_all(self._keys_fd, f"-{key}\n".encode())

    def close(self) -> None:
        """Release every claim and remove this run's files (under the lock); idempotent."""
        if self._closed:
            return
        idents = self._run_ident, self._keys_ident
        try:
            if idents != (None, None):
                with self._exclusive() as registry:
                    self._close_fds()  # first: Windows cannot remove an open file
                    self._remove_own(registry, *idents)
        except OSError:  # no lock to be had (a read-only or vanished store): remove what can be
            with contextlib.suppress(OSError):
                self._remove_own(None, *idents)
        finally:
            with self._lock:
                self._closed = True
                self._held.clear()
                self._close_fds()

    def sweep(self) -> int:
        """Remove the files of dead and stale runs (their keys are free again); returns how many.

        Called by the first :meth:`heartbeat`; every :meth:`take` does it too.
        """
        self._check_open()
        with self._exclusive() as registry:
            self._ready(registry)
            _, removed = self._scan(registry)
        return removed

    # ------------------------------------------------------------------ this run's files

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"these claims (run {self.run_id}) are closed")

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[_Registry]:
        """Hold the store's lock (and this object's), yielding the registry of runs it holds."""
        path = self._dir / LOCK_FILE
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | BINARY
        try:
            fd = os.open(path, flags, 0o666)
        except FileNotFoundError:
            self._runs.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, flags, 0o666)
        try:
            st = os.fstat(fd)
            with _MUTEXES_GUARD:
                mutex = _MUTEXES.setdefault((st.st_dev, st.st_ino), threading.Lock())
        except BaseException:
            os.close(fd)
            raise
        with mutex:
            try:  # the fd is closed (which lets go of the flock) before the mutex: see _MUTEXES
                locked = _flock(fd)
                raw = os.pread(fd, os.fstat(fd).st_size, 0)
                parsed = _List((0, 0), (0, 0))  # "+<run_id>" and "-<run_id>" lines, as in a key list
                _parse_list(parsed, raw)
                runs = {run_id for run_id in parsed.keys if _RUN_ID_RE.fullmatch(run_id)}
                registry = _Registry(fd, locked, runs, len(raw))
                with self._lock:
                    yield registry
                    self._registered = set(registry.runs)
            finally:
                os.close(fd)

    def _ready(self, registry: _Registry) -> None:
        """(Locked) beat; make this run's files if it has none, or they were removed as stale."""
        beaten = self._beat()
        if self._keys_ident is not None and _ident(self._keys_file) != self._keys_ident:
            self._held.clear()  # judged stale: its list was removed, and its keys may be another run's
            if self._keys_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._keys_fd)
            self._keys_fd = self._keys_ident = None
        if beaten and self._keys_ident is not None:
            return
        registry.add(self.run_id)  # registered first: what a crash leaves is judged by it, then removed
        if not beaten:  # the heartbeat, locked while the run lives (the kernel drops it however it dies)
            info = {"run_id": self.run_id, "pid": self._pid, "host": self._host, "start": self._start}
            data = json.dumps({**info, "since": utc_now()}).encode()
            fd, st = _create(self._run_file, os.O_RDWR | os.O_TRUNC, data, hold=True)
            if self._run_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._run_fd)
            self._run_fd, self._run_ident = fd, (st.st_dev, st.st_ino)
            self._clock = (st.st_mtime, time.monotonic())
        if self._keys_ident is None:  # made anew: what an earlier run of this id left is dropped
            with contextlib.suppress(FileNotFoundError):
                self._keys_file.unlink()
            header = _HEADER + os.urandom(8).hex().encode() + b"\n"
            fd, st = _create(self._keys_file, os.O_WRONLY | os.O_APPEND | os.O_EXCL, header)
            self._keys_fd, self._keys_ident = fd, (st.st_dev, st.st_ino)

    def _append_take(self, keys: list[str]) -> None:
        """(Locked) list ``keys`` as this run's, in one write through a file closed before the lock is let go."""
        # The "@" line first: if an earlier write failed partway, its torn line swallows only that.
        lines = "".join(f"+{key}\n" for key in keys)
        fd = os.open(self._keys_file, os.O_WRONLY | os.O_APPEND | BINARY)
        try:
            write_all(fd, f"@{utc_now()}\n{lines}".encode())
        finally:
            os.close(fd)  # on NFS, close sends the data to the server (close-to-open)

    def _remove_own(self, registry: _Registry | None, run: _Ident | None, keys: _Ident | None) -> None:
        """Remove this run's files, if they are still its own, and its registration."""
        for path, ident in ((self._run_file, run), (self._keys_file, keys)):
            if ident is not None and _ident(path) == ident:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        if registry is not None and _ident(self._run_file) is None and _ident(self._keys_file) is None:
            registry.add(self.run_id, "-")

    def _close_fds(self) -> None:
        for fd in (self._keys_fd, self._run_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._keys_fd = self._run_fd = None
        self._run_ident = self._keys_ident = None

    # ------------------------------------------------------------------ other runs

    def _scan(self, registry: _Registry) -> tuple[list[tuple[Owner, _List]], int]:
        """(Locked) the other live runs with their key lists; stale runs' files removed (how many).

        The registry is compacted once it has grown large.
        """
        now = self._now(beat=False)  # _ready beat just now
        live: list[tuple[Owner, _List]] = []
        removed = 0
        for run_id in self._run_ids(registry.runs):
            owner = self._judge(run_id, now)
            if owner is None:
                removed += self._remove_run(registry, run_id)
                continue
            listed = self._read_list(run_id)
            if listed is not None and listed.keys:
                live.append((owner, listed))
        registry.compact()
        return live, removed

    def _run_ids(self, registered: set[str]) -> list[str]:
        """The other runs: those registered in the lock file or with a file in ``runs/``."""
        runs = set(registered)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for name in os.listdir(self._runs):
                run_id, _, suffix = name.rpartition(".")
                if suffix in ("json", "keys") and _RUN_ID_RE.fullmatch(run_id):
                    runs.add(run_id)
        runs.discard(self.run_id)
        for cache in (self._infos, self._lists):  # forget the runs that are gone
            for gone in set(cache) - runs:
                del cache[gone]
        return sorted(runs)

    def _judge(self, run_id: str, now: float) -> Owner | None:
        """The run's :class:`Owner` (its ``since``: when it started) if it is alive, else None (stale)."""
        path = self._runs / f"{run_id}.json"
        try:
            fd = os.open(path, os.O_RDONLY | BINARY)  # an open, not a stat: on NFS it fetches fresh times
        except FileNotFoundError:  # the run closed (or was swept): what it left is stale
            return None
        try:
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            cached = self._infos.get(run_id)
            info = (
                cached[1]
                if cached and cached[0] == ident
                else _parse_run(os.read(fd, 4096), run_id, self._host)
            )
        finally:
            os.close(fd)
        if now - st.st_mtime > self.stale_after:  # no heartbeat for too long, on any machine
            return None
        if info is None:  # being written, or garbage: a run starting, until it is stale
            return Owner("", 0, "", False, _iso(st.st_mtime))
        self._infos[run_id] = (ident, info)
        owner, start = info
        if owner.this_host and not _runs_here(path, owner.pid, start):
            return None
        return owner if owner.since else replace(owner, since=_iso(st.st_mtime))

    def _read_list(self, run_id: str) -> _List | None:
        """Another run's key list, reading only what was appended since the last read; None if it has none."""
        try:
            fd = os.open(self._runs / f"{run_id}.keys", os.O_RDONLY | BINARY)
        except FileNotFoundError:
            self._lists.pop(run_id, None)
            return None
        try:
            st = os.fstat(fd)
            ident, stamp = (st.st_dev, st.st_ino), (st.st_size, st.st_mtime_ns)
            entry = self._lists.get(run_id) or _List((-1, -1), stamp)  # (-1, -1): no file's
            if entry.ident == ident and entry.stamp == stamp:
                return entry
            head = entry.head and os.pread(fd, len(entry.head), 0)  # an inode can be reused
            if entry.ident != ident or entry.offset > st.st_size or head != entry.head:
                entry = _List(ident, stamp)  # new, or made anew: read it all
            data = os.pread(fd, st.st_size - entry.offset, entry.offset)
        finally:
            os.close(fd)
        _parse_list(entry, data)
        entry.stamp = stamp
        self._lists[run_id] = entry
        return entry

    def _remove_run(self, registry: _Registry, run_id: str) -> int:
        """(Locked) remove a stale run's files and registration; returns how many files were removed."""
        removed = 0
        for suffix in ("json", "keys"):  # the heartbeat first: a run that wakes up finds out at its next beat
            with contextlib.suppress(FileNotFoundError):
                (self._runs / f"{run_id}.{suffix}").unlink()
                removed += 1
        registry.add(run_id, "-")
        self._infos.pop(run_id, None)
        self._lists.pop(run_id, None)
        return removed


def _holder(live: list[tuple[Owner, _List]], key: str) -> Owner | None:
    """The first live run whose list holds ``key``, with the time it took it."""
    for owner, listed in live:
        since = listed.keys.get(key)
        if since is not None:
            return Owner(owner.run_id, owner.pid, owner.host, owner.this_host, since or owner.since)
    return None


def _runs_here(run_file: Path, pid: int, start: str | None) -> bool:
    """Whether the run of ``run_file``, on this machine, still runs (True where it cannot be told).

    Its lock on its heartbeat file says so (whatever its pid namespace); without one, its
    pid must run and, on Linux, be the process that started then (a reused pid is not it).
    """
    if os.name == "nt":  # pragma: no cover - no pid checks on Windows: the heartbeat decides
        return True
    return bool(held_by_other(run_file)) or not process_gone(pid, start)


def _flock(fd: int) -> bool:
    """Take an exclusive flock on ``fd``, waiting for it; False where the filesystem has no locks."""
    if sys.platform == "win32":  # pragma: no cover - no flock: best effort
        return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:  # pragma: no cover - filesystems without locks
        if exc.errno in _NO_LOCKS:
            return False
        raise
    return True


def _create(path: Path, flags: int, data: bytes, *, hold: bool = False) -> tuple[int, os.stat_result]:
    """Open ``path`` with ``O_CREAT | flags``, write ``data`` (and lock it if ``hold``): the open fd and its stat."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | flags | BINARY, 0o666)
    try:
        write_all(fd, data)
        if hold:
            lock(fd)
        return fd, os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise


def _ident(path: Path) -> _Ident | None:
    """Which file ``path`` names now; None when none.  An open, not a stat: on NFS it asks the server."""
    try:
        fd = os.open(path, os.O_RDONLY | BINARY)
    except OSError as exc:
        if exc.errno in _GONE:
            return None
        raise
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return st.st_dev, st.st_ino


def _iso(timestamp: float) -> str:
    when = _dt.datetime.fromtimestamp(timestamp, _dt.UTC).isoformat(timespec="milliseconds")
    return when.replace("+00:00", "Z")


def _parse_list(entry: _List, data: bytes) -> None:
    """Apply the whole lines of ``data`` (appended to a key list) to ``entry``; a torn last line waits."""
    end = data.rfind(b"\n") + 1
    if not end:
        return
    lines = data[: end - 1].split(b"\n")
    if entry.offset == 0:
        entry.head = lines[0] + b"\n"
    keys, since = entry.keys, entry.since
    for line in lines:
        tag = line[:1]
        if tag == b"+":
            keys[line[1:].decode("latin-1")] = since
        elif tag == b"-":
            keys.pop(line[1:].decode("latin-1"), None)
        elif tag == b"@":
            since = line[1:].decode("latin-1")
    entry.since = since
    entry.offset += end


def _parse_run(raw: bytes, run_id: str, this_host: str) -> _Beat | None:
    """A heartbeat file's run (and its process's start time); None when it is not whole and well formed."""
    try:
        info = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(info, dict):
        return None
    pid, host, start, since = (info.get(k) for k in ("pid", "host", "start", "since"))
    if not (isinstance(pid, int) and not isinstance(pid, bool) and pid > 0):
        return None
    if not (isinstance(host, str) and _HOST_RE.fullmatch(host)):
        return None
    start = start if isinstance(start, str) and start else None
    return Owner(run_id, pid, host, host == this_host, since if isinstance(since, str) else ""), start
