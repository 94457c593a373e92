"""Transcribe folders concurrently and resumably: :func:`transcribe`, :func:`atranscribe`, :class:`Run`.

- :mod:`dgtools.batch.runner`: the entry points.
- :mod:`dgtools.batch.settings`: :class:`RunSettings`, the run's arguments validated once.
- :mod:`dgtools.batch.plan`: hashing and probing the inputs, and what the store already holds.
- :mod:`dgtools.batch.send`: the send loop over a :class:`~dgtools.batch.send.Sender`.
- :mod:`dgtools.batch.limiter`: :class:`AIMDLimiter`, requests in flight, halved on 429.
- :mod:`dgtools.batch.run`: :class:`Run` and :class:`FileResult`, what happened to each input.
- :mod:`dgtools.batch.callbacks`: ``callback=`` runs: submitted, recorded as pending, answered later.
"""

from .limiter import AIMDLimiter, Slot
from .run import FAILURE_COLUMNS, STATUSES, FileResult, PlanSummary, Run
from .runner import atranscribe, transcribe
from .send import Sender, SendLoop
from .settings import RunSettings, engine_choice, resolve_engine

__all__ = [
    "FAILURE_COLUMNS",
    "STATUSES",
    "AIMDLimiter",
    "FileResult",
    "PlanSummary",
    "Run",
    "RunSettings",
    "SendLoop",
    "Slot",
    "Sender",
    "atranscribe",
    "engine_choice",
    "resolve_engine",
    "transcribe",
]
