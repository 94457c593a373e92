"""Is this body a whole pre-recorded ``/v1/listen`` response?  :func:`validate_response`.

The batch calls it on every answer before storing it, so that a 200 whose
body is not a usable answer (truncated, ``{"results": null}``, a value of the
wrong type, an end before its start) is retried instead of being stored and
poisoning every later build.  It decodes the body with the msgspec structs of
:mod:`dgtools.tables.wire`, the very decoder the tables use, and runs the
same value checks (:mod:`dgtools.tables.checks`), so an answer it accepts is
one :func:`dgtools.to_tables` flattens.  It costs about 5 us on a 600 B answer
and 0.7 ms on a 470 KB one (a diarized call with utterances), 95% of it the typed
decode; ``check_body`` costs about 1 us but reads nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import ResponseFormatError
from . import wire as _wire
from ._rows import parse_created
from .checks import check_times
from .read import decode_bytes

__all__ = ["ResponseInfo", "validate_response"]


@dataclass(frozen=True, slots=True)
class ResponseInfo:
    """What :func:`validate_response` reads from an answer for the batch.

    Attributes
    ----------
    request_id : str or None
        ``metadata.request_id``.
    sha256 : str or None
        ``metadata.sha256``: the hash of the audio Deepgram received.
    duration : float or None
        ``metadata.duration``, in seconds.
    channels : int
        ``metadata.channels``, else the number of ``results.channels``.
    """

    request_id: str | None
    sha256: str | None
    duration: float | None
    channels: int


def validate_response(body: bytes | bytearray | memoryview, *, source: str | None = None) -> ResponseInfo:
    """Check that ``body`` is a whole pre-recorded ``/v1/listen`` response; return what the batch needs.

    The body must be one JSON object with a ``metadata`` object and a
    ``results`` object whose ``channels`` is a list of channel objects, each
    with a list of ``alternatives``; every field dgtools reads must have its
    type (a string ``word``, numbers for times and confidences, ...) and a
    possible value: no negative time, no ``end`` before its ``start``, no
    confidence outside [0, 1], no negative speaker.  Unknown fields are
    allowed, as are integers where floats are expected.

    Parameters
    ----------
    body : bytes, bytearray or memoryview
        The body of a 200 answer, as received (a UTF-8 byte order mark is allowed).
    source : str, optional
        The audio file (or URL) it answers, named in errors.

    Returns
    -------
    ResponseInfo

    Raises
    ------
    ResponseFormatError
        Anything else: not JSON (a truncated body), not an object, a
        streaming message, a channel fragment, a ``/v1/read`` answer, an
        error body, a missing or mistyped field, an impossible value, JSON
        nested too deeply.  ``.path`` is ``source``; ``.key_path`` names the
        field, and the message the value.

    Examples
    --------
    >>> from dgtools.tables import validate_response
    >>> body = (b'{"metadata": {"request_id": "r1", "duration": 2.5, "channels": 1},'
    ...         b' "results": {"channels": [{"alternatives": [{"transcript": "hi", "words": ['
    ...         b'{"word": "hi", "start": 0.1, "end": 0.4, "confidence": 0.9}]}]}]}}')
    >>> validate_response(body)
    ResponseInfo(request_id='r1', sha256=None, duration=2.5, channels=1)
    >>> validate_response(b'{"metadata": {}, "results": null}', source="calls/a.wav")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ResponseFormatError: calls/a.wav: is not a whole pre-recorded /v1/listen response: ...
    >>> validate_response(body.replace(b'"end": 0.4', b'"end": -0.4'))
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ResponseFormatError: results.channels[0].alternatives[0].words[0].end is -0.4: ...
    """
    try:
        r = decode_bytes(body, source, single=True)
        assert isinstance(r, _wire.Response)
        channels = _whole(r, source)
        check_times(r)
        meta = r.metadata
        assert meta is not None
        parse_created(meta.created)
    except ResponseFormatError as exc:
        if exc.path is None and source is not None:
            raise ResponseFormatError(str(exc), path=source, key_path=exc.key_path) from None
        raise
    n = meta.channels
    return ResponseInfo(
        request_id=meta.request_id,
        sha256=meta.sha256,
        duration=meta.duration,
        channels=int(n) if n is not None else len(channels),
    )


def _whole(r: _wire.Response, source: str | None) -> list[_wire.Channel]:
    """``results.channels`` of a whole pre-recorded response; raises for anything else."""
    if r.err_code is not None or r.err_msg is not None or (r.category is not None and r.message is not None):
        raise _wire.not_a_response(r, source)
    for key, value in (("metadata", r.metadata), ("results", r.results)):
        if value is None:
            what = (
                f"; it is a {'/v2/listen (Flux)' if r.type in _wire.FLUX_TYPES - _wire.V1_TYPES else '/v1/listen'} "
                "streaming message"
                if _wire.is_stream_message(r)
                else "; it is a channel fragment"
                if r.alternatives is not None or r.search is not None
                else ""
            )
            raise ResponseFormatError(
                f"is not a whole pre-recorded /v1/listen response: {key!r} is missing or null "
                f"(a response has a 'metadata' and a 'results' object){what}",
                key_path=key,
            )
    assert r.results is not None
    channels = r.results.channels
    if channels is None:
        raise ResponseFormatError(
            "is not a whole pre-recorded /v1/listen response: 'results.channels' is missing "
            "(a /v1/read answer, or a response cut short?)",
            key_path="results.channels",
        )
    for ci, ch in enumerate(channels):
        if ch.alternatives is None:
            raise ResponseFormatError(
                f"is not a whole pre-recorded /v1/listen response: results.channels[{ci}] "
                "has no 'alternatives' list",
                key_path=f"results.channels[{ci}].alternatives",
            )
    return channels
