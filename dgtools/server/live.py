"""What a live stream of the local server is made of: its options, its audio clock and its words.

:func:`parse_stream_query` validates a WebSocket ``/v1/listen`` query (the pre-recorded options
through :func:`dgtools.options.validate_query`, the streaming-only ones here); :class:`AudioClock`
times the audio received (raw encodings exactly, WAV from its header, other containers at a nominal
rate), finds data that cannot be the declared audio and, for an offline engine, keeps the audio bytes
with the WAV ``fmt`` chunk that describes them (:func:`wav_container` makes a file of a piece);
:class:`SyntheticStream` is the transcriber behind :class:`~dgtools.server.stream.ListenStream`: a
deterministic synthetic transcript of the audio received so far, pure Python and usable alone.
:func:`results_message` and :func:`metadata_message` shape the messages every transcriber sends.
"""

from __future__ import annotations

import math
import random
import struct
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..engines.base import now_created
from ..engines.synthetic import _VOCABULARY, word_timeline
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from ..options import ListenOptions

__all__ = [
    "INTERIM_STEP_S",
    "REVISE_RATE",
    "SEGMENT_S",
    "AudioClock",
    "BadAudio",
    "StreamOptions",
    "SyntheticStream",
    "metadata_message",
    "parse_stream_query",
    "results_message",
    "wav_container",
]


#: About how long a final result is, in audio seconds (stretched to end with a word).
SEGMENT_S: Final = 1.0
#: Audio seconds between two interim results.
INTERIM_STEP_S: Final = 0.25
#: A pause this long before a word makes it the start of speech (``SpeechStarted``).
SPEECH_START_GAP_S: Final = 0.5
#: About this share of interim results get their last word wrong (the final has it right), as a real
#: model revises its interims.
REVISE_RATE: Final = 0.25

#: Streaming options that the pre-recorded table (:mod:`dgtools.options`) does not know, and their kinds.
_STREAM_ONLY: Final = {
    "interim_results": "bool",
    "vad_events": "bool",
    "no_delay": "bool",
    "endpointing": "endpointing",
    "utterance_end_ms": "int",
}
#: Encodings the WebSocket accepts beyond the pre-recorded ones (AsyncAPI ``ListenV1Encoding``).
_STREAM_ENCODINGS: Final = {"linear32": "linear16", "alaw": "mulaw", "ogg-opus": None}
#: Bytes per sample of the raw encodings the server can time exactly.
_SAMPLE_WIDTH: Final = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}
#: Bytes a second assumed for audio the server cannot time exactly (the synthetic engine's assumption).
_NOMINAL_BYTES_PER_SECOND: Final = 32_000
#: How many bytes of a WAV header the server reads before it gives up on finding the data chunk.
_MAX_WAV_HEADER: Final = 1 << 20
_CONTAINER_MAGIC: Final = (b"fLaC", b"OggS", b"ID3", b"\x1aE\xdf\xa3", b"FORM", b"caff", b".snd")
_MIN_RATE, _MAX_RATE = 1_000, 768_000


# --------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """The validated query of a ``/v1/listen`` WebSocket.

    ``listen`` holds the options the pre-recorded API shares (validated by
    :func:`dgtools.options.validate_query`); the others are streaming-only.
    """

    listen: ListenOptions
    encoding: str | None = None
    sample_rate: int | None = None
    channels: int = 1
    interim_results: bool = False
    vad_events: bool = False
    endpointing: int | None = 10
    utterance_end_ms: int | None = None

    def flag(self, name: str) -> bool:
        """Whether a boolean pre-recorded option (``punctuate``, ``diarize``, ...) is on."""
        return self.listen.get(name) is True


def _stream_value(name: str, kind: str, value: str) -> Any:
    if kind == "bool":
        if value.lower() not in ("true", "false"):
            raise _option_error(name, f"option {name!r} must be true or false, got {value!r}")
        return value.lower() == "true"
    if kind == "endpointing" and value.lower() == "false":
        return None
    if kind == "endpointing" and value.lower() == "true":
        return 10
    if not value.isdigit() or (kind == "int" and int(value) < 1):
        what = "a whole number of milliseconds" + (", or false" if kind == "endpointing" else " > 0")
        raise _option_error(name, f"option {name!r} must be {what}, got {value!r}")
    return int(value)


def _option_error(option: str, message: str) -> ConfigError:
    err = ConfigError(message)
    err.option = option  # type: ignore[attr-defined]
    return err


def parse_stream_query(params: Sequence[tuple[str, str]]) -> StreamOptions:
    """Validate a ``/v1/listen`` WebSocket query (without ``token``) as Deepgram would.

    Raises
    ------
    ConfigError
        With ``.option`` naming the offending parameter.

    Examples
    --------
    >>> opts = parse_stream_query([("encoding", "linear16"), ("sample_rate", "8000"),
    ...                            ("interim_results", "true"), ("endpointing", "false")])
    >>> opts.encoding, opts.sample_rate, opts.channels, opts.interim_results, opts.endpointing
    ('linear16', 8000, 1, True, None)
    >>> parse_stream_query([("vad_events", "maybe")])
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: option 'vad_events' must be true or false, got 'maybe'
    """
    from ..options import validate_query

    shared: list[tuple[str, str]] = []
    extra: dict[str, Any] = {}
    encoding: str | None = None
    for name, value in params:
        kind = _STREAM_ONLY.get(name)
        if kind is not None:
            if name in extra:
                raise _option_error(name, f"option {name!r} was given more than once; it takes one value")
            extra[name] = _stream_value(name, kind, value)
        elif name == "encoding" and value in _STREAM_ENCODINGS:
            encoding = value  # checked by the pre-recorded rules of a like encoding
            like = _STREAM_ENCODINGS[value]
            if like is not None:
                shared.append((name, like))
        else:
            shared.append((name, value))
    listen = validate_query(shared)
    if encoding is None:
        encoding = listen.get("encoding")
    return StreamOptions(
        listen=listen,
        encoding=encoding,
        sample_rate=listen.get("sample_rate"),
        channels=listen.get("channels") or 1,
        **extra,
    )


# --------------------------------------------------------------------------- timing the audio


class BadAudio(Exception):
    """The bytes received cannot be the declared audio (closes the stream with 1008 DATA-0000)."""


class AudioClock:
    """Audio seconds in the bytes received so far, for the declared encoding or a WAV header.

    Examples
    --------
    >>> clock = AudioClock(encoding="linear16", sample_rate=8000, channels=2)
    >>> clock.add(b"\\0" * 16000)
    >>> clock.seconds, clock.channels
    (0.5, 2)
    >>> clock.add(b"\\0")
    >>> clock.check_end()
    Traceback (most recent call last):
    ...
    dgtools.server.live.BadAudio: 16001 bytes of linear16 audio is not a whole number of 4-byte frames
    """

    def __init__(
        self, *, encoding: str | None, sample_rate: int | None, channels: int, keep_audio: bool = False
    ) -> None:
        self.encoding = encoding
        self.channels = channels
        self.total = 0  # every byte received
        #: A WAV ``fmt`` chunk (its payload) describing the audio bytes, when they are PCM the server
        #: can cut into frames (raw encodings, and WAV containers of PCM, float, mu-law or A-law); else None.
        self.fmt: bytes | None = None
        self._keep = bytearray() if keep_audio else None  # audio bytes counted, not yet taken
        self._frame = 0  # bytes per frame of exactly timed audio (0: nominal byte rate)
        self._rate = 0.0  # frames (or nominal bytes) a second; 0 until known
        self._data = 0  # audio bytes counted
        self._data_left: int | None = None  # bytes left in a WAV data chunk (None: no limit)
        self._head = b""  # container header bytes not yet understood
        if encoding is not None:
            width = _SAMPLE_WIDTH.get(encoding)
            if width is not None and sample_rate:
                self._frame, self._rate = width * channels, float(sample_rate)
                self.fmt = _raw_fmt(encoding, width, sample_rate, channels)
            else:  # compressed encodings: not timed exactly
                self._frame, self._rate = 0, float(_NOMINAL_BYTES_PER_SECOND)

    @property
    def rate(self) -> float:
        """Frames a second (nominal bytes a second for audio not timed exactly; 0 until known)."""
        return self._rate

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame of exactly timed audio (0: timed at a nominal byte rate)."""
        return self._frame

    def take_audio(self) -> bytes:
        """The audio bytes counted since the last call, without container headers (``keep_audio=True``)."""
        if self._keep is None:
            raise RuntimeError("this AudioClock keeps no audio: create it with keep_audio=True")
        out = bytes(self._keep)
        self._keep.clear()
        return out

    @property
    def known(self) -> bool:
        """Whether the format is known (after a container's header)."""
        return self._rate > 0

    @property
    def seconds(self) -> float:
        """Audio seconds received (whole frames only)."""
        if not self._rate:
            return 0.0
        if self._frame:
            return (self._data // self._frame) / self._rate
        return self._data / self._rate

    def add(self, chunk: bytes) -> None:
        """Count a binary frame (raises :class:`BadAudio` for a header that cannot be right)."""
        self.total += len(chunk)
        if self._rate:
            self._count(chunk)
            return
        self._head += chunk
        self._parse_head(final=False)

    def check_end(self) -> None:
        """At the end of the stream: raise :class:`BadAudio` if the bytes cannot be whole audio."""
        if not self._rate and self._head:
            self._parse_head(final=True)
        if self.encoding in _SAMPLE_WIDTH and self._frame and self._data % self._frame:
            raise BadAudio(
                f"{self._data} bytes of {self.encoding} audio is not a whole number of {self._frame}-byte frames"
            )

    def _count(self, chunk: bytes) -> None:
        n = len(chunk)
        if self._data_left is not None:
            n = min(n, self._data_left)
            self._data_left -= n
        self._data += n
        if self._keep is not None and n:
            self._keep += chunk[:n]

    def _parse_head(self, *, final: bool) -> None:
        head = self._head
        if len(head) < 12 and not final:
            return
        if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
            self._parse_wav(final=final)
        elif (
            head.startswith(_CONTAINER_MAGIC)
            or head[4:8] == b"ftyp"
            or head[:2] in (b"\xff\xfb", b"\xff\xf3")
        ):
            self._start(0, float(_NOMINAL_BYTES_PER_SECOND), None, 1)
        else:
            raise BadAudio("the stream starts with no known container and the query names no encoding")

    def _parse_wav(self, *, final: bool) -> None:
        head = self._head
        fmt: tuple[int, int, int, int, int, int] | None = None
        fmt_chunk = b""
        pos = 12
        while pos + 8 <= len(head):
            chunk_id = head[pos : pos + 4]
            (size,) = struct.unpack_from("<I", head, pos + 4)
            start = pos + 8
            if chunk_id == b"data":
                if fmt is None:
                    raise BadAudio("the WAV header has no fmt chunk before its data chunk")
                _tag, channels, rate, _byte_rate, block_align, bits = fmt
                frame = block_align or channels * ((bits + 7) // 8)
                if channels == 0 or frame == 0 or not _MIN_RATE <= rate <= _MAX_RATE:
                    raise BadAudio("the WAV header's fmt chunk cannot be right")
                # a streaming header's data size is a placeholder (0 or 0xFFFFFFFF): no limit then
                left = None if size in (0, 0xFFFFFFFF) else size
                self._start(frame, float(rate), left, channels)
                self.fmt = fmt_chunk if _cuttable(fmt_chunk) else None
                self._count(head[start:])
                return
            if chunk_id == b"fmt ":
                if size < 16:
                    raise BadAudio("the WAV header's fmt chunk is under 16 bytes")
                if start + 16 > len(head):
                    break
                fmt = struct.unpack_from("<HHIIHH", head, start)
                fmt_chunk = head[start : start + size]
            pos = start + size + (size & 1)
        if final or len(head) > _MAX_WAV_HEADER:
            raise BadAudio("the WAV header is cut short or has no data chunk")

    def _start(self, frame: int, rate: float, left: int | None, channels: int) -> None:
        head, self._head = self._head, b""
        self._frame, self._rate, self._data_left, self.channels = frame, rate, left, channels
        if left is None and frame == 0:
            self._count(head)


#: WAV format tags of audio that can be cut into frames and decoded piecewise: PCM, IEEE float, A-law, mu-law.
_CUTTABLE_TAGS: Final = {1: (8, 16, 24, 32), 3: (32, 64), 6: (8,), 7: (8,)}
_RAW_TAGS: Final = {"linear16": 1, "linear32": 1, "alaw": 6, "mulaw": 7}


def _raw_fmt(encoding: str, width: int, rate: int, channels: int) -> bytes:
    """The WAV ``fmt`` chunk payload of headerless audio in a raw encoding."""
    tag = _RAW_TAGS[encoding]
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * width * channels, width * channels, 8 * width)
    return fmt if tag == 1 else fmt + b"\0\0"  # non-PCM formats carry a cbSize


def _cuttable(fmt: bytes) -> bool:
    """Whether a WAV ``fmt`` chunk describes audio whose frames can be decoded one piece at a time."""
    if len(fmt) < 16:
        return False
    tag, _channels, _rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID
        (tag,) = struct.unpack_from("<H", fmt, 24)
    return bits in _CUTTABLE_TAGS.get(tag, ())


def wav_container(fmt: bytes, data: bytes) -> bytes:
    """A WAV file of ``data`` (whole frames) in the format of the ``fmt`` chunk payload ``fmt``.

    Examples
    --------
    >>> import io, wave
    >>> clock = AudioClock(encoding="linear16", sample_rate=8000, channels=1)
    >>> with wave.open(io.BytesIO(wav_container(clock.fmt, bytes(1600)))) as w:
    ...     w.getframerate(), w.getnchannels(), w.getnframes()
    (8000, 1, 800)
    """
    pad = b"\0" if len(data) % 2 else b""
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data))
    return b"RIFF" + struct.pack("<I", len(body) + len(data) + len(pad)) + body + data + pad


# --------------------------------------------------------------------------- the synthetic transcriber


@dataclass(slots=True)
class _Word:
    word: str
    punctuated: str
    start: float
    end: float
    confidence: float
    speaker: int
    sentence_end: bool
    gap_before: float


def _words(rng: random.Random) -> Any:
    """An endless stream of :class:`_Word` from the synthetic engine's timeline."""
    last_end = -math.inf
    for sentence in word_timeline(rng, math.inf, None):
        for i, w in enumerate(sentence.words):
            yield _Word(
                w.word,
                w.punctuated,
                w.start,
                w.end,
                w.confidence,
                w.turn % 2,
                i == len(sentence.words) - 1,
                w.start - last_end,
            )
            last_end = w.end


class _Channel:
    """One channel's words and how far they have been reported (``revise``: draws of interim revisions)."""

    def __init__(self, rng: random.Random, revise: random.Random) -> None:
        self._source = _words(rng)
        self.revise = revise
        self.pending: deque[_Word] = deque()  # words not yet in a final, in time order
        self.final_until = 0.0  # end of the last final
        self.interim_at = 0.0  # audio end of the last interim
        self.last_word_end: float | None = None  # of the last word in a final
        self.utterance_ended = True  # an UtteranceEnd was sent after last_word_end
        self.speech_started_upto = -math.inf  # words starting up to here were considered for SpeechStarted

    def ahead(self, t: float) -> None:
        """Generate words until one starts after ``t``."""
        while not self.pending or self.pending[-1].start <= t:
            self.pending.append(next(self._source))

    def take(self, until: float) -> list[_Word]:
        """Remove and return the words that start before ``until`` (words cut by an earlier flush dropped)."""
        out: list[_Word] = []
        while self.pending and self.pending[0].start < until:
            w = self.pending.popleft()
            if w.start >= self.final_until and w.end <= until:
                out.append(w)
        return out


class SyntheticStream:
    """Deepgram-shaped streaming messages for the audio received so far, from synthetic words.

    Feed it the audio seconds received (:meth:`feed`); it answers the
    messages due: ``SpeechStarted`` (``vad_events``), finals of about
    :data:`SEGMENT_S` seconds that tile the audio, ``UtteranceEnd``
    (``utterance_end_ms``) and interims (``interim_results``).  About
    :data:`REVISE_RATE` of the interims get their last word wrong, another
    vocabulary word that the final then corrects, as a real model revises
    its interims (drawn from a generator of their own: the finals are the
    same with interims or without).
    :meth:`flush` finalizes what is left (``Finalize`` and ``CloseStream``)
    and :meth:`metadata` is the closing ``Metadata`` message.  The words are
    those of the synthetic engine's generator (about 2.5 a second), seeded by
    ``seed`` and the channel, so a stream always gets the same words.

    Examples
    --------
    >>> opts = parse_stream_query([("encoding", "linear16"), ("sample_rate", "16000"),
    ...                            ("interim_results", "true")])
    >>> stream = SyntheticStream(opts, channels=1, request_id="r")
    >>> [(m["is_final"], m["start"], m["duration"]) for m in stream.feed(0.5)]
    [(False, 0.0, 0.5)]
    >>> finals = [m for m in stream.feed(3.0) + stream.flush(3.0) if m["is_final"]]
    >>> finals[0]["start"], round(finals[-1]["start"] + finals[-1]["duration"], 6)
    (0.0, 3.0)
    """

    MODEL_VERSION = "dgtools-synthetic-1"

    def __init__(self, options: StreamOptions, *, channels: int, request_id: str, seed: int = 0) -> None:
        self.options = options
        self.request_id = request_id
        self.n = channels if options.flag("multichannel") else 1
        self._channels = [
            _Channel(random.Random(f"{seed}:stream:{c}"), random.Random(f"{seed}:revise:{c}"))
            for c in range(self.n)
        ]
        self.punctuate = options.flag("punctuate") or options.flag("smart_format")
        self.diarize = options.flag("diarize") or options.listen.get("diarize_model") is not None
        model = options.listen.get("model") or "base"
        self.model_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dgtools-synthetic:{model}"))
        self.model_info = {"name": f"synthetic-{model}", "version": self.MODEL_VERSION, "arch": model}

    def feed(self, received: float) -> list[dict[str, Any]]:
        """The messages due now that ``received`` audio seconds have arrived."""
        out: list[dict[str, Any]] = []
        for c, ch in enumerate(self._channels):
            ch.ahead(received)
            if self.options.vad_events:
                out.extend(self._speech_started(c, ch, received))
            while True:
                end = ch.final_until + SEGMENT_S
                for w in ch.pending:  # stretch the segment to the end of a word under way
                    if w.start >= end:
                        break
                    end = max(end, w.end)
                if end > received:
                    break
                out.append(self._final(c, ch, end, from_finalize=False))
                ch.ahead(received)
            out.extend(self._utterance_end(c, ch, received))
            if (
                self.options.interim_results
                and received > ch.final_until
                and received - ch.interim_at >= min(INTERIM_STEP_S, received - ch.final_until)
                and received > ch.interim_at
            ):
                words = _revised(
                    ch, [w for w in ch.pending if w.start >= ch.final_until and w.end <= received]
                )
                out.append(self._results(c, ch.final_until, received, words, False, False, False))
                ch.interim_at = received
        return out

    def flush(self, received: float, *, from_finalize: bool = False) -> list[dict[str, Any]]:
        """Finals for all audio not yet final (``Finalize``: ``from_finalize=True``; ``CloseStream``)."""
        out = self.feed(received)
        for c, ch in enumerate(self._channels):
            if received > ch.final_until:
                out.append(self._final(c, ch, received, from_finalize=from_finalize))
        return out

    def metadata(self, *, sha256: str, duration: float, channels: int) -> dict[str, Any]:
        """The ``Metadata`` message sent before a normal close (no model fields when no audio came)."""
        model = (self.model_uuid, self.model_info) if channels else None
        return metadata_message(
            request_id=self.request_id, sha256=sha256, duration=duration, channels=channels, model=model
        )

    # -- messages

    def _final(self, c: int, ch: _Channel, end: float, *, from_finalize: bool) -> dict[str, Any]:
        words = ch.take(end)
        speech_final = self.options.endpointing is not None and bool(words) and words[-1].sentence_end
        message = self._results(c, ch.final_until, end, words, True, speech_final, from_finalize)
        ch.final_until = ch.interim_at = end
        if words:
            ch.last_word_end, ch.utterance_ended = words[-1].end, False
        return message

    def _speech_started(self, c: int, ch: _Channel, received: float) -> list[dict[str, Any]]:
        out = []
        for w in ch.pending:
            if w.start > received:
                break
            if w.start > ch.speech_started_upto:
                ch.speech_started_upto = w.start
                if w.gap_before >= SPEECH_START_GAP_S:
                    out.append({"type": "SpeechStarted", "channel": [c, self.n], "timestamp": _r(w.start)})
        return out

    def _utterance_end(self, c: int, ch: _Channel, received: float) -> list[dict[str, Any]]:
        ms = self.options.utterance_end_ms
        if ms is None or ch.utterance_ended or ch.last_word_end is None:
            return []
        quiet_until = ch.last_word_end + ms / 1000
        if received < quiet_until or (ch.pending and ch.pending[0].start < quiet_until):
            return []
        ch.utterance_ended = True
        return [{"channel": [c, self.n], "last_word_end": _r(ch.last_word_end), "type": "UtteranceEnd"}]

    def _results(
        self,
        c: int,
        start: float,
        end: float,
        words: list[_Word],
        is_final: bool,
        speech_final: bool,
        from_finalize: bool,
    ) -> dict[str, Any]:
        word_dicts = []
        for w in words:
            d: dict[str, Any] = {"word": w.word, "start": w.start, "end": w.end, "confidence": w.confidence}
            if self.diarize:
                d["speaker"] = w.speaker
            if self.punctuate:
                d["punctuated_word"] = w.punctuated
            word_dicts.append(d)
        transcript = " ".join(w.punctuated if self.punctuate else w.word for w in words)
        confidence = _r(sum(w.confidence for w in words) / len(words)) if words else 0.0
        return results_message(
            channel_index=[c, self.n],
            start=start,
            end=end,
            alternatives=[{"transcript": transcript, "confidence": confidence, "words": word_dicts}],
            is_final=is_final,
            speech_final=speech_final,
            from_finalize=from_finalize,
            request_id=self.request_id,
            model=(self.model_uuid, self.model_info),
        )


def _revised(ch: _Channel, words: list[_Word]) -> list[_Word]:
    """``words`` with the last replaced by another vocabulary word, for about :data:`REVISE_RATE` of calls.

    The draws come from the channel's own generator (``revise``), never from the one making its
    words, so finals are the same with interims or without.
    """
    if not words or ch.revise.random() >= REVISE_RATE:
        return words
    last = words[-1]
    other = ch.revise.choice([v for v in _VOCABULARY if v != last.word])
    suffix = last.punctuated[len(last.word) :]  # the sentence's punctuation: "," "." "?"
    opens = last.punctuated[:1].isupper() and last.word != "i"  # the word opens its sentence
    shown = other.capitalize() if opens or other == "i" else other
    wrong = _Word(
        other,
        shown + suffix,
        last.start,
        last.end,
        round(last.confidence * 0.6, 6),
        last.speaker,
        last.sentence_end,
        last.gap_before,
    )
    return [*words[:-1], wrong]


def results_message(
    *,
    channel_index: list[int],
    start: float,
    end: float,
    alternatives: list[dict[str, Any]],
    is_final: bool,
    speech_final: bool,
    from_finalize: bool,
    request_id: str,
    model: tuple[str, dict[str, str]],
) -> dict[str, Any]:
    """A ``Results`` message covering ``[start, end)`` audio seconds, keys in Deepgram's order.

    ``model`` is the ``(model uuid, model_info entry)`` pair.

    Examples
    --------
    >>> m = results_message(channel_index=[0, 1], start=1.0, end=2.5, alternatives=[], is_final=True,
    ...                     speech_final=False, from_finalize=False, request_id="r", model=("u", {}))
    >>> list(m)
    ['type', 'channel_index', 'duration', 'start', 'is_final', 'speech_final', 'channel', 'metadata', 'from_finalize']
    """
    uid, info = model
    return {
        "type": "Results",
        "channel_index": channel_index,
        "duration": _r(end - start),
        "start": _r(start),
        "is_final": is_final,
        "speech_final": speech_final,
        "channel": {"alternatives": alternatives},
        "metadata": {"request_id": request_id, "model_info": info, "model_uuid": uid},
        "from_finalize": from_finalize,
    }


def metadata_message(
    *, request_id: str, sha256: str, duration: float, channels: int, model: tuple[str, dict[str, str]] | None
) -> dict[str, Any]:
    """The ``Metadata`` message sent before a normal close (``model`` None: no model fields, as with no audio)."""
    message: dict[str, Any] = {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": request_id,
        "sha256": sha256,
        "created": now_created(),
        "duration": _r(duration),
        "channels": channels,
    }
    if model is not None:
        message["models"] = [model[0]]
        message["model_info"] = {model[0]: model[1]}
    return message


def _r(x: float) -> float:
    return round(x, 6)


# --------------------------------------------------------------------------- the ASGI endpoint
