"""Injected faults for the local server: latency, 429, 5xx, dropped connections, 402.

:class:`Faults` is a plain settings dataclass (everything off by default).
:class:`FaultPlan` draws one :class:`Decision` per request from a generator
seeded with ``Faults.seed``: five draws per request, always in the same
order whatever is switched on, so a given seed and request order always give
the same fault sequence.  Pure Python: no starlette here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

from ..exceptions import ConfigError

__all__ = ["Decision", "FaultPlan", "Faults"]


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults the local server injects into ``POST /v1/listen`` (all off by default).

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
    seed
        Seed of the fault sequence (None: a fresh random sequence).

    Examples
    --------
    >>> Faults(rate_429=0.5, retry_after=2, seed=7)
    Faults(latency=0.0, jitter=0.0, rate_429=0.5, retry_after=2, rate_5xx=0.0, drop_rate=0.0, payment_after=None, seed=7)
    """

    latency: float = 0.0
    jitter: float = 0.0
    rate_429: float = 0.0
    retry_after: float | None = 1
    rate_5xx: float = 0.0
    drop_rate: float = 0.0
    payment_after: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_5xx", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"Faults.{name} is a probability in [0, 1], got {value!r}")
        for name in ("latency", "jitter"):
            if getattr(self, name) < 0:
                raise ConfigError(f"Faults.{name} must be >= 0 seconds, got {getattr(self, name)!r}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ConfigError(f"Faults.retry_after must be >= 0 seconds, got {self.retry_after!r}")
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
