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

__all__ = ["DEFAULT_MODEL", "PRICES", "PRICES_DATE", "CostEstimate", "estimate_cost", "price_per_minute"]

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
    unknown_duration: int  # files whose duration could not be probed (not in the total)
    prices_date: str = PRICES_DATE

    def __str__(self) -> str:
        if self.per_minute == 0:
            return f"{self.files} file(s), {self.minutes:,.1f} audio minutes with {self.model}: free"
        if self.dollars is None:
            cost = "unknown (no price for this model)"
        else:
            cost = f"${self.dollars:,.2f}" if self.dollars >= 1 else f"${self.dollars:.4f}"
        rate = f" at ${self.per_minute}/min" if self.per_minute is not None else ""
        tail = (
            f"; {self.unknown_duration} file(s) of unknown duration not counted"
            if self.unknown_duration
            else ""
        )
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
) -> CostEstimate:
    """Estimate what transcribing audio of these durations (seconds) costs.

    Examples
    --------
    >>> print(estimate_cost([60.0, None], model="nova-3-medical"))
    2 file(s), 1.0 audio minutes with nova-3-medical: $0.0059 at $0.0059/min (prices of 2026-11-21, add-ons not included); 1 file(s) of unknown duration not counted
    """
    ds = list(durations)
    known = [d for d in ds if d is not None]
    minutes = sum(known) / 60.0
    rate = 0.0 if free else price_per_minute(model, prices)  # free: the embedded local engine
    dollars = None if rate is None else round(minutes * rate, 6)
    return CostEstimate(
        files=len(ds),
        minutes=minutes,
        dollars=dollars,
        model="the local engine" if free else (model or DEFAULT_MODEL),
        per_minute=rate,
        unknown_duration=len(ds) - len(known),
    )
