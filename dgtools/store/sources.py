"""Reading a store back: which responses it holds for which inputs.

:func:`store_sources` lists ``(response path, file_id)`` pairs for :func:`dgtools.to_tables`;
:func:`is_store` tells a store folder from a folder of response files; :func:`store_tables`
rebuilds the tables of a store, local or remote (:class:`~dgtools.store.RemoteStore`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from ..exceptions import ResponseFormatError
from . import index
from .remote import RemoteStore, is_url
from .store import Store

if TYPE_CHECKING:
    from ..tables import Tables

__all__ = ["is_store", "store_sources", "store_tables", "unique_file_ids"]


def is_store(path: str | os.PathLike[str] | RemoteStore) -> bool:
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
    if isinstance(path, RemoteStore):
        return path.is_store()
    if is_url(path):
        return RemoteStore(str(path)).is_store()
    p = Path(path)
    return (p / "responses").is_dir() and ((p / index.INDEX_NAME).is_file() or (p / "tmp").is_dir())


@overload
def store_sources(store: os.PathLike[str] | Store) -> list[tuple[Path, str]]: ...
@overload
def store_sources(store: RemoteStore) -> list[tuple[str, str]]: ...
@overload
def store_sources(store: str) -> list[tuple[Path, str]] | list[tuple[str, str]]: ...
def store_sources(
    store: str | os.PathLike[str] | Store | RemoteStore,
) -> list[tuple[Path, str]] | list[tuple[str, str]]:
    """``(response path, file_id)`` for every input a store holds a response for.

    For a :class:`~dgtools.store.RemoteStore` (or a URL such as ``s3://bucket/prefix``) the
    paths are the responses' URLs: read them with :func:`store_tables`.

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
    if isinstance(store, RemoteStore) or is_url(store):
        remote = store if isinstance(store, RemoteStore) else RemoteStore(str(store))
        return [(remote.path(key), fid) for key, fid in _pairs(remote)]
    st = store if isinstance(store, Store) else Store(store)
    return [(st.path(key), fid) for key, fid in _pairs(st)]


def unique_file_ids(ids: Iterable[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Each file id its own: a repeat of ``id`` becomes ``id#2``, ``id#3``, ...; also the ``(id, new id)`` renamed.

    A store holds one response per audio and options, so a file answered with two sets of options
    appears twice in :func:`store_sources`; the tables need an id for each.

    Examples
    --------
    >>> unique_file_ids(["a.wav", "b.wav", "a.wav"])
    (['a.wav', 'b.wav', 'a.wav#2'], [('a.wav', 'a.wav#2')])
    """
    out: list[str] = []
    renamed: list[tuple[str, str]] = []
    taken: set[str] = set()
    for fid in ids:
        given, n = fid, 2
        while given in taken:
            given, n = f"{fid}#{n}", n + 1
        if given != fid:
            renamed.append((fid, given))
        taken.add(given)
        out.append(given)
    return out, renamed


def _pairs(st: Store | RemoteStore) -> list[tuple[str, str]]:
    """``(key, file_id)`` of :func:`store_sources`: indexed pairs in record order, then unindexed keys."""
    stored = set(st.keys())
    seen: dict[tuple[str, str], None] = {}
    indexed: set[str] = set()
    for e in st.entries():
        key, fid = e.get("key"), e.get("file_id") or e.get("source")
        if isinstance(key, str):
            indexed.add(key)
            if isinstance(fid, str) and key in stored:
                seen[(key, fid)] = None
    return [*seen, *((key, key) for key in sorted(stored - indexed))]


def store_tables(store: str | os.PathLike[str] | Store | RemoteStore) -> Tables:
    """The tables of every response a store holds, under the file ids its index gives them.

    A local store reads its files; a :class:`~dgtools.store.RemoteStore` (or a URL, opened with
    the default credentials) fetches its responses concurrently.  The same responses with the
    same index give the same tables wherever the store is.

    Raises
    ------
    ResponseFormatError
        A stored response is not a Deepgram response; the message names its URL (quarantine
        it with ``store.quarantine(key, reason)`` and transcribe again).

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> key = Store.key("ab" * 32, "0123456789abcdef")
    >>> _ = store.write_bytes(key, b'{"metadata": {"request_id": "r1"}, "results": {"channels": []}}')
    >>> store.record({"key": key, "file_id": "calls/a.wav"})
    >>> store_tables(store).requests["file_id"].tolist()
    ['calls/a.wav']
    """
    from ..tables import to_tables

    if not (isinstance(store, RemoteStore) or is_url(store)):
        local = store_sources(store if isinstance(store, Store) else Path(store))
        return to_tables([p for p, _ in local], file_id=[f for _, f in local])
    remote = store if isinstance(store, RemoteStore) else RemoteStore(str(store))
    pairs = _pairs(remote)
    unique = list(dict.fromkeys(k for k, _ in pairs))
    fetched = dict(zip(unique, remote.read_many(unique), strict=True))
    objs: list[Any] = []
    for key, _ in pairs:
        data = fetched[key]
        if isinstance(data, BaseException):
            raise data
        try:
            objs.append(json.loads(data))
        except ValueError:
            raise ResponseFormatError(
                f"{remote.path(key)} is not JSON: quarantine it with store.quarantine(key, reason) "
                "and transcribe the file again"
            ) from None
    return to_tables(objs, file_id=[f for _, f in pairs])
