"""Run the local server: :class:`LocalServer` (background thread) and :func:`run` (foreground).

Both serve with uvicorn's HTTP/1.1 protocol plus a header-read timeout
(:mod:`dgtools.server.protocol`) and uvicorn's keep-alive idle timeout.
:func:`run` refuses to listen on an address other than loopback without
credentials.  Both need the ``serve`` extra (starlette and uvicorn:
``pip install 'dgtools[serve]'``); without it they raise
:class:`~dgtools.MissingDependencyError` saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections.abc import AsyncIterator, Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._extras import require
from ..engines.base import Engine, make_engine
from ..exceptions import ConfigError
from .app import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES, TRUSTED_SCOPE_KEY
from .faults import Faults
from .protocol import DEFAULT_HEADER_TIMEOUT, DEFAULT_KEEP_ALIVE_TIMEOUT, default_http_impl, http_protocol
from .segments import MAX_SEGMENT_S
from .stream import DEFAULT_STREAM_TIMEOUT

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LocalServer", "private_server", "run"]

#: The header by which :class:`LocalServer` reaches its own ``/_dgtools/`` routes.
_ADMIN_HEADER = b"x-dgtools-local-server"


def _require_serve() -> None:
    """Check that the ``serve`` extra is installed (raises :class:`~dgtools.MissingDependencyError`)."""
    for module in ("starlette", "uvicorn"):
        require(module, extra="serve", feature="dgtools serve")


def _http_impl() -> str:
    """uvicorn's fastest installed HTTP/1.1 implementation (kept for bench/bench_client.py)."""
    return default_http_impl()


def _uvicorn_options(*, http: str | None, header_timeout: float, keep_alive_timeout: float) -> dict[str, Any]:
    """The uvicorn settings both servers share: the protocol with its header timeout, the keep-alive timeout."""
    for name, value in (("header_timeout", header_timeout), ("keep_alive_timeout", keep_alive_timeout)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    try:
        protocol = http_protocol(http, header_timeout=header_timeout)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return {"http": protocol, "timeout_keep_alive": keep_alive_timeout, "lifespan": "off"}


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _TrustLocalServer:
    """ASGI wrapper: marks the LocalServer's own ``/_dgtools/`` requests (by a per-server secret) as trusted."""

    def __init__(self, app: ASGIApp, secret: bytes) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_dgtools/"):
            for key, value in scope["headers"]:
                if key == _ADMIN_HEADER and hmac.compare_digest(value, self.secret):
                    scope = {**scope, TRUSTED_SCOPE_KEY: True}
        await self.app(scope, receive, send)


class LocalServer:
    """Serve the local Deepgram-compatible server on 127.0.0.1 in a background thread.

    uvicorn binds a free port itself (``port=0``; its listening socket is
    TCP with ``TCP_NODELAY`` on accepted connections).  Entering the context
    starts the server and waits until it answers; leaving it shuts the
    server down and joins the thread.  :meth:`stats` and :meth:`reset` reach
    ``/_dgtools/`` with a secret of this server's own, so they work whatever
    credentials the app requires.

    Parameters
    ----------
    app
        An ASGI app (e.g. from :func:`~dgtools.server.create_app`).  When
        omitted, one is built from the other arguments.
    engine
        The engine of the built app (default :class:`~dgtools.server.SyntheticEngine`).
    api_keys, access_tokens, basic_auth, faults, max_body_bytes, body_timeout, stream_timeout, stream_max_segment
        As for :func:`~dgtools.server.create_app` (``basic_auth``: ``(username, password)`` pairs for
        the old API's ``POST /v2/listen``; ``stream_timeout``: seconds a WebSocket
        ``/v1/listen`` or ``/v2/listen`` may go without a frame before it is closed 1011 NET-0001;
        ``stream_max_segment``: with an offline engine, the longest piece of a stream
        transcribed at once).
    header_timeout
        Seconds a client has to send a request's headers, from the
        connection's opening (or a later request's first byte); a slower
        connection is closed.
    keep_alive_timeout
        Seconds a kept-alive connection may stay silent between requests
        before the server closes it.
    http
        uvicorn's HTTP/1.1 implementation, ``"httptools"`` or ``"h11"``
        (default: httptools when installed).
    startup_timeout
        Seconds to wait for the server to answer.

    Attributes
    ----------
    url : str
        ``"http://127.0.0.1:PORT"``: the base URL to give a Deepgram client.
    app : starlette.applications.Starlette
        The app being served.

    Raises
    ------
    MissingDependencyError
        starlette or uvicorn is not installed (``pip install 'dgtools[serve]'``).

    Examples
    --------
    >>> import httpx
    >>> from dgtools.server import Faults, LocalServer
    >>> with LocalServer(faults=Faults(rate_429=0.5, seed=1)) as server:
    ...     r = httpx.post(f"{server.url}/v1/listen", content=b"\\0" * 32000,
    ...                    headers={"Authorization": "Token any"}, trust_env=False)
    ...     r.status_code, server.stats()["requests"]
    (200, 1)
    """

    def __init__(
        self,
        app: Any = None,
        *,
        engine: Engine | None = None,
        api_keys: Collection[str] = (),
        access_tokens: Collection[str] = (),
        basic_auth: Collection[tuple[str, str]] = (),
        faults: Faults | None = None,
        max_body_bytes: int | None = None,
        body_timeout: float | None = None,
        stream_timeout: float | None = None,
        stream_max_segment: float | None = None,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT,
        http: str | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        _require_serve()
        if app is None:
            from .app import create_app

            app = create_app(
                engine=engine if engine is not None else make_engine("synthetic"),
                api_keys=api_keys,
                access_tokens=access_tokens,
                basic_auth=basic_auth,
                faults=faults,
                max_body_bytes=DEFAULT_MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes,
                body_timeout=DEFAULT_BODY_TIMEOUT if body_timeout is None else body_timeout,
                **({} if stream_timeout is None else {"stream_timeout": stream_timeout}),
                **({} if stream_max_segment is None else {"stream_max_segment": stream_max_segment}),
            )
        elif (
            engine is not None
            or faults is not None
            or api_keys
            or access_tokens
            or basic_auth
            or max_body_bytes is not None
            or body_timeout is not None
            or stream_timeout is not None
            or stream_max_segment is not None
        ):
            raise ConfigError(
                "pass either app= or engine=/api_keys=/access_tokens=/basic_auth=/faults=/max_body_bytes=/body_timeout=/"
                "stream_timeout=/stream_max_segment=, not both"
            )
        self.app = app
        self._uvicorn = _uvicorn_options(
            http=http, header_timeout=header_timeout, keep_alive_timeout=keep_alive_timeout
        )
        self._secret = secrets.token_urlsafe(32).encode()
        self.startup_timeout = startup_timeout
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT`` (only while running)."""
        if self.port is None:
            raise RuntimeError("the LocalServer is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        where = self.url if self.port is not None else "stopped"
        return f"LocalServer({where})"

    def start(self) -> LocalServer:
        """Start serving and wait until the server answers; returns self."""
        _require_serve()
        import uvicorn

        if self._thread is not None:
            raise RuntimeError("this LocalServer is already running")
        config = uvicorn.Config(
            _TrustLocalServer(self.app, self._secret),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            log_config=None,  # leave the process's logging configuration alone
            access_log=False,
            loop="asyncio",
            timeout_graceful_shutdown=2,
            **self._uvicorn,
        )
        server = uvicorn.Server(config)
        self._server = server

        def serve() -> None:
            try:
                server.run()
            except BaseException as exc:  # SystemExit on a failed startup: report it to start()
                self._error = exc

        self._thread = threading.Thread(target=serve, name="dgtools-local-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread.join(timeout=1)
                self._thread = None
                raise RuntimeError(f"the local server did not start: {self._error!r}")
            time.sleep(0.005)
        self.port = int(server.servers[0].sockets[0].getsockname()[1])
        self.stats()  # it answers
        return self

    def stop(self) -> None:
        """Shut the server down and join its thread (idempotent)."""
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._thread = None
        self._server = None
        self.port = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _call(self, method: str, path: str) -> dict[str, Any]:
        import httpx

        # trust_env=False: never through a proxy; verify=False: plain HTTP, no SSL context to build.
        headers = {_ADMIN_HEADER.decode(): self._secret.decode()}
        with httpx.Client(base_url=self.url, timeout=10, trust_env=False, verify=False) as client:
            response = client.request(method, path, headers=headers)
            response.raise_for_status()
            data: dict[str, Any] = response.json()
            return data

    def stats(self) -> dict[str, Any]:
        """The server's counters (``GET /_dgtools/stats``)."""
        return self._call("GET", "/_dgtools/stats")

    def reset(self) -> dict[str, Any]:
        """Zero the counters and restart the fault sequence (``POST /_dgtools/reset``)."""
        return self._call("POST", "/_dgtools/reset")


@contextlib.asynccontextmanager
async def private_server(engine: Engine | None = None) -> AsyncIterator[tuple[str, str]]:
    """A :class:`LocalServer` on 127.0.0.1 for one run or stream, with a key of its own: ``(URL, key)``.

    What ``engine="local"`` (and ``"whisper"``) and a missing key mean for :func:`dgtools.stream`,
    :func:`dgtools.speak` and :func:`dgtools.speak_stream`: the same protocol, answered here.  The
    key is random and taken by this server only; the server stops when the block ends.
    """
    key = secrets.token_hex(20)
    server = LocalServer(engine=engine, api_keys={key})
    await asyncio.to_thread(server.__enter__)
    try:
        yield server.url, key
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)


def run(
    host: str = "127.0.0.1",
    port: int = 8765,
    engine: str | Engine = "synthetic",
    folder: str | Path | None = None,
    *,
    engine_options: Mapping[str, Any] | None = None,
    api_keys: Collection[str] = (),
    access_tokens: Collection[str] = (),
    basic_auth: Collection[tuple[str, str]] = (),
    seed: int | None = None,
    response_kb: float | None = None,
    log_level: str = "info",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    stream_timeout: float = DEFAULT_STREAM_TIMEOUT,
    stream_max_segment: float = MAX_SEGMENT_S,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT,
    http: str | None = None,
    **faults: Any,
) -> None:
    """Serve the local Deepgram-compatible server in the foreground (Ctrl-C stops it).

    Parameters
    ----------
    host, port
        Where to listen.  An address other than loopback (``127.0.0.1``,
        ``::1``, ``localhost``) needs ``api_keys`` or ``access_tokens``:
        without them anyone who can reach the port could use it.
    engine
        ``"synthetic"``, ``"replay"`` (needs ``folder``), ``"local"``,
        ``"whisper"``, or an engine object.  An engine with a ``warm_up``
        method loads its model before the server listens.
    folder
        The recorded responses for ``engine="replay"``.
    engine_options
        Keyword arguments for the engine named by ``engine``, e.g.
        ``{"model": "tiny.en"}`` for ``"whisper"``.
    api_keys, access_tokens
        Accepted credentials (none: any non-empty credential is accepted).
        ``dgtools serve`` takes the key from ``DEEPGRAM_API_KEY`` when
        ``--api-key`` is not given.
    basic_auth
        ``(username, password)`` pairs accepted by ``POST /v2/listen``, the old API (none: any
        non-empty pair); ``dgtools serve --basic-user``/``--basic-password`` or
        ``DEEPGRAM_USERNAME``/``DEEPGRAM_PASSWORD``.
    seed
        Seeds both the synthetic engine (default 0) and the fault sequence
        (default: a fresh random one).
    response_kb
        For ``engine="synthetic"``: pad responses to about this many KB.
    log_level
        uvicorn's log level.
    max_body_bytes, body_timeout, stream_timeout, stream_max_segment
        As for :func:`~dgtools.server.create_app` (defaults: 2 GB, 30 s, 10 s, 15 s).
    header_timeout, keep_alive_timeout, http
        As for :class:`~dgtools.server.LocalServer`.
    **faults
        :class:`~dgtools.server.Faults` fields, e.g. ``rate_429=0.1, latency=0.2``,
        ``stream_drop_after=2, stream_drops=1``, ``final_delay=0.3``.

    Raises
    ------
    ConfigError
        An unknown engine or fault name, ``engine="replay"`` without
        ``folder``, a timeout that is not positive, or a ``host`` other than
        loopback without credentials.
    MissingDependencyError
        starlette or uvicorn is not installed (``pip install 'dgtools[serve]'``).

    Examples
    --------
    >>> from dgtools.server import run
    >>> run(port=8765, engine="replay", folder="responses/", latency=0.2)   # doctest: +SKIP
    """
    _require_serve()
    import uvicorn

    from .app import create_app

    unknown = sorted(set(faults) - (set(Faults.names()) - {"seed"}))
    if unknown:
        raise ConfigError(f"unknown fault option(s) {', '.join(unknown)}; known: {', '.join(Faults.names())}")
    if not (api_keys or access_tokens or _is_loopback(host)):
        raise ConfigError(
            f"refusing to serve on {host} without an API key (anyone who can reach it could use it): "
            "set DEEPGRAM_API_KEY or pass --api-key (api_keys= in Python), or bind 127.0.0.1"
        )
    options = _uvicorn_options(
        http=http, header_timeout=header_timeout, keep_alive_timeout=keep_alive_timeout
    )
    if isinstance(engine, str):
        if engine == "replay":
            if folder is None:
                raise ConfigError("engine='replay' needs folder= (the recorded responses)")
            built = make_engine("replay", folder=folder)
        elif engine == "synthetic":
            built = make_engine("synthetic", seed=seed or 0, response_kb=response_kb)
        else:
            built = make_engine(
                engine, **({"folder": folder} if folder is not None else {}), **(engine_options or {})
            )
        warm_up = getattr(built, "warm_up", None)
        if callable(warm_up):  # load the model now: a missing one is an error before the server listens
            warm_up()
    else:
        built = engine
    app = create_app(
        engine=built,
        api_keys=api_keys,
        access_tokens=access_tokens,
        basic_auth=basic_auth,
        faults=Faults(seed=seed, **faults),
        max_body_bytes=max_body_bytes,
        body_timeout=body_timeout,
        stream_timeout=stream_timeout,
        stream_max_segment=stream_max_segment,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, **options)
