"""Optional dependencies: import one, or say in one line which ``pip install`` brings it.

dgtools keeps what the two README commands need in its core dependencies and puts the rest in
extras (``pyproject.toml``): ``serve`` (starlette, uvicorn: ``dgtools serve`` and
:class:`dgtools.server.LocalServer`), and those later parts add.  ``all`` installs every extra.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .exceptions import MissingDependencyError

__all__ = ["require"]


def require(module: str, *, extra: str | None, feature: str, package: str | None = None) -> ModuleType:
    """Import ``module``, or raise :class:`~dgtools.MissingDependencyError` naming the extra to install.

    Parameters
    ----------
    module
        The module to import, e.g. ``"uvicorn"``.
    extra
        The dgtools extra that installs it, e.g. ``"serve"``; None for a core dependency.
    feature
        What needs it, as the user called it, e.g. ``"dgtools serve"``.
    package
        The distribution's name when it differs from the module's.

    Examples
    --------
    >>> require("json", extra="none", feature="this example").__name__
    'json'
    >>> require("no_such_module_here", extra="serve", feature="dgtools serve")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.MissingDependencyError: dgtools serve needs no_such_module_here, which is not installed: pip install 'dgtools[serve]'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(feature, package=package or module.split(".")[0], extra=extra) from exc
