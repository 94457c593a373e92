"""Transcribe folders concurrently: the batch runner behind :func:`dgtools.transcribe`.

For every input (a file, a folder, a glob, a URL, or a list of them) it:

1. finds the audio (:func:`dgtools.audio.collect`); non-audio files become
   failure rows, never exceptions;
2. hashes it: the store key is ``sha256(audio)`` + a digest of the canonical
   options, so the same audio twice is sent once, and a rerun skips what the
   store already holds: no second request, no second charge;
3. estimates the cost from locally probed durations and refuses to start
   above ``budget=``;
4. sends the rest with bounded concurrency (Deepgram's per-project limits by
   default), lowering the number in flight on 429 (additive increase,
   multiplicative decrease) and honouring ``Retry-After``; retries 408, 429,
   5xx and transport errors with full-jitter exponential backoff, re-reading
   the file each time; never retries 400, 401, 402 or 403; a 402 stops
   dispatching new files (those in flight finish);
5. writes each raw response to the store atomically as it arrives (one
   writer thread; the responses that arrive together share their syncs), so
   an interrupted run (Ctrl-C, SIGTERM, SIGKILL) loses nothing that completed.

The result is a :class:`Run`: ``run.tables`` (built from the store for exactly
these inputs), ``run.failures`` (with advice), ``run.summary()``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import os
import queue
import random
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import (
    AuthenticationError,
    BadRequestError,
    BudgetError,
    ConfigError,
    DeepgramAPIError,
    DGToolsError,
    PaymentRequiredError,
    RateLimitError,
    TransportError,
)

if TYPE_CHECKING:
    import httpx
    import pandas as pd

    from ..api.client import DeepgramClient
    from ..audio import AudioSource
    from ..options import ListenOptions
    from ..pricing import CostEstimate
    from ..store import Store
    from ..tables import Tables

__all__ = ["FileResult", "Run", "atranscribe", "store_sources", "transcribe"]

#: Columns of :attr:`Run.failures`.
FAILURE_COLUMNS = ("file", "status", "err_code", "message", "request_id", "retryable", "attempts", "advice")


@dataclass
class FileResult:
    """What happened to one input."""

    source: str
    file_id: str
    status: (
        str  # "transcribed", "stored" (already in the store), "duplicate", "failed", "skipped", "not sent"
    )
    key: str | None = None
    request_id: str | None = None
    attempts: int = 0
    duration: float | None = None
    status_code: int | None = None
    err_code: str | None = None
    message: str | None = None
    retryable: bool | None = None
    advice: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("transcribed", "stored", "duplicate")


@dataclass
class Run:
    """The outcome of :func:`transcribe`: one :class:`FileResult` per input, in input order."""

    results: list[FileResult]
    store: Store
    options: ListenOptions
    estimate: CostEstimate | None = None
    elapsed: float = 0.0
    retries: int = 0
    rate_limited: int = 0
    stopped: str | None = None  # why dispatching stopped early (402)
    engine: str = "deepgram"
    realtime_factor: float | None = None  # engine="local": decode seconds per audio second, per process
    _tables: Tables | None = field(default=None, repr=False)

    @property
    def tables(self) -> Tables:
        """Tables for exactly these inputs, built from the raw responses in the store.

        ``file_id`` is each input's id (its path relative to the folder given).
        """
        if self._tables is None:
            from ..tables import to_tables

            ok = [r for r in self.results if r.ok and r.key]
            self._tables = to_tables(
                [self.store.path(r.key) for r in ok if r.key], file_id=[r.file_id for r in ok]
            )
        return self._tables

    @property
    def failures(self) -> pd.DataFrame:
        """Inputs that did not get a transcript: file, status, err_code, message, request_id,
        retryable, attempts, advice."""
        import pandas as pd

        rows = [
            {
                "file": r.source,
                "status": r.status if r.status_code is None else str(r.status_code),
                "err_code": r.err_code,
                "message": r.message,
                "request_id": r.request_id,
                "retryable": r.retryable,
                "attempts": r.attempts,
                "advice": r.advice,
            }
            for r in self.results
            if not r.ok
        ]
        df = pd.DataFrame(rows, columns=list(FAILURE_COLUMNS))
        return df.astype(
            {
                "file": "string",
                "status": "string",
                "err_code": "string",
                "message": "string",
                "request_id": "string",
                "retryable": "boolean",
                "attempts": "Int64",
                "advice": "string",
            }
        )

    @property
    def results_frame(self) -> pd.DataFrame:
        """Every input's outcome as a DataFrame."""
        import pandas as pd

        return pd.DataFrame([r.__dict__ for r in self.results])

    def summary(self) -> dict[str, Any]:
        """Counts by status, audio minutes, retries, 429s seen, estimated spend, time taken."""
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        sent = [r for r in self.results if r.status == "transcribed"]
        minutes = sum(r.duration or 0.0 for r in sent) / 60.0
        per_min = self.estimate.per_minute if self.estimate else None
        return {
            "files": len(self.results),
            **counts,
            "failed_total": sum(1 for r in self.results if not r.ok),
            "audio_minutes_sent": round(minutes, 3),
            "estimated_spend": None if per_min is None else round(minutes * per_min, 4),
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "elapsed_s": round(self.elapsed, 3),
            "stopped": self.stopped,
            "engine": self.engine,
            "realtime_factor": None if self.realtime_factor is None else round(self.realtime_factor, 3),
        }

    def raise_for_errors(self) -> None:
        """Raise the first failure's error (a :class:`DGToolsError`) if any input failed."""
        bad = [r for r in self.results if not r.ok]
        if bad:
            first = bad[0]
            more = f" (and {len(bad) - 1} more; see run.failures)" if len(bad) > 1 else ""
            raise DGToolsError(f"{first.source}: {first.message}{more}")

    def __repr__(self) -> str:
        s = self.summary()
        parts = ", ".join(f"{k}={v}" for k, v in s.items() if v and k not in ("files", "elapsed_s", "engine"))
        return f"<dgtools.Run {s['files']} file(s): {parts}; {s['elapsed_s']} s>"

    def _repr_html_(self) -> str:
        try:
            rows = "".join(
                f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in self.summary().items() if v is not None
            )
            return f"<b>dgtools run</b><table>{rows}</table>"
        except Exception:  # notebook reprs never raise
            return "<i>dgtools.Run</i>"


def store_sources(store: str | os.PathLike[str] | Store) -> list[tuple[Path, str]]:
    """``(response path, file_id)`` for every input a store holds a response for.

    First from the store's index: each (key, file_id) pair recorded whose
    response is complete, in the order they were recorded.  Then every
    complete response that no index entry mentions (its line was not yet
    appended when the process was killed), sorted by key, with the key as its
    file_id: the next ``dgtools transcribe`` of the same audio indexes it under
    the audio's own file id.  Use it to rebuild tables from a store:
    ``to_tables([p for p, _ in s], file_id=[f for _, f in s])``.
    """
    from ..store import Store

    st = store if isinstance(store, Store) else Store(store)
    stored = set(st.keys())
    seen: dict[tuple[str, str], None] = {}
    indexed: set[str] = set()
    for e in st.entries():
        key, fid = e.get("key"), e.get("file_id") or e.get("source")
        if isinstance(key, str):
            indexed.add(key)
            if isinstance(fid, str) and key in stored:
                seen[(key, fid)] = None
    out = [(st.path(key), fid) for key, fid in seen]
    out += [(st.path(key), key) for key in sorted(stored - indexed)]
    return out


# --------------------------------------------------------------------------- public entry points


def transcribe(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    store: str | os.PathLike[str] | Store = "dgtools-store",
    concurrency: int | None = None,
    progress: bool | None = None,
    api_key: str | None = None,
    access_token: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    engine: str = "deepgram",
    budget: float | None = None,
    patterns: Sequence[str] = ("*",),
    max_retries: int = 6,
    transport: httpx.AsyncBaseTransport | None = None,
    **options: Any,
) -> Run:
    """Transcribe audio files (or URLs) with Deepgram, concurrently, resumably.

    Works in plain Python and inside a running event loop (a Jupyter cell):
    there it runs on a worker thread.  ``await dgtools.atranscribe(...)`` is
    the async twin.

    Parameters
    ----------
    source
        A folder (searched recursively), a file, a glob (``"calls/*.wav"``), an
        http(s) URL, or a list of those.
    store
        Folder of the raw-response store (created if needed).  A rerun with
        the same store skips every file already transcribed with the same
        options.
    concurrency
        Most requests in flight; default from Deepgram's per-project limits
        for these options (50; 25 with diarize in EU/AU; 10 with summarize,
        topics, intents or sentiment; 5 with detect_entities).
    progress
        Show a progress bar (``None``: when attached to a terminal or notebook).
    api_key, access_token, base_url, region
        Credentials and endpoint (see :mod:`dgtools.api.client`).
    engine
        ``"deepgram"`` (the API), ``"local"`` (the embedded offline engine:
        pocketsphinx in worker processes, free, no key) or ``"auto"``
        (Deepgram when a key or token is set, else local).
    budget
        Refuse to start (:class:`~dgtools.BudgetError`) when the estimated cost
        in dollars is above this.
    patterns
        Filename patterns to consider in folders (``("*.wav", "*.mp3")``).
    max_retries
        Retries per file for 408, 429, 5xx and transport errors.
    transport
        An ``httpx.AsyncBaseTransport`` (tests: ``httpx.MockTransport``).
    **options
        Any ``/v1/listen`` option: ``model="nova-3"``, ``diarize=True``,
        ``search=["refund", "cancel"]``, ... (validated before anything is sent).

    Returns
    -------
    Run

    Examples
    --------
    >>> run = dgtools.transcribe("calls/", model="nova-3", diarize=True, utterances=True)   # doctest: +SKIP
    >>> run.tables.words.dg.talk_time()                                                   # doctest: +SKIP
    >>> run.failures                                                                      # doctest: +SKIP
    """
    kwargs = dict(
        store=store, concurrency=concurrency, progress=progress, api_key=api_key, access_token=access_token,
        base_url=base_url, region=region, engine=engine, budget=budget, patterns=patterns,
        max_retries=max_retries, transport=transport, **options,
    )  # fmt: skip
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(atranscribe(source, **kwargs))
    # Inside a running loop (Jupyter): run on a worker thread with its own loop.
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["run"] = asyncio.run(atranscribe(source, **kwargs))
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=work, name="dgtools-transcribe", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    run: Run = box["run"]
    return run


async def atranscribe(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    store: str | os.PathLike[str] | Store = "dgtools-store",
    concurrency: int | None = None,
    progress: bool | None = None,
    api_key: str | None = None,
    access_token: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    engine: str = "deepgram",
    budget: float | None = None,
    patterns: Sequence[str] = ("*",),
    max_retries: int = 6,
    transport: httpx.AsyncBaseTransport | None = None,
    client: DeepgramClient | None = None,
    **options: Any,
) -> Run:
    """The async twin of :func:`transcribe` (same parameters, plus ``client=``)."""
    from ..audio import collect
    from ..options import ListenOptions, default_concurrency
    from ..store import Store

    started = time.perf_counter()
    engine = resolve_engine(engine, api_key=api_key, access_token=access_token)
    opts = ListenOptions.from_kwargs(**options)
    from ..api.client import Credentials, DeepgramClient, resolve_credentials

    creds: Credentials | None = client.credentials if client is not None else None
    missing_creds: ConfigError | None = None
    if creds is None and engine == "deepgram":
        try:
            creds = resolve_credentials(api_key, access_token)
        except ConfigError as exc:  # only an error if something has to be sent
            missing_creds = exc
    st = store if isinstance(store, Store) else Store(store, secrets=creds.secrets if creds else ())
    if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
        raise ConfigError(f"concurrency={concurrency!r} must be a positive integer")
    if engine == "local":
        cap = concurrency or (os.cpu_count() or 1)  # decoder processes
    else:
        cap = concurrency or default_concurrency(opts, region=region)

    found, skipped = collect(source, patterns=patterns)
    results: list[FileResult] = []
    for s in skipped:
        results.append(
            FileResult(
                source=s.source,
                file_id=s.file_id,
                status="skipped",
                message=s.reason,
                advice=s.advice,
                retryable=False,
            )
        )
    jobs = await _plan(found, st, opts, results, engine=engine)
    to_send = [j for j in jobs if j.primary and not j.stored]

    from ..pricing import estimate_cost

    estimate = estimate_cost([j.duration for j in to_send], model=opts.model, free=engine == "local")
    if budget is not None and estimate.dollars is not None and estimate.dollars > budget:
        raise BudgetError(
            f"estimated cost {estimate} is above budget={budget}; nothing was sent. "
            "Raise budget=, send fewer files, or pick a cheaper model"
        )
    run = Run(results=results, store=st, options=opts, estimate=estimate)
    if to_send:
        if missing_creds is not None:
            raise missing_creds
        own = client is None
        sender: Any = client
        if engine == "local":
            sender = _LocalClient(workers=cap)
        elif sender is None:
            sender = DeepgramClient(
                credentials=creds, base_url=base_url, region=region, transport=transport, max_connections=cap
            )
        try:
            await _send_all(
                to_send, sender, st, opts, run, cap=cap, max_retries=max_retries, progress=progress
            )
        finally:
            if own or engine == "local":
                await sender.aclose()
            if isinstance(sender, _LocalClient) and sender.audio_seconds:
                run.realtime_factor = sender.decode_seconds / sender.audio_seconds
    run.engine = engine
    for j in jobs:
        j.finish()
    known = [j for j in jobs if j.result.status in ("stored", "duplicate")]
    if known:  # so that the store's index knows every file_id: once, not again on every rerun
        indexed = {(e.get("key"), e.get("file_id") or e.get("source")) for e in st.entries()}
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        new: list[dict[str, Any]] = []
        for j in known:
            r = j.result
            if (j.key, r.file_id) not in indexed:
                indexed.add((j.key, r.file_id))
                new.append({"key": j.key, "source": r.source, "file_id": r.file_id, "options": opts.canonical(),
                            "request_id": r.request_id, "status": r.status, "at": at})  # fmt: skip
        st.record_many(new)
    results.sort(key=_input_order(source))
    run.elapsed = time.perf_counter() - started
    return run


def resolve_engine(engine: str, *, api_key: str | None = None, access_token: str | None = None) -> str:
    """``"deepgram"`` or ``"local"``; ``"auto"`` is Deepgram when credentials are set, else local.

    Raises
    ------
    ConfigError
        An unknown engine name.
    """
    if engine == "auto":
        has_key = (
            api_key or access_token or os.environ.get("DEEPGRAM_API_KEY") or os.environ.get("DEEPGRAM_TOKEN")
        )
        return "deepgram" if has_key else "local"
    if engine not in ("deepgram", "local"):
        raise ConfigError(f"engine={engine!r}: use 'deepgram' (the API), 'local' (offline) or 'auto'")
    return engine


def store_digest(opts: ListenOptions, engine: str) -> str:
    """The options part of a store key: the local engine's answers never pass for Deepgram's."""
    if engine == "deepgram":
        return opts.digest()
    return hashlib.sha256(f"{opts.canonical()}&dgtools_engine={engine}".encode()).hexdigest()[:16]


class _LocalClient:
    """The :class:`~dgtools.api.client.DeepgramClient` interface over the embedded engine.

    Files are decoded in ``workers`` processes (each loads one pocketsphinx
    decoder once); the answer is encoded as the JSON Deepgram would send.
    """

    credentials = None

    def __init__(self, workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from ..engines.local import _worker_init

        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self._pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context(method), initializer=_worker_init, initargs=({},)
        )
        self.decode_seconds = 0.0
        self.audio_seconds = 0.0

    async def transcribe_file(
        self,
        path: str | os.PathLike[str],
        options: ListenOptions,
        *,
        content_type: str | None = None,
        source: str | None = None,
    ) -> Any:
        import msgspec

        from ..api.client import ListenResult
        from ..engines.local import _worker_decode

        loop = asyncio.get_running_loop()
        result, seconds, audio_seconds = await loop.run_in_executor(
            self._pool, _worker_decode, str(path), options
        )
        if isinstance(result, BaseException):
            if isinstance(result, DGToolsError):
                raise result
            raise DGToolsError(
                f"{source or path}: the local engine failed ({type(result).__name__}: {result})"
            )
        self.decode_seconds += seconds
        self.audio_seconds += audio_seconds
        return ListenResult(body=msgspec.json.encode(result), request_id=result["metadata"].get("request_id"))

    async def transcribe_url(self, url: str, options: ListenOptions, *, source: str | None = None) -> Any:
        raise ConfigError(f"{url}: the local engine does not fetch URLs; download the file first")

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, lambda: self._pool.shutdown(wait=True))


def _input_order(source: Any) -> Any:
    """Sort key keeping results in input order: list position, then path order within a folder."""
    if isinstance(source, (str, os.PathLike)):
        return lambda r: (0, r.file_id)
    given = {str(s): i for i, s in enumerate(source)}

    def key(r: FileResult) -> tuple[int, str]:
        for cand in (r.source, r.file_id):
            if cand in given:
                return given[cand], ""
        return len(given), r.file_id

    return key


# --------------------------------------------------------------------------- planning


@dataclass
class _Job:
    audio: AudioSource
    result: FileResult
    key: str = ""
    duration: float | None = None
    stored: bool = False
    primary: bool = True  # False: the same audio appears earlier in this run
    twin: _Job | None = None

    def finish(self) -> None:
        """Copy the outcome of the primary job to a duplicate."""
        if self.twin is not None:
            src = self.twin.result
            r = self.result
            if src.ok:
                r.status, r.request_id = "duplicate", src.request_id
                r.message = f"same audio as {src.source}: sent once"
            else:
                for k in ("status", "status_code", "err_code", "message", "retryable", "advice", "attempts"):
                    setattr(r, k, getattr(src, k))


_PLAN_CHUNK_BYTES = 32 << 20  # bytes hashed per thread hop when planning
_PLAN_CHUNK_FILES = 2048


async def _plan(
    found: list[AudioSource],
    st: Store,
    opts: ListenOptions,
    results: list[FileResult],
    *,
    engine: str = "deepgram",
) -> list[_Job]:
    from ..audio import fingerprint

    digest = store_digest(opts, engine)

    def prepare(a: AudioSource) -> tuple[str, float | None]:
        if a.url is not None:
            return hashlib.sha256(a.url.encode()).hexdigest(), None
        assert a.path is not None
        return fingerprint(a.path)  # sha256 and duration, one read of the file

    def prepare_chunk(chunk: list[AudioSource]) -> list[tuple[str, float | None] | BaseException]:
        out: list[tuple[str, float | None] | BaseException] = []
        for a in chunk:
            try:
                out.append(prepare(a))
            except OSError as exc:
                out.append(exc)
        return out

    # Hash and probe off the event loop, in chunks of about _PLAN_CHUNK_BYTES: large files hash in
    # parallel threads (hashlib and soundfile release the GIL), while many small files go in one
    # chunk, since for them the per-file Python work dominates and threads only contend for the GIL
    # (400 one-second WAVs: 18 ms in one thread against 41 ms spread over four).
    workers = min(8, (os.cpu_count() or 2) * 2)
    chunks: list[list[AudioSource]] = []
    filled = _PLAN_CHUNK_BYTES
    for a in found:
        if filled >= _PLAN_CHUNK_BYTES or len(chunks[-1]) >= _PLAN_CHUNK_FILES:
            chunks.append([])
            filled = 0
        chunks[-1].append(a)
        filled += a.size or 0
    sem = asyncio.Semaphore(workers)

    async def run_chunk(chunk: list[AudioSource]) -> list[tuple[str, float | None] | BaseException]:
        async with sem:
            return await asyncio.to_thread(prepare_chunk, chunk)

    prepared = [p for part in await asyncio.gather(*(run_chunk(c) for c in chunks)) for p in part]
    jobs: list[_Job] = []
    first: dict[str, _Job] = {}
    for a, prep in zip(found, prepared, strict=True):
        r = FileResult(source=a.source, file_id=a.file_id, status="pending")
        results.append(r)
        if isinstance(prep, BaseException):
            r.status, r.message, r.retryable = "failed", f"cannot read the file ({prep})", False
            r.advice = "check that the file exists and is readable"
            continue
        sha, dur = prep
        job = _Job(audio=a, result=r, key=st.key(sha, digest), duration=dur)
        r.key, r.duration = job.key, dur
        if job.key in first:
            job.primary, job.twin = False, first[job.key]
        else:
            first[job.key] = job
            if st.has(job.key):
                job.stored = True
                r.status, r.message = "stored", "already in the store: not sent again"
        jobs.append(job)
    return jobs


# --------------------------------------------------------------------------- sending


class _AIMD:
    """A concurrency limit that halves on 429 and grows back by one per limit successes.

    Waiters queue in FIFO order and a release wakes exactly as many as there
    are free slots (none while more are in flight than the lowered limit): a
    woken waiter already holds its slot, so a newcomer cannot take it first.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.limit = float(cap)
        self.in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def _free(self) -> int:
        return max(1, int(self.limit)) - self.in_flight

    async def acquire(self) -> None:
        if not self._waiters and self._free() > 0:
            self.in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot as it was cancelled: pass it on
                self.in_flight -= 1
                self._wake()
            else:
                with contextlib.suppress(ValueError):  # _wake may have dropped it already
                    self._waiters.remove(waiter)
            raise

    def release(self, *, throttled: bool = False) -> None:
        self.in_flight -= 1
        if throttled:
            self.limit = max(1.0, self.limit / 2)
        else:
            self.limit = min(float(self.cap), self.limit + 1.0 / max(1.0, self.limit))
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._free() > 0:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1  # the slot is the waiter's from now on
                waiter.set_result(None)


class _NotIndexed(Exception):
    """A response was stored but its index line could not be written."""


class _Pending:
    """One response handed to a :class:`_StoreWriter`, and the future its worker awaits."""

    __slots__ = ("body", "entry", "future", "key", "size")

    def __init__(self, key: str, body: bytes, entry: dict[str, Any], future: asyncio.Future[Path]) -> None:
        self.key, self.body, self.entry, self.future = key, body, entry, future
        self.size = len(body)


class _StoreWriter:
    """Writes responses to the store from one background thread, many per sync (group commit).

    A worker hands a response over with ``await writer.put(key, body, entry)``,
    which returns once the response is durable and indexed, and raises what
    kept it out of the store otherwise.  The thread takes everything queued (up
    to ``batch_items`` responses or ``batch_bytes`` bytes), stores it with one
    :meth:`Store.write_many`, indexes what was stored with one
    :meth:`Store.record_many`, and resolves the batch's futures with one
    ``call_soon_threadsafe``.  The batches grow by themselves with the load:
    whatever arrives during one batch's syncs goes in the next.

    The queue is bounded: ``put`` waits while ``max_items`` responses or
    ``max_bytes`` bytes wait to be written (a single larger response goes in
    when the queue is empty).  A response handed over is never lost:
    :meth:`aclose` returns only once everything put has been written, even
    when its caller is cancelled meanwhile, and a worker cancelled while it
    waits for room still hands its response over.
    """

    def __init__(
        self,
        st: Store,
        *,
        batch_items: int = 64,
        batch_bytes: int = 64 << 20,
        max_items: int = 256,
        max_bytes: int = 256 << 20,
    ) -> None:
        self._st = st
        self._loop = asyncio.get_running_loop()
        self._batch_items, self._batch_bytes = batch_items, batch_bytes
        self._max_items, self._max_bytes = max_items, max_bytes
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._queued_items = 0  # these three: on the event loop's thread only
        self._queued_bytes = 0
        self._room: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False
        self._drained: asyncio.Future[None] = self._loop.create_future()
        # Not a daemon: should the loop go away without aclose(), the interpreter still waits for
        # the queued responses to be written (the thread stops once the loop is closed and it is idle).
        self._thread = threading.Thread(target=self._main, name="dgtools-store-writer")
        self._thread.start()

    async def put(self, key: str, body: bytes, entry: dict[str, Any]) -> Path:
        """Hand a response over; returns its path once it is durable and indexed.

        Raises what kept it out of the store (``ConfigError``: it holds the
        API key; ``OSError``: disk full, permissions) or out of the index
        (``_NotIndexed``, the response itself is stored).
        """
        if self._closed:
            raise RuntimeError("this store writer is closed")
        size = len(body)
        try:
            while self._queued_items and (
                self._queued_items >= self._max_items or self._queued_bytes + size > self._max_bytes
            ):
                room: asyncio.Future[None] = self._loop.create_future()
                self._room.append(room)
                try:
                    await room
                finally:
                    if not room.done() or room.cancelled():
                        with contextlib.suppress(ValueError):
                            self._room.remove(room)
        except asyncio.CancelledError:
            self._enqueue(key, body, entry)  # the response arrived: write it even so
            raise
        return await self._enqueue(key, body, entry)

    def _enqueue(self, key: str, body: bytes, entry: dict[str, Any]) -> asyncio.Future[Path]:
        item = _Pending(key, body, entry, self._loop.create_future())
        self._queued_items += 1
        self._queued_bytes += item.size
        self._queue.put(item)
        return item.future

    async def aclose(self) -> None:
        """Write everything handed over, then stop the thread; waits even when cancelled."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        try:
            await asyncio.shield(self._drained)
        finally:  # cancelled again while draining: block rather than lose a response
            self._thread.join()  # (otherwise the thread is already on its way out)

    # -------------------------------------------------- the writer thread

    def _main(self) -> None:
        try:
            self._drain()
        finally:
            self._call(self._set_drained)

    def _set_drained(self) -> None:
        if not self._drained.done():
            self._drained.set_result(None)

    def _call(self, fn: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(fn, *args)

    def _drain(self) -> None:
        closing = False
        carry: _Pending | None = None
        while True:
            batch: list[_Pending] = [carry] if carry is not None else []
            size = carry.size if carry is not None else 0
            carry = None
            while len(batch) < self._batch_items:
                try:
                    item = self._queue.get_nowait() if batch or closing else self._queue.get(timeout=1.0)
                except queue.Empty:
                    if batch or closing:
                        break
                    if self._loop.is_closed():  # abandoned without aclose(): nothing more can come
                        return
                    continue
                if item is None:
                    closing = True
                elif batch and size + item.size > self._batch_bytes:
                    carry = item
                    break
                else:
                    batch.append(item)
                    size += item.size
            if not batch:
                return  # closed, and everything handed over is written
            self._call(self._finish, batch, self._commit(batch))

    def _commit(self, batch: list[_Pending]) -> list[Path | BaseException]:
        """Store and index one batch; one outcome per item (the batch never raises)."""
        try:
            outcomes = self._st.write_many([(it.key, it.body) for it in batch])
            stored = [i for i, o in enumerate(outcomes) if not isinstance(o, BaseException)]
            if stored:
                try:
                    self._st.record_many([batch[i].entry for i in stored])
                except Exception:  # one entry at a time: only those that cannot be written fail
                    for i in stored:
                        try:
                            self._st.record(batch[i].entry)
                        except Exception as exc:
                            outcomes[i] = _NotIndexed(str(exc))
        except Exception as exc:  # pragma: no cover - write_many reports I/O errors per item
            outcomes = [exc] * len(batch)
        return outcomes

    def _finish(self, batch: list[_Pending], outcomes: list[Path | BaseException]) -> None:
        """On the event loop: resolve one batch's futures and let waiting puts in."""
        for item, outcome in zip(batch, outcomes, strict=True):
            self._queued_items -= 1
            self._queued_bytes -= item.size
            if item.future.done():  # its worker was cancelled
                continue
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        while self._room:
            room = self._room.popleft()
            if not room.done():
                room.set_result(None)


def _backoff(attempt: int, *, base: float = 0.5, ceiling: float = 30.0) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(ceiling, base * 2**attempt)]."""
    return random.uniform(0.0, min(ceiling, base * (2**attempt)))


async def _send_all(
    jobs: list[_Job],
    client: DeepgramClient,
    st: Store,
    opts: ListenOptions,
    run: Run,
    *,
    cap: int,
    max_retries: int,
    progress: bool | None,
) -> None:
    limiter = _AIMD(cap)
    stop = asyncio.Event()
    bar = _progress(len(jobs), run, progress)
    canonical = opts.canonical()

    async def one(job: _Job) -> None:
        r = job.result
        a = job.audio
        while True:
            if stop.is_set():  # forget an earlier attempt's error (e.g. a 429): this file was not sent
                r.status, r.retryable = "not sent", True
                r.status_code = r.err_code = r.request_id = None
                r.message = f"not sent: {run.stopped}"
                r.advice = (
                    "rerun the same command once the account has credits: only files not yet stored are sent"
                )
                return
            await limiter.acquire()
            if stop.is_set():  # a 402 arrived while this file waited for a slot
                limiter.release()
                continue
            throttled = False
            try:
                r.attempts += 1
                if a.url is not None:
                    res = await client.transcribe_url(a.url, opts, source=a.source)
                else:
                    assert a.path is not None
                    res = await client.transcribe_file(
                        a.path, opts, content_type=a.content_type, source=a.source
                    )
            except (DeepgramAPIError, TransportError) as exc:
                throttled = isinstance(exc, RateLimitError)
                if throttled:
                    run.rate_limited += 1
                _fill_failure(r, exc)
                if isinstance(exc, PaymentRequiredError) and not stop.is_set():
                    run.stopped = "the project is out of credits (402); no new files were sent"
                    stop.set()
                if exc.retryable and r.attempts <= max_retries and not stop.is_set():
                    run.retries += 1
                    wait = _backoff(r.attempts - 1)
                    if isinstance(exc, RateLimitError) and exc.retry_after is not None:
                        wait = max(wait, exc.retry_after)
                    limiter.release(throttled=throttled)
                    _bar_post(bar, run)
                    await asyncio.sleep(wait)
                    continue
                limiter.release(throttled=throttled)
                _bar_update(bar, run)
                return
            except DGToolsError as exc:  # e.g. the local engine cannot decode the file: not retried
                limiter.release()
                r.status, r.message, r.retryable = "failed", str(exc), False
                r.advice = (
                    "check that the file plays; convert it (ffmpeg -i IN -ar 16000 OUT.wav) or leave it out"
                )
                _bar_update(bar, run)
                return
            except BaseException:
                limiter.release()
                raise
            limiter.release()  # no await from the answer to writer.put: a cancel cannot fall between
            entry = {
                "key": job.key,
                "source": a.source,
                "file_id": a.file_id,
                "options": canonical,
                "request_id": res.request_id,
                "bytes": len(res.body),
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
            try:  # durable and indexed by the writer thread, in a group commit with other answers
                await writer.put(job.key, res.body, entry)
            except Exception as exc:  # not stored (or not indexed): a failure row, the batch goes on
                _fill_store_failure(r, exc, res.request_id, job.key)
                _bar_update(bar, run)
                return
            r.status, r.request_id = "transcribed", res.request_id
            r.status_code = r.err_code = r.message = r.retryable = r.advice = None
            _bar_update(bar, run, minutes=(job.duration or 0.0) / 60.0)
            return

    # A fixed pool of workers pulls from one queue: a task per worker, not per file.
    pending = iter(jobs)

    async def worker() -> None:
        for job in pending:
            await one(job)

    # Twice as many workers as requests allowed in flight: a worker holds its answer until the
    # writer's next group commit makes it durable, and meanwhile another keeps its slot busy.
    writer = _StoreWriter(st)
    tasks = [asyncio.ensure_future(worker()) for _ in range(min(2 * cap, len(jobs)))]
    try:
        await asyncio.gather(*tasks)
    finally:
        try:
            for t in tasks:  # an unexpected error in one worker: stop the others before closing
                t.cancel()
            if not all(t.done() for t in tasks):
                await asyncio.wait(tasks)
        finally:
            try:
                await writer.aclose()  # everything handed to the writer is on disk before we return
            finally:
                if bar is not None:
                    bar.close()


def _fill_store_failure(r: FileResult, exc: Exception, request_id: str | None, key: str) -> None:
    r.status, r.request_id, r.status_code, r.err_code = "failed", request_id, None, None
    if isinstance(exc, _NotIndexed):
        r.message = (
            f"{r.source}: the response was stored (key {key}) but its line in index.jsonl "
            f"could not be written: {exc}"
        )
        r.retryable = True
        r.advice = "rerun the same command: the stored response is indexed then, and not sent again"
    elif isinstance(exc, ConfigError):
        r.message = f"{r.source}: Deepgram answered (request_id={request_id}) but {exc}"
        r.retryable = False
        r.advice = (
            "the answer echoes the API key: remove it from the options (callback, tag, extra) and rerun"
        )
    else:
        r.message = (
            f"{r.source}: Deepgram answered (request_id={request_id}) but the store could not keep it: {exc}"
        )
        r.retryable = True
        r.advice = "check the store folder (free space, permissions), then rerun: this file is sent again"


def _fill_failure(r: FileResult, exc: DeepgramAPIError | TransportError) -> None:
    r.status = "failed"
    r.message = str(exc)
    r.retryable = exc.retryable
    if isinstance(exc, DeepgramAPIError):
        r.status_code, r.err_code, r.request_id = exc.status_code, exc.err_code, exc.request_id
    else:
        r.status_code = r.err_code = None
    r.advice = _advice(exc)


def _advice(exc: DGToolsError) -> str:
    if isinstance(exc, PaymentRequiredError):
        return "add credits to the project (or use another key), then rerun: stored files are not sent again"
    if isinstance(exc, AuthenticationError):
        if exc.status_code == 401:
            return (
                "check DEEPGRAM_API_KEY (sent as 'Token'); a temporary JWT goes in DEEPGRAM_TOKEN ('Bearer')"
            )
        return "the project cannot use this model/feature: change model= or the options, or ask for access"
    if isinstance(exc, RateLimitError):
        return "lower concurrency= and rerun: stored files are not sent again"
    if isinstance(exc, BadRequestError):
        if exc.status_code == 413:
            return "split or compress the file, or send it as a URL"
        return "fix the option or the audio named in the message; rerun sends only what is missing"
    if isinstance(exc, TransportError):
        return "check the network and base_url=; rerun sends only what is missing"
    return "rerun later: only files not yet stored are sent"


def _progress(total: int, run: Run, progress: bool | None) -> Any:
    if progress is False:
        return None
    from tqdm.auto import tqdm

    disable = None if progress is None else False
    return tqdm(total=total, unit="file", desc="transcribing", disable=disable, dynamic_ncols=True)


def _bar_post(bar: Any, run: Run) -> None:
    if bar is not None:
        bar.set_postfix(retries=run.retries, http429=run.rate_limited, refresh=False)


def _bar_update(bar: Any, run: Run, minutes: float = 0.0) -> None:
    if bar is None:
        return
    done = getattr(bar, "_dg_minutes", 0.0) + minutes
    bar._dg_minutes = done
    per_min = run.estimate.per_minute if run.estimate else None
    post: dict[str, Any] = {"audio_min": f"{done:.1f}", "retries": run.retries, "http429": run.rate_limited}
    if per_min is not None:
        post["spend"] = f"${done * per_min:.2f}"
    bar.set_postfix(post, refresh=False)
    bar.update(1)
