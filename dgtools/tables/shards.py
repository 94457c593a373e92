"""Response files in shards, for building tables in several processes or on a Dask cluster.

:func:`file_sources` lists the response files of a source made of paths, each with the
``file_id`` :func:`dgtools.to_tables` would give it, decided up front so that shards built apart
(in other processes, on other machines) give exactly the ids of one build.  :func:`split` cuts
that list into shards in input order; :func:`map_in_processes` runs a function over the shards in
a process pool and yields the results in input order.

What a shard's tables are is :func:`dgtools.tables.build.build_shard`; this module never
builds tables (it does not import :mod:`dgtools.tables.build`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..exceptions import ConfigError, DGToolsWarning
from ._columns import FileIds
from .failures import caller_stacklevel
from .read import no_responses, response_files

__all__ = ["FilePair", "file_sources", "map_in_processes", "split"]

#: ``(path, file_id)`` of one response file.
FilePair = tuple[str, str]

_T = TypeVar("_T")
_R = TypeVar("_R")


def file_sources(source: Any, *, file_id: str | Sequence[str] | None = None) -> list[FilePair] | None:
    """``(path, file_id)`` of every response file of ``source``, or None when it is not made of paths.

    ``source`` is a path to a file or a folder, or an iterable of them; a folder gives its
    ``.json``/``.jsonl`` files in sorted order (:func:`~dgtools.tables.read.response_files`).
    The ids are those :func:`dgtools.to_tables` gives: ``file_id`` when given (one per file),
    else a file's path relative to its folder without its suffix, or its stem; an id given
    twice gets ``#2`` (then ``#3``...), with the warning ``to_tables`` gives.  A missing file is
    listed too: building it fails as in ``to_tables`` (its ``on_error`` decides).

    Returns
    -------
    list of (str, str), or None
        None when ``source`` holds anything but paths (dicts, bytes, streaming messages,
        SDK objects): build those in one process.

    Raises
    ------
    ConfigError
        ``file_id`` has too few ids for the files, or repeats one.

    Warns
    -----
    DGToolsWarning
        A folder holds no response files; two files get the same id.

    Examples
    --------
    >>> from dgtools.tables.shards import file_sources
    >>> [fid for _, fid in file_sources("data/responses")][:3]
    ['clinic_call_stereo', 'live_session', 'podcast_mono']
    >>> file_sources({"results": {}}) is None
    True
    """
    if isinstance(source, (str, os.PathLike)):
        items: list[Any] = [source]
    elif isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray, memoryview, dict)):
        items = list(source)
        if not all(isinstance(i, (str, os.PathLike)) for i in items):
            return None
    else:
        return None
    given = _given_ids(file_id)
    pairs: list[FilePair] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files = response_files(path)
            if not files:
                warnings.warn(no_responses(path), DGToolsWarning, stacklevel=caller_stacklevel())
            for p in files:
                pairs.append((str(p), next(given) or p.relative_to(path).with_suffix("").as_posix()))
        else:
            pairs.append((str(path), next(given) or path.stem))
    return _unique(pairs)


def _given_ids(file_id: str | Sequence[str] | None) -> Iterator[str | None]:
    """The given ids one by one (None forever when none were given); raises when they run out."""
    if file_id is None:
        while True:
            yield None
    ids = [file_id] if isinstance(file_id, str) else list(file_id)
    if len(set(ids)) < len(ids):
        dup = next(i for n, i in enumerate(ids) if i in ids[:n])
        raise ConfigError(
            f"file_id= gives {dup!r} to more than one response; file ids join the tables, "
            "so each response needs its own"
        )
    yield from ids
    raise ConfigError("file_id= has fewer ids than the source has responses")


def _unique(pairs: list[FilePair]) -> list[FilePair]:
    """Each pair with its own id: a repeated id gets ``#2`` (then ``#3``...), with to_tables' warning."""
    ids = FileIds()
    out = [(p, ids.claim(fid)) for p, fid in pairs]
    warned: set[str] = set()
    for asked, given in ids.renamed:
        if asked not in warned:
            warned.add(asked)
            warnings.warn(
                f"file_id {asked!r} is used by more than one response (the same response given twice, "
                f"e.g. [json.load(f) for f in files] over one file, or two files of the same name); "
                f"the later one is called {given!r} (then #3, #4, ...). Pass file_id=[...], one id "
                "per response, to choose the ids.",
                DGToolsWarning,
                stacklevel=caller_stacklevel(),
            )
    return out


def split(items: Sequence[_T], size: int) -> list[list[_T]]:
    """``items`` cut into consecutive shards of ``size`` (the last may be shorter), in order.

    Raises
    ------
    ConfigError
        ``size`` is not a positive integer.

    Examples
    --------
    >>> split([1, 2, 3, 4, 5], 2)
    [[1, 2], [3, 4], [5]]
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"shard_size must be a positive integer (responses per shard), not {size!r}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def map_in_processes(fn: Callable[[_T], _R], shards: Sequence[_T], processes: int) -> Iterator[_R]:
    """``fn(shard)`` for every shard in a pool of ``processes`` processes, yielded in input order.

    ``fn`` must be a module-level function, or a ``functools.partial`` of one (it is pickled by
    name).  Processes are started with ``forkserver`` where the platform has it (never ``fork``:
    the caller may hold threads), else ``spawn``.  The fork server imports ``fn``'s module once
    when it starts (the first pool of this interpreter), so the workers start without importing
    pandas and pyarrow again.  An exception in a shard is raised here, in input order.

    Examples
    --------
    >>> list(map_in_processes(abs, [-1, 2, -3], 2))
    [1, 2, 3]
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx: Any
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # Only read when the fork server starts; a server already running keeps its own list.
        ctx.set_forkserver_preload([getattr(fn, "func", fn).__module__])
    else:
        ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(processes, max(1, len(shards))), mp_context=ctx) as pool:
        yield from pool.map(fn, shards)
