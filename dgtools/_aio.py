"""Async-first APIs with sync twins that also work inside a running event loop (a Jupyter cell).

``dgtools.atranscribe`` is the implementation; ``dgtools.transcribe`` is its twin made by
:func:`sync_twin`: it runs the coroutine with :func:`asyncio.run` when no loop runs in this
thread, and on a worker thread with its own loop when one does (Jupyter), so the same call works in
a script and in a notebook.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["run_sync", "sync_twin"]

P = ParamSpec("P")
R = TypeVar("R")


def run_sync(coro: Coroutine[Any, Any, R]) -> R:
    """Run ``coro`` to completion from synchronous code, inside a running event loop or not.

    Examples
    --------
    >>> async def answer() -> int:
    ...     return 42
    >>> run_sync(answer())
    42
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Inside a running loop (Jupyter): run on a worker thread with its own loop.
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=work, name="dgtools-sync", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    value: R = box["value"]
    return value


def sync_twin(afn: Callable[P, Coroutine[Any, Any, R]], *, name: str, doc: str) -> Callable[P, R]:
    """The synchronous twin of the coroutine function ``afn``: same parameters, runs with :func:`run_sync`.

    Examples
    --------
    >>> async def aadd(a: int, b: int = 1) -> int:
    ...     return a + b
    >>> add = sync_twin(aadd, name="add", doc="Add two numbers.")
    >>> add(2, b=3), add.__name__
    (5, 'add')
    """

    @functools.wraps(afn)
    def twin(*args: P.args, **kwargs: P.kwargs) -> R:
        return run_sync(afn(*args, **kwargs))

    twin.__name__ = name
    twin.__qualname__ = name
    twin.__doc__ = doc
    return twin
