"""The resumable, content-addressed store of raw Deepgram responses.

The raw JSON of every response is the source of truth: it is written once,
atomically, and never edited; every table is rebuilt from it.  A response is
filed under a key made of the SHA-256 of the audio bytes and the digest of the
canonical request options, so a rerun of a batch finds what is already done and
sends only the rest.

Layout under ``root``::

    responses/ab/ab12…ef-0123456789abcdef.json   one response per key (plain JSON)
    tmp/<key>.<host>.<pid>-<start>.<random>.part writes in progress (same filesystem)
    index.jsonl                                 one JSON line per stored response
    quarantine/<key>.json, <key>.reason.txt     responses found unreadable, moved aside
    claims/lock, claims/runs/<run>.json, .keys   which live run is sending which key (Claims)

``dgtools.to_tables(store.root / "responses")`` reads the responses directly
(its ``file_id`` is then the key's relative path, ``ab/<key>``; join on
``request_id`` or on the ``index.jsonl`` entries to get the audio's file id).

The store never holds the API key: pass it as ``Store(root, secrets=[api_key])``
and every write whose data contains it (as raw text or JSON-escaped) is refused
with a :class:`~dgtools.ConfigError` (a ``ValueError``) whose message does not
repeat it.  Nor does the store keep the key itself: only keyed hashes of it
(:mod:`dgtools.store.secrets`), so that neither ``pickle`` nor ``repr`` shows it.

Crash consistency: a response file appears under ``responses/`` only complete
(temp file in ``tmp/``, ``os.fsync``, then an atomic link or ``os.replace`` and
an ``fsync`` of the directory).  :meth:`Store.write_many` gives many responses
the same guarantee with shared syncs: every temp file is written, one sync makes
the data durable, every file is linked, one more sync makes the links durable
(on Linux, one ``syncfs`` each).  A process killed mid-write leaves temp files in
``tmp/`` and nothing else; :meth:`Store.clean` removes such leftovers.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ..exceptions import ConfigError, DGToolsWarning
from . import index, quarantine
from .durable import (
    BINARY,
    TEMP_RE,
    AtomicWriter,
    SyncMode,
    clean_temps,
    remove,
    temp_name,
    write_files,
)
from .keys import KEY_RE, check_key
from .secrets import MIN_SECRET, SecretGuard, refusal

__all__ = ["Store"]

_HEX_RE: Final = re.compile(r"[0-9a-f]+")
_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")
#: Most temp files :meth:`Store.write_many` keeps open at once (it syncs in chunks of this size).
_MANY_CHUNK: Final = 128
#: What :meth:`Store.write_many` takes as one response: its bytes, or a spooled temp file.
Data = bytes | bytearray | memoryview | Path


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
        store never holds the key, only keyed hashes of it.  Values shorter
        than 16 characters cannot be checked without false alarms: they are
        ignored, with a :class:`~dgtools.DGToolsWarning` (a Deepgram API key is
        40 characters).
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
    >>> store = Store(tempfile.mkdtemp(), secrets=["my-secret-api-key-0123"])
    >>> key = Store.key(hashlib.sha256(b"audio").hexdigest(), "0123456789abcdef")
    >>> store.has(key)
    False
    >>> path = store.write_bytes(key, b'{"metadata": {"request_id": "r1"}, "results": {}}')
    >>> store.has(key), path.relative_to(store.root).parts[:2]
    (True, ('responses', '6e'))
    >>> store.record({"key": key, "file_id": "calls/a.wav", "request_id": "r1"})
    >>> [e["file_id"] for e in store.entries()]
    ['calls/a.wav']
    >>> store.write_bytes(key.replace("0123", "4567"), b'{"token": "my-secret-api-key-0123"}')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: refusing to store the response for key ...
    """

    #: Temp files older than this (seconds) are stale even when their owner cannot be checked.
    STALE_AFTER: Final = 24 * 3600.0

    def __init__(
        self, root: str | os.PathLike[str], *, secrets: Sequence[str] = (), sync: SyncMode = "auto"
    ) -> None:
        if isinstance(root, str) and "://" in root and root.split("://", 1)[0].isidentifier():
            raise ConfigError(
                f"Store({root!r:.200}) takes a local folder; open a store at a URL with "
                "dgtools.store.open_store(url) (a RemoteStore; dgtools.transcribe(store=url) "
                "takes the URL itself)"
            )
        self.root = Path(root)
        if isinstance(secrets, str):  # one key passed bare: not a sequence of characters
            secrets = (secrets,)
        if sync not in ("auto", "fsync"):
            raise ConfigError(f"sync={sync!r}: use 'auto' (syncfs where it helps) or 'fsync'")
        self.sync: SyncMode = sync
        self._guard = SecretGuard([s for s in secrets if s])
        if self._guard.ignored:
            warnings.warn(
                f"a value passed as the API key (Store(secrets=...)) is shorter than {MIN_SECRET} "
                "characters, so it looks wrong: a Deepgram API key is 40 characters. The store cannot "
                "check answers for so short a value and does not; check DEEPGRAM_API_KEY (or api_key=)",
                DGToolsWarning,
                stacklevel=2,
            )

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
        check_key(key)
        return self.root / "responses" / key[:2] / f"{key}.json"

    def has(self, key: str) -> bool:
        """Whether a complete response for ``key`` is stored.

        Examples
        --------
        >>> Store("nowhere").has(Store.key("ab" * 32, "0123456789abcdef"))
        False
        """
        return self.path(key).is_file()

    def key_of(self, path: str | os.PathLike[str]) -> str | None:
        """The key of the response at ``path`` in this store; None when ``path`` is no response path of it.

        ``path`` may be relative (to the working directory) or absolute; whether the file exists
        is not checked.

        Examples
        --------
        >>> key = Store.key("ab" * 32, "0123456789abcdef")
        >>> store = Store("st")
        >>> store.key_of(store.path(key)) == key, store.key_of("st/index.jsonl")
        (True, None)
        """
        p = Path(path)
        stem, dot, suffix = p.name.rpartition(".")
        if not (dot and suffix == "json" and KEY_RE.fullmatch(stem) and p.parent.name == stem[:2]):
            return None
        return stem if _same_dir(p.parent.parent, self.root / "responses") else None

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

    def write_many(self, items: Iterable[tuple[str, Data]]) -> list[Path | BaseException]:
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
        items : iterable of (str, bytes-like or Path)
            ``(key, data)`` pairs.  A key given twice is stored once: the first
            data written wins, as with two calls to :meth:`write_bytes`.  The
            data may be the :class:`~pathlib.Path` of a complete file made with
            :meth:`spool_path` (an answer streamed to disk): it is checked for
            secrets (read in chunks), made durable and moved into place, never
            copied; it is removed whatever the outcome (also when the key was
            already stored).

        Returns
        -------
        list of Path or BaseException
            For each item, in order: the response's path (also when the key was
            already stored), or the exception that kept it out of the store,
            :class:`~dgtools.ConfigError` for a bad key, data holding one of
            the store's secrets or a spooled file outside ``root/tmp``,
            :class:`OSError` (with its ``errno``: ``ENOSPC``, ``EDQUOT``,
            ``EROFS``, ``EIO``, ...) for an I/O failure.  One item's failure
            does not affect the others, and a failed item leaves nothing behind.

        Notes
        -----
        ``syncfs`` writes back everything pending on the filesystem, other
        programs' writes included: on a disk busy with other writes one call
        can take longer than a few fsyncs.  Items are synced in chunks of 128
        (the temp files stay open until their data is durable).

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp(), secrets=["my-secret-api-key-0123"])
        >>> a, b = Store.key("a" * 64, "0123456789abcdef"), Store.key("b" * 64, "0123456789abcdef")
        >>> out = store.write_many([(a, b'{"n": 1}'), (b, b'{"key": "my-secret-api-key-0123"}'), (a, b'{"n": 2}')])
        >>> out[0] == out[2] == store.path(a), type(out[1]).__name__, store.read_bytes(a), store.has(b)
        (True, 'ConfigError', b'{"n": 1}', False)
        """
        items = list(items)
        out: list[Path | BaseException] = []
        for start in range(0, len(items), _MANY_CHUNK):
            out += self._write_chunk(items[start : start + _MANY_CHUNK])
        return out

    def _write_chunk(self, items: Sequence[tuple[str, Data]]) -> list[Path | BaseException]:
        """:meth:`write_many` for at most ``_MANY_CHUNK`` items (one open temp file each)."""
        out: list[Path | BaseException | None] = [None] * len(items)
        todo: list[tuple[int, Path, Data]] = []
        for i, (key, data) in enumerate(items):
            if isinstance(data, Path) and not self._is_spool(data):  # not ours: refused, left as it is
                out[i] = ConfigError(
                    f"a spooled response must be a file in {self.root / 'tmp'} made with "
                    f"store.spool_path(key); got {str(data)!r:.200} (left as it is)"
                )
                continue
            try:
                target = self.path(key)
                leaky = self._guard.found_in_file(data) if isinstance(data, Path) else self._guard.found(data)
                if leaky:
                    out[i] = refusal(f"the response for key {key}")
            except (ConfigError, OSError) as exc:
                out[i] = exc
            if out[i] is not None:
                if isinstance(data, Path):
                    remove(data)
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

    def spool_path(self, key: str) -> Path:
        """A fresh, empty temp file in ``root/tmp`` to stream the response for ``key`` into.

        Write the whole answer to it (``open(path, "wb")``), then store it with
        ``write_many([(key, path)])`` (or :meth:`StoreWriter.put
        <dgtools.store.StoreWriter.put>`), which moves it into place.  Its name
        marks it as this process's, so :meth:`clean` leaves it alone while
        this process runs and removes it once it is gone.

        Raises
        ------
        ConfigError
            ``key`` is not a key made by :meth:`key`.
        OSError
            The file cannot be created (read-only store, permissions).

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> key = Store.key("ab" * 32, "0123456789abcdef")
        >>> spool = store.spool_path(key)
        >>> _ = spool.write_bytes(b'{"results": {}}')
        >>> store.write_many([(key, spool)]) == [store.path(key)], spool.exists()
        (True, False)
        """
        check_key(key)
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | BINARY
        while True:
            path = tmp / temp_name(key)
            try:
                os.close(os.open(path, flags, 0o666))
            except FileExistsError:  # pragma: no cover - 48 random bits
                continue
            return path

    def _is_spool(self, path: Path) -> bool:
        """Whether ``path`` names a temp file of this store (in ``root/tmp``, named as :meth:`spool_path` does)."""
        return TEMP_RE.fullmatch(path.name) is not None and _same_dir(path.parent, self.root / "tmp")

    def free_bytes(self) -> int:
        """Free space, in bytes, on the filesystem that holds the store (for the current user).

        Examples
        --------
        >>> import tempfile
        >>> Store(tempfile.mkdtemp()).free_bytes() > 0
        True
        """
        p = self.root
        while not p.exists() and p != p.parent:
            p = p.parent
        return int(shutil.disk_usage(p).free)

    # ------------------------------------------------------------------ quarantine

    def quarantine(self, key: str, reason: str) -> Path:
        """Move the stored response for ``key`` aside, unreadable, so that the next run asks for it again.

        The response moves atomically to ``root/quarantine/<key>.json``, with
        ``reason`` in ``<key>.reason.txt`` beside it (a reason holding one of
        the store's secrets is withheld); :meth:`has` is then False for ``key``.
        A previous quarantined copy of the key is replaced.

        Returns
        -------
        Path
            Where the response now is.

        Raises
        ------
        FileNotFoundError
            Nothing is stored under ``key``.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> key = Store.key("ab" * 32, "0123456789abcdef")
        >>> _ = store.write_bytes(key, b'{"results": ')
        >>> store.quarantine(key, "truncated JSON").name == key + ".json", store.has(key)
        (True, False)
        >>> store.quarantined() == [(key, "truncated JSON")]
        True
        """
        return quarantine.move(self.root, key, self.path(key), reason, self._guard)

    def quarantined(self) -> list[tuple[str, str]]:
        """``(key, reason)`` of every response in ``root/quarantine``, sorted by key.

        A key stays listed after a new response for it is stored (the
        quarantined copy is kept for inspection); :meth:`has` tells them apart.

        Examples
        --------
        >>> import tempfile
        >>> Store(tempfile.mkdtemp()).quarantined()
        []
        """
        return quarantine.listing(self.root)

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
            A value contains one of the store's secrets, or the entry is one
            that :meth:`entries` would skip (``key`` not a store key, a field
            of the wrong type); nothing is written.
        TypeError
            A value is not JSON serializable (datetimes and paths are converted).
        OSError
            The line could not be appended (disk full, read-only store); nothing
            partial is left in the index.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> key = Store.key("ab" * 32, "0123456789abcdef")
        >>> store.record({"key": key, "file_id": "a.wav", "at": "2025-01-01T00:00:00Z"})
        >>> (store.root / "index.jsonl").read_text() == f'{{"key":"{key}","file_id":"a.wav","at":"2025-01-01T00:00:00Z"}}\\n'
        True
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
            A value contains one of the store's secrets, or an entry is one that
            :meth:`entries` would skip; nothing is written.
        TypeError
            A value is not JSON serializable; nothing is written.
        OSError
            The lines could not be appended; nothing partial is left in the index.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> k1, k2 = Store.key("a" * 64, "0123456789abcdef"), Store.key("b" * 64, "0123456789abcdef")
        >>> store.record_many([{"key": k1, "file_id": "a.wav"}, {"key": k2, "file_id": "b.wav"}])
        >>> [e["file_id"] for e in store.entries()]
        ['a.wav', 'b.wav']
        """
        index.append(self.root, entries, self._guard)

    def entries(self) -> list[dict[str, Any]]:
        """The well-formed index entries, in the order they were recorded.

        Lines that are not complete JSON objects (a torn last line left by a
        crash mid-append) and entries whose fields have the wrong types (``key``
        not a store key; ``file_id``, ``source``, ``options``, ``status`` or
        ``at`` not a string; ``request_id`` not a string or null; ``bytes`` not
        a byte count or null) are skipped: :meth:`index_problems` names them.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> store.entries()
        []
        >>> key = Store.key("ab" * 32, "0123456789abcdef")
        >>> store.record({"key": key})
        >>> [e["key"] for e in store.entries()] == [key]
        True
        """
        return index.read(self.root)

    def index_problems(self) -> list[str]:
        """One line for each line of ``index.jsonl`` that :meth:`entries` skips, saying why.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> _ = (store.root / "index.jsonl").write_text('{"key": 12, "file_id": ["x"]}\\n')
        >>> store.entries(), store.index_problems()
        ([], ['index.jsonl line 1: key is 12, not a store key'])
        """
        return index.problems(self.root)

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
                        and KEY_RE.fullmatch(stem)
                        and entry.is_file()
                    ):
                        found.append(stem)
        yield from sorted(found)

    def clean(self) -> int:
        """Remove stale temp files (left by a process that was killed mid-write).

        A temp file is stale when the process that wrote it no longer runs
        (checked for files written on this machine, on POSIX: its pid is gone,
        or, on Linux, now names a process that started later, as when a
        container's next run gets the same pid) or when it is older than
        :attr:`STALE_AFTER`.  Writes in progress, and spooled answers of live
        processes, are left alone.  Run it at the start of a run.

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
        return clean_temps(self.root / "tmp", self.STALE_AFTER)


def _same_dir(a: Path, b: Path) -> bool:
    """Whether two paths name the same folder (compared as absolute paths, then resolved)."""
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        return a.resolve() == b.resolve()
    except OSError:  # pragma: no cover - a loop of symlinks
        return False
