"""The content-addressed store of synthesised audio: one file per (text chunk, voice and format) key.

It lives in the same folder as the raw-response store (``dgtools-store`` by default), beside it::

    speech/ab/ab12…ef-0123456789abcdef.mp3     the audio Deepgram answered for one chunk
    speech/ab/ab12…ef-0123456789abcdef.json    what came with it: request_id, duration, time to first byte
    speech/claims/lock, runs/<run>.json, .keys  which live run is sending which chunk (Claims)
    tmp/<key>.<host>.<pid>-<start>.<random>.part  writes in progress (cleaned by Store.clean)

The key is ``sha256(chunk text)`` + a digest of the canonical options (voice, encoding,
container, sample rate, bit rate, speed, and the engine when it is not Deepgram): the same text
asked for the same way is synthesised once, and a rerun finds it here and sends nothing.  Files
are written like the raw store's: to a temp file, made durable, then linked into place (the
first write of a key wins), the metadata before the audio, so that audio under its key is always
whole and described.  Two runs on one store (two processes, two notebooks) never send one chunk
at once: a run claims its chunks first (:class:`~dgtools.store.Claims` under ``speech/``, apart
from the transcription claims), and waits for those another live run holds.  Nothing written ever
holds the API key (:class:`~dgtools.store.secrets.SecretGuard`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..store import Store
from ..store.durable import AtomicWriter
from ..store.keys import check_key
from ..store.secrets import SecretGuard

__all__ = ["SpeechStore", "canonical", "speech_key"]


def canonical(query: Sequence[tuple[str, str]], engine: str = "deepgram") -> str:
    """The options of a request as one stable string: sorted pairs, and the engine unless it is Deepgram.

    Examples
    --------
    >>> canonical([("model", "aura-asteria-en"), ("encoding", "mp3")])
    'encoding=mp3&model=aura-asteria-en'
    >>> canonical([("model", "aura-asteria-en")], engine="local")
    'model=aura-asteria-en&dgtools_engine=local'
    """
    text = "&".join(f"{k}={v}" for k, v in sorted(query))
    return text if engine == "deepgram" else f"{text}&dgtools_engine={engine}"


def speech_key(text: str, options: str) -> str:
    """The store key of one chunk of text synthesised with the canonical ``options``.

    Examples
    --------
    >>> speech_key("Hello.", "model=aura-asteria-en")[:12], len(speech_key("Hello.", "model=aura-asteria-en"))
    ('2d8bd7d9bb5f', 81)
    """
    sha = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    digest = hashlib.sha256(options.encode()).hexdigest()[:16]
    return Store.key(sha, digest)


class SpeechStore:
    """Synthesised audio under ``root/speech``, one file per key, with its metadata beside it.

    Parameters
    ----------
    root
        The store's folder (shared with the raw-response store).
    suffix
        The audio files' suffix (``.mp3``, ``.wav``, ...): part of what the key's options say.
    secrets
        Values never to write (the API key): a write holding one is refused with
        :class:`~dgtools.ConfigError`.

    Examples
    --------
    >>> import tempfile
    >>> st = SpeechStore(tempfile.mkdtemp(), ".wav")
    >>> key = speech_key("Hi.", "encoding=linear16")
    >>> st.has(key)
    False
    >>> path = st.write(key, b"RIFF....WAVE", {"request_id": "r1"})
    >>> st.has(key), st.meta(key)["request_id"], path.suffix
    (True, 'r1', '.wav')
    """

    def __init__(self, root: str | os.PathLike[str], suffix: str, *, secrets: Sequence[str] = ()) -> None:
        self.root = Path(root)
        self.suffix = suffix
        self._guard = SecretGuard([s for s in secrets if s])

    def __repr__(self) -> str:
        return f"<dgtools.SpeechStore root={str(self.root)!r} suffix={self.suffix!r}>"

    @property
    def folder(self) -> Path:
        """``root/speech``: the audio and metadata of every chunk, and the claims of the runs sending them."""
        return self.root / "speech"

    def path(self, key: str) -> Path:
        """Where the audio of ``key`` lives: ``root/speech/<key[:2]>/<key><suffix>``."""
        check_key(key)
        return self.folder / key[:2] / f"{key}{self.suffix}"

    def meta_path(self, key: str) -> Path:
        """Where the metadata of ``key`` lives."""
        return self.path(key).with_suffix(".json")

    def has(self, key: str) -> bool:
        """Whether the audio of ``key`` is stored (whole: it is linked into place only once durable)."""
        return self.path(key).is_file()

    def read(self, key: str) -> bytes:
        """The stored audio of ``key``."""
        return self.path(key).read_bytes()

    def meta(self, key: str) -> dict[str, Any]:
        """The stored metadata of ``key`` (empty when it cannot be read)."""
        try:
            meta = json.loads(self.meta_path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def write(self, key: str, audio: bytes, meta: Mapping[str, Any]) -> Path:
        """Store ``audio`` and its ``meta`` atomically and durably (metadata first); returns the audio's path.

        The first write of a key wins: writing it again keeps what is there.

        Raises
        ------
        ConfigError
            The audio or the metadata holds one of the secrets; nothing is written.
        OSError
            The disk is full, the folder read-only...
        """
        target = self.path(key)
        if target.is_file():
            return target
        tmp = self.root / "tmp"
        # metadata left by a run killed between the two writes describes a request whose audio was lost
        self.meta_path(key).unlink(missing_ok=True)
        self._write(key, self.meta_path(key), tmp, json.dumps(dict(meta), sort_keys=True).encode())
        self._write(key, target, tmp, audio)
        return target

    def _write(self, key: str, target: Path, tmp: Path, data: bytes) -> None:
        with AtomicWriter(key, target, tmp, self._guard) as w:  # temp file, fsync, link, fsync of the folder
            w.write(data)
