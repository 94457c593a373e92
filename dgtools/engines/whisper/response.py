"""Whisper segments to the ``results`` of a Deepgram ``/v1/listen`` response (pure functions).

The structures come from the local engine's builders
(:mod:`dgtools.engines.local.response`): alternatives realigned on the best
path, loudness diarization, paragraphs, utterances and search are the same
code.  What differs is where punctuation comes from:

* **words**: Whisper's words; ``word`` is the written word in lower case
  without the punctuation around it (as Deepgram gives it), ``confidence`` the
  word's probability, and ``punctuated_word`` (with ``punctuate`` or
  ``smart_format``) the word as Whisper wrote it, with its case and
  punctuation (numbers stay digits: Whisper writes "$120").
* **sentences** end at a word ending in ``.``, ``?``, ``!`` (or ``…``, ``。``, ...),
  at a speaker change and at a paragraph break.
* **paragraphs**: a new paragraph starts after a sentence followed by a pause of
  at least :data:`PARAGRAPH_GAP` seconds, and at a speaker change.
* **alternatives**: each Whisper segment's n-best hypotheses (see
  :mod:`dgtools.engines.whisper.decode`), realigned on the best words; written
  forms are kept, so alternatives are punctuated too.
* **detected_language** and **language_confidence** per channel, when
  ``detect_language`` asked for them.

Examples
--------
>>> from dgtools.engines.local.request import Plan
>>> from dgtools.engines.whisper.decode import ChannelText, Piece, TextSegment
>>> pieces = (Piece("Hello,", 0.1, 0.4, 0.9), Piece("world.", 0.5, 0.9, 0.8))
>>> text = ChannelText((TextSegment(0.0, 1.0, pieces),), language="en")
>>> r = build_results(Plan(punctuate=True), [text], sources=None, seed="x", detect_language=False)
>>> alt = r["channels"][0]["alternatives"][0]
>>> alt["transcript"], [w["word"] for w in alt["words"]]
('Hello, world.', ['hello', 'world'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..local.request import Plan
from ..local.response import (
    ResultWord,
    alternative_dict,
    alternative_words,
    assign_speakers,
    rounded,
    search_dict,
    utterance_dicts,
)
from ..local.sphinx import ChannelDecode, Region, Word
from .decode import ChannelText, spoken_word

__all__ = ["PARAGRAPH_GAP", "build_results"]

#: A pause of at least this many seconds after a sentence starts a new paragraph.
PARAGRAPH_GAP: Final = 1.0
_SENTENCE_END: Final = (".", "?", "!", "…", "。", "？", "！")
_CLOSERS: Final = "\"')]}”’»"


def build_results(
    plan: Plan,
    channels: Sequence[ChannelText],
    *,
    sources: npt.NDArray[np.float32] | None,
    seed: str,
    detect_language: bool,
) -> dict[str, Any]:
    """Build ``results`` (``channels`` and, when asked, ``utterances``).

    Parameters
    ----------
    plan
        The request's plan; ``plan.diarize`` must already be resolved for the audio.
    channels
        One decode per result channel.
    sources
        The per-channel 16 kHz samples, ``(channels, n)``, for ``diarize="loudness"``.
    seed
        Makes utterance ids deterministic (the audio's sha256).
    detect_language
        Whether to report ``detected_language`` and ``language_confidence``.
    """
    out: list[dict[str, Any]] = []
    best_words: list[list[ResultWord]] = []
    empty = ChannelDecode(regions=())
    for text in channels:
        regions = tuple(_region(s.start, s.end, s.pieces, s.variants) for s in text.segments)
        written = [_written_forms(s.pieces, s.variants) for s in text.segments]
        alternatives = alternative_words(regions, plan.alternatives)
        for words in alternatives:
            _restore_written(words, written)
            assign_speakers(words, plan, sources)
            _sentences_and_paragraphs(words)
        best_words.append(alternatives[0])
        channel: dict[str, Any] = {}
        if plan.search:
            channel["search"] = [search_dict(q, empty, alternatives[0]) for q in plan.search]
        channel["alternatives"] = [alternative_dict(words, plan) for words in alternatives]
        if detect_language:
            channel["detected_language"] = text.language
            if text.language_probability is not None:
                channel["language_confidence"] = rounded(text.language_probability, 4)
        out.append(channel)
    results: dict[str, Any] = {"channels": out}
    if plan.utterances:
        results["utterances"] = utterance_dicts(best_words, plan, seed)
    return results


def _region(start: float, end: float, pieces: Sequence[Any], variants: Sequence[Sequence[str]]) -> Region:
    words = tuple(Word(spoken_word(p.text), p.start, p.end, p.probability) for p in pieces)
    return Region(start, end, words, tuple(tuple(spoken_word(t) for t in v) for v in variants))


def _written_forms(
    pieces: Sequence[Any], variants: Sequence[Sequence[str]]
) -> dict[tuple[str, ...], list[str]]:
    """Spoken word sequence -> written words, for the best path and each variant of a segment."""
    forms = {tuple(spoken_word(p.text) for p in pieces): [p.text for p in pieces]}
    for v in variants:
        forms.setdefault(tuple(spoken_word(t) for t in v), list(v))
    return forms


def _restore_written(words: list[ResultWord], written: Sequence[dict[tuple[str, ...], list[str]]]) -> None:
    """Give each word its written form (the alternatives builder keeps spoken words only)."""
    start = 0
    while start < len(words):
        region = words[start].region
        end = start
        while end < len(words) and words[end].region == region:
            end += 1
        run = words[start:end]
        forms = written[region].get(tuple(w.word for w in run))
        for k, w in enumerate(run):
            w.punctuated = forms[k] if forms is not None else w.word
        start = end


def _ends_sentence(written: str) -> bool:
    return written.rstrip(_CLOSERS).endswith(_SENTENCE_END)


def _sentences_and_paragraphs(words: list[ResultWord]) -> None:
    """Number sentences and paragraphs (``region`` becomes the paragraph, as the local builders read it)."""
    sentence = paragraph = 0
    for i, w in enumerate(words):
        if i:
            prev = words[i - 1]
            speaker_change = w.speaker != prev.speaker
            ended = _ends_sentence(prev.punctuated)
            if speaker_change or (ended and w.start - prev.end >= PARAGRAPH_GAP):
                paragraph += 1
                sentence += 1
            elif ended:
                sentence += 1
        w.sentence, w.region = sentence, paragraph
