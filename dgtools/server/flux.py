"""Flux for the local server: WebSocket ``/v2/listen`` answered like Deepgram's conversational model.

:class:`FluxStream` is the ASGI endpoint (``create_app`` mounts it beside ``/v1/listen``);
:class:`SyntheticFlux` is the transcriber behind it, pure Python and usable alone: turns of the
synthetic words every ``/v1/listen`` stream gets (:mod:`dgtools.server.live`, the words of
:mod:`dgtools.engines.synthetic`, about 2.5 a second; the same words for the same seed), reported
as Flux reports them.  :func:`parse_flux_options` validates a handshake's query.

The protocol, as Deepgram's ``wss://api.deepgram.com/v2/listen`` (its AsyncAPI spec, and the
frames of a real Flux stream where they differ):

- **Handshake.**  The credentials of ``/v1/listen`` (``Authorization`` header, ``?token=``,
  ``Sec-WebSocket-Protocol``; a missing or wrong one: HTTP 401 ``INVALID_AUTH``).  The query is
  checked by :func:`dgtools.options.flux.parse_flux_query` (Flux's own options: ``model``,
  ``eot_threshold``, ``eager_eot_threshold``, ``eot_timeout_ms``, ``keyterm``, ...) and raw
  audio needs both ``encoding`` and ``sample_rate`` (a container needs neither); a bad query is
  refused with 400 ``INVALID_QUERY_PARAMETER`` naming the option, the body ``/v1/listen`` gives.
- **Messages.**  ``Connected`` first (``sequence_id`` 0); then, for every 240 ms of audio
  (:data:`TURN_STEP_S`, as a real stream reports), a ``TurnInfo`` of the turn in progress: its
  ``turn_index``, ``audio_window_start`` (where the turn began: the previous turn's end) and
  ``audio_window_end`` (the audio heard so far), the words complete by then (``{"word",
  "confidence", "start", "end"}``, each word punctuated and cased, as Flux gives them) and
  ``end_of_turn_confidence``.  Its ``event`` is ``Update``, or ``StartOfTurn`` when the turn's
  first word is out; ``EagerEndOfTurn`` (with ``eager_eot_threshold``) when the last word out
  ends a sentence and the confidence reaches that threshold; ``TurnResumed`` when words come after
  an ``EagerEndOfTurn`` (the pause was one between sentences: it happens for some pauses of every
  stream, always the same ones for a given seed); ``EndOfTurn`` when the confidence reaches
  ``eot_threshold`` (default 0.7) or the silence after the last word lasts ``eot_timeout_ms``
  (default 5000).  The confidence after a sentence's last word grows with the silence (about
  0.25 plus the silence in seconds), so a pause of about half a second ends a turn; within a
  sentence it stays under 0.1.  Each ``EndOfTurn`` window starts where the previous one ended:
  the windows tile the audio.  Every message carries ``request_id`` and a ``sequence_id`` one
  above the previous message's.  ``flux-general-multi`` adds ``languages`` (``["en"]``) to turns
  with words and ``languages_hinted`` when ``language_hint`` is set.
- **Client messages.**  Binary frames are audio (``linear16``, ``linear32``, ``mulaw``, ``alaw``
  timed exactly at ``sample_rate``; a WAV header read for its format; other containers and
  ``opus`` timed at a nominal 32,000 bytes a second).  ``{"type": "Configure", "thresholds":
  {...}, "keyterms": [...]}`` (``language_hints`` for ``flux-general-multi``) changes the
  settings from the next window on and answers ``ConfigureSuccess`` with every current value (the
  thresholds, ``keyterms``, ``profanity_filter``; ``numerals`` when it set them), or
  ``ConfigureFailure`` for a value the query would refuse (nothing changes then; its ``code``
  and ``description``, optional fields of the official SDK, say what was wrong).
  ``{"type": "ForceEndTurn"}`` (the official SDK's; not in the spec) ends the turn in progress
  with an ``EndOfTurn`` if it has words, and the stream goes on; ``{"type": "CloseStream"}`` (or
  an empty binary frame) does it too, then closes 1000.  Flux has no ``KeepAlive`` nor
  ``Finalize``: like any other text frame, they close the stream 1008 ``DATA-0000``.
- **Closes.**  As ``/v1/listen``: no frame for ``stream_timeout`` seconds, ``1011 NET-0001``;
  data that cannot be the declared audio, ``1008 DATA-0000``.  Before such a close the server
  sends the spec's fatal ``Error`` message (``code``: the close reason, ``description``).
- **Faults and counters** as ``/v1/listen``: ``stream_drop_after`` and ``stream_drops`` drop a
  stream without a close frame, ``final_delay`` holds back each ``EndOfTurn`` (what follows waits);
  ``/_dgtools/stats`` counts these streams in ``streams``, ``stream_messages`` and ``stream_closes``.

An offline engine (``local``, ``whisper``) answers ``/v1/listen`` streams, not these: ``/v2/listen``
always gets synthetic words.  starlette is imported when a stream is handled, not with this module.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ..exceptions import ConfigError
from ..options.flux import parse_flux_query
from .live import AudioClock, _option_error, _r, _Word, _words
from .stream import ListenStream, _Outbox

if TYPE_CHECKING:
    from starlette.types import Receive, Send

__all__ = [
    "DEFAULT_EOT_THRESHOLD",
    "DEFAULT_EOT_TIMEOUT_MS",
    "FluxOptions",
    "FluxStream",
    "SyntheticFlux",
    "TURN_STEP_S",
    "parse_flux_options",
]

#: Audio seconds between two ``TurnInfo`` messages (a real Flux stream's step).
TURN_STEP_S: Final = 0.24
#: ``eot_threshold`` when the query has none (the spec's default).
DEFAULT_EOT_THRESHOLD: Final = 0.7
#: ``eot_timeout_ms`` when the query has none (the spec's default).
DEFAULT_EOT_TIMEOUT_MS: Final = 5000
#: Encodings of headerless audio, which Flux takes only with a ``sample_rate``.
_RAW: Final = frozenset({"linear16", "linear32", "mulaw", "alaw", "opus"})
#: The thresholds a ``Configure`` message may set.
_THRESHOLDS: Final = ("eot_threshold", "eager_eot_threshold", "eot_timeout_ms")
_DESCRIPTIONS: Final = {
    "NET-0001": "No audio was received within the timeout; the stream is closed.",
    "DATA-0000": "The data received cannot be the declared audio (or is no Flux control message).",
}


@dataclass(frozen=True, slots=True)
class FluxOptions:
    """The validated query of a ``/v2/listen`` WebSocket (the settings a stream starts with)."""

    model: str
    encoding: str | None = None
    sample_rate: int | None = None
    eot_threshold: float = DEFAULT_EOT_THRESHOLD
    eager_eot_threshold: float | None = None
    eot_timeout_ms: int = DEFAULT_EOT_TIMEOUT_MS
    keyterms: tuple[str, ...] = ()
    language_hints: tuple[str, ...] = ()
    profanity_filter: bool = False
    numerals: bool = False


def parse_flux_options(params: Sequence[tuple[str, str]]) -> FluxOptions:
    """Validate a ``/v2/listen`` query (without ``token``) as Deepgram would.

    :func:`dgtools.options.flux.parse_flux_query` checks each option; raw audio (``encoding``
    other than ``ogg-opus``) needs a ``sample_rate`` too.

    Raises
    ------
    ConfigError
        With ``.option`` naming the offending parameter.

    Examples
    --------
    >>> opts = parse_flux_options([("model", "flux-general-en"), ("encoding", "linear16"),
    ...                            ("sample_rate", "16000"), ("eager_eot_threshold", "0.5")])
    >>> opts.sample_rate, opts.eot_threshold, opts.eager_eot_threshold, opts.eot_timeout_ms
    (16000, 0.7, 0.5, 5000)
    >>> parse_flux_options([("model", "flux-general-en"), ("encoding", "linear16")])
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: sample_rate=missing: raw audio (encoding=linear16) needs a sample_rate
    """
    pairs = parse_flux_query(params)
    one = dict(pairs)
    encoding = one.get("encoding")
    if encoding in _RAW and "sample_rate" not in one:
        raise _option_error(
            "sample_rate", f"sample_rate=missing: raw audio (encoding={encoding}) needs a sample_rate"
        )
    eager = one.get("eager_eot_threshold")
    return FluxOptions(
        model=one["model"],
        encoding=encoding,
        sample_rate=int(one["sample_rate"]) if "sample_rate" in one else None,
        eot_threshold=float(one.get("eot_threshold", DEFAULT_EOT_THRESHOLD)),
        eager_eot_threshold=None if eager is None else float(eager),
        eot_timeout_ms=int(one.get("eot_timeout_ms", DEFAULT_EOT_TIMEOUT_MS)),
        keyterms=tuple(v for k, v in pairs if k == "keyterm"),
        language_hints=tuple(v for k, v in pairs if k == "language_hint"),
        profanity_filter=one.get("profanity_filter") == "true",
        numerals=one.get("numerals") == "true",
    )


class SyntheticFlux:
    """Flux-shaped messages (``Connected``, ``TurnInfo``, ...) for the audio received so far.

    Feed it the audio seconds received (:meth:`feed`); it answers a ``TurnInfo`` for every
    :data:`TURN_STEP_S` seconds of audio (see :mod:`dgtools.server.flux` for the events).
    :meth:`flush` ends the turn in progress (``CloseStream``), :meth:`configure` answers a
    ``Configure`` message, :meth:`connected` and :meth:`error` are the first and a fatal message.
    The words are channel 0's of :class:`~dgtools.server.live.SyntheticStream` for the same
    ``seed``; what is said, and when turns end, never depends on how the audio was chunked.

    Examples
    --------
    >>> flux = SyntheticFlux(parse_flux_options([("model", "flux-general-en")]), request_id="r")
    >>> flux.connected()
    {'type': 'Connected', 'request_id': 'r', 'sequence_id': 0}
    >>> messages = flux.feed(6.0) + flux.flush(6.0)
    >>> [m["audio_window_end"] for m in messages[:3]]
    [0.24, 0.48, 0.72]
    >>> ends = [m for m in messages if m["event"] == "EndOfTurn"]
    >>> ends[0]["audio_window_start"], ends[-1]["audio_window_end"]
    (0.0, 6.0)
    >>> all(a["audio_window_end"] == b["audio_window_start"] for a, b in zip(ends, ends[1:]))
    True
    """

    def __init__(self, options: FluxOptions, *, request_id: str, seed: int = 0) -> None:
        self.options = options
        self.request_id = request_id
        self.seed = seed
        #: The settings in force (a ``Configure`` message changes them).
        self.eot_threshold = options.eot_threshold
        self.eager_eot_threshold = options.eager_eot_threshold
        self.eot_timeout_ms = options.eot_timeout_ms
        self.keyterms = list(options.keyterms)
        self.language_hints = list(options.language_hints)
        self.numerals = options.numerals
        self._source = _words(random.Random(f"{seed}:stream:0"))
        self._upcoming: deque[_Word] = deque()  # words generated, not yet complete in the audio heard
        self._sequence = 0
        self._windows = 0  # TurnInfo windows reported
        self._turn = 0
        self._turn_start = 0.0
        self._words: list[_Word] = []  # the turn's words so far
        self._started = False  # StartOfTurn sent for this turn
        self._eager = False  # EagerEndOfTurn sent, no word since

    # -- the messages

    def connected(self) -> dict[str, Any]:
        """The ``Connected`` message that opens the stream."""
        return self._stamp({"type": "Connected", "request_id": self.request_id})

    def feed(self, received: float) -> list[dict[str, Any]]:
        """The ``TurnInfo`` messages due now that ``received`` audio seconds have arrived."""
        out: list[dict[str, Any]] = []
        while (end := _r((self._windows + 1) * TURN_STEP_S)) <= received + 1e-9:
            self._windows += 1
            out.extend(self._window(end, closing=False))
        return out

    def flush(self, received: float) -> list[dict[str, Any]]:
        """The messages due, then the turn in progress ended (``EndOfTurn``) if it has words.

        For ``CloseStream`` and ``ForceEndTurn``: a word under way is cut off (a stream that goes
        on never reports it).
        """
        return self.feed(received) + self._window(received, closing=True)

    def configure(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply a ``Configure`` message; answers ``ConfigureSuccess`` (the values in force) or ``ConfigureFailure``.

        Examples
        --------
        >>> flux = SyntheticFlux(parse_flux_options([("model", "flux-general-en")]), request_id="r")
        >>> flux.configure({"type": "Configure", "thresholds": {"eot_threshold": 0.8},
        ...                 "keyterms": ["Deepgram"]})  # doctest: +NORMALIZE_WHITESPACE
        {'type': 'ConfigureSuccess', 'request_id': 'r',
         'thresholds': {'eot_threshold': 0.8, 'eot_timeout_ms': 5000},
         'keyterms': ['Deepgram'], 'profanity_filter': False, 'sequence_id': 0}
        >>> flux.configure({"type": "Configure", "thresholds": {"eot_threshold": 2}})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'type': 'ConfigureFailure', 'request_id': 'r', 'code': 'INVALID_CONFIGURE',
         'description': "eot_threshold='2': Flux takes 0.5 to 0.9", 'sequence_id': 1}
        """
        try:
            thresholds, keyterms, hints = self._checked(payload)
        except ConfigError as exc:
            return self._stamp(
                {
                    "type": "ConfigureFailure",
                    "request_id": self.request_id,
                    "code": "INVALID_CONFIGURE",
                    "description": str(exc),
                }
            )
        if "eot_threshold" in thresholds:
            self.eot_threshold = float(thresholds["eot_threshold"])
        if "eager_eot_threshold" in thresholds:
            self.eager_eot_threshold = float(thresholds["eager_eot_threshold"])
        if "eot_timeout_ms" in thresholds:
            self.eot_timeout_ms = int(thresholds["eot_timeout_ms"])
        if keyterms is not None:
            self.keyterms = keyterms
        if hints is not None:
            self.language_hints = hints
        if isinstance(payload.get("numerals"), bool):
            self.numerals = payload["numerals"]
        current: dict[str, Any] = {"eot_threshold": self.eot_threshold}
        if self.eager_eot_threshold is not None:
            current["eager_eot_threshold"] = self.eager_eot_threshold
        current["eot_timeout_ms"] = self.eot_timeout_ms
        message: dict[str, Any] = {
            "type": "ConfigureSuccess",
            "request_id": self.request_id,
            "thresholds": current,
            "keyterms": list(self.keyterms),
        }
        if self._multi:
            message["language_hints"] = list(self.language_hints)
        if "numerals" in payload:
            message["numerals"] = self.numerals
        message["profanity_filter"] = self.options.profanity_filter
        return self._stamp(message)

    def error(self, code: str, description: str | None = None) -> dict[str, Any]:
        """The fatal ``Error`` message sent before an error close (``code``: the close reason)."""
        text = description or _DESCRIPTIONS.get(code, "The stream failed.")
        return self._stamp(
            {"type": "Error", "request_id": self.request_id, "code": code, "description": text}
        )

    # -- turns

    @property
    def _multi(self) -> bool:
        return self.options.model == "flux-general-multi"

    def _stamp(self, message: dict[str, Any]) -> dict[str, Any]:
        message["sequence_id"] = self._sequence
        self._sequence += 1
        return message

    def _take(self, until: float) -> bool:
        """Move the words complete by ``until`` into the turn; whether a word is under way then."""
        while not self._upcoming or self._upcoming[-1].start <= until:
            self._upcoming.append(next(self._source))
        while self._upcoming and self._upcoming[0].end <= until:
            word = self._upcoming.popleft()
            if word.start >= self._turn_start:  # else cut off by a forced end of turn
                self._words.append(word)
        return self._upcoming[0].start < until

    def _window(self, end: float, *, closing: bool) -> list[dict[str, Any]]:
        before = len(self._words)
        under_way = self._take(end) and not closing  # at the close, a word under way is cut off
        fresh = len(self._words) > before
        if closing and not self._words:
            return []
        confidence = self._confidence(end, under_way)
        events: list[str] = []
        if self._words and not self._started:
            events.append("StartOfTurn")
            self._started = True
        elif self._eager and (fresh or under_way):
            events.append("TurnResumed")
            self._eager = False
        if self._words and not under_way:
            last = self._words[-1]
            silence_ms = (end - last.end) * 1000
            eager = self.eager_eot_threshold
            if (
                eager is not None
                and not self._eager
                and not closing
                and last.sentence_end
                and confidence >= eager
            ):
                events.append("EagerEndOfTurn")
                self._eager = True
            if closing or confidence >= self.eot_threshold or silence_ms >= self.eot_timeout_ms:
                events.append("EndOfTurn")
        out = [self._turn_info(event, end, confidence) for event in events or ["Update"]]
        if events and events[-1] == "EndOfTurn":
            self._turn += 1
            self._turn_start, self._words, self._started, self._eager = end, [], False, False
        return out

    def _confidence(self, end: float, under_way: bool) -> float:
        """``end_of_turn_confidence`` at ``end``: grows with the silence after a sentence's last word."""
        jitter = self._unit("window", end)
        if not self._words:  # silence before the turn's first word: no turn to end
            return round(0.2 + 0.5 * jitter, 4)
        if under_way:
            return round(0.01 + 0.09 * jitter, 4)
        last = self._words[-1]
        silence = end - last.end
        if not last.sentence_end:
            return round(min(0.4, 0.02 + 0.05 * jitter + 0.2 * silence), 4)
        lean = 0.16 * self._unit("sentence", last.start) - 0.08  # each sentence ends a little apart
        return round(min(0.99, max(0.01, 0.25 + silence + lean)), 4)

    def _unit(self, kind: str, key: float) -> float:
        """A number in [0, 1) fixed by the seed, ``kind`` and ``key`` (not by the order of calls)."""
        return random.Random(f"{self.seed}:flux:{kind}:{key:.6f}").random()

    def _turn_info(self, event: str, end: float, confidence: float) -> dict[str, Any]:
        words = [
            {"word": w.punctuated, "confidence": w.confidence, "start": w.start, "end": w.end}
            for w in self._words
        ]
        message: dict[str, Any] = {
            "type": "TurnInfo",
            "request_id": self.request_id,
            "event": event,
            "turn_index": self._turn,
            "audio_window_start": float(self._turn_start),
            "audio_window_end": float(_r(end)),
            "transcript": " ".join(w.punctuated for w in self._words),
            "words": words,
            "end_of_turn_confidence": confidence,
        }
        if self._multi and words:
            message["languages"] = ["en"]
        if self.language_hints:
            message["languages_hinted"] = list(self.language_hints)
        return self._stamp(message)

    def _checked(self, payload: dict[str, Any]) -> tuple[dict[str, Any], list[str] | None, list[str] | None]:
        """A ``Configure`` message's thresholds, keyterms and language hints, checked as the query's."""
        pairs = [("model", self.options.model)]
        given = payload.get("thresholds") or {}
        if not isinstance(given, dict):
            raise _option_error("thresholds", "thresholds must be an object")
        thresholds = {}
        for name, value in given.items():
            if value is None:  # an SDK's unset field: the value in force stays
                continue
            if name not in _THRESHOLDS or isinstance(value, bool) or not isinstance(value, int | float):
                raise _option_error(str(name), f"thresholds.{name}={value!r} is not a Flux threshold")
            pairs.append((name, str(value)))
            thresholds[name] = value
        lists: list[list[str] | None] = []
        for key, option in (("keyterms", "keyterm"), ("language_hints", "language_hint")):
            values = payload.get(key)
            if isinstance(values, str):
                values = [values]
            if values is not None and (
                not isinstance(values, list) or not all(isinstance(v, str) for v in values)
            ):
                raise _option_error(key, f"{key} must be a list of strings")
            pairs.extend((option, v) for v in values or ())
            lists.append(values)
        numerals = payload.get("numerals")
        if numerals is not None and not isinstance(numerals, bool):
            raise _option_error("numerals", f"numerals={numerals!r} must be true or false")
        parse_flux_query(pairs)
        return thresholds, lists[0], lists[1]


# --------------------------------------------------------------------------- the ASGI endpoint


class FluxStream(ListenStream):
    """The ``/v2/listen`` WebSocket endpoint (raw ASGI; see :mod:`dgtools.server.flux` for the protocol).

    Takes :class:`~dgtools.server.stream.ListenStream`'s parameters; ``engine`` and
    ``max_segment`` are not used: Flux streams always get synthetic words, seeded by ``seed``.
    """

    controls: ClassVar[frozenset[str]] = frozenset({"CloseStream", "Configure", "ForceEndTurn"})

    def _parse(self, pairs: list[tuple[str, str]]) -> FluxOptions:
        return parse_flux_options(pairs)

    async def _session(self, receive: Receive, send: Send, options: Any, request_id: str) -> tuple[int, str]:
        """Run one Flux stream; answers the close to send (code 0: the client is gone, send nothing)."""
        st = self.state
        flux = SyntheticFlux(options, request_id=request_id, seed=self.seed)
        clock = AudioClock(encoding=flux.options.encoding, sample_rate=flux.options.sample_rate, channels=1)
        outbox = _Outbox(send, st, st.faults.final_delay)
        transcriber = _FluxTranscriber(flux, clock, outbox.put)
        outbox.put([flux.connected()])
        try:
            code, reason = await self._receive(
                receive, clock, transcriber, outbox, configure=transcriber.configure
            )
            if code not in (0, 1000):
                outbox.put([flux.error(reason)])
            if code and not await outbox.close():  # every message queued goes before the close frame
                return 0, ""
            return code, reason
        finally:
            await outbox.cancel()


class _FluxTranscriber:
    """:class:`SyntheticFlux` behind the calls of :meth:`ListenStream._receive`."""

    failed: BaseException | None = None

    def __init__(
        self, flux: SyntheticFlux, clock: AudioClock, put: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        self.flux, self.clock, self.put = flux, clock, put

    def feed(self, data: bytes) -> None:
        if self.clock.known:
            self.put(self.flux.feed(self.clock.seconds))

    def flush(self, *, from_finalize: bool) -> None:
        if self.clock.known:
            self.put(self.flux.flush(self.clock.seconds))

    def configure(self, payload: dict[str, Any]) -> None:
        self.put([self.flux.configure(payload)])

    async def finish(self, *, sha256: str, duration: float, channels: int) -> None:
        pass  # Flux sends no Metadata

    async def aclose(self) -> None:
        pass
