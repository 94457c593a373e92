"""The local engine's worker processes: many files decoded at once, one pocketsphinx decoder per process.

:class:`DecodePool` is the one process pool of the local engine.  Each
worker process loads one :class:`~dgtools.engines.local.LocalEngine` (one
decoder, about 90 MB and 0.4 s to load) when it starts, then decodes whole
files.  Workers start with ``forkserver`` where available (safe in threaded
programs such as the server and a Jupyter kernel), else ``spawn``.  Two
things use it:

* :func:`decode_many`: many files with one set of options, yielded in input
  order as :class:`Decoded` (result, decode seconds, audio seconds).
* :class:`~dgtools.engines.local.LocalSender`: the sender a batch uses for
  ``engine="local"``, one awaited file at a time (:meth:`DecodePool.decode`).

A file's failure (undecodable audio, a worker that died) is that file's
:class:`Decoded` result, never an exception raised partway.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Any, NamedTuple

from ...exceptions import ConfigError
from ...options import ListenOptions
from .engine import LocalEngine
from .request import OptionsLike, as_listen_options

__all__ = ["DecodePool", "Decoded", "decode_many", "decode_timed", "start_method"]


class Decoded(NamedTuple):
    """One file's outcome from :func:`decode_many` or :meth:`DecodePool.decode`.

    Attributes
    ----------
    path
        The input path, as given.
    result
        The response dict, or the exception the file raised (e.g. :class:`~dgtools.AudioDecodeError`).
    seconds
        Wall-clock seconds spent reading, decoding and building the response in the worker.
    audio_seconds
        The audio's duration (``metadata.duration``); 0.0 on failure.

    Examples
    --------
    >>> Decoded("a.wav", {}, seconds=1.5, audio_seconds=10.0).rtf
    0.15
    """

    path: str | os.PathLike[str]
    result: dict[str, Any] | BaseException
    seconds: float
    audio_seconds: float

    @property
    def rtf(self) -> float | None:
        """Real-time factor: decode seconds per audio second (None without audio)."""
        return self.seconds / self.audio_seconds if self.audio_seconds > 0 else None


def decode_timed(
    engine: LocalEngine,
    path: str | os.PathLike[str],
    options: ListenOptions,
    *,
    name: str | None = None,
) -> Decoded:
    """Transcribe one file with ``engine``, timed; a failure is returned as the result, not raised.

    Parameters
    ----------
    engine
        The engine (its decoder should be warm: see :meth:`LocalEngine.warm_up`).
    path
        The audio file.
    options
        Validated options.
    name
        How errors name the file (default: the path).

    Returns
    -------
    Decoded

    Examples
    --------
    >>> with LocalEngine(max_decoders=1) as engine:
    ...     d = decode_timed(engine, "data/audio/silence.wav", ListenOptions())
    >>> d.audio_seconds, d.seconds > 0
    (3.0, True)
    """
    start = time.perf_counter()
    try:
        response = engine.transcribe_path(path, options, name=name)
    except Exception as exc:
        return Decoded(path, exc, time.perf_counter() - start, 0.0)
    return Decoded(path, response, time.perf_counter() - start, float(response["metadata"]["duration"]))


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """While worker processes start, keep the caller's script from being run again in them.

    multiprocessing re-imports the parent's ``__main__`` in every forkserver and spawn child (from
    ``__main__.__file__``, or ``__spec__`` under ``python -m``), so a script that calls dgtools at
    top level, without an ``if __name__ == "__main__":`` guard, would run again in each worker
    (and start workers of its own).  The workers need nothing from it (they run dgtools' own
    functions), so both attributes are hidden while processes start, and restored after.
    """
    main = sys.modules.get("__main__")
    saved = {attr: getattr(main, attr) for attr in ("__file__", "__spec__") if hasattr(main, attr)}
    try:
        if main is not None:
            for attr in saved:
                if attr == "__spec__":
                    main.__spec__ = None
                else:
                    delattr(main, attr)
        yield
    finally:
        if main is not None:
            for attr, value in saved.items():
                setattr(main, attr, value)


def start_method() -> str:
    """The multiprocessing start method of the pool: ``"forkserver"`` where available, else ``"spawn"``.

    Examples
    --------
    >>> start_method() in ("forkserver", "spawn")
    True
    """
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


# Per-process state of the workers (set by the pool's initializer): one engine per process.
_WORKER: dict[str, LocalEngine] = {}


def _worker_init(decoder_config: dict[str, Any]) -> None:
    engine = LocalEngine(max_decoders=1, decoder_config=decoder_config)
    engine.warm_up()  # the decoder's load time is not part of any file's decode time
    _WORKER["engine"] = engine


def _worker_decode(path: str, options: ListenOptions, name: str | None) -> Decoded:
    engine = _WORKER.get("engine")
    if engine is None:  # a worker started without the initializer
        _worker_init({})
        engine = _WORKER["engine"]
    return decode_timed(engine, path, options, name=name)


class DecodePool:
    """Worker processes that each hold one local-engine decoder, loaded once.

    Parameters
    ----------
    workers
        How many processes (decoders).  Processes start when work arrives.
    decoder_config
        As for :class:`~dgtools.engines.local.LocalEngine`.
    mp_context
        The multiprocessing start method; default :func:`start_method`.

    Raises
    ------
    ConfigError
        ``workers`` is not a positive integer.

    Examples
    --------
    >>> with DecodePool(2) as pool:
    ...     out = list(pool.imap(["data/audio/silence.wav", "no-such.wav"], ListenOptions()))
    >>> [type(d.result).__name__ for d in out]
    ['dict', 'ConfigError']
    """

    def __init__(
        self,
        workers: int,
        *,
        decoder_config: Mapping[str, Any] | None = None,
        mp_context: str | None = None,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be a positive integer, got {workers!r}")
        self.workers = workers
        context = multiprocessing.get_context(mp_context or start_method())
        self._abandoned: set[Future[Decoded]] = set()  # decodes a cancelled caller no longer waits for
        self.stopped = 0  # decodes stopped by shutdown() because nobody waited for them any more
        self._executor = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_init, initargs=(dict(decoder_config or {}),)
        )

    def __repr__(self) -> str:
        return f"DecodePool(workers={self.workers})"

    def _submit(
        self, path: str | os.PathLike[str], options: ListenOptions, name: str | None
    ) -> Future[Decoded]:
        try:
            with _main_hidden():  # a submit may start the forkserver and worker processes
                return self._executor.submit(_worker_decode, os.fspath(path), options, name)
        except Exception as exc:  # BrokenProcessPool (a worker died earlier), RuntimeError (shut down)
            failed: Future[Decoded] = Future()
            failed.set_exception(exc)
            return failed

    @staticmethod
    def _settle(path: str | os.PathLike[str], future: Future[Decoded]) -> Decoded:
        """A decode's outcome: the pool's own failures become the file's error, as its own would."""
        try:
            decoded = future.result()
        except Exception as exc:  # the worker died (BrokenProcessPool) or the result did not pickle
            return Decoded(path, exc, 0.0, 0.0)
        return decoded._replace(path=path)

    async def decode(
        self, path: str | os.PathLike[str], options: ListenOptions, *, name: str | None = None
    ) -> Decoded:
        """Decode one file in a worker, without blocking the event loop.

        Parameters
        ----------
        path
            The audio file.
        options
            Validated options.
        name
            How errors name the file (default: the path).

        Returns
        -------
        Decoded
            Its ``result`` is the exception when the file failed.

        Examples
        --------
        >>> import asyncio
        >>> async def main():
        ...     with DecodePool(1) as pool:
        ...         return await pool.decode("data/audio/silence.wav", ListenOptions())
        >>> asyncio.run(main()).audio_seconds
        3.0
        """
        future = self._submit(path, options, name)
        self._abandoned.add(future)
        try:
            with contextlib.suppress(Exception):  # a failure is settled below; a cancellation propagates
                await asyncio.wrap_future(future)
        except asyncio.CancelledError:  # nobody waits for this decode any more: shutdown() stops it
            raise
        else:
            self._abandoned.discard(future)
        return self._settle(path, future)

    def imap(
        self,
        paths: Iterable[str | os.PathLike[str]],
        options: ListenOptions,
        *,
        window: int | None = None,
    ) -> Iterator[Decoded]:
        """Decode files, yielding each one's :class:`Decoded` in input order.

        At most ``window`` files (default ``2 * workers``) are in flight, so a
        long iterable of paths is consumed lazily.

        Parameters
        ----------
        paths
            Audio files.
        options
            Validated options, the same for every file.
        window
            How many files may be submitted ahead of the one being yielded.

        Yields
        ------
        Decoded
        """
        ahead = window or 2 * self.workers
        pending: deque[tuple[str | os.PathLike[str], Future[Decoded]]] = deque()
        iterator = iter(paths)
        exhausted = False
        while True:
            while not exhausted and len(pending) < ahead:
                try:
                    path = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((path, self._submit(path, options, None)))
            if not pending:
                return
            path, future = pending.popleft()
            yield self._settle(path, future)

    @property
    def abandoned(self) -> int:
        """Decodes still running in a worker whose caller was cancelled (e.g. Ctrl-C during a run)."""
        return sum(1 for f in self._abandoned if not f.done())

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:
        """Stop the worker processes (idempotent); ``cancel_futures`` drops files not yet started.

        Decodes whose caller was cancelled are not waited for: their workers are stopped at once
        (SIGTERM waited 24 s for in-flight decodes nobody wanted any more).
        """
        running = sum(1 for f in self._abandoned if not f.done())
        if running:
            self.stopped += running
            cancel_futures = True
            for process in list(
                getattr(self._executor, "_processes", {}).values()
            ):  # no public API before 3.14
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    process.terminate()
        self._executor.shutdown(wait=wait, cancel_futures=cancel_futures)

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Leaving early (an error, or a generator closed partway): files not yet started are dropped.
        self.shutdown(wait=True, cancel_futures=exc_type is not None)


def decode_many(
    paths: Iterable[str | os.PathLike[str]],
    options: OptionsLike = None,
    *,
    workers: int | None = None,
    decoder_config: Mapping[str, Any] | None = None,
    mp_context: str | None = None,
) -> Iterator[Decoded]:
    """Transcribe many files in worker processes; yield each file's :class:`Decoded`, in input order.

    Each worker process loads one decoder once (a :class:`DecodePool`) and
    decodes whole files; at most ``2 * workers`` files are in flight, so a
    long list of paths is consumed lazily.  A file that fails yields its
    exception instead of a response; nothing is raised partway.

    Parameters
    ----------
    paths
        Audio files.
    options
        One set of options for every file.
    workers
        Worker processes; default ``os.cpu_count()``.  ``1`` decodes in this
        process (no pool).
    decoder_config
        As for :class:`~dgtools.engines.local.LocalEngine`.
    mp_context
        The multiprocessing start method; default ``"forkserver"`` where
        available (safe in threaded programs such as the server), else ``"spawn"``.

    Yields
    ------
    Decoded
        ``(path, result, seconds, audio_seconds)``; ``sum(seconds) / sum(audio_seconds)``
        is the run's real-time factor per process.

    Raises
    ------
    ConfigError
        Invalid options or ``workers`` (before any work starts).

    Examples
    --------
    >>> paths = ["data/audio/silence.wav", "data/audio/no-such.wav"]
    >>> for d in decode_many(paths, {"punctuate": True}, workers=2):
    ...     print(d.path, type(d.result).__name__, d.audio_seconds)
    data/audio/silence.wav dict 3.0
    data/audio/no-such.wav ConfigError 0.0
    """
    opts = as_listen_options(options)
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n < 1:
        raise ConfigError(f"workers must be at least 1, got {workers!r}")
    iterator = iter(paths)
    first = next(iterator, None)
    if first is None:
        return
    every = itertools.chain([first], iterator)
    if n == 1:
        with LocalEngine(max_decoders=1, decoder_config=decoder_config) as engine:
            engine.warm_up()  # the decoder's load time is not part of any file's decode time
            for path in every:
                yield decode_timed(engine, path, opts)
        return
    with DecodePool(n, decoder_config=decoder_config, mp_context=mp_context) as pool:
        yield from pool.imap(every, opts)
