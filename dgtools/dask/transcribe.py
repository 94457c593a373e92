"""Fan-out transcription on a Dask cluster: :func:`transcribe`, one run split into shards on the workers.

The client plans once (finds the audio, hashes it, finds what the store holds, estimates the cost,
checks ``budget=`` and asks ``confirm=``) before anything is sent, for all the shards together.
Then the files to send are cut into shards of ``shard_size``, and each shard is a Dask task that
runs the ordinary batch (:func:`dgtools.batch.runner.run`: claims, limiter, retries, durable
store writes) against the one shared store, through a :class:`~dgtools.dask._leases.LeasedClient`
whose every request holds a lease of one ``distributed.dist.Semaphore(max_leases=concurrency)``: the
cap is the cluster's, not each worker's (:mod:`dgtools.dask._leases`: 429s park leases).

What happens when a worker dies: Dask runs its shard again elsewhere (up to
``distributed.scheduler.allowed-failures`` times).  The rerun plans its shard anew, so what the
dead worker had made durable is found in the store and not sent again; its claims are taken over
at once on the same machine (the dead pid), elsewhere once its heartbeat is stale
(:mod:`dgtools.store.claims`).  Requests the dead worker had sent but whose answers were not yet
durable are sent again, and Deepgram bills them twice: at most ``2 * concurrency`` per lost
worker (a shard holds at most that many files between sending and durable), in practice the
requests it had in flight.

The store may be in S3 (``store="s3://bucket/prefix"``, ``storage_options=``): the client opens it
once, and each shard task carries it (a :class:`~dgtools.store.RemoteStore` pickles as its URL and
storage options, so the workers reach the bucket with the client's options); the shards' runs then
claim their files in the bucket (:class:`~dgtools.store.RemoteClaims`: a conditional PUT per claim),
so two workers, or two clusters, never send one file twice.  A dead worker's claims there are taken
over once their heartbeat is stale.  Other URLs (``gs://``, ``memory://``...) are refused, as by
:func:`dgtools.transcribe`.

The API key: resolved on the client as :func:`dgtools.transcribe` does (``api_key=``, else
``DEEPGRAM_API_KEY``/``DEEPGRAM_TOKEN`` of the client's environment), it travels to the workers
inside each shard task in a :class:`_SealedCredentials`, whose ``repr`` (in task reprs, logs, the
dashboard, exceptions) never shows it, and which becomes :class:`~dgtools.api.Credentials` on the
worker.  It is in the pickled task bytes: on a cluster beyond one machine, use Dask's TLS
(``security=``) as for any secret sent to workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._extras import require
from ..api import Credentials, RetryPolicy, resolve_credentials
from ..exceptions import ConfigError, NotConfirmedError
from ..options import ListenOptions
from ..store import RemoteStore, Store
from ..store.remote import is_url

if TYPE_CHECKING:
    import distributed

    from ..batch import FileResult, PlanSummary, Run, RunSettings
    from ..batch.plan import Job

__all__ = ["DEFAULT_SHARD_SIZE", "transcribe"]

#: Files per shard (one Dask task each) by default.
DEFAULT_SHARD_SIZE = 64

#: Arguments of :func:`dgtools.transcribe` that a fanned-out run does not take, and why.
_NOT_ON_DASK = {
    "transport": "an httpx transport belongs to one process",
    "temporary_key": "a temporary key is made and deleted by one run",
    "token_ttl": "tokens are renewed by one run",
    "callback": "callback runs return at once: run dgtools.transcribe(callback=...) instead",
    "callback_method": "callback runs return at once: run dgtools.transcribe(callback=...) instead",
    "resubmit_pending": "callback runs return at once: run dgtools.transcribe(callback=...) instead",
    "username": "the old v2 API is not fanned out",
    "password": "the old v2 API is not fanned out",
    "api_version": "the old v2 API is not fanned out",
}

#: FileResult fields a shard's outcome fills in (file_id and source stay the client's).
_OUTCOME = ("status", "key", "request_id", "attempts", "status_code", "err_code", "message", "retryable",
            "advice", "answered")  # fmt: skip


class _SealedCredentials:
    """Credentials on their way to the workers; ``repr`` never shows the secret.

    :class:`~dgtools.api.Credentials` refuse to be pickled; this carries the same three fields
    to a worker and nowhere else (see the module docstring for what that means on a network).

    Examples
    --------
    >>> from dgtools.api import Credentials
    >>> sealed = _SealedCredentials(Credentials("Token", "0123456789abcdef0123456789abcdef01234567", "api_key="))
    >>> sealed
    <credentials Token from api_key=: hidden>
    >>> sealed.open().header() == "Token 0123456789abcdef0123456789abcdef01234567"
    True
    """

    __slots__ = ("_secret", "scheme", "source")

    def __init__(self, credentials: Credentials) -> None:
        self.scheme, self.source = credentials.scheme, credentials.source
        self._secret = credentials.header().split(" ", 1)[1]

    def open(self) -> Credentials:
        """The credentials again, on the worker."""
        return Credentials(self.scheme, self._secret, self.source)

    def __repr__(self) -> str:
        return f"<credentials {self.scheme} from {self.source}: hidden>"

    __str__ = __repr__

    def __getstate__(self) -> tuple[str, str, str]:
        return self.scheme, self.source, self._secret

    def __setstate__(self, state: tuple[str, str, str]) -> None:
        self.scheme, self.source, self._secret = state


@dataclasses.dataclass(frozen=True)
class _Shard:
    """One task's work: the inputs (absolute paths or URLs), and where to find the cluster cap."""

    index: int
    inputs: tuple[str, ...]
    settings: RunSettings
    semaphore: str | None  # None: an offline engine (no project limit to share)

    def __repr__(self) -> str:
        return f"<shard {self.index}: {len(self.inputs)} file(s)>"


@dataclasses.dataclass
class _ShardOutcome:
    """What a shard sends back: one FileResult per input (in its order) and the run's counters."""

    results: list[FileResult]
    retries: int
    rate_limited: int
    stopped: str | None
    warnings: list[str]
    parked_most: int
    realtime_factor: float | None


def transcribe(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    client: distributed.Client | None = None,
    concurrency: int = 50,
    shard_size: int = DEFAULT_SHARD_SIZE,
    store: str | os.PathLike[str] | Store | RemoteStore = "dgtools-store",
    storage_options: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    api_key: str | None = None,
    access_token: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    engine: str = "auto",
    whisper_model: str | None = None,
    budget: float | None = None,
    confirm: Callable[[PlanSummary], bool] | None = None,
    patterns: Sequence[str] = ("*",),
    max_retries: int | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    proxy: str | Literal[False] | None = None,
    allow_insecure: bool = False,
    **options: Any,
) -> Run:
    """Transcribe audio on a Dask cluster, under one concurrency cap for the whole cluster.

    The plan and its cost are made once, here, before anything is sent (``budget=`` is a hard
    cap on the sum of all shards); then the files to send are split into shards of
    ``shard_size``, each transcribed by a Dask task with :func:`dgtools.transcribe`'s machinery
    against one shared store, every request holding a lease of a ``distributed.Semaphore`` of
    ``concurrency`` leases; a 429 on any worker parks a lease, lowering the cap of all of them.
    Results come back as one :class:`~dgtools.Run`, in input order, as a plain run gives them.

    Parameters
    ----------
    source
        As for :func:`dgtools.transcribe`: folders, files, globs, URLs, or a list of them; read
        here to plan, and by the workers to send (paths are made absolute: on a cluster of
        several machines they must name the same files everywhere, e.g. a shared mount).
    client
        The ``distributed.Client`` to submit to; default: the current one (``distributed.get_client()``).
    concurrency
        Most requests in flight on the whole cluster (Deepgram's limit is per project: 50 for
        pre-recorded audio on most plans).  Offline engines have no project limit: there it is
        each shard's concurrency.
    shard_size
        Files per task.  Smaller shards spread better and lose less to a dead worker; larger
        ones plan and open fewer connections.
    store
        The raw-response store: a folder every worker can write (on a ``LocalCluster``, a local
        folder; else a shared filesystem), or an S3 store every worker can reach: its URL
        (``"s3://bucket/prefix"``, with ``storage_options=``) or a :class:`~dgtools.store.RemoteStore`.
    storage_options
        For a store URL: passed to its fsspec filesystem (credentials,
        ``client_kwargs={"endpoint_url": ...}``), here and on every worker; they travel in the
        pickled tasks, as the API key does.
    progress
        Print the plan and its cost on stderr before sending, and a line per finished shard
        (default ``None``: yes; ``False``: nothing).  Workers show no bars.
    api_key, access_token, base_url, region, engine, whisper_model, budget, confirm, patterns,
    max_retries, retry, timeout, proxy, allow_insecure, **options
        As for :func:`dgtools.transcribe`.  ``transport=``, ``client=`` (a DeepgramClient),
        ``temporary_key=``, ``token_ttl=``, ``callback=`` and the old v2 API are not taken here.

    Returns
    -------
    Run
        ``run.tables``, ``run.failures``, ``run.summary()`` as for :func:`dgtools.transcribe`;
        ``run.warnings`` says when 429s lowered the cluster's cap.

    Raises
    ------
    ConfigError
        A bad argument (before anything is planned).
    BudgetError, NotConfirmedError
        The estimate is above ``budget=``, or ``confirm`` said no: nothing was sent.

    Examples
    --------
    >>> from distributed import Client, LocalCluster
    >>> with LocalCluster(n_workers=2) as cluster, Client(cluster) as client:   # doctest: +SKIP
    ...     run = dgtools.dask.transcribe("calls/", client=client, concurrency=50, store="store/",
    ...                                   model="nova-3", budget=20.0)
    >>> run.failures                                                             # doctest: +SKIP

    Into a bucket, from workers that share no disk (the audio must still be readable by them):

    >>> run = dgtools.dask.transcribe("/mnt/shared/calls/", client=client, store="s3://bucket/dg",  # doctest: +SKIP
    ...                               storage_options={"profile": "transcribe"}, model="nova-3")
    """
    from .._aio import run_sync
    from ..batch.settings import RunSettings, engine_choice, retry_policy

    require("distributed", extra="dask", feature="dgtools.dask.transcribe")
    for name in _NOT_ON_DASK:
        if name in options:
            raise ConfigError(
                f"dgtools.dask.transcribe does not take {name}= ({_NOT_ON_DASK[name]}); leave it out"
            )
    for name, value in (("concurrency", concurrency), ("shard_size", shard_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name}={value!r} must be a positive integer")
    if progress is not None and not isinstance(progress, bool):
        raise ConfigError(f"progress={progress!r} must be True, False or None")
    chosen, why = engine_choice(engine, api_key=api_key, access_token=access_token, base_url=base_url)
    credentials, missing = None, None
    if chosen == "deepgram":
        try:
            credentials = resolve_credentials(api_key, access_token)
        except ConfigError as exc:  # only an error if something has to be sent
            missing = exc
    del api_key, access_token  # from here on only in `credentials`, whose repr never shows it
    settings = RunSettings(
        store=_shared_store(store, storage_options, credentials), concurrency=concurrency, progress=False, base_url=base_url, region=region,
        engine=chosen, engine_reason=why, whisper_model=whisper_model, budget=budget, patterns=patterns,
        retry=retry_policy(max_retries, retry), timeout=timeout, proxy=proxy, allow_insecure=allow_insecure,
        options=ListenOptions.from_kwargs(**options),
    )  # fmt: skip
    dask_client = client if client is not None else _current_client()
    if chosen == "local":
        _check_not_daemonic(dask_client)
    started = time.perf_counter()
    planned = run_sync(_plan(source, settings, credentials))
    result, jobs, to_send = planned
    assert result.plan is not None
    if progress is not False:
        print(f"{result.plan}", file=sys.stderr, flush=True)
    if confirm is not None and to_send and not confirm(result.plan):
        raise NotConfirmedError(f"nothing was sent: {result.estimate} was not confirmed")
    if to_send and missing is not None:
        raise missing
    if to_send:
        _fan_out(dask_client, to_send, settings, credentials, result, shard_size, progress is not False)
    _finish(result, jobs, source, settings)
    result.elapsed = time.perf_counter() - started
    return result


def _shared_store(
    store: str | os.PathLike[str] | Store | RemoteStore,
    storage_options: Mapping[str, Any] | None,
    credentials: Credentials | None,
) -> str | RemoteStore:
    """What the shards share: a local store's absolute path, or the S3 store opened here (checked once)."""
    from ..batch.runner import _open

    if isinstance(store, RemoteStore) or (is_url(store) and not str(store).startswith("file://")):
        remote = _open(store, storage_options, credentials, callback=False)
        assert isinstance(remote, RemoteStore)
        return remote
    if storage_options:
        raise ConfigError(
            "storage_options= go with a store URL such as s3://bucket/prefix; this store is a local folder"
        )
    local = store[len("file://") :] if isinstance(store, str) and store.startswith("file://") else store
    return str(Path(local.root if isinstance(local, Store) else local).absolute())


def _current_client() -> distributed.Client:
    dist: Any = require("distributed", extra="dask", feature="dgtools.dask.transcribe")
    try:
        client: distributed.Client = dist.get_client()
        return client
    except ValueError:
        raise ConfigError(
            "dgtools.dask.transcribe found no Dask client: pass client=distributed.Client(...), "
            "or create one first (distributed.Client() starts a LocalCluster)"
        ) from None


def _daemonic() -> bool:
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)


def _check_not_daemonic(dask_client: distributed.Client) -> None:
    """engine='local' starts decoder processes: a daemonic worker process may not (Dask's default)."""
    run: Any = dask_client.run
    if any(run(_daemonic).values()):
        raise ConfigError(
            "engine='local' starts decoder processes in each worker, and this cluster's workers are "
            "daemonic processes, which may not start any: start the cluster under "
            "dask.config.set({'distributed.worker.daemon': False}), or use engine='whisper' or Deepgram"
        )


async def _plan(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    settings: RunSettings,
    credentials: Credentials | None,
) -> tuple[Run, list[Job], list[Job]]:
    """Collect, hash, probe and cost every input once, as a plain run does before it sends."""
    from ..audio import collect
    from ..batch import Run
    from ..batch.plan import plan, summarize
    from ..batch.runner import _check_budget, _skipped_row
    from ..pricing import estimate_cost
    from ..store import store_digest

    st = (
        settings.store
        if isinstance(settings.store, RemoteStore)
        else Store(settings.store, secrets=credentials.secrets if credentials else ())  # type: ignore[arg-type]
    )
    st.clean()
    found, skipped = collect(source, patterns=settings.patterns)
    results = [_skipped_row(s) for s in skipped]
    opts = settings.options
    jobs = await plan(found, st, store_digest(opts, settings.engine_key), results)
    to_send = [j for j in jobs if j.primary and not j.stored]
    estimate = estimate_cost(
        [j.duration for j in to_send],
        sizes=[j.audio.size for j in to_send],
        model=opts.model,
        free=settings.engine != "deepgram",
    )
    _check_budget(settings.budget, estimate, to_send)  # the whole cluster's spend: a hard cap
    summary = summarize(
        settings.engine,
        settings.engine_reason,
        jobs,
        estimate,
        skipped=sum(r.status in ("skipped", "failed") for r in results),
        ignored=sum(r.status == "ignored" for r in results),
    )
    run = Run(results=results, store=st, options=opts, estimate=estimate, engine=settings.engine,
              engine_reason=settings.engine_reason, plan=summary)  # fmt: skip
    where = st.url if isinstance(st, RemoteStore) else st.root
    run.warnings += [f"{where}/{p}: that line is skipped" for p in st.index_problems()]
    return run, jobs, to_send


def _fan_out(
    dask_client: distributed.Client,
    to_send: list[Job],
    settings: RunSettings,
    credentials: Credentials | None,
    result: Run,
    shard_size: int,
    show: bool,
) -> None:
    """Submit one task per shard, wait for all of them, and copy their outcomes into ``result``."""
    dist: Any = require("distributed", extra="dask", feature="dgtools.dask.transcribe")
    token = uuid.uuid4().hex[:12]
    name = f"dgtools-tx-{token}" if settings.engine == "deepgram" else None
    sems = []
    if name is not None:  # created here, so that it exists (with its cap) before any task asks for it
        assert settings.concurrency is not None
        cap = settings.concurrency
        where = {"scheduler_rpc": dask_client.scheduler, "loop": dask_client.loop}
        sems = [
            dist.Semaphore(max_leases=cap, name=name, **where),
            dist.Semaphore(max_leases=max(1, cap - 1), name=f"{name}-parked", **where),
        ]
        for sem in sems:
            sem.register()
    shard_settings = dataclasses.replace(settings, budget=None, progress=False)
    sealed = _SealedCredentials(credentials) if credentials is not None else None
    shards = [
        _Shard(i, tuple(_input(j) for j in to_send[lo : lo + shard_size]), shard_settings, name)
        for i, lo in enumerate(range(0, len(to_send), shard_size))
    ]
    submit: Any = dask_client.submit
    futures: dict[Any, _Shard] = {
        submit(_run_shard, shard, sealed, key=f"dgtools-shard-{token}-{shard.index}", pure=False): shard
        for shard in shards
    }
    outcomes: dict[int, _ShardOutcome | BaseException] = {}
    try:
        for done, (i, outcome) in enumerate(_gather(dist.as_completed(futures)), 1):
            outcomes[i] = outcome
            if show:
                print(f"shard {i} done ({done}/{len(shards)})", file=sys.stderr, flush=True)
    finally:
        interrupted = len(outcomes) < len(shards)
        for fut in futures:
            fut.cancel()  # shards not started never start; running ones stop at their next lease
        for sem in sems:  # a dead worker's leases expire by themselves: then the semaphore is left be
            if interrupted or sem.get_value() == 0:
                with contextlib.suppress(Exception):  # closing with leases held warns: best effort
                    sem.close()
    parked = 0
    for shard in shards:
        outcome = outcomes[shard.index]
        jobs = to_send[shard.index * shard_size : (shard.index + 1) * shard_size]
        if isinstance(outcome, BaseException):
            _shard_failed(jobs, result.store, outcome)
            continue
        for job, r in zip(jobs, outcome.results, strict=True):
            for field in _OUTCOME:
                setattr(job.result, field, getattr(r, field))
        result.retries += outcome.retries
        result.rate_limited += outcome.rate_limited
        result.stopped = result.stopped or outcome.stopped
        result.warnings += outcome.warnings
        parked += outcome.parked_most
        if outcome.realtime_factor is not None:
            result.realtime_factor = outcome.realtime_factor
    if parked:
        assert settings.concurrency is not None
        most = min(parked, settings.concurrency - 1)  # the parking semaphore holds at most cap - 1
        result.warnings.append(
            f"Deepgram answered 429 to {result.rate_limited} request(s): the workers held back up to "
            f"{most} of the cluster's {settings.concurrency} concurrent requests while it lasted; "
            "lower concurrency= if the project allows fewer"
        )


def _gather(completed: Any) -> Iterable[tuple[int, _ShardOutcome | BaseException]]:
    """``(shard index, outcome)`` as shards finish; a shard Dask gave up on (KilledWorker...) as its error."""
    for fut in completed:
        index = int(fut.key.rsplit("-", 1)[1])
        try:
            yield index, fut.result()
        except Exception as exc:  # one shard's failure is its files' failure rows, not the run's
            yield index, exc


def _shard_failed(jobs: list[Job], st: Store | RemoteStore, exc: BaseException) -> None:
    """The files of a shard whose task failed: those it stored are transcribed, the rest failed rows."""
    why = f"{type(exc).__name__}: {exc}".splitlines()[0]
    for job in jobs:
        r = job.result
        r.key = job.key
        if st.has(job.key):
            r.status, r.message = "transcribed", None
            continue
        r.status, r.retryable = "failed", True
        r.message = f"{r.source}: its shard's Dask task failed ({why})"
        r.advice = "rerun the same call: files already stored are not sent again"


def _input(job: Job) -> str:
    """What a worker is given for a job: the URL, or the file's absolute path."""
    a = job.audio
    if a.url is not None:
        return a.url
    assert a.path is not None
    return os.path.abspath(a.path)


def _run_shard(shard: _Shard, sealed: _SealedCredentials | None) -> _ShardOutcome:
    """The Dask task: the ordinary batch run of one shard, every request under the cluster cap."""
    from .._aio import run_sync

    return run_sync(_arun_shard(shard, sealed))


async def _arun_shard(shard: _Shard, sealed: _SealedCredentials | None) -> _ShardOutcome:
    from ..batch.runner import run
    from ._leases import LeasedClient, WorkerLeases

    s = shard.settings
    if shard.semaphore is None:  # an offline engine: nothing to share but the store
        done = await run(list(shard.inputs), s)
        return _outcome(done, shard, 0)
    assert s.concurrency is not None and sealed is not None
    leases = WorkerLeases(shard.semaphore, cap=s.concurrency)
    try:
        client = LeasedClient(
            leases=leases, credentials=sealed.open(), base_url=s.base_url, region=s.region,
            max_connections=s.cap, timeout=s.timeout, proxy=s.proxy, allow_insecure=s.allow_insecure,
        )  # fmt: skip
        async with client:
            done = await run(list(shard.inputs), s, client=client)
    finally:
        await leases.aclose()
    return _outcome(done, shard, leases.parked_most)


def _outcome(done: Run, shard: _Shard, parked_most: int) -> _ShardOutcome:
    """The shard's results in the order of its inputs (one each: every input is a planned file)."""
    by_input = {r.source: r for r in done.results}
    results = [by_input.get(x) or done.results[i] for i, x in enumerate(shard.inputs)]
    return _ShardOutcome(results, done.retries, done.rate_limited, done.stopped, done.warnings,
                         parked_most, done.realtime_factor)  # fmt: skip


def _finish(
    result: Run,
    jobs: list[Job],
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    settings: RunSettings,
) -> None:
    """Duplicates take their twin's outcome; every stored file is indexed under the client's file_id."""
    from ..batch.plan import input_order
    from ..store import index

    for j in jobs:
        j.finish()
    st = result.store
    indexed = {(e.get("key"), e.get("file_id")) for e in st.entries()}
    canonical = settings.options.canonical()
    new = []
    for j in jobs:
        r = j.result
        if r.ok and r.key and (r.key, r.file_id) not in indexed:  # a shard indexed it under its own name
            indexed.add((r.key, r.file_id))
            new.append(index.entry(key=r.key, source=r.source, file_id=r.file_id, options=canonical,
                                   status=r.status, request_id=r.request_id))  # fmt: skip
    st.record_many(new)
    result.results.sort(key=input_order(source))
