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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..offline import OfflineSender
from .pool import DecodePool

if TYPE_CHECKING:
    from ...options import ListenOptions

__all__ = ["LocalSender"]


class LocalSender(OfflineSender):
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

    label = "local"

    def __init__(self, workers: int, *, decoder_config: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self._pool = DecodePool(workers, decoder_config=decoder_config)

    def __repr__(self) -> str:
        return f"LocalSender(workers={self._pool.workers})"

    async def _decode(
        self, path: str | os.PathLike[str], options: ListenOptions, name: str
    ) -> tuple[dict[str, Any], float]:
        decoded = await self._pool.decode(path, options, name=name)
        if isinstance(decoded.result, BaseException):
            raise decoded.result
        return decoded.result, decoded.seconds

    async def aclose(self) -> None:
        """Stop the worker processes (waiting for them in a thread, not on the event loop)."""
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown)
