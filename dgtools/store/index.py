"""The store's index: ``index.jsonl``, one JSON line per (key, file id) a run has seen.

The responses are the source of truth; the index says which input each one answers (its
``file_id`` and ``source``), with which options, under which ``request_id``.  Lines are only ever
appended, the lines of one call in a single ``O_APPEND`` write under an advisory ``flock``, so that
threads and processes can record concurrently; a line torn by a crash mid-append is skipped on
read and the next append starts on a fresh line.  :func:`entry` is the one place an index entry
is built, so that every line has the same fields.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .durable import BINARY, lock
from .secrets import SecretGuard, refusal

__all__ = ["INDEX_NAME", "append", "entry", "read", "utc_now"]

#: The index file's name under the store's root.
INDEX_NAME = "index.jsonl"


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
        A value contains one of ``guard``'s secrets; nothing is written.
    TypeError
        A value is not JSON serializable (datetimes, paths and sets are converted); nothing is written.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> append(root, [{"key": "k1", "at": "2026-01-01T00:00:00Z"}], SecretGuard([]))
    >>> (root / "index.jsonl").read_text()
    '{"key":"k1","at":"2026-01-01T00:00:00Z"}\\n'
    """
    lines: list[bytes] = []
    for item in entries:
        row = dict(item)
        row.setdefault("at", utc_now())
        text = json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_json_default)
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
        written = os.write(fd, data)
        while written < len(data):  # pragma: no cover - only on a full disk or a signal
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


def read(root: Path) -> list[dict[str, Any]]:
    """The entries of ``root/index.jsonl`` in the order they were recorded; torn lines are skipped.

    Examples
    --------
    >>> import tempfile
    >>> read(Path(tempfile.mkdtemp()))
    []
    """
    try:
        data = (root / INDEX_NAME).read_bytes()
    except FileNotFoundError:
        return []
    out: list[dict[str, Any]] = []
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:  # torn (crash mid-append) or not UTF-8
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out
