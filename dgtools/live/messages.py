"""What a live stream's messages say: which settle their audio, their text and span, and moving their times.

A final ``Results`` message (``is_final``) of ``/v1/listen``, or a ``TurnInfo`` whose event is
``EndOfTurn`` of Flux (``/v2/listen``), settles the audio it covers: :func:`is_final`,
:func:`final_text`, :func:`final_span`.  A socket opened again after a drop starts its clock at 0:
:func:`shift_times` moves a message's times to where its audio sits in the stream.
"""

from __future__ import annotations

import copy
from typing import Any, Final

__all__ = ["final_span", "final_text", "is_final", "shift_times"]


def is_final(message: dict[str, Any]) -> bool:
    """Whether a message settles its audio: a final ``Results``, or a Flux ``EndOfTurn``."""
    kind = message.get("type")
    return bool(
        (kind == "Results" and message.get("is_final"))
        or (kind == "TurnInfo" and message.get("event") == "EndOfTurn")
    )


def final_text(message: dict[str, Any]) -> str:
    """The transcript of a final (:func:`is_final`) message."""
    if message.get("type") == "TurnInfo":
        return str(message.get("transcript") or "")
    alternatives = (message.get("channel") or {}).get("alternatives") or [{}]
    return str(alternatives[0].get("transcript") or "")


def final_span(message: dict[str, Any]) -> tuple[float, float]:
    """``(start, end)`` of the audio a final (:func:`is_final`) message covers, in its socket's time."""
    if message.get("type") == "TurnInfo":
        return float(message.get("audio_window_start") or 0.0), float(message.get("audio_window_end") or 0.0)
    start = float(message.get("start") or 0.0)
    return start, start + float(message.get("duration") or 0.0)


def shift_times(message: dict[str, Any], offset: float) -> dict[str, Any]:
    """A copy of a streaming message with its times moved ``offset`` seconds later (a reconnected socket's).

    Examples
    --------
    >>> shift_times({"type": "UtteranceEnd", "last_word_end": 1.5, "channel": [0, 1]}, 10.0)
    {'type': 'UtteranceEnd', 'last_word_end': 11.5, 'channel': [0, 1]}
    """
    m = copy.deepcopy(message)
    kind = str(m.get("type"))
    for key in _TIMES.get(kind, ()):
        if isinstance(m.get(key), int | float):
            m[key] = round(m[key] + offset, 6)
    channel = m.get("channel")
    word_lists = [m.get("words")] if kind == "TurnInfo" else []
    if kind == "Results" and isinstance(channel, dict):
        word_lists = [alt.get("words") for alt in channel.get("alternatives") or ()]
    for words in word_lists:
        for w in words or ():
            for key in ("start", "end"):
                if isinstance(w.get(key), int | float):
                    w[key] = round(w[key] + offset, 6)
    return m


#: The times of each kind of message (other than word times) that a reconnect moves.
_TIMES: Final[dict[str, tuple[str, ...]]] = {
    "Results": ("start",),
    "SpeechStarted": ("timestamp",),
    "UtteranceEnd": ("last_word_end",),
    "Metadata": ("duration",),
    "TurnInfo": ("audio_window_start", "audio_window_end"),
}
