"""The Manage API client: :class:`Manage`, and one function per call that opens and closes one.

Credentials and the endpoint are resolved as for transcription (``api_key=`` / ``access_token=`` /
``DEEPGRAM_API_KEY`` / ``DEEPGRAM_TOKEN``; ``base_url=`` / ``region=`` / ``DEEPGRAM_BASE_URL``), and
an error status becomes the same :class:`~dgtools.DeepgramAPIError` subclass as on ``/v1/listen``
(401/403 :class:`~dgtools.AuthenticationError`, 402, 429, 5xx ...).  The HTTP transport is injected
(``transport=``: an ``httpx.MockTransport`` in unit tests).

Secrets: the key that :meth:`Manage.create_key` gets back (Deepgram shows it once) lives only in the
:class:`CreatedKey` it returns, in one private slot: never in its ``repr`` or ``str``, never pickled,
never logged, never written anywhere by dgtools.  The same holds for :class:`TemporaryToken`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from ..api.auth import Credentials, resolve_base_url, resolve_credentials
from ..api.errors import error_from_response
from ..exceptions import ConfigError, DeepgramAPIError, ResponseFormatError, TransportError
from .frames import balances_frame, keys_frame, projects_frame, requests_frame, usage_frame

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CreatedKey",
    "Manage",
    "TemporaryToken",
    "balances",
    "create_key",
    "delete_key",
    "grant_token",
    "keys",
    "projects",
    "requests",
    "usage",
]

logger = logging.getLogger("dgtools.manage")

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


class _Auth(httpx.Auth):
    """Adds the Authorization header inside httpx's flow: no dgtools frame holds the header."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._credentials.header()
        yield request


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


class Manage:
    """A client for Deepgram's Manage API: projects, keys, temporary tokens, requests, usage, balances.

    Parameters
    ----------
    api_key, access_token
        Credentials (default: ``DEEPGRAM_API_KEY``, or ``DEEPGRAM_TOKEN``).  The Manage API needs an
        API key: Deepgram refuses temporary tokens there.
    base_url, region, allow_insecure
        The endpoint, as for :func:`dgtools.transcribe` (``dgtools serve`` answers the Manage API too).
    transport
        An httpx transport (``httpx.MockTransport`` in tests); default: httpx's.
    timeout
        Seconds per request.
    env
        The environment to read (default ``os.environ``).
    credentials
        Resolved :class:`~dgtools.api.Credentials` to use instead of ``api_key=``/``access_token=``.

    Examples
    --------
    >>> with Manage() as m:                                              # doctest: +SKIP
    ...     key = m.create_key(comment="batch job", scopes=["usage:write"], expires_in=3600)
    ...     print(key)
    <CreatedKey 3c8e... 'batch job' scopes=['usage:write'], expires ...: secret *** (shown once: read .secret)>
    """

    def __init__(
        self,
        api_key: str | None = None,
        access_token: str | None = None,
        *,
        base_url: str | None = None,
        region: str | None = None,
        allow_insecure: bool = False,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        env: dict[str, str] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self._credentials = credentials or resolve_credentials(api_key, access_token, env=env)
        self.base_url = resolve_base_url(base_url, region, env=env, allow_insecure=allow_insecure)
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout),
            auth=_Auth(self._credentials),
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"<dgtools.Manage {self.base_url} with {self._credentials!r}>"

    def __enter__(self) -> Manage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __reduce__(self) -> Any:
        raise TypeError("a Manage client cannot be pickled (it holds credentials)")

    # ------------------------------------------------------------------ the wire

    def _call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        what = f"{method} {path}"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        logger.debug("Manage API: %s %s", what, query)
        try:
            response = self._http.request(method, path, params=query, json=body)
        except httpx.TransportError as exc:
            raise TransportError(f"{what} on {self.base_url} got no answer: {type(exc).__name__}: {exc}",
                                 path=what) from exc  # fmt: skip
        if response.status_code >= 400:
            raise self._error(response, what)
        try:
            doc = json.loads(response.content or b"{}", parse_float=Decimal)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise ResponseFormatError(f"the answer to {what} is not a JSON object", path=what)
        return doc

    def _error(self, response: httpx.Response, what: str) -> DeepgramAPIError:
        err = error_from_response(
            response.status_code, response.content, headers=response.headers, source=what,
            credentials=self._credentials,
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

    def project_id(self, project: str | None = None) -> str:
        """The id of ``project`` (an id or a name), or of the key's only project when None.

        Raises
        ------
        ConfigError
            No such project, or None and the key sees several (it names them).
        """
        found = self._call("GET", "/v1/projects").get("projects") or []
        if project is None:
            if len(found) == 1:
                return str(found[0]["project_id"])
            names = ", ".join(f"{p.get('project_id')} ({p.get('name')})" for p in found) or "none"
            raise ConfigError(f"the key sees {len(found)} projects: pass project= one of {names}")
        for p in found:
            if project in (p.get("project_id"), p.get("name")):
                return str(p["project_id"])
        return project  # an id this key lists no project for: Deepgram answers for it

    # ------------------------------------------------------------------ the calls

    def projects(self) -> pd.DataFrame:
        """The projects the key sees: project_id, name."""
        return projects_frame(self._call("GET", "/v1/projects"))

    def keys(self, project: str | None = None, *, status: str | None = None) -> pd.DataFrame:
        """The project's API keys (never their secrets): api_key_id, comment, scopes, tags, created,
        expiration_date, member_id, email.  ``status``: ``"active"`` or ``"expired"``."""
        if status not in (None, "active", "expired"):
            raise ConfigError(f"status must be 'active' or 'expired', got {status!r}")
        pid = self.project_id(project)
        return keys_frame(self._call("GET", f"/v1/projects/{pid}/keys", params={"status": status}))

    def create_key(
        self,
        project: str | None = None,
        comment: str = "dgtools",
        scopes: Iterable[str] = ("usage:write",),
        *,
        expires_in: float | timedelta | None = None,
        expiration_date: datetime | None = None,
        tags: Iterable[str] = (),
    ) -> CreatedKey:
        """Create an API key; its secret is in the returned :class:`CreatedKey`, shown this once.

        Parameters
        ----------
        project
            Project id or name (default: the key's only project).
        comment
            What the key is for (required by Deepgram).
        scopes
            What it may do (default ``("usage:write",)``: transcribe and speak, nothing else).
        expires_in
            Seconds (or a timedelta) until it expires (``time_to_live_in_seconds``).
        expiration_date
            When it expires; not with ``expires_in``.
        tags
            Tags for the key.
        """
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
        pid = self.project_id(project)
        doc = self._call("POST", f"/v1/projects/{pid}/keys", body=body)
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

    def delete_key(self, project: str | None = None, key_id: str = "") -> None:
        """Delete the key ``key_id``: from then on it gets 401."""
        if not key_id:
            raise ConfigError("key_id= names the key to delete (its api_key_id)")
        pid = self.project_id(project)
        self._call("DELETE", f"/v1/projects/{pid}/keys/{key_id}")

    def grant_token(self, ttl: float = 30.0) -> TemporaryToken:
        """A temporary JWT (``Authorization: Bearer``) that transcribes and speaks for ``ttl`` seconds.

        Needs an API key with the ``member`` scope or higher; Deepgram's default ttl is 30 s.
        """
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise ConfigError(f"ttl must be a positive number of seconds, got {ttl!r}")
        granted = time.monotonic()
        doc = self._call("POST", "/v1/auth/grant", body={"ttl_seconds": ttl})
        token = doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise ResponseFormatError("Deepgram's answer to /v1/auth/grant has no 'access_token'",
                                      key_path="access_token")  # fmt: skip
        return TemporaryToken(token, float(doc.get("expires_in") or ttl), granted=granted)

    def requests(
        self,
        project: str | None = None,
        *,
        start: Moment | None = None,
        end: Moment | None = None,
        status: str | None = None,
        request_id: str | None = None,
        endpoint: str | None = None,
    ) -> pd.DataFrame:
        """The project's requests, every page of them, with their billed cost.

        Columns: request_id, created, path, endpoint, api_key_id, code, duration, characters,
        usd (``decimal128``), models, tags, deployment, project_uuid.  ``status``: ``"succeeded"``
        or ``"failed"``; ``endpoint``: ``"listen"``, ``"speak"`` ...
        """
        if status not in (None, "succeeded", "failed"):
            raise ConfigError(f"status must be 'succeeded' or 'failed', got {status!r}")
        params: dict[str, Any] = {"start": _moment(start, "start"), "end": _moment(end, "end"), "status": status,
                                  "request_id": request_id, "endpoint": endpoint, "limit": PAGE_LIMIT}  # fmt: skip
        pid = self.project_id(project)
        pages = []
        for page in range(MAX_PAGES):
            doc = self._call("GET", f"/v1/projects/{pid}/requests", params={**params, "page": page})
            pages.append(doc)
            if len(doc.get("requests") or []) < PAGE_LIMIT:
                break
        return requests_frame(pages)

    def usage(
        self, project: str | None = None, *, start: Moment | None = None, end: Moment | None = None
    ) -> pd.DataFrame:
        """The project's usage per period: start, end, hours, total_hours, requests, tts_characters."""
        params = {"start": _moment(start, "start"), "end": _moment(end, "end")}
        pid = self.project_id(project)
        return usage_frame(self._call("GET", f"/v1/projects/{pid}/usage", params=params))

    def balances(self, project: str | None = None) -> pd.DataFrame:
        """The project's balances: balance_id, amount (``decimal128``), units, purchase_order_id."""
        pid = self.project_id(project)
        return balances_frame(self._call("GET", f"/v1/projects/{pid}/balances"))


def _client(options: dict[str, Any]) -> Manage:
    return Manage(**options)


def projects(**options: Any) -> pd.DataFrame:
    """:meth:`Manage.projects` with a client of its own (``options``: those of :class:`Manage`)."""
    with _client(options) as m:
        return m.projects()


def keys(project: str | None = None, *, status: str | None = None, **options: Any) -> pd.DataFrame:
    """:meth:`Manage.keys` with a client of its own."""
    with _client(options) as m:
        return m.keys(project, status=status)


def create_key(
    project: str | None = None,
    comment: str = "dgtools",
    scopes: Iterable[str] = ("usage:write",),
    *,
    expires_in: float | timedelta | None = None,
    expiration_date: datetime | None = None,
    tags: Iterable[str] = (),
    **options: Any,
) -> CreatedKey:
    """:meth:`Manage.create_key` with a client of its own.

    Examples
    --------
    >>> key = dgtools.create_key(comment="one batch", scopes=["usage:write"], expires_in=3600)  # doctest: +SKIP
    >>> run = dgtools.transcribe("calls/", api_key=key.secret)                                # doctest: +SKIP
    >>> dgtools.delete_key(key_id=key.api_key_id)                                             # doctest: +SKIP
    """
    with _client(options) as m:
        return m.create_key(project, comment, scopes, expires_in=expires_in, expiration_date=expiration_date,
                            tags=tags)  # fmt: skip


def delete_key(project: str | None = None, key_id: str = "", **options: Any) -> None:
    """:meth:`Manage.delete_key` with a client of its own."""
    with _client(options) as m:
        m.delete_key(project, key_id)


def grant_token(ttl: float = 30.0, **options: Any) -> TemporaryToken:
    """:meth:`Manage.grant_token` with a client of its own."""
    with _client(options) as m:
        return m.grant_token(ttl)


def requests(
    project: str | None = None,
    *,
    start: Moment | None = None,
    end: Moment | None = None,
    status: str | None = None,
    request_id: str | None = None,
    endpoint: str | None = None,
    **options: Any,
) -> pd.DataFrame:
    """:meth:`Manage.requests` with a client of its own."""
    with _client(options) as m:
        return m.requests(
            project, start=start, end=end, status=status, request_id=request_id, endpoint=endpoint
        )


def usage(project: str | None = None, *, start: Moment | None = None, end: Moment | None = None,
          **options: Any) -> pd.DataFrame:  # fmt: skip
    """:meth:`Manage.usage` with a client of its own."""
    with _client(options) as m:
        return m.usage(project, start=start, end=end)


def balances(project: str | None = None, **options: Any) -> pd.DataFrame:
    """:meth:`Manage.balances` with a client of its own."""
    with _client(options) as m:
        return m.balances(project)
