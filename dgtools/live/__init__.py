"""Live transcription over WebSocket: stream audio to ``/v1/listen`` and capture every message.

- :mod:`~dgtools.live.stream`: :func:`astream` / :func:`stream` (``dgtools.stream``), one
  stream from an audio file or from raw bytes, each message captured as it arrives into the
  store (JSONL, one line per message, flushed line by line) and returned as a :class:`StreamRun`.
- :mod:`~dgtools.live.errors`: how a refused handshake and Deepgram's close frames (``1008
  DATA-0000``, ``1011 NET-0001``) become :class:`~dgtools.live.errors.StreamClosedError` subclasses with the fix.

Importing this package is light: websockets loads when a stream opens.
"""

from __future__ import annotations

from .errors import StreamClosedError, StreamDataError, StreamTimeoutError, close_error
from .stream import StreamRun, astream, stream

__all__ = [
    "StreamClosedError",
    "StreamDataError",
    "StreamRun",
    "StreamTimeoutError",
    "astream",
    "close_error",
    "stream",
]
