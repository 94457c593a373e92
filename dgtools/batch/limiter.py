"""How many requests a batch keeps in flight: an AIMD limit that backs off on 429.

Deepgram answers 429 when a project has more requests in flight than its plan allows.  The
limiter halves the number allowed on each 429 and grows it back by one per round of successes
(additive increase, multiplicative decrease, as TCP does), so a run asked for more concurrency than
the project has settles near what the project allows.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib

__all__ = ["AIMDLimiter"]


class AIMDLimiter:
    """A concurrency limit that halves on 429 and grows back by one per limit successes.

    Waiters queue in FIFO order and a release wakes exactly as many as there
    are free slots (none while more are in flight than the lowered limit): a
    woken waiter already holds its slot, so a newcomer cannot take it first.

    Parameters
    ----------
    cap : int
        The most requests in flight at once, and the limit it starts at.

    Attributes
    ----------
    cap : int
        The ceiling the limit grows back to.
    limit : float
        The current limit (its integer part, at least 1, is what is allowed in flight).
    in_flight : int
        Slots held now.

    Examples
    --------
    >>> import asyncio
    >>> async def main():
    ...     lim = AIMDLimiter(4)
    ...     for _ in range(4):
    ...         await lim.acquire()
    ...     lim.release(throttled=True)          # a 429: the limit halves
    ...     return lim.limit, lim.in_flight, lim.waiting
    >>> asyncio.run(main())
    (2.0, 3, 0)
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.limit = float(cap)
        self.in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def waiting(self) -> int:
        """Callers of :meth:`acquire` waiting for a slot."""
        return sum(1 for w in self._waiters if not w.done())

    def _free(self) -> int:
        return max(1, int(self.limit)) - self.in_flight

    async def acquire(self) -> None:
        """Wait for a slot (first come, first served); cancelling the wait gives up the place in line."""
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
        """Give a slot back; ``throttled=True`` (a 429) halves the limit, else it grows by ``1/limit``."""
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
