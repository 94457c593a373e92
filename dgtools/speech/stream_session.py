"""The open text-to-speech socket: :class:`SpeakStream`, what ``async with dgtools.aspeak_stream(...)`` gives.

It sends ``Speak``, ``Flush``, ``Clear`` and ``Close`` in the order they were asked for (from the
event loop or another thread), feeds a text source by a flush policy within Deepgram's limit of 20
flushes in 60 seconds, writes the audio and captures the messages as they arrive, and settles each
``Flush`` and ``Clear`` with its answer (``Flushed``, ``Cleared``) into a row of
:attr:`~dgtools.speech.stream_run.SpeakStreamRun.flushes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
import warnings
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias, cast

from ..exceptions import ConfigError
from .stream_run import SpeakStreamRun, _Files, _Row

__all__ = ["FlushPolicy", "SpeakStream", "TextSource", "ends_sentence"]

#: What :func:`aspeak_stream` speaks: one string, or a sync or async iterable of pieces of text.
TextSource: TypeAlias = "str | Iterable[str] | AsyncIterable[str]"
#: When to send ``Flush``: ``"sentence"``, ``"never"``, or a callable of the text since the last flush.
FlushPolicy: TypeAlias = "Literal['sentence', 'never'] | Callable[[str], bool]"

_SENTENCE_END: Final = re.compile(r"[.!?…。！？][\"'”’)\]]*\s*$")

#: Deepgram takes at most this many Flush messages in this many seconds (then warns and ignores them).
_FLUSH_LIMIT: Final = (20, 60.0)


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends a sentence: ``.``, ``!``, ``?`` or ``…``, maybe closed by quotes or brackets.

    Examples
    --------
    >>> ends_sentence("Thank you."), ends_sentence('He said "no!" '), ends_sentence("Hello, ")
    (True, True, False)
    """
    return _SENTENCE_END.search(text) is not None


# --------------------------------------------------------------------------- the open stream


class SpeakStream:
    """An open ``/v1/speak`` socket: :func:`aspeak_stream` used as ``async with`` gives one.

    :meth:`speak`, :meth:`flush` and :meth:`clear` queue their message and return at once; they
    may be called from the stream's event loop (its tasks, the ``on_audio``/``on_message``
    callbacks) or from another thread.  Messages go out in the order they were queued.

    Attributes
    ----------
    run : SpeakStreamRun
        What was sent and received so far (complete once the stream has closed).

    Examples
    --------
    >>> async with dgtools.aspeak_stream(llm_tokens(), out="reply.wav") as tts:  # doctest: +SKIP
    ...     await user_interrupts.wait()
    ...     tts.clear(stop=True)  # drop the text not yet spoken, stop reading the tokens
    >>> tts.run.flushes  # doctest: +SKIP
    """

    def __init__(
        self,
        socket: Any,
        run: SpeakStreamRun,
        *,
        label: str,
        t0: float,
        files: _Files,
        on_audio: Callable[[bytes, SpeakStream], object] | None,
        on_message: Callable[[dict[str, Any], SpeakStream], object] | None,
        on_warning: str | Callable[[dict[str, Any]], object],
        max_characters: int,
        closed: type[BaseException],
    ) -> None:
        self.run = run
        self._socket = socket
        self._label = label
        self._t0 = t0
        self._audio = files.audio
        self._capture = files.capture
        self._timing = files.timing
        self._on_audio = on_audio
        self._on_message = on_message
        self._on_warning = on_warning
        self._max_characters = max_characters
        self._closed_exc = closed
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        # (what, JSON frame, its row): a Speak's row is the text it belongs to, a Flush's what it flushes
        self._outbox: deque[tuple[str, str, _Row | None]] = deque()
        self._wake = asyncio.Event()
        self._answered = asyncio.Event()
        self._pending: deque[_Row] = deque()  # Flush, Clear, Close rows queued or sent, not yet answered
        self._current: _Row | None = None  # the text spoken since the last Flush or Clear
        self._segment_bytes = 0  # audio since the last Flushed/Cleared
        self._segment_first: float | None = None
        self._flush_times: deque[float] = deque()
        self._error: Exception | None = None
        self._stopped = False  # clear(stop=True): read no more of the text
        self._close_queued = False
        self._feeder: asyncio.Task[None] | None = None
        self._finished = asyncio.Event()  # the socket is closed (the receiver ended)
        self._sender = asyncio.create_task(self._send_loop())
        self._receiver = asyncio.create_task(self._receive_loop())

    def __repr__(self) -> str:
        state = "closed" if self._finished.is_set() else "open"
        return f"<dgtools.SpeakStream {self._label} ({state}): {len(self.run.text)} characters spoken>"

    @property
    def closed(self) -> bool:
        """Whether the socket has closed."""
        return self._finished.is_set()

    @property
    def stopped(self) -> bool:
        """Whether :meth:`clear` was called with ``stop=True`` (the text is read no further)."""
        return self._stopped

    # ------------------------------------------------------------------ what the caller does

    def speak(self, text: str) -> None:
        """Queue ``text`` in ``Speak`` messages (of at most the character limit each)."""
        if not isinstance(text, str):
            raise ConfigError(f"speak() takes text (str), got {type(text).__name__}: {text!r:.60}")
        self._call(self._speak, text)

    def flush(self) -> None:
        """Queue a ``Flush``: the server speaks the text sent since the last one (nothing if there is none)."""
        self._call(self._flush, "flush")

    def clear(self, *, stop: bool = False) -> None:
        """Queue a ``Clear``: drop the text not yet spoken, and the audio the server has not sent yet.

        Text queued but not yet sent is dropped here; the server drops what it holds and answers
        ``Cleared``.  ``stop=True`` also stops reading the text given to :func:`aspeak_stream`
        (an interruption: the user spoke over the voice).  Text spoken after a ``Clear`` is
        spoken as usual.
        """
        self._call(self._clear, stop)

    async def wait_flushed(self, timeout: float | None = None) -> bool:
        """Wait until every ``Flush`` and ``Clear`` sent so far is answered (True), or ``timeout`` passes (False)."""
        try:
            async with asyncio.timeout(timeout):
                while self._unanswered() and not self._finished.is_set():
                    self._answered.clear()
                    await _first(self._answered.wait(), self._finished.wait())
        except TimeoutError:
            pass
        return not self._unanswered()

    # ------------------------------------------------------------------ on the loop

    def _unanswered(self) -> bool:
        return any(r.kind != "close" for r in self._pending)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        if threading.get_ident() == self._thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def _post(self, what: str, message: dict[str, Any], row: _Row | None) -> None:
        self._outbox.append((what, json.dumps(message, ensure_ascii=False), row))
        self._wake.set()

    def _speak(self, text: str) -> None:
        if not text or self._close_queued:
            return
        if self._current is None:
            self._current = _Row(kind="flush", text="", text_s=None)
        self._current.text += text
        self.run.text += text
        for piece in _pieces(text, self._max_characters):
            self._post("speak", {"type": "Speak", "text": piece}, self._current)

    def _take(self, kind: str) -> _Row | None:
        """The text spoken since the last Flush or Clear as a pending row of ``kind`` (None: nothing to say)."""
        row, self._current = self._current, None
        if row is None or not row.text.strip():
            return None
        row.kind = kind
        self._pending.append(row)
        self.run._rows.append(row)
        return row

    def _flush(self, kind: str) -> None:
        if self._close_queued or (row := self._take("flush")) is None:
            return
        self._flush_times.append(time.monotonic())
        self._post("flush", {"type": "Flush"}, row)

    def _may_flush(self) -> bool:
        """Whether a Flush now stays within Deepgram's limit (20 in 60 s)."""
        most, window = _FLUSH_LIMIT
        while self._flush_times and time.monotonic() - self._flush_times[0] >= window:
            self._flush_times.popleft()
        return len(self._flush_times) < most

    def _clear(self, stop: bool) -> None:
        if stop:
            self._stopped = True
            if self._feeder is not None:
                self._feeder.cancel()
        if self._close_queued:
            return
        dropped: list[_Row] = []
        kept: deque[tuple[str, str, _Row | None]] = deque()
        for what, frame, row in self._outbox:  # what has not gone yet goes no more
            if what == "flush" and row is not None:
                dropped.append(row)
                self._pending.remove(row)
                self.run._rows.remove(row)
            elif what != "speak":
                kept.append((what, frame, row))
        self._outbox = kept
        if self._current is not None:
            dropped.append(self._current)
            self._current = None
        times = [r.text_s for r in dropped if r.text_s is not None]
        row = _Row(kind="clear", text="".join(r.text for r in dropped), text_s=min(times, default=None))
        row.cleared = True
        self._pending.append(row)
        self.run._rows.append(row)
        self._post("clear", {"type": "Clear"}, row)

    def _queue_close(self, row: _Row | None = None) -> None:
        if not self._close_queued:
            self._close_queued = True
            self._post("close", {"type": "Close"}, row)

    async def _send_loop(self) -> None:
        with contextlib.suppress(self._closed_exc):
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._outbox:
                    what, frame, row = self._outbox.popleft()
                    now = self._now()
                    await self._socket.send(frame)
                    if row is None:
                        continue
                    if what != "speak":
                        row.sent_s = now
                    elif row.text_s is None:
                        row.text_s = now

    async def _receive_loop(self) -> None:
        try:
            async for frame in self._socket:
                now = self._now()
                if isinstance(frame, str):
                    self._on_text(frame, now)
                else:
                    self._on_bytes(bytes(frame), now)
        except self._closed_exc:
            pass
        except Exception as exc:  # a callback failed, or a warning became an error
            self._error = exc
            with contextlib.suppress(Exception):
                await self._socket.close()
        finally:
            self._finished.set()
            self._wake.set()

    def _on_bytes(self, chunk: bytes, now: float) -> None:
        if not chunk:
            return
        if self._audio is not None:
            self._audio.write(chunk)
        run = self.run
        if run.first_audio_seconds is None:
            run.first_audio_seconds = now
        run.audio_bytes += len(chunk)
        if self._segment_first is None:
            self._segment_first = now
        self._segment_bytes += len(chunk)
        if self._on_audio is not None:
            self._on_audio(chunk, self)

    def _on_text(self, text: str, now: float) -> None:
        self._capture.write(text.rstrip("\n") + "\n")
        self._capture.flush()
        self._timing.write(json.dumps({
            "received_at": datetime.now(UTC).isoformat(), "monotonic": round(now, 6),
            "audio_bytes": self.run.audio_bytes,
        }) + "\n")  # fmt: skip
        self._timing.flush()
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        self.run.messages.append(message)
        kind = message.get("type")
        if kind == "Metadata" and self.run.request_id is None and message.get("request_id"):
            self.run.request_id = str(message["request_id"])
        elif kind in ("Flushed", "Cleared"):
            self._answer("flush" if kind == "Flushed" else "clear", message.get("sequence_id"), now)
        elif kind == "Warning":
            self.run.warnings.append(message)
            if "flush" in f"{message.get('code')} {message.get('description')}".lower():
                self._refused()
            self._warn(message)
        if self._on_message is not None:
            self._on_message(message, self)

    def _answer(self, kind: str, sequence_id: Any, now: float) -> None:
        """Settle the oldest pending row of ``kind``; a Clear also settles the flushes it cut short."""
        pending = list(self._pending)
        target = next((r for r in pending if r.kind == kind), None)
        if target is None:
            return
        settled = [target]
        if kind == "clear":  # the flushes sent before this Clear and not answered: cut short
            settled = [r for r in pending[: pending.index(target)] if r.kind == "flush"] + [target]
            for r in settled:
                r.cleared = True
        first = settled[0]  # the audio since the last answer is the first one's
        first.audio_bytes, first.first_audio_s = self._segment_bytes, self._segment_first
        for r in settled:
            self._pending.remove(r)
        target.answered_s = now
        target.sequence_id = sequence_id if isinstance(sequence_id, int) else None
        self._segment_bytes, self._segment_first = 0, None
        self._answered.set()

    def _refused(self) -> None:
        """The server refused a Flush (over its limit) and keeps its text: it goes with the next Flush.

        Messages come back in order, so the refused Flush is the oldest one not answered yet; its
        row is taken back and its text put before the text spoken since.
        """
        row = next((r for r in self._pending if r.kind == "flush"), None)
        if row is None:
            return
        self._pending.remove(row)
        self.run._rows.remove(row)
        if self._current is not None:
            row.text += self._current.text
            row.text_s = row.text_s if row.text_s is not None else self._current.text_s
        row.sent_s = row.first_audio_s = row.answered_s = None
        self._current = row
        self._answered.set()

    def _warn(self, message: dict[str, Any]) -> None:
        from ..live.errors import SpeakWarning, SpeakWarningError, speak_warning_text

        if callable(self._on_warning):
            self._on_warning(message)
            return
        if self._on_warning == "ignore":
            return
        text = speak_warning_text(message, source=self._label, request_id=self.run.request_id)
        code, description = str(message.get("code") or ""), str(message.get("description") or "")
        if self._on_warning == "raise":
            raise SpeakWarningError(text, code=code, description=description, request_id=self.run.request_id)
        warnings.warn(
            SpeakWarning(text, code=code, description=description, request_id=self.run.request_id),
            stacklevel=2,
        )

    # ------------------------------------------------------------------ the text, and the end

    def _start_feed(self, text: TextSource, policy: FlushPolicy) -> None:
        self._feeder = asyncio.create_task(self._feed(text, policy))

    async def _feed(self, text: TextSource, policy: FlushPolicy) -> None:
        """Speak the pieces of ``text`` as they come, flushing by ``policy``."""
        async for piece in _read(text):
            if self._stopped or self._finished.is_set() or self._close_queued:
                break
            if not isinstance(piece, str):
                raise ConfigError(
                    f"{self._label}: the text gave a {type(piece).__name__} ({piece!r:.60}); give pieces of text (str)"
                )
            self._speak(piece)
            current = self._current
            if (
                current is not None
                and current.text.strip()
                and _wants_flush(policy, current.text)
                and self._may_flush()
            ):
                self._flush("flush")
            await asyncio.sleep(0)  # let the piece go before the next one is read

    async def _wait_feed(self) -> None:
        """Wait for the text to run out (or the socket to close: then stop reading it); raise its error."""
        feeder = self._feeder
        if feeder is None:
            return
        await _first(asyncio.wait([feeder]), self._finished.wait())
        if not feeder.done():
            feeder.cancel()
        await asyncio.wait([feeder])
        if not feeder.cancelled() and (error := feeder.exception()) is not None:
            raise error

    async def _finish(self, timeout: float) -> None:
        """The last Flush, its audio, Close, and the server's close (within ``timeout`` each)."""
        while not self._finished.is_set() and not self._close_queued:
            if self._current is not None and self._current.text.strip():
                while not self._may_flush() and not self._finished.is_set():  # Deepgram's limit: wait
                    await _first(asyncio.sleep(_FLUSH_LIMIT[1] / 20), self._finished.wait())
                self._flush("flush")
            answered = await self.wait_flushed(timeout)
            if not answered or self._current is None or not self._current.text.strip():
                self._queue_close()  # else: text spoken meanwhile (a callback's) gets its Flush first
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._finished.wait()
        if not self._finished.is_set():
            await self._abort()

    async def _abort(self) -> None:
        """Close the socket now."""
        if self._feeder is not None and not self._feeder.done():
            self._feeder.cancel()
            await asyncio.wait([self._feeder])
        with contextlib.suppress(Exception):
            await self._socket.close()
        await self._finished.wait()

    async def _end(self) -> None:
        """Stop the tasks, settle the rows, close the files (always runs)."""
        self._sender.cancel()
        await asyncio.wait([self._sender, self._receiver])
        if self._pending:  # unanswered at the close: the audio since the last answer is the first one's
            first = self._pending[0]
            first.audio_bytes, first.first_audio_s = self._segment_bytes, self._segment_first
            self._pending.clear()
        elif self._segment_bytes:  # audio after the last answer (the Close flushed it)
            row = _Row(kind="close", text="", text_s=None, audio_bytes=self._segment_bytes)
            row.first_audio_s = self._segment_first
            self.run._rows.append(row)
        self._segment_bytes, self._segment_first = 0, None
        if self._current is not None and self._current.text:  # spoken, never flushed: the socket closed first
            self._take("close")
            self._pending.clear()
        for f in (self._capture, self._timing, self._audio):
            f.close()

    def _raise_for_close(self) -> None:
        """Raise the stream's error: a callback's, a warning's, or the close frame's."""
        if self._error is not None:
            raise self._error
        code, reason = self._socket.close_code, self._socket.close_reason or ""
        if code in (1000, None):
            return
        rid = self.run.request_id
        if code == 1006:
            from ..exceptions import TransportError

            raise TransportError(
                f"{self._label}: the text-to-speech stream's connection dropped without a close frame "
                f"(request_id={rid or 'unknown'}) after {self.run.audio_seconds:.2f} audio s; the audio so far "
                f"is in {self.run.audio}, the messages in {self.run.capture}"
            )
        from ..live.errors import speak_close_error

        raise speak_close_error(code, reason, source=self._label, request_id=rid)


async def _first(*aws: Coroutine[Any, Any, Any]) -> None:
    """Wait for the first of ``aws`` to finish; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


def _wants_flush(policy: FlushPolicy, unflushed: str) -> bool:
    if policy == "sentence":
        return ends_sentence(unflushed)
    if policy == "never":
        return False
    assert callable(policy)
    return bool(policy(unflushed))


def _pieces(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut after whitespace where one is near."""
    out = []
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit) + 1 or limit
        out.append(text[:cut])
        text = text[cut:]
    if text:
        out.append(text)
    return out


async def _read(text: TextSource) -> AsyncIterator[str]:
    """The pieces of ``text``: a sync iterator other than a list or tuple is read in a thread (it may block)."""
    if isinstance(text, str):
        yield text
    elif isinstance(text, AsyncIterable):
        async for piece in text:
            yield piece
    elif isinstance(text, list | tuple):
        for piece in text:
            yield piece
    else:
        it = iter(text)
        while (item := await asyncio.to_thread(_next, it)) is not _END:
            yield cast(str, item)  # checked by the reader


_END: Final = object()


def _next(it: Iterator[str]) -> object:
    """The next piece of ``it``; :data:`_END` at the end."""
    return next(it, _END)
