"""Which failed requests are sent again, and after how long: :class:`RetryPolicy`.

Deepgram's transient failures (408, 429, 5xx, a dropped connection, a timeout, a 200 whose body is
cut short) are retried with full-jitter exponential backoff, honouring ``Retry-After`` (up to
``max_retry_after``: a server that asks for longer is not waited for); its
permanent ones (400, 401, 402, 403) never are: sending the same request again would fail the same
way, and a 402 or a wrong key would fail for every file.  Whether an error is transient is the
error's own ``retryable`` property (:mod:`dgtools.exceptions`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..exceptions import ConfigError, DGToolsError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and after how long, a failed request is sent again.

    Parameters
    ----------
    max_retries : int, default 6
        Retries per request after the first attempt (so at most ``max_retries + 1`` attempts).
    base_delay : float, default 0.5
        Seconds: the backoff before retry *n* (from 0) is uniform in
        ``[0, min(max_delay, base_delay * 2**n)]`` (full jitter).
    max_delay : float, default 30.0
        Ceiling of the backoff, in seconds.
    max_retry_after : float, default 60.0
        The longest wait, in seconds, that is ever made before a retry.  A server asking for
        longer (``Retry-After: 86400``, or an HTTP date next year) is not waited for: the request
        is given up with :meth:`why_not`'s reason (rerun later, when the server is ready).

    Examples
    --------
    >>> from dgtools.exceptions import RateLimitError, BadRequestError
    >>> policy = RetryPolicy(max_retries=2, base_delay=0.0)
    >>> throttled = RateLimitError("429", status_code=429, retry_after=3.0)
    >>> policy.should_retry(throttled, attempts=1), policy.delay(throttled, attempts=1)
    (True, 3.0)
    >>> policy.should_retry(throttled, attempts=3)     # 1 attempt + 2 retries made
    False
    >>> policy.why_not(throttled, attempts=3)
    'gave up after 3 attempts (max_retries=2): rerun later, or allow more with retry=RetryPolicy(max_retries=...)'
    >>> print(policy.why_not(RateLimitError("429", status_code=429, retry_after=86400), attempts=1))
    Deepgram asked to wait 86400 s (Retry-After), more than max_retry_after=60 s: rerun later, or raise it with retry=RetryPolicy(max_retry_after=...)
    >>> policy.should_retry(BadRequestError("400", status_code=400), attempts=1)
    False
    """

    max_retries: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if (
            not isinstance(self.max_retries, int)
            or isinstance(self.max_retries, bool)
            or self.max_retries < 0
        ):
            raise ConfigError(f"max_retries={self.max_retries!r} must be an integer of 0 or more")
        for name in ("base_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise ConfigError(f"{name}={value!r} must be a number of seconds, 0 or more")

    def should_retry(self, error: BaseException, *, attempts: int) -> bool:
        """Whether to send again after ``error``, ``attempts`` attempts having been made."""
        return self.why_not(error, attempts=attempts) is None

    def why_not(self, error: BaseException, *, attempts: int) -> str | None:
        """Why ``error`` is not sent again after ``attempts`` attempts (one line), or None when it is.

        The reason goes into the file's failure row: a permanent failure, retries used up, or a
        server that asks to wait longer than ``max_retry_after``.
        """
        if not getattr(error, "retryable", False):
            return (
                f"not retried: {type(error).__name__} is permanent (the same request would fail the same way)"
            )
        if attempts > self.max_retries:
            return (
                f"gave up after {attempts} attempt{'s' if attempts != 1 else ''} (max_retries={self.max_retries}): "
                "rerun later, or allow more with retry=RetryPolicy(max_retries=...)"
            )
        wait = _retry_after(error)
        if wait is not None and wait > self.max_retry_after:
            return (
                f"Deepgram asked to wait {wait:.0f} s (Retry-After), more than max_retry_after="
                f"{self.max_retry_after:g} s: rerun later, or raise it with retry=RetryPolicy(max_retry_after=...)"
            )
        return None

    def backoff(self, attempts: int, *, rng: random.Random | None = None) -> float:
        """Full-jitter backoff, in seconds, after ``attempts`` attempts (1 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempts - 1)))
        return (rng or random).uniform(0.0, ceiling) if ceiling > 0 else 0.0

    def delay(self, error: DGToolsError, *, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before the next attempt: the backoff, or the server's ``Retry-After`` if longer.

        Never more than ``max_retry_after``.
        """
        wait = self.backoff(attempts, rng=rng)
        retry_after = _retry_after(error)
        if retry_after is not None and retry_after > wait:
            wait = retry_after
        return min(wait, float(self.max_retry_after))


def _retry_after(error: BaseException) -> float | None:
    value = getattr(error, "retry_after", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
