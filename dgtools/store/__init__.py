"""The raw-response store: everything it means, in one place.

The raw JSON of every response is the source of truth: written once, atomically, never edited;
every table is rebuilt from it.

- :mod:`dgtools.store.store`: :class:`Store`, a folder of responses keyed by
  ``sha256(audio)`` + a digest of the options, with its index.
- :mod:`dgtools.store.keys`: :func:`store_digest`, the options half of a key for each engine.
- :mod:`dgtools.store.durable`: atomic, durable files (:class:`AtomicWriter`, group commits).
- :mod:`dgtools.store.index`: ``index.jsonl``, which input each response answers.
- :mod:`dgtools.store.writer`: :class:`StoreWriter`, the background thread a batch hands answers to.
- :mod:`dgtools.store.sources`: :func:`store_sources` and :func:`is_store`, reading a store back.
- :mod:`dgtools.store.secrets`: the guard that keeps the API key out of every file (it keeps only
  keyed hashes of it).
- :mod:`dgtools.store.claims`: :class:`Claims`, so that two runs on one store never send one file twice.
- :mod:`dgtools.store.pending`: :class:`Pending`, callback requests accepted but not yet delivered.
- :mod:`dgtools.store.quarantine`: unreadable responses moved aside (:meth:`Store.quarantine`).
- :mod:`dgtools.store.remote`: :class:`RemoteStore` and :func:`open_store`, the store on an fsspec
  URL (``s3://bucket/prefix``), with what each backend guarantees.
- :mod:`dgtools.store.remote_claims`: :class:`RemoteClaims`, the claims of a store in S3
  (conditional PUTs: If-None-Match to claim, If-Match to take over).
"""

from .claims import Claims, Owner
from .durable import AtomicWriter, syncfs_supported
from .keys import store_digest
from .pending import Pending
from .remote import RemoteStore, open_store
from .remote_claims import RemoteClaims
from .sources import is_store, store_sources, store_tables, unique_file_ids
from .store import Store
from .writer import IndexWriteError, StoreWriter

__all__ = [
    "AtomicWriter",
    "Claims",
    "IndexWriteError",
    "Owner",
    "Pending",
    "RemoteClaims",
    "RemoteStore",
    "Store",
    "StoreWriter",
    "is_store",
    "open_store",
    "store_digest",
    "store_sources",
    "store_tables",
    "unique_file_ids",
    "syncfs_supported",
]
