"""Streaming ``/v1/listen`` and ``/v2/listen`` (Flux) messages as tables: :func:`add_stream`.

A list of streaming messages (a ``.jsonl`` capture, or messages collected
from a WebSocket) is one stream, flattened as one response: every message
becomes a row of ``messages``; the final ``Results`` give ``alternatives``,
``words`` (numbered per channel and alternative across messages), a row of
``latency`` each, and the request's transcript; the ``Metadata`` message (or,
without one, the messages themselves) gives the ``requests`` row.

Flux (``/v2/listen``): every ``TurnInfo`` message is a row of ``turns_v2``;
the ``EndOfTurn`` ones, whose words are final, also give ``alternatives`` and
``words`` (channel 0, alternative 0), as a final ``Results`` does.  The other
Flux messages (``Connected``, ``ConfigureSuccess``, ``ConfigureFailure``,
``Error``) are rows of ``messages`` only.  Its ``requests`` row has kind
``streaming_v2``, the last ``audio_window_end`` as its duration and the
``EndOfTurn`` transcripts as its transcript.

Timing: a stream read from a ``.jsonl`` file with a sibling ``.timing`` file
(a :class:`~dgtools.tables.wire.Stream` with ``timing``) gives each message
its line's ``received_at``, ``monotonic_s``, ``audio_sent_s`` and ``socket``;
a capture with more messages than timing lines (a kill loses the last line of
either file) leaves the timing columns of the messages past the last line
null.  ``offset_s``, the stream time of a reconnected socket's time 0, is
added to every time of that socket's messages (and carried on past the last
timing line), so times grow across sockets; ``requests.duration`` is then
``offset_s + duration`` of the last ``Metadata`` message.

Latency follows Deepgram's guide to measuring streaming latency: the audio
cursor (``audio_sent_s``, audio sent when the message arrived) minus the
transcript cursor.  In ``messages`` (every ``Results`` message) the transcript
cursor is the end of the message's audio, ``start + duration``; in the
``latency`` table (final results) it is the end of the message's last word,
or ``start + duration`` when it has none.

Internal to :mod:`dgtools.tables`: :class:`dgtools.tables.TableBuilder` calls
:func:`add_stream` for every stream it is given.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..exceptions import ResponseFormatError
from . import wire as _wire
from ._columns import Columns
from ._rows import NO_ALT, add_alternative, add_request, first

__all__ = ["add_stream"]

#: Flux message types that /v1/listen does not have: a stream holding one is a /v2/listen stream.
_FLUX_ONLY = _wire.FLUX_TYPES - _wire.V1_TYPES


def add_stream(c: Columns, msgs: list[_wire.Response], fid: str | None, path: str | None) -> None:
    """Append the rows of one stream (its decoded messages, in order) to ``c``.

    ``msgs`` may be a :class:`~dgtools.tables.wire.Stream`, whose ``timing``
    lines (line *n* for message *n*) fill the timing columns.

    Raises
    ------
    ResponseFormatError
        The list is empty, holds a whole pre-recorded response, or a message
        that is not a streaming message (the key path names it).
    """
    if not msgs:
        raise ResponseFormatError(
            "holds no streaming messages (an empty list or .jsonl file); expected a Deepgram response",
            path=path,
        )
    for i, m in enumerate(msgs):
        if m.results is not None:
            raise ResponseFormatError(
                f"message [{i}] is a whole pre-recorded response inside a list of streaming messages; "
                "pass responses as separate files, or a list that holds only responses",
                path=path, key_path=f"[{i}]",
            )  # fmt: skip
        if not _wire.is_stream_message(m):
            raise _wire.not_a_response(m, path, key_prefix=f"[{i}]")
    timing = msgs.timing if isinstance(msgs, _wire.Stream) else None
    metas = [m for m in msgs if m.type == "Metadata"]
    meta_msg = metas[0] if metas else None
    first_meta = next((m.metadata for m in msgs if m.metadata is not None and m.metadata.request_id), None)
    rid = first(
        meta_msg.request_id if meta_msg else None,
        first_meta.request_id if first_meta else None,
        next((m.request_id for m in msgs if m.request_id), None),  # Flux: on every message
    )
    f = c.file(fid, rid, path)
    tm, tl, tt = c.t["messages"], c.t["latency"], c.t["turns_v2"]
    next_word: dict[tuple[int, int], int] = {}
    seen_channels: dict[int, None] = {}
    n_channels: int | None = None
    finals: dict[int, list[str]] = {}
    end_time = 0.0
    n_words = 0
    flux = False
    offset = 0.0
    duration: float | None = None  # offset_s + duration of the last Metadata message
    model_meta = next((m.metadata for m in msgs if m.metadata is not None and m.metadata.model_info), None)
    for seq, m in enumerate(msgs):
        line = timing[seq] if timing is not None and seq < len(timing) else None
        if line is not None:
            offset = line.offset_s or 0.0
        at: dict[str, Any] = (
            {}
            if line is None
            else {
                "received_at": line.received_at,
                "monotonic_s": line.monotonic,
                "audio_sent_s": line.audio_sent_s,
                "socket": line.socket if line.socket is not None else 0,
            }
        )
        sent = line.audio_sent_s if line is not None else None
        typ = m.type or ("Results" if isinstance(m.channel, _wire.Channel) else None)
        if isinstance(m.channel, _wire.Channel):
            chan = m.channel_index
            ci = chan[0] if chan else 0
            if chan and len(chan) > 1:
                n_channels = max(n_channels or 0, chan[1])
            seen_channels[ci] = None
            alts = m.channel.alternatives or ()
            if offset:
                alts = [_shift_alternative(a, offset) for a in alts]
            a0 = alts[0] if alts else NO_ALT
            start = _shift(m.start, offset)
            end = start + m.duration if start is not None and m.duration is not None else None
            if end is not None:
                end_time = max(end_time, end)
            tm.row(
                f, seq=seq, type=typ, channel_index=chan, start=start, duration=m.duration,
                is_final=m.is_final, speech_final=m.speech_final, from_finalize=m.from_finalize,
                transcript=a0.transcript, confidence=a0.confidence, n_words=len(a0.words or ()),
                latency=None if sent is None or end is None else sent - end, **at,
            )  # fmt: skip
            if m.is_final:
                for ai, alt in enumerate(alts):
                    base = next_word.get((ci, ai), 0)
                    ws = add_alternative(c, f, ci, ai, alt, seq, base)
                    next_word[(ci, ai)] = base + len(ws)
                    if ai == 0:
                        n_words += len(ws)
                        if alt.transcript:
                            finals.setdefault(ci, []).append(alt.transcript)
                words0 = a0.words or ()
                last_end = words0[-1].end if words0 else None
                cursor = last_end if words0 else end
                tl.row(
                    f, seq=seq, channel=ci, start=start, end=end, last_word_end=last_end, n_words=len(words0),
                    speech_final=m.speech_final, from_finalize=m.from_finalize,
                    received_at=at.get("received_at"), audio_sent_s=sent,
                    latency=None if sent is None or cursor is None else sent - cursor,
                )  # fmt: skip
        elif typ == "TurnInfo":
            flux = True
            seen_channels[0] = None
            ws = m.words or []
            if offset:
                ws = _shift_words(ws, offset)
            w_end = _shift(m.audio_window_end, offset)
            if w_end is not None:
                end_time = max(end_time, w_end)
            tm.row(
                f,
                seq=seq,
                type=typ,
                transcript=m.transcript,
                n_words=len(ws),
                sequence_id=m.sequence_id,
                **at,
            )
            tt.row(
                f, seq=seq, event=m.event, turn_index=m.turn_index,
                audio_window_start=_shift(m.audio_window_start, offset), audio_window_end=w_end,
                transcript=m.transcript, end_of_turn_confidence=m.end_of_turn_confidence, n_words=len(ws),
                languages=m.languages, received_at=at.get("received_at"), audio_sent_s=sent,
            )  # fmt: skip
            if m.event == "EndOfTurn":
                base = next_word.get((0, 0), 0)
                alt = _wire.Alternative(transcript=m.transcript, words=ws, languages=m.languages)
                next_word[(0, 0)] = base + len(add_alternative(c, f, 0, 0, alt, seq, base))
                n_words += len(ws)
                if m.transcript:
                    finals.setdefault(0, []).append(m.transcript)
        else:
            flux = flux or typ in _FLUX_ONLY or m.sequence_id is not None  # Flux's Error has a sequence_id
            if typ == "Metadata" and m.duration is not None:
                duration = offset + m.duration
            desc = m.description if m.description is not None else m.message
            tm.row(
                f, seq=seq, type=typ, channel_index=m.channel, start=_shift(m.start, offset),
                duration=m.duration, timestamp=_shift(m.timestamp, offset),
                last_word_end=_shift(m.last_word_end, offset),
                description=None if desc is None else str(desc), sequence_id=m.sequence_id,
                code=None if m.code is None else str(m.code), **at,
            )  # fmt: skip
    for ci in sorted(seen_channels):
        c.t["channels"].row(f, channel=ci)
    meta = _wire.Metadata(
        request_id=rid,
        sha256=meta_msg.sha256 if meta_msg else None,
        created=meta_msg.created if meta_msg else None,
        duration=first(duration, end_time if seen_channels else None),
        channels=first(meta_msg.channels if meta_msg else None, n_channels, len(seen_channels) or None),
        models=meta_msg.models if meta_msg else None,
        model_info=first(
            meta_msg.model_info if meta_msg else None, model_meta.model_info if model_meta else None
        ),
        model_uuid=model_meta.model_uuid if model_meta else None,
    )
    transcript = " ".join(finals[min(finals)]) if finals else None
    add_request(c, f, "streaming_v2" if flux else "streaming", meta, transcript, n_words, None)


def _shift(t: float | None, offset: float) -> float | None:
    return None if t is None else t + offset


def _shift_words(ws: list[_wire.Word], offset: float) -> list[_wire.Word]:
    """Copies of ``ws`` with ``offset`` added to their times."""
    replace = msgspec.structs.replace
    return [replace(w, start=_shift(w.start, offset), end=_shift(w.end, offset)) for w in ws]


def _shift_alternative(alt: _wire.Alternative, offset: float) -> _wire.Alternative:
    """A copy of ``alt`` whose words have ``offset`` added to their times."""
    if not alt.words:
        return alt
    return msgspec.structs.replace(alt, words=_shift_words(alt.words, offset))
