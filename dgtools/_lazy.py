"""Public names that load on first use: one ``__getattr__``/``__dir__`` pair for a package's ``__init__``.

``import dgtools`` must stay light, so the package (and ``dgtools.engines``, ``dgtools.server``) lists
where each public name lives and imports that module only when the name is first used (PEP 562)::

    __getattr__, __dir__ = lazy_exports(__name__, {"Store": ".store", ...})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name of ``where`` is imported from its module on first use.

    Parameters
    ----------
    package
        The package's ``__name__``.
    where
        Public name -> the module it is defined in, relative to ``package`` (``".store"``,
        ``"..exceptions"``) or absolute.

    Examples
    --------
    >>> getattr_, dir_ = lazy_exports("dgtools", {"Store": ".store"})
    >>> getattr_("Store").__name__
    'Store'
    >>> getattr_("Nope")
    Traceback (most recent call last):
    ...
    AttributeError: module 'dgtools' has no attribute 'Nope'
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        vars(sys.modules[package])[name] = value  # later lookups find it without calling this again
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
