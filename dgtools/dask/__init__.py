"""dgtools on a Dask cluster: flattening millions of stored responses, and transcription fanned out.

Optional: ``pip install 'dgtools[dask]'`` (dask[dataframe] and distributed).  Nothing here is
imported by ``import dgtools``; each function imports Dask when called.

- :mod:`dgtools.dask.read`: :func:`read_store`, a table of a store (or of response files) as a
  ``dask.dataframe.DataFrame`` built over shards of responses;
- :mod:`dgtools.dask.write`: :func:`write_dataset`, the Parquet dataset of
  :func:`dgtools.write_dataset`, written one task per shard;
- :mod:`dgtools.dask.transcribe`: :func:`transcribe`, inputs split into shards transcribed on the
  workers against one shared store, under one cluster-wide concurrency cap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports as _lazy_exports

# Imported here, not lazily: the function shares its module's name, and a lazy export would be
# shadowed by the module once anything imported dgtools.dask.transcribe.  It imports Dask only
# when called.
from .transcribe import transcribe

if TYPE_CHECKING:
    from .read import read_store
    from .write import write_dataset

__all__ = ["read_store", "transcribe", "write_dataset"]

__getattr__, __dir__ = _lazy_exports(__name__, {"read_store": ".read", "write_dataset": ".write"})
