"""Injected faults for the local server: latency, 429, 5xx, dropped connections, 402, a concurrency limit,
dropped and slow live streams.

:class:`Faults` is a plain settings dataclass (everything off by default).
:class:`FaultPlan` draws one :class:`Decision` per request from a generator
seeded with ``Faults.seed``: five draws per request, always in the same
order whatever is switched on, so a given seed and request order always give
the same fault sequence.  ``max_concurrent`` draws nothing: whether a request
is over the limit depends only on how many are in flight when it arrives.
Pure Python: no starlette here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

from ..exceptions import ConfigError

__all__ = ["Decision", "FaultPlan", "Faults"]


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults the local server injects into ``POST /v1/listen`` and its WebSocket (all off by default).

    ``POST /v1/speak`` gets ``latency``, ``jitter``, ``rate_429``, ``rate_5xx``, ``drop_rate`` and
    ``payment_after`` too (successes of either route count); ``max_concurrent`` and the stream
    faults are for ``/v1/listen`` (and Flux's ``/v2/listen``) only.

    Parameters
    ----------
    latency
        Seconds to wait before answering every request (``asyncio.sleep``:
        the server keeps serving other requests meanwhile).
    jitter
        Extra seconds, uniform in ``[0, jitter]``, added to ``latency``.
    rate_429
        Probability of answering 429 ``TOO_MANY_REQUESTS``.
    retry_after
        The ``Retry-After`` header of a 429, in seconds (None: no header).
    rate_5xx
        Probability of answering 500 or 503 (even odds) in Deepgram's
        ``{category, message, details, request_id}`` error shape.
    drop_rate
        Probability of closing the connection abruptly without any response.
    payment_after
        After this many successful (200) requests, every request gets 402
        ``ASR_PAYMENT_REQUIRED``.  None: never.
    max_concurrent
        Deepgram's concurrency limit: a request that arrives while this many
        are in flight (counted from when a request with valid credentials is
        accepted to when its answer is sent) gets 429 ``TOO_MANY_REQUESTS``
        at once, without its body being processed.  None: no limit.
    retry_after_concurrent
        The ``Retry-After`` header of those 429s, in seconds (None: no
        header).  The default, 1, is the smallest whole number of seconds,
        the only form RFC 9110 allows; dgtools also reads fractions such as
        ``0.05``.
    stream_drop_after
        Drop a WebSocket stream (``/v1/listen``, or Flux's ``/v2/listen``; a TCP reset, no close
        frame) once this many audio seconds have arrived on it, after the messages already due
        have gone out (finals held back by ``final_delay`` are lost with it).  None: never.
    stream_drops
        Drop at most this many streams (the first ones to reach ``stream_drop_after``; later
        streams run to their end), so that a client that reconnects can succeed on its next
        socket.  None: every stream.  Needs ``stream_drop_after``.
    final_delay
        Seconds to hold back each final ``Results`` message (Flux: each ``EndOfTurn``) of a
        WebSocket stream, so that a client can measure latency.  Interims are not delayed
        themselves, but every message queued after a held-back final waits for it (messages
        keep Deepgram's order).
    callback_twice
        Deliver the first this many callbacks (``/v1/listen?callback=``) twice, as Deepgram may.
    callback_unknown
        After each of the first this many callbacks, send a copy under a request_id nobody
        submitted (a receiver must refuse it).
    callback_retry_base
        Seconds before the first retry of a callback delivery that failed (connection refused,
        5xx); each further retry waits twice as long, at most 30 s (:mod:`dgtools.server.callbacks`).
    seed
        Seed of the fault sequence (None: a fresh random sequence).

    Examples
    --------
    >>> Faults(rate_429=0.5, retry_after=2, seed=7)  # doctest: +ELLIPSIS
    Faults(latency=0.0, jitter=0.0, rate_429=0.5, retry_after=2, ..., seed=7)
    >>> Faults(max_concurrent=50).max_concurrent
    50
    >>> Faults(stream_drop_after=2.0, stream_drops=1, final_delay=0.3).stream_drops
    1
    """

    latency: float = 0.0
    jitter: float = 0.0
    rate_429: float = 0.0
    retry_after: float | None = 1
    rate_5xx: float = 0.0
    drop_rate: float = 0.0
    payment_after: int | None = None
    max_concurrent: int | None = None
    retry_after_concurrent: float | None = 1
    stream_drop_after: float | None = None
    stream_drops: int | None = None
    final_delay: float = 0.0
    callback_twice: int = 0
    callback_unknown: int = 0
    callback_retry_base: float = 0.5
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_5xx", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"Faults.{name} is a probability in [0, 1], got {value!r}")
        for name in ("callback_twice", "callback_unknown"):
            if getattr(self, name) < 0:
                raise ConfigError(f"Faults.{name} must be >= 0 callbacks, got {getattr(self, name)!r}")
        for name in ("latency", "jitter", "final_delay", "callback_retry_base"):
            if getattr(self, name) < 0:
                raise ConfigError(f"Faults.{name} must be >= 0 seconds, got {getattr(self, name)!r}")
        for name in ("retry_after", "retry_after_concurrent"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"Faults.{name} must be >= 0 seconds, got {value!r}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ConfigError(f"Faults.max_concurrent must be >= 1 request, got {self.max_concurrent!r}")
        if self.stream_drop_after is not None and not self.stream_drop_after >= 0:
            raise ConfigError(
                f"Faults.stream_drop_after must be >= 0 audio seconds, got {self.stream_drop_after!r}"
            )
        if self.stream_drops is not None:
            if self.stream_drops < 0:
                raise ConfigError(f"Faults.stream_drops must be >= 0 streams, got {self.stream_drops!r}")
            if self.stream_drop_after is None:
                raise ConfigError(
                    "Faults.stream_drops limits the streams that stream_drop_after drops; "
                    "set stream_drop_after=SECONDS too"
                )
        if self.payment_after is not None and self.payment_after < 0:
            raise ConfigError(f"Faults.payment_after must be >= 0, got {self.payment_after!r}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The field names (the ``**faults`` keywords of :func:`dgtools.server.run`)."""
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True, slots=True)
class Decision:
    """The faults drawn for one request."""

    delay: float = 0.0
    drop: bool = False
    status_429: bool = False
    status_5xx: int | None = None


class FaultPlan:
    """Draws a :class:`Decision` per request, deterministically for a given seed.

    Examples
    --------
    >>> plan = FaultPlan(Faults(rate_429=0.5, seed=3))
    >>> first = [plan.draw().status_429 for _ in range(4)]
    >>> plan.reset()
    >>> [plan.draw().status_429 for _ in range(4)] == first
    True
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.reset()

    def reset(self) -> None:
        """Restart the fault sequence from the seed."""
        self._rng = random.Random(self.faults.seed)

    def draw(self) -> Decision:
        """The next request's faults (five draws, whatever is switched on)."""
        f, rng = self.faults, self._rng
        jitter, drop, r429, r5xx, which = (rng.random() for _ in range(5))
        return Decision(
            delay=f.latency + jitter * f.jitter,
            drop=drop < f.drop_rate,
            status_429=r429 < f.rate_429,
            status_5xx=(500 if which < 0.5 else 503) if r5xx < f.rate_5xx else None,
        )
