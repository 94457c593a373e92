"""Credentials and endpoints: how a request to Deepgram authenticates, and where it goes.

An API key goes as ``Authorization: Token KEY`` (``api_key=`` or ``DEEPGRAM_API_KEY``); a temporary
JWT as ``Bearer`` (``access_token=`` or ``DEEPGRAM_TOKEN``); username/password as ``Basic`` for the
old v2 API.  Endpoints: ``base_url=`` (self-hosted, dedicated, ``dgtools serve``) or
``region="eu"|"au"|"in"``.

The secret is held in one private slot of :class:`Credentials`, whose ``repr`` is masked and which
refuses to be pickled; it never appears in messages, reprs, logs or files.
"""

from __future__ import annotations

import base64
import os
import re
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import ConfigError

__all__ = ["DEFAULT_BASE_URL", "REGIONS", "Credentials", "resolve_base_url", "resolve_credentials"]

DEFAULT_BASE_URL = "https://api.deepgram.com"
#: Deepgram's regional endpoints (https://developers.deepgram.com/reference/custom-endpoints).
REGIONS = {
    "eu": "https://api.eu.deepgram.com",
    "au": "https://api.au.deepgram.com",
    "in": "https://api.in.deepgram.com",
}
_KEY_RE = re.compile(r"^[0-9a-f]{40}$")
_JWT_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


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
        """Strings that must never be written anywhere (for the store's guard)."""
        out = [self._secret]
        if self.scheme == "Basic":
            out += base64.b64decode(self._secret).decode(errors="replace").split(":", 1)
        return tuple(s for s in out if s)

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
    env: dict[str, str] | None = None,
) -> Credentials:
    """Pick the credentials to send, from arguments first, then the environment.

    Precedence: ``access_token=`` / ``api_key=`` / ``username=`` +
    ``password=`` (at most one of them), then ``DEEPGRAM_TOKEN`` (a temporary
    JWT, sent as Bearer), then ``DEEPGRAM_API_KEY`` (sent as Token).

    Raises
    ------
    ConfigError
        No credentials at all, or more than one kind passed as arguments.

    Examples
    --------
    >>> resolve_credentials(api_key="0123456789abcdef0123456789abcdef01234567")
    <Credentials Token from api_key=: ***>
    """
    env = dict(os.environ) if env is None else env
    given = [
        n for n, v in (("api_key", api_key), ("access_token", access_token), ("username", username)) if v
    ]
    if len(given) > 1:
        raise ConfigError(f"pass only one of {', '.join(g + '=' for g in given)}")
    if api_key:
        return Credentials("Token", api_key.strip(), "api_key=")
    if access_token:
        return Credentials("Bearer", access_token.strip(), "access_token=")
    if username or password:
        if not (username and password):
            raise ConfigError("Basic auth (the old v2 API) needs both username= and password=")
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        return Credentials("Basic", token, "username=/password=")
    if env.get("DEEPGRAM_TOKEN"):
        return Credentials("Bearer", env["DEEPGRAM_TOKEN"].strip(), "DEEPGRAM_TOKEN")
    if env.get("DEEPGRAM_API_KEY"):
        return Credentials("Token", env["DEEPGRAM_API_KEY"].strip(), "DEEPGRAM_API_KEY")
    raise ConfigError(
        "no Deepgram credentials: set DEEPGRAM_API_KEY (an API key, sent as 'Token') or DEEPGRAM_TOKEN "
        "(a temporary JWT, sent as 'Bearer'), or pass api_key= / access_token=; "
        "without a key, use engine='local' to transcribe offline"
    )


def resolve_base_url(
    base_url: str | None = None, region: str | None = None, *, env: dict[str, str] | None = None
) -> str:
    """The API root: ``base_url=``, else ``region=``, else ``DEEPGRAM_BASE_URL``, else Deepgram's global endpoint.

    Raises
    ------
    ConfigError
        An unknown region, both given, or a base URL that is not http(s).

    Examples
    --------
    >>> resolve_base_url(region="eu")
    'https://api.eu.deepgram.com'
    """
    env = dict(os.environ) if env is None else env
    if base_url and region:
        raise ConfigError("pass base_url= or region=, not both")
    if region:
        try:
            return REGIONS[region.lower()]
        except KeyError:
            raise ConfigError(
                f"unknown region {region!r}; Deepgram's regions are {sorted(REGIONS)}"
            ) from None
    url = base_url or env.get("DEEPGRAM_BASE_URL") or DEFAULT_BASE_URL
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"base_url {url!r} is not an http(s) URL, e.g. https://api.deepgram.com")
    return url.rstrip("/").removesuffix("/v1/listen").removesuffix("/v1")
