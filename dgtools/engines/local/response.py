"""Decoded channels to the ``results`` of a Deepgram ``/v1/listen`` response (pure functions).

How Deepgram's structures are derived from what pocketsphinx gives:

* **words**: the best path of each speech region; ``confidence`` is the word's
  lattice posterior.  Fillers and silences are dropped.
* **sentences** (punctuation): a new sentence starts with each speech region,
  after a pause of at least :data:`SENTENCE_GAP` seconds and at a speaker
  change; a pause of :data:`COMMA_GAP` seconds or more inside a sentence
  adds a comma.  The first word of a sentence and the pronoun "I" are
  capitalised and the last word gets a period.
* **paragraphs**: the sentences of one speech region (split at speaker changes).
* **utterances**: per channel, runs of words split at pauses longer than
  ``utt_split`` and at speaker changes; ids are uuid5s of the audio's sha256,
  so the same audio and options give the same response (bar ``created`` and
  ``request_id``).
* **alternatives**: alternative *k* takes, in every region, the *k*-th distinct
  n-best hypothesis (the best path where a region has fewer); words shared with
  the best path keep its times and posteriors; the others share the time of the
  words they replace, with confidence ``1 - posterior`` of those words.  Only
  distinct alternatives are returned.
* **diarization** of multichannel audio sent without ``multichannel``: the
  channels are mixed for decoding, then each word gets the speaker of the
  channel with the highest RMS over the word's span (speaker *n* is channel
  *n*) and ``speaker_confidence`` = that channel's share of the summed RMS.
* **search**: keyword spotting hits and exact matches in the transcript,
  merged (overlapping hits keep the most confident).  A spotted hit's
  confidence is the detection probability times the phone similarity of the
  query and the transcript words under the hit, so a spot over unrelated
  words scores low.  Hits are sorted by confidence, best first.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..pcm import RATE
from .request import Plan
from .sphinx import ChannelDecode, Region, normalise_phrase, phone_similarity

__all__ = [
    "COMMA_GAP",
    "SENTENCE_GAP",
    "ResultWord",
    "alternative_dict",
    "alternative_words",
    "assign_speakers",
    "build_results",
    "rounded",
    "search_dict",
    "utterance_dicts",
]

#: A pause of at least this many seconds ends a sentence.
SENTENCE_GAP: Final = 0.3
#: A pause of at least this many seconds (and shorter than SENTENCE_GAP) gets a comma.
COMMA_GAP: Final = 0.2
_PRONOUN_I: Final = frozenset({"i", "i'm", "i'll", "i'd", "i've"})
_UUID_NAMESPACE: Final = uuid.UUID("6f0d4c5e-3b1a-5c7e-9d2f-8a4b6c0e1f23")


@dataclass(slots=True)
class ResultWord:
    """A word on its way into a response: times, confidence, its region, speaker and punctuated form."""

    word: str
    start: float
    end: float
    confidence: float
    region: int
    speaker: int | None = None
    speaker_confidence: float | None = None
    punctuated: str = ""
    sentence: int = 0


def rounded(x: float, digits: int = 3) -> float:
    """``x`` as a float rounded to ``digits`` (times to the millisecond, as Deepgram gives them)."""
    return round(float(x), digits)


def build_results(
    plan: Plan,
    decodes: Sequence[ChannelDecode],
    *,
    sources: npt.NDArray[np.float32] | None,
    seed: str,
) -> dict[str, Any]:
    """Build ``results`` (``channels`` and, when asked, ``utterances``).

    Parameters
    ----------
    plan
        The request's plan; ``plan.diarize`` must already be resolved for the audio.
    decodes
        One decode per result channel.
    sources
        The per-channel 16 kHz samples, ``(channels, n)``, for ``diarize="loudness"``.
    seed
        Makes utterance ids deterministic (the audio's sha256).

    Examples
    --------
    >>> from dgtools.engines.local.sphinx import Region, Word
    >>> words = (Word("hello", 0.1, 0.4, 0.9), Word("i", 0.45, 0.6, 0.8), Word("am", 0.62, 0.8, 0.7))
    >>> decode = ChannelDecode(regions=(Region(0.0, 1.0, words),))
    >>> results = build_results(Plan(punctuate=True), [decode], sources=None, seed="x")
    >>> results["channels"][0]["alternatives"][0]["transcript"]
    'Hello I am.'
    """
    channels: list[dict[str, Any]] = []
    best_words: list[list[ResultWord]] = []
    for decode in decodes:
        alternatives = alternative_words(decode.regions, plan.alternatives)
        for words in alternatives:
            assign_speakers(words, plan, sources)
            _punctuate(words)
        best_words.append(alternatives[0])
        channel: dict[str, Any] = {}
        if plan.search:
            channel["search"] = [search_dict(q, decode, alternatives[0]) for q in plan.search]
        channel["alternatives"] = [alternative_dict(words, plan) for words in alternatives]
        channels.append(channel)
    results: dict[str, Any] = {"channels": channels}
    if plan.utterances:
        results["utterances"] = utterance_dicts(best_words, plan, seed)
    return results


# --------------------------------------------------------------------------- alternatives


def alternative_words(regions: Sequence[Region], n: int) -> list[list[ResultWord]]:
    """The best path and up to ``n - 1`` distinct alternatives, each as one list of words (see the module)."""
    best = [
        ResultWord(w.word, w.start, w.end, w.confidence, i) for i, r in enumerate(regions) for w in r.words
    ]
    out = [best]
    seen = {tuple(w.word for w in best)}
    for k in range(1, n):
        words: list[ResultWord] = []
        for i, region in enumerate(regions):
            region_best = [ResultWord(w.word, w.start, w.end, w.confidence, i) for w in region.words]
            if len(region.variants) >= k:
                words.extend(_realign(region_best, region.variants[k - 1], region, i))
            else:
                words.extend(region_best)
        key = tuple(w.word for w in words)
        if key in seen:
            continue
        seen.add(key)
        out.append(words)
    return out


def _realign(best: list[ResultWord], variant: Sequence[str], region: Region, index: int) -> list[ResultWord]:
    """Times and confidences for a variant's words, borrowed from the best path they align with."""
    matcher = difflib.SequenceMatcher(None, [w.word for w in best], list(variant), autojunk=False)
    out: list[ResultWord] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.extend(replace(w) for w in best[i1:i2])
            continue
        if j2 == j1:  # the variant drops these words
            continue
        if i2 > i1:
            start, end = best[i1].start, best[i2 - 1].end
            replaced = best[i1:i2]
        else:  # inserted between neighbours
            start = best[i1 - 1].end if i1 > 0 else region.start
            end = best[i1].start if i1 < len(best) else region.end
            replaced = best[max(0, i1 - 1) : i1 + 1]
        confidence = 1.0 - float(np.mean([w.confidence for w in replaced])) if replaced else 0.5
        step = max(0.0, end - start) / (j2 - j1)
        for k, token in enumerate(variant[j1:j2]):
            out.append(
                ResultWord(
                    token, start + k * step, start + (k + 1) * step, min(1.0, max(0.0, confidence)), index
                )
            )
    return out


# --------------------------------------------------------------------------- speakers and punctuation


def assign_speakers(words: list[ResultWord], plan: Plan, sources: npt.NDArray[np.float32] | None) -> None:
    """Set each word's speaker: 0 per channel for ``diarize="channel"``, the loudest channel for ``"loudness"``."""
    if plan.diarize == "channel":
        for w in words:
            w.speaker, w.speaker_confidence = 0, 1.0
        return
    if plan.diarize != "loudness" or sources is None:
        return
    previous = 0
    for w in words:
        a, b = int(w.start * RATE), max(int(w.end * RATE), int(w.start * RATE) + 1)
        span = sources[:, a:b].astype(np.float64)
        rms = np.sqrt((span**2).mean(axis=1)) if span.shape[1] else np.zeros(sources.shape[0])
        total = float(rms.sum())
        if total <= 0.0:
            w.speaker, w.speaker_confidence = previous, 0.0
        else:
            w.speaker = int(np.argmax(rms))
            w.speaker_confidence = float(rms[w.speaker]) / total
        previous = w.speaker


def _punctuate(words: list[ResultWord]) -> None:
    sentence = -1
    for i, w in enumerate(words):
        prev = words[i - 1] if i else None
        gap = w.start - prev.end if prev else 0.0
        if prev is None or w.region != prev.region or gap >= SENTENCE_GAP or w.speaker != prev.speaker:
            sentence += 1
            w.punctuated = _capitalise(w.word)
            if prev is not None:
                prev.punctuated = prev.punctuated.rstrip(",") + "."
        else:
            w.punctuated = _capitalise(w.word) if w.word in _PRONOUN_I else w.word
            if gap >= COMMA_GAP:
                prev.punctuated += ","
        w.sentence = sentence
    if words:
        words[-1].punctuated = words[-1].punctuated.rstrip(",") + "."


def _capitalise(word: str) -> str:
    return word[:1].upper() + word[1:]


# --------------------------------------------------------------------------- output


def _word_dict(w: ResultWord, plan: Plan) -> dict[str, Any]:
    d: dict[str, Any] = {
        "word": w.word,
        "start": rounded(w.start),
        "end": rounded(w.end),
        "confidence": rounded(w.confidence, 4),
    }
    if w.speaker is not None:
        d["speaker"] = w.speaker
        d["speaker_confidence"] = rounded(w.speaker_confidence or 0.0, 4)
    if plan.punctuate:
        d["punctuated_word"] = w.punctuated
    return d


def _text(words: Sequence[ResultWord], plan: Plan) -> str:
    return " ".join(w.punctuated if plan.punctuate else w.word for w in words)


def _mean_confidence(words: Sequence[ResultWord]) -> float:
    return rounded(float(np.mean([w.confidence for w in words])), 4) if words else 0.0


def alternative_dict(words: list[ResultWord], plan: Plan) -> dict[str, Any]:
    """One ``alternatives`` entry: transcript, mean confidence, words and (when asked) paragraphs."""
    alt: dict[str, Any] = {
        "transcript": _text(words, plan),
        "confidence": _mean_confidence(words),
        "words": [_word_dict(w, plan) for w in words],
    }
    if plan.paragraphs:
        alt["paragraphs"] = _paragraphs(words, plan)
    return alt


def _runs(words: list[ResultWord], key: Any) -> list[list[ResultWord]]:
    """Consecutive words with the same ``key(word)``."""
    out: list[list[ResultWord]] = []
    for w in words:
        if out and key(out[-1][-1]) == key(w):
            out[-1].append(w)
        else:
            out.append([w])
    return out


def _paragraphs(words: list[ResultWord], plan: Plan) -> dict[str, Any]:
    paragraphs: list[dict[str, Any]] = []
    texts: list[str] = []
    for para in _runs(words, lambda w: (w.region, w.speaker)):
        groups = _runs(para, lambda w: w.sentence)
        sentence_texts = [" ".join(w.punctuated for w in s) for s in groups]
        sentences = [
            {"text": t, "start": rounded(s[0].start), "end": rounded(s[-1].end)}
            for t, s in zip(sentence_texts, groups, strict=True)
        ]
        entry: dict[str, Any] = {"sentences": sentences}
        text = " ".join(sentence_texts)
        if para[0].speaker is not None:
            entry["speaker"] = para[0].speaker
            text = f"Speaker {para[0].speaker}: {text}"
        entry["num_words"] = len(para)
        entry["start"] = rounded(para[0].start)
        entry["end"] = rounded(para[-1].end)
        paragraphs.append(entry)
        texts.append(text)
    return {"transcript": "".join(f"\n{t}\n" for t in texts).rstrip("\n"), "paragraphs": paragraphs}


def utterance_dicts(per_channel: list[list[ResultWord]], plan: Plan, seed: str) -> list[dict[str, Any]]:
    """``results.utterances``: per channel, words split at pauses over ``utt_split`` and at speaker changes."""
    out: list[dict[str, Any]] = []
    for channel, words in enumerate(per_channel):
        groups: list[list[ResultWord]] = []
        for w in words:
            if (
                groups
                and w.start - groups[-1][-1].end <= plan.utt_split
                and w.speaker == groups[-1][-1].speaker
            ):
                groups[-1].append(w)
            else:
                groups.append([w])
        for k, group in enumerate(groups):
            u: dict[str, Any] = {
                "start": rounded(group[0].start),
                "end": rounded(group[-1].end),
                "confidence": _mean_confidence(group),
                "channel": channel,
                "transcript": _text(group, plan),
                "words": [_word_dict(w, plan) for w in group],
            }
            if group[0].speaker is not None:
                u["speaker"] = group[0].speaker
            u["id"] = str(uuid.uuid5(_UUID_NAMESPACE, f"{seed}:{channel}:{k}"))
            out.append(u)
    out.sort(key=lambda u: (u["start"], u["channel"]))
    return out


# --------------------------------------------------------------------------- search


def search_dict(query: str, decode: ChannelDecode, words: list[ResultWord]) -> dict[str, Any]:
    """One ``search`` entry: exact matches in ``words`` and keyword-spotting hits of ``decode``, merged."""
    phrase = normalise_phrase(query)
    tokens = phrase.split()
    candidates: list[tuple[float, float, float, str]] = []
    n = len(tokens)
    if n:
        for i in range(len(words) - n + 1):
            if [w.word for w in words[i : i + n]] == tokens:
                span = words[i : i + n]
                candidates.append((_mean_confidence(span), span[0].start, span[-1].end, phrase))
    query_phones = [p for t in tokens for p in decode.phones.get(t, ())]
    for spot in decode.spots:
        if spot.phrase != phrase:
            continue
        under = [w for w in words if spot.start <= (w.start + w.end) / 2 <= spot.end] or [
            w for w in words if w.start < spot.end and w.end > spot.start
        ]
        if under:
            phones = [p for w in under for p in decode.phones.get(w.word, ())]
            similarity = phone_similarity(query_phones, phones)
            snippet = " ".join(w.word for w in under)
        else:
            similarity, snippet = 0.5, phrase
        candidates.append((spot.score * similarity, spot.start, spot.end, snippet))
    kept: list[tuple[float, float, float, str]] = []
    for c in sorted(candidates, key=lambda c: (-c[0], c[1])):
        if all(c[2] <= k[1] or c[1] >= k[2] for k in kept):
            kept.append(c)
    hits = [
        {"confidence": rounded(conf, 4), "start": rounded(start), "end": rounded(end), "snippet": snippet}
        for conf, start, end, snippet in kept
    ]
    return {"query": query, "hits": hits}
