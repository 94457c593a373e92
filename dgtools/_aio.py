"""Async-first APIs with sync twins that also work inside a running event loop (a Jupyter cell).

``dgtools.atranscribe`` is the implementation; ``dgtools.transcribe`` is its twin made by
:func:`sync_twin`: it runs the coroutine with :func:`asyncio.run` when no loop runs in this
thread, and on a worker thread with its own loop when one does (Jupyter), so the same call works in
a script and in a notebook.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["run_sync", "sync_twin"]

P = ParamSpec("P")
R = TypeVar("R")


def run_sync(coro: Coroutine[Any, Any, R]) -> R:
    """Run ``coro`` to completion from synchronous code, inside a running event loop or not.

    Without a running loop this is :func:`asyncio.run`.  Inside one (a Jupyter cell) the coroutine
    runs on a worker thread with its own loop, and an interrupt of the caller (Ctrl-C, the
    notebook's stop button: a ``KeyboardInterrupt`` in this thread) cancels it there and waits for
    it to wind down (a transcription stops dispatching and keeps what is stored) before the
    ``KeyboardInterrupt`` goes on: nothing keeps running, or spending, behind the caller's back.

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
        return asyncio.run(coro)  # Ctrl-C cancels the main task and waits for it, as asyncio.run does
    worker = _Worker(coro)
    worker.start()
    try:
        # Short waits on an Event, not Thread.join: a KeyboardInterrupt reaches this thread within
        # 0.1 s, and a join interrupted by one marks the thread stopped while it still runs (CPython
        # 3.11's _wait_for_tstate_lock), so a second join would not wait.
        while not worker.done.wait(0.1):
            pass
    except KeyboardInterrupt:
        worker.cancel()
        worker.done.wait()
        raise
    value: R = worker.result()
    return value


class _Worker(threading.Thread):
    """Runs one coroutine on a new event loop in its own thread; can cancel it from another thread."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        super().__init__(name="dgtools-sync", daemon=True)
        self._coro = coro
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._ready = threading.Event()
        self.done = threading.Event()  # set once the loop is closed: nothing of the run is left running
        self._value: Any = None
        self._error: BaseException | None = None

    def run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            self._loop = loop
            self._task = loop.create_task(self._coro)
            self._ready.set()
            self._value = loop.run_until_complete(self._task)
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc
        finally:
            self._ready.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()
                self.done.set()

    def cancel(self) -> None:
        """Cancel the coroutine (from any thread); it winds down on its own loop."""
        self._ready.wait()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing left to cancel
                loop.call_soon_threadsafe(task.cancel)

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


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
        coro = afn(*args, **kwargs)
        del (
            args,
            kwargs,
        )  # e.g. an api_key: this frame lives as long as the run, and tracebacks show its locals
        return run_sync(coro)

    twin.__name__ = name
    twin.__qualname__ = name
    twin.__doc__ = doc
    return twin
