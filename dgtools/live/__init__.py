"""Live transcription over WebSocket: stream audio to ``/v1/listen`` and capture every message.

- :mod:`~dgtools.live.stream`: :func:`astream` / :func:`stream` (``dgtools.stream``), one
  stream from an audio file or from raw bytes, each message captured as it arrives into the
  store (JSONL, one line per message, flushed line by line) and returned as a :class:`StreamRun`.
- :mod:`~dgtools.live.errors`: how a refused handshake and Deepgram's close frames (``1008
  DATA-0000``, ``1011 NET-0001``) become :class:`~dgtools.live.errors.StreamClosedError` subclasses with the fix;
  the same for the text-to-speech socket (:func:`~dgtools.live.errors.speak_close_error`), whose ``Warning``
  messages are :class:`~dgtools.live.errors.SpeakWarning` (or :class:`~dgtools.live.errors.SpeakWarningError`).

Importing this package is light: websockets loads when a stream opens.
"""

from __future__ import annotations

from .errors import (
    SpeakWarning,
    SpeakWarningError,
    StreamClosedError,
    StreamDataError,
    StreamTimeoutError,
    close_error,
    speak_close_error,
)
from .stream import StreamRun, astream, stream

__all__ = [
    "SpeakWarning",
    "SpeakWarningError",
    "StreamClosedError",
    "StreamDataError",
    "StreamRun",
    "StreamTimeoutError",
    "astream",
    "close_error",
    "speak_close_error",
    "stream",
]
