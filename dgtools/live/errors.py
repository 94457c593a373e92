"""Deepgram's WebSocket close frames as errors that say what to do.

Deepgram closes a live stream with ``1008 DATA-0000`` when the bytes cannot be the audio the
options declare, and ``1011 NET-0001`` when no audio arrived within its timeout (10 s); see
https://developers.deepgram.com/docs/stt-troubleshooting-websocket-data-and-net-errors.  A
refused handshake is an HTTP answer and maps like a REST error
(:func:`dgtools.api.errors.error_from_response`).

The text-to-speech socket (``/v1/speak``) closes with the same families of codes, about text
instead of audio (``1003 MESSAGE-*``, ``1008 DATA-*``, ``1009 BIG-*``, ``1011 NET-*``; see
https://developers.deepgram.com/docs/tts-troubleshooting-websocket-net-and-data-errors):
:func:`speak_close_error` maps them.  Its ``Warning`` messages (say, more than 20 ``Flush``
messages in 60 s) leave the socket open: they become :class:`SpeakWarning` (a Python warning), or
:class:`SpeakWarningError` when the caller asks for warnings to stop the stream.

Examples
--------
>>> e = close_error(1008, "DATA-0000", source="call.raw", request_id="r1")
>>> type(e).__name__, e.code
('StreamDataError', 1008)
"""

from __future__ import annotations

from typing import Any

from ..exceptions import DGToolsError, DGToolsWarning

__all__ = [
    "SpeakWarning",
    "SpeakWarningError",
    "StreamClosedError",
    "StreamDataError",
    "StreamTimeoutError",
    "close_error",
    "speak_close_error",
    "speak_warning_text",
]


class StreamClosedError(DGToolsError):
    """The server closed a live stream with an error code.

    Attributes
    ----------
    code : int
        The WebSocket close code.
    reason : str
        The close frame's reason (Deepgram's ``DATA-0000``, ``NET-0001``, ...).
    request_id : str or None
        The stream's ``dg-request-id``.
    """

    def __init__(self, message: str, *, code: int, reason: str, request_id: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.request_id = request_id


class StreamDataError(StreamClosedError):
    """``1008 DATA-0000``: the bytes sent cannot be the audio the options declare."""


class StreamTimeoutError(StreamClosedError):
    """``1011 NET-0001``: the server heard no audio (nor KeepAlive) within its timeout."""


def close_error(code: int, reason: str, *, source: str, request_id: str | None) -> StreamClosedError:
    """The error for a close frame other than a normal close, naming ``source`` and the fix."""
    rid = f"request_id={request_id or 'unknown'}"
    if code == 1008 or reason.startswith("DATA-"):
        return StreamDataError(
            f"{source}: the server closed the stream ({code} {reason}, {rid}): the bytes sent are not audio "
            "of the declared format. Send raw PCM with encoding=linear16, sample_rate= and channels= set to "
            "the audio's own, or send the file's container (WAV, FLAC, ...) without encoding",
            code=code,
            reason=reason,
            request_id=request_id,
        )
    if code == 1011 and reason.startswith("NET-"):
        return StreamTimeoutError(
            f"{source}: the server closed the stream ({code} {reason}, {rid}): no audio arrived within its "
            "timeout (Deepgram's is 10 s). Send audio continuously, or KeepAlive messages while there is none",
            code=code,
            reason=reason,
            request_id=request_id,
        )
    return StreamClosedError(
        f"{source}: the server closed the stream ({code} {reason or 'no reason given'}, {rid})",
        code=code,
        reason=reason,
        request_id=request_id,
    )


def speak_close_error(code: int, reason: str, *, source: str, request_id: str | None) -> StreamClosedError:
    """The error for a ``/v1/speak`` close frame other than a normal close, naming ``source`` and the fix.

    Examples
    --------
    >>> e = speak_close_error(1009, "BIG-0000", source="reply", request_id="r1")
    >>> type(e).__name__, e.reason
    ('StreamDataError', 'BIG-0000')
    >>> type(speak_close_error(1011, "NET-0001", source="reply", request_id=None)).__name__
    'StreamTimeoutError'
    """
    rid = f"request_id={request_id or 'unknown'}"
    head = (
        f"{source}: the server closed the text-to-speech stream ({code} {reason or 'no reason given'}, {rid})"
    )
    kwargs: dict[str, Any] = {"code": code, "reason": reason, "request_id": request_id}
    if code == 1009 or reason.startswith("BIG-"):
        return StreamDataError(
            f"{head}: a message was too large. Send text in Speak messages of at most 2000 characters "
            "(dgtools splits longer pieces) and Flush more often (flush='sentence')",
            **kwargs,
        )
    if code in (1003, 1008) or reason.startswith(("DATA-", "MESSAGE-")):
        return StreamDataError(
            f"{head}: the server could not read a message sent. Send only JSON text frames "
            '{"type": "Speak", "text": "..."}, Flush, Clear and Close, with plain text (no SSML, no binary frames)',
            **kwargs,
        )
    if code == 1011 and reason == "NET-0001":
        return StreamTimeoutError(
            f"{head}: no message arrived within the server's timeout. Send text as it comes and "
            "Close (leave the async with block) when there is no more",
            **kwargs,
        )
    if code == 1011:
        return StreamClosedError(f"{head}: the server failed while speaking; speak the text again", **kwargs)
    return StreamClosedError(head, **kwargs)


def speak_warning_text(message: dict[str, Any], *, source: str, request_id: str | None) -> str:
    """What a ``/v1/speak`` ``Warning`` message says, with what to do about the ones dgtools knows.

    Examples
    --------
    >>> speak_warning_text({"type": "Warning", "code": "FLUSH_LIMIT", "description": "Too many flushes"},
    ...                    source="reply", request_id="r1")  # doctest: +ELLIPSIS
    "reply: the server warned (FLUSH_LIMIT, request_id=r1): Too many flushes. Deepgram takes at most 20 Flush ..."
    """
    code = str(message.get("code") or "unknown")
    description = str(message.get("description") or "").rstrip(".")
    text = f"{source}: the server warned ({code}, request_id={request_id or 'unknown'}): {description or 'no description'}."
    if "flush" in f"{code} {description}".lower():
        text += (
            " Deepgram takes at most 20 Flush messages in 60 s: flush less often (flush='never', or a "
            "callable that flushes longer stretches of text)"
        )
    return text


class SpeakWarning(DGToolsWarning):
    """A ``Warning`` message of the text-to-speech socket (``/v1/speak``): the stream goes on.

    Attributes
    ----------
    code : str
        The warning's ``code``.
    description : str
        The warning's ``description``.
    request_id : str or None
        The stream's ``dg-request-id``.
    """

    def __init__(self, message: str, *, code: str, description: str, request_id: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.description = description
        self.request_id = request_id


class SpeakWarningError(DGToolsError):
    """A ``Warning`` message of ``/v1/speak`` when the caller asked warnings to stop the stream (``on_warning="raise"``).

    Attributes
    ----------
    code : str
        The warning's ``code``.
    description : str
        The warning's ``description``.
    request_id : str or None
        The stream's ``dg-request-id``.
    """

    def __init__(self, message: str, *, code: str, description: str, request_id: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.description = description
        self.request_id = request_id
