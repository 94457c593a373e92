"""The public entry points of a transcription run: :func:`transcribe` and :func:`atranscribe`.

For every input (a file, a folder, a glob, a URL, or a list of them) a run:

1. finds the audio (:func:`dgtools.audio.collect`); non-audio files become failure rows, never
   exceptions;
2. plans (:mod:`dgtools.batch.plan`): hashes it, so that the same audio twice is sent once and a
   rerun skips what the store already holds: no second request, no second charge;
3. estimates the cost from locally probed durations and refuses to start above ``budget=``;
4. sends the rest (:mod:`dgtools.batch.send`) through Deepgram's API or the embedded engine,
   with bounded concurrency, retries and backoff, each answer made durable in the store as it
   arrives, so an interrupted run (Ctrl-C, SIGTERM, SIGKILL) loses nothing that completed.

The result is a :class:`~dgtools.batch.run.Run`: ``run.tables`` (built from the store for exactly
these inputs), ``run.failures`` (with advice), ``run.summary()``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .._aio import sync_twin
from ..api import Credentials, DeepgramClient, RetryPolicy, resolve_credentials
from ..audio import Skipped, collect
from ..exceptions import BudgetError, ConfigError, NotConfirmedError
from ..options import ListenOptions
from ..pricing import CostEstimate, estimate_cost
from ..store import Claims, Owner, RemoteClaims, RemoteStore, Store, index, open_store, store_digest
from . import callbacks
from .credentials import check_minting, mint
from .plan import Job, input_order, plan, summarize
from .run import FileResult, PlanSummary, Run
from .send import Sender, SendLoop
from .settings import RunSettings, engine_choice, retry_policy

if TYPE_CHECKING:
    import httpx

__all__ = ["atranscribe", "run", "transcribe"]

_TRANSCRIBE_DOC = """Transcribe audio files (or URLs) with Deepgram, concurrently, resumably.

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
    options.  An ``s3://bucket/prefix`` URL (or a :class:`~dgtools.store.RemoteStore`)
    stores the answers in S3: each written once by a conditional PUT, and
    runs on other machines claim files there too, so none is paid twice
    (not with ``callback=``; no free-space check, the bucket has none).
storage_options
    With a URL ``store``: passed to the filesystem (credentials,
    ``client_kwargs={"endpoint_url": ...}``).
concurrency
    Most requests in flight; default from Deepgram's per-project limits
    for these options (50; 25 with diarize in EU/AU; 10 with summarize,
    topics, intents or sentiment; 5 with detect_entities).
progress
    Show a progress bar: ``None`` (default) where one can be drawn (a terminal or notebook), else
    a line on stderr every 10 seconds (CI logs, ``nohup``, output redirected to a file); a number:
    the same, a line every that many seconds; ``True``: always a bar; ``False``: nothing.
api_key, access_token, base_url, region
    Credentials and endpoint (see :mod:`dgtools.api.client`).
username, password, api_version
    The old v2 API (``https://brain.deepgram.com/v2``): ``api_version="v2"``, or a ``base_url``
    ending in ``/v2``, sends ``POST /v2/listen`` with HTTP Basic auth of ``username=`` and
    ``password=`` (default: ``DEEPGRAM_USERNAME`` and ``DEEPGRAM_PASSWORD``).  Its answers are
    stored apart from v1's and read by the same tables.
engine
    ``"auto"`` (default: Deepgram when a key or token is set or a server is named with
    ``base_url=``, else the best offline engine installed: Whisper with the ``whisper`` extra and
    packaged weights, else pocketsphinx; ``run.engine_reason`` says which and why), ``"deepgram"``
    (the API), ``"whisper"`` (faster-whisper on this machine, free, no key: far more accurate than
    pocketsphinx, one file at a time on every core) or ``"local"`` (pocketsphinx in worker
    processes, free, no key).
whisper_model
    For ``engine="whisper"``: a model name (``"base"``, ``"tiny.en"``: the packaged weights, see
    :mod:`dgtools.engines.whisper.models`) or a CTranslate2 model directory; default
    ``DGTOOLS_WHISPER_MODEL``, else the best packaged model installed.  The store keeps each
    model's answers apart.
budget
    Refuse to start (:class:`~dgtools.BudgetError`) when the estimated cost
    in dollars is above this.
patterns
    Filename patterns to consider in folders (``("*.wav", "*.mp3")``).
max_retries
    Retries per file for 408, 429, 5xx and transport errors (default 6).
retry
    A :class:`dgtools.api.RetryPolicy`: retries, backoff base and ceiling, the longest
    ``Retry-After`` to wait for (``max_retries`` is its shortcut).
timeout
    Seconds one request may take in all (upload and answer); default: scaled to each file's size
    and duration (see :class:`dgtools.DeepgramClient`).
proxy
    An http(s) proxy URL for every request; default: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``
    from the environment; ``False``: none.
allow_insecure
    Allow a plain ``http://`` ``base_url`` on a host other than this machine (the key then
    travels in clear).
transport
    An ``httpx.AsyncBaseTransport`` (tests: ``httpx.MockTransport``).
client
    A :class:`~dgtools.DeepgramClient` to send through (its credentials and endpoint win);
    with :func:`atranscribe` only, as a client belongs to one event loop.
confirm
    Called with the :class:`~dgtools.batch.PlanSummary` (files to send, already stored,
    minutes, cost) after planning and before anything is sent; returning False raises
    :class:`~dgtools.NotConfirmedError` and nothing is sent (the command line asks in a
    terminal above ``--confirm-above``).
temporary_key
    ``True``: send with a new API key of scope ``usage:write``, created just before the first
    request from the API key given (``api_key=`` or ``DEEPGRAM_API_KEY``, which needs ``keys:write``)
    and deleted when the run ends, also when it fails, stops or is interrupted (if deleting fails,
    one warning names the key's id).  It expires by itself a little after the planned run (the audio
    to send spread over the concurrency, plus 15 minutes); a number sets that lifetime in seconds.
    Deepgram engine only.  Its secret is never shown, logged or stored.
token_ttl
    Send with temporary tokens (``Authorization: Bearer``) living this many seconds, granted from
    the API key given (which needs the ``member`` scope) and renewed at half their life, so a batch
    may last longer than a token.  A token passed as ``access_token=`` cannot be renewed: when it
    expires partway, the run stops with a message saying so.  Not with ``temporary_key=``.
callback, callback_method
    Callback mode: ``callback="https://..."`` sends every file with Deepgram's ``callback=`` and
    returns at once; Deepgram POSTs (``callback_method="put"``: PUTs) each transcript to the URL
    later.  Each accepted request_id is recorded as pending in the store (``run.pending`` lists
    them); :func:`dgtools.collect_callbacks` (``dgtools receive``) receives and stores them.  The URL
    must be public HTTPS: Deepgram calls nothing else (plain ``http://`` only on this machine, with
    the local server).  Real-time streams have no callback: only the socket.
resubmit_pending
    With ``callback=``: send again files whose earlier submission is still pending (default: they
    are left out, not paid for twice).
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


async def atranscribe(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    store: str | os.PathLike[str] | Store | RemoteStore = "dgtools-store",
    storage_options: Mapping[str, Any] | None = None,
    concurrency: int | None = None,
    progress: bool | float | None = None,
    api_key: str | None = None,
    access_token: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    username: str | None = None,
    password: str | None = None,
    api_version: str | None = None,
    engine: str = "auto",
    budget: float | None = None,
    patterns: Sequence[str] = ("*",),
    max_retries: int | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    proxy: str | Literal[False] | None = None,
    allow_insecure: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    client: DeepgramClient | None = None,
    confirm: Callable[[PlanSummary], bool] | None = None,
    whisper_model: str | None = None,
    temporary_key: bool | float = False,
    token_ttl: float | None = None,
    callback: str | None = None,
    callback_method: str = "post",
    resubmit_pending: bool = False,
    **options: Any,
) -> Run:
    """The async twin of :func:`transcribe`: the same parameters; ``await`` it in a running event loop.

    Examples
    --------
    >>> run = await dgtools.atranscribe("calls/", model="nova-3", diarize=True)   # doctest: +SKIP
    """
    if client is not None and engine == "auto":
        engine = "deepgram"
    hook = _callback_spec(callback, callback_method, options, engine=engine, base_url=base_url)
    chosen, why = engine_choice(
        engine,
        api_key=api_key,
        access_token=access_token,
        base_url=base_url,
        username=username,
        api_version=api_version,
    )
    check_minting(temporary_key, token_ttl, engine=chosen, client=client)
    if hook is not None and (temporary_key or token_ttl is not None):
        raise ConfigError(
            "callback= with temporary_key= or token_ttl=: a callback run returns before its transcripts "
            "arrive, so a key or token made for the run would be gone when Deepgram calls back; "
            "leave one of them out"
        )
    if hook is not None and chosen != "deepgram":
        raise ConfigError(f"callback= needs Deepgram or the local server, and this run would use {why}; "
                          "set DEEPGRAM_API_KEY (or api_key=), or base_url= for the local server")  # fmt: skip
    settings = RunSettings(
        store=store,
        concurrency=concurrency,
        progress=progress,
        base_url=base_url,
        region=region,
        engine=chosen,
        engine_reason=why,
        whisper_model=whisper_model,
        budget=budget,
        patterns=patterns,
        retry=retry_policy(max_retries, retry),
        timeout=timeout,
        proxy=proxy,
        allow_insecure=allow_insecure,
        options=ListenOptions.from_kwargs(**options),
        api_version=api_version,
    )
    credentials = None
    if client is None and settings.engine == "deepgram" and (api_key or access_token or username or password):
        credentials = resolve_credentials(
            api_key, access_token, username=username, password=password, basic=settings.api_version == "v2"
        )
    del api_key, access_token, password  # from here on only in `credentials`, whose repr never shows it
    return await run(
        source, settings, credentials=credentials, transport=transport, client=client, confirm=confirm,
        temporary_key=temporary_key, token_ttl=token_ttl, callback=hook, resubmit_pending=resubmit_pending,
        storage_options=storage_options,
    )  # fmt: skip


transcribe = sync_twin(atranscribe, name="transcribe", doc=_TRANSCRIBE_DOC)


async def run(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    settings: RunSettings,
    *,
    credentials: Credentials | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    client: DeepgramClient | None = None,
    confirm: Callable[[PlanSummary], bool] | None = None,
    temporary_key: bool | float = False,
    token_ttl: float | None = None,
    callback: tuple[str, str] | None = None,
    resubmit_pending: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> Run:
    """Run a transcription of ``source`` with validated ``settings`` (what :func:`atranscribe` does).

    Without ``credentials`` (or a ``client``) they come from the environment
    (``DEEPGRAM_API_KEY``, ``DEEPGRAM_TOKEN``), and are needed only when something has to be sent
    to Deepgram: a rerun that finds everything in the store needs no key.
    """
    started = time.perf_counter()
    creds: Credentials | None = client.credentials if client is not None else credentials
    missing_creds: ConfigError | None = None
    if creds is None and settings.engine == "deepgram":
        try:
            creds = resolve_credentials(basic=settings.api_version == "v2")
        except ConfigError as exc:  # only an error if something has to be sent
            missing_creds = exc
    st = _open(settings.store, storage_options, creds, callback=callback is not None)
    opts = settings.options

    st.clean()  # temp files a killed run left behind
    found, skipped = collect(source, patterns=settings.patterns)
    results = [_skipped_row(s) for s in skipped]
    jobs = await plan(found, st, store_digest(opts, settings.engine_key), results)
    to_send = [j for j in jobs if j.primary and not j.stored]
    if callback is not None:
        assert isinstance(st, Store)  # _open refuses a remote store with callback=
        to_send = callbacks.hold_pending(to_send, st, resubmit=resubmit_pending)
    estimate = estimate_cost(
        [j.duration for j in to_send],
        sizes=[j.audio.size for j in to_send],
        model=opts.model,
        free=settings.engine != "deepgram",
    )
    _check_budget(settings.budget, estimate, to_send)
    summary = summarize(
        settings.engine,
        settings.engine_reason,
        jobs,
        estimate,
        skipped=sum(r.status in ("skipped", "failed") for r in results),
        ignored=sum(r.status == "ignored" for r in results),
    )
    if confirm is not None and to_send and not confirm(summary):
        raise NotConfirmedError(f"nothing was sent: {estimate} was not confirmed")
    result = Run(
        results=results,
        store=st,
        options=opts,
        estimate=estimate,
        engine=settings.engine,
        engine_reason=settings.engine_reason,
        plan=summary,
    )
    where = str(st.root) if isinstance(st, Store) else st.url
    result.warnings += [f"{where}/{p}: that line is skipped" for p in st.index_problems()]
    if to_send and callback is not None:
        assert isinstance(st, Store)
        if missing_creds is not None:
            raise missing_creds
        sender = _sender(settings, creds, transport, client)
        try:
            await callbacks.submit(
                to_send, store=st, sender=sender, options=opts, callback=callback[0], method=callback[1],
                run=result, cap=settings.cap, retry=settings.retry,
            )  # fmt: skip
        finally:
            if sender is not client:
                await sender.aclose()
    elif to_send:
        if missing_creds is not None:
            raise missing_creds
        with Claims(st) if isinstance(st, Store) else RemoteClaims(st) as claims:
            owners = claims.take([j.key for j in to_send])  # another live run's files are not sent twice
            minted = await mint(settings, creds, to_send, temporary_key=temporary_key, token_ttl=token_ttl)
            sender = _sender(settings, minted.credentials if minted else creds, transport, client)
            loop = SendLoop(
                sender,
                st,
                opts,
                result,
                cap=settings.cap,
                start=settings.start,
                retry=settings.retry,
                progress=settings.progress,
                claims=claims,
                credentials=minted.credentials if minted else creds,
            )
            beat = asyncio.ensure_future(_heartbeat(claims))
            try:
                mine = [j for j in to_send if owners[j.key] is None]
                if mine:
                    await loop.drive(mine)
                theirs = {j.key: (j, owner) for j in to_send if (owner := owners[j.key]) is not None}
                if theirs:
                    await _wait_for_other_runs(loop, claims, theirs)
            finally:
                beat.cancel()
                try:
                    if sender is not client:
                        await sender.aclose()
                finally:
                    if minted is not None:  # the temporary key is deleted, token renewal stops
                        await minted.aclose(result)
                result.realtime_factor = getattr(sender, "realtime_factor", None)
    for j in jobs:
        j.finish()
    _index_known(st, jobs, opts.canonical())
    results.sort(key=input_order(source))
    result.elapsed = time.perf_counter() - started
    return result


def _callback_spec(
    callback: str | None, method: str, options: dict[str, Any], *, engine: str, base_url: str | None
) -> tuple[str, str] | None:
    """``(url, METHOD)`` of a callback run, checked; None without one.

    ``callback=`` given among the listen options counts too: it is taken out of them, so that the
    store key is the one a run without callback uses.
    """
    callback = callback or options.pop("callback", None)
    method = options.pop("callback_method", None) or method
    if callback is None:
        return None
    if engine not in ("auto", "deepgram"):
        raise ConfigError(
            f"callback= needs Deepgram or the local server (engine={engine!r} answers at once and never "
            "calls back); leave callback= out, or use engine='deepgram'"
        )
    return callback, callbacks.check_callback_url(callback, method, base_url=base_url)


async def _heartbeat(claims: Claims | RemoteClaims) -> None:
    """Tell other runs this one is alive, for as long as it runs."""
    while True:
        if isinstance(claims, RemoteClaims):  # a PUT: off the event loop
            await asyncio.to_thread(claims.heartbeat)
        else:
            claims.heartbeat()
        await asyncio.sleep(min(5.0, claims.stale_after / 4))


async def _wait_for_other_runs(
    loop: SendLoop, claims: Claims | RemoteClaims, theirs: dict[str, tuple[Job, Owner]]
) -> None:
    """Files another live run was sending: wait until it stores them, or take over those it gives up."""
    remote = isinstance(claims, RemoteClaims)  # its look-ups are requests: off the event loop, once a second

    def look() -> tuple[set[str], dict[str, Owner | None]]:
        stored = {key for key in theirs if loop.store.has(key)}
        rest = [key for key in theirs if key not in stored]
        return stored, claims.take(rest) if rest else {}  # one pass: ours if it stopped

    while theirs and not loop.stop.is_set():
        stored, owners = await asyncio.to_thread(look) if remote else look()
        for key in stored:
            job, owner = theirs.pop(key)
            job.result.status = "stored"
            job.result.message = f"transcribed by another run ({owner}) while this one waited: not sent again"
        takeover = [theirs.pop(key)[0] for key, owner in owners.items() if owner is None and key in theirs]
        if takeover:
            await loop.drive(takeover)
        if theirs:
            await asyncio.sleep(1.0 if remote else 0.25)
    for job, owner in theirs.values():  # dispatching stopped (a 402, a full disk ...)
        job.result.status = "not sent"
        job.result.message = (
            f"not sent: another run ({owner}) had it, and this run stopped: {loop.run.stopped}"
        )


def _skipped_row(s: Skipped) -> FileResult:
    status = "ignored" if s.kind == "ignored" else "skipped"
    message = f"{s.reason}: left out" if s.kind == "ignored" else s.reason
    return FileResult(s.source, s.file_id, status, message=message, advice=s.advice, retryable=False)


def _check_budget(budget: float | None, estimate: CostEstimate, to_send: list[Job]) -> None:
    """Refuse to start when the estimate is above ``budget=``, or cannot be relied on for it."""
    if budget is None or estimate.dollars is None:
        return
    if not estimate.exact:
        local = [j.audio.source for j in to_send if j.duration is None and j.audio.url is None]
        urls = [j.audio.source for j in to_send if j.audio.url is not None]
        why, fix = [], []
        if local:
            why.append(f"the duration of {len(local)} file(s) cannot be read ({_some(local)})")
            fix.append("install ffmpeg (their durations can then be read) or convert them (e.g. to .flac)")
        if urls:
            why.append(
                f"{len(urls)} URL(s) are fetched by Deepgram, so their length is not known here ({_some(urls)})"
            )
            fix.append("download them and pass the files")
        raise BudgetError(
            f"budget={budget} is a hard cap, but {' and '.join(why)}, so what they cost is not known; "
            f"nothing was sent. {'; '.join(fix).capitalize()}, or leave budget= out"
        )
    if estimate.dollars > budget:
        raise BudgetError(
            f"estimated cost {estimate} is above budget={budget}; nothing was sent. "
            "Raise budget=, send fewer files, or pick a cheaper model"
        )


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _sender(
    settings: RunSettings,
    creds: Credentials | None,
    transport: httpx.AsyncBaseTransport | None,
    client: DeepgramClient | None,
) -> Sender:
    if settings.engine == "local":
        from ..engines.local import LocalSender

        return LocalSender(workers=settings.cap)
    if settings.engine == "whisper":
        from .._extras import require

        require("faster_whisper", extra="whisper", feature="engine='whisper'", package="faster-whisper")
        from ..engines.whisper import WhisperSender

        return WhisperSender(model=settings.whisper_model)
    if client is not None:
        return client
    return DeepgramClient(
        credentials=creds,
        base_url=settings.base_url,
        region=settings.region,
        api_version=settings.api_version,
        transport=transport,
        max_connections=settings.cap,
        timeout=settings.timeout,
        proxy=settings.proxy,
        allow_insecure=settings.allow_insecure,
    )


def _open(
    store: str | os.PathLike[str] | Store | RemoteStore,
    storage_options: Mapping[str, Any] | None,
    creds: Credentials | None,
    *,
    callback: bool,
) -> Store | RemoteStore:
    """The run's store: a folder or a URL opened, with the key as a secret it must never hold."""
    if isinstance(store, (Store, RemoteStore)):
        if storage_options:
            raise ConfigError("storage_options= go with a store URL; this store object has its own")
        st = store
    else:
        st = open_store(store, storage_options=storage_options, secrets=creds.secrets if creds else ())
    if isinstance(st, RemoteStore):
        if st.protocol not in ("s3", "s3a"):
            raise ConfigError(
                f"store={st.url}: only an s3:// store has the conditional writes that keep two runs from "
                "paying for one file twice; transcribe to a local folder (or s3://), then copy the store"
            )
        if callback:
            raise ConfigError(
                f"callback= records pending requests in a local store, and store={st.url} is remote; "
                "use a local store folder with callback=, or leave callback= out"
            )
    return st


def _index_known(st: Store | RemoteStore, jobs: list[Job], canonical: str) -> None:
    """Index every file found in the store or duplicated in this run under its file_id: once, not on every rerun."""
    known = [j for j in jobs if j.result.status in ("stored", "duplicate")]
    if not known:
        return
    indexed = {(e.get("key"), e.get("file_id") or e.get("source")) for e in st.entries()}
    new = []
    for j in known:
        r = j.result
        if (j.key, r.file_id) not in indexed:
            indexed.add((j.key, r.file_id))
            new.append(index.entry(key=j.key, source=r.source, file_id=r.file_id, options=canonical,
                                   status=r.status, request_id=r.request_id))  # fmt: skip
    st.record_many(new)
