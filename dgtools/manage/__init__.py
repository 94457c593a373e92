"""Deepgram's Manage API: projects, API keys, temporary tokens, the request log with billed costs, usage, balances.

- :mod:`dgtools.manage.client`: :class:`Manage` and one function per call (:func:`projects`,
  :func:`keys`, :func:`create_key`, :func:`delete_key`, :func:`grant_token`, :func:`requests`,
  :func:`usage`, :func:`balances`); :class:`CreatedKey` and :class:`TemporaryToken` hold their
  secret out of every repr, pickle and log.
- :mod:`dgtools.manage.aclient`: :class:`AsyncManage`, the same calls as coroutines for async code
  (``await m.grant_token(60)`` in a web backend), over one ``httpx.AsyncClient``.
- :mod:`dgtools.manage.frames`: the answers as typed, Arrow-backed DataFrames (money as decimals).

``dgtools serve`` answers the Manage API too (:mod:`dgtools.server.manage`): keys created there
authenticate its ``/v1/listen``, and its request log prices every answer from :mod:`dgtools.pricing`.

Examples
--------
>>> import dgtools.manage as dgm
>>> with dgm.Manage() as m:                                # doctest: +SKIP
...     m.requests(start="2026-01-01")[["request_id", "duration", "usd"]]
"""

from .aclient import AsyncManage
from .client import (
    CreatedKey,
    Manage,
    TemporaryToken,
    balances,
    create_key,
    delete_key,
    grant_token,
    keys,
    projects,
    requests,
    usage,
)

__all__ = [
    "AsyncManage",
    "CreatedKey",
    "Manage",
    "TemporaryToken",
    "balances",
    "create_key",
    "delete_key",
    "grant_token",
    "keys",
    "projects",
    "requests",
    "usage",
]
