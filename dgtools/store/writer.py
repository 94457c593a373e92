"""A batch's store writer: one background thread makes answers durable and indexed, many per sync.

:class:`StoreWriter` is what a batch hands each answer to (``await writer.put(key, body, entry)``);
it returns once the answer is durable in the store and its index line is written, so a file only
counts as transcribed when a kill can no longer lose it.  Answers that arrive together share their
syncs (group commit, :meth:`Store.write_many <dgtools.store.Store.write_many>`).  A
:class:`~dgtools.store.RemoteStore` works the same way: its ``write_many`` sends the batch's
conditional PUTs concurrently and ``record_many`` writes one index object for the batch; answers
for it are bytes (a remote store has no spool files), and the outcome is the answer's URL.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .remote import RemoteStore
from .store import Store

__all__ = ["Check", "IndexWriteError", "StoreWriter"]

#: A check run in the writer thread on an answer (its bytes, or its spooled file) before it is written.
Check = Callable[[bytes | Path], object]


class IndexWriteError(OSError):
    """A response was stored but its index line could not be written.

    An ``OSError`` whose ``errno`` is the failed append's (``ENOSPC`` on a full disk,
    ``EROFS``, ...), or None when the entry itself was refused (it held a secret, or a field of
    the wrong type: see ``__cause__``).
    """


def _index_error(exc: Exception) -> IndexWriteError:
    if isinstance(exc, OSError) and exc.errno is not None:
        err = IndexWriteError(exc.errno, f"{exc.strerror or exc} (the response is stored)")
    else:
        err = IndexWriteError(str(exc))
    err.__cause__ = exc
    return err


def _size(body: bytes | Path) -> int:
    if isinstance(body, Path):
        try:
            return body.stat().st_size
        except OSError:  # write_many reports it
            return 0
    return len(body)


def _bytes(body: bytes | Path) -> bytes:
    """An answer's bytes (a spooled one read whole: only a local store spools)."""
    return body.read_bytes() if isinstance(body, Path) else body


class _Pending:
    """One response handed to a :class:`StoreWriter`, and the future its worker awaits."""

    __slots__ = ("body", "check", "entry", "future", "key", "size")

    def __init__(
        self,
        key: str,
        body: bytes | Path,
        entry: dict[str, Any],
        future: asyncio.Future[Path | str],
        check: Check | None = None,
    ) -> None:
        self.key, self.body, self.entry, self.future, self.check = key, body, entry, future, check
        self.size = _size(body)


class StoreWriter:
    """Writes responses to the store from one background thread, many per sync (group commit).

    A worker hands a response over with ``await writer.put(key, body, entry)``,
    which returns once the response is durable and indexed, and raises what
    kept it out of the store otherwise.  The thread takes everything queued (up
    to ``batch_items`` responses or ``batch_bytes`` bytes), stores it with one
    :meth:`Store.write_many`, indexes what was stored with one
    :meth:`Store.record_many`, and resolves the batch's futures with one
    ``call_soon_threadsafe``.  The batches grow by themselves with the load:
    whatever arrives during one batch's syncs goes in the next.

    The queue is bounded: ``put`` waits while ``max_items`` responses or
    ``max_bytes`` bytes wait to be written (a single larger response goes in
    when the queue is empty).  A response handed over is never lost:
    :meth:`aclose` returns only once everything put has been written, even
    when its caller is cancelled meanwhile, and a worker cancelled while it
    waits for room still hands its response over.

    Examples
    --------
    >>> import asyncio, tempfile
    >>> async def main():
    ...     store = Store(tempfile.mkdtemp())
    ...     key = Store.key("ab" * 32, "0123456789abcdef")
    ...     writer = StoreWriter(store)
    ...     path = await writer.put(key, b'{"results": {}}', {"key": key, "file_id": "a.wav"})
    ...     await writer.aclose()
    ...     return path == store.path(key), [e["file_id"] for e in store.entries()], writer.queued
    >>> asyncio.run(main())
    (True, ['a.wav'], 0)
    """

    def __init__(
        self,
        st: Store | RemoteStore,
        *,
        batch_items: int = 64,
        batch_bytes: int = 64 << 20,
        max_items: int = 256,
        max_bytes: int = 256 << 20,
    ) -> None:
        self._st = st
        self._loop = asyncio.get_running_loop()
        self._batch_items, self._batch_bytes = batch_items, batch_bytes
        self._max_items, self._max_bytes = max_items, max_bytes
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._queued_items = 0  # these three: on the event loop's thread only
        self._queued_bytes = 0
        self._room: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False
        self._drained: asyncio.Future[None] = self._loop.create_future()
        # Not a daemon: should the loop go away without aclose(), the interpreter still waits for
        # the queued responses to be written (the thread stops once the loop is closed and it is idle).
        self._thread = threading.Thread(target=self._main, name="dgtools-store-writer")
        self._thread.start()

    @property
    def queued(self) -> int:
        """Responses handed over and not yet written (read it on the event loop's thread)."""
        return self._queued_items

    @property
    def waiting(self) -> int:
        """Calls of :meth:`put` waiting for room in the queue."""
        return sum(1 for room in self._room if not room.done())

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called (it may still be draining)."""
        return self._closed

    async def put(
        self, key: str, body: bytes | Path, entry: dict[str, Any], *, check: Check | None = None
    ) -> Path | str:
        """Hand a response over; returns its path (a URL in a remote store) once it is durable and indexed.

        ``body`` is the response's bytes, or the :class:`~pathlib.Path` of a
        complete file made with :meth:`Store.spool_path
        <dgtools.store.Store.spool_path>` (a streamed answer), which is moved
        into place (and removed if it cannot be).

        ``check(body)``, when given, runs in the writer thread before anything
        is written (e.g. decoding the answer to see that it is whole, off the
        event loop); whatever it raises is raised here, and nothing is stored
        (a spooled file is removed).

        Raises what kept it out of the store (``ConfigError``: it holds the
        API key; ``OSError`` with its ``errno``: ``ENOSPC`` disk full,
        ``EDQUOT``, ``EROFS``, ``EIO``, permissions) or out of the index
        (``IndexWriteError``, an ``OSError`` too: the response itself is stored).
        """
        if self._closed:
            raise RuntimeError("this store writer is closed")
        size = _size(body)
        try:
            while self._queued_items and (
                self._queued_items >= self._max_items or self._queued_bytes + size > self._max_bytes
            ):
                room: asyncio.Future[None] = self._loop.create_future()
                self._room.append(room)
                try:
                    await room
                finally:
                    if not room.done() or room.cancelled():
                        with contextlib.suppress(ValueError):
                            self._room.remove(room)
        except asyncio.CancelledError:
            self._enqueue(key, body, entry, check)  # the response arrived: write it even so
            raise
        return await self._enqueue(key, body, entry, check)

    def _enqueue(
        self, key: str, body: bytes | Path, entry: dict[str, Any], check: Check | None = None
    ) -> asyncio.Future[Path | str]:
        item = _Pending(key, body, entry, self._loop.create_future(), check)
        self._queued_items += 1
        self._queued_bytes += item.size
        self._queue.put(item)
        return item.future

    async def aclose(self) -> None:
        """Write everything handed over, then stop the thread; waits even when cancelled."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        try:
            await asyncio.shield(self._drained)
        finally:  # cancelled again while draining: block rather than lose a response
            self._thread.join()  # (otherwise the thread is already on its way out)

    # -------------------------------------------------- the writer thread

    def _main(self) -> None:
        try:
            self._drain()
        finally:
            self._call(self._set_drained)

    def _set_drained(self) -> None:
        if not self._drained.done():
            self._drained.set_result(None)

    def _call(self, fn: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(fn, *args)

    def _drain(self) -> None:
        closing = False
        carry: _Pending | None = None
        while True:
            batch: list[_Pending] = [carry] if carry is not None else []
            size = carry.size if carry is not None else 0
            carry = None
            while len(batch) < self._batch_items:
                try:
                    item = self._queue.get_nowait() if batch or closing else self._queue.get(timeout=1.0)
                except queue.Empty:
                    if batch or closing:
                        break
                    if self._loop.is_closed():  # abandoned without aclose(): nothing more can come
                        return
                    continue
                if item is None:
                    closing = True
                elif batch and size + item.size > self._batch_bytes:
                    carry = item
                    break
                else:
                    batch.append(item)
                    size += item.size
            if not batch:
                return  # closed, and everything handed over is written
            self._call(self._finish, batch, self._commit(batch))

    def _commit(self, batch: list[_Pending]) -> list[Path | str | BaseException]:
        """Check, store and index one batch; one outcome per item (the batch never raises)."""
        refused: dict[int, BaseException] = {}
        for i, it in enumerate(batch):
            check, it.check = it.check, None  # run once
            if check is not None:
                try:
                    check(it.body)
                except Exception as exc:  # not written: the caller decides what comes next
                    refused[i] = exc
                    if isinstance(it.body, Path):
                        with contextlib.suppress(FileNotFoundError):
                            it.body.unlink()
        if refused:
            kept = [it for i, it in enumerate(batch) if i not in refused]
            outcomes_kept = self._commit(kept) if kept else []
            merged: list[Path | str | BaseException] = []
            rest = iter(outcomes_kept)
            for i in range(len(batch)):
                merged.append(refused[i] if i in refused else next(rest))
            return merged
        try:
            outcomes: list[Path | str | BaseException]
            if isinstance(self._st, Store):
                outcomes = list(self._st.write_many([(it.key, it.body) for it in batch]))
            else:  # remote: answers come as bytes (no spool files there)
                outcomes = list(self._st.write_many([(it.key, _bytes(it.body)) for it in batch]))
            stored = [i for i, o in enumerate(outcomes) if not isinstance(o, BaseException)]
            if stored:
                try:
                    self._st.record_many([batch[i].entry for i in stored])
                except Exception:  # one entry at a time: only those that cannot be written fail
                    for i in stored:
                        try:
                            self._st.record(batch[i].entry)
                        except Exception as exc:
                            outcomes[i] = _index_error(exc)
        except Exception as exc:  # pragma: no cover - write_many reports I/O errors per item
            outcomes = [exc] * len(batch)
        return outcomes

    def _finish(self, batch: list[_Pending], outcomes: list[Path | str | BaseException]) -> None:
        """On the event loop: resolve one batch's futures and let waiting puts in."""
        for item, outcome in zip(batch, outcomes, strict=True):
            self._queued_items -= 1
            self._queued_bytes -= item.size
            if item.future.done():  # its worker was cancelled
                continue
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        while self._room:
            room = self._room.popleft()
            if not room.done():
                room.set_result(None)
