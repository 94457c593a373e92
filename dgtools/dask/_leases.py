"""One concurrency cap for a whole Dask cluster: leases of a ``distributed.Semaphore`` around each request.

Deepgram limits the requests a *project* has in flight, whatever machine sends them, so the cap
of a fanned-out run cannot be a per-worker guess.  :func:`dgtools.dask.transcribe` creates one
``distributed.Semaphore(max_leases=concurrency)`` on the scheduler; every request a worker sends
holds one lease from before its first byte leaves until its whole answer has arrived
(:class:`LeasedClient`), so the server never sees more than ``concurrency`` at once, from all the
workers together.  (The count runs ahead of the server's, never behind it: a lease is taken
before the connection opens and given back after the answer is read.)

A 429 on any worker lowers the cap of every worker: the lease of the request turned away is not
given back but *parked* (held, and refreshed, by the worker that got the 429), so one lease fewer
is there for the cluster, as many as there were 429s; each worker's own
:class:`~dgtools.batch.AIMDLimiter` backs off as well.  A parked lease is given back after
:data:`~dgtools.batch.limiter.HOLD_ROUNDS` rounds (of ``concurrency`` answers each) without a
429 on that worker, one at a time (additive increase, as the limiter probes), and all of them when
the worker's shard ends.  A second semaphore of ``concurrency - 1`` leases counts the parked ones,
so at least one lease always stays in play: the cluster slows down, it never stalls.

A worker that dies holding leases (or parked ones) stops refreshing them, and the scheduler takes
them back after ``distributed.scheduler.locks.lease-timeout`` (30 s by default): until then the
cluster runs below its cap, never above it.

The semaphore is Dask's: its methods run on the worker's event loop, and a shard's transcription
runs on its own loop in the task's thread, so each call is handed over with
:func:`asyncio.run_coroutine_threadsafe` (the task's loop never blocks on the scheduler).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .._extras import require
from ..api import DeepgramClient
from ..batch.limiter import HOLD_ROUNDS
from ..exceptions import RateLimitError

if TYPE_CHECKING:
    from ..api import ListenResult
    from ..options import ListenOptions

__all__ = ["LeasedClient", "WorkerLeases"]

T = TypeVar("T")


class WorkerLeases:
    """The cluster cap as one worker's shard sees it: acquire a lease per request, park one per 429.

    Built inside a Dask task (it binds to the worker it runs on); used from the shard's own
    event loop.

    Parameters
    ----------
    name : str
        The run's semaphore (created by the client with ``max_leases=cap``).
    cap : int
        The cluster-wide cap: ``concurrency=`` of :func:`dgtools.dask.transcribe`.

    Attributes
    ----------
    parked : int
        Leases this worker holds back after 429s now.
    parked_most : int
        The most it held back at once during the shard.
    throttled : int
        429s seen by this worker's requests.

    Examples
    --------
    >>> leases = WorkerLeases("dgtools-tx-1234", cap=50)   # doctest: +SKIP
    >>> await leases.acquire(); leases.release(throttled=False)   # doctest: +SKIP
    """

    def __init__(self, name: str, *, cap: int) -> None:
        dist: Any = require("distributed", extra="dask", feature="dgtools.dask.transcribe")
        worker = dist.get_worker()
        self.cap = cap
        self._loop: asyncio.AbstractEventLoop = worker.loop.asyncio_loop
        self._sem: Any = dist.Semaphore(max_leases=cap, name=name)
        self._park: Any = dist.Semaphore(max_leases=max(1, cap - 1), name=f"{name}-parked")
        self.parked = self.parked_most = self.throttled = 0
        self._clean = 0  # answers since the last 429 or unpark on this worker

    def _call(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run a distributed method on the worker's loop (where it returns something to await)."""

        async def call() -> Any:
            out = fn()
            return await out if isinstance(out, Awaitable) else out

        return asyncio.run_coroutine_threadsafe(call(), self._loop)

    async def acquire(self) -> None:
        """Wait for a lease of the cluster-wide semaphore; cancelling the wait gives it back if it came."""
        fut = self._call(self._sem.acquire)
        try:
            await asyncio.shield(asyncio.wrap_future(fut))
        except asyncio.CancelledError:
            fut.add_done_callback(self._give_back_if_granted)
            raise

    def _give_back_if_granted(self, fut: concurrent.futures.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None and fut.result():
            self._call(self._sem.release)

    async def release(self, *, throttled: bool) -> None:
        """Give the lease of a finished request back, or park it when the request got a 429."""
        if throttled:
            self.throttled += 1
            self._clean = 0
            if await asyncio.wrap_future(self._call(lambda: self._park.acquire(timeout=0))):
                self.parked += 1
                self.parked_most = max(self.parked_most, self.parked)
                return  # held back: the cluster has one lease fewer
        else:
            self._clean += 1
            if self.parked and self._clean >= HOLD_ROUNDS * self.cap:  # a quiet spell: probe one higher
                self._clean = 0
                self.parked -= 1
                await self._give(self._park)
                await self._give(self._sem)
        await self._give(self._sem)

    async def _give(self, sem: Any) -> None:
        await asyncio.wrap_future(self._call(sem.release))

    async def aclose(self) -> None:
        """Give back every parked lease and stop refreshing (the shard is over)."""
        while self.parked:
            self.parked -= 1
            await self._give(self._park)
            await self._give(self._sem)
        for sem in (self._sem, self._park):
            callback = getattr(sem, "refresh_callback", None)
            if callback is not None:
                self._loop.call_soon_threadsafe(callback.stop)


class LeasedClient(DeepgramClient):
    """A :class:`~dgtools.DeepgramClient` whose every request holds a lease of the cluster-wide cap.

    Passed as ``client=`` to :func:`dgtools.batch.runner.run` on a worker: the batch code
    (planning, claims, limiter, retries, store) is unchanged; only the send waits for a lease.
    Takes the keyword arguments of :class:`~dgtools.DeepgramClient`, plus ``leases``.

    Examples
    --------
    >>> client = LeasedClient(leases=WorkerLeases("dgtools-tx-1234", cap=8), base_url=url)   # doctest: +SKIP
    """

    def __init__(self, *, leases: WorkerLeases, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.leases = leases

    async def _leased(self, send: Callable[[], Awaitable[T]]) -> T:
        await self.leases.acquire()
        throttled = False
        try:
            return await send()
        except RateLimitError:
            throttled = True
            raise
        finally:
            await asyncio.shield(self.leases.release(throttled=throttled))

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
        """:meth:`DeepgramClient.transcribe_file`, holding a lease of the cluster cap while it runs."""
        return await self._leased(
            lambda: DeepgramClient.transcribe_file(
                self, path, options, content_type=content_type, source=source, duration=duration, spool=spool
            )
        )

    async def transcribe_url(
        self,
        url: str,
        options: ListenOptions,
        *,
        source: str | None = None,
        duration: float | None = None,
        spool: Callable[[], Path] | None = None,
    ) -> ListenResult:
        """:meth:`DeepgramClient.transcribe_url`, holding a lease of the cluster cap while it runs."""
        return await self._leased(
            lambda: DeepgramClient.transcribe_url(
                self, url, options, source=source, duration=duration, spool=spool
            )
        )
