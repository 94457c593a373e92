"""What the offline engines share: files, the local server's interface, ``metadata`` and the batch sender.

:class:`OfflineEngine` is the base of :class:`~dgtools.engines.local.LocalEngine` (pocketsphinx)
and :class:`~dgtools.engines.whisper.WhisperEngine`: a subclass answers one request in
``transcribe_bytes``; reading a file, the local server's coroutine (in worker threads, with
Deepgram's 400s) and the context manager are here.  :func:`response_metadata` builds Deepgram's
``metadata`` for either, and :class:`OfflineSender` is what a batch sends through for either
(``engine="local"``, ``engine="whisper"``): a subclass decodes one file in ``_decode``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..exceptions import AudioDecodeError, ConfigError, DGToolsError, EngineError
from .base import now_created

if TYPE_CHECKING:
    from typing import Self

    from ..api import ListenResult
    from ..options import ListenOptions
    from .local.request import OptionsLike, Plan
    from .pcm import Audio

__all__ = ["OfflineEngine", "OfflineSender", "distinct_channels", "response_metadata"]


def distinct_channels(audio: Audio) -> bool:
    """Whether the channels differ (mono saved as stereo does not)."""
    x = audio.samples
    return x.shape[0] > 1 and bool(np.abs(x[1:] - x[:1]).max() > 1e-3)


def response_metadata(
    plan: Plan, audio: Audio, digest: str, request_id: str | None, model: tuple[str, dict[str, str]]
) -> dict[str, Any]:
    """Deepgram's ``metadata`` of an offline answer; ``model`` is the ``(uuid, model_info entry)`` pair.

    Examples
    --------
    >>> import numpy as np
    >>> from dgtools.engines.local.request import Plan
    >>> from dgtools.engines.pcm import Audio
    >>> audio = Audio(np.zeros((1, 16000), np.float32), duration=1.0, source_rate=16000)
    >>> meta = response_metadata(Plan(), audio, "ab", "r1", ("u", {"name": "m"}))
    >>> meta["duration"], meta["models"], meta["model_info"]
    (1.0, ['u'], {'u': {'name': 'm'}})
    """
    uid, info = model
    meta: dict[str, Any] = {
        "transaction_key": "deprecated",
        "request_id": request_id or str(uuid.uuid4()),
        "sha256": digest,
        "created": now_created(),
        "duration": round(audio.duration, 6),
        "channels": audio.channels if plan.multichannel else 1,
        "models": [uid],
        "model_info": {uid: info},
    }
    if plan.tags:
        meta["tags"] = list(plan.tags)
    if plan.extra:
        meta["extra"] = dict(plan.extra)
    if plan.warnings:
        meta["warnings"] = [dict(w) for w in plan.warnings]
    return meta


class OfflineEngine:
    """An engine on this machine: a subclass implements :meth:`transcribe_bytes`; the rest is shared.

    Subclasses set :attr:`label` (how messages name the engine) and :attr:`threads` (how many
    requests the server's coroutine decodes at once), and call :meth:`_stop_threads` in ``close``.

    Examples
    --------
    >>> from dgtools.engines.local import LocalEngine
    >>> with LocalEngine() as engine:
    ...     r = engine.transcribe_path("data/audio/stereo_call.wav", {"multichannel": True})
    >>> len(r["results"]["channels"])
    2
    """

    #: How messages name the engine ("local", "whisper").
    label: ClassVar[str] = "offline"
    #: Requests :meth:`transcribe` decodes at once, in worker threads.
    threads: int = 1
    _executor: ThreadPoolExecutor | None = None

    def transcribe_bytes(
        self,
        audio: bytes,
        options: OptionsLike = None,
        *,
        request_id: str | None = None,
        sha256: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Transcribe audio bytes into a ``/v1/listen`` response dict (see the subclasses)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the worker threads of :meth:`transcribe`."""
        self._stop_threads()

    def _stop_threads(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transcribe_path(
        self, path: str | os.PathLike[str], options: OptionsLike = None, *, name: str | None = None
    ) -> dict[str, Any]:
        """Transcribe an audio file; like :meth:`transcribe_bytes`, errors name the file.

        ``name`` is how errors name it (default: the path), e.g. the input as a user gave it.

        Raises
        ------
        ConfigError
            The file cannot be read.
        AudioDecodeError
            The file is not audio that can be decoded.
        """
        label = name or os.fspath(path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read audio file {label!r}: {exc.strerror or exc}") from exc
        return self.transcribe_bytes(data, options, name=label)

    async def transcribe(
        self,
        *,
        audio: bytes | None,
        url: str | None,
        options: OptionsLike,
        request_id: str,
        sha256: str | None,
    ) -> dict[str, Any]:
        """Answer a local-server request (see :class:`dgtools.engines.base.Engine`).

        The decode runs in one of :attr:`threads` worker threads, so the server's event loop
        stays responsive.  A URL request gets Deepgram's 400 ``REMOTE_CONTENT_ERROR`` (nothing
        is fetched); invalid options its 400 ``INVALID_QUERY_PARAMETER``; undecodable audio its
        400 ``Bad Request``.
        """
        from .local.request import as_listen_options

        if audio is None:
            raise EngineError(
                400,
                "REMOTE_CONTENT_ERROR",
                f"The dgtools {self.label} engine does not fetch URLs ({url!r}); send the audio bytes in the request body.",
            )
        try:
            opts = as_listen_options(options)
        except ConfigError as exc:
            raise EngineError(
                400, "INVALID_QUERY_PARAMETER", f"Failed to deserialize query parameters: {exc}"
            ) from exc
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix=f"dgtools-{self.label}")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor,
                lambda: self.transcribe_bytes(audio, opts, request_id=request_id, sha256=sha256),
            )
        except AudioDecodeError as exc:
            raise EngineError(
                400,
                "Bad Request",
                f"Bad Request: failed to process audio: corrupt or unsupported data ({exc})",
            ) from exc


class OfflineSender:
    """What a batch sends through for an offline engine: a Deepgram client's interface, answered here.

    A subclass decodes one file in :meth:`_decode`, returning the response and the seconds the
    decode took; this class turns it into a :class:`~dgtools.api.client.ListenResult` (the JSON
    Deepgram would send), adds up the real-time factor, refuses URLs and closes with ``async with``.
    """

    #: A batch reads this off a Deepgram client; an offline engine needs none.
    credentials = None
    #: How messages name the engine ("local", "whisper").
    label: ClassVar[str] = "offline"

    def __init__(self) -> None:
        self._decode_seconds = 0.0
        self._audio_seconds = 0.0

    @property
    def realtime_factor(self) -> float | None:
        """Decode seconds per audio second over the files answered so far (per process); None before any audio."""
        return self._decode_seconds / self._audio_seconds if self._audio_seconds > 0 else None

    async def _decode(
        self, path: str | os.PathLike[str], options: ListenOptions, name: str
    ) -> tuple[dict[str, Any], float]:
        raise NotImplementedError

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
            The file cannot be read (or the engine's model cannot be loaded).
        DGToolsError
            Any other failure of the engine, naming the file.
        """
        import msgspec

        from ..api import ListenResult

        name = source or os.fspath(path)
        try:
            result, seconds = await self._decode(path, options, name)
        except DGToolsError:
            raise
        except Exception as exc:
            raise DGToolsError(
                f"{name}: the {self.label} engine failed ({type(exc).__name__}: {exc})"
            ) from exc
        meta = result["metadata"]
        self._decode_seconds += seconds
        self._audio_seconds += float(meta.get("duration") or 0.0)
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
        """Refuse: an offline engine never fetches URLs.

        Raises
        ------
        ConfigError
            Always, naming the URL.
        """
        raise ConfigError(f"{url}: the {self.label} engine does not fetch URLs; download the file first")

    async def aclose(self) -> None:
        """Stop what decodes (see the subclasses)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
