"""Deepgram's WebSocket close frames as errors that say what to do.

Deepgram closes a live stream with ``1008 DATA-0000`` when the bytes cannot be the audio the
options declare, and ``1011 NET-0001`` when no audio arrived within its timeout (10 s); see
https://developers.deepgram.com/docs/stt-troubleshooting-websocket-data-and-net-errors.  A
refused handshake is an HTTP answer and maps like a REST error
(:func:`dgtools.api.errors.error_from_response`).

Examples
--------
>>> e = close_error(1008, "DATA-0000", source="call.raw", request_id="r1")
>>> type(e).__name__, e.code
('StreamDataError', 1008)
"""

from __future__ import annotations

from ..exceptions import DGToolsError

__all__ = ["StreamClosedError", "StreamDataError", "StreamTimeoutError", "close_error"]


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
