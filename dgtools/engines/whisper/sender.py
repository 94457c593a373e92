"""What a batch sends through for ``engine="whisper"``: the Whisper engine behind a Deepgram client's interface.

:class:`WhisperSender` has the methods :mod:`dgtools.batch` calls on a
:class:`~dgtools.api.client.DeepgramClient` (``transcribe_file``,
``transcribe_url``, ``aclose``, ``credentials``), answered by one
:class:`~dgtools.engines.whisper.WhisperEngine` in a worker thread instead
of the network.  Threads, not processes: there is one model (a few hundred
MB), CTranslate2 spreads each decode over ``cpu_threads`` cores and releases
the GIL while it runs, so the event loop stays responsive.  Files decode one
at a time, in the order the batch sends them.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ...exceptions import ConfigError
from ..offline import OfflineSender
from .engine import WhisperEngine

if TYPE_CHECKING:
    from ...options import ListenOptions

__all__ = ["WhisperSender"]


class WhisperSender(OfflineSender):
    """Send files to the Whisper engine in a worker thread, as a batch sends to Deepgram.

    Parameters
    ----------
    engine
        The engine to use (default: a new :class:`WhisperEngine` built from ``**engine_options``;
        the sender then closes it in :meth:`aclose`).
    **engine_options
        ``model``, ``compute_type``, ``cpu_threads``, ``beam_size``, ``vad_filter``, ``cache_dir``.

    Raises
    ------
    ConfigError
        Both ``engine`` and engine options, or an invalid option.

    Examples
    --------
    >>> import asyncio, json
    >>> from dgtools.options import ListenOptions
    >>> async def main():
    ...     async with WhisperSender(model="tiny.en", cpu_threads=2) as sender:
    ...         result = await sender.transcribe_file("data/audio/silence.wav", ListenOptions())
    ...         return result, sender.realtime_factor
    >>> result, rtf = asyncio.run(main())
    >>> json.loads(result.body)["metadata"]["request_id"] == result.request_id, rtf > 0
    (True, True)
    """

    label = "whisper"

    def __init__(self, engine: WhisperEngine | None = None, **engine_options: Any) -> None:
        super().__init__()
        if engine is not None and engine_options:
            raise ConfigError("pass either engine= or engine options (model=, cpu_threads=, ...), not both")
        if engine is None:
            try:
                engine = WhisperEngine(**engine_options)
            except TypeError as exc:
                raise ConfigError(f"invalid option for the whisper engine: {exc}") from exc
            self._owns_engine = True
        else:
            self._owns_engine = False
        self.engine = engine
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="dgtools-whisper-sender")

    def __repr__(self) -> str:
        return f"WhisperSender(engine={self.engine!r})"

    async def _decode(
        self, path: str | os.PathLike[str], options: ListenOptions, name: str
    ) -> tuple[dict[str, Any], float]:
        def run() -> tuple[dict[str, Any], float]:
            started = time.perf_counter()
            result = self.engine.transcribe_path(path, options, name=name)
            return result, time.perf_counter() - started

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def aclose(self) -> None:
        """Stop the worker thread (waiting for it in another thread, not on the event loop)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._executor.shutdown)
        if self._owns_engine:
            await loop.run_in_executor(None, self.engine.close)
