"""Read Deepgram responses from wherever they are: :func:`iter_responses`.

Paths, folders, ``.json``/``.jsonl`` files, bytes, dicts, lists of streaming
messages and objects of the official ``deepgram-sdk`` all come out as
``(file_id, path, decoded)`` triples, where ``decoded`` is a
:class:`dgtools.tables.wire.Response` (or a list of them: one stream), decoded
by msgspec straight into the typed structs of :mod:`dgtools.tables.wire`.
Errors name the file, the line of a ``.jsonl`` file and the key path.

This module never builds tables (that is :mod:`dgtools.tables.build`) and
never touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import msgspec

from ..exceptions import ConfigError, ResponseFormatError
from . import wire as _wire

__all__ = ["Decoded", "Source", "decode_object", "iter_responses"]

#: What :func:`dgtools.to_tables` and :func:`iter_responses` accept.
Source = Mapping[str, Any] | str | os.PathLike[str] | Iterable[Any]
#: One decoded response, or one stream (a list of decoded messages).
Decoded = _wire.TopLevel

_JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


def iter_responses(
    source: Source, *, file_id: str | Sequence[str] | None = None
) -> Iterator[tuple[str | None, str | None, Decoded]]:
    """Yield ``(file_id, path, decoded response)`` for every response in ``source``.

    Parameters
    ----------
    source
        Anything :func:`dgtools.to_tables` accepts: a response ``dict``, a path
        to a ``.json``/``.jsonl`` file, a folder (every ``.json``/``.jsonl``
        file below it, in sorted order, hidden ones skipped), bytes, an
        iterable of these, a list of streaming messages (one stream), or
        ``deepgram-sdk`` response objects.
    file_id
        The ``file_id`` of the response (a string), or one per item of an
        iterable source.

    Yields
    ------
    file_id : str or None
        The given id, else a file's path relative to the folder (without its
        suffix) or its stem; ``None`` for an in-memory object, whose id then
        comes from its ``request_id``.  The responses of a JSON list of
        responses get ``<id>[<index>]``.
    path : str or None
        The file the response was read from; ``None`` for in-memory objects.
    decoded : Response or list of Response
        The decoded response; a stream comes out as one list of messages.
        Pass it to :meth:`dgtools.tables.TableBuilder.add`.

    Raises
    ------
    ResponseFormatError
        A file cannot be read or is not valid JSON, or a value has the wrong
        type (the message names the file and key path).
    ConfigError
        ``file_id`` has fewer ids than the source has responses.

    Examples
    --------
    >>> from dgtools.tables import iter_responses
    >>> for file_id, path, response in iter_responses("data/responses"):
    ...     print(file_id, type(response).__name__)
    clinic_call_stereo Response
    live_session list
    podcast_mono Response
    silence Response
    standup_intelligence Response
    support_call_diarized Response
    """
    ids: Iterator[str | None]
    if file_id is None:
        ids = repeat(None)
    elif isinstance(file_id, str):
        ids = iter([file_id])
    else:
        ids = iter(list(file_id))

    def next_id() -> str | None:
        try:
            return next(ids)
        except StopIteration:
            raise ConfigError("file_id= has fewer ids than the source has responses") from None

    source = _plain(source)
    if isinstance(source, Mapping):
        yield next_id(), None, _convert_obj(source, None)
        return
    if isinstance(source, (str, os.PathLike)):
        yield from _iter_path(Path(source), next_id)
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield next_id(), None, _decode_bytes(bytes(source), None)
        return
    if not isinstance(source, Iterable):
        raise ResponseFormatError(
            f"cannot read a {type(source).__name__}: pass a response dict, a path, a folder, "
            "an iterable of those, or a list of streaming messages"
        )
    items = [_plain(x) for x in source]
    if items and isinstance(items[0], Mapping) and _wire.looks_like_stream_message(items[0]):
        yield next_id(), None, _convert_obj(items, None)
        return
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            yield next_id(), None, _convert_obj(item, None)
        elif isinstance(item, (str, os.PathLike)):
            yield from _iter_path(Path(item), next_id)
        elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)):
            yield next_id(), None, _convert_obj(list(item), None)
        else:
            raise ResponseFormatError(
                f"item {i} of the source is a {type(item).__name__}; "
                "expected a response dict, a path or a list of streaming messages"
            )


def decode_object(obj: Any) -> Decoded:
    """Decode one in-memory response: a dict, a list of streaming messages or a ``deepgram-sdk`` object.

    Raises
    ------
    ResponseFormatError
        A value has the wrong type (the message names the key path).

    Examples
    --------
    >>> from dgtools.tables.read import decode_object
    >>> decode_object({"metadata": {"request_id": "r1"}, "results": {"channels": []}}).metadata.request_id
    'r1'
    """
    decoded: Decoded = _convert_obj(_plain(obj), None)
    return decoded


def _plain(obj: Any) -> Any:
    """Unwrap deepgram-sdk response objects into plain dicts."""
    if isinstance(obj, (Mapping, str, bytes, os.PathLike, list, tuple)):
        return obj
    dump = getattr(obj, "model_dump", None)  # pydantic (deepgram-sdk >= 4): JSON types, not datetimes
    if callable(dump):
        return dump(mode="json", by_alias=True)
    to_dict = getattr(obj, "to_dict", None)  # deepgram-sdk 3
    if callable(to_dict):
        return to_dict()
    return obj


# --------------------------------------------------------------------------- reading files


def _iter_path(
    path: Path, next_id: Callable[[], str | None]
) -> Iterator[tuple[str | None, str | None, Decoded]]:
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.suffix.lower() in _JSON_SUFFIXES
            and not any(
                part.startswith(".") for part in p.relative_to(path).parts
            )  # ._a.json, .ipynb_checkpoints
            and p.is_file()
        )
        for p in files:
            given = next_id()
            yield from _iter_file(p, given or p.relative_to(path).with_suffix("").as_posix())
        return
    if not path.exists():
        raise ResponseFormatError("no such file or folder; check the path", path=path)
    yield from _iter_file(path, next_id() or path.stem)


def _iter_file(path: Path, fid: str) -> Iterator[tuple[str | None, str | None, Decoded]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResponseFormatError(f"cannot be read ({exc.strerror or exc})", path=path) from None
    spath = str(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        msgs = []
        for lineno, line in enumerate(data.splitlines(), 1):
            if line.strip():
                msgs.append(_decode_bytes(line, spath, line=lineno))
        yield fid, spath, msgs
        return
    obj = _decode_bytes(data, spath)
    if isinstance(obj, list) and obj and all(o.results is not None for o in obj):
        for i, o in enumerate(obj):  # a JSON list of whole responses
            yield f"{fid}[{i}]", spath, o
        return
    yield fid, spath, obj


def _decode_bytes(data: bytes, path: str | None, *, line: int | None = None) -> Any:
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark (PowerShell, Notepad)
        data = data[3:]
    try:
        return _wire.decode(data, line=line is not None)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, path, line) from None
    except msgspec.DecodeError as exc:
        where = f"line {line} " if line is not None else ""
        what = f"{where}is empty" if not data.strip() else f"{where}is not valid JSON ({exc})"
        hint = (
            "a .jsonl file holds one streaming message per line"
            if line
            else "expected a Deepgram response saved as JSON"
        )
        raise ResponseFormatError(f"{what}; {hint}", path=path) from None


def _convert_obj(obj: Any, path: str | None) -> Any:
    try:
        return _wire.to_response(obj)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, path, None) from None


def _validation_error(
    exc: msgspec.ValidationError, path: str | None, line: int | None
) -> ResponseFormatError:
    """Turn msgspec's ``Expected `float`, got `str` - at `$.results...``` into our error."""
    text = str(exc)
    problem, _, where = text.partition(" - at `")
    key_path = where.rstrip("`").removeprefix("$").lstrip(".") or None
    if line is not None:
        key_path = f"line {line}" + (f": {key_path}" if key_path else "")
    problem = problem.replace("`", "")
    if problem.startswith("Expected `object`") or (problem.startswith("Expected object") and not key_path):
        return ResponseFormatError(
            f"holds {problem.lower().replace('expected object, got ', 'a JSON ')}, not a Deepgram response object",
            path=path, key_path=key_path,
        )  # fmt: skip
    at = f" at {key_path}" if key_path else ""
    return ResponseFormatError(
        f"{problem}{at}; is this a Deepgram /v1/listen response?", path=path, key_path=key_path
    )
