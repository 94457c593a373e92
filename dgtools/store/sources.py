"""Reading a store back: which responses it holds for which inputs.

:func:`store_sources` lists ``(response path, file_id)`` pairs for :func:`dgtools.to_tables`;
:func:`is_store` tells a store folder from a folder of response files.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import index
from .store import Store

__all__ = ["is_store", "store_sources"]


def is_store(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a dgtools store (``responses/`` beside ``index.jsonl`` or ``tmp/``).

    A run killed before its first index line leaves only ``tmp/`` and ``responses/``, so either
    marks a store.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> is_store(root)
    False
    >>> Store(root).record({"key": Store.key("ab" * 32, "0123456789abcdef")})
    >>> (root / "responses").mkdir(); is_store(root)
    True
    """
    p = Path(path)
    return (p / "responses").is_dir() and ((p / index.INDEX_NAME).is_file() or (p / "tmp").is_dir())


def store_sources(store: str | os.PathLike[str] | Store) -> list[tuple[Path, str]]:
    """``(response path, file_id)`` for every input a store holds a response for.

    First from the store's index: each (key, file_id) pair recorded whose response is complete,
    in the order they were recorded.  Then every complete response that no index entry mentions
    (its line was not yet appended when the process was killed), sorted by key, with the key as its
    file_id: the next ``dgtools transcribe`` of the same audio indexes it under the audio's own
    file id.  Rebuild the tables from a store with
    ``to_tables([p for p, _ in s], file_id=[f for _, f in s])``.

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> key = Store.key("ab" * 32, "0123456789abcdef")
    >>> _ = store.write_bytes(key, b'{"metadata": {}, "results": {}}')
    >>> store.record({"key": key, "file_id": "calls/a.wav"})
    >>> [(p.name, fid) for p, fid in store_sources(store)] == [(key + ".json", "calls/a.wav")]
    True
    """
    st = store if isinstance(store, Store) else Store(store)
    stored = set(st.keys())
    seen: dict[tuple[str, str], None] = {}
    indexed: set[str] = set()
    for e in st.entries():
        key, fid = e.get("key"), e.get("file_id") or e.get("source")
        if isinstance(key, str):
            indexed.add(key)
            if isinstance(fid, str) and key in stored:
                seen[(key, fid)] = None
    out = [(st.path(key), fid) for key, fid in seen]
    out += [(st.path(key), key) for key in sorted(stored - indexed)]
    return out
