"""Read Deepgram responses from wherever they are: :func:`iter_responses`.

Paths, folders, ``.json``/``.jsonl`` files (a ``.jsonl`` capture with the
``.timing`` file beside it: :func:`read_timing`), bytes, dicts, lists of streaming
messages and objects of the official ``deepgram-sdk`` all come out as
``(file_id, path, decoded)`` triples, where ``decoded`` is a
:class:`dgtools.tables.wire.Response` (or a list of them: one stream), decoded
by msgspec straight into the typed structs of :mod:`dgtools.tables.wire`.
Errors name the file, the line of a ``.jsonl`` file and the key path.

This module never builds tables (that is :mod:`dgtools.tables.build`) and
never touches the network.
"""

from __future__ import annotations

import mimetypes
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from ..exceptions import ConfigError, DGToolsWarning, ResponseFormatError
from . import wire as _wire
from .failures import caller_stacklevel

__all__ = [
    "Blob",
    "Decoded",
    "Item",
    "Source",
    "decode_bytes",
    "decode_object",
    "iter_blobs",
    "iter_items",
    "iter_responses",
    "no_responses",
    "read_timing",
    "response_files",
]

#: What :func:`dgtools.to_tables` and :func:`iter_responses` accept.
Source = Mapping[str, Any] | str | os.PathLike[str] | Iterable[Any]
#: One decoded response, or one stream (a list of decoded messages).
Decoded = _wire.TopLevel
#: ``(data, file_id, name)``: the bytes of one response file held in memory (or the exception
#: fetching it raised), its id, and what errors call it (its URL): :func:`iter_blobs`.
Blob = tuple[bytes | BaseException, str, str]

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
        The decoded response; a stream comes out as one list of messages (a
        ``.jsonl`` file's as a :class:`~dgtools.tables.wire.Stream`, with the
        lines of its ``.timing`` file).
        Pass it to :meth:`dgtools.tables.TableBuilder.add`.

    Raises
    ------
    ResponseFormatError
        A file cannot be read or is not valid JSON, a value has the wrong
        type or is out of range, or the JSON is nested too deeply (the
        message names the file and key path); a list mixes whole responses
        with streaming messages.
    ConfigError
        ``file_id`` has fewer ids than the source has responses, or repeats one.

    Examples
    --------
    >>> from dgtools.tables import iter_responses
    >>> for file_id, path, response in iter_responses("data/responses"):
    ...     print(file_id, type(response).__name__)
    clinic_call_stereo Response
    live_session Stream
    podcast_mono Response
    silence Response
    standup_intelligence Response
    support_call_diarized Response
    """
    for item in iter_items(source, file_id=file_id):
        assert item.response is not None  # without skip=True an error raises
        yield item.file_id, item.path, item.response


class Item(NamedTuple):
    """One input of a source, as :func:`iter_items` yields it."""

    #: The given id, else one from the file's path; None for an in-memory object without one.
    file_id: str | None
    #: The file it was read from; None for an in-memory object.
    path: str | None
    #: The decoded response or stream (None when ``error`` is set).
    response: Decoded | None
    #: Why it could not be read (only with ``skip=True``).
    error: ResponseFormatError | None = None
    #: Where an in-memory object sits in an iterable source (``"item 3"``), to name it in errors.
    where: str | None = None


def iter_items(
    source: Source, *, file_id: str | Sequence[str] | None = None, skip: bool = False
) -> Iterator[Item]:
    """Like :func:`iter_responses`, one :class:`Item` per input; with ``skip``, bad inputs are items too.

    With ``skip=True`` an input that cannot be read (a missing or unreadable
    file, not JSON, a value of the wrong type or out of range, nested too
    deeply) is yielded with its ``error`` set instead of raising, and the
    source goes on.  Mistakes about the whole source still raise: a source
    of the wrong type, a list mixing whole responses with streaming
    messages, ``file_id`` with too few or repeated ids.

    Examples
    --------
    >>> from dgtools.tables.read import iter_items
    >>> [(i.file_id, i.error is None) for i in iter_items([{"results": {}}, {"results": 5}], skip=True)]
    [(None, True), (None, False)]
    """
    next_id = _id_source(file_id)
    source = _plain(source)
    if isinstance(source, Mapping):
        yield _attempt(next_id(), None, source, skip)
        return
    if isinstance(source, (str, os.PathLike)):
        yield from _iter_path(Path(source), next_id, skip)
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        fid = next_id()
        try:
            yield Item(fid, None, decode_bytes(bytes(source), None))
        except ResponseFormatError as exc:
            if not skip:
                raise
            yield Item(fid, None, None, exc)
        return
    if not isinstance(source, Iterable):
        raise ResponseFormatError(
            f"cannot read a {type(source).__name__}: pass a response dict, a path, a folder, "
            "an iterable of those, or a list of streaming messages"
        )
    items = [_plain(x) for x in source]
    if _is_one_stream(items):
        yield _attempt(next_id(), None, items, skip)
        return
    for i, item in enumerate(items):
        where = f"item {i}"
        if isinstance(item, Mapping):
            yield _attempt(next_id(), None, item, skip, where)
        elif isinstance(item, (str, os.PathLike)):
            yield from _iter_path(Path(item), next_id, skip)
        elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)):
            yield _attempt(next_id(), None, list(item), skip, where)
        else:
            raise ResponseFormatError(
                f"item {i} of the source is a {type(item).__name__}; "
                "expected a response dict, a path or a list of streaming messages"
            )


def _id_source(file_id: str | Sequence[str] | None) -> Callable[[], str | None]:
    """A function giving the next given id (None when no ids were given)."""
    ids: Iterator[str | None]
    if file_id is None:
        ids = repeat(None)
    elif isinstance(file_id, str):
        ids = iter([file_id])
    else:
        given = list(file_id)
        seen: set[str] = set()
        for fid in given:
            if fid in seen:
                raise ConfigError(
                    f"file_id= gives {fid!r} to more than one response; file ids join the tables, "
                    "so each response needs its own"
                )
            seen.add(fid)
        ids = iter(given)

    def next_id() -> str | None:
        try:
            return next(ids)
        except StopIteration:
            raise ConfigError("file_id= has fewer ids than the source has responses") from None

    return next_id


def _is_one_stream(items: list[Any]) -> bool:
    """Whether a list of in-memory objects is one stream (its messages); refuse a mix with responses."""
    first_message = next(
        (i for i, x in enumerate(items) if isinstance(x, Mapping) and _wire.looks_like_stream_message(x)),
        None,
    )
    if first_message is None:
        return False
    whole = next((i for i, x in enumerate(items) if isinstance(x, Mapping) and "results" in x), None)
    if whole is not None:
        raise ResponseFormatError(
            f"the list mixes whole responses (item {whole}) with streaming messages (item {first_message}); "
            "pass them separately, or put each stream's messages in a list of their own: "
            "to_tables([response, ..., [message, message, ...]])"
        )
    return isinstance(items[0], Mapping) and first_message == 0


def _attempt(fid: str | None, path: str | None, obj: Any, skip: bool, where: str | None = None) -> Item:
    """Decode one in-memory object into an :class:`Item` (or, with ``skip``, an item with its error)."""
    try:
        return Item(fid, path, _convert_obj(obj, path), None, where)
    except ResponseFormatError as exc:
        if not skip:
            raise
        return Item(fid if fid is not None else _raw_request_id(obj), path, None, exc, where)


def _raw_request_id(obj: Any) -> str | None:
    """``metadata.request_id`` of an undecodable response dict, to name it."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    rid = meta.get("request_id") if isinstance(meta, Mapping) else None
    return rid if isinstance(rid, str) else None


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


def response_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The ``.json``, ``.jsonl`` and ``.ndjson`` files below ``folder``, in sorted order, hidden ones left out.

    A dgtools store (a folder with ``index.jsonl`` and ``responses/``) gives the answers under
    ``responses/`` and the live-stream captures under ``streams/``, never its own bookkeeping.

    Examples
    --------
    >>> [p.name for p in response_files("data/responses")][:2]
    ['clinic_call_stereo.json', 'live_session.jsonl']
    >>> response_files("data/audio")
    []
    """
    path = Path(folder)
    if (path / "index.jsonl").is_file() and (path / "responses").is_dir():
        # A dgtools store: its answers and its live-stream captures, not its index, claims or pending.
        return [*response_files(path / "responses"), *response_files(path / "streams")]
    return sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in _JSON_SUFFIXES
        and not any(
            part.startswith(".") for part in p.relative_to(path).parts
        )  # ._a.json, .ipynb_checkpoints
        and p.is_file()
    )


def no_responses(folder: str | os.PathLike[str], *, command_line: bool = False) -> str:
    """Why a folder gave no tables, and where to look: the message of the warning (or the CLI's error).

    A folder of audio needs transcribing first; ``command_line`` words the advice for the
    ``dgtools`` command instead of Python.

    Examples
    --------
    >>> print(no_responses("data/audio", command_line=True))  # doctest: +NORMALIZE_WHITESPACE
    no Deepgram responses (.json, .jsonl or .ndjson files) in data/audio: it holds 4 audio files
    (one_speaker.wav, silence.wav, stereo_call.wav and 1 more), which need transcribing first:
    dgtools transcribe data/audio (the responses go to its store, dgtools-store, and the tables to
    dgtools-out)
    """
    path = Path(folder)
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    media = [p for p in files if (mimetypes.guess_type(p.name)[0] or "").startswith(("audio/", "video/"))]
    head = f"no Deepgram responses (.json, .jsonl or .ndjson files) in {folder}"
    if not media:
        held = f"it holds {_count(len(files), 'other file')}" if files else "it is empty"
        return (
            f"{head} ({held}): give the folder the responses were saved to, or the store of "
            "dgtools transcribe (dgtools-store by default)"
        )
    names = [p.relative_to(path).as_posix() for p in media]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    quoted = str(folder) if command_line else repr(str(folder))
    how = (
        f"dgtools transcribe {quoted} (the responses go to its store, dgtools-store, and the tables to dgtools-out)"
        if command_line
        else f"run = dgtools.transcribe({quoted}), whose run.tables are their tables "
        f"(on the command line: dgtools transcribe {folder})"
    )
    return (
        f"{head}: it holds {_count(len(media), 'audio file')} ({shown}), which need transcribing first: {how}"
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _iter_path(path: Path, next_id: Callable[[], str | None], skip: bool) -> Iterator[Item]:
    if path.is_dir():
        files = response_files(path)
        if not files:
            warnings.warn(no_responses(path), DGToolsWarning, stacklevel=caller_stacklevel())
        for p in files:
            given = next_id()
            yield from _iter_file(p, given or p.relative_to(path).with_suffix("").as_posix(), skip)
        return
    fid = next_id() or path.stem
    if not path.exists():
        error = ResponseFormatError("no such file or folder; check the path", path=path)
        if not skip:
            raise error
        yield Item(fid, str(path), None, error)
        return
    yield from _iter_file(path, fid, skip)


def _iter_file(path: Path, fid: str, skip: bool) -> Iterator[Item]:
    spath = str(path)
    try:
        data = path.read_bytes()
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            msgs = [
                decode_bytes(line, spath, line=lineno)
                for lineno, line in enumerate(data.splitlines(), 1)
                if line.strip()
            ]
            yield Item(fid, spath, _wire.Stream(msgs, read_timing(path)))
            return
        obj = decode_bytes(data, spath)
    except OSError as exc:
        error = ResponseFormatError(f"cannot be read ({exc.strerror or exc})", path=path)
        if not skip:
            raise error from None
        yield Item(fid, spath, None, error)
        return
    except ResponseFormatError as exc:
        if not skip:
            raise
        yield Item(fid, spath, None, exc)
        return
    yield from _decoded_items(obj, fid, spath)


def _decoded_items(obj: Any, fid: str, name: str) -> Iterator[Item]:
    """The items of one decoded ``.json`` file: each response of a JSON list of them (``<id>[i]``), else one."""
    if isinstance(obj, list) and obj and all(o.results is not None for o in obj):
        for i, o in enumerate(obj):  # a JSON list of whole responses
            yield Item(f"{fid}[{i}]", name, o)
        return
    yield Item(fid, name, obj)


def iter_blobs(blobs: Iterable[Blob], *, skip: bool = False) -> Iterator[Item]:
    """One :class:`Item` per ``(data, file_id, name)``: the bytes of a ``.json`` response file, in memory.

    Each blob is read as the file ``name`` would be (a JSON list of whole responses gives
    ``<id>[0]``, ``<id>[1]``...), and errors name ``name`` (a URL, say).  ``data`` may be the
    exception that fetching it raised: it becomes that input's error.  With ``skip=True`` an
    input that cannot be read is yielded with its ``error`` set instead of raising.

    Examples
    --------
    >>> from dgtools.tables.read import iter_blobs
    >>> blobs = [(b'{"results": {}}', "a", "s3://b/a.json"), (OSError("gone"), "b", "s3://b/b.json")]
    >>> [(i.file_id, i.error is None) for i in iter_blobs(blobs, skip=True)]
    [('a', True), ('b', False)]
    """
    for data, fid, name in blobs:
        try:
            if isinstance(data, BaseException):
                raise ResponseFormatError(
                    f"cannot be read ({getattr(data, 'strerror', None) or data})", path=name
                )
            obj = decode_bytes(data, name)
        except ResponseFormatError as exc:
            if not skip:
                raise
            yield Item(fid, name, None, exc)
            continue
        yield from _decoded_items(obj, fid, name)


def read_timing(capture: str | os.PathLike[str]) -> list[_wire.Timing] | None:
    """The lines of the ``.timing`` file beside a ``.jsonl`` capture, or None when there is none.

    :func:`dgtools.stream` writes ``<capture>.timing`` beside ``<capture>.jsonl``:
    line *n* (blank lines skipped, as in the capture) tells when message *n*
    arrived.  A stream killed while writing can leave its last line cut
    short: an unreadable last line is left out.  The file may hold fewer or
    more lines than the capture; the builder uses the lines it has.

    Raises
    ------
    ResponseFormatError
        The file cannot be read, or a line before the last is not a timing
        line (the error names the ``.timing`` file and the line).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "call.timing").write_text(
    ...     '{"received_at": "2025-05-01T10:00:00.5+00:00", "monotonic": 0.5, "audio_sent_s": 0.4}\\n{"recei')
    >>> [t.audio_sent_s for t in read_timing(folder / "call.jsonl")]
    [0.4]
    >>> read_timing(folder / "other.jsonl") is None
    True
    """
    tpath = Path(capture).with_suffix(".timing")
    try:
        data = tpath.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ResponseFormatError(f"cannot be read ({exc.strerror or exc})", path=tpath) from None
    lines = [(n, line) for n, line in enumerate(data.splitlines(), 1) if line.strip()]
    out: list[_wire.Timing] = []
    for i, (lineno, line) in enumerate(lines):
        try:
            out.append(_wire.decode_timing(line))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            if i == len(lines) - 1 and isinstance(exc, msgspec.DecodeError):
                break  # the last line, cut short by a kill
            problem, _, where = str(exc).partition(" - at `")
            key = where.rstrip("`").removeprefix("$").lstrip(".")
            raise ResponseFormatError(
                f"line {lineno} is not a timing line ({problem.replace('`', '')}{' at ' + key if key else ''}); "
                "a .timing file holds one JSON object per message of its capture: "
                '{"received_at": ISO 8601, "monotonic": s, "audio_sent_s": s, "socket": k, "offset_s": s}',
                path=tpath, key_path=f"line {lineno}" + (f": {key}" if key else ""),
            ) from None  # fmt: skip
    return out


def decode_bytes(
    data: bytes | bytearray | memoryview, path: str | None, *, line: int | None = None, single: bool = False
) -> Any:
    """Decode JSON bytes into :class:`~dgtools.tables.wire.Response` (or a list of them).

    ``line`` (a ``.jsonl`` line number) and ``single`` decode exactly one
    object.  Every failure is a :class:`~dgtools.ResponseFormatError` naming
    ``path`` and the key path: not JSON, a value of the wrong type or out of
    range (with the value), nesting too deep for a response.
    """
    if data[:3] == b"\xef\xbb\xbf":  # a UTF-8 byte order mark (PowerShell, Notepad)
        data = data[3:]
    try:
        return _wire.decode(data, line=line is not None or single)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, path, line, data) from None
    except msgspec.DecodeError as exc:
        where = f"line {line} " if line is not None else ""
        what = f"{where}is empty" if not bytes(data).strip() else f"{where}is not valid JSON ({exc})"
        hint = (
            "a .jsonl file holds one streaming message per line"
            if line
            else "expected a Deepgram response saved as JSON"
        )
        raise ResponseFormatError(f"{what}; {hint}", path=path) from None
    except RecursionError:
        raise _too_deep(path, line) from None


def _too_deep(path: str | None, line: int | None) -> ResponseFormatError:
    where = f"line {line} " if line is not None else ""
    return ResponseFormatError(
        f"{where}is nested too deeply (arrays or objects inside one another about a thousand levels deep) "
        "to be a Deepgram response; is the file corrupted or hostile?",
        path=path,
        key_path=f"line {line}" if line is not None else None,
    )


def _convert_obj(obj: Any, path: str | None) -> Any:
    try:
        return _wire.to_response(obj)
    except msgspec.ValidationError as exc:
        if _is_nan_at(exc, obj):  # JSON has no NaN: an in-memory "no value" (pandas); read it as null
            return _convert_obj(_nan_to_none(obj), path)
        raise _validation_error(exc, path, None, obj) from None
    except RecursionError:
        raise _too_deep(path, None) from None


def _is_nan_at(exc: msgspec.ValidationError, obj: Any) -> bool:
    """Whether msgspec refused a float NaN (which fails every bound) rather than a value out of range."""
    _, _, where = str(exc).partition(" - at `")
    found, value = _lookup(obj, where.rstrip("`").removeprefix("$").lstrip("."))
    return found and isinstance(value, float) and value != value


def _nan_to_none(obj: Any) -> Any:
    """A copy of plain JSON-like ``obj`` with every float NaN replaced by None."""
    if isinstance(obj, float):
        return None if obj != obj else obj
    if isinstance(obj, Mapping):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def _validation_error(
    exc: msgspec.ValidationError, path: str | None, line: int | None, raw: Any
) -> ResponseFormatError:
    """Turn msgspec's ``Expected `float`, got `str` - at `$.results...``` into our error.

    ``raw`` (the JSON bytes or the object) gives the value of a value out of
    range, to name it.
    """
    text = str(exc)
    problem, _, where = text.partition(" - at `")
    key_path = where.rstrip("`").removeprefix("$").lstrip(".") or None
    problem = problem.replace("`", "")
    if key_path is not None and _OUT_OF_RANGE.match(problem):
        message = _out_of_range(problem, key_path, raw)
        if line is not None:
            key_path = f"line {line}: {key_path}"
            message = f"line {line}: {message}"
        return ResponseFormatError(message, path=path, key_path=key_path)
    if line is not None:
        key_path = f"line {line}" + (f": {key_path}" if key_path else "")
    if problem.startswith("Expected `object`") or (problem.startswith("Expected object") and not key_path):
        return ResponseFormatError(
            f"holds {problem.lower().replace('expected object, got ', 'a JSON ')}, not a Deepgram response object",
            path=path, key_path=key_path,
        )  # fmt: skip
    at = f" at {key_path}" if key_path else ""
    return ResponseFormatError(
        f"{problem}{at}; is this a Deepgram /v1/listen response?", path=path, key_path=key_path
    )


#: msgspec's messages for a value outside the bounds of :mod:`dgtools.tables.wire`'s types.
_OUT_OF_RANGE = re.compile(r"Expected (int|float) (>=|<=|that's a multiple of) ")
_TIMES = frozenset({"start", "end", "duration"})
_CONFIDENCES = frozenset({"confidence", "speaker_confidence", "confidence_score", "language_confidence"})
_KEY = re.compile(r"[^.\[\]]+|\[(\d+)\]")


def _out_of_range(problem: str, key_path: str, raw: Any) -> str:
    """``words[3].start is -0.5: a time cannot be negative`` (the value read back from ``raw``)."""
    leaf = re.sub(r"\[\d+\]$", "", key_path.rsplit(".", 1)[-1])
    if leaf in _TIMES:
        why = "a time cannot be negative"
    elif leaf in _CONFIDENCES:
        why = "a confidence is between 0 and 1"
    else:
        why = "it is a speaker, channel, index or count: a whole number from 0 up"
    found, value = _lookup(raw, key_path)
    shown = repr(value) if found else f"out of range ({problem.lower()})"
    return f"{key_path} is {shown}: {why}; a response cannot hold that (a corrupted or edited answer?)"


def _lookup(raw: Any, key_path: str) -> tuple[bool, Any]:
    """``(True, value)`` at ``key_path`` in the JSON bytes or object ``raw``, else ``(False, None)``."""
    try:
        node = msgspec.json.decode(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else raw
        for m in _KEY.finditer(key_path):
            node = node[int(m.group(1))] if m.group(1) is not None else node[m.group(0)]
    except (msgspec.DecodeError, RecursionError, LookupError, TypeError, ValueError):
        return False, None
    return True, node
