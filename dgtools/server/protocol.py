"""uvicorn's HTTP/1.1 protocol with a header-read timeout: no connection idles or trickles forever.

uvicorn closes a keep-alive connection that stays silent for
``timeout_keep_alive`` seconds after an answer, but it has no limit on how
long a client may take to send a request's headers: a connection that is
opened and never written to, or that sends its headers one byte at a time,
is held open for good (1,500 such connections were held open in a test).
:func:`http_protocol` returns a subclass of uvicorn's protocol class
(httptools or h11) that closes a connection whose request headers are not
complete ``header_timeout`` seconds after the connection opened, or after
the first byte of a later request arrived.  The body is not timed (a large
upload may take long), and nothing costs more than one timer per request.

uvicorn is imported when :func:`http_protocol` is called, not with this module.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

__all__ = ["DEFAULT_HEADER_TIMEOUT", "DEFAULT_KEEP_ALIVE_TIMEOUT", "default_http_impl", "http_protocol"]

#: Seconds a client has to send a request's headers (from the connection's opening, or from the
#: first byte of a later request on a kept-alive connection).
DEFAULT_HEADER_TIMEOUT = 10.0
#: Seconds a kept-alive connection may stay silent between requests (uvicorn's ``timeout_keep_alive``).
DEFAULT_KEEP_ALIVE_TIMEOUT = 5.0


def default_http_impl() -> str:
    """uvicorn's fastest installed HTTP/1.1 implementation: ``"httptools"``, else ``"h11"``.

    Examples
    --------
    >>> default_http_impl() in ("httptools", "h11")
    True
    """
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def http_protocol(impl: str | None = None, *, header_timeout: float = DEFAULT_HEADER_TIMEOUT) -> type[Any]:
    """uvicorn's HTTP/1.1 protocol class, closing connections whose headers are late.

    Parameters
    ----------
    impl
        ``"httptools"`` or ``"h11"`` (default: :func:`default_http_impl`).
    header_timeout
        Seconds allowed for a request's headers, counted from the
        connection's opening or, on a kept-alive connection, from the first
        byte of the request.  A connection over it is closed without an answer.

    Returns
    -------
    type
        An ``asyncio.Protocol`` class for ``uvicorn.Config(http=...)``.

    Raises
    ------
    ValueError
        ``impl`` is neither ``"httptools"`` nor ``"h11"``, or ``header_timeout`` is not positive.

    Examples
    --------
    >>> import uvicorn
    >>> protocol = http_protocol("h11", header_timeout=5)
    >>> protocol.__name__, protocol.header_timeout
    ('H11Protocol', 5.0)
    >>> config = uvicorn.Config(app=None, http=protocol, timeout_keep_alive=5)
    """
    impl = impl or default_http_impl()
    if not header_timeout > 0:
        raise ValueError(f"header_timeout must be a positive number of seconds, got {header_timeout!r}")
    if impl == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base: type[Any] = HttpToolsProtocol
        awaiting = _httptools_awaiting_request
    elif impl == "h11":
        import h11
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
        idle = h11.IDLE

        def awaiting(protocol: Any) -> bool:  # the client has not started (or finished) a request's head
            return protocol.conn.their_state is idle

    else:
        raise ValueError(f"unknown HTTP implementation {impl!r}; choose 'httptools' or 'h11'")
    namespace = {
        "header_timeout": float(header_timeout),
        "_awaiting_request": awaiting,
        "__doc__": f"uvicorn's {base.__name__} with a {header_timeout:g}-second header-read timeout.",
        "__module__": __name__,
    }
    return type(base.__name__, (_HeaderTimeout, base), namespace)


def _httptools_awaiting_request(protocol: Any) -> bool:
    """No request's headers pending an answer: the next bytes start (or continue) a new request's headers."""
    cycle = protocol.cycle
    return cycle is None or bool(cycle.response_complete)


class _HeaderTimeout:
    """Mixin over a uvicorn HTTP protocol: one timer from a request's first byte to its headers' end.

    The timer starts when the connection opens and, on a kept-alive
    connection, with the first bytes received while no request is being
    answered; it stops once the parser has the request's headers (or the
    connection is handed to another protocol, e.g. a WebSocket upgrade).
    """

    header_timeout: float
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    _header_timer: asyncio.TimerHandle | None = None

    def _awaiting_request(self) -> bool:  # pragma: no cover - replaced per implementation
        raise NotImplementedError

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._start_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self._awaiting_request():
            self._start_header_timer()
        super().data_received(data)  # type: ignore[misc]
        if self._header_timer is not None and (
            not self._awaiting_request()
            or self.transport.get_protocol() is not cast(Any, self)  # handed over, e.g. a WebSocket upgrade
        ):
            self._header_timer.cancel()
            self._header_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def _start_header_timer(self) -> None:
        if not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
