"""The Deepgram wire: credentials, endpoints, one request, error mapping, retries, the HTTP transport.

- :mod:`dgtools.api.auth`: :class:`Credentials`, :func:`resolve_credentials`, :func:`resolve_base_url`.
- :mod:`dgtools.api.client`: :class:`DeepgramClient`, one pre-recorded ``/v1/listen`` request per call,
  within an overall deadline, the sha256 of the bytes it sent in the result.
- :mod:`dgtools.api.body`: reading an answer, decompressed within ``max_response_bytes``, spooled to a file
  when large.
- :mod:`dgtools.api.errors`: :class:`ListenResult`, :func:`check_body`, :func:`error_from_response`.
- :mod:`dgtools.api.proxies`: ``HTTP(S)_PROXY`` / ``NO_PROXY`` and ``proxy=``, routed as httpx routes them.
- :mod:`dgtools.api.retry`: :class:`RetryPolicy`, which failures are retried, after how long, and why not.
- :mod:`dgtools.api.transport`: :class:`PooledTransport`, dgtools' own HTTP/1.1 keep-alive pool under httpx.

Concurrency, the store and the batch loop live above this layer, in :mod:`dgtools.batch`.
"""

from .auth import DEFAULT_BASE_URL, REGIONS, Credentials, resolve_base_url, resolve_credentials
from .client import DeepgramClient
from .errors import ListenResult, check_body, error_from_response, parse_retry_after
from .retry import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "REGIONS",
    "Credentials",
    "DeepgramClient",
    "ListenResult",
    "RetryPolicy",
    "check_body",
    "error_from_response",
    "parse_retry_after",
    "resolve_base_url",
    "resolve_credentials",
]
