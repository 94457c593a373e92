"""The Deepgram HTTP client: one pre-recorded ``POST /v1/listen`` request per call.

:class:`DeepgramClient` sends raw audio bytes, or ``{"url": ...}``, and returns the response body as
bytes, checked to be a whole response (:func:`~dgtools.api.errors.check_body`) but not parsed into
Python objects: the batch runner writes those bytes to the raw store, and tables are built from
the store later.  Retries, concurrency and progress live in :mod:`dgtools.batch`; credentials and
endpoints in :mod:`dgtools.api.auth`; error mapping in :mod:`dgtools.api.errors`.

Connections: requests go through one ``httpx.AsyncClient`` whose transport is
:class:`dgtools.api.transport.PooledTransport`, a lean HTTP/1.1 keep-alive pool
on asyncio protocols with at most ``max_connections`` connections: the server
sees as many connections as requests in flight, reused across requests.
httpcore 1.0's pool (httpx's default transport) re-checks every pooled
connection with system calls on every request and response, which costs more
CPU than the rest of the request at 32-64 in flight and queues a batch's
first wave behind the client itself; with ``httpx.Limits`` at their defaults
it also opens a new connection for nearly every request above 20 in flight.
Proxies from the environment (``HTTPS_PROXY`` ...) still go through httpx's
own proxy transports, and ``transport=`` replaces the pool entirely (tests
pass ``httpx.MockTransport``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from ..exceptions import TransportError
from .auth import Credentials, resolve_base_url, resolve_credentials
from .errors import ListenResult, check_body, error_from_response

if TYPE_CHECKING:
    from ..options import ListenOptions

__all__ = ["DeepgramClient"]

_READ_ALL_BELOW = 32 << 20  # files smaller than this are read into memory; larger ones are streamed


class DeepgramClient:
    """Async client for pre-recorded ``/v1/listen``: one request per call.

    Parameters
    ----------
    api_key, access_token, username, password
        Credentials; see :func:`resolve_credentials` (the environment is used
        when none is given).
    base_url, region
        Endpoint; see :func:`resolve_base_url`.
    transport
        An ``httpx.AsyncBaseTransport`` to use instead of the network (tests
        pass ``httpx.MockTransport``).
    max_connections
        Most requests in flight (and connections) at once.
    timeout
        Seconds to wait for an answer; default scales with the file size
        (Deepgram can take minutes for hours of audio).

    Examples
    --------
    >>> async with DeepgramClient(api_key=key) as dg:                       # doctest: +SKIP
    ...     result = await dg.transcribe_file("call.wav", ListenOptions.from_kwargs(model="nova-3"))
    >>> dgtools.to_tables(msgspec.json.decode(result.body)).words           # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 50,
        timeout: float | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.credentials = credentials or resolve_credentials(
            api_key, access_token, username=username, password=password
        )
        self.base_url = resolve_base_url(base_url, region)
        self.max_connections = max(1, int(max_connections))
        self.timeout = timeout
        from .._version import __version__
        from .transport import PooledTransport

        if transport is None:
            # One TLS context (certifi's CA bundle, as httpx would use); none for a plain-http
            # endpoint such as 'dgtools serve'.
            tls = None if self.base_url.startswith("http://") else _tls_context()
            transport = PooledTransport(
                max_connections=self.max_connections, keepalive_expiry=30, ssl_context=tls
            )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            headers={"User-Agent": f"dgtools/{__version__}"},
            timeout=None,
        )

    def __repr__(self) -> str:
        return f"<DeepgramClient {self.base_url} auth={self.credentials.scheme} max_connections={self.max_connections}>"

    async def __aenter__(self) -> DeepgramClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._http.aclose()

    def _timeout(self, size: int | None) -> httpx.Timeout:
        if self.timeout is not None:
            return httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        mb = (size or 0) / 1e6
        # upload at >= 1 MB/s; Deepgram answers long files in well under their duration
        return httpx.Timeout(connect=10.0, write=max(60.0, mb), read=max(300.0, 4 * mb), pool=None)

    async def transcribe_file(
        self,
        path: str | os.PathLike[str],
        options: ListenOptions,
        *,
        content_type: str | None = None,
        source: str | None = None,
    ) -> ListenResult:
        """Send one audio file; the body is re-read from disk on every call.

        Raises
        ------
        DeepgramAPIError
            Deepgram answered with an error status (the subclass says which).
        TransportError
            No answer (connection refused or dropped, timeout).
        """
        p = Path(path)
        source = source or str(path)
        size = p.stat().st_size
        headers = {"Content-Type": content_type or "application/octet-stream", "Content-Length": str(size)}
        content: Any = p.read_bytes() if size < _READ_ALL_BELOW else _chunks(p)
        return await self._post(options, headers=headers, content=content, size=size, source=source)

    async def transcribe_url(
        self, url: str, options: ListenOptions, *, source: str | None = None
    ) -> ListenResult:
        """Ask Deepgram to fetch and transcribe ``url``."""
        body = msgspec.json.encode({"url": url})
        return await self._post(
            options,
            headers={"Content-Type": "application/json"},
            content=body,
            size=None,
            source=source or url,
        )

    async def _post(
        self, options: ListenOptions, *, headers: dict[str, str], content: Any, size: int | None, source: str
    ) -> ListenResult:
        headers = {**headers, "Authorization": self.credentials.header()}
        try:
            response = await self._http.post(
                "/v1/listen",
                params=tuple(options.query_params()),
                headers=headers,
                content=content,
                timeout=self._timeout(size),
            )
            body = response.content
        except httpx.TimeoutException as exc:
            raise TransportError(
                f"no answer from {self.base_url} for {source!r} in time ({type(exc).__name__}); it is retried",
                path=source,
            ) from exc
        except httpx.TransportError as exc:
            raise TransportError(
                f"could not reach {self.base_url} for {source!r} ({type(exc).__name__}: "
                f"{self.credentials.redact(str(exc)) or 'connection failed'}); it is retried; "
                "check the network and base_url=",
                path=source,
            ) from exc
        if response.status_code >= 300:
            raise error_from_response(
                response.status_code,
                body,
                headers=response.headers,
                source=source,
                credentials=self.credentials,
            )
        request_id = check_body(body, source=source) or response.headers.get("dg-request-id")
        return ListenResult(
            body=body,
            request_id=request_id,
            status_code=response.status_code,
            headers={k: v for k, v in response.headers.items() if k.lower().startswith("dg-")},
        )


def _tls_context() -> Any:
    """The TLS context httpx would build (certifi's CA bundle), built once per client."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


async def _chunks(path: Path, size: int = 1 << 20) -> Any:
    """Stream a large file in 1 MB chunks (re-opened on every attempt)."""
    import asyncio

    loop = asyncio.get_running_loop()
    with path.open("rb") as f:
        while True:
            chunk = await loop.run_in_executor(None, f.read, size)
            if not chunk:
                return
            yield chunk
