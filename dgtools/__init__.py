"""dgtools: Deepgram speech-to-text results as typed pandas tables.

Quick start::

    import dgtools
    tables = dgtools.to_tables("responses/")        # JSON files saved from Deepgram
    tables.words.dg.talk_time()                     # the df.dg accessor
    tables.to_parquet("out/")                       # DuckDB / Polars / Spark read these

``import dgtools`` is light: it imports pandas (to register ``df.dg``), and
pyarrow loads on first use of a table function; matplotlib, ipywidgets, librosa and IPython are never imported
until a plot, widget or audio function needs them.
"""

import typing as _typing

from . import accessor as _accessor  # noqa: F401  registers the df.dg pandas accessor (imports pandas only)
from .exceptions import ConfigError, DGToolsError, ResponseFormatError, SchemaError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DGToolsError",
    "ResponseFormatError",
    "SCHEMA_VERSION",
    "SchemaError",
    "Tables",
    "TablesSummary",
    "__version__",
    "read_parquet",
    "to_tables",
    "write_dataset",
]

if _typing.TYPE_CHECKING:
    from .parquet import read_parquet, write_dataset
    from .schema import SCHEMA_VERSION
    from .tables import Tables, TablesSummary, to_tables

_LAZY = {
    "SCHEMA_VERSION": ".schema",
    "Tables": ".tables",
    "TablesSummary": ".tables",
    "to_tables": ".tables",
    "read_parquet": ".parquet",
    "write_dataset": ".parquet",
}


def __getattr__(name: str) -> _typing.Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'dgtools' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(mod, __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
