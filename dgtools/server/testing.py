"""Run the local server: :class:`LocalServer` (background thread) and :func:`run` (foreground).

Both need the ``serve`` extra (starlette and uvicorn: ``pip install 'dgtools[serve]'``);
without it they raise :class:`~dgtools.MissingDependencyError` saying so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import Any

from .._extras import require
from ..engines.base import Engine, make_engine
from ..exceptions import ConfigError
from .faults import Faults

__all__ = ["LocalServer", "run"]


def _require_serve() -> None:
    """Check that the ``serve`` extra is installed (raises :class:`~dgtools.MissingDependencyError`)."""
    for module in ("starlette", "uvicorn"):
        require(module, extra="serve", feature="dgtools serve")


def _http_impl() -> str:
    """uvicorn's fastest installed HTTP/1.1 implementation."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


class LocalServer:
    """Serve the local Deepgram-compatible server on 127.0.0.1 in a background thread.

    uvicorn binds a free port itself (``port=0``; its listening socket is
    TCP with ``TCP_NODELAY`` on accepted connections).  Entering the context
    starts the server and waits until it answers; leaving it shuts the
    server down and joins the thread.

    Parameters
    ----------
    app
        An ASGI app (e.g. from :func:`~dgtools.server.create_app`).  When
        omitted, one is built from the other arguments.
    engine
        The engine of the built app (default :class:`~dgtools.server.SyntheticEngine`).
    api_keys, access_tokens, faults
        As for :func:`~dgtools.server.create_app`.
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
        faults: Faults | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        _require_serve()
        if app is None:
            from .app import create_app

            app = create_app(
                engine=engine if engine is not None else make_engine("synthetic"),
                api_keys=api_keys,
                access_tokens=access_tokens,
                faults=faults,
            )
        elif engine is not None or faults is not None or api_keys or access_tokens:
            raise ConfigError("pass either app= or engine=/api_keys=/access_tokens=/faults=, not both")
        self.app = app
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
            self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            log_config=None,  # leave the process's logging configuration alone
            access_log=False,
            lifespan="off",
            http=_http_impl(),
            loop="asyncio",
            timeout_graceful_shutdown=2,
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
        with httpx.Client(base_url=self.url, timeout=10, trust_env=False, verify=False) as client:
            response = client.request(method, path)
            response.raise_for_status()
            data: dict[str, Any] = response.json()
            return data

    def stats(self) -> dict[str, Any]:
        """The server's counters (``GET /_dgtools/stats``)."""
        return self._call("GET", "/_dgtools/stats")

    def reset(self) -> dict[str, Any]:
        """Zero the counters and restart the fault sequence (``POST /_dgtools/reset``)."""
        return self._call("POST", "/_dgtools/reset")


def run(
    host: str = "127.0.0.1",
    port: int = 8765,
    engine: str | Engine = "synthetic",
    folder: str | Path | None = None,
    *,
    api_keys: Collection[str] = (),
    access_tokens: Collection[str] = (),
    seed: int | None = None,
    response_kb: float | None = None,
    log_level: str = "info",
    **faults: Any,
) -> None:
    """Serve the local Deepgram-compatible server in the foreground (Ctrl-C stops it).

    Parameters
    ----------
    host, port
        Where to listen.
    engine
        ``"synthetic"``, ``"replay"`` (needs ``folder``), ``"local"``, or an
        engine object.
    folder
        The recorded responses for ``engine="replay"``.
    api_keys, access_tokens
        Accepted credentials (none: any non-empty credential is accepted).
    seed
        Seeds both the synthetic engine (default 0) and the fault sequence
        (default: a fresh random one).
    response_kb
        For ``engine="synthetic"``: pad responses to about this many KB.
    log_level
        uvicorn's log level.
    **faults
        :class:`~dgtools.server.Faults` fields, e.g. ``rate_429=0.1, latency=0.2``.

    Raises
    ------
    ConfigError
        An unknown engine or fault name, or ``engine="replay"`` without ``folder``.
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
    if isinstance(engine, str):
        if engine == "replay":
            if folder is None:
                raise ConfigError("engine='replay' needs folder= (the recorded responses)")
            built = make_engine("replay", folder=folder)
        elif engine == "synthetic":
            built = make_engine("synthetic", seed=seed or 0, response_kb=response_kb)
        else:
            built = make_engine(engine, **({"folder": folder} if folder is not None else {}))
    else:
        built = engine
    app = create_app(
        engine=built, api_keys=api_keys, access_tokens=access_tokens, faults=Faults(seed=seed, **faults)
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, http=_http_impl(), lifespan="off")
