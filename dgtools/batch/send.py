"""The send loop: every planned file through a :class:`Sender`, with bounded concurrency and retries.

A fixed pool of workers (twice the concurrency: a worker holds its answer until the store
writer's next group commit makes it durable, and meanwhile another keeps its slot busy) pulls
jobs from one queue.  Each job is one file:

1. wait for a slot of the :class:`~dgtools.batch.limiter.AIMDLimiter` (halved on 429);
2. send it; a transient failure (408, 429, 5xx, transport) is retried after the
   :class:`~dgtools.api.retry.RetryPolicy`'s delay (``Retry-After`` honoured), a permanent one
   becomes its failure row; a 402 stops dispatching new files (those in flight finish, the rest
   are listed as "not sent");
3. hand the answer to the :class:`~dgtools.store.StoreWriter`, which returns once it is durable
   and indexed: only then does the file count as transcribed.

Nothing raises partway: every job ends with its :class:`~dgtools.batch.run.FileResult` filled in.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, Protocol

from ..exceptions import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    DeepgramAPIError,
    DGToolsError,
    PaymentRequiredError,
    RateLimitError,
    TransportError,
)
from ..store import IndexWriteError, StoreWriter, index
from .limiter import AIMDLimiter

if TYPE_CHECKING:
    from ..api import ListenResult, RetryPolicy
    from ..options import ListenOptions
    from ..store import Store
    from .plan import Job
    from .run import FileResult, Run

__all__ = ["SendLoop", "Sender"]


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
    ) -> ListenResult:
        """Send one audio file; return the answer's body and request_id, or raise a DGToolsError."""
        ...

    async def transcribe_url(
        self, url: str, options: ListenOptions, *, source: str | None = None
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
        Where answers go (through a :class:`~dgtools.store.StoreWriter`).
    options
        The validated ``/v1/listen`` options of every request.
    run
        The run whose counters (retries, 429s, why dispatching stopped) this loop keeps.
    cap
        Most requests in flight (the :class:`~dgtools.batch.limiter.AIMDLimiter`'s ceiling).
    retry
        Which failures are sent again, and after how long.
    progress
        Show a progress bar (None: when attached to a terminal or notebook).
    """

    def __init__(
        self,
        sender: Sender,
        store: Store,
        options: ListenOptions,
        run: Run,
        *,
        cap: int,
        retry: RetryPolicy,
        progress: bool | None,
    ) -> None:
        self.sender, self.store, self.options, self.run = sender, store, options, run
        self.cap, self.retry, self.progress = cap, retry, progress
        self.limiter = AIMDLimiter(cap)
        self.stop = asyncio.Event()
        self.canonical = options.canonical()
        self.bar = _Progress(0, run, False)
        self.writer: StoreWriter | None = None

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

    async def one(self, job: Job) -> None:
        """One file, from its first attempt to its outcome."""
        r = job.result
        while True:
            if self.stop.is_set():
                _not_sent(r, self.run.stopped)
                return
            await self.limiter.acquire()
            if self.stop.is_set():  # a 402 arrived while this file waited for a slot
                self.limiter.release()
                continue
            try:
                r.attempts += 1
                answer = await self.send(job)
            except (DeepgramAPIError, TransportError) as exc:
                if await self.failed(r, exc):
                    continue
                return
            except DGToolsError as exc:  # e.g. the local engine cannot decode the file: not retried
                self.limiter.release()
                _undecodable(r, exc)
                self.bar.done(self.run)
                return
            except BaseException:
                self.limiter.release()
                raise
            self.limiter.release()  # no await from the answer to writer.put: a cancel cannot fall between
            await self.keep(job, answer)
            return

    async def send(self, job: Job) -> ListenResult:
        a = job.audio
        if a.url is not None:
            return await self.sender.transcribe_url(a.url, self.options, source=a.source)
        assert a.path is not None
        return await self.sender.transcribe_file(
            a.path, self.options, content_type=a.content_type, source=a.source
        )

    async def failed(self, r: FileResult, exc: DeepgramAPIError | TransportError) -> bool:
        """Record a failed attempt; True when the file is to be sent again (after waiting)."""
        throttled = isinstance(exc, RateLimitError)
        if throttled:
            self.run.rate_limited += 1
        _fill_failure(r, exc)
        if isinstance(exc, PaymentRequiredError) and not self.stop.is_set():
            self.run.stopped = "the project is out of credits (402); no new files were sent"
            self.stop.set()
        self.limiter.release(throttled=throttled)
        if not self.stop.is_set() and self.retry.should_retry(exc, attempts=r.attempts):
            self.run.retries += 1
            self.bar.note(self.run)
            await asyncio.sleep(self.retry.delay(exc, attempts=r.attempts))
            return True
        self.bar.done(self.run)
        return False

    async def keep(self, job: Job, answer: ListenResult) -> None:
        """Hand the answer to the store writer; the file is transcribed once it is durable and indexed."""
        r, a = job.result, job.audio
        entry = index.entry(
            key=job.key,
            source=a.source,
            file_id=a.file_id,
            options=self.canonical,
            status="transcribed",
            request_id=answer.request_id,
            size=len(answer.body),
        )
        assert self.writer is not None
        try:  # durable and indexed by the writer thread, in a group commit with other answers
            await self.writer.put(job.key, answer.body, entry)
        except Exception as exc:  # not stored (or not indexed): a failure row, the batch goes on
            _fill_store_failure(r, exc, answer.request_id, job.key)
            self.bar.done(self.run)
            return
        r.status, r.request_id = "transcribed", answer.request_id
        r.status_code = r.err_code = r.message = r.retryable = r.advice = None
        self.bar.done(self.run, minutes=(job.duration or 0.0) / 60.0)


# --------------------------------------------------------------------------- failure rows


def _not_sent(r: FileResult, why: str | None) -> None:
    """Forget an earlier attempt's error (e.g. a 429): this file was not sent."""
    r.status, r.retryable = "not sent", True
    r.status_code = r.err_code = r.request_id = None
    r.message = f"not sent: {why}"
    r.advice = "rerun the same command once the account has credits: only files not yet stored are sent"


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


# --------------------------------------------------------------------------- progress


class _Progress:
    """A tqdm bar over files with audio minutes, retries, 429s and spend in its postfix (or nothing)."""

    def __init__(self, total: int, run: Run, progress: bool | None) -> None:
        self.minutes = 0.0
        self.bar: Any = None
        if progress is not False:
            from tqdm.auto import tqdm

            disable = None if progress is None else False
            self.bar = tqdm(
                total=total, unit="file", desc="transcribing", disable=disable, dynamic_ncols=True
            )

    def note(self, run: Run) -> None:
        """A retry was scheduled."""
        if self.bar is not None:
            self.bar.set_postfix(retries=run.retries, http429=run.rate_limited, refresh=False)

    def done(self, run: Run, minutes: float = 0.0) -> None:
        """One file finished (``minutes`` of audio transcribed)."""
        if self.bar is None:
            return
        self.minutes += minutes
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
        if self.bar is not None:
            self.bar.close()
