"""The Deepgram HTTP client: one pre-recorded ``POST /v1/listen`` request per call.

``api_version="v2"`` (or a ``base_url`` ending in ``/v2``) sends ``POST /v2/listen`` instead: the
old API of ``https://brain.deepgram.com/v2``, with HTTP Basic auth (``username=`` and
``password=``, or ``DEEPGRAM_USERNAME`` and ``DEEPGRAM_PASSWORD``).  Its answers have the old
response shape, which :func:`dgtools.to_tables` reads as it reads v1's.

:class:`DeepgramClient` sends raw audio bytes, or ``{"url": ...}``, and returns the response body as
bytes (or, past ``spool_above``, in a file the caller named), checked to be a whole response
(:func:`~dgtools.api.errors.check_parts`) but not parsed into Python objects: the batch runner
writes those bytes to the raw store, and tables are built from the store later.  Retries,
concurrency and progress live in :mod:`dgtools.batch`; credentials and endpoints in
:mod:`dgtools.api.auth`; error mapping in :mod:`dgtools.api.errors`; reading bodies in
:mod:`dgtools.api.body`; proxies in :mod:`dgtools.api.proxies`.

Connections: requests go through one ``httpx.AsyncClient`` whose transport is
:class:`dgtools.api.transport.PooledTransport`, a lean HTTP/1.1 keep-alive pool
on asyncio protocols with at most ``max_connections`` connections: the server
sees as many connections as requests in flight, reused across requests.
httpcore 1.0's pool (httpx's default transport) re-checks every pooled
connection with system calls on every request and response, which costs more
CPU than the rest of the request at 32-64 in flight and queues a batch's
first wave behind the client itself; with ``httpx.Limits`` at their defaults
it also opens a new connection for nearly every request above 20 in flight.
Origins reached through a proxy (``HTTPS_PROXY`` ... or ``proxy=``) go through
httpx's own proxy transport instead; ``transport=`` replaces both (tests pass
``httpx.MockTransport``).

Time: every request has an overall deadline, from the moment it has a connection slot to the
last byte of the answer (connect + upload + Deepgram's work + download), on top of the per-read
timeouts: by default ``60 s + upload size at 1 MB/s + 0.5 x the audio's duration`` (see
:meth:`DeepgramClient.deadline`), or ``timeout=`` seconds.  A peer that trickles bytes can no
longer hold a request forever.

Safety: the answer is bounded (``max_response_bytes``, decompressed), the key goes on the request
as it leaves (an ``httpx.Auth``, so no dgtools frame holds the header in a local), and the sha256
of exactly the bytes uploaded comes back as :attr:`ListenResult.sent_sha256`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx
import msgspec

from ..exceptions import ConfigError, TransportError
from .auth import Credentials, resolve_base_url, resolve_credentials, split_api_version
from .body import Answer, read_answer, read_error_body
from .errors import ListenResult, check_parts, error_from_response
from .proxies import ProxySetting, proxy_mounts

if TYPE_CHECKING:
    from ..options import ListenOptions

__all__ = ["DeepgramClient"]

_READ_ALL_BELOW = 32 << 20  # files smaller than this are read into memory; larger ones are streamed
_CHUNK = 1 << 20  # streamed uploads are read (and hashed) 1 MB at a time
_URL_DURATION = 7200.0  # seconds of audio assumed behind a URL whose duration is not given
_BYTES_PER_SECOND = 2000.0  # audio of unknown duration is assumed to be at least 16 kbps
_DEADLINE_FORMULA = "60 s + upload at 1 MB/s + 0.5 x the audio's duration"


class DeepgramClient:
    """Async client for pre-recorded ``/v1/listen``: one request per call.

    Parameters
    ----------
    api_key, access_token, username, password
        Credentials; see :func:`resolve_credentials` (the environment is used
        when none is given).
    base_url, region
        Endpoint; see :func:`resolve_base_url`.  A ``base_url`` ending in
        ``/v2`` (``https://brain.deepgram.com/v2``) means ``api_version="v2"``.
    api_version
        ``"v1"`` (``POST /v1/listen``) or ``"v2"``: the old ``POST /v2/listen``
        of brain.deepgram.com (the default endpoint then), which takes
        ``username=`` and ``password=`` (HTTP Basic).  None (default): from
        ``base_url``, else ``"v1"``.
    allow_insecure
        Allow ``http://`` to a host other than this machine (the key crosses the
        network in clear); see :func:`resolve_base_url`.
    transport
        An ``httpx.AsyncBaseTransport`` to use instead of the network (tests
        pass ``httpx.MockTransport``); no proxy is used then.
    max_connections
        Most requests in flight (and connections) at once.
    timeout
        Seconds: the overall deadline of every request (connect, upload and
        answer; the per-read timeouts are this long too).  None (default):
        per request, ``60 s + upload size at 1 MB/s + 0.5 x the audio's
        duration`` (see :meth:`deadline`), with per-read timeouts of 10 s to
        connect, ``max(60 s, 1 s per MB)`` per write and ``max(300 s, 4 s per
        MB)`` per read.
    proxy
        None (default): the proxies of the environment (``HTTP_PROXY``,
        ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``), read as httpx reads
        them; ``""`` or False: no proxy; a URL (``http://proxy:3128``,
        ``socks5://...`` with socksio installed): every request through it.
    max_response_bytes
        Largest answer accepted, decompressed (default 512 MiB, far above any
        real answer): above it, reading stops with a :class:`~dgtools.BadResponseError`.
    spool_above
        Answers larger than this many bytes (default 16 MiB) go to the file the
        caller's ``spool`` returns instead of memory (when it passes one).

    Raises
    ------
    ConfigError
        Bad credentials, endpoint, proxy or limit (the message says which).

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
        api_version: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 50,
        timeout: float | None = None,
        credentials: Credentials | None = None,
        proxy: ProxySetting = None,
        allow_insecure: bool = False,
        max_response_bytes: int = 512 << 20,
        spool_above: int = 16 << 20,
    ) -> None:
        base_url, self.api_version = split_api_version(base_url, api_version)
        if self.api_version == "v2" and region:
            raise ConfigError(f"region={region!r} is for the v1 API; the old v2 API has one endpoint")
        self.credentials = credentials or resolve_credentials(
            api_key, access_token, username=username, password=password, basic=self.api_version == "v2"
        )
        del api_key, access_token, password  # the secret lives in self.credentials only, not in this frame
        if self.api_version == "v2" and self.credentials.scheme != "Basic":
            raise ConfigError(
                "the old v2 API authenticates with a username and password (HTTP Basic), not "
                f"{self.credentials.scheme} from {self.credentials.source}: pass username= and password=, "
                "or use api_version='v1' for an API key"
            )
        if timeout is not None and (
            not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0
        ):
            raise ConfigError(f"timeout={timeout!r} must be a number of seconds above 0, or None (automatic)")
        for name, value in (("max_response_bytes", max_response_bytes), ("spool_above", spool_above)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}={value!r} must be a number of bytes, 1 or more")
        if transport is not None and proxy:
            raise ConfigError("pass transport= or proxy=, not both (a transport replaces the network)")
        self.base_url = resolve_base_url(base_url, region, allow_insecure=allow_insecure)
        self.max_connections = max(1, int(max_connections))
        self.timeout = None if timeout is None else float(timeout)
        self.max_response_bytes = max_response_bytes
        self.spool_above = spool_above
        self._slots = asyncio.Semaphore(self.max_connections)
        from .._version import __version__
        from .transport import PooledTransport

        mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
        if transport is None:
            # One TLS context (as httpx builds it: certifi's CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR);
            # none for a plain-http endpoint such as 'dgtools serve'.
            tls = None if self.base_url.startswith("http://") else _tls_context()
            transport = PooledTransport(
                max_connections=self.max_connections, keepalive_expiry=30, ssl_context=tls
            )
            mounts = proxy_mounts(proxy, ssl_context=tls, max_connections=self.max_connections)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            mounts=mounts or None,
            auth=_CredentialsAuth(self.credentials),
            headers={"User-Agent": f"dgtools/{__version__}", "Accept-Encoding": "gzip, deflate"},
            timeout=None,
            trust_env=False,
        )
        self._proxied = bool(mounts)

    def __repr__(self) -> str:  # safe on a half-built client too (tracebacks with locals show it)
        creds = getattr(self, "credentials", None)
        return (
            f"<DeepgramClient {getattr(self, 'base_url', '?')} api={getattr(self, 'api_version', '?')} "
            f"auth={getattr(creds, 'scheme', '?')} "
            f"max_connections={getattr(self, 'max_connections', '?')}>"
        )

    async def __aenter__(self) -> DeepgramClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._http.aclose()

    def deadline(self, size: int | None = None, duration: float | None = None) -> float:
        """Seconds one request may take in all: connect, upload ``size`` bytes, wait for and read the answer.

        ``timeout=`` when it was given; else ``60 s + size at 1 MB/s + 0.5 x duration``, where an
        unknown ``duration`` is assumed from the size (audio of at least 16 kbps: ``size / 2000``
        seconds), or 2 hours for a URL (nothing uploaded).  Slow models on long audio may need
        more: pass ``timeout=``.

        Examples
        --------
        >>> DeepgramClient(api_key="0" * 40).deadline(size=10_000_000, duration=600)  # 60 + 10 + 300
        370.0
        >>> DeepgramClient(api_key="0" * 40, timeout=30).deadline(size=10_000_000, duration=600)
        30.0
        """
        if self.timeout is not None:
            return self.timeout
        if duration is None:
            duration = size / _BYTES_PER_SECOND if size else _URL_DURATION
        return 60.0 + (size or 0) / 1e6 + 0.5 * float(duration)

    def _timeouts(self, size: int | None) -> httpx.Timeout:
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
        duration: float | None = None,
        spool: Callable[[], Path] | None = None,
    ) -> ListenResult:
        """Send one audio file; it is re-read from disk (and hashed) on every call.

        Parameters
        ----------
        path, options
            The audio file and the ``/v1/listen`` options.
        content_type
            The ``Content-Type`` to send (default ``application/octet-stream``).
        source
            How messages name the file (default: ``path``).
        duration
            The audio's duration in seconds, when known: scales the deadline.
        spool
            Returns a fresh file path; an answer larger than ``spool_above`` is
            written there (decompressed) and returned as ``ListenResult.path``.

        Returns
        -------
        ListenResult
            With ``sent_sha256``: the sha256 of exactly the bytes uploaded (a file
            that changes between planning and sending shows here).

        Raises
        ------
        DeepgramAPIError
            Deepgram answered with an error status (the subclass says which).
        TransportError
            No answer (connection refused or dropped, timeout, deadline), or the
            file changed size while it was being sent.
        BadResponseError
            The answer is larger than ``max_response_bytes``, or its compression is broken.
        OSError
            Reading the file, or writing the spool file, failed (a spool file is removed).
        """
        p = Path(path)
        source = source or str(path)
        size = p.stat().st_size
        headers = {"Content-Type": content_type or "application/octet-stream"}
        if size < _READ_ALL_BELOW:
            data = p.read_bytes()  # what is sent: whatever the file holds now (httpx sets Content-Length)
            return await self._post(
                options, headers=headers, content=data, size=len(data), duration=duration, source=source,
                spool=spool, sent_sha256=hashlib.sha256(data).hexdigest(),
            )  # fmt: skip
        upload = _FileUpload(p, size)
        headers["Content-Length"] = str(size)
        return await self._post(
            options, headers=headers, content=upload, size=size, duration=duration, source=source,
            spool=spool, upload=upload,
        )  # fmt: skip

    async def transcribe_url(
        self,
        url: str,
        options: ListenOptions,
        *,
        source: str | None = None,
        duration: float | None = None,
        spool: Callable[[], Path] | None = None,
    ) -> ListenResult:
        """Ask Deepgram to fetch and transcribe ``url``; ``duration`` and ``spool`` as for :meth:`transcribe_file`."""
        return await self._post(
            options,
            headers={"Content-Type": "application/json"},
            content=msgspec.json.encode({"url": url}),
            size=None,
            duration=duration,
            source=source or url,
            spool=spool,
        )

    async def _post(
        self,
        options: ListenOptions,
        *,
        headers: dict[str, str],
        content: Any,
        size: int | None,
        duration: float | None,
        source: str,
        spool: Callable[[], Path] | None,
        sent_sha256: str | None = None,
        upload: _FileUpload | None = None,
    ) -> ListenResult:
        request = self._http.build_request(
            "POST",
            f"/{self.api_version}/listen",
            params=tuple(options.query_params()),
            headers=headers,
            content=content,
            timeout=self._timeouts(size),
        )
        deadline = self.deadline(size, duration)
        async with self._slots:  # the deadline starts once the request has a connection slot
            clock = asyncio.timeout(deadline)
            try:
                async with clock:
                    response, got = await self._exchange(request, source=source, spool=spool)
            except TimeoutError:
                if not clock.expired():
                    raise
                raise TransportError(self._late(source, deadline), path=source) from None
            except httpx.TimeoutException as exc:
                raise TransportError(
                    f"no answer from {self.base_url} for {source!r} in time ({type(exc).__name__}: {exc}); "
                    f"it is retried. {self._raise_it()}",
                    path=source,
                ) from exc
            except httpx.TransportError as exc:
                raise TransportError(
                    f"could not reach {self.base_url} for {source!r} ({type(exc).__name__}: "
                    f"{self.credentials.redact(str(exc)) or 'connection failed'}); it is retried; "
                    "check the network" + (", the proxy" if self._proxied else "") + " and base_url=",
                    path=source,
                ) from exc
            except _Changed as exc:
                raise TransportError(
                    f"{source!r} changed while it was being sent (it ended after {exc.sent:,} of the "
                    f"{exc.size:,} bytes it had); it is sent again",
                    path=source,
                ) from None
        if isinstance(got, bytes):
            raise error_from_response(
                response.status_code,
                got,
                headers=response.headers,
                source=source,
                credentials=self.credentials,
            )
        try:
            # a callback request is answered {"request_id": ...} at once: no results expected
            accepted = got.has_results or "callback" in options
            body_rid = check_parts(got.head, got.tail, accepted, source=source)
        except BaseException:
            _remove(got.path)
            raise
        return ListenResult(
            body=got.body,
            request_id=response.headers.get("dg-request-id") or body_rid,
            status_code=response.status_code,
            headers={k: v for k, v in response.headers.items() if k.lower().startswith("dg-")},
            path=got.path,
            sent_sha256=upload.sha256 if upload is not None else sent_sha256,
        )

    async def _exchange(
        self, request: httpx.Request, *, source: str, spool: Callable[[], Path] | None
    ) -> tuple[httpx.Response, bytes | Answer]:
        """Send ``request``; its answer read whole: the error body (bytes) or the :class:`Answer`."""
        response = await self._http.send(request, stream=True)
        got: bytes | Answer | None = None
        try:
            if response.status_code >= 300:
                got = await read_error_body(response, source=source)
            else:
                got = await read_answer(
                    response,
                    source=source,
                    limit=self.max_response_bytes,
                    spool=spool,
                    spool_above=self.spool_above,
                )
        finally:
            try:
                await response.aclose()
            except BaseException:
                if isinstance(got, Answer):  # read, but not handed over: its spool file goes
                    _remove(got.path)
                raise
        return response, got

    def _late(self, source: str, deadline: float) -> str:
        how = f"timeout={self.timeout:g}" if self.timeout is not None else _DEADLINE_FORMULA
        return (
            f"no complete answer from {self.base_url} for {source!r} within its deadline of {deadline:g} s "
            f"({how}); it is retried. {self._raise_it()}"
        )

    @staticmethod
    def _raise_it() -> str:
        return "To allow more time, pass timeout=SECONDS (dgtools transcribe --timeout SECONDS)"


class _CredentialsAuth(httpx.Auth):
    """Puts the ``Authorization`` header on each request as it leaves, from the credentials.

    The header is built inside this flow, not in the caller: no dgtools frame that a traceback
    with locals shows (``pytest --showlocals``, IPython's verbose mode) holds it.
    """

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._credentials.header()
        yield request


class _Changed(Exception):
    """A streamed file ended before the size it had when the request started."""

    def __init__(self, sent: int, size: int) -> None:
        self.sent, self.size = sent, size
        super().__init__(f"ended after {sent} of {size} bytes")


class _FileUpload:
    """The bytes of one large file as sent: exactly ``size`` of them, read and hashed 1 MB at a time.

    Iterated once per attempt (the file is re-opened and re-hashed each time); ``sha256`` is set
    once every byte has been read for the request.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, size
        self.sha256: str | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.sha256 = None
        loop = asyncio.get_running_loop()
        h = hashlib.sha256()
        left = self.size
        with self.path.open("rb") as f:
            while left:
                chunk = await loop.run_in_executor(None, _read_hashed, f, min(left, _CHUNK), h)
                if not chunk:
                    raise _Changed(self.size - left, self.size)
                left -= len(chunk)
                yield chunk
        self.sha256 = h.hexdigest()


def _tls_context() -> ssl.SSLContext:
    """The TLS context httpx would build (SSL_CERT_FILE / SSL_CERT_DIR, else certifi's CA bundle), once per client."""
    try:
        return httpx.create_ssl_context()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the CA certificates named by SSL_CERT_FILE / SSL_CERT_DIR ({exc}): fix or unset them"
        ) from None


def _remove(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def _read_hashed(f: IO[bytes], n: int, h: Any) -> bytes:
    chunk = f.read(n)
    h.update(chunk)
    return chunk
