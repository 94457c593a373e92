"""The replay engine: recorded ``/v1/listen`` responses, matched by the audio's sha256.

A folder of saved Deepgram responses (a dgtools store's ``responses/``, or
files named ``<sha256>.json``) becomes an engine for the local server:
``dgtools serve --engine replay --folder DIR`` or
``make_engine("replay", folder=DIR)``.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import msgspec

from ..exceptions import ConfigError, EngineError
from .base import Options, now_created

__all__ = ["ReplayEngine"]

_SHA_RE = re.compile(r"[0-9a-f]{64}")


class ReplayEngine:
    """Answer recorded ``/v1/listen`` responses, matched by the audio's sha256.

    Every ``*.json`` file below ``folder`` holding a response object is
    indexed by its ``metadata.sha256`` and, when the file stem is a 64-hex
    sha256, by that stem too (the first file in sorted order wins).  A
    request gets a copy of the recorded response with a fresh ``request_id``
    and ``created``.  Audio without a recording gets a 400 naming its sha256.
    A ``{"url": ...}`` request is answered from the file whose stem equals the
    URL's file name stem (``https://host/calls/a.wav`` -> ``a.json``) or a
    64-hex stem in the URL, else it gets Deepgram's 400
    ``REMOTE_CONTENT_ERROR`` (the local server never fetches URLs).

    Parameters
    ----------
    folder
        The folder of recorded responses (searched recursively).

    Raises
    ------
    ConfigError
        ``folder`` is not a directory.

    Examples
    --------
    >>> import asyncio, json, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> recorded = {"metadata": {"request_id": "old"}, "results": {"channels": []}}
    >>> with open(f"{folder}/{'ab' * 32}.json", "w") as f:
    ...     json.dump(recorded, f)
    >>> engine = ReplayEngine(folder)
    >>> len(engine)
    1
    >>> r = asyncio.run(engine.transcribe(audio=b"...", url=None, options=[], request_id="new",
    ...                                   sha256="ab" * 32))
    >>> r["metadata"]["request_id"], r["results"]
    ('new', {'channels': []})
    >>> import shutil; shutil.rmtree(folder)
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ConfigError(f"replay folder {str(self.folder)!r} is not a directory")
        self._by_sha: dict[str, Path] = {}
        self._by_stem: dict[str, Path] = {}
        for path in sorted(self.folder.rglob("*.json")):
            try:
                obj = msgspec.json.decode(path.read_bytes())
            except (OSError, msgspec.DecodeError):
                continue
            if not (isinstance(obj, dict) and isinstance(obj.get("metadata"), dict) and "results" in obj):
                continue
            sha = obj["metadata"].get("sha256")
            if isinstance(sha, str) and sha:
                self._by_sha.setdefault(sha.lower(), path)
            stem = path.stem.lower()
            if _SHA_RE.fullmatch(stem):
                self._by_sha.setdefault(stem, path)
            self._by_stem.setdefault(path.stem, path)

    def __len__(self) -> int:
        return len(set(self._by_sha.values()) | set(self._by_stem.values()))

    def __repr__(self) -> str:
        return f"ReplayEngine({str(self.folder)!r}, responses={len(self)})"

    def lookup(self, *, sha256: str | None = None, url: str | None = None) -> Path | None:
        """The recorded response file for this audio sha256 or URL, or None."""
        if sha256 is not None:
            return self._by_sha.get(sha256.lower())
        if url is not None:
            name = url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            stem = name.rsplit(".", 1)[0] if "." in name else name
            found = self._by_stem.get(stem)
            if found is None:
                match = _SHA_RE.search(url.lower())
                found = self._by_sha.get(match.group()) if match else None
            return found
        return None

    async def transcribe(
        self,
        *,
        audio: bytes | None,
        url: str | None,
        options: Options,
        request_id: str,
        sha256: str | None,
    ) -> dict[str, Any]:
        """Return a fresh copy of the recorded response, or raise :class:`EngineError` (400)."""
        path = self.lookup(sha256=sha256, url=None if sha256 else url)
        if path is None:
            if sha256 is None:
                raise EngineError(
                    400,
                    "REMOTE_CONTENT_ERROR",
                    f"The dgtools replay server does not fetch URLs and has no recorded response for {url!r}; "
                    f"record one in {str(self.folder)!r} named after the URL's file name.",
                )
            raise EngineError(
                400,
                "Bad Request",
                f"Bad Request: no recorded response for audio with sha256 {sha256} in {str(self.folder)!r}; "
                f"record one there (named {sha256}.json or with that metadata.sha256).",
            )
        data = await asyncio.to_thread(path.read_bytes)
        response: dict[str, Any] = msgspec.json.decode(data)
        metadata = response["metadata"]
        metadata["request_id"] = request_id
        metadata["created"] = now_created()
        if sha256 is not None:
            metadata["sha256"] = sha256
        return response
