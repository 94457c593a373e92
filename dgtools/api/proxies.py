"""HTTP proxies: which requests go through one, read from the environment as httpx reads it.

httpx drops the proxies of the environment as soon as a client is given its own ``transport=``,
which :class:`~dgtools.api.client.DeepgramClient` does (its :class:`~dgtools.api.transport.PooledTransport`).
So the client builds the same routing itself and hands it to httpx as ``mounts=``: an origin that
goes through a proxy is sent by httpx's own proxy transport (``httpx.AsyncHTTPTransport(proxy=...)``:
absolute-form requests for ``http://``, a ``CONNECT`` tunnel for ``https://``), every other origin
by the pool.  Without a proxy nothing is mounted and the pool carries everything, as before.

The environment is read as httpx reads it (``urllib.request.getproxies``, so also the system
settings on macOS and Windows): ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``ALL_PROXY`` (upper or lower
case) name the proxy per scheme; ``NO_PROXY`` lists hosts reached directly (``*`` for all; an
entry ``example.com`` also covers its subdomains, ``.example.com`` only them; IP addresses and
``localhost`` exactly).
"""

from __future__ import annotations

import ssl
from typing import Literal
from urllib.parse import urlsplit
from urllib.request import getproxies

import httpx

from ..exceptions import ConfigError, MissingDependencyError

__all__ = ["ProxySetting", "environment_proxies", "proxy_mounts"]

#: ``proxy=`` of :class:`~dgtools.api.client.DeepgramClient`: None reads the environment, ``""`` or
#: False uses no proxy, a URL (or an ``httpx.Proxy``) sends every request through that proxy.
ProxySetting = str | httpx.Proxy | Literal[False] | None


def environment_proxies() -> dict[str, str | None]:
    """The proxies of the environment as httpx mount patterns: ``{pattern: proxy URL, or None for none}``.

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> env = {"HTTPS_PROXY": "proxy.corp:3128", "NO_PROXY": "localhost,10.0.0.7,.internal"}
    >>> with mock.patch.dict(os.environ, env, clear=True):
    ...     environment_proxies()
    {'https://': 'http://proxy.corp:3128', 'all://localhost': None, 'all://10.0.0.7': None, 'all://*.internal': None}
    """
    info = getproxies()
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        url = info.get(scheme)
        if url:
            mounts[f"{scheme}://"] = url if "://" in url else f"http://{url}"
    for host in (h.strip() for h in info.get("no", "").split(",")):
        if host == "*":
            return {}
        if not host:
            continue
        if "://" in host:
            mounts[host] = None
        elif _is_ip(host, 4) or host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        elif _is_ip(host, 6):
            mounts[f"all://[{host}]"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


def proxy_mounts(
    proxy: ProxySetting, *, ssl_context: ssl.SSLContext | None, max_connections: int
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """``mounts=`` for an ``httpx.AsyncClient`` whose own transport carries what goes through no proxy.

    Empty when no proxy applies (the common case: then nothing changes a request's path).
    ``ssl_context`` verifies the servers behind the proxies (None: build one as httpx does, when
    a proxy needs it).

    Raises
    ------
    ConfigError
        A proxy URL httpx cannot use (the message names it without its password).
    MissingDependencyError
        A ``socks5://`` proxy without the socksio package.
    """
    if proxy is None:
        routes: dict[str, str | httpx.Proxy | None] = dict(environment_proxies())
    elif proxy is False or proxy == "":
        return {}
    else:
        routes = {"all://": proxy}
    if all(url is None for url in routes.values()):
        return {}
    verify = ssl_context or httpx.create_ssl_context()
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections, keepalive_expiry=30
    )
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for pattern, url in routes.items():
        if url is None:
            mounts[pattern] = None  # reached directly, by the client's own transport
            continue
        try:
            mounts[pattern] = httpx.AsyncHTTPTransport(
                proxy=url, verify=verify, limits=limits, trust_env=False
            )
        except ImportError as exc:
            raise MissingDependencyError(f"the proxy {_shown(url)}", package="socksio", extra=None) from exc
        except ValueError as exc:
            raise ConfigError(
                f"cannot use the proxy {_shown(url)} (from {'proxy=' if proxy else 'the environment'}): {exc}; "
                "proxies are http://, https:// or socks5:// URLs"
            ) from None
    return mounts


def _shown(url: str | httpx.Proxy) -> str:
    """The proxy URL without its password."""
    if isinstance(url, httpx.Proxy):
        url = str(url.url)
    parts = urlsplit(url)
    if parts.password:
        url = url.replace(f":{parts.password}@", ":***@", 1)
    return repr(url)


def _is_ip(host: str, version: int) -> bool:
    """Whether ``host`` (or the address of a ``a.b.c.d/n`` range) is an IP address of ``version``."""
    import ipaddress

    try:
        return ipaddress.ip_address(host.split("/")[0]).version == version
    except ValueError:
        return False
