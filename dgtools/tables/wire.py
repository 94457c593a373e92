"""Deepgram's JSON wire format as msgspec Structs (internal).

One permissive :class:`Response` type decodes every JSON object dgtools
reads: pre-recorded ``/v1/listen`` and ``/v1/read`` responses, ``/v1/listen``
and ``/v2/listen`` (Flux) streaming messages, channel fragments, and Deepgram
error bodies (which are then reported, not flattened).  :class:`Timing` is one
line of a capture's ``.timing`` file, and :class:`Stream` a stream's messages
with those lines.  Every field is optional; unknown keys are
skipped; integers are accepted where floats are expected.

Decoding into these types instead of into dicts is what makes
:func:`dgtools.to_tables` fast: msgspec validates the whole document but
allocates only the fields dgtools keeps (the copies of every word inside
``results.utterances[].words`` become empty placeholders), and a value of the
wrong type fails with the exact key path (``$.results.channels[0]...``).
All structs are ``gc=False``: JSON cannot form reference cycles, so the cyclic
collector never needs to track them.

Values that cannot be are refused while decoding, at C speed and with the key
path: a negative time (:data:`Time`), a confidence outside [0, 1]
(:data:`Prob`), a negative or fractional speaker, channel or count
(:data:`Count`).  An end before its start involves two fields and is checked
by :mod:`dgtools.tables.checks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ..exceptions import ResponseFormatError

__all__ = [
    "FLUX_TYPES",
    "STREAM_TYPES",
    "V1_TYPES",
    "Response",
    "Stream",
    "Timing",
    "TopLevel",
    "decode",
    "decode_timing",
    "decoder",
    "is_stream_message",
    "looks_like_stream_message",
    "not_a_response",
    "to_response",
]

#: Streaming ``/v1/listen`` message types.
V1_TYPES = frozenset({"Results", "Metadata", "UtteranceEnd", "SpeechStarted", "Error", "Warning"})
#: Message types of ``/v2/listen`` (Flux), Deepgram's AsyncAPI spec (its fatal error is ``Error`` too).
FLUX_TYPES = frozenset({"Connected", "TurnInfo", "ConfigureSuccess", "ConfigureFailure", "Error"})
#: Every streaming message type dgtools reads: ``/v1/listen`` and ``/v2/listen``.
STREAM_TYPES = V1_TYPES | FLUX_TYPES
#: Message types of the speak and agent sockets, which are not speech-to-text.
_OTHER_SOCKET_TYPES = frozenset({"SpeechInterrupted", "SessionMetadata", "Flushed", "Cleared", "Welcome"})

Num = float | None
Str = str | None
_INT64_MAX = 2**63 - 1
#: Seconds from the start of the audio: never negative.
Time = Annotated[float, Meta(ge=0)] | None
#: A confidence: between 0 and 1.
Prob = Annotated[float, Meta(ge=0, le=1)] | None
#: A speaker, channel, word index or count: a whole number >= 0 that fits int64.  Deepgram sends
#: ints; SDK round trips sometimes write 1.0 (summarize=v1 word indices are floats).
Count = (
    Annotated[int, Meta(ge=0, le=_INT64_MAX)] | Annotated[float, Meta(ge=0, le=2.0**62, multiple_of=1)] | None
)
#: An index inside a list (``channel_index``).
Index = Annotated[int, Meta(ge=0, le=_INT64_MAX)]


class _S(msgspec.Struct, gc=False):
    """Base: every field optional, unknown keys ignored."""


class Word(_S):
    word: Str = None
    punctuated_word: Str = None
    start: Time = None
    end: Time = None
    confidence: Prob = None
    speaker: Count = None
    speaker_confidence: Prob = None
    language: Str = None
    sentiment: Str = None
    sentiment_score: Num = None


class Placeholder(_S):
    """Stands for an object whose contents dgtools does not keep (utterance word copies)."""


class Sentence(_S):
    text: Str = None
    start: Time = None
    end: Time = None


class Paragraph(_S):
    sentences: list[Sentence] | None = None
    speaker: Count = None
    num_words: Count = None
    start: Time = None
    end: Time = None


class Paragraphs(_S):
    transcript: Str = None
    paragraphs: list[Paragraph] | None = None


class Label(_S):
    topic: Str = None
    intent: Str = None
    confidence_score: Prob = None
    confidence: Prob = None  # legacy detect_topics items: {"topic", "confidence"}


class Segment(_S):
    """A topics/intents/sentiments segment, a legacy topic item or a v1 summary."""

    text: Str = None
    summary: Str = None
    start_word: Count = None
    end_word: Count = None
    topics: list[Label | str] | None = None
    intents: list[Label] | None = None
    sentiment: Str = None
    sentiment_score: Num = None


class Entity(_S):
    label: Str = None
    value: Str = None
    raw_value: Str = None
    confidence: Prob = None
    start_word: Count = None
    end_word: Count = None


class Alternative(_S):
    transcript: Str = None
    confidence: Prob = None
    words: list[Word] | None = None
    paragraphs: Paragraphs | None = None
    languages: list[str] | None = None
    entities: list[Entity] | None = None
    summaries: list[Segment] | None = None
    topics: list[Segment] | None = None


class Hit(_S):
    confidence: Prob = None
    start: Time = None
    end: Time = None
    snippet: Str = None


class Search(_S):
    query: Str = None
    hits: list[Hit] | None = None


class Channel(_S):
    alternatives: list[Alternative] | None = None
    search: list[Search] | None = None
    detected_language: Str = None
    language_confidence: Prob = None


class Utterance(_S):
    id: Str = None
    channel: Count = None
    speaker: Count = None
    start: Time = None
    end: Time = None
    confidence: Prob = None
    transcript: Str = None
    words: list[Placeholder] | None = None


class Segments(_S):
    segments: list[Segment] | None = None


class SegmentsNested(_S):
    """The OpenAPI spec's ``{"results": {"topics": {"segments": [...]}}}`` nesting."""

    topics: Segments | None = None
    intents: Segments | None = None


class SegmentsBlock(_S):
    segments: list[Segment] | None = None
    results: SegmentsNested | None = None
    average: Segment | None = None


class SummaryText(_S):
    text: Str = None


class SummaryNested(_S):
    summary: SummaryText | None = None


class Summary(_S):
    result: Str = None
    short: Str = None
    text: Str = None  # /v1/read
    results: SummaryNested | None = None  # spec-generated nesting


class Results(_S):
    channels: list[Channel] | None = None
    utterances: list[Utterance] | None = None
    summary: Summary | None = None
    topics: SegmentsBlock | None = None
    intents: SegmentsBlock | None = None
    sentiments: SegmentsBlock | None = None


class Info(_S):
    model_uuid: Str = None
    input_tokens: Count = None
    output_tokens: Count = None


class Warning(_S):
    type: Str = None
    parameter: Str = None
    message: Str = None


class Metadata(_S):
    request_id: Str = None
    sha256: Str = None
    created: Str = None
    duration: Time = None
    channels: Count = None
    models: list[str] | None = None
    model_info: dict[str, Any] | None = None
    model_uuid: Str = None
    language: Str = None
    tags: list[str] | None = None
    extra: Any = None
    warnings: list[Warning] | None = None
    summary_info: Info | None = None
    sentiment_info: Info | None = None
    topics_info: Info | None = None
    intents_info: Info | None = None


class Response(_S):
    """Any top-level object: response, streaming message, fragment or error body."""

    metadata: Metadata | None = None
    results: Results | None = None
    # streaming messages
    type: Str = None
    channel: Channel | list[Index] | None = None
    channel_index: list[Index] | None = None
    start: Time = None
    duration: Time = None
    is_final: bool | None = None
    speech_final: bool | None = None
    from_finalize: bool | None = None
    timestamp: Num = None
    last_word_end: Num = None
    # /v2/listen (Flux): TurnInfo, and sequence_id on every message
    sequence_id: Count = None
    event: Str = None
    turn_index: Count = None
    audio_window_start: Time = None
    audio_window_end: Time = None
    transcript: Str = None
    words: list[Word] | None = None
    end_of_turn_confidence: Prob = None
    languages: list[str] | None = None
    code: Any = None  # Flux Error
    # the streaming Metadata message carries these at the top level
    request_id: Str = None
    sha256: Str = None
    created: Str = None
    channels: Count = None
    models: list[str] | None = None
    model_info: dict[str, Any] | None = None
    # a channel fragment
    alternatives: list[Alternative] | None = None
    search: list[Search] | None = None
    # error bodies and other sockets: recognised only to explain them
    err_code: Any = None
    err_msg: Any = None
    category: Any = None
    message: Any = None
    description: Any = None  # streaming Error / Warning messages
    variant: Any = None
    frames: Any = None


TopLevel = Response | list[Response]


class Timing(_S):
    """One line of a capture's ``.timing`` file: when its message arrived (see :func:`dgtools.stream`)."""

    received_at: datetime | None = None  # ISO 8601 (RFC 3339); without an offset: UTC
    monotonic: Num = None  # seconds since the socket opened
    audio_sent_s: Num = None  # audio seconds sent by then, in stream time
    socket: Count = None  # connection index, from 0; absent: 0
    offset_s: Time = None  # stream time of this socket's time 0; absent: 0


class Stream(list[Response]):
    """The messages of one stream, with the lines of its ``.timing`` file (``None`` without one).

    A ``list``, so everything that takes a stream as a list of messages takes it.
    """

    __slots__ = ("timing",)

    def __init__(self, messages: Iterable[Response] = (), timing: list[Timing] | None = None) -> None:
        super().__init__(messages)
        self.timing = timing


_timing_decoder = msgspec.json.Decoder(Timing)


def decode_timing(data: bytes) -> Timing:
    """Decode one line of a ``.timing`` file (msgspec errors propagate)."""
    return _timing_decoder.decode(data)


_decoder = msgspec.json.Decoder(TopLevel)
_line_decoder = msgspec.json.Decoder(Response)


def decoder() -> msgspec.json.Decoder[Any]:
    """The shared decoder for a whole file (an object or a list of objects)."""
    return _decoder


def decode(data: bytes | bytearray | memoryview, *, line: bool = False) -> Response | list[Response]:
    """Decode JSON bytes into :class:`Response` (or, unless ``line``, a list of them)."""
    return (_line_decoder if line else _decoder).decode(data)


def to_response(obj: Any) -> Response | list[Response]:
    """Convert already-parsed JSON (dicts and lists) into :class:`Response`."""
    out: Response | list[Response] = msgspec.convert(obj, TopLevel)
    return out


# --------------------------------------------------------------------------- what an object is


def is_stream_message(r: Response) -> bool:
    """Whether a decoded object is a ``/v1/listen`` or ``/v2/listen`` streaming message."""
    if r.type is not None:
        return r.type in STREAM_TYPES
    return isinstance(r.channel, Channel) and r.results is None


def looks_like_stream_message(d: Mapping[str, Any]) -> bool:
    """Whether a plain dict is a ``/v1/listen`` or ``/v2/listen`` streaming message (before decoding)."""
    typ = d.get("type")
    if typ is not None:
        return typ in STREAM_TYPES
    return isinstance(d.get("channel"), Mapping) and "results" not in d


def not_a_response(r: Response, path: str | None, key_prefix: str = "") -> ResponseFormatError:
    """Explain why ``r`` is not something dgtools can flatten (the error to raise)."""
    if r.err_code is not None or r.err_msg is not None or (r.category is not None and r.message is not None):
        return ResponseFormatError(
            "holds a Deepgram error body, not a transcript "
            f"({r.err_code or r.category}: {r.err_msg or r.message}); re-run that request",
            path=path, key_path=key_prefix or None,
        )  # fmt: skip
    if r.frames is not None:
        return ResponseFormatError(
            "is a WebSocket capture wrapper whose 'frames' are JSON strings, not a list of messages; "
            "decode them and pass the list: to_tables([json.loads(f) for f in doc['frames']]) "
            "(dgtools reads /v1/listen and /v2/listen (Flux) messages, and /v1/listen pre-recorded responses)",
            path=path, key_path=(key_prefix + ".frames").lstrip("."),
        )  # fmt: skip
    if r.type in _OTHER_SOCKET_TYPES:
        return ResponseFormatError(
            f"is a {r.type} message of a speak or agent socket, not speech-to-text; dgtools reads "
            "/v1/listen pre-recorded responses and /v1/listen and /v2/listen (Flux) streaming messages",
            path=path, key_path=key_prefix or None,
        )  # fmt: skip
    if r.type is not None:
        return ResponseFormatError(
            f"has unknown message type {r.type!r}; /v1/listen streaming types are {sorted(V1_TYPES)}, "
            f"/v2/listen (Flux) types {sorted(FLUX_TYPES)}",
            path=path, key_path=(key_prefix + ".type").lstrip("."),
        )  # fmt: skip
    if r.metadata is not None:
        return ResponseFormatError(
            "is missing 'results': a pre-recorded response has 'metadata' and 'results'",
            path=path, key_path=(key_prefix + ".results").lstrip("."),
        )  # fmt: skip
    found = "" if key_prefix else _raw_keys(path)
    return ResponseFormatError(
        "is not a Deepgram response: expected key 'results' (pre-recorded), 'channel' or 'type' "
        "(a streaming message)" + (f"; found keys {found}" if found else ""),
        path=path, key_path=(key_prefix + ".results").lstrip("."),
    )  # fmt: skip


def _raw_keys(path: str | None) -> list[str]:
    """The first top-level keys of the JSON file at ``path``, to name in an error."""
    if path is None:
        return []
    try:
        raw = msgspec.json.decode(Path(path).read_bytes())
    except (OSError, msgspec.DecodeError, RecursionError):
        return []
    return sorted(map(str, raw))[:10] if isinstance(raw, dict) else []
