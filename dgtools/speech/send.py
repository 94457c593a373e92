"""The send loop of a speech run: every chunk through a :class:`~dgtools.speech.client.SpeakClient`.

A fixed pool of workers pulls chunks from one queue.  The run holds a claim on each
(:class:`~dgtools.store.Claims`: no other live run sends it meanwhile), released once its outcome
is known.  Each chunk:

0. is looked up in the store once more: another run may have stored it since the plan (it is
   then ``stored``, not sent);
1. waits for a slot of the :class:`~dgtools.batch.AIMDLimiter` (lowered on 429);
2. is sent; a transient failure (408, 429, 5xx, transport, a body that is not the audio asked
   for) is retried after the :class:`~dgtools.api.RetryPolicy`'s delay (``Retry-After``
   honoured), a permanent one (400, 401, 402, 403) becomes its failure row;
3. is stored durably (:class:`~dgtools.speech.store.SpeechStore`): only then is it spoken.  Audio
   that was paid for but could not be written (a full disk, a read-only folder) is a failure row
   saying so, with the request_id and the path it could not be written to.

A 402 (out of credits), a 401 or 403 (the key or the project is wrong for every request) and a
store that cannot keep audio stop dispatching: the chunks in flight finish, the rest are "not
sent" with the reason.  Nothing raises for one chunk.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from ..batch.limiter import AIMDLimiter
from ..exceptions import (
    AuthenticationError,
    BadRequestError,
    BadResponseError,
    ConfigError,
    DeepgramAPIError,
    PaymentRequiredError,
    RateLimitError,
    TransportError,
)
from .join import duration

if TYPE_CHECKING:
    from ..api.retry import RetryPolicy
    from ..options.speak import SpeakFormat
    from ..store import Claims
    from .client import SpeakClient, SpeechAnswer
    from .plan import ChunkJob
    from .run import ChunkResult, SpeechRun
    from .store import SpeechStore

__all__ = ["LOG_EVERY", "SendLoop"]

#: Seconds between progress lines when nobody watches a bar (CI logs, nohup).
LOG_EVERY: Final = 10.0


class SendLoop:
    """Sends every chunk to send through a :class:`SpeakClient`: bounded, retried, each answer stored.

    ``claims``: this run's claims on the speech store (the caller took the chunks' keys); each
    chunk's claim is released once its outcome is known.
    """

    def __init__(
        self,
        sender: SpeakClient,
        store: SpeechStore,
        run: SpeechRun,
        *,
        query: list[tuple[str, str]],
        fmt: SpeakFormat,
        cap: int,
        retry: RetryPolicy,
        progress: bool | float | None,
        price: float,
        claims: Claims | None = None,
    ) -> None:
        self.sender, self.store, self.run, self.claims = sender, store, run, claims
        self.query, self.fmt, self.cap, self.retry, self.progress = query, fmt, cap, retry, progress
        self.price = price  # dollars per character
        self.limiter = AIMDLimiter(cap)
        self.stop = asyncio.Event()
        self.stop_advice = ""
        self.bar = _Progress(0, run, False)

    async def drive(self, jobs: list[ChunkJob]) -> None:
        """Send every job; never raises for one chunk."""
        self.bar = _Progress(len(jobs), self.run, self.progress)
        pending = iter(jobs)

        async def worker() -> None:
            for job in pending:
                await self.one(job)
                if self.claims is not None:  # stored (durable) or failed: another run may send it now
                    self.claims.release(job.result.key)

        tasks = [asyncio.ensure_future(worker()) for _ in range(min(self.cap, len(jobs)))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            if not all(t.done() for t in tasks):
                await asyncio.wait(tasks)
            self.bar.close()

    def halt(self, why: str, advice: str) -> None:
        """Stop dispatching new chunks (the first reason given wins)."""
        if not self.stop.is_set():
            self.run.stopped, self.stop_advice = why, advice
            self.stop.set()

    async def one(self, job: ChunkJob) -> None:
        """One chunk, from its first attempt to its outcome."""
        r = job.result
        source = f"text {r.id!r} chunk {r.chunk}"
        fmt = self.fmt
        if self.store.has(r.key):  # stored since the plan: by another run, which then let go of its claim
            r.status, r.message = "stored", "stored by another run meanwhile: not sent again"
            self.bar.done()
            return
        while True:
            if self.stop.is_set():
                _not_sent(r, self.run.stopped, self.stop_advice)
                return
            slot = await self.limiter.acquire()
            if self.stop.is_set():
                self.limiter.release(slot)
                continue
            try:
                r.attempts += 1
                answer = await self.sender.speak(job.text, self.query, source=source, fmt=fmt)
                seconds = duration(answer.audio, fmt)
                if seconds is None and fmt.container == "wav":
                    raise BadResponseError(
                        f"the answer for {source} (request_id={answer.request_id}) is not readable WAV audio",
                        path=source, request_id=answer.request_id, retryable=r.attempts < 2,
                    )  # fmt: skip
            except (DeepgramAPIError, TransportError, BadResponseError) as exc:
                throttled = isinstance(exc, RateLimitError)
                self.limiter.release(slot, throttled=throttled)
                if await self.failed(r, exc, source):
                    continue
                return
            except BaseException:
                self.limiter.release(slot)
                raise
            self.limiter.release(slot)
            await self.keep(job, answer, seconds)
            return

    async def failed(
        self, r: ChunkResult, exc: DeepgramAPIError | TransportError | BadResponseError, source: str
    ) -> bool:
        """Record a failed attempt; True when the chunk is to be sent again (after waiting)."""
        if isinstance(exc, RateLimitError):
            self.run.rate_limited += 1
        r.status, r.message, r.retryable = "failed", str(exc), exc.retryable
        if isinstance(exc, DeepgramAPIError):
            r.status_code, r.err_code, r.request_id = exc.status_code, exc.err_code, exc.request_id
        else:
            r.status_code = r.err_code = None
            r.request_id = getattr(exc, "request_id", None)
        r.advice = _advice(exc)
        if isinstance(exc, PaymentRequiredError):
            self.halt(
                "the project is out of credits (402); no new requests were sent",
                "rerun the same command once the account has credits: only chunks not yet stored are sent",
            )
        elif isinstance(exc, AuthenticationError):
            self.halt(
                f"Deepgram rejected the request for {source} ({exc.status_code}); no new requests were sent: "
                + (
                    "the key is wrong for all of them"
                    if exc.status_code == 401
                    else "the project may not use this voice"
                ),
                _advice(exc) + "; then rerun: only chunks not yet stored are sent",
            )
        why_not = self.retry.why_not(exc, attempts=r.attempts)
        if not self.stop.is_set() and why_not is None:
            self.run.retries += 1
            self.bar.note()
            await asyncio.sleep(self.retry.delay(exc, attempts=r.attempts))
            return True
        if why_not is not None and exc.retryable:
            r.message = f"{r.message} ({why_not})"
        self.bar.done()
        return False

    async def keep(self, job: ChunkJob, answer: SpeechAnswer, seconds: float | None) -> None:
        """Store one answer durably; the chunk is spoken once it is."""
        r = job.result
        r.answered = True  # a 200: billed, whatever comes of it now
        r.cost = round(r.characters * self.price, 6)
        meta = {
            "request_id": answer.request_id,
            "characters": r.characters,
            "duration": seconds,
            "bytes": len(answer.audio),
            "ttfb": round(answer.ttfb, 6),
            "elapsed": round(answer.elapsed, 6),
            "content_type": answer.content_type,
            "model": answer.headers.get("dg-model-name"),
            "options": self.run.options,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            r.path = await asyncio.to_thread(self.store.write, r.key, answer.audio, meta)
        except Exception as exc:  # not stored: a failure row saying it was paid, and where it was not written
            self.lost(r, answer.request_id, exc)
            self.bar.done()
            return
        r.status, r.request_id, r.duration = "spoken", answer.request_id, seconds
        r.bytes, r.ttfb = len(answer.audio), round(answer.ttfb, 6)  # as the store keeps it
        r.status_code = r.err_code = r.message = r.retryable = r.advice = None
        self.bar.done(r.characters, r.cost)

    def lost(self, r: ChunkResult, request_id: str | None, exc: Exception) -> None:
        """The answer to ``r`` came (and was billed) but was not stored: its failure row; a disk error halts."""
        target = self.store.path(r.key)
        r.status, r.request_id, r.status_code, r.err_code = "failed", request_id, None, None
        billed = (
            f"paid: ${r.cost:.6f} for {r.characters} characters" if self.price else "the local voice: free"
        )
        r.retryable = not isinstance(exc, ConfigError)
        if isinstance(exc, OSError):
            name = errno.errorcode.get(exc.errno or 0)
            why = f"{exc.strerror or exc}" + (f" ({name})" if name else "")
            r.message = (
                f"text {r.id!r} chunk {r.chunk}: Deepgram answered (request_id={request_id}; {billed}) but its "
                f"audio could not be written to {target}: {why}; that audio is lost"
            )
            r.advice = (
                "make room in the store folder (or fix its permissions), then rerun: this chunk is sent again"
            )
        else:
            r.message = (
                f"text {r.id!r} chunk {r.chunk}: Deepgram answered (request_id={request_id}; {billed}) but its "
                f"audio was not written to {target}: {exc}"
            )
            r.advice = "fix what the message names, then rerun: this chunk is sent again"
        if isinstance(exc, OSError) and exc.errno is not None:  # every further answer too: stop paying
            try:
                free = f"{shutil.disk_usage(self.store.root).free:,} bytes free"
            except OSError:
                free = "free space unknown"
            self.halt(
                f"the store {self.store.folder} cannot keep audio ({exc.strerror or exc}; {free}); "
                "no new requests were sent",
                "make room in the store folder (or move the store), then rerun: only what is missing is sent",
            )


def _not_sent(r: ChunkResult, why: str | None, advice: str) -> None:
    r.status, r.retryable = "not sent", True
    r.status_code = r.err_code = r.request_id = None
    r.message = f"not sent: {why}"
    r.advice = (
        advice
        or "fix what stopped the run (see its message), then rerun: only chunks not yet stored are sent"
    )


def _advice(exc: Exception) -> str:
    if isinstance(exc, PaymentRequiredError):
        return "add credits to the project (or use another key), then rerun: stored chunks are not sent again"
    if isinstance(exc, AuthenticationError):
        if exc.status_code == 401:
            return (
                "check DEEPGRAM_API_KEY (sent as 'Token'); a temporary JWT goes in DEEPGRAM_TOKEN ('Bearer')"
            )
        return "the project cannot use this voice: change model=, or ask for access"
    if isinstance(exc, RateLimitError):
        return "lower concurrency= and rerun: stored chunks are not sent again"
    if isinstance(exc, BadRequestError):
        return "fix the text or the option named in the message; rerun sends only what is missing"
    if isinstance(exc, TransportError):
        return "check the network and base_url= (or raise timeout=); rerun sends only what is missing"
    if isinstance(exc, BadResponseError):
        return "rerun later: the answer was not kept, so only this chunk is sent again"
    return "rerun later: only chunks not yet stored are sent"


# --------------------------------------------------------------------------- progress


class _Progress:
    """A tqdm bar of requests done, characters and spend; log lines on stderr when no bar can be drawn."""

    def __init__(self, total: int, run: SpeechRun, progress: bool | float | None) -> None:
        self.total, self.run = total, run
        self.requests = 0
        self.characters = 0
        self.spent = 0.0
        self.bar: Any = None
        self.ticker: asyncio.Future[None] | None = None
        self.lines = 0
        self.started = time.monotonic()
        if progress is False or not total:
            return
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="request", desc="speaking", disable=False if progress is True else None,
                   dynamic_ncols=True)  # fmt: skip
        if not bar.disable:
            self.bar = bar
            return
        bar.close()
        every = LOG_EVERY if progress is None or progress is True else float(progress)
        self.ticker = asyncio.ensure_future(self._log_every(every))

    async def _log_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.log()

    def log(self) -> None:
        """Print one progress line on stderr."""
        self.lines += 1
        print(
            f"speaking: {self.requests}/{self.total} requests, {self.characters:,} characters, "
            f"${self.spent:,.4f} spent, {self.run.retries} retries, {self.run.rate_limited} HTTP 429, "
            f"{time.monotonic() - self.started:,.1f} s elapsed",
            file=sys.stderr,
            flush=True,
        )

    def note(self) -> None:
        """A retry was scheduled."""
        if self.bar is not None:
            self.bar.set_postfix(retries=self.run.retries, http429=self.run.rate_limited, refresh=False)

    def done(self, characters: int = 0, cost: float = 0.0) -> None:
        """One request finished."""
        self.requests += 1
        self.characters += characters
        self.spent += cost
        if self.bar is not None:
            self.bar.set_postfix(
                chars=f"{self.characters:,}",
                spend=f"${self.spent:.4f}",
                retries=self.run.retries,
                refresh=False,
            )
            self.bar.update(1)

    def close(self) -> None:
        """Stop showing progress; a run that logged lines ends with one more."""
        if self.bar is not None:
            self.bar.close()
        if self.ticker is not None:
            self.ticker.cancel()
            self.ticker = None
            if self.lines:
                self.log()
