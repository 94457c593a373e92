"""One text-to-speech request: ``POST /v1/speak`` with ``{"text": ...}``, the audio back.

:class:`SpeakClient` is the speech twin of :class:`~dgtools.DeepgramClient`: one pooled
``httpx.AsyncClient`` per batch (:class:`~dgtools.api.transport.PooledTransport`, the proxies of
the environment or ``proxy=``), the key put on each request as it leaves (never in a local of a
dgtools frame), every request within an overall deadline, errors mapped by
:func:`~dgtools.api.error_from_response` (all three of Deepgram's error bodies).  It measures the
time to the first byte of audio, and bounds the answer's size.  Retries and concurrency live in
:mod:`dgtools.speech.runner`.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import msgspec

from ..api.auth import Credentials, resolve_base_url
from ..api.body import read_error_body
from ..api.errors import error_from_response
from ..api.proxies import ProxySetting, proxy_mounts
from ..exceptions import BadResponseError, ConfigError, TransportError

if TYPE_CHECKING:
    from ..options.speak import SpeakFormat

__all__ = ["SpeakClient", "SpeechAnswer"]

#: Seconds a request may take in all when ``timeout=`` is not given: Deepgram answers a
#: 2,000-character request in a few seconds; a minute leaves room for a slow network.
DEFAULT_DEADLINE = 60.0
#: The largest answer accepted: 2,000 characters are about three minutes of speech, some 17 MB as
#: 48 kHz linear16; above this the answer is refused (not retried).
MAX_ANSWER_BYTES = 64 << 20


@dataclass
class SpeechAnswer:
    """One ``/v1/speak`` answer: the audio, and what came with it.

    Attributes
    ----------
    audio : bytes
        The audio bytes.
    request_id : str or None
        The ``dg-request-id`` header.
    ttfb : float
        Seconds from sending the request to the first byte of audio.
    elapsed : float
        Seconds from sending the request to the last byte.
    content_type : str or None
        The answer's ``Content-Type``.
    headers : dict
        The answer's ``dg-*`` headers (``dg-model-name``, ``dg-char-count``, ...).
    """

    audio: bytes
    request_id: str | None
    ttfb: float
    elapsed: float
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class SpeakClient:
    """Async client for ``POST /v1/speak``: one request per call.

    Parameters
    ----------
    credentials
        How requests authenticate (:func:`~dgtools.api.resolve_credentials`).
    base_url, region, allow_insecure
        The endpoint (:func:`~dgtools.api.resolve_base_url`).
    transport
        An ``httpx.AsyncBaseTransport`` instead of the network (tests: ``httpx.MockTransport``).
    max_connections
        Most requests in flight (and connections) at once.
    timeout
        Seconds one request may take in all; default :data:`DEFAULT_DEADLINE`.
    proxy
        As for :class:`~dgtools.DeepgramClient`.

    Examples
    --------
    >>> async with SpeakClient(credentials=creds) as dg:                              # doctest: +SKIP
    ...     answer = await dg.speak("Hello.", [("model", "aura-2-thalia-en")], source="greeting")
    """

    def __init__(
        self,
        *,
        credentials: Credentials,
        base_url: str | None = None,
        region: str | None = None,
        allow_insecure: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 15,
        timeout: float | None = None,
        proxy: ProxySetting = None,
    ) -> None:
        if timeout is not None and (
            not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0
        ):
            raise ConfigError(f"timeout={timeout!r} must be a number of seconds above 0, or None (automatic)")
        if transport is not None and proxy:
            raise ConfigError("pass transport= or proxy=, not both (a transport replaces the network)")
        self.credentials = credentials
        self.base_url = resolve_base_url(base_url, region, allow_insecure=allow_insecure)
        self.max_connections = max(1, int(max_connections))
        self.deadline = DEFAULT_DEADLINE if timeout is None else float(timeout)
        from .._version import __version__
        from ..api.transport import PooledTransport

        mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
        if transport is None:
            tls = None if self.base_url.startswith("http://") else _tls_context()
            transport = PooledTransport(
                max_connections=self.max_connections, keepalive_expiry=30, ssl_context=tls
            )
            mounts = proxy_mounts(proxy, ssl_context=tls, max_connections=self.max_connections)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            mounts=mounts or None,
            auth=_CredentialsAuth(credentials),
            headers={"User-Agent": f"dgtools/{__version__}"},
            timeout=None,
            trust_env=False,
        )

    def __repr__(self) -> str:
        creds = getattr(self, "credentials", None)
        return f"<SpeakClient {getattr(self, 'base_url', '?')} auth={getattr(creds, 'scheme', '?')}>"

    async def __aenter__(self) -> SpeakClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._http.aclose()

    async def speak(
        self, text: str, query: Sequence[tuple[str, str]], *, source: str, fmt: SpeakFormat | None = None
    ) -> SpeechAnswer:
        """Synthesise ``text`` with the ``/v1/speak`` query ``query``; return the audio.

        ``source`` names the text in messages (its id and chunk).  With ``fmt``, an answer that is
        not audio of that format (JSON, an empty body, no WAV header where one is due) is a
        retryable :class:`~dgtools.BadResponseError`.

        Raises
        ------
        DeepgramAPIError
            Deepgram answered with an error status (the subclass says which).
        TransportError
            No answer in time, or no connection.
        BadResponseError
            The answer is empty, not audio, or larger than :data:`MAX_ANSWER_BYTES`.
        """
        request = self._http.build_request(
            "POST",
            "/v1/speak",
            params=tuple(query),
            headers={"Content-Type": "application/json"},
            content=msgspec.json.encode({"text": text}),
            timeout=httpx.Timeout(self.deadline, connect=min(10.0, self.deadline)),
        )
        clock = asyncio.timeout(self.deadline)
        try:
            async with clock:
                return await self._exchange(request, source=source, fmt=fmt)
        except TimeoutError:
            if not clock.expired():
                raise
            raise TransportError(
                f"no complete answer from {self.base_url} for {source} within {self.deadline:g} s; it is "
                "retried. To allow more time, pass timeout=SECONDS",
                path=source,
            ) from None
        except httpx.TimeoutException as exc:
            raise TransportError(
                f"no answer from {self.base_url} for {source} in time ({type(exc).__name__}); it is retried",
                path=source,
            ) from exc
        except httpx.TransportError as exc:
            raise TransportError(
                f"could not reach {self.base_url} for {source} ({type(exc).__name__}: "
                f"{self.credentials.redact(str(exc)) or 'connection failed'}); it is retried; check the "
                "network and base_url=",
                path=source,
            ) from exc

    async def _exchange(
        self, request: httpx.Request, *, source: str, fmt: SpeakFormat | None
    ) -> SpeechAnswer:
        started = time.perf_counter()
        response = await self._http.send(request, stream=True)
        try:
            if response.status_code >= 300:
                body = await read_error_body(response, source=source)
                raise error_from_response(
                    response.status_code,
                    body,
                    headers=response.headers,
                    source=source,
                    credentials=self.credentials,
                )
            rid = response.headers.get("dg-request-id")
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > MAX_ANSWER_BYTES:
                raise _too_large(source, rid)
            chunks: list[bytes] = []
            size = 0
            ttfb: float | None = None
            async for chunk in response.aiter_bytes():
                if not chunk:
                    continue
                if ttfb is None:
                    ttfb = time.perf_counter() - started
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise _too_large(source, rid)
                chunks.append(chunk)
        finally:
            await response.aclose()
        elapsed = time.perf_counter() - started
        audio = b"".join(chunks)
        content_type = response.headers.get("content-type")
        _check_audio(audio, content_type, fmt, source=source, request_id=rid)
        return SpeechAnswer(
            audio=audio,
            request_id=rid,
            ttfb=elapsed if ttfb is None else ttfb,
            elapsed=elapsed,
            content_type=content_type,
            headers={k.lower(): v for k, v in response.headers.items() if k.lower().startswith("dg-")},
        )


def _too_large(source: str, request_id: str | None) -> BadResponseError:
    return BadResponseError(
        f"the audio for {source} (request_id={request_id or 'unknown'}) is larger than "
        f"{MAX_ANSWER_BYTES >> 20} MiB, far more than 2,000 characters of speech; it was not kept",
        path=source,
        request_id=request_id,
        retryable=False,
    )


def _check_audio(
    audio: bytes, content_type: str | None, fmt: SpeakFormat | None, *, source: str, request_id: str | None
) -> None:
    """Raise a retryable :class:`BadResponseError` unless ``audio`` looks like audio of ``fmt``."""
    why = None
    if not audio:
        why = "an empty body"
    elif (content_type or "").split(";")[0].strip().lower() in (
        "application/json",
        "text/plain",
        "text/html",
    ):
        why = f"{content_type} instead of audio"
    elif fmt is not None and fmt.container == "wav" and (audio[:4] != b"RIFF" or audio[8:12] != b"WAVE"):
        why = "no WAV header, where encoding and container ask for WAV"
    if why is not None:
        raise BadResponseError(
            f"the answer for {source} (request_id={request_id or 'unknown'}) is {why}; it is retried",
            path=source,
            request_id=request_id,
        )


def _tls_context() -> ssl.SSLContext:
    """The TLS context httpx would build (SSL_CERT_FILE / SSL_CERT_DIR, else certifi's CA bundle)."""
    try:
        return httpx.create_ssl_context()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the CA certificates named by SSL_CERT_FILE / SSL_CERT_DIR ({exc}): fix or unset them"
        ) from None


class _CredentialsAuth(httpx.Auth):
    """Puts the ``Authorization`` header on each request as it leaves (no dgtools frame holds it)."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._credentials.header()
        yield request
