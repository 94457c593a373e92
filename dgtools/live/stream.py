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
import itertools
import json
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from .._aio import sync_twin
from ..exceptions import ConfigError
from .audio import Feed, FileAudio, Source, audio_of, frame_bytes
from .errors import close_error
from .messages import final_span, final_text, is_final, shift_times

if TYPE_CHECKING:
    from ..tables import Tables

__all__ = ["PRERECORDED_ONLY", "STREAM_ONLY", "Source", "StreamRun", "astream", "stream"]

#: Options of the WebSocket ``/v1/listen`` that pre-recorded requests do not have, and their kinds.
STREAM_ONLY: Final[dict[str, tuple[type, ...]]] = {
    "interim_results": (bool,),
    "vad_events": (bool,),
    "no_delay": (bool,),
    "endpointing": (bool, int),
    "utterance_end_ms": (int,),
}


#: ``/v1/listen`` options of pre-recorded requests that the live endpoint does not take (they are
#: not in Deepgram's AsyncAPI spec): audio intelligence, language detection, utterances, paragraphs.
PRERECORDED_ONLY: Final = frozenset({
    "custom_intent", "custom_intent_mode", "custom_topic", "custom_topic_mode", "detect_language",
    "detect_topics", "intents", "paragraphs", "sentiment", "summarize", "topics", "utt_split", "utterances",
})  # fmt: skip


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
        Every message, in order, its times in stream time: after a reconnect the new socket's
        times (which start again at 0) are moved to where its audio sits in the stream.  The
        capture keeps them exactly as received (its ``.timing`` file has each line's offset).
    request_id : str or None
        The first socket's ``dg-request-id``.
    request_ids : list of str
        Every socket's ``dg-request-id``, in order (more than one after reconnects).
    reconnects : int
        Sockets opened again after a drop.
    audio_seconds : float
        Audio seconds sent.
    wall_seconds : float
        From opening the socket to its close.
    """

    source: str
    capture: Path
    request_id: str | None = None
    request_ids: list[str] = field(default_factory=list)
    reconnects: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    # Each message as received and its socket's offset: parsed when asked for (:attr:`messages`),
    # so that a long stream does not hold thousands of dicts for the garbage collector to walk.
    _texts: list[str] = field(default_factory=list, repr=False, compare=False)
    _offsets: list[float] = field(default_factory=list, repr=False, compare=False)
    _parsed: list[dict[str, Any]] = field(default_factory=list, repr=False, compare=False)

    def __repr__(self) -> str:
        finals = len(self.finals)
        return (
            f"<dgtools.StreamRun {self.source}: {len(self.messages)} message(s), {finals} final(s), "
            f"{self.audio_seconds:.2f} audio s in {self.wall_seconds:.2f} s"
            + (f", {self.reconnects} reconnect(s)>" if self.reconnects else ">")
        )

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message (a JSON object), in order, its times in stream time (see the class docstring)."""
        if len(self._parsed) < len(self._texts):
            for text, offset in zip(
                self._texts[len(self._parsed) :], self._offsets[len(self._parsed) :], strict=True
            ):
                message = _decode(text)
                self._parsed.append(shift_times(message, offset) if offset else message)
        return self._parsed

    def _keep(self, text: str, offset: float) -> None:
        self._texts.append(text)
        self._offsets.append(offset)

    @property
    def finals(self) -> list[dict[str, Any]]:
        """The final ``Results`` messages (``is_final``), or Flux's ``EndOfTurn`` ``TurnInfo``, in order."""
        return [m for m in self.messages if is_final(m)]

    @property
    def transcript(self) -> str:
        """The finals' transcripts (first alternative), joined by spaces."""
        texts = (final_text(m) for m in self.finals)
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
    engine: str = "auto",
    whisper_model: str | None = None,
    keepalive: float = 5.0,
    reconnects: int = 3,
    resend: float = 60.0,
    container: bool = False,
    on_message: Callable[[dict[str, Any]], object] | None = None,
    progress: bool | None = None,
    **options: Any,
) -> StreamRun:
    """Stream audio to WebSocket ``/v1/listen`` and capture every message (see the module docstring).

    Parameters
    ----------
    source
        An audio file (decoded and sent as ``linear16`` at its own sample rate and channels;
        ``container=True`` sends its bytes as they are); raw audio bytes; or a sync or async iterator of byte chunks (a microphone,
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
    engine, whisper_model
        ``"deepgram"``, ``"whisper"`` or ``"local"``, or ``"auto"`` (the default: Deepgram when a
        key, token or server is given, else the best offline engine installed), as for
        :func:`dgtools.transcribe`.  An offline engine answers from ``dgtools serve`` started on
        127.0.0.1 for this stream (the ``serve`` extra), which transcribes each stretch of speech
        as it ends.
    keepalive
        Seconds without a frame after which a ``KeepAlive`` is sent (Deepgram closes a socket
        silent for 10 s).
    reconnects
        Sockets to open again when one drops (no close frame, or closed going away, restarting or
        with an internal error).  The new socket is sent again the audio that no final result
        covered, and its times (which start at 0) are moved to where that audio sits in the stream.
    resend
        At most this many seconds of audio not yet covered by a final are kept for a reconnect.
    container
        Send a file's bytes as they are (Deepgram reads the container) instead of decoding it.
        A container cannot be resumed mid-file, so such a stream does not reconnect.
    on_message
        Called with each message (times in stream time) as it arrives, after it is captured.
    progress
        A tqdm bar of the audio seconds sent, with the finals so far: ``None`` (default) where one
        can be drawn (a terminal, a notebook), ``True`` always, ``False`` never.
    **options
        ``/v1/listen`` options (``model``, ``punctuate``, ``diarize``, ...) and the streaming ones
        (``interim_results``, ``endpointing``, ``utterance_end_ms``, ``vad_events``, ``no_delay``),
        checked before connecting.  A Flux model (``model="flux-general-en"``) streams to
        ``/v2/listen`` instead, with Flux's options (``eot_threshold``, ``eager_eot_threshold``,
        ``eot_timeout_ms``, ``keyterm``, ...; :mod:`dgtools.options.flux`): a file is mixed down to
        one channel, no ``KeepAlive`` is sent (Flux has none), and its ``TurnInfo`` messages fill
        the ``turns_v2`` table; an ``EndOfTurn`` is its final.

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
        The socket could not be opened, or dropped more than ``reconnects`` times.

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
    if not isinstance(reconnects, int) or isinstance(reconnects, bool) or reconnects < 0:
        raise ConfigError(f"reconnects={reconnects!r} must be a whole number, 0 or more")
    if not isinstance(resend, int | float) or isinstance(resend, bool) or resend < 0:
        raise ConfigError(f"resend={resend!r} must be a number of seconds, 0 or more")
    from ..batch.settings import engine_choice

    chosen, _ = engine_choice(engine, api_key=api_key, access_token=access_token, base_url=base_url)
    if chosen != "deepgram":
        async with _offline_server(chosen, whisper_model) as (local_url, local_key):
            return await astream(
                source, store=store, realtime=realtime, chunk_ms=chunk_ms, api_key=local_key,
                base_url=local_url, engine="deepgram", keepalive=keepalive, reconnects=reconnects,
                resend=resend, container=container, on_message=on_message, progress=progress, **options,
            )  # fmt: skip
    from ..options.flux import is_flux

    flux = is_flux(options.get("model"))
    label, audio, declared, bytes_per_second = audio_of(source, options, container=container, mono=flux)
    raw = {**declared, **options}.get("encoding") is not None
    if not raw:
        reconnects = 0  # a container cannot be picked up mid-file
    if flux:
        from ..options.flux import flux_query

        query = flux_query(**{**declared, **options})
    else:
        query = _query({**declared, **options})
    credentials = resolve_credentials(api_key, access_token)
    root = resolve_base_url(base_url, region, allow_insecure=allow_insecure)
    url = "ws" + root[len("http") :].rstrip("/") + ("/v2/listen" if flux else "/v1/listen")
    del api_key, access_token
    websockets = require("websockets", extra="serve", feature="dgtools.stream")
    from websockets.asyncio.client import connect

    chunk = max(1, int(bytes_per_second * chunk_ms / 1000))
    started = datetime.now(UTC)
    folder = Path(store) / "streams"
    folder.mkdir(parents=True, exist_ok=True)
    run = StreamRun(source=label, capture=folder / "pending.jsonl")
    feed = Feed(audio, chunk, bytes_per_second, frame_bytes({**declared, **options}), resend)
    channels = int(query_value(query, "channels") or 1) if query_value(query, "multichannel") == "true" else 1
    if flux:
        keepalive = math.inf  # Flux takes audio, Configure and CloseStream: no KeepAlive
    target = url + "?" + "&".join(f"{k}={_quote(v)}" for k, v in query)
    bar = _bar(
        progress, len(audio) / bytes_per_second if isinstance(audio, bytes | FileAudio) else None, label
    )
    t0 = time.monotonic()
    out = timing = None
    try:
        for attempt in itertools.count():
            socket = await _open(websockets, connect, target, credentials, label, url)
            rid = socket.response.headers.get("dg-request-id") if socket.response else None
            if rid:
                run.request_ids.append(rid)
            if out is None or timing is None:
                run.request_id = rid
                name = f"{started.strftime('%Y%m%dT%H%M%S')}-{rid or uuid.uuid4()}"
                run.capture = folder / f"{name}.jsonl"
                out = open(run.capture, "w", encoding="utf-8")  # noqa: SIM115 - closed in finally
                timing = open(run.capture.with_suffix(".timing"), "w", encoding="utf-8")  # noqa: SIM115
            offset = feed.restart()
            await _converse(
                socket, feed, run, out, timing, t0=t0, realtime=realtime, keepalive=keepalive,
                socket_index=attempt, offset=offset, channels=channels, on_message=on_message,
                closed=websockets.exceptions.ConnectionClosed, bar=bar,
            )  # fmt: skip
            code, reason = socket.close_code, socket.close_reason or ""
            if code in (1000, None):
                break
            if not _droppable(code, reason) or attempt >= reconnects:
                run.wall_seconds = time.monotonic() - t0
                run.audio_seconds = feed.seconds
                if code == 1006:  # no close frame: the connection dropped
                    from ..exceptions import TransportError

                    retried = f" after {attempt} reconnect(s)" if attempt else ""
                    raise TransportError(
                        f"{label}: the stream's connection dropped without a close frame{retried} after "
                        f"{run.audio_seconds:.2f} audio s (request_id={rid or 'unknown'}); its messages so far "
                        f"are in {run.capture}. Raise reconnects= (now {reconnects}) to ride out more drops"
                    )
                raise close_error(code, reason, source=label, request_id=rid)
            run.reconnects += 1
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
    finally:
        for f in (out, timing):
            if f is not None:
                f.close()
        await feed.close()
        if bar is not None:
            bar.close()
    run.wall_seconds = time.monotonic() - t0
    run.audio_seconds = feed.seconds
    return run


def _bar(progress: bool | None, total: float | None, label: str) -> Any:
    """A tqdm bar of audio seconds sent (None when ``progress`` is False or nobody can see one)."""
    if progress is False:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total or None, unit="audio s", desc=f"streaming {Path(label).name}",
        disable=False if progress is True else None, dynamic_ncols=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} audio s [{elapsed}{postfix}]"
        if total else "{desc}: {n:.1f} audio s [{elapsed}{postfix}]",
    )  # fmt: skip
    if bar.disable:
        bar.close()
        return None
    return bar


def _offline_server(
    engine: str, whisper_model: str | None
) -> contextlib.AbstractAsyncContextManager[tuple[str, str]]:
    """``dgtools serve`` with an offline engine on 127.0.0.1 for one stream: ``(its URL, a key it takes)``."""
    from ..engines import make_engine
    from ..server.testing import private_server

    kwargs = {"model": whisper_model} if engine == "whisper" and whisper_model else {}
    return private_server(make_engine(engine, **kwargs))


#: Close codes after which a stream reconnects (within its budget): a dropped connection (1006),
#: a server going away or restarting (1001, 1012, 1013) and an internal error (1011 other than
#: ``NET-0001``, which says the audio stopped coming and would only happen again).
_RECONNECT_CODES: Final = frozenset({1001, 1006, 1011, 1012, 1013})


def _decode(text: str) -> Any:
    """One message's JSON (msgspec: about twice as fast as :func:`json.loads`); ValueError if it is none."""
    import msgspec

    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None


def _droppable(code: int, reason: str) -> bool:
    return code in _RECONNECT_CODES and not reason.startswith(("NET-", "DATA-"))


def query_value(query: list[tuple[str, str]], key: str) -> str | None:
    """The last value of ``key`` in a handshake query, or None."""
    return next((v for k, v in reversed(query) if k == key), None)


async def _open(websockets: Any, connect: Any, target: str, credentials: Any, label: str, url: str) -> Any:
    """Open one socket; a refused handshake raises what REST would, a failed one :class:`TransportError`."""
    try:
        # No permessage-deflate: PCM audio hardly compresses, and deflating every frame cost more CPU
        # than the rest of the client (bench/bench_stream.py).
        return await connect(
            target, additional_headers={"Authorization": credentials.header()}, max_size=None,
            open_timeout=30, compression=None,
        )  # fmt: skip
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


async def _converse(
    socket: Any,
    feed: Feed,
    run: StreamRun,
    out: IO[str],
    timing: IO[str],
    *,
    t0: float,
    realtime: float,
    keepalive: float,
    socket_index: int,
    offset: float,
    channels: int,
    on_message: Callable[[dict[str, Any]], object] | None,
    closed: type[BaseException],
    bar: Any = None,
) -> None:
    """Send the feed on one socket and capture what comes back until the socket closes."""
    last = time.monotonic()  # when a frame was last sent
    ends: dict[int, float] = {}  # channel -> stream time its last final ends at

    async def keep_alive() -> None:
        nonlocal last
        while (
            keepalive < math.inf
        ):  # a KeepAlive whenever no frame went for `keepalive` seconds (a source that waits)
            await asyncio.sleep(max(0.01, last + keepalive - time.monotonic()))
            if time.monotonic() - last >= keepalive:
                await socket.send(json.dumps({"type": "KeepAlive"}))
                last = time.monotonic()

    async def send(piece: bytes, position: int) -> None:
        nonlocal last
        await socket.send(piece)
        feed.position = position
        if bar is not None and (ahead := min(position / feed.rate, bar.total or math.inf) - bar.n) > 0:
            bar.update(ahead)
        last = time.monotonic()

    async def send_audio() -> None:
        pinger = asyncio.create_task(keep_alive())
        try:
            feed.position = feed.offset
            for again in feed.replay():  # what the last socket heard but no final covered: at once
                await send(again, feed.position + len(again))
            while (piece := await feed.next()) is not None:
                if realtime > 0:  # pace: the audio sent so far may not run ahead of the clock
                    await asyncio.sleep(max(0.0, t0 + feed.sent / feed.rate / realtime - time.monotonic()))
                await send(piece, feed.sent)
        finally:
            pinger.cancel()
        await socket.send(json.dumps({"type": "CloseStream"}))

    sender = asyncio.create_task(send_audio())
    sender.add_done_callback(
        lambda t: t.cancelled() or t.exception() is None or asyncio.ensure_future(socket.close())
    )
    try:
        async for frame in _frames(socket, closed):
            now = time.monotonic()
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            out.write(text.rstrip("\n") + "\n")
            out.flush()
            timing.write(
                f'{{"received_at": "{datetime.now(UTC).isoformat()}", "monotonic": {now - t0:.6f}, '
                f'"audio_sent_s": {feed.position / feed.rate:.6f}, "socket": {socket_index}, '
                f'"offset_s": {offset:.6f}}}\n'
            )
            timing.flush()
            try:
                message = _decode(text)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            run._keep(text, offset)
            if offset:
                message = shift_times(message, offset)
            if is_final(message):
                index = message.get("channel_index") or [0]
                ends[int(index[0])] = final_span(message)[1]
                feed.ack(min(ends.get(c, 0.0) for c in range(channels)))
                if bar is not None:
                    bar.finals = getattr(bar, "finals", 0) + 1
                    bar.set_postfix(finals=bar.finals, refresh=False)
            if on_message is not None:
                on_message(message)
    finally:
        if not sender.done():
            sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, closed):
            await sender


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
    for key, value in rest.items():
        if key in PRERECORDED_ONLY:
            raise ConfigError(
                f"{key}={value!r} is an option of pre-recorded requests only: live /v1/listen does not take "
                "it (Deepgram's streaming spec); leave it out, or transcribe the file with dgtools.transcribe"
            )
    return [*ListenOptions.from_kwargs(**rest).query_params(), *pairs]


_STREAM_DOC = (astream.__doc__ or "").replace(
    "Stream audio to WebSocket",
    "Stream audio (synchronously; ``await dgtools.astream`` in a running loop) to WebSocket",
)
stream = sync_twin(astream, name="stream", doc=_STREAM_DOC)
