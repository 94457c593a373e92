"""The local engine: pocketsphinx answers ``/v1/listen`` requests offline, in Deepgram's shape.

- :mod:`~dgtools.engines.local.engine`: :class:`LocalEngine` (one request; the server's engine) and :func:`model_info`.
- :mod:`~dgtools.engines.local.pool`: :class:`~dgtools.engines.local.pool.DecodePool`, the worker
  processes (one decoder each), and :func:`decode_many` over them.
- :mod:`~dgtools.engines.local.sender`: :class:`LocalSender`, the same pool behind the interface a
  batch sends through (``dgtools.transcribe(..., engine="local")``).
- :mod:`~dgtools.engines.local.request` (what the options ask for, and the warnings for what the
  engine cannot do), :mod:`~dgtools.engines.local.sphinx` (pocketsphinx decoding of one channel) and
  :mod:`~dgtools.engines.local.response` (decoded words to Deepgram's ``results``).

Audio is decoded by :mod:`dgtools.engines.pcm`.  Importing this package is light: pocketsphinx,
soundfile and librosa load when audio is first decoded.
"""

from __future__ import annotations

from ...exceptions import AudioDecodeError
from .engine import MODEL_NAME, LocalEngine, model_info
from .pool import Decoded, decode_many
from .sender import LocalSender

__all__ = [
    "AudioDecodeError",
    "Decoded",
    "LocalEngine",
    "LocalSender",
    "MODEL_NAME",
    "decode_many",
    "model_info",
]
