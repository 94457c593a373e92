"""Text that arrives in pieces, spoken as it comes: the WebSocket ``/v1/speak``.

:func:`aspeak_stream` (and :func:`speak_stream`, its synchronous twin) opens a socket to Deepgram's
streaming text-to-speech (or ``dgtools serve``'s), sends each piece of text as a ``Speak`` message
as it arrives (an LLM's tokens: a sync or async iterable of strings), sends ``Flush`` by a policy
(``"sentence"``: after each piece that ends a sentence; ``"never"``: only at the end; or a callable
of the text since the last flush), and at the end ``Flush`` then ``Close``.  Audio frames are
written as they arrive (a WAV file for ``linear16``, whose header is rewritten after every frame so
that a kill leaves a playable file; raw bytes for ``mulaw`` and ``alaw``), and each server message
is appended to ``STORE/speak/<started>-<request_id>.jsonl`` the moment it arrives, with a
``.timing`` file beside it (line *n*: its receive time and the audio bytes received by then), as
:func:`dgtools.stream` captures ``/v1/listen``.

Used as ``async with``, :func:`aspeak_stream` gives the open :class:`SpeakStream`: the text (if
any) is fed in the background while the block runs, and :meth:`SpeakStream.speak`,
:meth:`~SpeakStream.flush` and :meth:`~SpeakStream.clear` act at once: ``clear()`` is how a voice
agent stops talking when the user interrupts.  Each ``Flush`` and ``Clear`` becomes a row of
:attr:`SpeakStreamRun.flushes` (its text, characters, when it was sent, the time to its first audio
byte, its audio seconds and the server's ``sequence_id``).

A refused handshake raises what a REST call would (:class:`~dgtools.AuthenticationError` for
401, ...); a close frame other than a normal close raises a
:class:`~dgtools.live.errors.StreamClosedError` subclass; a ``Warning`` message is a
:class:`~dgtools.live.errors.SpeakWarning` (or, with ``on_warning="raise"``, a
:class:`~dgtools.live.errors.SpeakWarningError` that ends the stream).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Generator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, ParamSpec, TypeVar

from .._aio import sync_twin
from ..exceptions import ConfigError
from .stream_run import FLUSH_COLUMNS, SpeakStreamRun, _open_files
from .stream_session import FlushPolicy, SpeakStream, TextSource, ends_sentence

__all__ = [
    "FLUSH_COLUMNS",
    "FlushPolicy",
    "SpeakStream",
    "SpeakStreamConnect",
    "SpeakStreamRun",
    "TextSource",
    "aspeak_stream",
    "ends_sentence",
    "speak_stream",
]

#: The audio file's suffix for each encoding (a WAV file for linear16, raw bytes otherwise).
_SUFFIX: Final[dict[str, str]] = {"linear16": ".wav", "mulaw": ".ulaw", "alaw": ".alaw"}


# --------------------------------------------------------------------------- opening


@dataclass(frozen=True)
class _Settings:
    """Everything :func:`aspeak_stream` checked before connecting."""

    text: TextSource | None
    policy: FlushPolicy
    query: list[tuple[str, str]]
    encoding: str
    sample_rate: int
    store: Path
    out: Path | None
    api_key: str | None
    access_token: str | None
    base_url: str | None
    region: str | None
    allow_insecure: bool
    local: bool
    label: str
    on_audio: Callable[[bytes, SpeakStream], object] | None
    on_message: Callable[[dict[str, Any], SpeakStream], object] | None
    on_warning: str | Callable[[dict[str, Any]], object]
    flush_timeout: float
    max_characters: int

    def __repr__(self) -> str:  # never the key
        return f"<speak stream settings {self.label}>"


class SpeakStreamConnect:
    """What :func:`aspeak_stream` returns: ``await`` it for a :class:`SpeakStreamRun`, or ``async with`` it for a :class:`SpeakStream`."""

    def __init__(self, settings: _Settings) -> None:
        self._settings: _Settings | None = settings
        self._stack: contextlib.AsyncExitStack | None = None
        self._stream: SpeakStream | None = None

    def __repr__(self) -> str:
        return "<dgtools.SpeakStreamConnect: await it, or use it as async with>"

    def __await__(self) -> Generator[Any, None, SpeakStreamRun]:
        return self._run().__await__()

    async def _run(self) -> SpeakStreamRun:
        async with self as tts:
            pass
        return tts.run

    async def __aenter__(self) -> SpeakStream:
        s, self._settings = self._settings, None  # the credentials go with the first use
        if s is None:
            raise ConfigError("this speak stream was opened already: call dgtools.aspeak_stream(...) again")
        self._stack = stack = contextlib.AsyncExitStack()
        try:
            api_key, access_token, base_url = s.api_key, s.access_token, s.base_url
            if s.local:
                base_url, api_key = await stack.enter_async_context(_local_server())
                access_token = None
            tts = self._stream = await _open(s, api_key, access_token, base_url)
            del api_key, access_token
        except BaseException:
            await stack.aclose()
            raise
        self._timeout = s.flush_timeout
        if s.text is not None:
            tts._start_feed(s.text, s.policy)
        return tts

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tts, stack = self._stream, self._stack
        assert tts is not None and stack is not None
        try:
            try:
                if exc is None:
                    await tts._wait_feed()
                    await tts._finish(self._timeout)
                else:
                    await tts._abort()
            except BaseException:
                await tts._abort()
                raise
            finally:
                await tts._end()
                tts.run.wall_seconds = time.monotonic() - tts._t0
            if exc is None:
                tts._raise_for_close()
        finally:
            await stack.aclose()


async def _open(
    s: _Settings, api_key: str | None, access_token: str | None, base_url: str | None
) -> SpeakStream:
    """Open the socket and the files; the handshake's refusal raises what REST would."""
    from .._extras import require
    from ..api import resolve_base_url, resolve_credentials
    from ..live.stream import _open as open_socket

    credentials = resolve_credentials(api_key, access_token)
    root = resolve_base_url(base_url, s.region, allow_insecure=s.allow_insecure)
    del api_key, access_token
    url = "ws" + root[len("http") :].rstrip("/") + "/v1/speak"
    target = url + "?" + "&".join(f"{k}={_quote(v)}" for k, v in s.query)
    websockets = require("websockets", extra="serve", feature="dgtools.speak_stream")
    from websockets.asyncio.client import connect

    folder = s.store / "speak"
    started = datetime.now(UTC)
    t0 = time.monotonic()
    socket = await open_socket(websockets, connect, target, credentials, s.label, url)
    del credentials
    connected = time.monotonic() - t0
    rid = socket.response.headers.get("dg-request-id") if socket.response else None
    name = f"{started.strftime('%Y%m%dT%H%M%S')}-{rid or uuid.uuid4()}"
    audio_path = s.out or folder / f"{name}{_SUFFIX[s.encoding]}"
    capture_path = folder / f"{name}.jsonl"
    try:
        files = _open_files(capture_path, audio_path, s.encoding == "linear16", s.sample_rate, s.label)
    except ConfigError:
        await socket.close()
        raise
    run = SpeakStreamRun(
        audio=audio_path, capture=capture_path, encoding=s.encoding, sample_rate=s.sample_rate,
        request_id=rid, connect_seconds=connected,
    )  # fmt: skip
    return SpeakStream(
        socket, run, label=s.label, t0=t0, files=files,
        on_audio=s.on_audio, on_message=s.on_message, on_warning=s.on_warning,
        max_characters=s.max_characters, closed=websockets.exceptions.ConnectionClosed,
    )  # fmt: skip


def _local_server() -> contextlib.AbstractAsyncContextManager[tuple[str, str]]:
    """``dgtools serve`` on 127.0.0.1 for one stream (its ``/v1/speak`` speaks with espeak-ng): ``(URL, key)``."""
    from ..server.testing import private_server

    return private_server()


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _query(options: dict[str, Any]) -> tuple[list[tuple[str, str]], str, int]:
    """The handshake's query, the encoding and the sample rate, or ConfigError naming the option."""
    from ..options.speak import speak_format, speak_stream_query

    query = speak_stream_query(**options)
    fmt = speak_format(query, stream=True)
    return query, fmt.encoding, fmt.sample_rate


def aspeak_stream(
    text: TextSource | None = None,
    *,
    flush: FlushPolicy = "sentence",
    model: str | None = None,
    encoding: str = "linear16",
    sample_rate: int = 24000,
    speed: float | None = None,
    mip_opt_out: bool | None = None,
    out: str | os.PathLike[str] | None = None,
    store: str | os.PathLike[str] = "dgtools-store",
    api_key: str | None = None,
    access_token: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    allow_insecure: bool = False,
    engine: str = "auto",
    on_audio: Callable[[bytes, SpeakStream], object] | None = None,
    on_message: Callable[[dict[str, Any], SpeakStream], object] | None = None,
    on_warning: Literal["warn", "raise", "ignore"] | Callable[[dict[str, Any]], object] = "warn",
    flush_timeout: float = 30.0,
) -> SpeakStreamConnect:
    """Speak text that arrives in pieces over WebSocket ``/v1/speak`` (see the module docstring).

    ``await aspeak_stream(text, ...)`` speaks all of ``text`` and returns a
    :class:`SpeakStreamRun`; ``async with aspeak_stream(text, ...) as tts:`` gives the open
    :class:`SpeakStream` while ``text`` is fed in the background (``tts.clear()`` stops the voice;
    ``tts.speak(...)``, ``tts.flush()`` send more), and at the end of the block waits for the
    text to run out and its audio to arrive; ``tts.run`` is then complete.  Without ``text``, the
    block sends what it speaks itself.

    Parameters
    ----------
    text
        A string, or a sync or async iterable of pieces of text (an LLM's tokens), spoken as they
        come.  A sync iterator other than a list or tuple is read in a thread, so it may block.
    flush
        When to send ``Flush`` (the server speaks what it holds): ``"sentence"`` (default) after
        each piece that ends a sentence (``.``, ``!``, ``?``, ``…``); ``"never"``: only at the end;
        or a callable given the text sent since the last flush, returning whether to flush now.
        Deepgram takes at most 20 flushes in 60 s: a flush beyond that waits for the next chance.
    model, encoding, sample_rate, speed, mip_opt_out
        The stream's options: the voice (``"aura-2-thalia-en"``; None: the server's default),
        ``"linear16"`` (default), ``"mulaw"`` or ``"alaw"``, 8000 to 48000 Hz (default 24000), a
        speaking rate, and opting out of the Model Improvement Program.  Checked before connecting.
    out
        The audio file (default ``STORE/speak/<started>-<request_id>.wav``, or ``.mulaw``/``.alaw``):
        a WAV file for ``linear16`` (its header kept true after every frame), raw bytes otherwise.
    store
        The folder whose ``speak/`` receives the capture of the server's messages.
    api_key, access_token, base_url, region, allow_insecure
        As for :func:`dgtools.transcribe`.
    engine
        ``"deepgram"`` (Deepgram's API, or the server at ``base_url``), ``"local"`` (a ``dgtools
        serve`` started on 127.0.0.1 for this stream, speaking with espeak-ng), or ``"auto"``
        (default: Deepgram when a key, token or server is given, else local).
    on_audio
        Called with each audio frame and the :class:`SpeakStream` (whose ``clear()`` stops the
        voice) as the frame arrives, after it is written.
    on_message
        Called with each JSON message (``Metadata``, ``Flushed``, ``Cleared``, ``Warning``) and
        the :class:`SpeakStream`, after it is captured.
    on_warning
        What a ``Warning`` message does: ``"warn"`` (default: a
        :class:`~dgtools.live.errors.SpeakWarning`), ``"raise"`` (a
        :class:`~dgtools.live.errors.SpeakWarningError` that ends the stream), ``"ignore"``, or a
        callable given the message.  Each is kept in :attr:`SpeakStreamRun.warnings` anyway.
    flush_timeout
        Seconds to wait at the end for the last ``Flushed`` (then for the server's close).

    Returns
    -------
    SpeakStreamConnect
        Awaitable (a :class:`SpeakStreamRun`) and an async context manager (a :class:`SpeakStream`).

    Raises
    ------
    ConfigError
        Bad options or arguments (before connecting), or files that cannot be written.
    AuthenticationError, BadRequestError, DeepgramAPIError
        The handshake was refused (401, 400, ...).
    StreamDataError, StreamTimeoutError, StreamClosedError
        The server closed the stream with an error.
    SpeakWarningError
        A ``Warning`` arrived and ``on_warning="raise"``.
    TransportError
        The socket could not be opened, or dropped.

    Examples
    --------
    >>> run = await dgtools.aspeak_stream(["Hello", " there.", " How can I", " help?"])  # doctest: +SKIP
    >>> run.flushes[["text", "ttfb_s", "audio_seconds"]]  # doctest: +SKIP
    """
    if text is not None and not isinstance(text, str | Iterable | AsyncIterable):
        raise ConfigError(f"text must be a str or an iterable of str, got {type(text).__name__}")
    if not (flush in ("sentence", "never") or (callable(flush) and not isinstance(flush, str))):
        raise ConfigError(
            f"flush={flush!r}: use 'sentence' (after each sentence), 'never' (only at the end), "
            "or a callable given the text since the last flush that returns whether to flush"
        )
    if on_warning not in ("warn", "raise", "ignore") and not callable(on_warning):
        raise ConfigError(f"on_warning={on_warning!r}: use 'warn', 'raise', 'ignore' or a callable")
    for name, fn in (("on_audio", on_audio), ("on_message", on_message)):
        if fn is not None and not callable(fn):
            raise ConfigError(f"{name}={fn!r} must be a callable (or None)")
    if isinstance(flush_timeout, bool) or not isinstance(flush_timeout, int | float) or not flush_timeout > 0:
        raise ConfigError(f"flush_timeout={flush_timeout!r} must be a positive number of seconds")
    if engine not in ("auto", "deepgram", "local"):
        raise ConfigError(
            f"engine={engine!r}: use 'deepgram' (the API, or the server at base_url), 'local' "
            "(dgtools serve on this machine, espeak-ng) or 'auto'"
        )
    query, encoding, sample_rate = _query(
        {"model": model, "encoding": encoding, "sample_rate": sample_rate, "speed": speed,
         "mip_opt_out": mip_opt_out},
    )  # fmt: skip
    out_path = None if out is None else Path(out)
    if out_path is not None and (out_path.suffix.lower() == ".wav") != (encoding == "linear16"):
        raise ConfigError(
            f"out={str(out_path)!r} with encoding={encoding!r}: a .wav file holds linear16 here, and "
            f"{encoding} audio is written raw; name the file {out_path.stem}{_SUFFIX[encoding]}"
        )
    if engine == "local":
        local = True
    elif engine == "deepgram":
        local = False
    else:
        from ..batch.settings import engine_choice

        local = (
            engine_choice("auto", api_key=api_key, access_token=access_token, base_url=base_url)[0]
            != "deepgram"
        )
    from ..options.speak import MAX_CHARACTERS

    settings = _Settings(
        text=text, policy=flush, query=query, encoding=encoding, sample_rate=sample_rate,
        store=Path(store), out=out_path, api_key=api_key, access_token=access_token, base_url=base_url,
        region=region, allow_insecure=allow_insecure, local=local,
        label=out_path.name if out_path is not None else "speak_stream",
        on_audio=on_audio, on_message=on_message, on_warning=on_warning, flush_timeout=float(flush_timeout),
        max_characters=int(MAX_CHARACTERS),
    )  # fmt: skip
    del api_key, access_token
    return SpeakStreamConnect(settings)


P = ParamSpec("P")
R = TypeVar("R")


def _awaited(fn: Callable[P, Awaitable[R]], returns: str) -> Callable[P, Coroutine[Any, Any, R]]:
    """A coroutine function awaiting what ``fn`` returns (for :func:`sync_twin`), its signature saying ``returns``."""

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await fn(*args, **kwargs)

    run.__signature__ = inspect.signature(fn).replace(return_annotation=returns)  # type: ignore[attr-defined]
    return run


_SPEAK_STREAM_DOC = (
    (aspeak_stream.__doc__ or "")
    .replace(
        "Speak text that arrives in pieces over WebSocket",
        "Speak text that arrives in pieces (synchronously; ``await dgtools.aspeak_stream`` in a running "
        "loop) over WebSocket",
    )
    .replace(
        "    SpeakStreamConnect\n        Awaitable (a :class:`SpeakStreamRun`) and an async context manager (a :class:`SpeakStream`).",
        "    SpeakStreamRun",
    )
)
speak_stream = sync_twin(
    _awaited(aspeak_stream, "SpeakStreamRun"), name="speak_stream", doc=_SPEAK_STREAM_DOC
)
