"""A local Deepgram-compatible server on 127.0.0.1: ``/v1/listen`` (REST, WebSocket), Flux's ``/v2/listen``,
Aura text-to-speech's ``/v1/speak`` (REST, WebSocket).

For tests and offline use.  It answers like Deepgram's pre-recorded API (auth, error shapes,
``dg-request-id``), from an engine, with optional injected faults; like its live API on the
WebSocket ``/v1/listen`` (interim and final ``Results`` from synthetic words or an offline
engine's, ``Metadata``, close codes); and like Flux on the WebSocket ``/v2/listen``
(``Connected``, ``TurnInfo`` turns with ``EagerEndOfTurn``/``TurnResumed``/``EndOfTurn``,
``Configure``, from synthetic words); and like Aura text-to-speech on ``/v1/speak`` (audio in
Deepgram's formats and headers, ``Speak``/``Flush``/``Clear``/``Close`` on its WebSocket) with the
espeak-ng program's robot voice::

    from dgtools.server import Faults, LocalServer, ReplayEngine

    with LocalServer(engine=ReplayEngine("responses/"), faults=Faults(rate_429=0.1, seed=1)) as server:
        ...  # point a Deepgram client at server.url
        server.stats()  # {"requests": ..., "by_status": {"200": ..., "429": ...}, ...}

- :mod:`dgtools.server.app`: :func:`create_app`, the ASGI app, and its test-only
  routes ``GET /_dgtools/stats`` and ``POST /_dgtools/reset``.
- :mod:`dgtools.server.callbacks`: ``/v1/listen?callback=URL``, answered with a request_id at once and
  delivered to the URL later, with retries (Deepgram's callbacks).
- :mod:`dgtools.server.stream`: the WebSocket ``/v1/listen`` (:class:`~dgtools.server.stream.ListenStream`)
  and its synthetic transcriber; its auth also takes ``?token=`` and ``Sec-WebSocket-Protocol``.
- :mod:`dgtools.server.flux`: the WebSocket ``/v2/listen`` (Flux: :class:`~dgtools.server.flux.FluxStream`)
  and its synthetic turns.
- :mod:`dgtools.server.speak`: ``POST /v1/speak`` and the WebSocket ``/v1/speak``
  (:class:`~dgtools.server.speak.SpeakRoute`, :class:`~dgtools.server.speak.SpeakStream`), spoken by
  :mod:`dgtools.engines.voice`.
- :mod:`dgtools.server.segments`: streams transcribed by an offline engine (``local``, ``whisper``),
  the audio cut into segments at pauses.
- :mod:`dgtools.server.faults`: :class:`Faults`, what to inject (latency, 429, 5xx, drops, 402,
  a ``max_concurrent`` limit, dropped streams, held-back finals).
- :mod:`dgtools.server.protocol`: uvicorn's HTTP/1.1 protocol with a header-read timeout.
- :mod:`dgtools.server.testing`: :class:`LocalServer` (a background thread) and :func:`run`
  (the foreground server of ``dgtools serve``).

Credentials and the body size are checked from the headers, before any of
the body is read (401, 413 at once); with keys, ``/_dgtools/`` needs one too;
:func:`run` refuses an address beyond loopback without credentials.

Engines live in :mod:`dgtools.engines` and are built by name
(:func:`make_engine`: ``"synthetic"``, ``"replay"``, ``"local"``);
:class:`SyntheticEngine` and :class:`ReplayEngine` are re-exported here.

The server needs the ``serve`` extra (starlette, uvicorn): ``pip install
'dgtools[serve]'``; without it :func:`create_app`, :class:`LocalServer` and
:func:`run` raise :class:`~dgtools.MissingDependencyError` saying so.
Importing this package is light: starlette loads with :func:`create_app`,
uvicorn when a server starts.
"""

from __future__ import annotations

import typing as _typing

from .._lazy import lazy_exports as _lazy_exports

__all__ = [
    "Engine",
    "EngineError",
    "Faults",
    "LocalServer",
    "ReplayEngine",
    "SyntheticEngine",
    "create_app",
    "make_engine",
    "run",
]

if _typing.TYPE_CHECKING:
    from ..engines.base import Engine, make_engine
    from ..engines.replay import ReplayEngine
    from ..engines.synthetic import SyntheticEngine
    from ..exceptions import EngineError
    from .app import create_app
    from .faults import Faults
    from .testing import LocalServer, run

_LAZY = {
    "Engine": "..engines.base",
    "EngineError": "..exceptions",
    "Faults": ".faults",
    "LocalServer": ".testing",
    "ReplayEngine": "..engines.replay",
    "SyntheticEngine": "..engines.synthetic",
    "create_app": ".app",
    "make_engine": "..engines.base",
    "run": ".testing",
}

__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)
