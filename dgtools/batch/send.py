"""The send loop: every planned file through a :class:`Sender`, with bounded concurrency and retries.

A fixed pool of workers (twice the concurrency: a worker holds its answer until the store
writer's next group commit makes it durable, and meanwhile another keeps its slot busy) pulls
jobs from one queue.  Each job is one file:

1. wait for a slot of the :class:`~dgtools.batch.limiter.AIMDLimiter` (lowered on 429);
2. send it; a transient failure (408, 429, 5xx, transport) is retried after the
   :class:`~dgtools.api.retry.RetryPolicy`'s delay (``Retry-After`` honoured), a permanent one
   becomes its failure row;
3. hand the answer to the :class:`~dgtools.store.StoreWriter`, which returns once it is durable
   and indexed: only then does the file count as transcribed.

Some failures are the same for every file, so the first one stops dispatching new files (those in
flight finish, the rest are listed as "not sent" with the reason): a 402 (out of credits), a 401
or 403 (the key or the project is wrong for all of them), and a store that cannot keep an answer
(a full disk, a read-only folder): every further answer would be paid for and thrown away.

Nothing raises partway: every job ends with its :class:`~dgtools.batch.run.FileResult` filled in.
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..exceptions import (
    AuthenticationError,
    BadRequestError,
    BadResponseError,
    ConfigError,
    DeepgramAPIError,
    DGToolsError,
    PaymentRequiredError,
    RateLimitError,
    ResponseFormatError,
    TransportError,
)
from ..store import IndexWriteError, Store, StoreWriter, index
from ..tables import ResponseInfo, validate_response
from .credentials import TOKEN_ADVICE, expired_token
from .limiter import AIMDLimiter, Slot

if TYPE_CHECKING:
    from ..api import Credentials, ListenResult, RetryPolicy
    from ..options import ListenOptions
    from ..store import Claims, RemoteClaims, RemoteStore
    from .plan import Job
    from .run import FileResult, Run

__all__ = ["LOG_EVERY", "SendLoop", "Sender"]

#: Seconds between the progress lines of a run nobody watches a bar of (``progress=None``, no terminal).
LOG_EVERY = 10.0


class Sender(Protocol):
    """What the send loop sends through: :class:`dgtools.DeepgramClient`, or an offline engine's sender.

    :class:`dgtools.engines.local.LocalSender` decodes with the embedded engine in worker
    processes and answers with the JSON Deepgram would send.
    """

    async def transcribe_file(
        self,
        path: str | os.PathLike[str],
        options: ListenOptions,
        *,
        content_type: str | None = None,
        source: str | None = None,
        duration: float | None = None,
        spool: Callable[[], Path] | None = None,
    ) -> ListenResult:
        """Send one audio file; return the answer (its body, or the file ``spool`` gave), or raise a DGToolsError.

        ``duration`` (the probed length) scales the request's deadline; ``sent_sha256`` of the
        result is the sha256 of exactly the bytes sent.
        """
        ...

    async def transcribe_url(
        self,
        url: str,
        options: ListenOptions,
        *,
        source: str | None = None,
        duration: float | None = None,
        spool: Callable[[], Path] | None = None,
    ) -> ListenResult:
        """Have one URL fetched and transcribed."""
        ...

    async def aclose(self) -> None:
        """Release connections or worker processes."""
        ...


class SendLoop:
    """Sends jobs through a :class:`Sender` for one run: ``await SendLoop(...).drive(jobs)``.

    Parameters
    ----------
    sender
        What to send through.
    store
        Where answers go (through a :class:`~dgtools.store.StoreWriter`): a local
        :class:`~dgtools.store.Store`, or a :class:`~dgtools.store.RemoteStore` (answers are then
        kept in memory, never spooled, and no free space is reported: a bucket has none to check).
    options
        The validated ``/v1/listen`` options of every request.
    run
        The run whose counters (retries, 429s, why dispatching stopped) this loop keeps.
    cap
        Most requests in flight (the :class:`~dgtools.batch.limiter.AIMDLimiter`'s ceiling).
    start
        Requests in flight to start at (default ``cap``); the limiter climbs from there.
    claims
        This run's claims on the store: each job's claim is released once its outcome is known.
    retry
        Which failures are sent again, and after how long.
    progress
        Show a progress bar (None: when attached to a terminal or notebook, else a log line every
        :data:`LOG_EVERY` seconds; a number: every that many seconds).
    """

    def __init__(
        self,
        sender: Sender,
        store: Store | RemoteStore,
        options: ListenOptions,
        run: Run,
        *,
        cap: int,
        retry: RetryPolicy,
        progress: bool | float | None,
        start: int | None = None,
        claims: Claims | RemoteClaims | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.sender, self.store, self.options, self.run = sender, store, options, run
        self.claims = claims
        self.credentials = credentials  # to tell an expired temporary token from a wrong key on 401
        self.cap, self.retry, self.progress = cap, retry, progress
        self.limiter = AIMDLimiter(cap, start=start)
        self.stop = asyncio.Event()
        self.canonical = options.canonical()
        self.bar = _Progress(0, run, False)
        self.writer: StoreWriter | None = None
        self.stop_advice = ""
        self.store_error: OSError | None = None
        self.answer_bytes: list[int] = []  # sizes of the answers received, to say what the rest needs

    async def drive(self, jobs: list[Job]) -> None:
        """Send every job, filling in each job's result; never raises for one file.

        Returns once every answer received is durable and indexed in the store (also when
        cancelled: what was received is still written before the cancellation propagates).
        """
        self.bar = _Progress(len(jobs), self.run, self.progress)
        pending = iter(jobs)

        async def worker() -> None:
            for job in pending:
                await self.one(job)
                if self.claims is None:
                    continue
                if isinstance(self.store, Store):  # stored (durable) or failed: another run may have it now
                    self.claims.release(job.key)
                else:  # a DELETE request: off the event loop
                    await asyncio.to_thread(self.claims.release, job.key)

        self.writer = StoreWriter(self.store)
        tasks = [asyncio.ensure_future(worker()) for _ in range(min(2 * self.cap, len(jobs)))]
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
                    await self.writer.aclose()  # everything handed to the writer is on disk before we return
                finally:
                    self.bar.close()
                    if self.store_error is not None:
                        self.run.stopped = self._store_stop_reason(jobs)
                        for j in jobs:
                            if j.result.status == "not sent":
                                _not_sent(j.result, self.run.stopped, self.stop_advice)

    def halt(self, why: str, advice: str) -> None:
        """Stop dispatching new files (the first reason given wins)."""
        if not self.stop.is_set():
            self.run.stopped, self.stop_advice = why, advice
            self.stop.set()

    def _store_stop_reason(self, jobs: list[Job]) -> str:
        """Why dispatching stopped on a store write error, with how much room the rest needs."""
        assert self.store_error is not None
        rest = [j for j in jobs if not j.result.ok]
        per_answer = max(self.answer_bytes) if self.answer_bytes else 0
        need = per_answer * len(rest)
        free = "free space unknown"
        if isinstance(self.store, Store):  # a bucket has no free space to report
            with contextlib.suppress(OSError):
                free = f"{_size(self.store.free_bytes())} free"
        where = self.store.root if isinstance(self.store, Store) else self.store.url
        err = self.store_error
        what = err.strerror or str(err)
        return (
            f"the store {where} could not keep an answer ({what}); no new files were sent. "
            f"The {len(rest)} file(s) left need about {_size(need)} ({free}): "
            "make room (or move the store), then rerun: only what is missing is sent"
        )

    async def one(self, job: Job) -> None:
        """One file, from its first attempt to its outcome."""
        r = job.result
        if self.claims is not None and await self._stored(job.key):  # since the plan, by a run that let go
            r.status, r.message = "stored", "transcribed by another run meanwhile: not sent again"
            self.bar.done(self.run)
            return
        while True:
            if self.stop.is_set():
                _not_sent(r, self.run.stopped, self.stop_advice)
                return
            slot = await self.limiter.acquire()
            if self.stop.is_set():  # a 402 arrived while this file waited for a slot
                self.limiter.release(slot)
                continue
            try:
                r.attempts += 1
                answer = await self.send(job)
            except (DeepgramAPIError, TransportError, BadResponseError) as exc:
                if await self.failed(r, exc, slot):
                    continue
                return
            except DGToolsError as exc:  # e.g. the local engine cannot decode the file: not retried
                self.limiter.release(slot)
                _undecodable(r, exc)
                self.bar.done(self.run)
                return
            except BaseException:
                self.limiter.release(slot)
                raise
            self.limiter.release(slot)  # no await from the answer to writer.put: a cancel cannot fall between
            bad = await self.keep(job, answer)
            if bad is not None and await self.failed(r, bad, None):
                continue
            return

    async def _stored(self, key: str) -> bool:
        """Whether the store holds ``key`` (a remote store's HEAD request runs off the event loop)."""
        if isinstance(self.store, Store):
            return self.store.has(key)
        return await asyncio.to_thread(self.store.has, key)

    def check(self, job: Job, answer: ListenResult, body: bytes | Path) -> None:
        """Raise :class:`BadResponseError` unless the answer is a whole response for exactly the bytes sent.

        Runs in the store writer's thread, just before the answer would be written (decoding a
        470 KB answer takes about a millisecond, which the event loop spends on other requests).
        A body that is not a whole ``/v1/listen`` response (cut short, malformed, impossible values)
        is sent again once; an answer for other audio than the key's (the file changed while it was
        being sent, or Deepgram's ``metadata.sha256`` differs) is never stored, and not retried.
        """
        r, a = job.result, job.audio
        try:
            info = _validate(body, a.source)
        except ResponseFormatError as exc:
            raise BadResponseError(
                f"{a.source}: Deepgram's answer (request_id={answer.request_id}) is not a whole response: {exc}",
                path=a.source,
                request_id=answer.request_id,
                retryable=r.attempts < 2,
            ) from None
        if a.path is None:  # a URL: Deepgram fetched the audio, its sha256 is not ours to know
            return
        planned = job.key.split("-", 1)[0]
        sent = answer.sent_sha256 or planned
        why = None
        if sent != planned:
            why = f"the file changed while it was being sent (sha256 {planned[:12]}… when planned, {sent[:12]}… sent)"
        elif info.sha256 and info.sha256 != sent:
            why = f"the answer is for other audio (metadata.sha256 {info.sha256[:12]}…, sent {sent[:12]}…)"
        if why is not None:
            raise BadResponseError(
                f"{a.source}: {why}; it is not stored. Rerun to transcribe the file as it is now",
                path=a.source,
                request_id=answer.request_id,
                retryable=False,
            )

    async def send(self, job: Job) -> ListenResult:
        a = job.audio

        st = self.store
        spool: Callable[[], Path] | None = None
        if isinstance(st, Store):

            def spool() -> Path:  # a large answer streams to the store's temp folder instead of memory
                return st.spool_path(job.key)

        if a.url is not None:
            return await self.sender.transcribe_url(a.url, self.options, source=a.source, spool=spool)
        assert a.path is not None
        return await self.sender.transcribe_file(
            a.path,
            self.options,
            content_type=a.content_type,
            source=a.source,
            duration=job.duration,
            spool=spool,
        )

    async def failed(
        self, r: FileResult, exc: DeepgramAPIError | TransportError | BadResponseError, slot: Slot | None
    ) -> bool:
        """Record a failed attempt; True when the file is to be sent again (after waiting)."""
        throttled = isinstance(exc, RateLimitError)
        if throttled:
            self.run.rate_limited += 1
        _fill_failure(r, exc)
        if isinstance(exc, PaymentRequiredError):
            self.halt(
                "the project is out of credits (402); no new files were sent",
                "rerun the same command once the account has credits: only files not yet stored are sent",
            )
        elif (
            isinstance(exc, AuthenticationError)
            and exc.status_code == 401
            and (expired := expired_token(self.credentials))
        ):
            r.message = f"{r.message} ({expired.split(': ', 1)[0]})"
            r.advice = TOKEN_ADVICE
            self.halt(expired, TOKEN_ADVICE)
        elif isinstance(exc, AuthenticationError):  # the same key and options for every file
            self.halt(
                f"Deepgram rejected the request for {r.source} ({exc.status_code}); no new files were sent: "
                + (
                    "the key is wrong for all of them"
                    if exc.status_code == 401
                    else "the project may not use these options"
                ),
                _advice(exc) + "; then rerun: only files not yet stored are sent",
            )
        if slot is not None:  # None: released already (the answer came, and was found bad later)
            self.limiter.release(slot, throttled=throttled)
        why_not = self.retry.why_not(exc, attempts=r.attempts)
        if not self.stop.is_set() and why_not is None:
            self.run.retries += 1
            self.bar.note(self.run)
            await asyncio.sleep(self.retry.delay(exc, attempts=r.attempts))
            return True
        if why_not is not None and exc.retryable:  # transient, but given up on: say why
            r.message = f"{r.message} ({why_not})"
        self.bar.done(self.run)
        return False

    async def keep(self, job: Job, answer: ListenResult) -> BadResponseError | None:
        """Hand the answer to the store writer; the file is transcribed once it is durable and indexed.

        Returns the :class:`BadResponseError` when the answer failed :meth:`check` (nothing is
        stored; the caller retries or records it), else None (stored, or a failure row filled in).
        """
        r, a = job.result, job.audio
        r.answered = True  # a 200: Deepgram billed it, whatever comes of it now
        body: bytes | Path = answer.path if answer.path is not None else answer.body
        size = answer.path.stat().st_size if answer.path is not None else len(answer.body)
        entry = index.entry(
            key=job.key,
            source=a.source,
            file_id=a.file_id,
            options=self.canonical,
            status="transcribed",
            request_id=answer.request_id,
            size=size,
        )
        assert self.writer is not None
        self.answer_bytes.append(size)
        try:  # checked, made durable and indexed by the writer thread, in a group commit with other answers
            await self.writer.put(job.key, body, entry, check=lambda data: self.check(job, answer, data))
        except BadResponseError as exc:
            return exc
        except Exception as exc:  # not stored (or not indexed): a failure row
            _fill_store_failure(r, exc, answer.request_id, job.key)
            if isinstance(exc, OSError) and exc.errno is not None:  # a full disk, a read-only store...
                if self.store_error is None:
                    self.store_error = exc
                self.halt(
                    "the store cannot keep answers",
                    "make room in the store folder (or move the store), then rerun: only what is missing is sent",
                )
            self.bar.done(self.run)
            return None
        r.status, r.request_id = "transcribed", answer.request_id
        r.status_code = r.err_code = r.message = r.retryable = r.advice = None
        self.bar.done(self.run, minutes=(job.duration or 0.0) / 60.0)
        return None


# --------------------------------------------------------------------------- answers


def _validate(body: bytes | Path, source: str) -> ResponseInfo:
    """The structural check of an answer, in memory or spooled to a file (mapped, not read)."""
    if not isinstance(body, Path):
        return validate_response(body, source=source)
    with open(body, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return validate_response(b"", source=source)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                return validate_response(view, source=source)
            finally:
                view.release()  # before the map closes


# --------------------------------------------------------------------------- failure rows


def _size(n: int) -> str:
    """Bytes for a message: ``512 bytes``, ``6.2 KB``, ``1,433.6 MB``."""
    if n < 1000:
        return f"{n} bytes"
    if n < 1_000_000:
        return f"{n / 1e3:.1f} KB"
    return f"{n / 1e6:,.1f} MB"


def _not_sent(r: FileResult, why: str | None, advice: str) -> None:
    """Forget an earlier attempt's error (e.g. a 429): this file was not sent."""
    r.status, r.retryable = "not sent", True
    r.status_code = r.err_code = r.request_id = None
    r.message = f"not sent: {why}"
    r.advice = (
        advice or "fix what stopped the run (see its message), then rerun: only files not yet stored are sent"
    )


def _undecodable(r: FileResult, exc: DGToolsError) -> None:
    r.status, r.message, r.retryable = "failed", str(exc), False
    r.advice = "check that the file plays; convert it (ffmpeg -i IN -ar 16000 OUT.wav) or leave it out"


def _fill_store_failure(r: FileResult, exc: Exception, request_id: str | None, key: str) -> None:
    r.status, r.request_id, r.status_code, r.err_code = "failed", request_id, None, None
    if isinstance(exc, IndexWriteError):
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
        r.message = f"{r.source}: Deepgram answered (request_id={request_id}; paid) but the store could not keep it: {exc}"
        r.retryable = True
        r.advice = (
            "make room in the store folder (or fix its permissions), then rerun: this file is sent again"
        )


def _fill_failure(r: FileResult, exc: DeepgramAPIError | TransportError | BadResponseError) -> None:
    r.status = "failed"
    r.message = str(exc)
    r.retryable = exc.retryable
    if isinstance(exc, DeepgramAPIError):
        r.status_code, r.err_code, r.request_id = exc.status_code, exc.err_code, exc.request_id
    else:
        r.status_code = r.err_code = None
        r.request_id = getattr(exc, "request_id", None)
    r.advice = _advice(exc)


def _advice(exc: DGToolsError) -> str:
    if isinstance(exc, PaymentRequiredError):
        return "add credits to the project (or use another key), then rerun: stored files are not sent again"
    if isinstance(exc, AuthenticationError):
        if exc.status_code == 401 and "old v2 API" in str(exc):  # Basic auth (errors.py says so)
            return "check username= and password= (or DEEPGRAM_USERNAME and DEEPGRAM_PASSWORD) for the old v2 API"
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
        return "check the network and base_url= (or raise timeout=); rerun sends only what is missing"
    if isinstance(exc, BadResponseError):
        return "rerun later: the answer was not kept, so only this file is sent again"
    return "rerun later: only files not yet stored are sent"


# --------------------------------------------------------------------------- progress


class _Progress:
    """What a run shows while it sends: a tqdm bar, log lines, or nothing.

    ``progress`` (the run's ``progress=``): ``False``, nothing; ``True``, a tqdm bar; ``None``, a bar
    where tqdm can draw one (a terminal, a notebook), else, when nobody watches a bar (CI logs,
    ``nohup``, output redirected to a file), a line on stderr every :data:`LOG_EVERY` seconds; a
    number, as ``None`` with a line every that many seconds.  Both show files done of the total,
    audio minutes, retries, 429s, the spend so far and (lines) the time since sending started.
    """

    def __init__(self, total: int, run: Run, progress: bool | float | None) -> None:
        self.minutes = 0.0
        self.files = 0
        self.total = total
        self.run = run
        self.bar: Any = None
        self.ticker: asyncio.Future[None] | None = None
        self.lines = 0
        self.started = time.monotonic()
        if progress is False:
            return
        from tqdm.auto import tqdm

        disable = False if progress is True else None  # None: tqdm decides (no terminal: disabled)
        bar = tqdm(total=total, unit="file", desc="transcribing", disable=disable, dynamic_ncols=True)
        if not bar.disable:
            self.bar = bar
            return
        bar.close()
        every = LOG_EVERY if progress is None or progress is True else float(progress)
        if total and every > 0:
            self.ticker = asyncio.ensure_future(self._log_every(every))

    async def _log_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.log()

    def log(self) -> None:
        """Print one progress line on stderr."""
        self.lines += 1
        parts = [
            f"{self.files}/{self.total} files",
            f"{self.minutes:,.1f} audio min",
            f"{self.run.retries} retries",
            f"{self.run.rate_limited} HTTP 429",
        ]
        per_min = self.run.estimate.per_minute if self.run.estimate else None
        if per_min:
            parts.append(f"${self.minutes * per_min:,.4f} spent")
        parts.append(f"{time.monotonic() - self.started:,.1f} s elapsed")
        print("transcribing: " + ", ".join(parts), file=sys.stderr, flush=True)

    def note(self, run: Run) -> None:
        """A retry was scheduled."""
        if self.bar is not None:
            self.bar.set_postfix(retries=run.retries, http429=run.rate_limited, refresh=False)

    def done(self, run: Run, minutes: float = 0.0) -> None:
        """One file finished (``minutes`` of audio transcribed)."""
        self.files += 1
        self.minutes += minutes
        if self.bar is None:
            return
        per_min = run.estimate.per_minute if run.estimate else None
        post: dict[str, Any] = {
            "audio_min": f"{self.minutes:.1f}",
            "retries": run.retries,
            "http429": run.rate_limited,
        }
        if per_min is not None:
            post["spend"] = f"${self.minutes * per_min:.2f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        """Stop showing progress; a run that logged lines ends with one more, where it stopped."""
        if self.bar is not None:
            self.bar.close()
        if self.ticker is not None:
            self.ticker.cancel()
            self.ticker = None
            if self.lines:
                self.log()
