"""The Manage API client: :class:`Manage`, and one function per call that opens and closes one.

Credentials and the endpoint are resolved as for transcription (``api_key=`` / ``access_token=`` /
``DEEPGRAM_API_KEY`` / ``DEEPGRAM_TOKEN``; ``base_url=`` / ``region=`` / ``DEEPGRAM_BASE_URL``), and
an error status becomes the same :class:`~dgtools.DeepgramAPIError` subclass as on ``/v1/listen``
(401/403 :class:`~dgtools.AuthenticationError`, 402, 429, 5xx ...).  The HTTP transport is injected
(``transport=``: an ``httpx.MockTransport`` in unit tests).

What each call sends, how its answer is read and how an error is mapped live in
:mod:`dgtools.manage._wire`, shared with :class:`~dgtools.manage.AsyncManage` (``aclient``), its
twin for async code: the two differ only in how they send (``httpx.Client`` here).

Secrets: the key that :meth:`Manage.create_key` gets back (Deepgram shows it once) lives only in the
:class:`CreatedKey` it returns, in one private slot: never in its ``repr`` or ``str``, never pickled,
never logged, never written anywhere by dgtools.  The same holds for :class:`TemporaryToken`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from ..api.auth import Credentials
from . import _wire
from ._wire import MAX_PAGES, PAGE_LIMIT, Call, ClientBase, CreatedKey, Moment, Op, T, TemporaryToken

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MAX_PAGES",
    "PAGE_LIMIT",
    "CreatedKey",
    "Manage",
    "Moment",
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


class Manage(ClientBase):
    """A client for Deepgram's Manage API: projects, keys, temporary tokens, requests, usage, balances.

    :class:`~dgtools.manage.AsyncManage` is its twin for async code (the same calls, awaited).

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
        super().__init__(api_key, access_token, base_url=base_url, region=region, allow_insecure=allow_insecure,
                         env=env, credentials=credentials)  # fmt: skip
        self._http = httpx.Client(transport=transport, **self._http_options(timeout))

    def __enter__(self) -> Manage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    # ------------------------------------------------------------------ the wire

    def _send(self, call: Call) -> dict[str, Any]:
        query = call.query()
        try:
            response = self._http.request(call.method, call.path, params=query, json=call.body)
        except httpx.TransportError as exc:
            raise _wire.no_answer(call, self.base_url, exc) from exc
        return _wire.answer(response, call, self._credentials)

    def _run(self, op: Op[T]) -> T:
        return _wire.drive(op, self._send)

    def project_id(self, project: str | None = None) -> str:
        """The id of ``project`` (an id or a name), or of the key's only project when None.

        Asks ``GET /v1/projects`` on every call (nothing is cached).

        Raises
        ------
        ConfigError
            No such project, or None and the key sees several (it names them).
        """
        return self._run(_wire.project_id(project))

    # ------------------------------------------------------------------ the calls

    def projects(self) -> pd.DataFrame:
        """The projects the key sees: project_id, name."""
        return self._run(_wire.projects())

    def keys(self, project: str | None = None, *, status: str | None = None) -> pd.DataFrame:
        """The project's API keys (never their secrets): api_key_id, comment, scopes, tags, created,
        expiration_date, member_id, email.  ``status``: ``"active"`` or ``"expired"``."""
        return self._run(_wire.keys(project, status))

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
        return self._run(_wire.create_key(project, comment, scopes, expires_in=expires_in,
                                          expiration_date=expiration_date, tags=tags))  # fmt: skip

    def delete_key(self, project: str | None = None, key_id: str = "") -> None:
        """Delete the key ``key_id``: from then on it gets 401."""
        self._run(_wire.delete_key(project, key_id))

    def grant_token(self, ttl: float = 30.0) -> TemporaryToken:
        """A temporary JWT (``Authorization: Bearer``) that transcribes and speaks for ``ttl`` seconds.

        Needs an API key with the ``member`` scope or higher; Deepgram's default ttl is 30 s.
        """
        return self._run(_wire.grant_token(ttl))

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
        return self._run(_wire.requests(project, start=start, end=end, status=status, request_id=request_id,
                                        endpoint=endpoint))  # fmt: skip

    def usage(
        self, project: str | None = None, *, start: Moment | None = None, end: Moment | None = None
    ) -> pd.DataFrame:
        """The project's usage per period: start, end, hours, total_hours, requests, tts_characters."""
        return self._run(_wire.usage(project, start=start, end=end))

    def balances(self, project: str | None = None) -> pd.DataFrame:
        """The project's balances: balance_id, amount (``decimal128``), units, purchase_order_id."""
        return self._run(_wire.balances(project))


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
