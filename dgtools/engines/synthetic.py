"""The synthetic engine: a deterministic transcript of the audio's length, for tests, demos and benchmarks.

No speech recognition happens: the words come from a fixed vocabulary,
seeded by the audio's sha256, so the same audio and options always give the
same response.  ``dgtools serve`` answers with it by default
(``make_engine("synthetic", seed=..., response_kb=...)``).
"""

from __future__ import annotations

import hashlib
import random
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from ..exceptions import ConfigError, EngineError
from .base import Options, QueryPairs, now_created, option_pairs

__all__ = ["SyntheticEngine"]


_VOCABULARY = (
    "the", "a", "we", "you", "i", "it", "is", "was", "and", "so", "that", "this", "to", "of", "in",
    "for", "on", "with", "call", "order", "account", "today", "thanks", "yes", "no", "okay", "right",
    "number", "help", "time", "just", "can", "will", "have", "know", "think", "really", "good",
    "great", "price", "plan", "service", "week", "money", "phone", "email", "check", "sure", "next",
    "problem", "question", "team", "customer", "support", "update", "meeting", "project", "data",
    "report", "hello", "morning", "please", "maybe", "later", "monday", "friday", "delivery",
)  # fmt: skip

#: Options the synthetic engine acts on (others are answered with a metadata warning).
_SYNTHETIC_OPTIONS = frozenset(
    {
        "model", "version", "language", "punctuate", "smart_format", "diarize", "diarize_model",
        "multichannel", "utterances", "utt_split", "paragraphs", "search", "alternatives", "tag",
        "extra", "encoding", "sample_rate", "channels", "mip_opt_out", "numerals", "filler_words",
        "profanity_filter", "dictation", "measurements",
    }
)  # fmt: skip
_BYTES_PER_SAMPLE = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1, "flac": 2, "opus": 2}
#: Assumed rate of headerless audio: 16-bit 16 kHz mono.
_DEFAULT_BYTES_PER_SECOND = 32_000


@dataclass(slots=True)
class _Word:
    word: str
    punctuated: str
    start: float
    end: float
    confidence: float
    turn: int
    speaker_confidence: float


@dataclass(slots=True)
class _Sentence:
    words: list[_Word]


#: What Deepgram answers for audio it cannot decode.
_CORRUPT = "Bad Request: failed to process audio: corrupt or unsupported data"
#: Sample rates the engine takes for real (outside: corrupt): 1 kHz to 768 kHz.
_MIN_RATE, _MAX_RATE = 1_000, 768_000
#: The most channels a WAV header can name (16 bits); the ``channels`` option is held to it too.
_MAX_CHANNELS = 65_535
#: WAV format tags whose frames are ``block_align`` bytes of samples: PCM, IEEE float, A-law, mu-law,
#: WAVE_FORMAT_EXTENSIBLE.  Other (compressed) tags are timed by their byte rate.
_FRAMED_FORMATS = frozenset({1, 3, 6, 7, 0xFFFE})


def _corrupt() -> EngineError:
    return EngineError(400, "Bad Request", _CORRUPT)


def _probe(audio: bytes, opts: QueryPairs) -> tuple[float, int]:
    """(duration in seconds, channels) from a WAV header, else from the byte count.

    Raises
    ------
    EngineError
        400, Deepgram's "corrupt or unsupported data", for a WAV whose header
        cannot be right (see :func:`_probe_wav`), or headerless audio with a
        ``sample_rate`` or ``channels`` option out of range.
    """
    if audio[:4] in (b"RIFF", b"RF64") and audio[8:12] == b"WAVE":
        return _probe_wav(audio)
    channels = max(1, int(opts.number("channels", 1)))
    if channels > _MAX_CHANNELS:
        raise _corrupt()
    rate = opts.number("sample_rate", 0.0)
    if rate > 0:
        if not _MIN_RATE <= rate <= _MAX_RATE:
            raise _corrupt()
        width = _BYTES_PER_SAMPLE.get(opts.get("encoding", "linear16") or "linear16", 2)
        return len(audio) / (rate * width * channels), channels
    return len(audio) / _DEFAULT_BYTES_PER_SECOND, channels


def _probe_wav(audio: bytes) -> tuple[float, int]:
    """(duration, channels) of a RIFF/RF64 WAVE file, from its ``fmt `` chunk and the data present.

    The chunks are walked by hand (the :mod:`wave` module raises
    ``RuntimeError``, ``EOFError`` or ``wave.Error`` by Python version, and
    trusts the data chunk's size).  Corrupt, hence EngineError 400: no
    ``fmt `` chunk before the ``data`` chunk (a header cut short, a chunk
    size running past the end), a ``fmt `` chunk under 16 bytes, zero
    channels, a sample rate outside 1 kHz-768 kHz, a frame (or byte rate) of
    zero.  A data chunk longer than the bytes present (a truncated file, or
    a streaming header's placeholder size) counts the frames present.
    """
    n = len(audio)
    fmt: tuple[int, int, int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= n:
        chunk_id = audio[pos : pos + 4]
        (size,) = struct.unpack_from("<I", audio, pos + 4)
        start = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or start + 16 > n:
                raise _corrupt()
            fmt = struct.unpack_from("<HHIIHH", audio, start)
        elif chunk_id == b"data":
            if fmt is None:
                raise _corrupt()
            tag, channels, rate, byte_rate, block_align, bits = fmt
            if channels == 0 or not _MIN_RATE <= rate <= _MAX_RATE:
                raise _corrupt()
            present = min(size, n - start)
            if tag in _FRAMED_FORMATS:
                frame = block_align or channels * ((bits + 7) // 8)
                if frame == 0:
                    raise _corrupt()
                return (present // frame) / rate, channels
            if byte_rate == 0:
                raise _corrupt()
            return present / byte_rate, channels
        pos = start + size + (size & 1)  # chunks are padded to an even length
    raise _corrupt()


class SyntheticEngine:
    """A deterministic transcript of the audio's length: no recognition, just shape.

    The duration (and channel count) comes from the WAV header, else from
    the byte count (``sample_rate``/``encoding``/``channels`` options when
    given, else 16-bit 16 kHz mono).  Audio that cannot be right (a WAV
    header cut short or with zero channels, a sample rate outside
    1 kHz-768 kHz, ...) raises :class:`~dgtools.exceptions.EngineError` 400
    with Deepgram's "corrupt or unsupported data" message, which the local
    server answers as Deepgram does.  Words come about every 0.4 s from a
    fixed vocabulary, drawn by a generator seeded with ``seed`` and the
    audio's sha256, so the same audio and options always give the same
    words.  It honours ``punctuate``/``smart_format`` (``punctuated_word``),
    ``diarize`` (two speakers alternating by turns, with
    ``speaker_confidence``), ``multichannel`` (one result channel per audio
    channel; turns alternate between channels), ``utterances`` (split at
    turns and at pauses longer than ``utt_split``), ``paragraphs`` and
    ``smart_format`` (one paragraph per turn), ``search`` (a hit wherever a
    word equals the term; one entry per query even without hits),
    ``alternatives=N`` (N copies), ``tag`` and ``extra``.  Other options get
    a ``metadata.warnings`` entry.  A ``{"url": ...}`` request is answered as
    if the URL's audio were 60 s long, seeded by the URL.

    Parameters
    ----------
    seed
        Mixed into every response's random generator.
    response_kb
        Pad every response to about this many kilobytes (1000 bytes) of
        compact JSON by generating enough words (the timeline, and
        ``metadata.duration``, extend past the audio as needed).  With
        ``diarize`` and ``utterances``, 470 KB is about a 30-minute call.

    Examples
    --------
    >>> import asyncio
    >>> engine = SyntheticEngine(seed=0)
    >>> r = asyncio.run(engine.transcribe(audio=b"\\0" * 64000, url=None, options=[("diarize", "true")],
    ...                                   request_id="r", sha256="00" * 32))
    >>> r["metadata"]["duration"]
    2.0
    """

    #: The synthetic model's name, version and uuid.
    VERSION = "dgtools-synthetic-1"

    def __init__(self, seed: int = 0, response_kb: float | None = None) -> None:
        if response_kb is not None and response_kb <= 0:
            raise ConfigError(f"response_kb must be positive, got {response_kb!r}")
        self.seed = seed
        self.response_kb = response_kb
        self._n_words: dict[tuple[Any, ...], int] = {}

    def __repr__(self) -> str:
        return f"SyntheticEngine(seed={self.seed!r}, response_kb={self.response_kb!r})"

    async def transcribe(
        self,
        *,
        audio: bytes | None,
        url: str | None,
        options: Options,
        request_id: str,
        sha256: str | None,
    ) -> dict[str, Any]:
        """Return a synthetic ``/v1/listen`` response for this audio and these options.

        Raises
        ------
        EngineError
            400 "corrupt or unsupported data" for audio that cannot be right (see the class).
        """
        opts = QueryPairs(option_pairs(options))
        if audio is not None:
            duration, audio_channels = _probe(audio, opts)
            digest = sha256 or hashlib.sha256(audio).hexdigest()
        else:
            duration, audio_channels = 60.0, 1
            digest = hashlib.sha256((url or "").encode()).hexdigest()
        if self.response_kb is None:
            return self.build(opts, duration, audio_channels, digest, request_id)
        # A response of ~response_kb: scale the word count by measured size, a few rounds at most;
        # the count found is remembered, so a repeated request builds once.
        key = (digest, tuple(opts.pairs), duration, audio_channels)
        known = self._n_words.get(key)
        if known is not None:
            return self.build(opts, duration, audio_channels, digest, request_id, n_words=known)
        target = self.response_kb * 1000
        n_words = max(1, int(target / 250))
        response: dict[str, Any] = {}
        for attempt in range(4):
            response = self.build(opts, duration, audio_channels, digest, request_id, n_words=n_words)
            size = len(msgspec.json.encode(response))
            if attempt == 3 or abs(size - target) <= 0.02 * target:
                break
            n_words = max(1, round(n_words * target / max(size, 1)))
        if len(self._n_words) < 4096:
            self._n_words[key] = n_words
        return response

    # -- building

    def build(
        self,
        opts: QueryPairs,
        duration: float,
        audio_channels: int,
        digest: str,
        request_id: str,
        *,
        n_words: int | None = None,
    ) -> dict[str, Any]:
        """Build the response (synchronously); ``n_words`` overrides the audio's length."""
        rng = random.Random(f"{self.seed}:{digest}")
        diarize = opts.flag("diarize") or opts.get("diarize_model") is not None
        punctuate = opts.flag("punctuate") or opts.flag("smart_format")
        paragraphs = opts.flag("paragraphs") or opts.flag("smart_format")
        multichannel = opts.flag("multichannel")
        n_channels = audio_channels if multichannel else 1
        n_alternatives = max(1, min(10, int(opts.number("alternatives", 1))))

        sentences = list(word_timeline(rng, duration, n_words))
        last_end = max((s.words[-1].end for s in sentences), default=0.0)
        if n_words is not None:
            duration = max(duration, last_end + 0.5)

        # each channel's sentences (turn k goes to channel k % n_channels)
        per_channel: list[list[_Sentence]] = [[] for _ in range(n_channels)]
        for s in sentences:
            per_channel[s.words[0].turn % n_channels].append(s)

        def speaker_of(w: _Word) -> int:
            return 0 if multichannel else w.turn % 2

        channels_out: list[dict[str, Any]] = []
        for sents in per_channel:
            words = [w for s in sents for w in s.words]
            word_dicts = [_word_dict(w, diarize, punctuate, speaker_of(w)) for w in words]
            alt: dict[str, Any] = {
                "transcript": " ".join(w.punctuated if punctuate else w.word for w in words),
                "confidence": _r(sum(w.confidence for w in words) / len(words)) if words else 0.0,
                "words": word_dicts,
            }
            if paragraphs:
                alt["paragraphs"] = _paragraphs(sents, diarize, speaker_of)
            channel: dict[str, Any] = {}
            queries = opts.getall("search")
            if queries:
                channel["search"] = [_search(q, words) for q in queries]
            channel["alternatives"] = [alt] + [
                {**alt, "confidence": _r(alt["confidence"] * (0.9**i))} for i in range(1, n_alternatives)
            ]
            channels_out.append(channel)

        results: dict[str, Any] = {"channels": channels_out}
        if opts.flag("utterances"):
            results["utterances"] = _utterances(
                per_channel, rng, diarize, punctuate, opts.number("utt_split", 0.8), speaker_of
            )

        model = opts.get("model") or "base"
        model_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dgtools-synthetic:{model}"))
        metadata: dict[str, Any] = {
            "transaction_key": "deprecated",
            "request_id": request_id,
            "sha256": digest,
            "created": now_created(),
            "duration": _r(duration),
            "channels": n_channels,
            "models": [model_uuid],
            "model_info": {
                model_uuid: {"name": f"synthetic-{model}", "version": self.VERSION, "arch": model}
            },
        }
        metadata.update(_tags_extra(opts))
        ignored = [name for name in opts.names() if name not in _SYNTHETIC_OPTIONS]
        if ignored:
            metadata["warnings"] = [
                {
                    "parameter": name,
                    "type": "unsupported_feature",
                    "message": f"The dgtools synthetic engine ignores '{name}'; no output was produced for it.",
                }
                for name in ignored
            ]
        return {"metadata": metadata, "results": results}


def _tags_extra(opts: QueryPairs) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tags = opts.getall("tag")
    if tags:
        out["tags"] = tags
    extra = opts.getall("extra")
    if extra:
        out["extra"] = dict(item.partition(":")[::2] for item in extra)
    return out


def _r(x: float) -> float:
    return round(x, 4)


def word_timeline(rng: random.Random, duration: float, n_words: int | None) -> Iterator[_Sentence]:
    """Sentences of words about 0.4 s apart, grouped in turns of 1-4 sentences (also what the local server streams)."""
    t = rng.uniform(0.1, 0.5)
    turn, left_in_turn, count = 0, rng.randint(1, 4), 0
    while True:
        length = rng.randint(4, 14)
        words: list[_Word] = []
        for i in range(length):
            start = t
            end = start + rng.uniform(0.2, 0.34)
            if (n_words is None and end > duration) or (n_words is not None and count >= n_words):
                if words:
                    _finish_sentence(rng, words)
                    yield _Sentence(words)
                return
            token = rng.choice(_VOCABULARY)
            punct = token.capitalize() if i == 0 or token == "i" else token
            if 0 < i < length - 1 and rng.random() < 0.08:
                punct += ","
            words.append(
                _Word(
                    token,
                    punct,
                    _r(start),
                    _r(end),
                    _r(rng.uniform(0.5, 1.0)),
                    turn,
                    _r(rng.uniform(0.5, 1.0)),
                )
            )
            count += 1
            t = end + rng.uniform(0.02, 0.08)
        _finish_sentence(rng, words)
        yield _Sentence(words)
        left_in_turn -= 1
        if left_in_turn == 0:
            turn, left_in_turn = turn + 1, rng.randint(1, 4)
            t += rng.uniform(0.5, 1.5)
        else:
            t += rng.uniform(0.1, 0.5)


def _finish_sentence(rng: random.Random, words: list[_Word]) -> None:
    last = words[-1]
    last.punctuated = last.punctuated.rstrip(",") + ("?" if rng.random() < 0.1 else ".")


def _word_dict(w: _Word, diarize: bool, punctuate: bool, speaker: int) -> dict[str, Any]:
    d: dict[str, Any] = {"word": w.word, "start": w.start, "end": w.end, "confidence": w.confidence}
    if diarize:
        d["speaker"] = speaker
        d["speaker_confidence"] = w.speaker_confidence
    if punctuate:
        d["punctuated_word"] = w.punctuated
    return d


def _groups_by_turn(sents: list[_Sentence]) -> Iterator[list[_Sentence]]:
    group: list[_Sentence] = []
    for s in sents:
        if group and s.words[0].turn != group[0].words[0].turn:
            yield group
            group = []
        group.append(s)
    if group:
        yield group


def _paragraphs(sents: list[_Sentence], diarize: bool, speaker_of: Any) -> dict[str, Any]:
    paragraphs: list[dict[str, Any]] = []
    texts: list[str] = []
    for group in _groups_by_turn(sents):
        sentences: list[dict[str, Any]] = [
            {
                "text": " ".join(w.punctuated for w in s.words),
                "start": s.words[0].start,
                "end": s.words[-1].end,
            }
            for s in group
        ]
        para: dict[str, Any] = {"sentences": sentences}
        text = " ".join(s["text"] for s in sentences)
        if diarize:
            speaker = speaker_of(group[0].words[0])
            para["speaker"] = speaker
            text = f"Speaker {speaker}: {text}"
        para["num_words"] = sum(len(s.words) for s in group)
        para["start"] = group[0].words[0].start
        para["end"] = group[-1].words[-1].end
        paragraphs.append(para)
        texts.append(text)
    return {"transcript": "".join(f"\n{t}\n" for t in texts).rstrip("\n"), "paragraphs": paragraphs}


def _search(query: str, words: list[_Word]) -> dict[str, Any]:
    term = query.strip().lower()
    hits: list[dict[str, Any]] = [
        {"confidence": w.confidence, "start": w.start, "end": w.end, "snippet": w.word}
        for w in words
        if w.word == term
    ]
    hits.sort(key=lambda h: -h["confidence"])
    return {"query": query, "hits": hits}


def _utterances(
    per_channel: list[list[_Sentence]],
    rng: random.Random,
    diarize: bool,
    punctuate: bool,
    utt_split: float,
    speaker_of: Any,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for channel, sents in enumerate(per_channel):
        current: list[_Word] = []
        for w in (w for s in sents for w in s.words):
            if current and (w.turn != current[-1].turn or w.start - current[-1].end > utt_split):
                out.append(_utterance(current, channel, rng, diarize, punctuate, speaker_of))
                current = []
            current.append(w)
        if current:
            out.append(_utterance(current, channel, rng, diarize, punctuate, speaker_of))
    out.sort(key=lambda u: (u["start"], u["channel"]))
    return out


def _utterance(
    words: list[_Word], channel: int, rng: random.Random, diarize: bool, punctuate: bool, speaker_of: Any
) -> dict[str, Any]:
    u: dict[str, Any] = {
        "start": words[0].start,
        "end": words[-1].end,
        "confidence": _r(sum(w.confidence for w in words) / len(words)),
        "channel": channel,
        "transcript": " ".join(w.punctuated if punctuate else w.word for w in words),
        "words": [_word_dict(w, diarize, punctuate, speaker_of(w)) for w in words],
    }
    if diarize:
        u["speaker"] = speaker_of(words[0])
    u["id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return u
