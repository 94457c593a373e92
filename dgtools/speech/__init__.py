"""Text to speech: Deepgram's Aura voices in batches, resumably, and the pieces they are made of.

- :mod:`dgtools.speech.runner`: :func:`speak` and :func:`aspeak`, texts to one audio file each (named
  so that the module never shadows the function :func:`speak` on the package).
- :mod:`dgtools.speech.split`: :func:`split_text`, long texts cut at sentence, clause, word boundaries.
- :mod:`dgtools.speech.plan`: the texts, their ids and chunks, what the store already holds.
- :mod:`dgtools.speech.send`: the send loop: bounded concurrency, retries, a 402 stops it, answers stored.
- :mod:`dgtools.speech.client`: :class:`SpeakClient`, one ``POST /v1/speak`` request.
- :mod:`dgtools.speech.store`: :class:`SpeechStore`, the audio of every chunk, content-addressed.
- :mod:`dgtools.speech.join`: joining chunks into one file (gapless WAV, MP3 frames); durations.
- :mod:`dgtools.speech.run`: :class:`SpeechRun`, what happened to each text and chunk, as tables.
- :mod:`dgtools.speech.stream`: :func:`speak_stream`, the WebSocket ``/v1/speak``.
- :mod:`dgtools.speech.testset`: :func:`synthesize_test_set`, speech with known transcripts.

Importing this package is light: httpx, pandas and the server load when they are used.
"""

from __future__ import annotations

import typing as _typing

from .._lazy import lazy_exports as _lazy_exports

__all__ = [
    "ChunkResult",
    "SpeakClient",
    "SpeakStream",
    "SpeakStreamRun",
    "SpeechPlan",
    "SpeechRun",
    "SpeechStore",
    "SpeechTables",
    "SpeechTestSet",
    "TextResult",
    "aspeak",
    "aspeak_stream",
    "asynthesize_test_set",
    "speak",
    "speak_stream",
    "speech_engine",
    "split_text",
    "synthesize_test_set",
]

if _typing.TYPE_CHECKING:
    from .client import SpeakClient
    from .run import ChunkResult, SpeechPlan, SpeechRun, SpeechTables, TextResult
    from .runner import aspeak, speak, speech_engine
    from .split import split_text
    from .store import SpeechStore
    from .stream import SpeakStream, SpeakStreamRun, aspeak_stream, speak_stream
    from .testset import SpeechTestSet, asynthesize_test_set, synthesize_test_set

_LAZY = {
    "ChunkResult": ".run",
    "SpeakClient": ".client",
    "SpeakStream": ".stream",
    "SpeakStreamRun": ".stream",
    "SpeechPlan": ".run",
    "SpeechRun": ".run",
    "SpeechStore": ".store",
    "SpeechTables": ".run",
    "SpeechTestSet": ".testset",
    "TextResult": ".run",
    "aspeak": ".runner",
    "aspeak_stream": ".stream",
    "asynthesize_test_set": ".testset",
    "speak": ".runner",
    "speak_stream": ".stream",
    "speech_engine": ".runner",
    "split_text": ".split",
    "synthesize_test_set": ".testset",
}

__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)
