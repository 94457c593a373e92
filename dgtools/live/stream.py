"""One live stream: audio to WebSocket ``/v1/listen``, every message captured as it arrives.

:func:`astream` (and :func:`stream`, its synchronous twin, ``dgtools.stream``) opens a socket to
Deepgram (or ``dgtools serve``), sends the audio in chunks paced at ``realtime`` times real time,
sends ``CloseStream`` at the end (never an empty binary frame) and reads every message until the
server closes after its final ``Metadata``.  Each message is appended to
``STORE/streams/<started>-<request_id>.jsonl`` the moment it arrives (one message per line,
exactly as received, flushed line by line: a kill loses at most the message being written), and a
second file, ``<same name>.timing`` (JSON lines, named so that readers of ``.jsonl`` files pass it
by), holds for line *n* its receive time (wall clock and monotonic)
and the audio seconds sent by then.  ``dgtools.to_tables`` reads the capture (the ``messages``
table); :attr:`StreamRun.tables` does it for you.

A WAV file of 16-bit PCM is sent as its samples with ``encoding=linear16`` and its own
``sample_rate`` and ``channels``; any other file is sent as it is (its container tells Deepgram the
format), paced by its size over its duration.  Close frames other than a normal close raise a
:class:`~dgtools.live.errors.StreamClosedError` subclass; a refused handshake raises what a REST
call would (:class:`~dgtools.AuthenticationError` for 401, ...), with the fix in the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast

from .._aio import sync_twin
from ..exceptions import ConfigError
from .errors import close_error

if TYPE_CHECKING:
    from ..tables import Tables

__all__ = ["STREAM_ONLY", "Source", "StreamRun", "astream", "stream"]

#: What :func:`astream` streams: a file, raw audio bytes, or a sync or async iterator of byte chunks.
Source: TypeAlias = "str | os.PathLike[str] | bytes | Iterable[bytes] | AsyncIterable[bytes]"
#: What is sent: bytes (cut into frames), or the iterator's chunks as they come.
Audio: TypeAlias = "bytes | Iterable[bytes] | AsyncIterable[bytes]"

#: Options of the WebSocket ``/v1/listen`` that pre-recorded requests do not have, and their kinds.
STREAM_ONLY: Final[dict[str, tuple[type, ...]]] = {
    "interim_results": (bool,),
    "vad_events": (bool,),
    "no_delay": (bool,),
    "endpointing": (bool, int),
    "utterance_end_ms": (int,),
}
#: Bytes a second assumed when a file's duration cannot be read (about 256 kbit/s).
_NOMINAL_BYTES_PER_SECOND: Final = 32_000


@dataclass
class StreamRun:
    """What one stream sent and received.

    Attributes
    ----------
    source : str
        The audio, as given.
    capture : pathlib.Path
        The JSONL capture in the store (one message per line, as received).
    messages : list of dict
        Every message, in order.
    request_id : str or None
        The stream's ``dg-request-id``.
    audio_seconds : float
        Audio seconds sent.
    wall_seconds : float
        From opening the socket to its close.
    """

    source: str
    capture: Path
    messages: list[dict[str, Any]] = field(default_factory=list)
    request_id: str | None = None
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    def __repr__(self) -> str:
        finals = len(self.finals)
        return (
            f"<dgtools.StreamRun {self.source}: {len(self.messages)} message(s), {finals} final(s), "
            f"{self.audio_seconds:.2f} audio s in {self.wall_seconds:.2f} s>"
        )

    @property
    def finals(self) -> list[dict[str, Any]]:
        """The final ``Results`` messages (``is_final``), in order."""
        return [m for m in self.messages if m.get("type") == "Results" and m.get("is_final")]

    @property
    def transcript(self) -> str:
        """The finals' transcripts (first alternative), joined by spaces."""
        texts = (m["channel"]["alternatives"][0].get("transcript", "") for m in self.finals)
        return " ".join(t for t in texts if t)

    @property
    def tables(self) -> Tables:
        """The capture as dgtools tables (``messages`` and the rest; ``file_id`` is the capture's name)."""
        from ..tables import to_tables

        return to_tables(self.capture)


async def astream(
    source: Source,
    *,
    store: str | os.PathLike[str] = "dgtools-store",
    realtime: float = 1.0,
    chunk_ms: int = 100,
    api_key: str | None = None,
    access_token: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    allow_insecure: bool = False,
    keepalive: float = 5.0,
    on_message: Callable[[dict[str, Any]], object] | None = None,
    **options: Any,
) -> StreamRun:
    """Stream audio to WebSocket ``/v1/listen`` and capture every message (see the module docstring).

    Parameters
    ----------
    source
        An audio file; raw audio bytes; or a sync or async iterator of byte chunks (a microphone,
        a telephony feed: a sync one is read in a thread, so it may block).  Bytes and iterators
        need ``encoding=``, ``sample_rate=`` and, for more than one channel, ``channels=``.  While
        an iterator has nothing to give, a ``KeepAlive`` goes every ``keepalive`` seconds.
    store
        The folder whose ``streams/`` receives the capture.
    realtime
        Pace: 1.0 sends audio at real time (as a microphone would), 2.0 twice as fast, 0 as fast as
        the socket takes it (for tests and replays; Deepgram allows up to about 1.25x).
    chunk_ms
        Milliseconds of audio per binary frame (Deepgram suggests 20 to 250).
    api_key, access_token, base_url, region, allow_insecure
        As for :func:`dgtools.transcribe`.
    keepalive
        Seconds without a frame after which a ``KeepAlive`` is sent (Deepgram closes a socket
        silent for 10 s).
    on_message
        Called with each message as it arrives, after it is captured (e.g. to print finals).
    **options
        ``/v1/listen`` options (``model``, ``punctuate``, ``diarize``, ...) and the streaming ones
        (``interim_results``, ``endpointing``, ``utterance_end_ms``, ``vad_events``, ``no_delay``),
        checked before connecting.

    Returns
    -------
    StreamRun

    Raises
    ------
    ConfigError
        Bad arguments or options, or a file that cannot be read.
    AuthenticationError, BadRequestError, DeepgramAPIError
        The handshake was refused (401, 400, ...).
    StreamDataError, StreamTimeoutError, StreamClosedError
        The server closed the stream with an error.
    TransportError
        The socket could not be opened, or dropped.

    Examples
    --------
    >>> run = await dgtools.astream("data/audio/one_speaker.wav", realtime=0, interim_results=True)  # doctest: +SKIP
    """
    from .._extras import require
    from ..api import resolve_base_url, resolve_credentials

    if not isinstance(realtime, int | float) or isinstance(realtime, bool) or realtime < 0:
        raise ConfigError(
            f"realtime={realtime!r} must be a number, 0 or more (1.0: real time; 0: as fast as possible)"
        )
    if not isinstance(chunk_ms, int) or isinstance(chunk_ms, bool) or not 1 <= chunk_ms <= 10_000:
        raise ConfigError(f"chunk_ms={chunk_ms!r} must be a whole number of milliseconds, 1 to 10000")
    label, audio, declared, bytes_per_second = _audio_of(source, options)
    query = _query({**declared, **options})
    credentials = resolve_credentials(api_key, access_token)
    root = resolve_base_url(base_url, region, allow_insecure=allow_insecure)
    url = "ws" + root[len("http") :].rstrip("/") + "/v1/listen"
    del api_key, access_token
    websockets = require("websockets", extra="serve", feature="dgtools.stream")
    from websockets.asyncio.client import connect

    chunk = max(1, int(bytes_per_second * chunk_ms / 1000))
    started = datetime.now(UTC)
    folder = Path(store) / "streams"
    folder.mkdir(parents=True, exist_ok=True)
    run = StreamRun(source=label, capture=folder / "pending.jsonl")
    t0 = time.monotonic()
    try:
        socket = await connect(
            url + "?" + "&".join(f"{k}={_quote(v)}" for k, v in query),
            additional_headers={"Authorization": credentials.header()},
            max_size=None,
            open_timeout=30,
        )
    except websockets.exceptions.InvalidStatus as exc:
        from ..api.errors import error_from_response

        response = exc.response
        raise error_from_response(
            response.status_code, response.body or b"", headers=dict(response.headers), source=label,
            credentials=credentials,
        ) from None  # fmt: skip
    except (OSError, websockets.exceptions.InvalidHandshake, TimeoutError) as exc:
        from ..exceptions import TransportError

        raise TransportError(
            f"{label}: cannot open the stream to {url} ({type(exc).__name__}: {exc})"
        ) from None
    run.request_id = socket.response.headers.get("dg-request-id") if socket.response else None
    name = f"{started.strftime('%Y%m%dT%H%M%S')}-{run.request_id or uuid.uuid4()}"
    run.capture = folder / f"{name}.jsonl"
    sent = 0

    last = time.monotonic()  # when a frame was last sent

    async def keep_alive() -> None:
        nonlocal last
        while True:  # a KeepAlive whenever no frame went for `keepalive` seconds (a source that waits)
            await asyncio.sleep(max(0.01, last + keepalive - time.monotonic()))
            if time.monotonic() - last >= keepalive:
                await socket.send(json.dumps({"type": "KeepAlive"}))
                last = time.monotonic()

    async def send_audio() -> None:
        nonlocal sent, last
        pinger = asyncio.create_task(keep_alive())
        try:
            async for piece in _pieces(audio, chunk):
                if realtime > 0:  # pace: the audio sent so far may not run ahead of the clock
                    due = t0 + (sent + len(piece)) / bytes_per_second / realtime
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                await socket.send(piece)
                sent += len(piece)
                last = time.monotonic()
        finally:
            pinger.cancel()
        await socket.send(json.dumps({"type": "CloseStream"}))

    with (
        open(run.capture, "w", encoding="utf-8") as out,
        open(run.capture.with_suffix(".timing"), "w", encoding="utf-8") as timing,
    ):
        sender = asyncio.create_task(send_audio())
        try:
            async for frame in _frames(socket, websockets.exceptions.ConnectionClosed):
                now = time.monotonic()
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                out.write(text.rstrip("\n") + "\n")
                out.flush()
                timing.write(json.dumps({
                    "received_at": datetime.now(UTC).isoformat(), "monotonic": round(now - t0, 6),
                    "audio_sent_s": round(sent / bytes_per_second, 6),
                }) + "\n")  # fmt: skip
                timing.flush()
                try:
                    message = json.loads(text)
                except ValueError:
                    continue
                run.messages.append(message)
                if on_message is not None:
                    on_message(message)
        finally:
            if not sender.done():
                sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
    run.wall_seconds = time.monotonic() - t0
    run.audio_seconds = sent / bytes_per_second
    code, reason = socket.close_code, socket.close_reason or ""
    if code == 1006:  # no close frame: the connection dropped
        from ..exceptions import TransportError

        raise TransportError(
            f"{label}: the stream's connection dropped without a close frame after {run.audio_seconds:.2f} "
            f"audio s (request_id={run.request_id or 'unknown'}); its messages so far are in {run.capture}"
        )
    if code not in (1000, None):
        raise close_error(code, reason, source=label, request_id=run.request_id)
    return run


async def _frames(socket: Any, closed: type[BaseException]) -> AsyncIterator[str | bytes]:
    """The socket's frames until it closes, however it closes (the close code tells how)."""
    with contextlib.suppress(closed):
        async for frame in socket:
            yield frame


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _query(options: dict[str, Any]) -> list[tuple[str, str]]:
    """The handshake's query: streaming-only options checked here, the rest by :class:`ListenOptions`."""
    from ..options import ListenOptions

    pairs: list[tuple[str, str]] = []
    rest = {}
    for key, value in options.items():
        kinds = STREAM_ONLY.get(key)
        if kinds is None:
            rest[key] = value
            continue
        if isinstance(value, str):  # from the command line's --option NAME=VALUE
            value = {"true": True, "false": False}.get(
                value.lower(), int(value) if value.isdigit() else value
            )
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ConfigError(f"{key}={value!r}: expected {' or '.join(k.__name__ for k in kinds)}")
        pairs.append((key, str(value).lower() if isinstance(value, bool) else str(value)))
    return [*ListenOptions.from_kwargs(**rest).query_params(), *pairs]


async def _pieces(audio: Audio, chunk: int) -> AsyncIterator[bytes]:
    """The frames to send: ``chunk``-byte slices of bytes, or an iterator's own chunks (a sync one read in a thread)."""
    if isinstance(audio, bytes):
        for i in range(0, len(audio), chunk):
            yield audio[i : i + chunk]
    elif isinstance(audio, AsyncIterable):
        async for piece in audio:
            if piece:
                yield bytes(piece)
    else:
        it = iter(audio)
        end = b""
        while piece := await asyncio.to_thread(next, it, end):
            yield bytes(piece)


def _raw_format(options: dict[str, Any], what: str) -> float:
    """Bytes per audio second of raw audio described by ``encoding``, ``sample_rate`` and ``channels``."""
    encoding, rate = options.get("encoding"), options.get("sample_rate")
    if encoding is None or rate is None:
        raise ConfigError(f"{what} need encoding= and sample_rate= (and channels= for more than one)")
    width = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}.get(str(encoding))
    channels = int(options.get("channels", 1))
    return (width or 2) * int(rate) * channels


def _audio_of(source: Source, options: dict[str, Any]) -> tuple[str, Audio, dict[str, Any], float]:
    """``(label, what to send, options the audio implies, its bytes per audio second)``."""
    if isinstance(source, bytes):
        return "<bytes>", source, {}, _raw_format(options, "raw audio bytes")
    if not isinstance(source, str | os.PathLike):
        if not isinstance(source, AsyncIterable | Iterable):
            raise ConfigError(
                f"source={type(source).__name__}: give a file path, audio bytes, or an iterator of byte chunks"
            )
        chunks = cast("Iterable[bytes] | AsyncIterable[bytes]", source)
        return "<stream>", chunks, {}, _raw_format(options, "an iterator of audio chunks")
    label = os.fspath(source)
    try:
        data = Path(label).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read audio file {label!r}: {exc.strerror or exc}") from None
    pcm = _wav_pcm16(data)
    if pcm is not None and "encoding" not in options:
        rate, channels, samples = pcm
        declared = {
            "encoding": "linear16",
            "sample_rate": rate,
            "channels": channels,
        }
        return label, samples, declared, 2 * rate * channels
    return label, data, {}, _bytes_per_second(label, len(data))


def _wav_pcm16(data: bytes) -> tuple[int, int, bytes] | None:
    """``(sample_rate, channels, samples)`` of a 16-bit PCM WAV, else None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt " and size >= 16:
            fmt = struct.unpack_from("<HHIIHH", data, body)
        elif cid == b"data" and fmt is not None:
            tag, channels, rate, _, _, bits = fmt
            if tag not in (1, 0xFFFE) or bits != 16:
                return None
            end = min(len(data), body + size)
            return rate, channels, data[body:end]
        pos = body + size + (size & 1)
    return None


def _bytes_per_second(path: str, size: int) -> float:
    from ..audio import probe_duration

    try:
        seconds = probe_duration(path)
    except Exception:
        seconds = None
    return size / seconds if seconds else _NOMINAL_BYTES_PER_SECOND


_STREAM_DOC = (astream.__doc__ or "").replace(
    "Stream audio to WebSocket",
    "Stream audio (synchronously; ``await dgtools.astream`` in a running loop) to WebSocket",
)
stream = sync_twin(astream, name="stream", doc=_STREAM_DOC)
