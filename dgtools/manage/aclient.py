"""The Manage API client for async code: :class:`AsyncManage`, the twin of :class:`~dgtools.manage.Manage`.

The same calls as coroutines, over one ``httpx.AsyncClient``: a web backend that grants a temporary
token per browser session, or a voice agent, awaits them without blocking its event loop, and may
run several at once (``asyncio.gather``).  Requests, answers, errors and frames are those of
:class:`~dgtools.manage.Manage` (both run the operations of :mod:`dgtools.manage._wire`); only the
sending differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from ..api.auth import Credentials
from . import _wire
from ._wire import Call, ClientBase, CreatedKey, Moment, Op, T, TemporaryToken

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AsyncManage"]


class AsyncManage(ClientBase):
    """A client for Deepgram's Manage API in async code: :class:`~dgtools.manage.Manage`'s calls, awaited.

    Every call of :class:`~dgtools.manage.Manage` is a coroutine here, with the same arguments,
    results, frames and errors (:class:`~dgtools.AuthenticationError` for 401/403 ...,
    :class:`~dgtools.TransportError` when no answer comes).  Calls may run concurrently on one client.
    Close it with ``await m.aclose()`` or ``async with``.

    Parameters
    ----------
    api_key, access_token
        Credentials (default: ``DEEPGRAM_API_KEY``, or ``DEEPGRAM_TOKEN``).  The Manage API needs an
        API key: Deepgram refuses temporary tokens there.
    base_url, region, allow_insecure
        The endpoint, as for :func:`dgtools.transcribe` (``dgtools serve`` answers the Manage API too).
    transport
        An async httpx transport (``httpx.MockTransport`` in tests); default: httpx's.
    timeout
        Seconds per request.
    env
        The environment to read (default ``os.environ``).
    credentials
        Resolved :class:`~dgtools.api.Credentials` to use instead of ``api_key=``/``access_token=``.

    Examples
    --------
    A temporary token per browser session, in a web backend:

    >>> manage = AsyncManage()                                      # doctest: +SKIP
    >>> async def session_token() -> dict[str, object]:             # doctest: +SKIP
    ...     token = await manage.grant_token(ttl=60)
    ...     return {"access_token": token.access_token, "expires_in": token.expires_in}

    Offline, with a mock transport:

    >>> import asyncio, httpx
    >>> def deepgram(request: httpx.Request) -> httpx.Response:
    ...     return httpx.Response(200, json={"projects": [{"project_id": "p1", "name": "Demo"}]})
    >>> async def main() -> list[str]:
    ...     async with AsyncManage(api_key="0" * 40, transport=httpx.MockTransport(deepgram)) as m:
    ...         return (await m.projects())["name"].tolist()
    >>> asyncio.run(main())
    ['Demo']
    """

    _NAMED = "an AsyncManage client"

    def __init__(
        self,
        api_key: str | None = None,
        access_token: str | None = None,
        *,
        base_url: str | None = None,
        region: str | None = None,
        allow_insecure: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        env: dict[str, str] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(api_key, access_token, base_url=base_url, region=region, allow_insecure=allow_insecure,
                         env=env, credentials=credentials)  # fmt: skip
        self._http = httpx.AsyncClient(transport=transport, **self._http_options(timeout))

    async def __aenter__(self) -> AsyncManage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    # ------------------------------------------------------------------ the wire

    async def _send(self, call: Call) -> dict[str, Any]:
        query = call.query()
        try:
            response = await self._http.request(call.method, call.path, params=query, json=call.body)
        except httpx.TransportError as exc:
            raise _wire.no_answer(call, self.base_url, exc) from exc
        return _wire.answer(response, call, self._credentials)

    async def _run(self, op: Op[T]) -> T:
        return await _wire.adrive(op, self._send)

    async def project_id(self, project: str | None = None) -> str:
        """The id of ``project`` (an id or a name), or of the key's only project when None.

        As :meth:`Manage.project_id <dgtools.manage.Manage.project_id>` (nothing is cached).

        Raises
        ------
        ConfigError
            No such project, or None and the key sees several (it names them).
        """
        return await self._run(_wire.project_id(project))

    # ------------------------------------------------------------------ the calls

    async def projects(self) -> pd.DataFrame:
        """The projects the key sees: project_id, name."""
        return await self._run(_wire.projects())

    async def keys(self, project: str | None = None, *, status: str | None = None) -> pd.DataFrame:
        """The project's API keys (never their secrets); as :meth:`Manage.keys <dgtools.manage.Manage.keys>`."""
        return await self._run(_wire.keys(project, status))

    async def create_key(
        self,
        project: str | None = None,
        comment: str = "dgtools",
        scopes: Iterable[str] = ("usage:write",),
        *,
        expires_in: float | timedelta | None = None,
        expiration_date: datetime | None = None,
        tags: Iterable[str] = (),
    ) -> CreatedKey:
        """Create an API key; its secret is in the returned :class:`~dgtools.manage.CreatedKey`, shown this once.

        The arguments are those of :meth:`Manage.create_key <dgtools.manage.Manage.create_key>`.
        """
        return await self._run(_wire.create_key(project, comment, scopes, expires_in=expires_in,
                                                expiration_date=expiration_date, tags=tags))  # fmt: skip

    async def delete_key(self, project: str | None = None, key_id: str = "") -> None:
        """Delete the key ``key_id``: from then on it gets 401."""
        await self._run(_wire.delete_key(project, key_id))

    async def grant_token(self, ttl: float = 30.0) -> TemporaryToken:
        """A temporary JWT (``Authorization: Bearer``) that transcribes and speaks for ``ttl`` seconds.

        Needs an API key with the ``member`` scope or higher; Deepgram's default ttl is 30 s.
        """
        return await self._run(_wire.grant_token(ttl))

    async def requests(
        self,
        project: str | None = None,
        *,
        start: Moment | None = None,
        end: Moment | None = None,
        status: str | None = None,
        request_id: str | None = None,
        endpoint: str | None = None,
    ) -> pd.DataFrame:
        """The project's requests, every page of them, with their billed cost; as
        :meth:`Manage.requests <dgtools.manage.Manage.requests>`."""
        return await self._run(_wire.requests(project, start=start, end=end, status=status,
                                              request_id=request_id, endpoint=endpoint))  # fmt: skip

    async def usage(
        self, project: str | None = None, *, start: Moment | None = None, end: Moment | None = None
    ) -> pd.DataFrame:
        """The project's usage per period: start, end, hours, total_hours, requests, tts_characters."""
        return await self._run(_wire.usage(project, start=start, end=end))

    async def balances(self, project: str | None = None) -> pd.DataFrame:
        """The project's balances: balance_id, amount (``decimal128``), units, purchase_order_id."""
        return await self._run(_wire.balances(project))
