"""Cost estimates before money is spent.

:data:`PRICES` is a dated, editable table of pay-as-you-go prices per audio
minute for pre-recorded transcription; :data:`TTS_PRICES` the same for
text-to-speech, per 1,000 characters (Aura and Aura-2 voices).  Prices change:
check Deepgram's pricing page, and pass your own table (``prices=``) where your
contract differs.  Add-ons billed on top of the model (audio intelligence
features) are not included; the estimate says so.

Examples
--------
>>> from dgtools.pricing import estimate_cost, estimate_speech_cost
>>> estimate_cost([600.0, 300.0], model="nova-3").dollars
0.0645
>>> estimate_speech_cost([2000, 1000], model="aura-2-thalia-en").dollars
0.09
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "ASSUMED_KBPS",
    "DEFAULT_MODEL",
    "DEFAULT_TTS_MODEL",
    "PRICES",
    "PRICES_DATE",
    "TTS_PRICES",
    "TTS_PRICES_DATE",
    "CostEstimate",
    "SpeechCostEstimate",
    "estimate_cost",
    "estimate_speech_cost",
    "price_per_1k_characters",
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


# --------------------------------------------------------------------------- text-to-speech

#: When the text-to-speech prices below were last checked.
TTS_PRICES_DATE = "2026-11-21"

#: US dollars per 1,000 characters of text-to-speech (``/v1/speak``), pay-as-you-go, by voice family:
#: a voice is priced by its family (``aura-asteria-en`` -> ``aura``, ``aura-2-thalia-en`` -> ``aura-2``).
#: Seed prices; edit, or pass ``prices=``.
TTS_PRICES: dict[str, float] = {
    "aura": 0.015,
    "aura-2": 0.030,
}

#: The voice priced when ``model=`` is not given (Deepgram's default for ``/v1/speak``).
DEFAULT_TTS_MODEL = "aura-asteria-en"


def price_per_1k_characters(model: str | None, prices: Mapping[str, float] | None = None) -> float | None:
    """Dollars per 1,000 characters for the voice ``model``: an exact entry, else its family.

    Examples
    --------
    >>> price_per_1k_characters("aura-asteria-en"), price_per_1k_characters("aura-2-thalia-en")
    (0.015, 0.03)
    >>> price_per_1k_characters("nova-3") is None
    True
    """
    return price_per_minute(model or DEFAULT_TTS_MODEL, TTS_PRICES if prices is None else prices)


@dataclass(frozen=True)
class SpeechCostEstimate:
    """The estimated cost of synthesising some text: requests, characters, dollars.

    Deepgram bills text-to-speech by the character (of the text sent, each request's), so the
    estimate is exact when the voice has a price (``dollars`` is None when it has none).
    """

    requests: int
    characters: int
    dollars: float | None  # None: the voice has no price in the table
    model: str
    per_thousand: float | None  # dollars per 1,000 characters (0: free)
    prices_date: str = TTS_PRICES_DATE

    def __str__(self) -> str:
        what = f"{self.requests} request(s), {self.characters:,} characters with {self.model}"
        if self.per_thousand == 0:
            return f"{what}: free"
        if self.dollars is None:
            return f"{what}: unknown cost (no price for this voice in dgtools.pricing.TTS_PRICES)"
        d = self.dollars
        cost = f"${d:,.2f}" if d >= 1 else f"${d:.4f}" if d >= 0.0001 or d == 0 else f"${d:.6f}"
        return f"{what}: {cost} at ${self.per_thousand}/1,000 characters (prices of {self.prices_date})"


def estimate_speech_cost(
    characters: Iterable[int],
    *,
    model: str | None = None,
    prices: Mapping[str, float] | None = None,
    free: bool = False,
) -> SpeechCostEstimate:
    """Estimate what synthesising texts of these lengths (characters per request) costs.

    ``free``: the local voice (``engine="local"``), which costs nothing.

    Examples
    --------
    >>> print(estimate_speech_cost([2000, 2000, 1000], model="aura-asteria-en"))
    3 request(s), 5,000 characters with aura-asteria-en: $0.0750 at $0.015/1,000 characters (prices of 2026-11-21)
    >>> print(estimate_speech_cost([2], model="aura-asteria-en"))
    1 request(s), 2 characters with aura-asteria-en: $0.000030 at $0.015/1,000 characters (prices of 2026-11-21)
    >>> print(estimate_speech_cost([12], model="aura-asteria-en", free=True))
    1 request(s), 12 characters with the local voice: free
    """
    counts = [int(n) for n in characters]
    total = sum(counts)
    rate = 0.0 if free else price_per_1k_characters(model, prices)
    return SpeechCostEstimate(
        requests=len(counts),
        characters=total,
        dollars=None if rate is None else round(total / 1000 * rate, 6),
        model="the local voice" if free else (model or DEFAULT_TTS_MODEL),
        per_thousand=rate,
    )
