"""Cost estimates before money is spent.

:data:`PRICES` is a dated, editable table of pay-as-you-go prices per audio
minute for pre-recorded transcription.  Prices change: check Deepgram's
pricing page, and pass your own table (``prices=``) where your contract
differs.  Add-ons billed on top of the model (audio intelligence features) are
not included; the estimate says so.

Examples
--------
>>> from dgtools.pricing import estimate_cost
>>> estimate_cost([600.0, 300.0], model="nova-3").dollars
0.0645
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "ASSUMED_KBPS",
    "DEFAULT_MODEL",
    "PRICES",
    "PRICES_DATE",
    "CostEstimate",
    "estimate_cost",
    "price_per_minute",
]

#: When the prices below were last checked.
PRICES_DATE = "2026-11-21"

#: US dollars per minute of audio, pre-recorded, pay-as-you-go (seed prices; edit or pass ``prices=``).
PRICES: dict[str, float] = {
    "nova-3": 0.0043,
    "nova-3-general": 0.0043,
    "nova-3-medical": 0.0059,
    "nova-2": 0.0043,
    "nova-2-general": 0.0043,
    "nova-2-meeting": 0.0049,
    "nova-2-phonecall": 0.0045,
    "enhanced": 0.0145,
    "whisper-medium": 0.0048,
}

#: The model priced when ``model=`` is not given.
DEFAULT_MODEL = "nova-3"

#: Bitrate assumed for a file whose duration cannot be read (an AAC stream without ffmpeg, say):
#: its minutes are estimated from its size at this rate, and the estimate says so.  32 kbit/s is a
#: typical speech bitrate for compressed audio; a lower one would mean more minutes, so a budget
#: cannot rely on it (see :func:`estimate_cost`).
ASSUMED_KBPS = 32


def price_per_minute(model: str | None, prices: Mapping[str, float] | None = None) -> float | None:
    """Dollars per audio minute for ``model``: an exact entry, else its family (``nova-2-finance`` -> ``nova-2``)."""
    table = PRICES if prices is None else prices
    name = (model or DEFAULT_MODEL).lower()
    while name:
        if name in table:
            return float(table[name])
        if "-" not in name:
            break
        name = name.rsplit("-", 1)[0]
    return None


@dataclass(frozen=True)
class CostEstimate:
    """The estimated cost of sending some audio."""

    files: int
    minutes: float
    dollars: float | None  # None: the model has no price in the table
    model: str
    per_minute: float | None
    unknown_duration: int  # files with neither a duration nor a size (URLs): not in the total
    prices_date: str = PRICES_DATE
    from_size: int = 0  # files whose minutes are estimated from their size at ASSUMED_KBPS

    @property
    def exact(self) -> bool:
        """Whether every file's duration was read (none estimated from its size, none unknown)."""
        return self.unknown_duration == 0 and self.from_size == 0

    def __str__(self) -> str:
        if self.per_minute == 0:
            return f"{self.files} file(s), {self.minutes:,.1f} audio minutes with {self.model}: free"
        if self.dollars is None:
            cost = "unknown (no price for this model)"
        else:
            cost = f"${self.dollars:,.2f}" if self.dollars >= 1 else f"${self.dollars:.4f}"
        rate = f" at ${self.per_minute}/min" if self.per_minute is not None else ""
        tail = ""
        if self.from_size:
            tail += f"; {self.from_size} file(s) estimated from their size at {ASSUMED_KBPS} kbit/s"
        if self.unknown_duration:
            tail += f"; {self.unknown_duration} file(s) of unknown duration (URLs) not counted"
        return (
            f"{self.files} file(s), {self.minutes:,.1f} audio minutes with {self.model}: {cost}{rate} "
            f"(prices of {self.prices_date}, add-ons not included){tail}"
        )


def estimate_cost(
    durations: Iterable[float | None],
    *,
    model: str | None = None,
    prices: Mapping[str, float] | None = None,
    free: bool = False,
    sizes: Iterable[int | None] | None = None,
) -> CostEstimate:
    """Estimate what transcribing audio of these durations (seconds) costs.

    A file whose duration is None but whose size (``sizes``, bytes, in the same order) is known
    counts as its size at :data:`ASSUMED_KBPS` (``from_size``); one with neither (a URL) is not
    counted (``unknown_duration``).  Such an estimate is not exact (:attr:`CostEstimate.exact`),
    so a budget cannot rely on it: :func:`dgtools.transcribe` refuses to start with ``budget=``
    when it is not exact.

    Examples
    --------
    >>> print(estimate_cost([60.0, None], model="nova-3-medical"))
    2 file(s), 1.0 audio minutes with nova-3-medical: $0.0059 at $0.0059/min (prices of 2026-11-21, add-ons not included); 1 file(s) of unknown duration (URLs) not counted
    >>> e = estimate_cost([None], sizes=[240_000])     # 240 KB at 32 kbit/s: one minute
    >>> e.minutes, e.from_size, e.exact
    (1.0, 1, False)
    """
    ds = list(durations)
    sz = list(sizes) if sizes is not None else [None] * len(ds)
    if len(sz) != len(ds):
        raise ValueError(f"sizes has {len(sz)} items for {len(ds)} durations")
    known = [d for d in ds if d is not None]
    guessed = [
        s * 8 / (ASSUMED_KBPS * 1000) for d, s in zip(ds, sz, strict=True) if d is None and s is not None
    ]
    minutes = (sum(known) + sum(guessed)) / 60.0
    rate = 0.0 if free else price_per_minute(model, prices)  # free: the embedded local engine
    dollars = None if rate is None else round(minutes * rate, 6)
    return CostEstimate(
        files=len(ds),
        minutes=minutes,
        dollars=dollars,
        model="the local engine" if free else (model or DEFAULT_MODEL),
        per_minute=rate,
        unknown_duration=len(ds) - len(known) - len(guessed),
        from_size=len(guessed),
    )
