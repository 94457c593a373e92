"""Deepgram's answers: a successful body checked cheaply, and error statuses mapped to the error tree.

:func:`error_from_response` parses all three of Deepgram's error bodies (``{err_code, err_msg,
request_id}``, ``{category, message, details, request_id}`` and plain text) and returns the
:class:`~dgtools.DeepgramAPIError` subclass for the status, with the file, the request_id and the
fix in its message.  :func:`check_body` checks that a 200 body is a whole response.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import msgspec

from ..exceptions import (
    AuthenticationError,
    BadRequestError,
    DeepgramAPIError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
)

if TYPE_CHECKING:
    from .auth import Credentials

__all__ = ["ListenResult", "check_body", "check_parts", "error_from_response", "parse_retry_after"]


@dataclass
class ListenResult:
    """One successful ``/v1/listen`` answer, checked but not parsed.

    Attributes
    ----------
    body : bytes
        The answer (decompressed); ``b""`` when it was spooled to ``path``.
    request_id : str or None
        From the ``dg-request-id`` header, else from the first 4 KB of the body.
    status_code : int
        The HTTP status (200).
    headers : dict
        The answer's ``dg-*`` headers.
    path : Path or None
        The file holding the answer when it was larger than the client's ``spool_above`` and the
        caller passed ``spool=``; the caller owns the file from then on.
    sent_sha256 : str or None
        The sha256 (hex) of exactly the bytes uploaded by the attempt that got this answer (None
        for a URL request, which uploads no audio).
    """

    body: bytes
    request_id: str | None
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    sent_sha256: str | None = None


_RID = re.compile(rb'"request_id"\s*:\s*"([^"\\]{1,200})"')
#: How much of a body's start is searched for its request_id (metadata comes first in Deepgram's answers).
HEAD_BYTES = 4096


def check_body(body: bytes, *, source: str | None = None) -> str | None:
    """Check, cheaply, that ``body`` is a whole Deepgram response; return its ``request_id``.

    The body is not parsed here (that happens once, when tables are built, and
    a decoding error then names the stored file): h11 already refuses a body
    shorter than its Content-Length, so this only checks that it is one JSON
    object holding ``"results"``, which costs microseconds even for a
    470 KB response instead of half a millisecond for a validating parse.
    The request_id is searched in the first 4 KB.

    Raises
    ------
    ServerError
        The body is empty, not a JSON object, or has no ``results`` (retryable).

    Examples
    --------
    >>> check_body(b'{"metadata": {"request_id": "r-1"}, "results": {"channels": []}}')
    'r-1'
    """
    return check_parts(body[:HEAD_BYTES], body[-64:], b'"results"' in body, source=source)


def check_parts(head: bytes, tail: bytes, has_results: bool, *, source: str | None = None) -> str | None:
    """:func:`check_body` on a body seen in parts: its first 4 KB, its last bytes, whether ``"results"`` is in it.

    The form for an answer streamed to a file, whose whole body is never in memory.
    """
    first = head.lstrip()[:1]
    last = tail.rstrip()[-1:]
    if first != b"{" or last != b"}":
        raise ServerError(
            f"Deepgram's answer for {source!r} is not a complete JSON object; it will be retried",
            status_code=200,
            body=head[:200].decode(errors="replace"),
            path=source,
        )
    if not has_results:
        raise ServerError(
            f"Deepgram's answer for {source!r} has no 'results'; it will be retried",
            status_code=200,
            body=head[:200].decode(errors="replace"),
            path=source,
        )
    return request_id_in(head)


def request_id_in(head: bytes) -> str | None:
    """The ``request_id`` in the first 4 KB of a body, if there is one there."""
    m = _RID.search(head, 0, HEAD_BYTES)
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
    if status_code == 401:
        cls = AuthenticationError
        if credentials is not None:
            looks = credentials.looks_like()
            if credentials.scheme == "Basic":
                advice = (
                    "The old v2 API expects HTTP Basic auth with your Deepgram username and password: "
                    f"check the pair from {credentials.source} (username= and password=, or "
                    "DEEPGRAM_USERNAME and DEEPGRAM_PASSWORD)"
                )
            elif credentials.scheme == "Token" and looks == "jwt":
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
        msg,
        status_code=status_code,
        request_id=rid,
        err_code=err_code,
        body=body_text,
        path=source,
        retry_after=parse_retry_after(headers.get("retry-after")),
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


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP date (RFC 9110 10.2.3).

    A date in the past gives 0; a value that is neither (or not finite) gives None.

    Examples
    --------
    >>> parse_retry_after("120")
    120.0
    >>> from datetime import UTC, datetime
    >>> parse_retry_after("Thu, 01 Jan 2099 00:00:00 GMT", now=datetime(2098, 12, 31, 23, 59, tzinfo=UTC))
    60.0
    >>> parse_retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are in UTC
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
