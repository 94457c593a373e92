"""Inputs left out of the tables: :class:`Failure`, ``on_error`` and the ``Tables.failures`` frame.

With ``on_error="skip"`` (or a function), :func:`dgtools.to_tables`,
:func:`dgtools.tables.iter_batches` and :func:`dgtools.write_dataset` leave
out an input they cannot read (a missing or unreadable file, not JSON, not a
response, nested too deeply, a value a response cannot hold) and go on with
the rest; each one left out is a :class:`Failure`.  ``to_tables`` lists them
in :attr:`dgtools.Tables.failures`, a frame of :data:`FAILURE_COLUMNS` that is
not one of the dgtools tables and is never written to Parquet.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Literal, NamedTuple, TypeAlias

import pandas as pd
import pyarrow as pa

from ..exceptions import ConfigError, ResponseFormatError

__all__ = [
    "FAILURE_COLUMNS", "Failure", "OnError", "caller_stacklevel", "check_on_error", "failure_from",
    "failures_frame", "skipped_message",
]  # fmt: skip

#: The columns of :attr:`dgtools.Tables.failures`, in order (all strings; only ``message`` is never null).
FAILURE_COLUMNS = ("file_id", "path", "key_path", "message")


class Failure(NamedTuple):
    """One input left out of the tables, and why.

    Examples
    --------
    >>> import dgtools
    >>> t = dgtools.to_tables([{"metadata": {"request_id": "r1"}, "results": {"channels": []}},
    ...                        {"hello": 1}], on_error="skip")
    >>> len(t.requests)
    1
    >>> f = t.failures.iloc[0]
    >>> f["file_id"], f["path"], f["key_path"], f["message"][:34]
    (<NA>, <NA>, 'results', 'item 1: is not a Deepgram response')
    """

    #: Its file id: the given one, else from its path, else its request_id; None when unknown.
    file_id: str | None
    #: The file it was read from; None for an in-memory object.
    path: str | None
    #: Where in the JSON the problem is (``results.channels[0].alternatives``), when known.
    key_path: str | None
    #: What is wrong and what to do (without the path, which has its own field).
    message: str


#: What ``on_error=`` takes: ``"raise"`` (the first bad input raises), ``"skip"`` (bad inputs are left
#: out and reported), or a function called with each :class:`Failure` (bad inputs are left out).
OnError: TypeAlias = Literal["raise", "skip"] | Callable[[Failure], object]


def check_on_error(on_error: object) -> None:
    """Raise :class:`~dgtools.ConfigError` unless ``on_error`` is ``"raise"``, ``"skip"`` or a function."""
    if on_error not in ("raise", "skip") and not callable(on_error):
        raise ConfigError(
            f'on_error must be "raise", "skip" or a function called with each Failure, not {on_error!r}'
        )


def failure_from(
    exc: ResponseFormatError, file_id: str | None, path: str | None, where: str | None = None
) -> Failure:
    """The :class:`Failure` of an input that raised ``exc``; ``where`` names an in-memory item."""
    path = exc.path or path
    message = str(exc)
    if exc.path and message.startswith(f"{exc.path}: "):
        message = message[len(exc.path) + 2 :]
    if path is None and where:
        message = f"{where}: {message}"
    return Failure(file_id, path, exc.key_path, message)


def failures_frame(failures: Iterable[Failure] = ()) -> pd.DataFrame:
    """:attr:`dgtools.Tables.failures` of these failures (string columns; empty with its columns)."""
    rows = list(failures)
    table = pa.table(
        {name: pa.array([f[i] for f in rows], pa.string()) for i, name in enumerate(FAILURE_COLUMNS)}
    )
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def skipped_message(skipped: list[Failure], shown: int = 5) -> str:
    """One line naming the inputs left out (the first ``shown`` of them)."""
    lines = [f"{f.path or f.file_id or 'an input'}: {f.message}" for f in skipped[:shown]]
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return (
        f"left out {len(skipped)} input(s) that are not usable Deepgram responses: "
        + "; ".join(lines)
        + more
        + " (pass on_error=<function> to receive each one)"
    )


def caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside dgtools (the user's line).

    Call it in the argument list of ``warnings.warn``.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    frame = sys._getframe(2)  # the caller of the function that warns
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
