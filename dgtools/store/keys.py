"""Store keys: ``sha256(audio)-<options digest>``, and the options half of a key for each engine."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..options import ListenOptions

__all__ = ["store_digest"]


def store_digest(options: ListenOptions, engine: str = "deepgram") -> str:
    """The options half of a store key, 16 hex digits; an offline engine's answers never pass for Deepgram's.

    Deepgram's answers are filed under :meth:`ListenOptions.digest
    <dgtools.options.ListenOptions.digest>`; any other engine's under a digest that also names the
    engine, so that a store shared by both never serves a local transcript as Deepgram's.

    Examples
    --------
    >>> from dgtools.options import ListenOptions
    >>> opts = ListenOptions.from_kwargs(model="nova-3")
    >>> store_digest(opts) == opts.digest(), store_digest(opts, "local") == opts.digest()
    (True, False)
    """
    if engine == "deepgram":
        return options.digest()
    return hashlib.sha256(f"{options.canonical()}&dgtools_engine={engine}".encode()).hexdigest()[:16]
