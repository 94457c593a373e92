"""Store keys: ``sha256(audio)-<options digest>``, and the options half of a key for each engine."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import ConfigError

if TYPE_CHECKING:
    from ..options import ListenOptions

__all__ = ["KEY_RE", "check_key", "is_key", "store_digest"]

#: A store key: ``sha256(audio)`` (64 lowercase hex digits), ``-``, the options digest (hex).
KEY_RE: Final = re.compile(r"[0-9a-f]{64}-[0-9a-f]+")


def is_key(value: Any) -> bool:
    """Whether ``value`` is a store key (:meth:`Store.key <dgtools.store.Store.key>` makes them).

    Examples
    --------
    >>> is_key("ab" * 32 + "-0123456789abcdef"), is_key("../etc/passwd"), is_key(12)
    (True, False, False)
    """
    return isinstance(value, str) and KEY_RE.fullmatch(value) is not None


def check_key(key: Any) -> None:
    """Raise :class:`~dgtools.ConfigError` unless ``key`` is a store key."""
    if not is_key(key):
        raise ConfigError(
            f"not a store key: {key!r:.100}; make one with Store.key(audio_sha256, options_digest)"
        )


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
