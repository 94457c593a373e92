"""Speech-to-text engines that run on this machine.

:mod:`dgtools.engines.local` holds :class:`~dgtools.engines.local.LocalEngine`
(pocketsphinx with its bundled US English model; no key, no network) and
:func:`~dgtools.engines.local.decode_many` (many files in worker processes).
Importing this package is light: pocketsphinx, soundfile and librosa load
when audio is first decoded.
"""

from __future__ import annotations

import importlib
import typing as _typing

__all__ = ["AudioDecodeError", "Decoded", "LocalEngine", "decode_many"]

if _typing.TYPE_CHECKING:
    from .local import AudioDecodeError, Decoded, LocalEngine, decode_many


def __getattr__(name: str) -> _typing.Any:
    if name not in __all__:
        raise AttributeError(f"module 'dgtools.engines' has no attribute {name!r}")
    value = getattr(importlib.import_module(".local", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
