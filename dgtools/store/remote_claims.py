"""Claims on a store in S3: two runs on one remote store never send the same file at once.

The local :class:`~dgtools.store.Claims` lean on ``flock`` and appends; S3 has neither, but it has
conditional writes, which are enough (AWS S3 since 2024-08 and 2024-11, moto 5.2)::

    claims/<key>.json            one object per claimed key: {"run_id", "pid", "host", "start",
                                 "since", "nonce"}, created with ``If-None-Match: *`` (of two runs,
                                 the first PUT wins: the other gets 412)
    claims/runs/<run_id>.json    the run's heartbeat, rewritten with ``If-Match: <its ETag>`` every
                                 beat; its ``Last-Modified`` (the server's clock) is the beat

A take is one conditional PUT per key, up to 32 in flight.  A key whose claim exists is judged by
its run's heartbeat: absent (the run closed, or was judged stale) or older than ``stale_after``
seconds on the server's clock (its own last PUT's ``Date``: skew between machines does not
matter), or, on this machine, a pid that is gone: the run is stale.  The taker then deletes the
stale heartbeat with ``If-Match`` (if the run beat meanwhile, the 412 says it lives) and
overwrites the claim with ``If-Match: <the claim's ETag>``: of two runs taking over one key, one
gets it.  A release (or :meth:`RemoteClaims.close`) deletes the claim with ``If-Match`` its own
ETag, so it never removes a claim another run took over.  A run judged stale finds out at its next
heartbeat (its conditional rewrite fails): it then holds nothing, and starts a new heartbeat.

The guarantee: one live run holds each key, as long as a run beats within ``stale_after`` (a run
paused longer, then resumed, may send a key in flight before its next beat tells it it lost it:
the window the local claims have too).  Only ``s3://`` has the conditional writes this needs;
other backends are refused with a :class:`~dgtools.ConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import json
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, TypeVar

from ..exceptions import ConfigError
from .claims import _RUN_ID_RE, CLAIMS_DIR, RUNS_DIR, Owner
from .durable import host_tag, process_gone, process_start
from .index import utc_now
from .keys import check_key
from .remote import RemoteStore

__all__ = ["RemoteClaims"]

#: Protocols whose conditional PUT and DELETE (If-None-Match, If-Match) claims rely on.
_CONDITIONAL: Final = frozenset({"s3", "s3a"})
#: How often :meth:`RemoteClaims.take` refreshes the heartbeat by itself (seconds).
_AUTO_BEAT: Final = 1.0
#: Most requests one take (or close) has in flight at once.
_IN_FLIGHT: Final = 32
#: Rounds of read-judge-write for one key before its holder is reported as it stands.
_ROUNDS: Final = 4
_LOST: Final = frozenset(
    {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404", "412", "409"}
)

_T = TypeVar("_T")


class RemoteClaims:
    """One run's claims on a store in S3; a context manager that releases them all on exit.

    The same interface as :class:`~dgtools.store.Claims` (:meth:`take`, :meth:`release`,
    :meth:`heartbeat`, :meth:`close`, :meth:`owner`, :attr:`held`, ``stale_after``, ``run_id``),
    with claims as objects under ``<store>/claims/`` (see :mod:`dgtools.store.remote_claims`).

    Parameters
    ----------
    store : RemoteStore or str
        The remote store whose keys are claimed, or its URL (``s3://bucket/prefix``).
    storage_options : mapping, optional
        With a URL: passed to the filesystem (credentials, ``client_kwargs={"endpoint_url": ...}``).
    stale_after : float, default 120
        Seconds (on the server's clock) without a heartbeat after which another run's claims are
        taken over.  Call :meth:`heartbeat` well within it.
    run_id : str, optional
        This run's id (letters, digits, ``-``, ``_``); a fresh random one by default.

    Raises
    ------
    ConfigError
        The store is not on S3 (no conditional writes to build claims on), or a bad setting.

    Examples
    --------
    >>> url = "s3://bucket/store"                                     # doctest: +SKIP
    >>> with RemoteClaims(url) as first, RemoteClaims(url) as second:  # doctest: +SKIP
    ...     mine, theirs = first.take([key]), second.take([key])
    ...     first.release(key)
    ...     again = second.take([key])
    >>> mine[key] is None, theirs[key].run_id == first.run_id, again[key] is None  # doctest: +SKIP
    (True, True, True)
    >>> RemoteClaims("memory://claims-example/store")  # no conditional writes: refused
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: claims on memory://claims-example/store need conditional writes (If-None-Match, If-Match), which only s3:// gives here; use an s3:// store or a local folder for concurrent runs
    """

    def __init__(
        self,
        store: RemoteStore | str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        stale_after: float = 120.0,
        run_id: str | None = None,
    ) -> None:
        if not stale_after > 0:
            raise ConfigError(f"stale_after must be a positive number of seconds, got {stale_after!r}")
        if run_id is None:
            run_id = uuid.uuid4().hex
        if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
            raise ConfigError(f"run_id must be 1-64 letters, digits, '-' or '_'; got {run_id!r:.80}")
        if not isinstance(store, RemoteStore):
            store = RemoteStore(store, storage_options=storage_options)
        elif storage_options:
            raise ConfigError("storage_options go with a URL; this RemoteStore has its own")
        if store.protocol not in _CONDITIONAL:
            raise ConfigError(
                f"claims on {store.url} need conditional writes (If-None-Match, If-Match), which only "
                "s3:// gives here; use an s3:// store or a local folder for concurrent runs"
            )
        self.store: RemoteStore = store
        self.url: str = f"{store.url}/{CLAIMS_DIR}"
        self.stale_after, self.run_id = float(stale_after), run_id
        self._fs: Any = store._fs
        bucket, _, prefix = store._root.partition("/")
        self._bucket = bucket
        self._prefix = f"{prefix}/{CLAIMS_DIR}" if prefix else CLAIMS_DIR
        self._host, self._pid = host_tag(), os.getpid()
        self._start = process_start(self._pid)
        self._since = utc_now()
        self._beats = 0
        self._held: dict[str, str] = {}  # key -> the ETag of this run's claim object
        self._lock = threading.RLock()
        self._beat_etag: str | None = None  # this run's heartbeat object, as last written
        self._clock: tuple[float, float] | None = None  # (server time of the last beat, monotonic then)
        self._closed = False

    def __getstate__(self) -> dict[str, Any]:
        """A pickled RemoteClaims is a closed one: claims belong to the live run that took them."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_fs")}
        state.update(_held={}, _closed=True, _clock=None, _beat_etag=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._fs = self.store._fs

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"held={len(self._held)}"
        return f"<dgtools.store.RemoteClaims run_id={self.run_id!r} url={self.url!r} {state}>"

    def __enter__(self) -> RemoteClaims:
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

    # ------------------------------------------------------------------ requests

    def _key(self, name: str) -> str:
        return f"{self._prefix}/{name}"

    def _run(self, coro: Awaitable[_T]) -> _T:
        from fsspec.asyn import sync

        async def wrap() -> _T:
            return await coro

        result: _T = sync(self._fs.loop, wrap)
        return result

    async def _call(self, method: str, name: str, **kwargs: Any) -> Any:
        return await self._fs._call_s3(method, Bucket=self._bucket, Key=self._key(name), **kwargs)

    # ------------------------------------------------------------------ liveness

    def heartbeat(self) -> None:
        """Tell other runs this run is alive: one conditional rewrite of its heartbeat object.

        The first one creates it; one that finds it removed or replaced (this run was judged
        stale, its keys may be another run's now) drops every claim it held and starts anew.
        """
        self._check_open()
        with self._lock:
            self._run(self._beat())

    async def _beat(self) -> None:
        """(Locked) rewrite the heartbeat, conditionally on it being the one this run wrote last."""
        self._beats += 1
        body = json.dumps(
            {
                "run_id": self.run_id,
                "pid": self._pid,
                "host": self._host,
                "start": self._start,
                "since": self._since,
                "beat": self._beats,
                "nonce": os.urandom(6).hex(),
            }
        ).encode()
        name = f"{RUNS_DIR}/{self.run_id}.json"
        sent = time.monotonic()
        try:
            if self._beat_etag is None:
                got = await self._call("put_object", name, Body=body)
            else:
                got = await self._call("put_object", name, Body=body, IfMatch=self._beat_etag)
        except OSError as exc:
            if not _lost(exc):
                raise
            self._held.clear()  # judged stale: another run may hold these keys now
            got = await self._call("put_object", name, Body=body)
        self._beat_etag = got["ETag"]
        self._clock = (_server_time(got, fallback=time.time()), (sent + time.monotonic()) / 2)

    def _now(self) -> float:
        """(Locked) the server's clock now, from this run's last heartbeat; beats when one is due."""
        if self._clock is None or time.monotonic() - self._clock[1] > _AUTO_BEAT:
            self._run(self._beat())
        assert self._clock is not None
        server, then = self._clock
        return server + (time.monotonic() - then)

    # ------------------------------------------------------------------ taking and releasing

    def take(self, keys: Iterable[str]) -> dict[str, Owner | None]:
        """Claim each key for this run, unless another live run holds it.

        Returns
        -------
        dict of str to Owner or None
            For each key: None when this run now holds it (it may send it), or the
            :class:`~dgtools.store.Owner` of the live run that does.  The claims of dead or stale
            runs are taken over (a conditional overwrite: of two runs, one gets each key).

        Raises
        ------
        ConfigError
            A key is not a store key.
        OSError
            A claim could not be written (permissions, the bucket is gone).
        RuntimeError
            The claims were closed.
        """
        self._check_open()
        keys = list(keys)
        for key in keys:
            check_key(key)
        with self._lock:
            now = self._now()
            fresh = list(dict.fromkeys(k for k in keys if k not in self._held))
            judged: dict[str, asyncio.Future[Owner | None]] = {}
            got = self._run(_gather([functools.partial(self._take_one, k, now, judged) for k in fresh]))
            out: dict[str, Owner | None] = {}
            for key, (owner, etag) in zip(fresh, got, strict=True):
                out[key] = owner
                if owner is None and etag is not None:
                    self._held[key] = etag
            return {key: None if key in self._held else out.get(key) for key in keys}

    async def _take_one(
        self, key: str, now: float, judged: dict[str, asyncio.Future[Owner | None]]
    ) -> tuple[Owner | None, str | None]:
        """Claim one key: (None, the claim's ETag) when taken, else (its live owner, None)."""
        name = f"{key}.json"
        body = self._claim_body()
        owner: Owner | None = None
        for _ in range(_ROUNDS):
            try:
                got = await self._call("put_object", name, Body=body, IfNoneMatch="*")
                return None, str(got["ETag"])
            except FileExistsError:
                pass
            try:
                held = await self._call("get_object", name)
                raw = await held["Body"].read()
            except FileNotFoundError:  # released meanwhile: try again
                continue
            etag = str(held["ETag"])
            owner, start = _parse_claim(raw, self._host)
            if owner.run_id == self.run_id:  # left by an earlier run of this id: this run's now
                stale = True
            else:
                if owner.run_id not in judged:
                    judged[owner.run_id] = asyncio.ensure_future(self._judge(owner, start, now))
                stale = await judged[owner.run_id] is None
            if not stale:
                return owner, None
            try:
                got = await self._call("put_object", name, Body=body, IfMatch=etag)
                return None, str(got["ETag"])
            except OSError as exc:
                if not _lost(exc):
                    raise
        return owner or Owner("", 0, "", False, utc_now()), None  # contested every round: not ours

    async def _judge(self, owner: Owner, start: str | None, now: float) -> Owner | None:
        """The claim's run if it is alive, else None (its heartbeat deleted, if it was stale)."""
        if not owner.run_id:  # a claim that cannot be read: nobody's
            return None
        name = f"{RUNS_DIR}/{owner.run_id}.json"
        try:
            head = await self._call("head_object", name)
        except FileNotFoundError:  # closed, or judged stale already: its claims are free
            return None
        beat = head["LastModified"].timestamp()
        dead_here = owner.this_host and os.name != "nt" and process_gone(owner.pid, start)
        if now - beat <= self.stale_after and not dead_here:
            return owner
        try:  # it beats meanwhile, or it is removed: either way the 412 or 404 decides
            await self._call("delete_object", name, IfMatch=head["ETag"])
        except OSError as exc:
            if not _lost(exc):
                raise
            if not isinstance(exc, FileNotFoundError):
                return owner  # it beat since: alive
        return None

    def _claim_body(self) -> bytes:
        return json.dumps(
            {
                "run_id": self.run_id,
                "pid": self._pid,
                "host": self._host,
                "start": self._start,
                "since": utc_now(),
                "nonce": os.urandom(6).hex(),
            }
        ).encode()

    def owner(self, key: str) -> Owner | None:
        """The live run other than this one that holds ``key``; None when it is free, stale or this run's.

        One GET (and a HEAD of its run's heartbeat); takes nothing over: a hint, which
        :meth:`take` confirms.
        """
        check_key(key)
        self._check_open()
        with self._lock:
            if key in self._held:
                return None
            now = self._now()

        async def look() -> Owner | None:
            try:
                held = await self._call("get_object", f"{key}.json")
                raw = await held["Body"].read()
            except FileNotFoundError:
                return None
            owner, start = _parse_claim(raw, self._host)
            if owner.run_id in ("", self.run_id):
                return None
            try:
                head = await self._call("head_object", f"{RUNS_DIR}/{owner.run_id}.json")
            except FileNotFoundError:
                return None
            if now - head["LastModified"].timestamp() > self.stale_after:
                return None
            dead_here = owner.this_host and os.name != "nt" and process_gone(owner.pid, start)
            return None if dead_here else owner

        return self._run(look())

    def release(self, key: str) -> None:
        """Give up this run's claim on ``key`` (once its answer is stored, or it failed); idempotent.

        One DELETE with ``If-Match`` this run's claim: a claim another run has taken over
        meanwhile (this run was judged stale) is left to it.  If the DELETE fails, the claim
        stays until it is stale.
        """
        with self._lock:
            etag = self._held.pop(key, None)
            if etag is None or self._closed:
                return
            with contextlib.suppress(OSError):
                self._run(self._call("delete_object", f"{key}.json", IfMatch=etag))

    def close(self) -> None:
        """Release every claim and remove this run's heartbeat; idempotent."""
        with self._lock:
            if self._closed:
                return
            held, self._held = dict(self._held), {}
            beat, self._beat_etag = self._beat_etag, None
            self._closed = True

            async def drop(name: str, etag: str) -> None:
                with contextlib.suppress(OSError):
                    await self._call("delete_object", name, IfMatch=etag)

            with contextlib.suppress(OSError):
                drops = [functools.partial(drop, f"{k}.json", e) for k, e in held.items()]
                self._run(_gather(drops))  # claims first: a claim without a heartbeat is free
                if beat is not None:
                    self._run(drop(f"{RUNS_DIR}/{self.run_id}.json", beat))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"these claims (run {self.run_id}) are closed")


async def _gather(makers: Sequence[Callable[[], Awaitable[_T]]]) -> list[_T]:
    """Run the coroutines ``makers`` make, at most :data:`_IN_FLIGHT` at once; their results in order."""
    gate = asyncio.Semaphore(_IN_FLIGHT)

    async def one(make: Callable[[], Awaitable[_T]]) -> _T:
        async with gate:
            return await make()

    return list(await asyncio.gather(*(one(m) for m in makers)))


def _lost(exc: OSError) -> bool:
    """Whether a conditional request failed its condition (412, 409) or found nothing (404)."""
    if isinstance(exc, (FileNotFoundError, FileExistsError)):
        return True
    response = getattr(exc.__cause__, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in _LOST


def _server_time(response: Mapping[str, Any], *, fallback: float) -> float:
    """The ``Date`` of an S3 response (the server's clock), as a POSIX timestamp."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return email.utils.parsedate_to_datetime(date).timestamp() if date else fallback
    except (TypeError, ValueError):
        return fallback


def _parse_claim(raw: bytes, this_host: str) -> tuple[Owner, str | None]:
    """A claim object's run (its ``run_id`` "" when unreadable) and its process's start time."""
    try:
        info = json.loads(raw)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        return Owner("", 0, "", False, ""), None
    run_id, pid, host, since, start = (info.get(k) for k in ("run_id", "pid", "host", "since", "start"))
    ok = (
        isinstance(run_id, str)
        and _RUN_ID_RE.fullmatch(run_id)
        and isinstance(pid, int)
        and not isinstance(pid, bool)
        and isinstance(host, str)
    )
    if not ok:
        return Owner("", 0, "", False, ""), None
    assert isinstance(run_id, str) and isinstance(pid, int) and isinstance(host, str)
    when = since if isinstance(since, str) else ""
    began = start if isinstance(start, str) and start else None
    return Owner(run_id, pid, host, host == this_host, when), began
