"""pocketsphinx decoding of one channel of 16 kHz audio.

:class:`Recognizer` wraps one ``pocketsphinx.Decoder`` with the US English
model that ships in the pocketsphinx wheel (nothing is downloaded).  It
finds speech regions with an energy detector relative to the recording's
own levels (:func:`speech_regions`), decodes each region as one utterance with the n-gram
language model, and returns words with times and posterior probabilities,
distinct n-best variants, and keyword-spotting detections.  A decoder is
not thread-safe: use one :class:`Recognizer` per thread or process.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ...exceptions import ConfigError
from ..pcm import RATE

__all__ = [
    "ChannelDecode",
    "Recognizer",
    "Region",
    "Spot",
    "Word",
    "normalise_phrase",
    "phone_similarity",
    "pocketsphinx_version",
    "speech_regions",
]

#: Decoder settings beyond the model paths.  ``fwdflat=False`` skips the second (flat-lexicon)
#: search pass: about 1.3x faster on the sample data with the same words.  ``bestpath`` (the
#: default) builds the lattice that gives word posteriors and the n-best list.
DECODER_DEFAULTS: Final[dict[str, Any]] = {"loglevel": "FATAL", "fwdflat": False, "bestpath": True}
#: Voice-activity detection works on frames of this many seconds.
VAD_FRAME: Final = 0.01
#: A frame is speech when it is this many dB above the recording's noise floor (its 10th percentile
#: frame energy) and no more than :data:`VAD_RANGE` dB below its loud frames (the 99th percentile):
#: thresholds relative to the recording, so a quiet call (-33 dBFS) is found as well as a loud one.
VAD_ABOVE_FLOOR: Final = 8.0
VAD_RANGE: Final = 45.0
#: Audio whose loud frames are below this level (dBFS) holds no speech (digital silence, hum).
VAD_SILENT: Final = -65.0
#: Pauses shorter than this (seconds) stay inside a region; speech shorter than VAD_MIN_SPEECH is dropped.
VAD_BRIDGE: Final = 0.3
VAD_MIN_SPEECH: Final = 0.08
#: Seconds of audio kept on each side of a speech region (gives the decoder some silence to start from).
REGION_PAD: Final = 0.15
#: Regions longer than this are cut at their quietest 10 ms between ``MAX_REGION - 10`` and ``MAX_REGION`` seconds.
MAX_REGION: Final = 30.0
#: How many n-best hypotheses to read per region while looking for distinct variants.
NBEST_READ: Final = 60
#: Keyword-spotting threshold per phone of the phrase: a phrase of n phones gets ``1e-(KWS_PER_PHONE * n)``,
#: clamped to ``1e-KWS_MIN_EXP`` .. ``1e-KWS_MAX_EXP`` (short phrases need stricter thresholds).
KWS_PER_PHONE: Final = 4
KWS_MIN_EXP: Final = 10
KWS_MAX_EXP: Final = 50

_ALT_PRON = re.compile(r"\(\d+\)$")
_SPACES = re.compile(r"\s+")


def pocketsphinx_version() -> str:
    """The installed pocketsphinx version, without importing it ("unknown" when absent)."""
    try:
        return metadata.version("pocketsphinx")
    except metadata.PackageNotFoundError:
        return "unknown"


def normalise_phrase(text: str) -> str:
    """Lower case, single spaces: how search terms and dictionary words are compared."""
    return _SPACES.sub(" ", text.strip().lower())


def clean_token(token: str) -> str | None:
    """A decoder token as a word, or None for silence and fillers (``<s>``, ``<sil>``, ``[NOISE]``, ``++UM++``)."""
    token = token.strip()
    if not token or token[0] in "<[+" or token.endswith(("]", "++")):
        return None
    return _ALT_PRON.sub("", token).lower()


def phone_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """How alike two phone sequences are, in [0, 1] (difflib's ratio)."""
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, list(a), list(b), autojunk=False).ratio()


@dataclass(frozen=True, slots=True)
class Word:
    """A recognised word: times in seconds, ``confidence`` its lattice posterior."""

    word: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Region:
    """A speech region decoded as one utterance.

    ``variants`` are distinct n-best word sequences other than ``words``, best first.
    """

    start: float
    end: float
    words: tuple[Word, ...]
    variants: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Spot:
    """A keyword-spotting detection of ``phrase`` (``score`` is the decoder's detection probability)."""

    phrase: str
    start: float
    end: float
    score: float


@dataclass(frozen=True)
class ChannelDecode:
    """Everything decoded from one channel.

    ``phones`` maps every word in the words, variants and search phrases to its
    pronunciation (words missing from the dictionary are absent).
    """

    regions: tuple[Region, ...]
    spots: tuple[Spot, ...] = ()
    phones: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def words(self) -> list[Word]:
        """The best-path words of all regions, in time order."""
        return [w for r in self.regions for w in r.words]


class Recognizer:
    """One pocketsphinx decoder with the bundled US English model.

    Parameters
    ----------
    **config
        pocketsphinx configuration (see ``pocketsphinx.Decoder``), merged over
        :data:`DECODER_DEFAULTS`; ``hmm``, ``lm`` and ``dict`` default to the
        model in the wheel (``pocketsphinx.get_model_path()``).

    Raises
    ------
    ConfigError
        pocketsphinx is not installed, or the configuration is invalid.
    """

    def __init__(self, **config: Any) -> None:
        try:
            import pocketsphinx
        except ImportError as exc:
            raise ConfigError(
                f"the local engine needs pocketsphinx ({exc}); install it with 'pip install pocketsphinx'"
            ) from exc
        self._ps = pocketsphinx
        model = pocketsphinx.get_model_path()
        settings: dict[str, Any] = {
            "hmm": os.path.join(model, "en-us", "en-us"),
            "lm": os.path.join(model, "en-us", "en-us.lm.bin"),
            "dict": os.path.join(model, "en-us", "cmudict-en-us.dict"),
            **DECODER_DEFAULTS,
            **config,
        }
        try:
            self._decoder = pocketsphinx.Decoder(**settings)
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(f"pocketsphinx rejected the decoder configuration {settings!r}: {exc}") from exc
        self._frate = float(self._decoder.config["frate"])
        self._pron_cache: dict[str, tuple[str, ...] | None] = {}

    # -- dictionary

    def pronunciation(self, word: str) -> tuple[str, ...] | None:
        """The first dictionary pronunciation of ``word`` as phones, or None when it is not in the dictionary."""
        word = word.lower()
        if word not in self._pron_cache:
            phones = self._decoder.lookup_word(word)
            self._pron_cache[word] = tuple(phones.split()) if phones else None
        return self._pron_cache[word]

    # -- decoding

    def decode(
        self, samples: npt.NDArray[np.float32], *, n_variants: int = 0, phrases: Iterable[str] = ()
    ) -> ChannelDecode:
        """Decode one channel of 16 kHz float audio.

        Parameters
        ----------
        samples
            Mono float32 samples at 16 kHz in [-1, 1].
        n_variants
            How many distinct n-best variants to keep per region (``alternatives - 1``).
        phrases
            Search phrases to spot; those with a word outside the dictionary are skipped
            (their words are missing from ``phones``).

        Returns
        -------
        ChannelDecode
        """
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
        spans = self.speech_regions(pcm)
        regions = tuple(self._decode_region(pcm, a, b, n_variants) for a, b in spans)
        wanted = list(dict.fromkeys(normalise_phrase(p) for p in phrases if p.strip()))
        phones: dict[str, tuple[str, ...]] = {}
        for w in {w.word for r in regions for w in r.words} | {
            t for r in regions for v in r.variants for t in v
        }:
            p = self.pronunciation(w)
            if p is not None:
                phones[w] = p
        spottable = []
        for phrase in wanted:
            prons = {w: self.pronunciation(w) for w in phrase.split()}
            known = {w: p for w, p in prons.items() if p is not None}
            if len(known) == len(prons):
                spottable.append(phrase)
                phones.update(known)
        spots = self._spot(pcm, spans, spottable, phones) if spottable and spans else ()
        return ChannelDecode(regions=regions, spots=spots, phones=phones)

    def speech_regions(self, pcm: npt.NDArray[np.int16]) -> list[tuple[int, int]]:
        """Speech regions as ``(start, end)`` sample indexes (see :func:`speech_regions`)."""
        return speech_regions(pcm)

    def _decode_region(self, pcm: npt.NDArray[np.int16], a: int, b: int, n_variants: int) -> Region:
        dec = self._decoder
        offset = a / RATE
        dec.reinit_feat()  # no state from earlier audio (noise estimates, CMN): the same region decodes the same
        dec.start_utt()
        dec.process_raw(pcm[a:b].tobytes(), full_utt=True)
        dec.end_utt()
        words: list[Word] = []
        if dec.hyp() is None:
            return Region(offset, b / RATE, ())
        for seg in dec.seg() or ():
            token = clean_token(seg.word)
            if token is None:
                continue
            start = offset + seg.start_frame / self._frate
            end = offset + (seg.end_frame + 1) / self._frate
            words.append(Word(token, start, end, min(1.0, max(0.0, float(seg.prob)))))
        variants: list[tuple[str, ...]] = []
        if n_variants > 0:
            best = tuple(w.word for w in words)
            seen = {best}
            for i, hyp in enumerate(dec.nbest() or ()):
                if i >= NBEST_READ or len(variants) >= n_variants:
                    break
                if hyp is None:  # pocketsphinx yields None for a lattice path it cannot spell out
                    continue
                tokens = tuple(t for t in (clean_token(x) for x in (hyp.hypstr or "").split()) if t)
                if tokens and tokens not in seen:
                    seen.add(tokens)
                    variants.append(tokens)
        return Region(offset, b / RATE, tuple(words), tuple(variants))

    def _spot(
        self,
        pcm: npt.NDArray[np.int16],
        spans: list[tuple[int, int]],
        phrases: list[str],
        phones: dict[str, tuple[str, ...]],
    ) -> tuple[Spot, ...]:
        """Keyword spotting over the speech regions with a temporary keyphrase search."""
        dec = self._decoder
        fd, path = tempfile.mkstemp(prefix="dgtools-kws-", suffix=".txt", text=True)
        lines = []
        for phrase in phrases:
            n_phones = sum(len(phones[w]) for w in phrase.split())
            exponent = min(KWS_MAX_EXP, max(KWS_MIN_EXP, KWS_PER_PHONE * n_phones))
            lines.append(f"{phrase} /1e-{exponent}/\n")
        with os.fdopen(fd, "w") as f:
            f.writelines(lines)
        name, wanted = "dgtools_kws", set(phrases)
        spots: list[Spot] = []
        try:
            dec.add_kws(name, path)
            dec.activate_search(name)
            for a, b in spans:
                dec.reinit_feat()
                dec.start_utt()
                dec.process_raw(pcm[a:b].tobytes(), full_utt=True)
                dec.end_utt()
                for seg in dec.seg() or ():
                    phrase = normalise_phrase(seg.word)
                    if phrase in wanted:
                        spots.append(
                            Spot(
                                phrase,
                                a / RATE + seg.start_frame / self._frate,
                                a / RATE + (seg.end_frame + 1) / self._frate,
                                min(1.0, max(0.0, float(seg.prob))),
                            )
                        )
        finally:
            with contextlib.suppress(Exception):
                dec.activate_search()
                dec.remove_search(name)
            os.unlink(path)
        return tuple(spots)


def speech_regions(pcm: npt.NDArray[np.int16]) -> list[tuple[int, int]]:
    """Where a recording holds speech: ``(start, end)`` sample indexes, padded, long regions cut.

    An energy detector with thresholds relative to the recording itself: a 10 ms frame is
    speech when it is :data:`VAD_ABOVE_FLOOR` dB above the noise floor and within
    :data:`VAD_RANGE` dB of the loud frames; pauses shorter than :data:`VAD_BRIDGE` stay
    inside a region.  It errs towards keeping audio: a region with no words costs a little
    decoding, a dropped one loses the words (pocketsphinx's WebRTC detector found 2 s of the
    23 s of speech in a quiet two-person call).  Regions are padded by :data:`REGION_PAD`
    (never past the midpoint to the next) and cut at :data:`MAX_REGION` seconds.

    Examples
    --------
    >>> rate = 16000
    >>> t = np.arange(rate) / rate
    >>> tone = (0.02 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)  # -37 dBFS, quiet
    >>> pcm = np.concatenate([np.zeros(rate, np.int16), tone, np.zeros(rate, np.int16)])
    >>> [(a / rate, b / rate) for a, b in speech_regions(pcm)]
    [(0.85, 2.15)]
    >>> speech_regions(np.zeros(rate, np.int16))
    []
    """
    frame = int(VAD_FRAME * RATE)
    n = len(pcm) // frame
    if n == 0:
        return []
    x = pcm[: n * frame].astype(np.float64).reshape(n, frame) / 32768.0
    energy = 10.0 * np.log10((x**2).mean(axis=1) + 1e-12)
    floor, loud = np.percentile(energy, [10, 99])
    if loud < VAD_SILENT:
        return []
    speech = energy > max(floor + VAD_ABOVE_FLOOR, loud - VAD_RANGE)
    raw = _runs(speech, bridge=int(VAD_BRIDGE / VAD_FRAME), shortest=int(VAD_MIN_SPEECH / VAD_FRAME))
    raw = [(a * frame, b * frame) for a, b in raw]
    total, pad = len(pcm), int(REGION_PAD * RATE)
    out: list[tuple[int, int]] = []
    for i, (a, b) in enumerate(raw):
        lo = max(0, a - pad) if i == 0 else max(a - pad, (raw[i - 1][1] + a) // 2)
        hi = min(total, b + pad) if i == len(raw) - 1 else min(b + pad, (b + raw[i + 1][0]) // 2)
        if hi > lo:
            out.extend(_cut_long(pcm, lo, hi))
    return out


def _runs(flags: npt.NDArray[np.bool_], *, bridge: int, shortest: int) -> list[tuple[int, int]]:
    """``[start, end)`` runs of True, gaps shorter than ``bridge`` closed, runs shorter than ``shortest`` dropped."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    runs: list[tuple[int, int]] = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if runs and a - runs[-1][1] < bridge:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    return [(a, b) for a, b in runs if b - a >= shortest]


def _cut_long(pcm: npt.NDArray[np.int16], lo: int, hi: int) -> list[tuple[int, int]]:
    """Split ``[lo, hi)`` into pieces of at most :data:`MAX_REGION` seconds at quiet 10 ms frames."""
    longest, frame = int(MAX_REGION * RATE), RATE // 100
    out = []
    while hi - lo > longest:
        window = pcm[lo + longest - 10 * RATE : lo + longest].astype(np.float64)
        energy = (window[: len(window) // frame * frame].reshape(-1, frame) ** 2).mean(axis=1)
        cut = lo + longest - 10 * RATE + int(np.argmin(energy)) * frame
        out.append((lo, cut))
        lo = cut
    out.append((lo, hi))
    return out
