"""The store's index: ``index.jsonl``, one JSON line per (key, file id) a run has seen.

The responses are the source of truth; the index says which input each one answers (its
``file_id`` and ``source``), with which options, under which ``request_id``.  Lines are only ever
appended, the lines of one call in a single ``O_APPEND`` write under an advisory ``flock``, so that
threads and processes can record concurrently; a line torn by a crash mid-append is skipped on
read and the next append starts on a fresh line, and an append that fails (a full disk) is cut
back off.  :func:`entry` is the one place an index entry is built, so that every line has the same
fields; :func:`problem` is the one place an entry's fields are checked, on write and on read (a
hand-edited line such as ``{"key": 12, "file_id": ["x"]}`` is skipped and reported, never a crash).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from ..exceptions import ConfigError
from .durable import BINARY, lock
from .keys import is_key
from .secrets import SecretGuard, refusal

__all__ = ["INDEX_NAME", "append", "entry", "problem", "problems", "read", "utc_now"]

#: The index file's name under the store's root.
INDEX_NAME = "index.jsonl"
#: Fields that are strings when present (``request_id`` and ``bytes`` may also be null).
_STRINGS: Final = ("source", "file_id", "options", "status", "at")


def utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``, as index entries record it."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entry(
    *,
    key: str,
    source: str,
    file_id: str,
    options: str,
    status: str,
    request_id: str | None = None,
    size: int | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """One index entry: which input a stored response answers, and how it got there.

    Parameters
    ----------
    key
        The store key of the response.
    source
        The input as the user gave it (a path or URL).
    file_id
        The input's id in the tables (its path relative to the folder given).
    options
        The canonical options string (:meth:`dgtools.ListenOptions.canonical`).
    status
        ``"transcribed"`` (answered in this run), ``"stored"`` (found in the store) or
        ``"duplicate"`` (the same audio as another input of the run).
    request_id
        Deepgram's request id of the stored response.
    size
        Bytes of the stored response, when this run wrote it.
    at
        UTC ISO time; now when None.

    Examples
    --------
    >>> e = entry(key="k", source="calls/a.wav", file_id="a.wav", options="model=nova-3",
    ...           status="transcribed", request_id="r1", size=512, at="2026-01-01T00:00:00.000Z")
    >>> list(e)
    ['key', 'source', 'file_id', 'options', 'status', 'request_id', 'bytes', 'at']
    """
    return {
        "key": key,
        "source": source,
        "file_id": file_id,
        "options": options,
        "status": status,
        "request_id": request_id,
        "bytes": size,
        "at": at or utc_now(),
    }


#: What an entry's string fields may hold when it is written (:func:`_json_default` makes strings of them).
_WRITTEN_AS_TEXT: Final = (str, os.PathLike, _dt.date)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def problem(obj: Any, *, writing: bool = False) -> str | None:
    """Why ``obj`` (a parsed index line) is no usable entry; None when it is one.

    With ``writing=True``, ``obj`` is an entry about to be written, whose paths and dates
    count as the strings they are written as.

    Examples
    --------
    >>> problem({"key": 12, "file_id": ["x"]})
    'key is 12, not a store key'
    >>> problem({"key": "ab" * 32 + "-0123456789abcdef", "request_id": None, "bytes": 512}) is None
    True
    """
    if not isinstance(obj, dict):
        return "not a JSON object"
    if "key" not in obj:
        return "no key"
    key = obj["key"]
    if not is_key(key):
        return f"key is {_show(key)}, not a store key"
    text = _WRITTEN_AS_TEXT if writing else str
    for name in _STRINGS:
        if name in obj and not isinstance(obj[name], text):
            return f"{name} is {_show(obj[name])}, not a string"
    rid = obj.get("request_id")
    if rid is not None and not isinstance(rid, str):
        return f"request_id is {_show(rid)}, not a string or null"
    size = obj.get("bytes")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        return f"bytes is {_show(size)}, not a byte count or null"
    return None


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"index entries hold JSON values; got {type(value).__name__}")


def append(root: Path, entries: Iterable[Mapping[str, Any]], guard: SecretGuard) -> None:
    """Append entries to ``root/index.jsonl``, one JSON line each, in one write; all or nothing.

    ``at`` (UTC ISO time) is added to an entry without one.

    Raises
    ------
    ConfigError
        A value contains one of ``guard``'s secrets, or an entry is one that :func:`read` would
        skip (:func:`problem`); nothing is written.
    TypeError
        A value is not JSON serializable (datetimes, paths and sets are converted); nothing is written.
    OSError
        The append failed (a full disk, a read-only store); what it wrote is cut back off.

    Examples
    --------
    >>> import tempfile
    >>> root, key = Path(tempfile.mkdtemp()), "ab" * 32 + "-0123456789abcdef"
    >>> append(root, [{"key": key, "at": "2026-01-01T00:00:00Z"}], SecretGuard([]))
    >>> (root / "index.jsonl").read_text() == f'{{"key":"{key}","at":"2026-01-01T00:00:00Z"}}\\n'
    True
    """
    lines: list[bytes] = []
    for item in entries:
        row = dict(item)
        row.setdefault("at", utc_now())
        text = json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_json_default)
        why = problem(row, writing=True)  # as read() will see it: paths and dates are strings there
        if why is not None:
            raise ConfigError(
                f"not an index entry: {why}; entries need key=Store.key(...) and string fields "
                "(see dgtools.store.index.entry)"
            )
        line = text.encode("utf-8", "surrogatepass")
        if b"\n" in line or b"\r" in line:  # pragma: no cover - json.dumps escapes newlines
            raise ValueError("an index entry must serialize to one line")
        if guard.found(line):
            raise refusal("the index entry")
        lines.append(line)
    if not lines:
        return
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / INDEX_NAME, os.O_RDWR | os.O_APPEND | os.O_CREAT | BINARY, 0o666)
    try:
        lock(fd)  # released by close; makes the torn-line check below see only whole appends
        size = os.fstat(fd).st_size
        # A crash mid-append leaves a last line without its newline: start on a fresh line,
        # so that the torn fragment is skipped alone and these entries stay readable.
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        data = (b"\n" if torn else b"") + b"\n".join(lines) + b"\n"
        try:
            written = os.write(fd, data)
            while written < len(data):  # only on a full disk or a signal
                written += os.write(fd, data[written:])
        except OSError:
            # A full disk: cut off what was written (under the lock), so no partial line stays;
            # should that fail too, the torn line is skipped on read.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


_TORN: Final = object()


def _lines(root: Path) -> Iterable[tuple[int, Any]]:
    """``(line number, parsed JSON or _TORN)`` for every non-blank line of ``root/index.jsonl``."""
    try:
        data = (root / INDEX_NAME).read_bytes()
    except FileNotFoundError:
        return
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw)
        except ValueError:  # torn (crash mid-append) or not UTF-8
            yield number, _TORN


def read(root: Path) -> list[dict[str, Any]]:
    """The usable entries of ``root/index.jsonl`` in the order they were recorded.

    Torn lines and entries that :func:`problem` finds fault with are skipped (:func:`problems`
    names them).

    Examples
    --------
    >>> import tempfile
    >>> read(Path(tempfile.mkdtemp()))
    []
    """
    return [obj for _, obj in _lines(root) if obj is not _TORN and problem(obj) is None]


def problems(root: Path) -> list[str]:
    """One line for each line of ``root/index.jsonl`` that :func:`read` skips, saying why.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / INDEX_NAME).write_bytes(b'{"key": 12}\\n{"key": "ab')
    >>> for line in problems(root):
    ...     print(line)
    index.jsonl line 1: key is 12, not a store key
    index.jsonl line 2: not valid JSON (a line torn by a crash mid-append?)
    """
    out: list[str] = []
    for number, obj in _lines(root):
        why = "not valid JSON (a line torn by a crash mid-append?)" if obj is _TORN else problem(obj)
        if why is not None:
            out.append(f"{INDEX_NAME} line {number}: {why}")
    return out
