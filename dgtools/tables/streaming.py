"""Streaming ``/v1/listen`` messages as tables: :func:`add_stream`.

A list of streaming messages (a ``.jsonl`` capture, or messages collected
from a WebSocket) is one stream, flattened as one response: every message
becomes a row of ``messages``; the final ``Results`` give ``alternatives``,
``words`` (numbered per channel and alternative across messages) and the
request's transcript; the ``Metadata`` message (or, without one, the
messages themselves) gives the ``requests`` row.

Internal to :mod:`dgtools.tables`: :class:`dgtools.tables.TableBuilder` calls
:func:`add_stream` for every stream it is given.
"""

from __future__ import annotations

from ..exceptions import ResponseFormatError
from . import wire as _wire
from ._columns import Columns
from ._rows import NO_ALT, add_alternative, add_request, first

__all__ = ["add_stream"]


def add_stream(c: Columns, msgs: list[_wire.Response], fid: str | None, path: str | None) -> None:
    """Append the rows of one stream (its decoded messages, in order) to ``c``.

    Raises
    ------
    ResponseFormatError
        The list is empty, holds a whole pre-recorded response, or a message
        that is not a ``/v1/listen`` streaming message (the key path names it).
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
    meta_msg = next((m for m in msgs if m.type == "Metadata"), None)
    first_meta = next((m.metadata for m in msgs if m.metadata is not None and m.metadata.request_id), None)
    rid = (meta_msg.request_id if meta_msg else None) or (first_meta.request_id if first_meta else None)
    f = c.file(fid, rid, path)
    tm = c.t["messages"]
    next_word: dict[tuple[int, int], int] = {}
    seen_channels: dict[int, None] = {}
    n_channels: int | None = None
    finals: dict[int, list[str]] = {}
    end_time = 0.0
    n_words = 0
    model_meta = next((m.metadata for m in msgs if m.metadata is not None and m.metadata.model_info), None)
    for seq, m in enumerate(msgs):
        typ = m.type or ("Results" if isinstance(m.channel, _wire.Channel) else None)
        if isinstance(m.channel, _wire.Channel):
            chan = m.channel_index
            ci = chan[0] if chan else 0
            if chan and len(chan) > 1:
                n_channels = max(n_channels or 0, chan[1])
            seen_channels[ci] = None
            alts = m.channel.alternatives or ()
            a0 = alts[0] if alts else NO_ALT
            if m.start is not None and m.duration is not None:
                end_time = max(end_time, m.start + m.duration)
            tm.row(
                f, seq=seq, type=typ, channel_index=chan, start=m.start, duration=m.duration,
                is_final=m.is_final, speech_final=m.speech_final, from_finalize=m.from_finalize,
                transcript=a0.transcript, confidence=a0.confidence, n_words=len(a0.words or ()),
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
        else:
            desc = m.description if m.description is not None else m.message
            tm.row(
                f, seq=seq, type=typ, channel_index=m.channel, start=m.start,
                duration=m.duration, timestamp=m.timestamp, last_word_end=m.last_word_end,
                description=None if desc is None else str(desc),
            )  # fmt: skip
    for ci in sorted(seen_channels):
        c.t["channels"].row(f, channel=ci)
    meta = _wire.Metadata(
        request_id=rid,
        sha256=meta_msg.sha256 if meta_msg else None,
        created=meta_msg.created if meta_msg else None,
        duration=first(meta_msg.duration if meta_msg else None, end_time if seen_channels else None),
        channels=first(meta_msg.channels if meta_msg else None, n_channels, len(seen_channels) or None),
        models=meta_msg.models if meta_msg else None,
        model_info=first(
            meta_msg.model_info if meta_msg else None, model_meta.model_info if model_meta else None
        ),
        model_uuid=model_meta.model_uuid if model_meta else None,
    )
    transcript = " ".join(finals[min(finals)]) if finals else None
    add_request(c, f, "streaming", meta, transcript, n_words, None)
