"""Quarantine: a stored response that cannot be read is moved aside, with the reason, and asked for again.

A response that is no usable answer (truncated on disk, not JSON, a 200 whose body was wrong) would
otherwise be served from the store on every run.  :func:`move` takes it out of ``responses/``
atomically, to ``quarantine/<key>.json`` with ``quarantine/<key>.reason.txt`` beside it, so that the
store no longer has the key and the next run requests it again; the file is kept for inspection.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from pathlib import Path
from typing import Final

from .durable import fsync_dir, open_temp, write_all
from .secrets import SecretGuard

__all__ = ["QUARANTINE_DIR", "listing", "move"]

#: The quarantine folder's name under the store's root.
QUARANTINE_DIR: Final = "quarantine"
_NAME_RE: Final = re.compile(r"(?P<key>[0-9a-f]{64}-[0-9a-f]+)\.json")
_WITHHELD: Final = "(the reason is withheld: it contained a value passed as Store(secrets=...))"


def move(root: Path, key: str, source: Path, reason: str, guard: SecretGuard) -> Path:
    """Move the response ``source`` (of ``key``) to ``root/quarantine/<key>.json``, its reason beside it.

    The reason is written first (atomically), then the response is moved with one ``os.replace``
    (a previous quarantined copy of the key is replaced), and both directories are synced.

    Raises
    ------
    FileNotFoundError
        Nothing is stored at ``source``; the reason is not written.
    """
    if not source.is_file():
        raise FileNotFoundError(
            errno.ENOENT, f"no response stored for key {key}: nothing to quarantine", str(source)
        )
    folder, tmp = root / QUARANTINE_DIR, root / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    text = reason if not guard.found(reason.encode("utf-8", "surrogatepass")) else _WITHHELD
    temp, fd = open_temp(tmp, key)  # a leftover of a kill here is cleaned like any temp file
    try:
        try:
            write_all(fd, (" ".join(text.split()) + "\n").encode("utf-8", "surrogatepass"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, folder / f"{key}.reason.txt")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    target = folder / f"{key}.json"
    os.replace(source, target)
    fsync_dir(folder)
    fsync_dir(source.parent)
    return target


def listing(root: Path) -> list[tuple[str, str]]:
    """``(key, reason)`` for every quarantined response, sorted by key (reason "" when it is missing)."""
    folder = root / QUARANTINE_DIR
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out: list[tuple[str, str]] = []
    for name in names:
        m = _NAME_RE.fullmatch(name)
        if m is None:
            continue
        try:
            reason = (folder / f"{m['key']}.reason.txt").read_text("utf-8", "replace").strip()
        except FileNotFoundError:
            reason = ""
        out.append((m["key"], reason))
    return out
