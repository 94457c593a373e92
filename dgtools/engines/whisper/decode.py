"""faster-whisper decoding of one channel of 16 kHz audio: segments of timed words, languages, n-best.

:func:`decode_channel` runs ``WhisperModel.transcribe`` on one channel with
word timestamps, no sampling (``temperature=0``: the same audio and options
give the same words), and Silero voice-activity detection by default (so
silence gives no segment instead of a hallucinated "You").  Words keep
Whisper's own punctuation and casing; a piece that does not start with a
space (``o`` + ``'clock.``) is joined to the word before it.  With
``n_variants`` it also decodes each segment again with CTranslate2's n-best
beam search (without timestamps) and keeps the distinct other hypotheses.

faster-whisper is imported by the caller (the engine), not here: this
module only calls methods of the model object it is given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..pcm import RATE

__all__ = ["ChannelText", "Piece", "Settings", "TextSegment", "decode_channel", "spoken_word"]

#: Languages whose words faster-whisper splits without spaces (pieces are never joined).
_UNSPACED: Final = frozenset({"zh", "ja", "th", "lo", "my", "yue"})
#: Seconds of audio kept on each side of a segment when it is decoded again for n-best.
_NBEST_PAD: Final = 0.1
_EDGES: Final = re.compile(r"^\W+|\W+$")


@dataclass(frozen=True, slots=True)
class Piece:
    """One word as Whisper wrote it (``text`` with its punctuation and case), times in seconds."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class TextSegment:
    """A Whisper segment: its words and, best first, distinct other hypotheses as lists of written words."""

    start: float
    end: float
    pieces: tuple[Piece, ...]
    variants: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelText:
    """Everything decoded from one channel; ``language_probability`` is None when the language was given."""

    segments: tuple[TextSegment, ...]
    language: str
    language_probability: float | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """How to decode: the engine's settings plus the request's language choices.

    ``language`` None means detect it (among ``candidates`` when given); ``per_segment`` detects it
    in every segment (Deepgram's ``language=multi``).
    """

    beam_size: int = 5
    vad_filter: bool = True
    language: str | None = "en"
    candidates: tuple[str, ...] = ()
    per_segment: bool = False
    hotwords: str | None = None
    n_variants: int = 0


def decode_channel(model: Any, signal: npt.NDArray[np.float32], settings: Settings) -> ChannelText:
    """Transcribe one channel with a loaded ``faster_whisper.WhisperModel``.

    The caller holds the model's lock: a model decodes one channel at a time.
    """
    language = settings.language
    probability: float | None = None
    if language is None and settings.candidates:
        _, _, ranked = model.detect_language(audio=signal, vad_filter=settings.vad_filter)
        language, probability = max(
            ((code, float(p)) for code, p in ranked if code in settings.candidates),
            key=lambda item: item[1],
            default=(settings.candidates[0], 0.0),
        )
    segments, info = model.transcribe(
        signal,
        language=language,
        beam_size=settings.beam_size,
        temperature=0.0,
        word_timestamps=True,
        vad_filter=settings.vad_filter,
        multilingual=settings.per_segment,
        hotwords=settings.hotwords,
        condition_on_previous_text=True,
    )
    decoded = [_segment(s, info.language) for s in segments]
    out = [s for s in decoded if s.pieces]
    if settings.n_variants > 0 and out:
        out = [_with_variants(model, signal, s, info.language, settings) for s in out]
    if language is None:
        probability = float(info.language_probability)
    return ChannelText(segments=tuple(out), language=str(info.language), language_probability=probability)


def _segment(segment: Any, language: str) -> TextSegment:
    pieces: list[Piece] = []
    counts: list[int] = []
    for w in segment.words or ():
        text = str(w.word)
        piece = Piece(text.strip(), float(w.start), float(w.end), float(w.probability))
        if not piece.text:
            continue
        if pieces and not text.startswith(" ") and language not in _UNSPACED:
            prev, n = pieces[-1], counts[-1]
            pieces[-1] = Piece(
                prev.text + piece.text,
                prev.start,
                piece.end,
                (prev.probability * n + piece.probability) / (n + 1),
            )
            counts[-1] = n + 1
        else:
            pieces.append(piece)
            counts.append(1)
    return TextSegment(float(segment.start), float(segment.end), tuple(pieces))


def _with_variants(
    model: Any, signal: npt.NDArray[np.float32], segment: TextSegment, language: str, settings: Settings
) -> TextSegment:
    """The segment decoded again, alone and without timestamps, keeping the n-best hypotheses unlike its words."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    a = max(0, int((segment.start - _NBEST_PAD) * RATE))
    b = min(signal.shape[0], int((segment.end + _NBEST_PAD) * RATE))
    features = pad_or_trim(model.feature_extractor(signal[a:b]))
    multilingual = bool(model.model.is_multilingual)
    tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language=language)
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    wanted = settings.n_variants + 1
    result = model.model.generate(
        model.encode(features),
        [prompt],
        beam_size=max(settings.beam_size, wanted + 1),
        num_hypotheses=wanted + 1,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        max_length=model.max_length,
    )[0]
    best = _keys(p.text for p in segment.pieces)
    seen = {best}
    variants: list[tuple[str, ...]] = []
    for ids in result.sequences_ids:
        written = tuple(tokenizer.decode(ids).split())
        key = _keys(written)
        if written and key not in seen:
            seen.add(key)
            variants.append(written)
        if len(variants) == settings.n_variants:
            break
    return TextSegment(segment.start, segment.end, segment.pieces, tuple(variants))


def _keys(written: Iterable[str]) -> tuple[str, ...]:
    return tuple(spoken_word(t) for t in written)


def spoken_word(written: str) -> str:
    """A written word as Deepgram's ``word``: lower case, without the punctuation around it.

    Examples
    --------
    >>> [spoken_word(w) for w in ("Hello,", "o'clock.", "$120.", "I", "%")]
    ['hello', "o'clock", '120', 'i', '%']
    """
    bare = _EDGES.sub("", written).lower()
    return bare or written.lower()
