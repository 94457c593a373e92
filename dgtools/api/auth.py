"""Credentials and endpoints: how a request to Deepgram authenticates, and where it goes.

An API key goes as ``Authorization: Token KEY`` (``api_key=`` or ``DEEPGRAM_API_KEY``); a temporary
JWT as ``Bearer`` (``access_token=`` or ``DEEPGRAM_TOKEN``); username/password as ``Basic`` for the
old v2 API (``https://brain.deepgram.com/v2``; ``username=``/``password=`` or ``DEEPGRAM_USERNAME``/
``DEEPGRAM_PASSWORD``).  Endpoints: ``base_url=`` (self-hosted, dedicated, ``dgtools serve``) or
``region="eu"|"au"|"in"``; :func:`split_api_version` tells a v2 base URL from a v1 one.

The secret is held in one private slot of :class:`Credentials`, whose ``repr`` is masked and which
refuses to be pickled; it never appears in messages, reprs, logs or files.  A key shorter than 16
characters (``DEEPGRAM_API_KEY=x``) gets one :class:`~dgtools.DGToolsWarning`: Deepgram's keys are
40 hex characters, and so short a string cannot be looked for in answers and files.

Plain ``http://`` is refused for any host but this machine (127.0.0.0/8, ``::1``, ``localhost``):
the key would cross the network in clear.  ``allow_insecure=True`` allows it on a trusted network.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import warnings
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import ConfigError, DGToolsWarning

__all__ = [
    "API_VERSIONS",
    "DEFAULT_BASE_URL",
    "OLD_BASE_URL",
    "REGIONS",
    "Credentials",
    "resolve_base_url",
    "resolve_credentials",
    "split_api_version",
]

DEFAULT_BASE_URL = "https://api.deepgram.com"
#: The old API's root: ``POST /v2/listen`` with HTTP Basic auth (username and password).
OLD_BASE_URL = "https://brain.deepgram.com"
#: Pre-recorded API versions: ``"v1"`` (``POST /v1/listen``, Token/Bearer) and ``"v2"`` (the old
#: ``POST /v2/listen`` of brain.deepgram.com, Basic).
API_VERSIONS = ("v1", "v2")
#: Deepgram's regional endpoints (https://developers.deepgram.com/reference/custom-endpoints).
REGIONS = {
    "eu": "https://api.eu.deepgram.com",
    "au": "https://api.au.deepgram.com",
    "in": "https://api.in.deepgram.com",
}
_KEY_RE = re.compile(r"^[0-9a-f]{40}$")
_JWT_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
#: Secrets shorter than this cannot be told apart from ordinary text: they are not looked for in
#: answers, messages or files (and a key this short gets a warning that it looks wrong).
MIN_SECRET_CHARS = 16


class Credentials:
    """How requests authenticate; ``repr`` and ``str`` never show the secret.

    Use :func:`resolve_credentials` to build one from arguments and the
    environment.
    """

    __slots__ = ("_secret", "scheme", "source")

    def __init__(self, scheme: str, secret: str, source: str) -> None:
        if scheme not in ("Token", "Bearer", "Basic"):
            raise ConfigError(f"unknown auth scheme {scheme!r}; use Token, Bearer or Basic")
        self.scheme = scheme
        self.source = source  # where it came from, e.g. "DEEPGRAM_API_KEY" or "api_key="
        self._secret = secret

    def header(self) -> str:
        """The ``Authorization`` header value."""
        return f"{self.scheme} {self._secret}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never be written anywhere (for the store's guard).

        Only those of at least 16 characters: a shorter one (``DEEPGRAM_API_KEY=x``) would be
        "found" in every answer.
        """
        out = [self._secret]
        if self.scheme == "Basic":
            out += base64.b64decode(self._secret).decode(errors="replace").split(":", 1)
        return tuple(s for s in out if len(s) >= MIN_SECRET_CHARS)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def looks_like(self) -> str:
        """What the secret looks like: ``"api key"``, ``"jwt"`` or ``"unknown"`` (for hints)."""
        if _KEY_RE.match(self._secret):
            return "api key"
        if _JWT_RE.match(self._secret):
            return "jwt"
        return "unknown"

    def __repr__(self) -> str:
        return f"<Credentials {self.scheme} from {self.source}: ***>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Credentials cannot be pickled (they hold a secret)")


def resolve_credentials(
    api_key: str | None = None,
    access_token: str | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    basic: bool = False,
    env: dict[str, str] | None = None,
) -> Credentials:
    """Pick the credentials to send, from arguments first, then the environment.

    Precedence: ``access_token=`` / ``api_key=`` / ``username=`` +
    ``password=`` (at most one of them), then ``DEEPGRAM_TOKEN`` (a temporary
    JWT, sent as Bearer), then ``DEEPGRAM_API_KEY`` (sent as Token).  With
    ``basic=True`` (the old v2 API), the environment's are ``DEEPGRAM_USERNAME``
    and ``DEEPGRAM_PASSWORD`` instead, sent as Basic.

    Raises
    ------
    ConfigError
        No credentials at all, or more than one kind passed as arguments.

    Examples
    --------
    >>> resolve_credentials(api_key="0123456789abcdef0123456789abcdef01234567")
    <Credentials Token from api_key=: ***>
    >>> resolve_credentials(username="ada", password="correct horse battery staple")
    <Credentials Basic from username=/password=: ***>
    """
    given = [
        n
        for n, v in (("api_key", api_key), ("access_token", access_token), ("username", username or password))
        if v
    ]
    if len(given) > 1:
        del api_key, access_token, username, password  # out of this frame's locals before raising
        raise ConfigError(f"pass only one of {', '.join(g + '=' for g in given)}")
    if api_key:
        return _checked(Credentials("Token", api_key.strip(), "api_key="))
    if access_token:
        return _checked(Credentials("Bearer", access_token.strip(), "access_token="))
    if username or password:
        return _basic(username, password, "username=/password=")
    if basic:  # the old v2 API: its own pair of variables, never a v1 key
        if _environ("DEEPGRAM_USERNAME", env) or _environ("DEEPGRAM_PASSWORD", env):
            return _basic(
                _environ("DEEPGRAM_USERNAME", env),
                _environ("DEEPGRAM_PASSWORD", env),
                "DEEPGRAM_USERNAME/DEEPGRAM_PASSWORD",
            )
        raise ConfigError(
            "the old v2 API (brain.deepgram.com) authenticates with a username and password (HTTP Basic): "
            "pass username= and password=, or set DEEPGRAM_USERNAME and DEEPGRAM_PASSWORD"
        )
    # The environment is looked up, never copied into a local (tracebacks with locals show those).
    if _environ("DEEPGRAM_TOKEN", env):
        return _checked(Credentials("Bearer", _environ("DEEPGRAM_TOKEN", env).strip(), "DEEPGRAM_TOKEN"))
    if _environ("DEEPGRAM_API_KEY", env):
        return _checked(Credentials("Token", _environ("DEEPGRAM_API_KEY", env).strip(), "DEEPGRAM_API_KEY"))
    raise ConfigError(
        "no Deepgram credentials: set DEEPGRAM_API_KEY (an API key, sent as 'Token') or DEEPGRAM_TOKEN "
        "(a temporary JWT, sent as 'Bearer'), or pass api_key= / access_token=; "
        "without a key, use engine='local' to transcribe offline"
    )


def _basic(username: str | None, password: str | None, source: str) -> Credentials:
    """Basic credentials of a username and password (the old v2 API)."""
    if not (username and password):
        del username, password
        raise ConfigError(
            f"Basic auth (the old v2 API) needs both a username and a password ({source}); one is missing"
        )
    if ":" in username:
        del username, password
        raise ConfigError(
            f"the username from {source} contains ':', which HTTP Basic auth cannot carry; check it"
        )
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    del password
    return Credentials("Basic", token, source)


def _environ(name: str, env: dict[str, str] | None) -> str:
    """``name`` from ``env`` (default: the process environment), ``""`` when unset."""
    return (os.environ if env is None else env).get(name) or ""


def _checked(creds: Credentials) -> Credentials:
    """Warn (once, here) when a key or token is too short to be a real one."""
    n = len(creds._secret)
    if n < MIN_SECRET_CHARS:
        kind = "API key" if creds.scheme == "Token" else "token"
        warnings.warn(
            f"the Deepgram {kind} from {creds.source} looks wrong: it has {n} character{'s' if n != 1 else ''}, "
            "where Deepgram API keys are 40 hex characters (check the value; Deepgram will likely answer 401)",
            DGToolsWarning,
            stacklevel=3,
        )
    return creds


def resolve_base_url(
    base_url: str | None = None,
    region: str | None = None,
    *,
    env: dict[str, str] | None = None,
    allow_insecure: bool = False,
) -> str:
    """The API root: ``base_url=``, else ``region=``, else ``DEEPGRAM_BASE_URL``, else Deepgram's global endpoint.

    Parameters
    ----------
    allow_insecure
        Allow ``http://`` to a host other than this machine (the key then crosses the network
        in clear): only on a network you trust.

    Raises
    ------
    ConfigError
        An unknown region, both given, a base URL that is not http(s), or plain http to a host
        that is not this machine (without ``allow_insecure=True``).

    Examples
    --------
    >>> resolve_base_url(region="eu")
    'https://api.eu.deepgram.com'
    >>> resolve_base_url("http://127.0.0.1:8080")    # dgtools serve on this machine
    'http://127.0.0.1:8080'
    >>> resolve_base_url("http://dg.example.com")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: base_url 'http://dg.example.com' is plain http to another machine: ...
    """
    if base_url and region:
        raise ConfigError("pass base_url= or region=, not both")
    if region:
        try:
            return REGIONS[region.lower()]
        except KeyError:
            raise ConfigError(
                f"unknown region {region!r}; Deepgram's regions are {sorted(REGIONS)}"
            ) from None
    url = base_url or _environ("DEEPGRAM_BASE_URL", env) or DEFAULT_BASE_URL
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"base_url {url!r} is not an http(s) URL, e.g. https://api.deepgram.com")
    if parts.scheme == "http" and not allow_insecure and not is_loopback(parts.hostname):
        raise ConfigError(
            f"base_url {url!r} is plain http to another machine: the API key would cross the network "
            "unencrypted. Use https://, or pass allow_insecure=True if the network is private and trusted"
        )
    return url.rstrip("/").removesuffix("/v1/listen").removesuffix("/v1")


def split_api_version(base_url: str | None, api_version: str | None = None) -> tuple[str | None, str]:
    """``(base_url, api_version)``: a base URL ending in ``/v2`` or ``/v2/listen`` means the old v2 API.

    The version's path comes off the URL (the client adds ``/v2/listen``); ``api_version=None``
    takes the URL's, else ``"v1"``.

    Raises
    ------
    ConfigError
        An unknown version, or a URL that names the other version.

    Examples
    --------
    >>> split_api_version("https://brain.deepgram.com/v2")
    ('https://brain.deepgram.com', 'v2')
    >>> split_api_version(None, "v2")
    ('https://brain.deepgram.com', 'v2')
    >>> split_api_version("http://127.0.0.1:8765", "v2")
    ('http://127.0.0.1:8765', 'v2')
    >>> split_api_version(None)
    (None, 'v1')
    """
    if api_version is not None and api_version not in API_VERSIONS:
        raise ConfigError(
            f"api_version={api_version!r}: use 'v1' (api.deepgram.com) or 'v2' (the old brain.deepgram.com API)"
        )
    from_url: str | None = None
    if base_url:
        trimmed = base_url.rstrip("/")
        for version in API_VERSIONS:
            for suffix in (f"/{version}/listen", f"/{version}"):
                if trimmed.endswith(suffix):
                    from_url, base_url = version, trimmed.removesuffix(suffix)
                    break
            if from_url:
                break
    if api_version and from_url and api_version != from_url:
        raise ConfigError(f"base_url ends in /{from_url} but api_version={api_version!r}: drop one of them")
    version = api_version or from_url or "v1"
    if version == "v2" and not base_url and not _environ("DEEPGRAM_BASE_URL", None):
        base_url = OLD_BASE_URL
    return base_url, version


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine: ``localhost``, 127.0.0.0/8 or ``::1``.

    Examples
    --------
    >>> is_loopback("127.0.0.2"), is_loopback("::1"), is_loopback("localhost"), is_loopback("10.0.0.1")
    (True, True, True, False)
    """
    if not host:
        return False
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
