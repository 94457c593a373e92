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
import errno
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ..exceptions import ConfigError
from . import index
from .durable import TEMP_RE, AtomicWriter, SyncMode, host_tag, pid_alive, write_files
from .secrets import SecretGuard, refusal

__all__ = ["Store"]

_HEX_RE: Final = re.compile(r"[0-9a-f]+")
_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")
_KEY_RE: Final = re.compile(r"[0-9a-f]{64}-[0-9a-f]+")
#: Most temp files :meth:`Store.write_many` keeps open at once (it syncs in chunks of this size).
_MANY_CHUNK: Final = 128


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
    sync : {"auto", "fsync"}, default "auto"
        How :meth:`write_many` makes many files durable: ``"auto"`` uses one
        ``syncfs(2)`` for two or more files on a local Linux filesystem (5.8+;
        ext4, xfs, btrfs, f2fs, tmpfs, overlayfs) and ``fsync`` of each file
        otherwise; ``"fsync"`` always fsyncs each file, which is faster on a
        disk busy with other programs' writes (``syncfs`` waits for them too).

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

    def __init__(
        self, root: str | os.PathLike[str], *, secrets: Sequence[str] = (), sync: SyncMode = "auto"
    ) -> None:
        self.root = Path(root)
        if isinstance(secrets, str):  # one key passed bare: not a sequence of characters
            secrets = (secrets,)
        if sync not in ("auto", "fsync"):
            raise ConfigError(f"sync={sync!r}: use 'auto' (syncfs where it helps) or 'fsync'")
        self.sync: SyncMode = sync
        self._guard = SecretGuard([s for s in secrets if s])

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
            raise refusal(f"the response for key {key}")
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
        todo: list[tuple[int, Path, bytes | bytearray | memoryview]] = []
        for i, (key, data) in enumerate(items):
            try:
                target = self.path(key)
            except ConfigError as exc:
                out[i] = exc
                continue
            if self._guard.found(data):
                out[i] = refusal(f"the response for key {key}")
                continue
            todo.append((i, target, data))
        written = write_files([(t, d) for _, t, d in todo], self.root / "tmp", mode=self.sync)
        for (i, _, _), outcome in zip(todo, written, strict=True):
            out[i] = outcome
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
        return AtomicWriter(key, self.path(key), self.root / "tmp", self._guard)

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
        index.append(self.root, entries, self._guard)

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
        return index.read(self.root)

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
        host, me, now = host_tag(), os.getpid(), time.time()
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
            pid = int(m["pid"])
            if age > self.STALE_AFTER:
                stale = True
            elif m["host"] != host or os.name == "nt" or pid == me:
                stale = False  # cannot tell (another machine, Windows), or a write of this process
            else:
                stale = not pid_alive(pid)
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
