"""What a batch sends through for ``engine="local"``: the local engine behind a Deepgram client's interface.

:class:`LocalSender` has the methods :mod:`dgtools.batch` calls on a
:class:`~dgtools.api.client.DeepgramClient` (``transcribe_file``,
``transcribe_url``, ``aclose``, ``credentials``), answered by a
:class:`~dgtools.engines.local.pool.DecodePool` instead of the network: each
file is decoded in a worker process and its response encoded as the JSON
Deepgram would send, so the batch stores and tabulates it like any other.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import msgspec

from ...exceptions import ConfigError, DGToolsError
from .pool import DecodePool

if TYPE_CHECKING:
    from ...api import ListenResult
    from ...options import ListenOptions

__all__ = ["LocalSender"]


class LocalSender:
    """Send files to the local engine (pocketsphinx) in ``workers`` processes, as a batch sends to Deepgram.

    Each worker process loads one decoder once; a file is decoded whole and
    answered as a :class:`~dgtools.api.client.ListenResult` holding the
    response's JSON bytes.  Decode and audio seconds add up, for
    :attr:`realtime_factor`.

    Parameters
    ----------
    workers
        Worker processes (decoders).
    decoder_config
        As for :class:`~dgtools.engines.local.LocalEngine`.

    Raises
    ------
    ConfigError
        ``workers`` is not a positive integer.

    Examples
    --------
    >>> import asyncio, json
    >>> from dgtools.options import ListenOptions
    >>> async def main():
    ...     async with LocalSender(workers=1) as sender:
    ...         result = await sender.transcribe_file("data/audio/silence.wav", ListenOptions())
    ...         return result, sender.realtime_factor
    >>> result, rtf = asyncio.run(main())
    >>> json.loads(result.body)["metadata"]["request_id"] == result.request_id, rtf > 0
    (True, True)
    """

    #: A batch reads this off a Deepgram client; the local engine needs none.
    credentials = None

    def __init__(self, workers: int, *, decoder_config: Mapping[str, Any] | None = None) -> None:
        self._pool = DecodePool(workers, decoder_config=decoder_config)
        self._decode_seconds = 0.0
        self._audio_seconds = 0.0

    def __repr__(self) -> str:
        return f"LocalSender(workers={self._pool.workers})"

    @property
    def realtime_factor(self) -> float | None:
        """Decode seconds per audio second over the files answered so far (per process); None before any audio."""
        return self._decode_seconds / self._audio_seconds if self._audio_seconds > 0 else None

    async def transcribe_file(
        self,
        path: str | os.PathLike[str],
        options: ListenOptions,
        *,
        content_type: str | None = None,
        source: str | None = None,
        duration: float | None = None,
        spool: Callable[[], Path] | None = None,
    ) -> ListenResult:
        """Transcribe one audio file.

        Parameters
        ----------
        path
            The audio file.
        options
            Validated options.
        content_type
            Ignored: the engine reads the format from the file.
        source
            How errors name the file (default: ``path``), e.g. the input as the user gave it.
        duration, spool
            Ignored: a local decode has no deadline to scale, and its answers are small.

        Returns
        -------
        ListenResult
            ``body`` is the response's JSON, ``request_id`` its ``metadata.request_id``,
            ``sent_sha256`` the sha256 of the bytes the engine decoded (its ``metadata.sha256``).

        Raises
        ------
        AudioDecodeError
            The file is not audio that can be decoded (not retried by a batch).
        ConfigError
            The file cannot be read.
        DGToolsError
            Any other failure of the engine or its worker process, naming the file.
        """
        name = source or os.fspath(path)
        decoded = await self._pool.decode(path, options, name=name)
        result = decoded.result
        if isinstance(result, BaseException):
            if isinstance(result, DGToolsError):
                raise result
            raise DGToolsError(
                f"{name}: the local engine failed ({type(result).__name__}: {result})"
            ) from result
        self._decode_seconds += decoded.seconds
        self._audio_seconds += decoded.audio_seconds
        from ...api import ListenResult

        meta = result["metadata"]
        return ListenResult(
            body=msgspec.json.encode(result),
            request_id=meta.get("request_id"),
            sent_sha256=meta.get("sha256"),
        )

    async def transcribe_url(
        self,
        url: str,
        options: ListenOptions,
        *,
        source: str | None = None,
        duration: float | None = None,
        spool: Callable[[], Path] | None = None,
    ) -> ListenResult:
        """Refuse: the local engine never fetches URLs.

        Raises
        ------
        ConfigError
            Always, naming the URL.
        """
        raise ConfigError(f"{url}: the local engine does not fetch URLs; download the file first")

    async def aclose(self) -> None:
        """Stop the worker processes (waiting for them in a thread, not on the event loop)."""
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown)

    async def __aenter__(self) -> LocalSender:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
