"""The raw-response store: everything it means, in one place.

:class:`Store` files each raw Deepgram response under a key made of the audio's sha256 and a
digest of the options (:mod:`dgtools.store.store`).
"""

from .store import AtomicWriter, Store

__all__ = ["AtomicWriter", "Store"]
