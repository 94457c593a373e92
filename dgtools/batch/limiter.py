"""How many requests a batch keeps in flight: a limit that finds the project's and backs off on 429.

Deepgram answers 429 once a project has more requests in flight than its plan allows (50 for
pre-recorded audio on most plans).  A run asked for more (``concurrency=100``) must settle near
what the project allows without a storm of 429s, each of which costs a retry:

* it starts at ``start`` (the batch passes Deepgram's documented limit for the options, or the
  concurrency asked for when that is lower) and, until the first 429, climbs by a quarter per
  round of successes (a plan with a higher limit is reached in a few rounds, without a burst);
  the first 429 ends that phase and sends the limit back to the last level that went a whole
  round without one, or to ``start`` if no round finished (as TCP's slow start does); after it, the limit climbs by one request per
  round (additive increase);
* a 429 says the server turned a request away with ``n`` of ours in flight (``n`` counted when
  that request was sent): the project allows fewer than ``n``, so the limit drops to ``n - 1``
  and stays there for :data:`HOLD_ROUNDS` rounds before probing one step above it again;
  (other clients sharing the project, or a lower limit, show up the same way); a 429 of a
  request sent with more in flight than the limit now allows is old news;
* our count of requests in flight runs ahead of the server's (a request holds its slot while
  its file is read and its answer parsed, and on a busy machine for longer), so a bound learnt
  from a 429 can be too high: a 429 of a request sent *after* the last decrease contradicts it,
  and the margin below ``n`` doubles each time that happens (``n - 1``, ``n - 2``, ``n - 4``...)
  until a whole round passes without a 429, so a wrong bound is corrected in a few steps rather
  than one request at a time;
* a 429 with nothing to learn from (one request in flight) halves the limit, at most once per
  round: the 429s of requests sent before the last decrease are old news (as TCP does).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import NamedTuple

__all__ = ["HOLD_ROUNDS", "AIMDLimiter", "Slot"]

#: Rounds (of ``limit`` requests each) to stay at a limit learnt from a 429 before probing above it.
HOLD_ROUNDS = 8


class Slot(NamedTuple):
    """A granted place in flight: its sequence number and how many were in flight with it."""

    seq: int
    in_flight: int


class AIMDLimiter:
    """A concurrency limit that finds the server's from its 429s and probes upward one step per round.

    Waiters queue in FIFO order and a release wakes exactly as many as there are free slots
    (none while more are in flight than the lowered limit): a woken waiter already holds its
    slot, so a newcomer cannot take it first.

    Parameters
    ----------
    cap : int
        The most requests in flight at once: the limit never grows past it.
    start : int, optional
        The limit to start at (default ``cap``); it grows by one per round of successes.

    Attributes
    ----------
    cap : int
        The ceiling.
    limit : float
        The current limit (its integer part, at least 1, is what is allowed in flight).
    in_flight : int
        Slots held now.

    Examples
    --------
    >>> import asyncio
    >>> async def main():
    ...     lim = AIMDLimiter(100, start=8)
    ...     slots = [await lim.acquire() for _ in range(8)]
    ...     lim.release(slots[6], throttled=True)   # turned away with 7 in flight: the server allows 6
    ...     return lim.limit, lim.in_flight, lim.waiting
    >>> asyncio.run(main())
    (6.0, 7, 0)
    """

    def __init__(self, cap: int, *, start: int | None = None) -> None:
        self.cap = cap
        self.limit = float(max(1, min(cap, start if start is not None else cap)))
        self.in_flight = 0
        self._granted = 0  # slots handed out so far: the sequence number of the last one
        self._epoch = 0  # _granted at the last decrease: 429s of slots granted before it are old news
        self._bound = float(cap)  # what a 429 taught: no growth past it until _hold_until
        self._hold_until = 0
        self._throttled_once = False  # a 429 was seen: additive growth from now on
        self._clean: float | None = None  # the highest limit that went a whole round without a 429
        self._margin = 1  # how far below the n of a 429 the limit goes; doubles while bounds prove wrong
        self._round_limit = self.limit  # the limit when the current round began
        self._round_successes = 0
        self._waiters: collections.deque[asyncio.Future[Slot]] = collections.deque()

    @property
    def waiting(self) -> int:
        """Callers of :meth:`acquire` waiting for a slot."""
        return sum(1 for w in self._waiters if not w.done())

    def _free(self) -> int:
        return max(1, int(self.limit)) - self.in_flight

    def _grant(self) -> Slot:
        self.in_flight += 1
        self._granted += 1
        return Slot(self._granted, self.in_flight)

    async def acquire(self) -> Slot:
        """Wait for a slot (first come, first served); cancelling the wait gives up the place in line."""
        if not self._waiters and self._free() > 0:
            return self._grant()
        waiter: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot as it was cancelled: pass it on
                self.in_flight -= 1
                self._wake()
            else:
                with contextlib.suppress(ValueError):  # _wake may have dropped it already
                    self._waiters.remove(waiter)
            raise

    def release(self, slot: Slot | None = None, *, throttled: bool = False) -> None:
        """Give a slot back; ``throttled=True`` (a 429) lowers the limit, else it grows by ``1/limit``.

        ``slot`` is what :meth:`acquire` returned; without it a 429 is taken as news (halving).
        """
        self.in_flight -= 1
        if throttled:
            self._throttled(slot)
        else:
            self._round_successes += 1
            if self._round_successes >= int(self._round_limit):  # a whole round without a 429
                self._clean = max(self._clean or 0.0, self._round_limit)
                self._margin = 1
                self._round_limit, self._round_successes = self.limit, 0
            step = 1.0 / max(1.0, self.limit) if self._throttled_once else 0.25  # a round: +1, or +25%
            grown = self.limit + step
            if self._granted < self._hold_until:
                grown = min(grown, self._bound)
            self.limit = min(float(self.cap), grown)
        self._wake()

    def _throttled(self, slot: Slot | None) -> None:
        first = not self._throttled_once
        self._throttled_once = True
        round_start = self._round_limit
        self._round_limit, self._round_successes = self.limit, 0
        if slot is None or slot.in_flight < 2:  # no bound to learn: halve, once per round
            if slot is None or slot.seq > self._epoch:
                self.limit = max(1.0, self.limit / 2)
                self._epoch = self._granted
        elif slot.in_flight - 1 < self.limit:  # turned away as the n-th in flight: fewer than n allowed
            if self._epoch < slot.seq <= self._hold_until:  # sent while held at the last bound: too high
                self._margin *= 2
            bound = float(max(1, slot.in_flight - self._margin))
            if first:  # the end of the slow start: back to what went a whole round clean (or to the start)
                bound = min(bound, self._clean if self._clean is not None else round_start)
            self.limit = self._bound = bound
            self._epoch = self._granted
            self._hold_until = self._granted + HOLD_ROUNDS * (slot.in_flight - 1)
        # else: sent with more in flight than the limit now allows: old news

    def _wake(self) -> None:
        while self._waiters and self._free() > 0:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(self._grant())  # the slot is the waiter's from now on
