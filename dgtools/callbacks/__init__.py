"""Receiving Deepgram's callbacks: :func:`collect_callbacks` (``dgtools receive``).

- :mod:`dgtools.callbacks.receiver`: the small HTTP receiver (starlette + uvicorn, the ``serve``
  extra) that checks each delivery against the store's pending requests and stores it.
"""

from .receiver import CallbackSummary, acollect_callbacks, collect_callbacks, create_receiver

__all__ = ["CallbackSummary", "acollect_callbacks", "collect_callbacks", "create_receiver"]
