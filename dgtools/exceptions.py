"""The dgtools exception tree.

Every error dgtools raises derives from :class:`DGToolsError`, so one
``except dgtools.DGToolsError`` catches them all::

    DGToolsError
    ├── ConfigError (ValueError)        missing key, invalid option, bad base URL
    ├── ResponseFormatError (ValueError) input is not a Deepgram response: names the file and key path
    └── SchemaError (ValueError)        a table or Parquet file has the wrong columns or metadata

Each error carries its context as attributes (``.path``, ``.key_path``,
``.table``) and its message says what failed, for which file, and how to fix it.
"""

from __future__ import annotations

from os import PathLike

__all__ = ["ConfigError", "DGToolsError", "ResponseFormatError", "SchemaError"]


class DGToolsError(Exception):
    """Root of every error raised by dgtools."""


class ConfigError(DGToolsError, ValueError):
    """An option, argument or setting is invalid; the message names it."""


class ResponseFormatError(DGToolsError, ValueError):
    """The input is not a Deepgram response (or holds a value of the wrong type).

    Attributes
    ----------
    path : str or None
        The file the response came from, when it came from a file.
    key_path : str or None
        Where in the JSON the problem is, e.g. ``results.channels[0].alternatives``.
    """

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None, key_path: str | None = None):
        self.path = None if path is None else str(path)
        self.key_path = key_path
        where = f"{self.path}: " if self.path else ""
        super().__init__(where + message)


class SchemaError(DGToolsError, ValueError):
    """A table does not match its dgtools schema, or a Parquet file is foreign or too new.

    Attributes
    ----------
    table : str or None
        The dgtools table name involved.
    path : str or None
        The Parquet file involved, if any.
    """

    def __init__(self, message: str, *, table: str | None = None, path: str | PathLike[str] | None = None):
        self.table = table
        self.path = None if path is None else str(path)
        super().__init__(message)
