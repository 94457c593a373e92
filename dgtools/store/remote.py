"""The raw store on an fsspec URL (``s3://bucket/prefix`` first): what it keeps, and how.

The local :class:`~dgtools.store.Store` leans on POSIX: a temp file, ``fsync``, an atomic
``link``/``os.replace``, an ``O_APPEND`` index under ``flock``.  Object storage has none of these
(no rename, no append, no lock) but has what the store actually needs, operation by operation:

=====================  ===========================================  ==========================================
store operation        local folder (:class:`Store`)                object storage (:class:`RemoteStore`)
=====================  ===========================================  ==========================================
put a response once    temp + fsync + ``link`` (first write wins)   one PUT with ``mode="create"``: S3
                                                                    ``If-None-Match: *``, GCS
                                                                    ``if_generation_match=0``; a 412 means
                                                                    "already stored": the first write wins
read, has              ``read_bytes``, ``is_file``                  GET, HEAD
list the keys          ``scandir`` of ``responses/<ab>/``           LIST of ``responses/`` (one paged call)
append to the index    one ``O_APPEND`` write of JSON lines         one new object per call,
                                                                    ``index/<time_ns>-<random>.jsonl``,
                                                                    read back in name order as one index
quarantine             ``os.replace`` to ``quarantine/``            reason PUT, COPY, then DELETE (not atomic:
                                                                    a crash between them leaves a copy in
                                                                    both places; ``has`` stays True, so the
                                                                    next quarantine finishes the move)
temp files, ``clean``  ``tmp/``, removed when their writer died     none: a PUT is whole or absent
claims (two runs)      ``claims/`` under ``flock``                  ``s3://``: one object per claimed key,
                                                                    PUT ``If-None-Match: *``; take-over
                                                                    ``If-Match: <ETag>``
                                                                    (:class:`~dgtools.store.RemoteClaims`)
=====================  ===========================================  ==========================================

The guarantee each backend gives for "written once, atomically" (:attr:`RemoteStore.guarantee`):

- local folder, ``file://``: :class:`Store` itself, rename + fsync, durable across power loss.
- ``s3://``: a PUT is atomic (a reader sees the whole object or none); put-if-absent through the
  conditional PUT (``If-None-Match: *``; AWS S3 since 2024-08, moto 5.2).  An S3-compatible server
  without conditional writes either refuses the write (an :class:`OSError` for that item) or ignores
  the header, and then a put is best effort as below: check yours before two writers share it.
- ``gs://``: atomic upload, put-if-absent through ``if_generation_match=0`` (gcsfs ``mode="create"``).
- any other fsspec backend (``abfs://``, ``memory://``, ...): best effort: exists-then-write, so two
  writers racing on one key may both write (each a whole response of the same audio and options).

Two runs on one remote store: on ``s3://`` their claims (:class:`~dgtools.store.RemoteClaims`)
keep them from sending one file twice, so :func:`dgtools.transcribe` writes straight into an S3
store (``store="s3://bucket/prefix"``, ``storage_options=``).  Other backends have no conditional
writes to build claims on: :func:`dgtools.transcribe` refuses them; they are for moving, sharing
and reading stores.

Examples
--------
>>> import hashlib, json
>>> store = RemoteStore("memory://doc-example/store")
>>> key = RemoteStore.key(hashlib.sha256(b"audio").hexdigest(), "0123456789abcdef")
>>> store.write_bytes(key, b'{"metadata": {"request_id": "r1"}, "results": {}}').startswith("memory://")
True
>>> store.record({"key": key, "file_id": "calls/a.wav"})
>>> store.has(key), [e["file_id"] for e in store.entries()], store.guarantee
(True, ['calls/a.wav'], 'best effort')
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from ..exceptions import ConfigError, DGToolsWarning, MissingDependencyError
from . import index
from .keys import KEY_RE, check_key
from .quarantine import QUARANTINE_DIR
from .secrets import MIN_SECRET, SecretGuard, refusal
from .store import Store

__all__ = ["RemoteStore", "is_url", "open_store"]

#: Backends whose ``pipe_file(mode="create")`` is an atomic put-if-absent, and how.
_CONDITIONAL: Final = {
    "s3": "put-if-absent (If-None-Match: *)",
    "s3a": "put-if-absent (If-None-Match: *)",
    "gs": "put-if-absent (if_generation_match=0)",
    "gcs": "put-if-absent (if_generation_match=0)",
}
#: The fsspec package that serves each protocol, and the dgtools extra that installs it.
_PACKAGES: Final = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", None),
    "gcs": ("gcsfs", None),
}
#: Default storage options per backend: s3fs reads an object in one GET with ``max_concurrency=1``
#: (otherwise it first HEADs every object, to fetch large ones in ranges: twice the requests).
_DEFAULTS: Final[dict[str, dict[str, Any]]] = {"s3": {"max_concurrency": 1}, "s3a": {"max_concurrency": 1}}
#: Index objects hold the entries of one :meth:`RemoteStore.record_many` call.
_INDEX_DIR: Final = "index"
#: Most requests :meth:`RemoteStore.write_many` has in flight at once.
_IN_FLIGHT: Final = 32


def is_url(location: object) -> bool:
    """Whether ``location`` is a URL with a scheme (``s3://...``) rather than a local path.

    Examples
    --------
    >>> is_url("s3://bucket/store"), is_url("dgtools-store"), is_url("C:\\\\data")
    (True, False, False)
    """
    return isinstance(location, str) and "://" in location and location.split("://", 1)[0].isidentifier()


def open_store(
    location: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    secrets: Sequence[str] = (),
) -> Store | RemoteStore:
    """The store at a local path or an fsspec URL: a :class:`Store` or a :class:`RemoteStore`.

    Parameters
    ----------
    location
        A folder, a ``file://`` URL (both give the local :class:`Store`), or a URL such as
        ``s3://bucket/prefix``, ``gs://bucket/prefix``, ``abfs://container/prefix``.
    storage_options
        Passed to the fsspec filesystem (credentials, ``client_kwargs={"endpoint_url": ...}``).
    secrets
        Values that must never be written, such as the API key (see :class:`Store`).

    Examples
    --------
    >>> import tempfile
    >>> type(open_store(tempfile.mkdtemp())).__name__, type(open_store("memory://x/y")).__name__
    ('Store', 'RemoteStore')
    """
    if isinstance(location, str) and location.startswith("file://"):
        if storage_options:
            raise ConfigError(f"storage_options are for remote stores; {location} is a local folder")
        return Store(location[len("file://") :], secrets=secrets)
    if is_url(location):
        assert isinstance(location, str)
        return RemoteStore(location, storage_options=storage_options, secrets=secrets)
    return Store(location, secrets=secrets)


class RemoteStore:
    """The raw store in object storage: one immutable JSON object per (audio, options) key.

    The same layout, keys and index entries as :class:`Store`, on any fsspec URL; see the
    module docstring (:mod:`dgtools.store.remote`) for what each backend guarantees.

    Parameters
    ----------
    url : str
        The store's root, e.g. ``s3://bucket/prefix``; nothing is created until the first write.
    storage_options : mapping, optional
        Passed to the fsspec filesystem: credentials, ``client_kwargs={"endpoint_url": ...}``.
    secrets : sequence of str, optional
        Values that must never be written, such as the API key (as for :class:`Store`).

    Attributes
    ----------
    url : str
        The root URL, without a trailing slash.
    protocol : str
        The URL's scheme, e.g. ``"s3"``.

    Raises
    ------
    MissingDependencyError
        The backend's package is not installed (``pip install 'dgtools[s3]'`` for ``s3://``).

    Examples
    --------
    >>> store = RemoteStore("memory://class-example/store")
    >>> key = RemoteStore.key("ab" * 32, "0123456789abcdef")
    >>> store.write_many([(key, b"{}"), (key, b'{"n": 2}')]) == [store.path(key)] * 2
    True
    >>> list(store.keys()) == [key], store.read_bytes(key)
    (True, b'{}')
    """

    key = staticmethod(Store.key)

    def __init__(
        self,
        url: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        if not is_url(url):
            raise ConfigError(f"{url!r:.200} is not a URL: use Store(path) for a local folder")
        self.protocol: str = url.split("://", 1)[0]
        try:
            import fsspec.core
        except ImportError as exc:  # pragma: no cover - s3fs brings it
            raise MissingDependencyError(f"a store at {url}", package="fsspec", extra="s3") from exc
        try:
            # Other writers add objects at any time: listings must come from the server, never a cache.
            options = {
                "use_listings_cache": False,
                **_DEFAULTS.get(self.protocol, {}),
                **(storage_options or {}),
            }
            fs, root = fsspec.core.url_to_fs(url, **options)
        except ImportError as exc:
            package, extra = _PACKAGES.get(self.protocol, (self.protocol + "fs", None))
            raise MissingDependencyError(f"a store at {url}", package=package, extra=extra) from exc
        except ValueError as exc:  # an unknown protocol
            raise ConfigError(f"cannot open a store at {url}: {exc}") from None
        self._fs: Any = fs
        self._root: str = str(root).rstrip("/")
        self.url: str = url.rstrip("/")
        if isinstance(secrets, str):
            secrets = (secrets,)
        self._guard = SecretGuard([s for s in secrets if s])
        if self._guard.ignored:
            warnings.warn(
                f"a value passed as the API key (RemoteStore(secrets=...)) is shorter than {MIN_SECRET} "
                "characters, so it looks wrong: a Deepgram API key is 40 characters; check DEEPGRAM_API_KEY",
                DGToolsWarning,
                stacklevel=2,
            )
        self._last_ns = 0

    def __repr__(self) -> str:
        return f"<dgtools.RemoteStore url={self.url!r} guarantee={self.guarantee!r}>"

    @property
    def guarantee(self) -> str:
        """What "written once, atomically" means on this backend: ``"put-if-absent (...)"`` or ``"best effort"``.

        Examples
        --------
        >>> RemoteStore("memory://g/store").guarantee
        'best effort'
        """
        return _CONDITIONAL.get(self.protocol, "best effort")

    # ------------------------------------------------------------------ keys and paths

    def _p(self, *parts: str) -> str:
        return "/".join((self._root, *parts))

    def _url(self, path: str) -> str:
        return self.url + path[len(self._root) :] if path.startswith(self._root) else path

    def path(self, key: str) -> str:
        """The URL of the response for ``key``: ``<url>/responses/<key[:2]>/<key>.json``.

        Examples
        --------
        >>> RemoteStore("memory://p/store").path("ab" * 32 + "-0123456789abcdef")[:36]
        'memory://p/store/responses/ab/ababab'
        """
        check_key(key)
        return self._url(self._p("responses", key[:2], f"{key}.json"))

    def _key_path(self, key: str) -> str:
        check_key(key)
        return self._p("responses", key[:2], f"{key}.json")

    def has(self, key: str) -> bool:
        """Whether a response for ``key`` is stored (one HEAD request; listings are not cached).

        Examples
        --------
        >>> RemoteStore("memory://has/store").has(RemoteStore.key("ab" * 32, "0123456789abcdef"))
        False
        """
        path = self._key_path(key)
        self._fs.invalidate_cache(path)
        return bool(self._fs.isfile(path))

    def read_bytes(self, key: str) -> bytes:
        """The stored response for ``key``, as bytes.

        Raises
        ------
        FileNotFoundError
            Nothing is stored under ``key``.

        Examples
        --------
        >>> store = RemoteStore("memory://read/store")
        >>> key = RemoteStore.key("ab" * 32, "0123456789abcdef")
        >>> _ = store.write_bytes(key, b"{}")
        >>> store.read_bytes(key)
        b'{}'
        """
        path = self._key_path(key)
        try:
            return bytes(self._fs.cat_file(path))
        except FileNotFoundError:
            raise FileNotFoundError(
                errno.ENOENT,
                f"no response stored for key {key} (check store.has(key) first)",
                self._url(path),
            ) from None

    def read_many(self, keys: Iterable[str]) -> list[bytes | BaseException]:
        """The stored responses for ``keys``, fetched concurrently; an exception for a key not stored.

        Examples
        --------
        >>> store = RemoteStore("memory://rm/store")
        >>> a, b = RemoteStore.key("a" * 64, "0123456789abcdef"), RemoteStore.key("b" * 64, "0123456789abcdef")
        >>> _ = store.write_bytes(a, b"{}")
        >>> [type(x).__name__ for x in store.read_many([a, b])]
        ['bytes', 'FileNotFoundError']
        """
        keys = list(keys)
        paths = [self._key_path(k) for k in keys]
        if not paths:
            return []
        got = self._fs.cat(paths, on_error="return")
        out: list[bytes | BaseException] = []
        for key, p in zip(keys, paths, strict=True):
            value = got.get(p, got.get(self._url(p)))
            if isinstance(value, FileNotFoundError) or value is None:
                value = FileNotFoundError(errno.ENOENT, f"no response stored for key {key}", self._url(p))
            out.append(value if isinstance(value, BaseException) else bytes(value))
        return out

    # ------------------------------------------------------------------ writing

    def write_bytes(self, key: str, data: bytes | bytearray | memoryview) -> str:
        """Store a whole response (one conditional PUT); returns its URL; the first write of a key wins.

        Raises
        ------
        ConfigError
            ``data`` contains one of the store's secrets; nothing is written.
        OSError
            The backend refused the write (permissions, a server without conditional writes).

        Examples
        --------
        >>> store = RemoteStore("memory://wb/store", secrets=["my-secret-api-key-0123"])
        >>> key = RemoteStore.key("ab" * 32, "0123456789abcdef")
        >>> store.write_bytes(key, b'{"n": 1}') == store.write_bytes(key, b'{"n": 2}'), store.read_bytes(key)
        (True, b'{"n": 1}')
        >>> store.write_bytes(key, b'"my-secret-api-key-0123"')  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        dgtools.exceptions.ConfigError: refusing to store the response for key ...
        """
        (out,) = self.write_many([(key, data)])
        if isinstance(out, BaseException):
            raise out
        return out

    def write_many(
        self, items: Iterable[tuple[str, bytes | bytearray | memoryview]]
    ) -> list[str | BaseException]:
        """Store many whole responses, up to 32 PUTs in flight; one URL or exception per item, in order.

        Each item as :meth:`write_bytes`: a key already stored (or given twice) keeps its first
        response, and one item's failure does not affect the others.

        Examples
        --------
        >>> store = RemoteStore("memory://wm/store")
        >>> a = RemoteStore.key("a" * 64, "0123456789abcdef")
        >>> out = store.write_many([(a, b"{}"), ("not-a-key", b"{}")])
        >>> out[0] == store.path(a), type(out[1]).__name__
        (True, 'ConfigError')
        """
        items = list(items)
        out: list[str | BaseException | None] = [None] * len(items)
        todo: dict[str, tuple[list[int], bytes]] = {}
        for i, (key, data) in enumerate(items):
            try:
                path = self._key_path(key)
            except ConfigError as exc:
                out[i] = exc
                continue
            if self._guard.found(data):
                out[i] = refusal(f"the response for key {key}")
            elif path in todo:  # a key given twice: the first data wins
                todo[path][0].append(i)
            else:
                todo[path] = ([i], bytes(data))
        results = self._put_all([(p, d) for p, (_, d) in todo.items()])
        for (path, (where, _)), res in zip(todo.items(), results, strict=True):
            for i in where:
                out[i] = self._url(path) if res is None or isinstance(res, FileExistsError) else res
        return [r for r in out if r is not None]

    def _put_all(self, puts: list[tuple[str, bytes]]) -> list[BaseException | None]:
        """``pipe_file(mode="create")`` of each (path, data), concurrently on an async backend."""
        fs = self._fs
        if not getattr(fs, "async_impl", False):
            done: list[BaseException | None] = []
            for path, data in puts:
                try:
                    fs.pipe_file(path, data, mode="create")
                    done.append(None)
                except (OSError, ValueError) as exc:
                    done.append(exc)
            return done
        from fsspec.asyn import sync

        async def run() -> list[BaseException | None]:
            gate = asyncio.Semaphore(_IN_FLIGHT)

            async def one(path: str, data: bytes) -> None:
                async with gate:
                    await fs._pipe_file(path, data, mode="create")

            got = await asyncio.gather(*(one(p, d) for p, d in puts), return_exceptions=True)
            for r in got:
                if isinstance(r, BaseException) and not isinstance(r, Exception):
                    raise r  # KeyboardInterrupt, CancelledError
            return [r if isinstance(r, BaseException) else None for r in got]

        return list(sync(fs.loop, run)) if puts else []

    # ------------------------------------------------------------------ the index

    def record(self, entry: Mapping[str, Any]) -> None:
        """Add one entry to the index (one new object under ``index/``); see :meth:`record_many`.

        Examples
        --------
        >>> store = RemoteStore("memory://rec/store")
        >>> store.record({"key": RemoteStore.key("ab" * 32, "0123456789abcdef"), "file_id": "a.wav"})
        >>> [e["file_id"] for e in store.entries()]
        ['a.wav']
        """
        self.record_many((entry,))

    def record_many(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Add entries to the index as one new object ``index/<time_ns>-<random>.jsonl``, all or nothing.

        The lines are those :meth:`Store.record_many` appends to ``index.jsonl``, checked the same
        way; ``at`` (UTC ISO time) is added when absent.

        Raises
        ------
        ConfigError
            A value contains one of the store's secrets, or an entry is one :meth:`entries` would
            skip; nothing is written.
        TypeError
            A value is not JSON serializable; nothing is written.

        Examples
        --------
        >>> store = RemoteStore("memory://recm/store")
        >>> k1, k2 = RemoteStore.key("a" * 64, "0123456789abcdef"), RemoteStore.key("b" * 64, "0123456789abcdef")
        >>> store.record_many([{"key": k1, "file_id": "a.wav"}, {"key": k2, "file_id": "b.wav"}])
        >>> [e["file_id"] for e in store.entries()]
        ['a.wav', 'b.wav']
        """
        lines: list[bytes] = []
        for item in entries:
            row = dict(item)
            row.setdefault("at", index.utc_now())
            why = index.problem(row, writing=True)
            if why is not None:
                raise ConfigError(
                    f"not an index entry: {why}; entries need key=Store.key(...) and string fields "
                    "(see dgtools.store.index.entry)"
                )
            text = json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=index._json_default)
            line = text.encode("utf-8", "surrogatepass")
            if self._guard.found(line):
                raise refusal("the index entry")
            lines.append(line)
        if not lines:
            return
        now = max(time.time_ns(), self._last_ns + 1)  # names sort in record order within a process
        self._last_ns = now
        name = f"{now:020d}-{os.urandom(6).hex()}.jsonl"
        self._fs.pipe_file(self._p(_INDEX_DIR, name), b"\n".join(lines) + b"\n", mode="create")

    def _index_lines(self) -> Iterator[tuple[str, int, Any]]:
        """``(object name, line number, parsed JSON or None)``: an uploaded ``index.jsonl`` first, then ``index/``."""
        fs = self._fs
        fs.invalidate_cache(self._root)
        try:
            names = sorted(p for p in fs.find(self._p(_INDEX_DIR), detail=False) if p.endswith(".jsonl"))
        except FileNotFoundError:  # pragma: no cover - find gives [] on most backends
            names = []
        legacy = self._p(index.INDEX_NAME)
        paths = [legacy, *names]  # an absent index.jsonl comes back as FileNotFoundError: skipped
        got = fs.cat(paths, on_error="return")
        for p in paths:
            data = got.get(p)
            if not isinstance(data, bytes):
                continue  # removed since the listing
            label = p[len(self._root) + 1 :]
            for number, raw in enumerate(data.split(b"\n"), start=1):
                if raw.strip():
                    try:
                        yield label, number, json.loads(raw)
                    except ValueError:
                        yield label, number, None

    def entries(self) -> list[dict[str, Any]]:
        """The well-formed index entries, in the order they were recorded (as :meth:`Store.entries`).

        An ``index.jsonl`` uploaded with a local store comes first, then the objects under
        ``index/`` in name (time) order.

        Examples
        --------
        >>> RemoteStore("memory://ent/store").entries()
        []
        """
        return [obj for _, _, obj in self._index_lines() if obj is not None and index.problem(obj) is None]

    def index_problems(self) -> list[str]:
        """One line for each index line that :meth:`entries` skips, saying why.

        Examples
        --------
        >>> RemoteStore("memory://prob/store").index_problems()
        []
        """
        out: list[str] = []
        for label, number, obj in self._index_lines():
            why = "not valid JSON" if obj is None else index.problem(obj)
            if why is not None:
                out.append(f"{label} line {number}: {why}")
        return out

    # ------------------------------------------------------------------ listing, quarantine, cleaning

    def keys(self) -> Iterator[str]:
        """The keys of the stored responses, sorted (one paged LIST of ``responses/``).

        Examples
        --------
        >>> store = RemoteStore("memory://keys/store")
        >>> key = RemoteStore.key("ab" * 32, "0123456789abcdef")
        >>> _ = store.write_bytes(key, b"{}")
        >>> list(store.keys()) == [key]
        True
        """
        base = self._p("responses")
        self._fs.invalidate_cache(base)
        found: list[str] = []
        for p in self._fs.find(base, detail=False):
            shard, _, name = p[len(base) + 1 :].partition("/")
            stem, dot, suffix = name.rpartition(".")
            if (
                dot
                and suffix == "json"
                and stem.startswith(shard)
                and len(shard) == 2
                and KEY_RE.fullmatch(stem)
            ):
                found.append(stem)
        yield from sorted(found)

    def quarantine(self, key: str, reason: str) -> str:
        """Move the response for ``key`` to ``quarantine/<key>.json`` (reason PUT, COPY, DELETE); its URL.

        Raises
        ------
        FileNotFoundError
            Nothing is stored under ``key``.

        Examples
        --------
        >>> store = RemoteStore("memory://quar/store")
        >>> key = RemoteStore.key("ab" * 32, "0123456789abcdef")
        >>> _ = store.write_bytes(key, b'{"results": ')
        >>> store.quarantine(key, "truncated JSON").endswith(f"quarantine/{key}.json"), store.has(key)
        (True, False)
        >>> store.quarantined() == [(key, "truncated JSON")]
        True
        """
        source = self._key_path(key)
        if not self.has(key):
            raise FileNotFoundError(
                errno.ENOENT, f"no response stored for key {key}: nothing to quarantine", self._url(source)
            )
        text = reason if not self._guard.found(reason.encode("utf-8", "surrogatepass")) else _WITHHELD
        folder = self._p(QUARANTINE_DIR)
        self._fs.pipe_file(f"{folder}/{key}.reason.txt", (" ".join(text.split()) + "\n").encode())
        self._fs.copy(source, f"{folder}/{key}.json")
        self._fs.rm_file(source)
        self._fs.invalidate_cache(source)
        return self._url(f"{folder}/{key}.json")

    def quarantined(self) -> list[tuple[str, str]]:
        """``(key, reason)`` of every quarantined response, sorted by key.

        Examples
        --------
        >>> RemoteStore("memory://ql/store").quarantined()
        []
        """
        folder = self._p(QUARANTINE_DIR)
        self._fs.invalidate_cache(folder)
        names = sorted(p.rsplit("/", 1)[-1] for p in self._fs.find(folder, detail=False))
        keys = [
            n[: -len(".json")] for n in names if n.endswith(".json") and KEY_RE.fullmatch(n[: -len(".json")])
        ]
        if not keys:
            return []
        got = self._fs.cat([f"{folder}/{k}.reason.txt" for k in keys], on_error="return")
        out = []
        for k in keys:
            r = got.get(f"{folder}/{k}.reason.txt")
            out.append((k, r.decode("utf-8", "replace").strip() if isinstance(r, bytes) else ""))
        return out

    def clean(self) -> int:
        """Nothing to clean: a PUT is whole or absent, so a remote store has no temp files; returns 0.

        Examples
        --------
        >>> RemoteStore("memory://clean/store").clean()
        0
        """
        return 0

    def is_store(self) -> bool:
        """Whether anything is stored here yet (responses or index objects).

        Examples
        --------
        >>> store = RemoteStore("memory://is/store")
        >>> before = store.is_store()
        >>> _ = store.write_bytes(RemoteStore.key("ab" * 32, "0123456789abcdef"), b"{}")
        >>> before, store.is_store()
        (False, True)
        """
        self._fs.invalidate_cache(self._root)
        return bool(self._fs.exists(self._p("responses")) or self._fs.exists(self._p(_INDEX_DIR)))


_WITHHELD: Final = "(the reason is withheld: it contained a value passed as RemoteStore(secrets=...))"
