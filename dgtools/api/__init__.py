"""The Deepgram wire: credentials, endpoints, one request, error mapping, the HTTP transport.

- :mod:`dgtools.api.client`: :class:`DeepgramClient` (one pre-recorded ``/v1/listen`` request per call),
  :class:`Credentials`, :func:`resolve_credentials`, :func:`resolve_base_url`, :func:`error_from_response`.
- :mod:`dgtools.api.transport`: :class:`PooledTransport`, dgtools' own HTTP/1.1 keep-alive pool under httpx.

Retries, concurrency and the store live above this layer, in :mod:`dgtools.batch`.
"""

from .client import Credentials, DeepgramClient, ListenResult, resolve_base_url, resolve_credentials

__all__ = ["Credentials", "DeepgramClient", "ListenResult", "resolve_base_url", "resolve_credentials"]
