"""The Manage API without I/O: what each call sends, how its answer is read, how an error is mapped.

:class:`~dgtools.manage.Manage` and :class:`~dgtools.manage.AsyncManage` share everything here and
differ only in how they send a :class:`Call` (``httpx.Client`` or ``httpx.AsyncClient``).  Each
operation is a generator (sans-I/O, as in h11): it checks its arguments, yields the :class:`Call`\\ s
it needs one at a time (the project lookup, then the call; or every page of ``/requests``), is sent
back each answer as a JSON object, and returns the result.  :func:`drive` and :func:`adrive` run one
with a sync or an async sender; :func:`answer` turns an ``httpx.Response`` into that JSON object or
into the error, and :func:`no_answer` turns a transport failure into a
:class:`~dgtools.TransportError`.

Examples
--------
>>> op = grant_token(60)
>>> call = next(op)
>>> call.method, call.path, call.body
('POST', '/v1/auth/grant', {'ttl_seconds': 60})
>>> token = drive(grant_token(60), lambda call: {"access_token": "eyJ.x.y", "expires_in": 60})
>>> token
<TemporaryToken ***: ... s of 60 s left>
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

import httpx

from ..api.auth import Credentials, resolve_base_url, resolve_credentials
from ..api.errors import error_from_response
from ..exceptions import ConfigError, DeepgramAPIError, ResponseFormatError, TransportError
from .frames import balances_frame, keys_frame, projects_frame, requests_frame, usage_frame

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MAX_PAGES",
    "PAGE_LIMIT",
    "Auth",
    "Call",
    "ClientBase",
    "CreatedKey",
    "Moment",
    "Op",
    "TemporaryToken",
    "adrive",
    "answer",
    "balances",
    "create_key",
    "delete_key",
    "drive",
    "grant_token",
    "keys",
    "no_answer",
    "project_id",
    "projects",
    "requests",
    "usage",
]

logger = logging.getLogger("dgtools.manage")

T = TypeVar("T")

#: Rows asked for per page of ``/requests`` (Deepgram's maximum).
PAGE_LIMIT = 1000
#: Pages read at most by one :meth:`Manage.requests` call (a million requests).
MAX_PAGES = 1000

Moment = str | date | datetime

#: What to do about an answer, where it differs from /v1/listen's advice.
_ADVICE = {
    403: (
        "The credential may not make this Manage call: it needs an API key (not a temporary token) "
        "with the scope for it (keys:read, keys:write, usage:read, billing:read, or member)"
    ),
    404: "No such project, key or request: check the id (dgtools keys list, manage.projects())",
}


class CreatedKey:
    """A key just created: its id and settings, and the secret Deepgram shows this once.

    The secret is :attr:`secret`; it is never in ``repr``/``str``, the object cannot be pickled,
    and dgtools never logs or writes it.  Copy it to where your secrets live, then drop the object.

    Attributes
    ----------
    api_key_id, comment, scopes, tags, expiration_date, project_id
        As Deepgram answered (``expiration_date``: a UTC datetime, or None).
    """

    __slots__ = ("_secret", "api_key_id", "comment", "expiration_date", "project_id", "scopes", "tags")

    def __init__(
        self,
        secret: str,
        *,
        api_key_id: str,
        comment: str,
        scopes: tuple[str, ...],
        tags: tuple[str, ...] = (),
        expiration_date: datetime | None = None,
        project_id: str = "",
    ) -> None:
        self._secret = secret
        self.api_key_id = api_key_id
        self.comment = comment
        self.scopes = scopes
        self.tags = tags
        self.expiration_date = expiration_date
        self.project_id = project_id

    @property
    def secret(self) -> str:
        """The API key (40 hex characters at Deepgram): pass it as ``api_key=`` or ``DEEPGRAM_API_KEY``."""
        return self._secret

    def credentials(self) -> Credentials:
        """The key as :class:`~dgtools.api.Credentials` (``Authorization: Token ...``)."""
        return Credentials("Token", self._secret, f"create_key() {self.api_key_id}")

    def __repr__(self) -> str:
        expires = "" if self.expiration_date is None else f", expires {self.expiration_date.isoformat()}"
        return (
            f"<CreatedKey {self.api_key_id} {self.comment!r} scopes={list(self.scopes)}{expires}: "
            "secret *** (shown once: read .secret)>"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a CreatedKey cannot be pickled (it holds the secret); keep its .api_key_id instead")


class TemporaryToken:
    """A temporary JWT from ``/v1/auth/grant`` (sent as ``Authorization: Bearer``); hidden like a key.

    Attributes
    ----------
    expires_in : float
        Its time to live in seconds, as granted.
    expires_at : float
        When it expires, on :func:`time.monotonic`'s clock.
    """

    __slots__ = ("_secret", "expires_at", "expires_in")

    def __init__(self, secret: str, expires_in: float, *, granted: float | None = None) -> None:
        self._secret = secret
        self.expires_in = float(expires_in)
        self.expires_at = (time.monotonic() if granted is None else granted) + self.expires_in

    @property
    def access_token(self) -> str:
        """The token: pass it as ``access_token=`` or ``DEEPGRAM_TOKEN``."""
        return self._secret

    @property
    def expired(self) -> bool:
        """Whether its time to live has passed (by this machine's clock)."""
        return time.monotonic() >= self.expires_at

    def credentials(self) -> Credentials:
        """The token as :class:`~dgtools.api.Credentials` (``Authorization: Bearer ...``)."""
        return Credentials("Bearer", self._secret, "grant_token()")

    def __repr__(self) -> str:
        left = max(0.0, self.expires_at - time.monotonic())
        return f"<TemporaryToken ***: {left:.1f} s of {self.expires_in:g} s left>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a TemporaryToken cannot be pickled (it is a secret)")


class Auth(httpx.Auth):
    """Adds the Authorization header inside httpx's flow: no dgtools frame holds the header.

    httpx runs the same flow for ``httpx.Client`` and ``httpx.AsyncClient``.
    """

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._credentials.header()
        yield request


class ClientBase:
    """What :class:`~dgtools.manage.Manage` and :class:`~dgtools.manage.AsyncManage` share: the
    credentials and endpoint they resolve, the httpx client options, a repr without the secret, and
    the refusal to be pickled."""

    #: How the refusal to pickle names the client.
    _NAMED = "a Manage client"

    def __init__(
        self,
        api_key: str | None,
        access_token: str | None,
        *,
        base_url: str | None,
        region: str | None,
        allow_insecure: bool,
        env: dict[str, str] | None,
        credentials: Credentials | None,
    ) -> None:
        self._credentials = credentials or resolve_credentials(api_key, access_token, env=env)
        self.base_url = resolve_base_url(base_url, region, env=env, allow_insecure=allow_insecure)

    def _http_options(self, timeout: float) -> dict[str, Any]:
        """Keyword arguments of ``httpx.Client`` and ``httpx.AsyncClient`` alike."""
        return {
            "base_url": self.base_url,
            "timeout": httpx.Timeout(timeout),
            "auth": Auth(self._credentials),
            "headers": {"Accept": "application/json"},
        }

    def __repr__(self) -> str:
        return f"<dgtools.{type(self).__name__} {self.base_url} with {self._credentials!r}>"

    def __reduce__(self) -> Any:
        raise TypeError(f"{self._NAMED} cannot be pickled (it holds credentials)")


# --------------------------------------------------------------------------- one request and its answer


@dataclass(frozen=True)
class Call:
    """One request of the Manage API: method, path, query (None values dropped when sent), JSON body."""

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None

    @property
    def what(self) -> str:
        """``"GET /v1/projects"``: how messages and errors name the request."""
        return f"{self.method} {self.path}"

    def query(self) -> dict[str, Any]:
        """The query parameters to send (those not None); logged at DEBUG, never with a secret."""
        query = {k: v for k, v in self.params.items() if v is not None}
        logger.debug("Manage API: %s %s", self.what, query)
        return query


def no_answer(call: Call, base_url: str, exc: httpx.TransportError) -> TransportError:
    """The :class:`~dgtools.TransportError` for ``call`` that got no answer (raise it ``from exc``)."""
    return TransportError(f"{call.what} on {base_url} got no answer: {type(exc).__name__}: {exc}",
                          path=call.what)  # fmt: skip


def answer(response: httpx.Response, call: Call, credentials: Credentials) -> dict[str, Any]:
    """The JSON object of a 2xx answer (numbers with a fraction as Decimal), or raise its error.

    Raises
    ------
    DeepgramAPIError
        An error status: the subclass :func:`~dgtools.api.errors.error_from_response` maps it to,
        with the Manage API's advice for 403 and 404.
    ResponseFormatError
        The answer is not a JSON object.
    """
    if response.status_code >= 400:
        raise _error(response, call.what, credentials)
    try:
        doc = json.loads(response.content or b"{}", parse_float=Decimal)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise ResponseFormatError(f"the answer to {call.what} is not a JSON object", path=call.what)
    return doc


def _error(response: httpx.Response, what: str, credentials: Credentials) -> DeepgramAPIError:
    err = error_from_response(
        response.status_code, response.content, headers=response.headers, source=what,
        credentials=credentials,
    )  # fmt: skip
    advice = _ADVICE.get(response.status_code)
    if advice is None:
        return err
    head = str(err).split("): ", 1)
    detail = head[1].split(". ", 1)[0].rstrip(".") if len(head) == 2 else ""
    msg = f"{head[0]}): {detail}. {advice}." if detail else f"{head[0]}). {advice}."
    return type(err)(
        msg, status_code=err.status_code, request_id=err.request_id, err_code=err.err_code, body=err.body,
        path=what,
    )  # fmt: skip


# --------------------------------------------------------------------------- running an operation

#: An operation: yields the calls it makes, is sent each one's answer, returns its result.
Op: TypeAlias = Generator[Call, dict[str, Any], T]


def drive(op: Op[T], send: Callable[[Call], dict[str, Any]]) -> T:
    """Run ``op`` to its result, sending each of its calls with ``send`` (which returns :func:`answer`)."""
    try:
        call = next(op)
        while True:
            call = op.send(send(call))
    except StopIteration as stop:
        return cast(T, stop.value)
    finally:
        op.close()


async def adrive(op: Op[T], send: Callable[[Call], Awaitable[dict[str, Any]]]) -> T:
    """:func:`drive` with an async ``send``: the event loop runs on while each answer is awaited."""
    try:
        call = next(op)
        while True:
            call = op.send(await send(call))
    except StopIteration as stop:
        return cast(T, stop.value)
    finally:
        op.close()


# --------------------------------------------------------------------------- the operations


def _moment(value: Moment | None, name: str) -> str | None:
    """``start=``/``end=`` as Deepgram takes them: ``YYYY-MM-DD`` or an ISO date-time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (
            value.astimezone(UTC).isoformat(timespec="seconds")
            if value.tzinfo
            else value.isoformat("T", "seconds")
        )
    if isinstance(value, date):
        return value.isoformat()
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name}={value!r} is not a date: use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or a datetime"
        ) from None
    return value


def project_id(project: str | None = None) -> Op[str]:
    """The id of ``project`` (an id or a name), or of the key's only project when None (no cache:
    every call asks ``GET /v1/projects``, so a project created meanwhile counts)."""
    found = (yield Call("GET", "/v1/projects")).get("projects") or []
    if project is None:
        if len(found) == 1:
            return str(found[0]["project_id"])
        names = ", ".join(f"{p.get('project_id')} ({p.get('name')})" for p in found) or "none"
        raise ConfigError(f"the key sees {len(found)} projects: pass project= one of {names}")
    for p in found:
        if project in (p.get("project_id"), p.get("name")):
            return str(p["project_id"])
    return project  # an id this key lists no project for: Deepgram answers for it


def projects() -> Op[pd.DataFrame]:
    """``GET /v1/projects`` as a frame."""
    return projects_frame((yield Call("GET", "/v1/projects")))


def keys(project: str | None = None, status: str | None = None) -> Op[pd.DataFrame]:
    """``GET /v1/projects/{id}/keys`` as a frame."""
    if status not in (None, "active", "expired"):
        raise ConfigError(f"status must be 'active' or 'expired', got {status!r}")
    pid = yield from project_id(project)
    return keys_frame((yield Call("GET", f"/v1/projects/{pid}/keys", params={"status": status})))


def create_key(
    project: str | None,
    comment: str,
    scopes: Iterable[str],
    *,
    expires_in: float | timedelta | None = None,
    expiration_date: datetime | None = None,
    tags: Iterable[str] = (),
) -> Op[CreatedKey]:
    """``POST /v1/projects/{id}/keys``: the :class:`CreatedKey` with its secret."""
    scopes = tuple(scopes)
    if not scopes or not all(isinstance(s, str) and s for s in scopes):
        raise ConfigError("scopes must name at least one scope, e.g. ['usage:write']")
    if not comment:
        raise ConfigError("comment must say what the key is for")
    if expires_in is not None and expiration_date is not None:
        raise ConfigError("pass expires_in= or expiration_date=, not both")
    body: dict[str, Any] = {"comment": comment, "scopes": list(scopes), "tags": list(tags)}
    if expires_in is not None:
        seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else float(expires_in)
        if not seconds > 0:
            raise ConfigError(f"expires_in must be a positive number of seconds, got {expires_in!r}")
        body["time_to_live_in_seconds"] = int(seconds) if seconds == int(seconds) else seconds
    if expiration_date is not None:
        when = expiration_date if expiration_date.tzinfo else expiration_date.replace(tzinfo=UTC)
        body["expiration_date"] = when.astimezone(UTC).isoformat()
    pid = yield from project_id(project)
    doc = yield Call("POST", f"/v1/projects/{pid}/keys", body=body)
    secret = doc.pop("key", None)
    if not isinstance(secret, str) or not secret:
        raise ResponseFormatError(f"Deepgram's answer to creating a key has no 'key' (got {sorted(doc)})",
                                  key_path="key")  # fmt: skip
    expires = doc.get("expiration_date")
    return CreatedKey(
        secret,
        api_key_id=str(doc.get("api_key_id")),
        comment=str(doc.get("comment", comment)),
        scopes=tuple(doc.get("scopes") or scopes),
        tags=tuple(doc.get("tags") or ()),
        expiration_date=None if not expires else datetime.fromisoformat(str(expires)).astimezone(UTC),
        project_id=pid,
    )


def delete_key(project: str | None, key_id: str) -> Op[None]:
    """``DELETE /v1/projects/{id}/keys/{key_id}``."""
    if not key_id:
        raise ConfigError("key_id= names the key to delete (its api_key_id)")
    pid = yield from project_id(project)
    yield Call("DELETE", f"/v1/projects/{pid}/keys/{key_id}")


def grant_token(ttl: float) -> Op[TemporaryToken]:
    """``POST /v1/auth/grant``: the :class:`TemporaryToken`, its expiry counted from just before sending."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
        raise ConfigError(f"ttl must be a positive number of seconds, got {ttl!r}")
    granted = time.monotonic()
    doc = yield Call("POST", "/v1/auth/grant", body={"ttl_seconds": ttl})
    token = doc.get("access_token")
    if not isinstance(token, str) or not token:
        raise ResponseFormatError("Deepgram's answer to /v1/auth/grant has no 'access_token'",
                                  key_path="access_token")  # fmt: skip
    return TemporaryToken(token, float(doc.get("expires_in") or ttl), granted=granted)


def requests(
    project: str | None = None,
    *,
    start: Moment | None = None,
    end: Moment | None = None,
    status: str | None = None,
    request_id: str | None = None,
    endpoint: str | None = None,
) -> Op[pd.DataFrame]:
    """Every page of ``GET /v1/projects/{id}/requests`` (at most :data:`MAX_PAGES`) as one frame."""
    if status not in (None, "succeeded", "failed"):
        raise ConfigError(f"status must be 'succeeded' or 'failed', got {status!r}")
    params: dict[str, Any] = {"start": _moment(start, "start"), "end": _moment(end, "end"), "status": status,
                              "request_id": request_id, "endpoint": endpoint, "limit": PAGE_LIMIT}  # fmt: skip
    pid = yield from project_id(project)
    pages = []
    for page in range(MAX_PAGES):
        doc = yield Call("GET", f"/v1/projects/{pid}/requests", params={**params, "page": page})
        pages.append(doc)
        if len(doc.get("requests") or []) < PAGE_LIMIT:
            break
    return requests_frame(pages)


def usage(
    project: str | None = None, *, start: Moment | None = None, end: Moment | None = None
) -> Op[pd.DataFrame]:
    """``GET /v1/projects/{id}/usage`` as a frame."""
    params = {"start": _moment(start, "start"), "end": _moment(end, "end")}
    pid = yield from project_id(project)
    return usage_frame((yield Call("GET", f"/v1/projects/{pid}/usage", params=params)))


def balances(project: str | None = None) -> Op[pd.DataFrame]:
    """``GET /v1/projects/{id}/balances`` as a frame."""
    pid = yield from project_id(project)
    return balances_frame((yield Call("GET", f"/v1/projects/{pid}/balances")))
