"""The local server's Manage API: one project, its API keys, temporary tokens, the request log, usage, balances.

Routes (shapes from Deepgram's OpenAPI spec)::

    GET    /v1/projects                              {"projects": [{project_id, name}]}
    GET    /v1/projects/{project_id}/keys            {"api_keys": [{member, api_key}]}  (?status=active|expired)
    POST   /v1/projects/{project_id}/keys            {api_key_id, key, comment, scopes, tags, expiration_date}
    GET    /v1/projects/{project_id}/keys/{key_id}   {"item": {"member": {..., "api_key": {...}}}}
    DELETE /v1/projects/{project_id}/keys/{key_id}   {"message": ...}
    POST   /v1/auth/grant                            {access_token, expires_in}   (body {"ttl_seconds": 30})
    GET    /v1/projects/{project_id}/requests        {page, limit, requests: [...]}  (start, end, limit, page,
                                                     status, request_id, endpoint)
    GET    /v1/projects/{project_id}/requests/{id}   {"request": {...}}
    GET    /v1/projects/{project_id}/usage           {start, end, resolution, results: [per day]}
    GET    /v1/projects/{project_id}/balances        {"balances": [{balance_id, amount, units, purchase_order_id}]}

The server has one project, :data:`PROJECT_ID` named :data:`PROJECT_NAME`.

Keys.  A created key is 40 hex characters, answered once; the server keeps its sha256 digest, never
the key.  From then on it authenticates ``/v1/listen`` and ``/v1/speak`` (REST and WebSocket) on this
server, until it expires or is deleted: then it gets 401, even on a server started without keys
(which otherwise accepts any credential).  The keys given at start-up (``api_keys=``) are listed
too, with the scope ``member``, and may be deleted the same way.

Scopes, a simple but honest model of Deepgram's: ``member``, ``admin`` and ``owner`` allow
everything; otherwise ``usage:write`` is needed to transcribe or speak, ``keys:read`` to list or get
keys, ``keys:write`` to create or delete them, ``usage:read`` for requests and usage,
``billing:read`` for balances; any key may list its project; ``/v1/auth/grant`` needs ``member``
(or higher), as Deepgram's does.  A Manage call without its scope gets 403
``INSUFFICIENT_PERMISSIONS``; a key without ``usage:write`` gets 401 ``INVALID_AUTH`` from
``/v1/listen`` and ``/v1/speak`` (whose checks know only accepted or not).  With no keys at start-up,
an unknown ``Token`` credential is accepted as the project's owner.

Temporary tokens.  ``/v1/auth/grant`` answers a JWT-shaped token (``header.payload.signature``,
base64url, the payload holding ``iat``, ``exp``, ``jti`` and the scope ``usage:write``; the signature
is random bytes, not verifiable) accepted as ``Authorization: Bearer`` on ``/v1/listen`` and
``/v1/speak`` for ``ttl_seconds`` (default 30, at most 3600; fractions allowed here, for tests),
then 401.  Tokens do not work on the Manage routes (403), as Deepgram's do not.

Requests.  Every ``POST /v1/listen`` and ``POST /v1/speak`` the server answers (any status but 401)
is recorded: request_id, created, path with its query, the key's id, the status code, and
``response.details`` with ``usd``: the audio duration (``metadata.duration``) in minutes times the
price of the query's ``model`` in :data:`dgtools.pricing.PRICES`, or the characters spoken times
:data:`dgtools.pricing.TTS_PRICES`; failures cost nothing.  Amounts are rounded half-even to 8
decimals.  WebSocket streams are not recorded.  Usage adds them up per UTC day; the balance is
:data:`STARTING_BALANCE` dollars minus what was spent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import msgspec

from ..pricing import DEFAULT_MODEL, DEFAULT_TTS_MODEL, price_per_1k_characters, price_per_minute
from .state import _Credentials, _invalid_auth, _legacy_error, _modern_error

if TYPE_CHECKING:
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PROJECT_ID", "PROJECT_NAME", "STARTING_BALANCE", "ManageState"]

#: The local server's one project.
PROJECT_ID = "00000000-0000-4000-8000-00000000d61f"
PROJECT_NAME = "dgtools local server"
#: Dollars in the project's balance before anything is spent.
STARTING_BALANCE = Decimal("200.00")
_BALANCE_ID = "00000000-0000-4000-8000-0000000ba1a0"
_EMAIL = "local@dgtools.invalid"
_MEMBER_ID = "00000000-0000-4000-8000-00000000bee5"
#: Scopes that allow everything.
_ALL = frozenset({"member", "admin", "owner"})
_USD = Decimal("1e-8")
#: How much of a /v1/listen answer is kept to read its metadata (answers larger than this cost 0).
_MAX_BODY = 64 * 1024 * 1024
_MAX_TTL = 3600.0


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def _parse_header(header: bytes) -> tuple[bytes, bytes]:
    scheme, _, credential = header.strip().partition(b" ")
    return scheme.lower(), credential.strip()


@dataclass
class _Key:
    api_key_id: str
    digest: bytes
    comment: str
    scopes: list[str]
    tags: list[str]
    created: datetime
    expires: datetime | None = None

    def expired(self) -> bool:
        return self.expires is not None and self.expires <= _now()

    def allows(self, scope: str) -> bool:
        return not scope or not _ALL.isdisjoint(self.scopes) or scope in self.scopes

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "api_key_id": self.api_key_id,
            "comment": self.comment,
            "scopes": list(self.scopes),
            "tags": list(self.tags),
            "created": _iso(self.created),
        }
        if self.expires is not None:
            out["expiration_date"] = _iso(self.expires)
        return out


@dataclass
class _Record:
    request_id: str
    created: datetime
    path: str
    endpoint: str  # "listen" or "speak"
    api_key_id: str | None
    code: int
    usd: Decimal
    duration: float | None = None
    characters: int | None = None
    model: str = ""
    channels: int | None = None
    tags: list[str] = field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "usd": self.usd,
            "method": "sync",
            "models": [self.model],
            "tags": self.tags,
        }
        if self.endpoint == "listen":
            details |= {"duration": self.duration, "total_audio": self.duration, "channels": self.channels,
                        "streams": 1}  # fmt: skip
        else:
            details["characters"] = self.characters
        return {
            "request_id": self.request_id,
            "project_uuid": PROJECT_ID,
            "created": _iso(self.created),
            "path": self.path,
            "api_key_id": self.api_key_id,
            "response": {"details": details, "code": self.code, "completed": _iso(self.created)},
            "code": self.code,
            "deployment": "hosted",
            "callback": None,
        }


class ManagedCredentials(_Credentials):
    """The app's credentials plus the keys and tokens the Manage API created, less those it deleted.

    What ``/v1/listen`` and ``/v1/speak`` check (:meth:`allow`): the scope ``usage:write``.
    """

    def __init__(
        self, manage: ManageState, api_keys: Collection[str], access_tokens: Collection[str]
    ) -> None:
        super().__init__(api_keys, access_tokens)
        self.manage = manage

    def allow(self, header: bytes) -> bool:
        verdict = self.manage.check(header, "usage:write")
        return verdict if verdict is not None else super().allow(header)


def _json(status: int, body: dict[str, Any], request_id: str | None = None) -> Response:
    from starlette.responses import Response

    rid = request_id or str(uuid.uuid4())
    text = json.dumps(body, default=_encode, separators=(",", ":"))
    return Response(text, status_code=status, media_type="application/json", headers={"dg-request-id": rid})


def _encode(value: object) -> object:
    if isinstance(value, Decimal):  # money as a JSON number: 8 decimals at most, which a float keeps exactly
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _bad(message: str) -> Response:
    rid = str(uuid.uuid4())
    return _legacy_error(400, "INVALID_QUERY_PARAMETER" if "parameter" in message else "BAD_REQUEST",
                         message, rid)  # fmt: skip


class ManageState:
    """The project, keys, tokens and request log of one app (``app.state.manage``); lives on the event loop.

    Examples
    --------
    >>> m = ManageState(["0123456789abcdef0123456789abcdef01234567"], [])
    >>> m.credentials.allow(b"Token 0123456789abcdef0123456789abcdef01234567")
    True
    >>> len(m.keys), float(m.balance())
    (1, 200.0)
    """

    def __init__(self, api_keys: Collection[str], access_tokens: Collection[str]) -> None:
        self.keys: dict[str, _Key] = {}
        started = _now()
        for k in api_keys:
            digest = _digest(k.encode())
            kid = str(uuid.UUID(bytes=digest[:16], version=4))
            self.keys[kid] = _Key(kid, digest, "given at start-up (api_keys=)", ["member"], [], started)
        self.revoked: set[bytes] = set()
        self.tokens: dict[bytes, float] = {}  # digest -> time.monotonic() deadline
        self.records: list[_Record] = []
        self.credentials = ManagedCredentials(self, api_keys, access_tokens)

    # ---------------------------------------------------------------- credentials

    def _key_for(self, digest: bytes) -> _Key | None:
        return next((k for k in self.keys.values() if k.digest == digest), None)

    def check(self, header: bytes, scope: str) -> bool | None:
        """Whether ``header`` may use ``scope``; None: not a credential this API knows (the caller decides)."""
        scheme, credential = _parse_header(header)
        if not credential:
            return None
        digest = _digest(credential)
        if scheme == b"token":
            if digest in self.revoked:
                return False
            key = self._key_for(digest)
            if key is not None:
                return not key.expired() and key.allows(scope)
        elif scheme == b"bearer" and digest in self.tokens:
            return scope == "usage:write" and time.monotonic() < self.tokens[digest]
        return None

    def key_id(self, header: bytes) -> str | None:
        """The id of the key (or ``"temporary-token"``) of an ``Authorization`` header."""
        scheme, credential = _parse_header(header)
        digest = _digest(credential)
        if scheme == b"bearer":
            return "temporary-token" if digest in self.tokens else None
        key = self._key_for(digest)
        return None if key is None else key.api_key_id

    def _manage_auth(self, request: Request, scope: str) -> Response | None:
        """None when the request may use ``scope`` on the Manage API, else its 401/403."""
        rid = str(uuid.uuid4())
        header = request.headers.get("authorization", "").encode()
        scheme, credential = _parse_header(header)
        verdict = self.check(header, scope)
        if scheme == b"bearer":
            if verdict is None and not self.credentials.required and credential:
                verdict = False
            if verdict is not None or self.credentials.allow(header):
                return _modern_error(403, "INSUFFICIENT_PERMISSIONS", "Temporary tokens cannot use the Manage API.",
                                     "Tokens from /v1/auth/grant only transcribe and speak: use an API key "
                                     "with the scope it needs.", rid)  # fmt: skip
            return _invalid_auth(rid)
        if verdict is None:
            # a start-up key or, on an open server, any Token: the project's owner
            verdict = None if scheme != b"token" or not self.credentials.allow(header) else True
        if verdict is None:
            return _invalid_auth(rid)
        if verdict:
            return None
        key = self._key_for(_digest(credential))
        if key is None or key.expired() or _digest(credential) in self.revoked:
            return _invalid_auth(rid)
        return _modern_error(403, "INSUFFICIENT_PERMISSIONS", f"This key lacks the scope {scope!r}.",
                             f"The key's scopes are {key.scopes}; create one with {scope!r} or 'member'.",
                             rid)  # fmt: skip

    # ---------------------------------------------------------------- routes

    def routes(self) -> list[BaseRoute]:
        """The Manage routes."""
        from starlette.routing import Route

        p = "/v1/projects/{project_id}"
        return [
            Route("/v1/projects", self._projects, methods=["GET"]),
            Route(f"{p}/keys", self._keys, methods=["GET", "POST"]),
            Route(p + "/keys/{key_id}", self._key, methods=["GET", "DELETE"]),
            Route("/v1/auth/grant", self._grant, methods=["POST"]),
            Route(f"{p}/requests", self._requests, methods=["GET"]),
            Route(p + "/requests/{request_id}", self._request, methods=["GET"]),
            Route(f"{p}/usage", self._usage, methods=["GET"]),
            Route(f"{p}/balances", self._balances, methods=["GET"]),
        ]

    def middleware(self) -> list[Middleware]:
        """The middleware that records every ``/v1/listen`` and ``/v1/speak`` answer."""
        from starlette.middleware import Middleware

        return [Middleware(_Recorder, manage=self)]

    def _project(self, request: Request, scope: str) -> Response | None:
        refused = self._manage_auth(request, scope)
        if refused is not None:
            return refused
        if request.path_params.get("project_id", PROJECT_ID) != PROJECT_ID:
            return _legacy_error(404, "PROJECT_NOT_FOUND", "Project not found.", str(uuid.uuid4()))
        return None

    async def _projects(self, request: Request) -> Response:
        refused = self._project(request, "")  # any key of the project may list it
        if refused is not None:
            return refused
        return _json(200, {"projects": [{"project_id": PROJECT_ID, "name": PROJECT_NAME}]})

    async def _keys(self, request: Request) -> Response:
        refused = self._project(request, "keys:read" if request.method == "GET" else "keys:write")
        if refused is not None:
            return refused
        if request.method == "POST":
            return await self._create(request)
        status = request.query_params.get("status")
        if status not in (None, "active", "expired"):
            return _bad(f"the parameter status must be active or expired, got {status!r}")
        keys = [k for k in self.keys.values() if status is None or k.expired() == (status == "expired")]
        member = {"member_id": _MEMBER_ID, "email": _EMAIL}
        return _json(200, {"api_keys": [{"member": member, "api_key": k.wire()} for k in keys]})

    async def _create(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _bad("the body must be a JSON object {comment, scopes, ...}")
        comment, scopes, tags = body.get("comment"), body.get("scopes"), body.get("tags") or []
        if not isinstance(comment, str) or not comment:
            return _bad("comment is required: a non-empty string")
        if not (isinstance(scopes, list) and scopes and all(isinstance(s, str) and s for s in scopes)):
            return _bad('scopes is required: a non-empty list of strings, e.g. ["usage:write"]')
        if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            return _bad("tags must be a list of strings")
        date_, ttl = body.get("expiration_date"), body.get("time_to_live_in_seconds")
        if date_ is not None and ttl is not None:
            return _bad("pass expiration_date or time_to_live_in_seconds, not both")
        created = _now()
        expires: datetime | None = None
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
                return _bad("time_to_live_in_seconds must be a positive number")
            expires = created + timedelta(seconds=ttl)
        elif date_ is not None:
            try:
                expires = datetime.fromisoformat(str(date_))
            except ValueError:
                return _bad(f"expiration_date {date_!r} is not an ISO 8601 date-time")
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
        secret = secrets.token_hex(20)
        key = _Key(str(uuid.uuid4()), _digest(secret.encode()), comment, list(scopes), list(tags), created,
                   expires)  # fmt: skip
        self.keys[key.api_key_id] = key
        out = {"api_key_id": key.api_key_id, "key": secret, "comment": comment, "scopes": key.scopes,
               "tags": key.tags}  # fmt: skip
        if expires is not None:
            out["expiration_date"] = _iso(expires)
        return _json(200, out)

    async def _key(self, request: Request) -> Response:
        refused = self._project(request, "keys:read" if request.method == "GET" else "keys:write")
        if refused is not None:
            return refused
        key = self.keys.get(request.path_params["key_id"])
        if key is None:
            return _legacy_error(404, "KEY_NOT_FOUND", "API key not found.", str(uuid.uuid4()))
        if request.method == "DELETE":
            del self.keys[key.api_key_id]
            self.revoked.add(key.digest)
            return _json(200, {"message": "API key deleted"})
        member = {"member_id": _MEMBER_ID, "email": _EMAIL, "first_name": "Local", "last_name": "Server",
                  "api_key": key.wire()}  # fmt: skip
        return _json(200, {"item": {"member": member}})

    async def _grant(self, request: Request) -> Response:
        refused = self._manage_auth(request, "member")
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        ttl = body.get("ttl_seconds", 30) if isinstance(body, dict) else None
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= _MAX_TTL:
            return _bad(f"ttl_seconds must be a number of seconds in (0, {_MAX_TTL:g}], got {ttl!r}")
        token = _jwt(ttl)
        self.tokens[_digest(token.encode())] = time.monotonic() + ttl
        now = time.monotonic()
        self.tokens = {d: t for d, t in self.tokens.items() if t > now - 3600}  # forget long-expired tokens
        return _json(200, {"access_token": token, "expires_in": ttl})

    # ---------------------------------------------------------------- request log

    def record(self, record: _Record) -> None:
        """Add one answered request to the log."""
        self.records.append(record)

    def spent(self) -> Decimal:
        """Dollars spent on this server so far."""
        return sum((r.usd for r in self.records), Decimal(0))

    def balance(self) -> Decimal:
        """What is left of :data:`STARTING_BALANCE`."""
        return STARTING_BALANCE - self.spent()

    def _window(self, request: Request) -> tuple[datetime | None, datetime | None] | Response:
        out: list[datetime | None] = []
        for name in ("start", "end"):
            value = request.query_params.get(name)
            if not value:
                out.append(None)
                continue
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                return _bad(
                    f"the parameter {name} {value!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[+HH:MM]"
                )
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            if name == "end" and len(value) == 10:  # a date: the whole day
                when += timedelta(days=1)
            out.append(when)
        return out[0], out[1]

    def _selected(self, request: Request) -> Iterator[_Record] | Response:
        window = self._window(request)
        if not isinstance(window, tuple):
            return window
        start, end = window
        q = request.query_params
        status, rid, endpoint = q.get("status"), q.get("request_id"), q.get("endpoint")
        if status not in (None, "succeeded", "failed"):
            return _bad(f"the parameter status must be succeeded or failed, got {status!r}")
        return (
            r
            for r in self.records
            if (start is None or r.created >= start)
            and (end is None or r.created < end)
            and (status is None or (r.code < 300) == (status == "succeeded"))
            and (rid is None or r.request_id == rid)
            and (endpoint is None or r.endpoint == endpoint)
        )

    async def _requests(self, request: Request) -> Response:
        refused = self._project(request, "usage:read")
        if refused is not None:
            return refused
        try:
            limit = int(float(request.query_params.get("limit", 10)))
            page = int(float(request.query_params.get("page", 0)))
        except ValueError:
            return _bad("the parameters limit and page must be numbers")
        if not 1 <= limit <= 1000 or page < 0:
            return _bad(f"the parameter limit must be in [1, 1000] and page >= 0, got {limit}, {page}")
        selected = self._selected(request)
        if not isinstance(selected, Iterator):
            return selected
        newest_first = sorted(selected, key=lambda r: r.created, reverse=True)
        chunk = newest_first[page * limit : (page + 1) * limit]
        return _json(200, {"page": page, "limit": limit, "requests": [r.wire() for r in chunk]})

    async def _request(self, request: Request) -> Response:
        refused = self._project(request, "usage:read")
        if refused is not None:
            return refused
        rid = request.path_params["request_id"]
        found = next((r for r in self.records if r.request_id == rid), None)
        if found is None:
            return _legacy_error(404, "REQUEST_NOT_FOUND", "Request not found.", str(uuid.uuid4()))
        return _json(200, {"request": found.wire()})

    async def _usage(self, request: Request) -> Response:
        refused = self._project(request, "usage:read")
        if refused is not None:
            return refused
        selected = self._selected(request)
        if not isinstance(selected, Iterator):
            return selected
        days: dict[date, dict[str, Any]] = {}
        for r in selected:
            day = r.created.date()
            d = days.setdefault(day, {"hours": 0.0, "total_hours": 0.0, "requests": 0, "tts_characters": 0})
            d["requests"] += 1
            d["hours"] += (r.duration or 0.0) / 3600
            d["total_hours"] += (r.duration or 0.0) * (r.channels or 1) / 3600
            d["tts_characters"] += r.characters or 0
        q = request.query_params
        first = min(days, default=_now().date())
        last = max(days, default=_now().date())
        results = [{"start": d.isoformat(), "end": d.isoformat(), **v} for d, v in sorted(days.items())]
        return _json(200, {"start": q.get("start") or first.isoformat(), "end": q.get("end") or last.isoformat(),
                           "resolution": {"units": "day", "amount": 1}, "results": results})  # fmt: skip

    async def _balances(self, request: Request) -> Response:
        refused = self._project(request, "billing:read")
        if refused is not None:
            return refused
        balance = {"balance_id": _BALANCE_ID, "amount": self.balance(), "units": "usd",
                   "purchase_order_id": "dgtools-local-credit"}  # fmt: skip
        return _json(200, {"balances": [balance]})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(ttl: float) -> str:
    """A JWT-shaped token: header and payload are real base64url JSON; the signature is random bytes."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {"iat": now, "exp": now + max(1, round(ttl)), "jti": str(uuid.uuid4()), "scope": "usage:write",
               "iss": "dgtools local server"}  # fmt: skip
    return ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()),
                     _b64(secrets.token_bytes(32))))  # fmt: skip


def cost_of_listen(duration: float | None, model: str | None) -> Decimal:
    """Dollars for ``duration`` seconds with ``model`` at :data:`dgtools.pricing.PRICES`, to 8 decimals.

    Examples
    --------
    >>> cost_of_listen(90.0, "nova-3")
    Decimal('0.00645000')
    """
    rate = price_per_minute(model or DEFAULT_MODEL)
    if rate is None or not duration:
        return Decimal(0).quantize(_USD)
    return (Decimal(repr(float(duration))) * Decimal(repr(rate)) / 60).quantize(_USD, ROUND_HALF_EVEN)


def cost_of_speak(characters: int | None, model: str | None) -> Decimal:
    """Dollars for speaking ``characters`` with ``model`` at :data:`dgtools.pricing.TTS_PRICES`, to 8 decimals."""
    rate = price_per_1k_characters(model or DEFAULT_TTS_MODEL)
    if rate is None or not characters:
        return Decimal(0).quantize(_USD)
    return (Decimal(characters) * Decimal(repr(rate)) / 1000).quantize(_USD, ROUND_HALF_EVEN)


class _Recorder:
    """ASGI middleware: records every ``POST /v1/listen`` and ``/v1/speak`` answer in the request log."""

    def __init__(self, app: ASGIApp, manage: ManageState) -> None:
        self.app = app
        self.manage = manage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or path not in ("/v1/listen", "/v1/speak")
        ):
            await self.app(scope, receive, send)
            return
        seen: dict[str, Any] = {"status": None, "headers": {}, "body": [], "size": 0}
        listen = path == "/v1/listen"

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = int(message["status"])
                seen["headers"] = {bytes(k).lower(): bytes(v) for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body" and listen and seen["status"] == 200:
                chunk = message.get("body", b"")
                seen["size"] += len(chunk)
                if seen["size"] <= _MAX_BODY:
                    seen["body"].append(chunk)
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if seen["status"] is not None and seen["status"] != 401:
                self._record(scope, seen, listen)

    def _record(self, scope: Scope, seen: dict[str, Any], listen: bool) -> None:
        headers: dict[bytes, bytes] = seen["headers"]
        query = scope.get("query_string", b"").decode("latin-1")
        params = parse_qsl(query)
        model = next((v for k, v in params if k == "model"), None)
        tags = [v for k, v in params if k == "tag"]
        authorization = next((bytes(v) for k, v in scope["headers"] if k == b"authorization"), b"")
        code: int = seen["status"]
        rid = headers.get(b"dg-request-id", b"").decode() or str(uuid.uuid4())
        record = _Record(
            request_id=rid,
            created=_now(),
            path=scope["path"] + (f"?{query}" if query else ""),
            endpoint="listen" if listen else "speak",
            api_key_id=self.manage.key_id(authorization),
            code=code,
            usd=Decimal(0).quantize(_USD),
            model=model or (DEFAULT_MODEL if listen else DEFAULT_TTS_MODEL),
            tags=tags,
        )
        if listen:
            record.duration, record.channels = (
                _metadata(b"".join(seen["body"])) if code == 200 else (None, None)
            )
            if code == 200:
                record.usd = cost_of_listen(record.duration, record.model)
        else:
            chars = headers.get(b"dg-char-count", b"")
            record.characters = int(chars) if chars.isdigit() else None
            if code == 200:
                record.usd = cost_of_speak(record.characters, record.model)
        self.manage.record(record)


class _Meta(msgspec.Struct):
    duration: float | None = None
    channels: int | None = None


class _Answer(msgspec.Struct):
    metadata: _Meta | None = None


def _metadata(body: bytes) -> tuple[float | None, int | None]:
    """``(metadata.duration, metadata.channels)`` of a ``/v1/listen`` answer (None when absent)."""
    try:
        answer = msgspec.json.decode(body, type=_Answer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None, None
    if answer.metadata is None:
        return None, None
    return answer.metadata.duration, answer.metadata.channels
