"""A local Deepgram-compatible server: ``POST /v1/listen`` on 127.0.0.1, for tests and offline use.

It answers like Deepgram's pre-recorded API (auth, error shapes,
``dg-request-id``), from an engine, with optional injected faults::

    from dgtools.server import Faults, LocalServer, ReplayEngine

    with LocalServer(engine=ReplayEngine("responses/"), faults=Faults(rate_429=0.1, seed=1)) as server:
        ...  # point a Deepgram client at server.url
        server.stats()  # {"requests": ..., "by_status": {"200": ..., "429": ...}, ...}

Engines (:mod:`dgtools.engines.base`): :class:`SyntheticEngine`
(deterministic transcripts of the audio's length) and :class:`ReplayEngine`
(recorded responses matched by the audio's sha256).  Test-only routes
``GET /_dgtools/stats`` and ``POST /_dgtools/reset`` are described in
:mod:`dgtools.server.app`.

Importing this package is light: starlette loads with :func:`create_app`,
uvicorn when a server starts.
"""

from __future__ import annotations

import importlib
import typing as _typing

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
    from ..engines.base import Engine, EngineError, ReplayEngine, SyntheticEngine, make_engine
    from .app import create_app
    from .faults import Faults
    from .testing import LocalServer, run

_LAZY = {
    "Engine": "..engines.base",
    "EngineError": "..engines.base",
    "Faults": ".faults",
    "LocalServer": ".testing",
    "ReplayEngine": "..engines.base",
    "SyntheticEngine": "..engines.base",
    "create_app": ".app",
    "make_engine": "..engines.base",
    "run": ".testing",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dgtools.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
