"""The Deepgram HTTP client: auth, endpoints, one request, and error mapping.

:class:`DeepgramClient` sends one pre-recorded ``POST /v1/listen`` request
per call (raw audio bytes, or ``{"url": ...}``) and returns the response body
as bytes, checked to be complete JSON from Deepgram but not parsed into Python
objects: the batch runner writes those bytes to the raw store, and tables are
built from the store later.  Retries, concurrency and progress live in
:mod:`dgtools.batch`.

Auth (see :func:`resolve_credentials`): an API key goes as
``Authorization: Token KEY`` (``api_key=`` or ``DEEPGRAM_API_KEY``); a
temporary JWT as ``Bearer`` (``access_token=`` or ``DEEPGRAM_TOKEN``);
username/password as ``Basic`` for the old v2 API.  Endpoints:
``base_url=`` (self-hosted, dedicated) or ``region="eu"|"au"|"in"``.

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

The API key is held in one private object whose ``repr`` is masked; it never
appears in messages, reprs, logs or files.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import msgspec

from ..exceptions import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    DeepgramAPIError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
    TransportError,
)

if TYPE_CHECKING:
    from ..options import ListenOptions

__all__ = [
    "DEFAULT_BASE_URL",
    "REGIONS",
    "Credentials",
    "DeepgramClient",
    "ListenResult",
    "error_from_response",
    "resolve_base_url",
    "resolve_credentials",
]

DEFAULT_BASE_URL = "https://api.deepgram.com"
#: Deepgram's regional endpoints (https://developers.deepgram.com/reference/custom-endpoints).
REGIONS = {
    "eu": "https://api.eu.deepgram.com",
    "au": "https://api.au.deepgram.com",
    "in": "https://api.in.deepgram.com",
}
_READ_ALL_BELOW = 32 << 20  # files smaller than this are read into memory; larger ones are streamed
_KEY_RE = re.compile(r"^[0-9a-f]{40}$")
_JWT_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


# --------------------------------------------------------------------------- credentials


class Credentials:
    """How requests authenticate; ``repr`` and ``str`` never show the secret.

    Use :func:`resolve_credentials` to build one from arguments and the
    environment.
    """

    __slots__ = ("_secret", "scheme", "source")

    def __init__(self, scheme: str, secret: str, source: str) -> None:
        if scheme not in ("Token", "Bearer", "Basic"):
            raise ConfigError(f"unknown auth scheme {scheme!r}; use Token, Bearer or Basic")
        self.scheme = scheme
        self.source = source  # where it came from, e.g. "DEEPGRAM_API_KEY" or "api_key="
        self._secret = secret

    def header(self) -> str:
        """The ``Authorization`` header value."""
        return f"{self.scheme} {self._secret}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never be written anywhere (for the store's guard)."""
        out = [self._secret]
        if self.scheme == "Basic":
            out += base64.b64decode(self._secret).decode(errors="replace").split(":", 1)
        return tuple(s for s in out if s)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def looks_like(self) -> str:
        """What the secret looks like: ``"api key"``, ``"jwt"`` or ``"unknown"`` (for hints)."""
        if _KEY_RE.match(self._secret):
            return "api key"
        if _JWT_RE.match(self._secret):
            return "jwt"
        return "unknown"

    def __repr__(self) -> str:
        return f"<Credentials {self.scheme} from {self.source}: ***>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Credentials cannot be pickled (they hold a secret)")


def resolve_credentials(
    api_key: str | None = None,
    access_token: str | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    env: dict[str, str] | None = None,
) -> Credentials:
    """Pick the credentials to send, from arguments first, then the environment.

    Precedence: ``access_token=`` / ``api_key=`` / ``username=`` +
    ``password=`` (at most one of them), then ``DEEPGRAM_TOKEN`` (a temporary
    JWT, sent as Bearer), then ``DEEPGRAM_API_KEY`` (sent as Token).

    Raises
    ------
    ConfigError
        No credentials at all, or more than one kind passed as arguments.

    Examples
    --------
    >>> resolve_credentials(api_key="0123456789abcdef0123456789abcdef01234567")
    <Credentials Token from api_key=: ***>
    """
    env = dict(os.environ) if env is None else env
    given = [
        n for n, v in (("api_key", api_key), ("access_token", access_token), ("username", username)) if v
    ]
    if len(given) > 1:
        raise ConfigError(f"pass only one of {', '.join(g + '=' for g in given)}")
    if api_key:
        return Credentials("Token", api_key.strip(), "api_key=")
    if access_token:
        return Credentials("Bearer", access_token.strip(), "access_token=")
    if username or password:
        if not (username and password):
            raise ConfigError("Basic auth (the old v2 API) needs both username= and password=")
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        return Credentials("Basic", token, "username=/password=")
    if env.get("DEEPGRAM_TOKEN"):
        return Credentials("Bearer", env["DEEPGRAM_TOKEN"].strip(), "DEEPGRAM_TOKEN")
    if env.get("DEEPGRAM_API_KEY"):
        return Credentials("Token", env["DEEPGRAM_API_KEY"].strip(), "DEEPGRAM_API_KEY")
    raise ConfigError(
        "no Deepgram credentials: set DEEPGRAM_API_KEY (an API key, sent as 'Token') or DEEPGRAM_TOKEN "
        "(a temporary JWT, sent as 'Bearer'), or pass api_key= / access_token=; "
        "without a key, use engine='local' to transcribe offline"
    )


def resolve_base_url(
    base_url: str | None = None, region: str | None = None, *, env: dict[str, str] | None = None
) -> str:
    """The API root: ``base_url=``, else ``region=``, else ``DEEPGRAM_BASE_URL``, else Deepgram's global endpoint.

    Raises
    ------
    ConfigError
        An unknown region, both given, or a base URL that is not http(s).

    Examples
    --------
    >>> resolve_base_url(region="eu")
    'https://api.eu.deepgram.com'
    """
    env = dict(os.environ) if env is None else env
    if base_url and region:
        raise ConfigError("pass base_url= or region=, not both")
    if region:
        try:
            return REGIONS[region.lower()]
        except KeyError:
            raise ConfigError(
                f"unknown region {region!r}; Deepgram's regions are {sorted(REGIONS)}"
            ) from None
    url = base_url or env.get("DEEPGRAM_BASE_URL") or DEFAULT_BASE_URL
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"base_url {url!r} is not an http(s) URL, e.g. https://api.deepgram.com")
    return url.rstrip("/").removesuffix("/v1/listen").removesuffix("/v1")


# --------------------------------------------------------------------------- results and errors


@dataclass
class ListenResult:
    """One successful ``/v1/listen`` answer: the body as bytes, checked but not parsed."""

    body: bytes
    request_id: str | None
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)


_RID = re.compile(rb'"request_id"\s*:\s*"([^"\\]{1,200})"')


def check_body(body: bytes, *, source: str | None = None) -> str | None:
    """Check, cheaply, that ``body`` is a whole Deepgram response; return its ``request_id``.

    The body is not parsed here (that happens once, when tables are built, and
    a decoding error then names the stored file): h11 already refuses a body
    shorter than its Content-Length, so this only checks that it is one JSON
    object holding ``"results"``, which costs microseconds even for a
    470 KB response instead of half a millisecond for a validating parse.

    Raises
    ------
    ServerError
        The body is empty, not a JSON object, or has no ``results`` (retryable).
    """
    head = (body[:1].isspace() and body.lstrip()[:1]) or body[:1]
    tail = (body[-1:].isspace() and body.rstrip()[-1:]) or body[-1:]
    if head != b"{" or tail != b"}":
        raise ServerError(
            f"Deepgram's answer for {source!r} is not a complete JSON object; it will be retried",
            status_code=200,
            body=body[:200].decode(errors="replace"),
            path=source,
        )
    if b'"results"' not in body:
        raise ServerError(
            f"Deepgram's answer for {source!r} has no 'results'; it will be retried",
            status_code=200,
            body=body[:200].decode(errors="replace"),
            path=source,
        )
    m = _RID.search(body, 0, 4096) or _RID.search(body)  # metadata comes first in Deepgram's answers
    return m.group(1).decode() if m else None


def _parse_error_body(body: bytes) -> tuple[str | None, str, str | None]:
    """``(err_code, message, request_id)`` from any of Deepgram's three error body shapes."""
    text = body.decode(errors="replace").strip()
    try:
        doc = msgspec.json.decode(body) if text.startswith("{") else None
    except msgspec.DecodeError:
        doc = None
    if isinstance(doc, dict):
        rid = doc.get("request_id")
        if "err_code" in doc or "err_msg" in doc:  # {err_code, err_msg, request_id}
            return doc.get("err_code"), str(doc.get("err_msg") or ""), rid
        if "category" in doc or "message" in doc:  # {category, message, details, request_id}
            msg = str(doc.get("message") or "")
            details = doc.get("details")
            if details and str(details) not in msg:
                msg = f"{msg} ({details})" if msg else str(details)
            return doc.get("category"), msg, rid
    return None, text[:500], None  # plain text


_ADVICE = {
    400: "fix the request: an option or the audio is invalid",
    401: (
        "Deepgram expects 'Authorization: Token <API key>' (a temporary JWT uses 'Bearer'). "
        "Set DEEPGRAM_API_KEY or pass api_key="
    ),
    402: (
        "the project is out of credits: add funds or a payment method in the Deepgram console, "
        "or use another project's key. No new files are sent; rerun the same command afterwards "
        "and only the missing files are transcribed"
    ),
    403: (
        "the key's project may not use this model or feature: check model= (and language=) "
        "or ask for access; other options work with this key"
    ),
    408: "Deepgram timed out reading the request; it is retried",
    413: "the upload is too large for Deepgram (the limit is 2 GB): split the file, compress it, or send a URL",
    414: "the request URL is too long: send fewer search/keyterm/keywords/replace terms per request",
    429: "too many requests in flight for the project: it is retried later; lower concurrency= to avoid it",
    500: "Deepgram failed on its side; it is retried with backoff",
}


def error_from_response(
    status_code: int,
    body: bytes,
    *,
    headers: httpx.Headers | dict[str, str] | None = None,
    source: str | None = None,
    credentials: Credentials | None = None,
) -> DeepgramAPIError:
    """Map a non-2xx answer to the :class:`DeepgramAPIError` subclass, with the fix in the message.

    Parses all three Deepgram error bodies (``{err_code, err_msg,
    request_id}``, ``{category, message, details, request_id}`` and plain
    text).  The message names the file, the status, the request_id (always
    shown, "unknown" when Deepgram sent none) and what to do; the API key
    never appears in it.

    Examples
    --------
    >>> e = error_from_response(402, b'{"err_code":"ASR_PAYMENT_REQUIRED","err_msg":"No credits.","request_id":"r1"}',
    ...                         source="calls/a.wav")
    >>> type(e).__name__, e.request_id
    ('PaymentRequiredError', 'r1')
    """
    headers = httpx.Headers(headers or {})
    err_code, detail, rid = _parse_error_body(body)
    rid = rid or headers.get("dg-request-id") or headers.get("x-dg-request-id")
    try:
        reason = httpx.codes.get_reason_phrase(status_code)
    except ValueError:  # pragma: no cover
        reason = ""
    advice = _ADVICE.get(status_code) or (_ADVICE[500] if status_code >= 500 else _ADVICE[400])
    cls: type[DeepgramAPIError]
    extra: dict[str, Any] = {}
    if status_code == 401:
        cls = AuthenticationError
        if credentials is not None:
            looks = credentials.looks_like()
            if credentials.scheme == "Token" and looks == "jwt":
                advice += (
                    ". The credential from "
                    + credentials.source
                    + " looks like a JWT: pass it as access_token= or DEEPGRAM_TOKEN (sent as Bearer)"
                )
            elif credentials.scheme == "Bearer" and looks == "api key":
                advice += (
                    ". The credential from "
                    + credentials.source
                    + " looks like an API key: pass it as api_key= or DEEPGRAM_API_KEY (sent as Token)"
                )
    elif status_code == 403:
        cls = AuthenticationError
    elif status_code == 402:
        cls = PaymentRequiredError
    elif status_code == 429:
        cls = RateLimitError
        extra["retry_after"] = _retry_after(headers.get("retry-after"))
    elif status_code == 408 or status_code >= 500:
        cls = ServerError
    else:
        cls = BadRequestError
        if err_code == "INVALID_QUERY_PARAMETER" or "query param" in detail.lower():
            name = _parameter_in(detail)
            if name:
                advice = f"the option {name!r} is not accepted: check its name and value"
    what = f"{detail.rstrip('.')}" if detail else (err_code or "no details")
    msg = (
        f"Deepgram rejected {source!r} ({status_code} {reason}, request_id={rid or 'unknown'}): "
        f"{what}. {advice}."
    ).replace("..", ".")
    if credentials is not None:
        msg = credentials.redact(msg)
        body_text = credentials.redact(body.decode(errors="replace"))
    else:
        body_text = body.decode(errors="replace")
    return cls(
        msg, status_code=status_code, request_id=rid, err_code=err_code, body=body_text, path=source, **extra
    )


def _parameter_in(detail: str) -> str | None:
    for pattern in (
        r"`([A-Za-z_][A-Za-z0-9_]*)`",
        r"'([A-Za-z_][A-Za-z0-9_]*)'",
        r"parameter ([A-Za-z_][A-Za-z0-9_]*)",
    ):
        m = re.search(pattern, detail)
        if m:
            return m.group(1)
    return None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


# --------------------------------------------------------------------------- the client


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
        from .. import __version__
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
