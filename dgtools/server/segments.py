"""The offline engines behind WebSocket ``/v1/listen``: the audio cut at pauses, each piece transcribed.

When the local server's engine is an :class:`~dgtools.engines.offline.OfflineEngine`
(``local``: pocketsphinx, ``whisper``: faster-whisper), :class:`~dgtools.server.stream.ListenStream`
answers a live stream with :class:`EngineStream` instead of the synthetic words:

- **Segments.**  :class:`PauseSegmenter` keeps the audio received (raw ``linear16``,
  ``linear32``, ``mulaw``, ``alaw``, or the samples of a WAV container) and runs an energy
  detector over 20 ms frames, with thresholds relative to the stream's own levels (a frame is
  speech when it is :data:`VAD_ABOVE_FLOOR` dB above the quiet frames so far and within
  :data:`VAD_RANGE` dB of the loud ones, as the local engine finds speech in a file).  After some
  speech, a pause of ``max(endpointing, PAUSE_S)`` ends a segment, cut in the middle of the pause;
  with ``endpointing=false`` no pause does.  A segment also ends at :data:`MAX_SEGMENT_S` seconds
  (cut at its quietest frame of the last :data:`QUIET_SEARCH_S` seconds), at ``Finalize`` and at
  ``CloseStream``.  Every channel is cut at the same places (the detector hears their mix).
- **Transcription.**  Each finished segment goes to the engine as a WAV file of its samples (the
  REST route's path: :meth:`~dgtools.engines.offline.OfflineEngine.transcribe`, in the engine's
  worker threads, so the event loop keeps serving), one segment at a time per stream, in order.
  Its answer becomes one final ``Results`` per channel (``multichannel``) with the word times moved
  to stream time; ``speech_final`` is true when the segment ended at a pause, ``from_finalize``
  when ``Finalize`` ended it.  A stream sent as one segment therefore gets the very words the REST
  route gives for the same samples.
- **Interims** (``interim_results=true``): the segment under way is transcribed again, at most
  every :data:`INTERIM_EVERY_S` audio seconds and only while the stream's worker is idle, so
  interims never delay a final (a stream sent faster than the engine decodes gets few or none).
- ``vad_events=true`` sends ``SpeechStarted`` where the detector finds speech after
  :data:`~dgtools.server.live.SPEECH_START_GAP_S` seconds without any; ``utterance_end_ms`` sends
  ``UtteranceEnd`` once that much audio without speech follows the last word of a final.
- **Other audio** (compressed encodings, containers other than WAV) cannot be cut into frames: it
  is kept whole and transcribed at ``Finalize`` and ``CloseStream``, each final holding the words
  that start after the previous one.

Pure Python and numpy; soundfile decodes the frames for the detector.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from ..exceptions import EngineError
from .live import (
    SPEECH_START_GAP_S,
    AudioClock,
    StreamOptions,
    metadata_message,
    results_message,
    wav_container,
)

if TYPE_CHECKING:
    from ..engines.base import Engine

__all__ = [
    "INTERIM_EVERY_S",
    "MAX_SEGMENT_S",
    "PAUSE_S",
    "EngineFailed",
    "EngineStream",
    "PauseSegmenter",
    "Segment",
    "failure_close",
]

logger = logging.getLogger("dgtools.server")

#: The shortest pause (seconds without speech) that ends a segment, whatever ``endpointing`` says.
PAUSE_S: Final = 0.3
#: The longest segment, in audio seconds.
MAX_SEGMENT_S: Final = 15.0
#: A segment cut for length is cut at its quietest frame among its last this many seconds.
QUIET_SEARCH_S: Final = 3.0
#: The detector's frame, in seconds.
VAD_FRAME_S: Final = 0.02
#: A frame is speech this many dB above the stream's quiet frames (their 10th percentile) ...
VAD_ABOVE_FLOOR: Final = 8.0
#: ... and no more than this many dB below its loud frames (their 99th percentile) ...
VAD_RANGE: Final = 45.0
#: ... unless the loud frames are below this level (dBFS): then nothing is speech (silence, hum).
VAD_SILENT: Final = -65.0
#: The quiet frames are taken to be at least this many dB below the loud ones (at a stream's start,
#: before any pause, every frame may be speech).
VAD_MIN_SPREAD: Final = 20.0
#: Speech a segment needs before a pause can end it (seconds).
MIN_SPEECH_S: Final = 0.1
#: Audio seconds a segment grows between two interim transcriptions.
INTERIM_EVERY_S: Final = 1.0

#: Speech the detector hears this soon after the last word's end is still that word.
_WORD_END_MARGIN_S: Final = 0.1
#: Frame energies are counted in bins of 0.5 dB from -120 dB to 0 dB (percentiles in O(bins)).
_BINS: Final = 241


Samples = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of the stream: frames ``[start, end)`` and their bytes; ``at_pause``: it ended at a pause."""

    start: int
    end: int
    audio: bytes
    at_pause: bool


class PauseSegmenter:
    """Cuts a stream of PCM frames into segments at pauses (see the module docstring).

    Parameters
    ----------
    rate
        Frames a second.
    frame_bytes
        Bytes per frame (all channels).
    decode
        Whole frames' bytes to their samples, mixed to one channel (float, full scale 1.0).
    pause
        Seconds without speech that end a segment (None: pauses end none).
    max_length
        The longest segment, in seconds.

    Examples
    --------
    One second of a tone, half a second of silence, a second of tone: two segments, the first
    ending at the pause, the second at the end.

    >>> rate = 8000
    >>> t = np.arange(rate) / rate
    >>> tone = (0.3 * np.sin(2 * np.pi * 300 * t) * 32767).astype("<i2").tobytes()
    >>> gap = bytes(rate)  # 0.5 s of linear16 zeros
    >>> seg = PauseSegmenter(rate=rate, frame_bytes=2, pause=0.3,
    ...                      decode=lambda b: np.frombuffer(b, "<i2").astype(np.float32) / 32768)
    >>> cuts = [s for chunk in (tone, gap, tone) for s in seg.add(chunk)] + [seg.rest()]
    >>> [(s.start / rate, s.end / rate, s.at_pause) for s in cuts]
    [(0.0, 1.15, True), (1.15, 2.5, False)]
    """

    def __init__(
        self,
        *,
        rate: float,
        frame_bytes: int,
        decode: Callable[[bytes], Samples],
        pause: float | None,
        max_length: float = MAX_SEGMENT_S,
    ) -> None:
        self.rate = rate
        self.frame_bytes = frame_bytes
        self._decode = decode
        self._vad = max(1, round(VAD_FRAME_S * rate))  # frames per detector frame
        # in detector frames:
        self._pause = None if pause is None else max(1, math.ceil(pause * rate / self._vad))
        self._max = max(2 * self._vad, round(max_length * rate))  # frames
        self._search = max(1, round(min(QUIET_SEARCH_S, max_length / 3) * rate / self._vad))
        self._min_speech = max(1, round(MIN_SPEECH_S * rate / self._vad))
        self._gap = max(1, round(SPEECH_START_GAP_S * rate / self._vad))
        self._hist = np.zeros(_BINS, dtype=np.int64)
        self._energy: list[float] = []  # per detector frame of the stream
        self._speech: list[bool] = []
        self._partial = b""  # bytes of a frame not yet whole
        self._samples: Samples = np.zeros(0, dtype=np.float32)  # mixed samples not yet a detector frame
        self.total = 0  # whole frames received
        self.start = 0  # the current segment's first frame
        self._audio = bytearray()  # its bytes
        self._seg_speech = 0  # speech detector frames in it
        self._quiet = 0  # detector frames since the last speech frame
        self._ever_spoke = False
        #: Where speech started after a gap (``SpeechStarted``), in seconds, not yet taken.
        self.speech_starts: list[float] = []

    # -- what the stream asks

    def add(self, data: bytes) -> list[Segment]:
        """Take audio bytes; returns the segments they finished (usually none)."""
        data = self._partial + data
        whole = len(data) - len(data) % self.frame_bytes
        self._partial = data[whole:]
        if not whole:
            return []
        self._audio += data[:whole]
        self.total += whole // self.frame_bytes
        mixed = self._decode(data[:whole])
        self._samples = np.concatenate([self._samples, mixed]) if len(self._samples) else mixed
        n = len(self._samples) // self._vad
        if not n:
            return []
        frames = self._samples[: n * self._vad].astype(np.float64).reshape(n, self._vad)
        self._samples = self._samples[n * self._vad :]
        energy = 10.0 * np.log10((frames**2).mean(axis=1) + 1e-12)
        bins = np.clip(np.rint((energy + 120.0) * 2), 0, _BINS - 1).astype(np.intp).tolist()
        out: list[Segment] = []
        for e, b in zip(energy.tolist(), bins, strict=True):
            k = len(self._energy)
            self._hist[b] += (
                1  # thresholds from the frames so far, this one included: chunking changes nothing
            )
            speech = e > self._threshold()
            self._energy.append(e)
            self._speech.append(speech)
            if speech:
                if not self._ever_spoke or self._quiet >= self._gap:
                    self.speech_starts.append(k * self._vad / self.rate)
                self._ever_spoke = True
                self._quiet = 0
                self._seg_speech += 1
            else:
                self._quiet += 1
            end = (k + 1) * self._vad  # the frame after this detector frame
            if (
                self._pause is not None
                and self._seg_speech >= self._min_speech
                and self._quiet >= self._pause
            ):
                out.append(self._cut(end - self._quiet * self._vad // 2, at_pause=True))
            elif end - self.start >= self._max:
                out.append(self._cut(self._quietest(end), at_pause=False))
        return out

    def rest(self) -> Segment | None:
        """End the segment under way at the last whole frame (``Finalize``, ``CloseStream``); None if empty."""
        if self.total <= self.start:
            return None
        return self._cut(self.total, at_pause=False)

    def partial(self) -> Segment:
        """The segment under way, not ended (for an interim)."""
        return Segment(self.start, self.total, bytes(self._audio), False)

    def seconds(self, frame: int) -> float:
        """A frame index in seconds."""
        return frame / self.rate

    def speech_between(self, start: float, end: float) -> bool:
        """Whether any detector frame overlapping ``[start, end)`` seconds was speech."""
        first = max(0, int(start * self.rate) // self._vad)
        last = max(first, math.ceil(end * self.rate / self._vad))
        return any(self._speech[first:last])

    @property
    def has_speech(self) -> bool:
        """Whether the segment under way holds any speech."""
        return self._seg_speech > 0

    # -- inside

    def _threshold(self) -> float:
        """The level (dB) above which a frame is speech, from every frame so far."""
        cum = np.cumsum(self._hist)
        n = int(cum[-1])
        floor, loud = (float(np.searchsorted(cum, q * n)) / 2 - 120.0 for q in (0.10, 0.99))
        if loud < VAD_SILENT:
            return math.inf
        floor = min(floor, loud - VAD_MIN_SPREAD)  # a stream that has been all speech so far
        return max(floor + VAD_ABOVE_FLOOR, loud - VAD_RANGE)

    def _quietest(self, end: int) -> int:
        """Where to cut a segment that reached its longest at ``end``: its quietest detector frame's start."""
        last = end // self._vad
        first = max(last - self._search, -(-self.start // self._vad) + 1)
        window = self._energy[first:last]
        if not window:
            return end
        return (first + int(np.argmin(window))) * self._vad

    def _cut(self, at: int, *, at_pause: bool) -> Segment:
        at = max(self.start + 1, min(at, self.total))
        n = (at - self.start) * self.frame_bytes
        segment = Segment(self.start, at, bytes(self._audio[:n]), at_pause)
        del self._audio[:n]
        self.start = at
        # the speech carried into the new segment: none after a pause, maybe some after a cut for length
        self._seg_speech = 0 if at_pause else sum(self._speech[-(-at // self._vad) :])
        return segment


# --------------------------------------------------------------------------- the stream


@dataclass(frozen=True, slots=True)
class _Job:
    """A transcription for the worker: ``audio`` is a whole file; times in stream seconds."""

    audio: bytes
    start: float
    end: float
    final: bool
    speech_final: bool = False
    from_finalize: bool = False
    offset: float = 0.0  # added to the engine's word times
    after: float | None = None  # keep only words starting here or later (audio kept whole)


class EngineFailed(Exception):
    """The engine failed on a segment (the stream closes, see :func:`failure_close`)."""


def failure_close(exc: BaseException) -> tuple[int, str]:
    """The close frame for an engine's failure: ``1008 DATA-0000`` when it could not decode the audio
    (its 400), else ``1011 NET-0000`` (a failure of the server's own).

    Examples
    --------
    >>> failure_close(EngineError(400, "Bad Request", "corrupt")), failure_close(RuntimeError("boom"))
    ((1008, 'DATA-0000'), (1011, 'NET-0000'))
    """
    if isinstance(exc, EngineError) and exc.status_code == 400:
        return 1008, "DATA-0000"
    return 1011, "NET-0000"


class EngineStream:
    """A live stream answered by an offline engine (see the module docstring).

    Create it when the stream opens; :meth:`feed` it every binary frame (after the
    :class:`~dgtools.server.live.AudioClock`, made with ``keep_audio=True``, has counted it),
    :meth:`flush` at ``Finalize`` and ``CloseStream``, then await :meth:`finish`, which waits for
    every segment's final and queues the ``Metadata``.  Messages go to ``put`` in order; a
    failure of the engine is kept in :attr:`failed` (and raised by :meth:`finish`).

    Parameters
    ----------
    engine
        An engine with the server's ``transcribe`` coroutine (an offline one).
    options
        The stream's validated query.
    clock
        The stream's audio clock (``keep_audio=True``).
    request_id
        The stream's ``dg-request-id``.
    put
        Where messages go (the stream's outbox).
    max_segment
        The longest segment, in seconds.
    """

    def __init__(
        self,
        engine: Engine,
        options: StreamOptions,
        clock: AudioClock,
        request_id: str,
        put: Callable[[list[dict[str, Any]]], None],
        *,
        max_segment: float = MAX_SEGMENT_S,
    ) -> None:
        self.engine = engine
        self.options = options
        self.clock = clock
        self.request_id = request_id
        self._put = put
        self._max_segment = max_segment
        self._segmenter: PauseSegmenter | None = None
        self._whole: bytearray | None = None  # audio kept whole (None: cut into segments)
        self._raw = bytearray()  # bytes before the format is known
        self._final_until = 0.0  # stream seconds finalized (audio kept whole)
        self._interim_at = 0  # the segment frame count at the last interim
        self._jobs: deque[_Job | None] = deque()
        self._wake = asyncio.Event()
        self._busy = False
        self._worker = asyncio.create_task(self._work())
        self._model: tuple[str, dict[str, str]] | None = None
        self._last_word_end: float | None = None
        self._utterance_ended = True
        self.failed: BaseException | None = None
        from ..options import ListenOptions

        listen = dict(options.listen.items())
        self._whole_options = options.listen
        for name in ("encoding", "sample_rate", "channels"):  # segments go as WAV files, which say so
            listen.pop(name, None)
        self._segment_options = ListenOptions(listen)

    # -- the session's calls

    def feed(self, data: bytes) -> None:
        """Take a binary frame (already counted by the clock)."""
        clock = self.clock
        if not clock.known:
            self._raw += data
            clock.take_audio()
            return
        if self._segmenter is None and self._whole is None:
            self._start()
        if self._whole is not None:
            self._whole += data
            clock.take_audio()
            return
        seg = self._segmenter
        assert seg is not None
        for segment in seg.add(clock.take_audio()):
            self._queue_segment(segment, from_finalize=False)
        if self.options.vad_events and seg.speech_starts:
            self._put(
                [
                    {"type": "SpeechStarted", "channel": [c, self._n], "timestamp": round(t, 6)}
                    for t in seg.speech_starts
                    for c in range(self._n)
                ]
            )
            seg.speech_starts.clear()
        if (
            self.options.interim_results
            and not self._busy
            and not self._jobs
            and seg.has_speech
            and seg.total - max(seg.start, self._interim_at) >= INTERIM_EVERY_S * seg.rate
        ):
            self._interim_at = seg.total
            part = seg.partial()
            self._queue(self._job(part, final=False))
        self._utterance_end()

    def flush(self, *, from_finalize: bool) -> None:
        """``Finalize`` (``from_finalize=True``) or ``CloseStream``: the audio not yet final becomes a final."""
        if not self.clock.known:
            return
        if self._segmenter is None and self._whole is None:
            self._start()
        if self._whole is not None:
            end = self.clock.seconds
            if end > self._final_until:
                self._queue(
                    _Job(
                        bytes(self._whole),
                        self._final_until,
                        end,
                        True,
                        from_finalize=from_finalize,
                        after=self._final_until,
                    )
                )
                self._final_until = end
            return
        assert self._segmenter is not None
        segment = self._segmenter.rest()
        if segment is not None:
            self._queue_segment(segment, from_finalize=from_finalize)

    async def finish(self, *, sha256: str, duration: float, channels: int) -> None:
        """Wait for every final, then queue ``Metadata``.

        Raises
        ------
        EngineFailed
            The engine failed on a segment.
        """
        self._jobs.append(None)
        self._wake.set()
        await asyncio.wait({self._worker})
        if self.failed is not None:
            raise EngineFailed(str(self.failed)) from self.failed
        model = self._model if channels else None  # None when no segment was transcribed
        self._put(
            [
                metadata_message(
                    request_id=self.request_id,
                    sha256=sha256,
                    duration=duration,
                    channels=channels,
                    model=model,
                )
            ]
        )

    async def aclose(self) -> None:
        """Stop the worker (a segment being transcribed finishes in its thread, unheard)."""
        if not self._worker.done():
            self._worker.cancel()
            await asyncio.wait({self._worker})

    # -- inside

    @property
    def _n(self) -> int:
        return self.clock.channels if self.options.flag("multichannel") else 1

    def _start(self) -> None:
        clock = self.clock
        if clock.fmt is None:
            self._whole = self._raw
            return
        self._raw = bytearray()
        fmt, channels = clock.fmt, clock.channels

        def decode(data: bytes) -> Samples:
            import soundfile as sf

            x, _ = sf.read(io.BytesIO(wav_container(fmt, data)), dtype="float32", always_2d=True)
            mixed: Samples = x.mean(axis=1, dtype=np.float32) if channels > 1 else x[:, 0]
            return mixed

        endpointing = self.options.endpointing
        pause = None if endpointing is None else max(endpointing / 1000, PAUSE_S)
        self._segmenter = PauseSegmenter(
            rate=clock.rate,
            frame_bytes=clock.frame_bytes,
            decode=decode,
            pause=pause,
            max_length=self._max_segment,
        )

    def _job(self, segment: Segment, *, final: bool, from_finalize: bool = False) -> _Job:
        assert self._segmenter is not None and self.clock.fmt is not None
        start, end = self._segmenter.seconds(segment.start), self._segmenter.seconds(segment.end)
        return _Job(
            wav_container(self.clock.fmt, segment.audio),
            start,
            end,
            final,
            speech_final=final and segment.at_pause,
            from_finalize=from_finalize,
            offset=start,
        )

    def _queue_segment(self, segment: Segment, *, from_finalize: bool) -> None:
        # an interim not yet started is of no use once its segment is final
        while self._jobs and self._jobs[-1] is not None and not self._jobs[-1].final:
            self._jobs.pop()
        self._queue(self._job(segment, final=True, from_finalize=from_finalize))
        self._interim_at = 0

    def _queue(self, job: _Job) -> None:
        self._jobs.append(job)
        self._wake.set()

    async def _work(self) -> None:
        while True:
            while not self._jobs:
                self._wake.clear()
                await self._wake.wait()
            job = self._jobs.popleft()
            if job is None:
                return
            self._busy = True
            try:
                options = self._segment_options if job.after is None else self._whole_options
                response = await self.engine.transcribe(
                    audio=job.audio, url=None, options=options, request_id=self.request_id, sha256=None
                )
                messages = self._results(job, response)
            except EngineError as exc:  # e.g. audio kept whole that the engine cannot decode
                logger.warning("engine %r refused stream %s: %s", self.engine, self.request_id, exc)
                self.failed = exc
                return
            except Exception as exc:
                logger.exception("engine %r failed on stream %s", self.engine, self.request_id)
                self.failed = exc
                return
            finally:
                self._busy = False
            self._put(messages)
            self._utterance_end()

    def _results(self, job: _Job, response: dict[str, Any]) -> list[dict[str, Any]]:
        meta = response.get("metadata") or {}
        models = meta.get("models") or [""]
        self._model = model = (str(models[0]), dict((meta.get("model_info") or {}).get(models[0], {})))
        channels = response["results"]["channels"]
        n = len(channels) if self.options.flag("multichannel") else 1
        out = []
        words: list[dict[str, Any]] = []
        for c, channel in enumerate(channels[:n]):
            alternatives = [self._shift(alt, job) for alt in channel.get("alternatives") or []]
            out.append(
                results_message(
                    channel_index=[c, n],
                    start=job.start,
                    end=job.end,
                    alternatives=alternatives,
                    is_final=job.final,
                    speech_final=job.speech_final,
                    from_finalize=job.from_finalize,
                    request_id=self.request_id,
                    model=model,
                )
            )
            words += alternatives[0]["words"] if alternatives else []
        if job.final and words:
            ms = self.options.utterance_end_ms
            first = min(w["start"] for w in words)
            if (  # the gap before these words ends the utterance before them
                ms is not None
                and not self._utterance_ended
                and self._last_word_end is not None
                and first - self._last_word_end >= ms / 1000
            ):
                out[:0] = self._utterance_end_messages()
            self._last_word_end = max(self._last_word_end or 0.0, max(w["end"] for w in words))
            self._utterance_ended = False
        return out

    def _shift(self, alternative: dict[str, Any], job: _Job) -> dict[str, Any]:
        """The alternative's transcript, confidence and words, word times moved to stream time."""
        words = []
        for w in alternative.get("words") or []:
            if job.after is not None and w["start"] < job.after - 1e-6:
                continue
            words.append(
                {**w, "start": round(w["start"] + job.offset, 6), "end": round(w["end"] + job.offset, 6)}
            )
        if job.after is None:
            transcript = alternative.get("transcript", "")
        else:
            transcript = " ".join(str(w.get("punctuated_word") or w["word"]) for w in words)
        return {"transcript": transcript, "confidence": alternative.get("confidence", 0.0), "words": words}

    def _utterance_end(self) -> None:
        ms = self.options.utterance_end_ms
        seg = self._segmenter
        if ms is None or seg is None or self._utterance_ended or self._last_word_end is None:
            return
        quiet_until = self._last_word_end + ms / 1000
        if seg.seconds(seg.total) < quiet_until:
            return
        if seg.speech_between(self._last_word_end + _WORD_END_MARGIN_S, quiet_until):  # more words came
            return
        self._put(self._utterance_end_messages())

    def _utterance_end_messages(self) -> list[dict[str, Any]]:
        """``UtteranceEnd`` after the last word so far (one per channel); marks the utterance ended."""
        assert self._last_word_end is not None
        self._utterance_ended = True
        last = round(self._last_word_end, 6)
        return [
            {"channel": [c, self._n], "last_word_end": last, "type": "UtteranceEnd"} for c in range(self._n)
        ]
