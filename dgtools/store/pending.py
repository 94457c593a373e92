"""Callback requests Deepgram has accepted but not yet delivered: ``STORE/pending/``.

A ``/v1/listen`` request with ``callback=URL`` is answered at once with ``{"request_id": ...}``;
the transcript arrives later, POSTed (or PUT) to the URL.  Between the two, the store keeps one
*pending record* per store key, ``pending/<key>.json``::

    {"key": ..., "request_id": ..., "file": ..., "file_id": ..., "options": ...,
     "callback_method": "POST", "submitted_at": "2026-01-01T00:00:00Z"}

written like the raw store's responses: a temp file, fsync, ``os.replace``, fsync of the folder.
When the transcript has been stored (under the same key, in ``responses/``), the record moves to
``pending/done/<key>.json`` (``os.replace`` again): a second delivery of the same request_id is
then recognised and stored nothing.  A rerun finds the pending records and does not submit those
files again unless asked.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .durable import fsync_dir
from .keys import check_key, is_key

if TYPE_CHECKING:
    from .store import Store

__all__ = ["SUBMIT_WINDOW", "Pending"]

#: Seconds a submission without its request_id yet counts as in flight (a crashed run's record stops counting).
SUBMIT_WINDOW = 600.0


class Pending:
    """The pending callback requests of one :class:`~dgtools.store.Store`.

    Examples
    --------
    >>> import tempfile
    >>> from dgtools.store import Store
    >>> store = Store(tempfile.mkdtemp())
    >>> key = Store.key("ab" * 32, "0123456789abcdef")
    >>> pending = Pending(store)
    >>> _ = pending.add(key, request_id="r1", file="a.wav", file_id="a.wav", options="model=nova-3")
    >>> [r["request_id"] for r in pending.records()], pending.find("r1")["key"] == key
    (['r1'], True)
    >>> pending.done(key)
    True
    >>> pending.records(), pending.find("r1"), pending.find_done("r1")["file"]
    ([], None, 'a.wav')
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.root = store.root / "pending"
        self.done_root = self.root / "done"

    def __repr__(self) -> str:
        return f"<dgtools Pending root={str(self.root)!r}>"

    def path(self, key: str) -> Path:
        """Where the pending record of ``key`` lives."""
        check_key(key)
        return self.root / f"{key}.json"

    def add(
        self,
        key: str,
        *,
        request_id: str,
        file: str,
        file_id: str,
        options: str,
        callback_method: str = "POST",
        submitted_at: str | None = None,
        earlier_request_ids: list[Any] | None = None,
    ) -> dict[str, Any]:
        """Record ``key`` as pending under ``request_id``, durably and atomically; returns the record.

        ``earlier_request_ids``: the request ids of earlier submissions of the same key (a
        resubmission): a late delivery of any of them is accepted too.
        """
        record = {
            "key": key,
            "request_id": request_id,
            "file": file,
            "file_id": file_id,
            "options": options,
            "callback_method": callback_method.upper(),
            "submitted_at": submitted_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "earlier_request_ids": list(earlier_request_ids or ()),
        }
        _write_json(self.path(key), record, self.root)
        return record

    def submitting(self, key: str, *, file: str, file_id: str, options: str) -> dict[str, Any] | None:
        """Mark ``key`` as being submitted (no request_id yet); returns the record it replaces, if any.

        A delivery can arrive before the submission's answer has been recorded (a short file on a
        fast server): while a submission is in flight, the receiver answers an unknown request_id
        with 503 so that the sender tries again, instead of refusing it for good.  The record keeps
        the request ids of an earlier submission, whose late delivery is still accepted.
        """
        previous = self.get(key)
        earlier = list((previous or {}).get("earlier_request_ids") or [])
        if previous and previous.get("request_id"):
            earlier.append(previous["request_id"])
        record = {
            "key": key,
            "request_id": None,
            "file": file,
            "file_id": file_id,
            "options": options,
            "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "earlier_request_ids": earlier,
            "since": time.time(),
        }
        _write_json(self.path(key), record, self.root)
        return previous

    def restore(self, key: str, previous: Mapping[str, Any] | None) -> None:
        """Undo :meth:`submitting` after a failed submission: the earlier record back, or none."""
        if previous is None:
            self.drop(key)
        else:
            _write_json(self.path(key), previous, self.root)

    def in_flight(self, within: float = SUBMIT_WINDOW) -> bool:
        """Whether some submission started less than ``within`` seconds ago has no request_id yet."""
        now = time.time()
        return any(
            r.get("request_id") is None and now - float(r.get("since") or 0) < within
            for _, r in _read_dir(self.root)
        )

    def records(self) -> list[dict[str, Any]]:
        """Every pending record (accepted, transcript not arrived yet), in key order."""
        return [r for _, r in _read_dir(self.root) if r.get("request_id")]

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of ``key`` (pending, or being submitted: ``request_id`` None), or None."""
        return _read(self.path(key))

    def find(self, request_id: str) -> dict[str, Any] | None:
        """The pending record with this ``request_id`` (or one of its ``earlier_request_ids``), or None."""
        return next((r for _, r in _read_dir(self.root) if _answers(r, request_id)), None)

    def find_done(self, request_id: str) -> dict[str, Any] | None:
        """The record of a request whose transcript has already been stored, or None."""
        return next((r for _, r in _read_dir(self.done_root) if _answers(r, request_id)), None)

    def done(self, key: str) -> bool:
        """Mark ``key`` delivered: its record moves to ``pending/done/``; False when it was not pending."""
        src = self.path(key)
        self.done_root.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(src, self.done_root / src.name)
        except FileNotFoundError:
            return False
        fsync_dir(self.done_root)
        fsync_dir(self.root)
        return True

    def drop(self, key: str) -> bool:
        """Forget the pending record of ``key`` (a resubmission replaces it); False when there was none."""
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        fsync_dir(self.root)
        return True


def _write_json(target: Path, record: Mapping[str, Any], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    data = json.dumps(record, separators=(",", ":"), sort_keys=True).encode() + b"\n"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temp, target)
    fsync_dir(folder)


def _answers(record: Mapping[str, Any], request_id: str) -> bool:
    earlier = record.get("earlier_request_ids")
    return record.get("request_id") == request_id or (isinstance(earlier, list) and request_id in earlier)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _read_dir(folder: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return
    for name in names:
        stem, _, suffix = name.rpartition(".")
        if suffix == "json" and is_key(stem):
            record = _read(folder / name)
            if record is not None:
                yield stem, record
