"""Credentials a run mints for itself, and what a 401 on an expired temporary token means.

``transcribe(..., temporary_key=True)`` creates an API key with the one scope ``usage:write`` just
before the first request (:meth:`dgtools.manage.Manage.create_key`), sends every request with it,
and deletes it when the run ends: done, failed, stopped (402, full disk) or interrupted (Ctrl-C,
cancellation).  It expires by itself a little after the planned run (:func:`key_lifetime`), so a
key whose deletion fails (the network went away) does not outlive the run by much; dgtools then
warns once, naming the key's id.

``transcribe(..., token_ttl=30)`` sends with temporary tokens (``Authorization: Bearer``) granted
from the API key (:meth:`~dgtools.manage.Manage.grant_token`) and renewed at half their life by a
background task, so a batch longer than a token's life never meets a 401.

A token the caller passed (``access_token=``, ``DEEPGRAM_TOKEN``) cannot be renewed: when Deepgram
answers 401 and the token's JWT ``exp`` has passed, :func:`expired_token` says so, how long the
token lived and how to fix it, and the send loop stops the batch with that message instead of
failing every remaining file.

The secrets live only in :class:`~dgtools.api.Credentials` slots (masked ``repr``, never pickled):
never in the :class:`~dgtools.batch.Run`, a message, a log line or a file.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import math
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..api.auth import Credentials
from ..exceptions import ConfigError, DGToolsError, DGToolsWarning

if TYPE_CHECKING:
    from ..manage import Manage
    from .plan import Job
    from .run import Run
    from .settings import RunSettings

__all__ = [
    "TOKEN_ADVICE",
    "Minted",
    "RenewedToken",
    "check_minting",
    "expired_token",
    "jwt_claims",
    "key_lifetime",
    "mint",
]

logger = logging.getLogger("dgtools.batch")

#: Seconds a temporary key lives beyond the planned sending time (start-up, retries, slow answers).
KEY_SLACK = 900.0
#: Seconds counted for a file whose duration is not known (a URL, an unreadable header).
UNKNOWN_DURATION = 600.0
#: What to do when a temporary token expired partway (the advice of the files not sent).
TOKEN_ADVICE = (
    "use an API key instead: DEEPGRAM_API_KEY (or api_key=), alone or with token_ttl=30 so that dgtools "
    "grants and renews tokens from it; or a token that lives longer. Then rerun: only files not yet stored are sent"
)
#: A 401 counts as "expired" when the token's ``exp`` is at most this many seconds ahead (clock skew).
CLOCK_SKEW = 2.0


def check_minting(
    temporary_key: bool | float, token_ttl: float | None, *, engine: str, client: object = None
) -> None:
    """Refuse ``temporary_key=`` / ``token_ttl=`` where they cannot work, before anything is planned.

    Raises
    ------
    ConfigError
        Both given, a non-positive number, another engine than Deepgram, or a ``client=``.

    Examples
    --------
    >>> check_minting(True, None, engine="deepgram")
    >>> check_minting(True, None, engine="local")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: temporary_key= creates a Deepgram API key: it needs engine='deepgram' (got engine='local')
    """
    asked = [n for n, v in (("temporary_key=", temporary_key), ("token_ttl=", token_ttl)) if v]
    if not asked:
        return
    if len(asked) > 1:
        raise ConfigError(
            "pass temporary_key= or token_ttl=, not both: a temporary key (scope usage:write) cannot grant tokens"
        )
    what = asked[0]
    for name, value in (("temporary_key", temporary_key), ("token_ttl", token_ttl)):
        if value is None or value is False or (value is True and name == "temporary_key"):
            continue
        if not isinstance(value, int | float) or not math.isfinite(value) or not value > 0:
            either = "True or " if name == "temporary_key" else ""
            raise ConfigError(f"{name}= must be {either}a positive number of seconds, got {value!r}")
    if engine != "deepgram":
        kind = "creates a Deepgram API key" if what == "temporary_key=" else "grants Deepgram tokens"
        raise ConfigError(f"{what} {kind}: it needs engine='deepgram' (got engine={engine!r})")
    if client is not None:
        raise ConfigError(
            f"{what} cannot be used with client=: the client's credentials are used as they are"
        )


def key_lifetime(jobs: Sequence[Job], cap: int) -> float:
    """Seconds a temporary key lives: the audio to send spread over ``cap`` requests, plus :data:`KEY_SLACK`.

    Deepgram transcribes far faster than real time, so this is well beyond the planned run; a file
    of unknown duration counts :data:`UNKNOWN_DURATION` seconds.
    """
    audio = sum(j.duration if j.duration is not None else UNKNOWN_DURATION for j in jobs)
    return float(math.ceil(KEY_SLACK + audio / max(cap, 1)))


class RenewedToken(Credentials):
    """Bearer credentials whose token is replaced before it expires (by :class:`Minted`)."""

    __slots__ = ("expires_at", "issued", "ttl")

    def __init__(self, secret: str, ttl: float) -> None:
        super().__init__("Bearer", secret, f"a token granted by dgtools (token_ttl={ttl:g})")
        self.ttl = ttl
        self.issued = time.monotonic()
        self.expires_at = self.issued + ttl

    def _renew(self, secret: str, ttl: float) -> None:
        self._secret = secret
        self.issued = time.monotonic()
        self.expires_at = self.issued + ttl


class Minted:
    """What a run minted (a temporary key, or renewed tokens), until :meth:`aclose`.

    Use :func:`mint`; ``credentials`` is what the run sends with.
    """

    def __init__(
        self, manage: Manage, credentials: Credentials, *, key_id: str = "", ttl: float = 0.0
    ) -> None:
        self.manage = manage
        self.credentials = credentials
        self.key_id = key_id
        self.ttl = ttl
        self.renewals = 0
        self.renew_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        if isinstance(credentials, RenewedToken):
            self._task = asyncio.ensure_future(self._renew_forever(credentials))

    def __repr__(self) -> str:
        what = f"temporary key {self.key_id}" if self.key_id else f"tokens renewed every {self.ttl / 2:g} s"
        return f"<Minted {what}: ***>"

    async def _renew_forever(self, creds: RenewedToken) -> None:
        """Grant a new token at half the life of the current one; retry a failed grant every second."""
        while True:
            await asyncio.sleep(max(0.0, creds.issued + self.ttl / 2 - time.monotonic()))
            try:
                token = await asyncio.to_thread(self.manage.grant_token, self.ttl)
            except DGToolsError as exc:
                self.renew_error = str(exc)
                logger.warning("could not renew the temporary token (retrying): %s", exc)
                await asyncio.sleep(min(1.0, self.ttl / 4))
                continue
            creds._renew(token.access_token, token.expires_in)
            self.renewals += 1
            self.renew_error = None
            del token

    async def aclose(self, run: Run | None = None) -> None:
        """Stop renewing; delete the temporary key (a failure warns once: the key expires by itself)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            if self.key_id:
                # Synchronous on purpose: it runs also while a cancelled run unwinds (Ctrl-C).
                self.manage.delete_key(key_id=self.key_id)
                logger.info("deleted the temporary key %s", self.key_id)
        except DGToolsError as exc:
            message = (
                f"could not delete the temporary API key {self.key_id} ({type(exc).__name__}: {exc}); it expires "
                f"by itself within {self.ttl:g} s of the run's start, or delete it now: dgtools keys delete {self.key_id}"
            )
            warnings.warn(message, DGToolsWarning, stacklevel=2)
            if run is not None:
                run.warnings.append(message)
        finally:
            self.manage.close()


async def mint(
    settings: RunSettings,
    creds: Credentials | None,
    jobs: Sequence[Job],
    *,
    temporary_key: bool | float = False,
    token_ttl: float | None = None,
) -> Minted | None:
    """Create the temporary key or grant the first token, as asked; None when neither was.

    ``creds`` is the API key they are minted from (Deepgram's Manage API refuses temporary tokens).

    Raises
    ------
    ConfigError
        ``creds`` is not an API key.
    DeepgramAPIError, TransportError
        Deepgram refused (e.g. 403: the key may not create keys, or grant tokens) or did not answer.
    """
    if not temporary_key and not token_ttl:
        return None
    what = "temporary_key=" if temporary_key else "token_ttl="
    if creds is None or creds.scheme != "Token":
        got = "no credentials" if creds is None else f"{creds.scheme} credentials from {creds.source}"
        raise ConfigError(
            f"{what} needs an API key to mint from, DEEPGRAM_API_KEY (or api_key=); got {got}: "
            "Deepgram's Manage API refuses temporary tokens"
        )
    from ..manage import Manage

    manage = Manage(
        credentials=creds,
        base_url=settings.base_url,
        region=settings.region,
        allow_insecure=settings.allow_insecure,
    )
    try:
        if temporary_key:
            ttl = key_lifetime(jobs, settings.cap) if temporary_key is True else float(temporary_key)
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            key = await asyncio.to_thread(
                manage.create_key,
                comment=f"dgtools temporary key for one run ({stamp}; deleted at its end)",
                scopes=("usage:write",),
                expires_in=ttl,
            )
            minted = Minted(manage, key.credentials(), key_id=key.api_key_id, ttl=ttl)
            del key
            logger.info("created the temporary key %s (expires in %g s)", minted.key_id, ttl)
            return minted
        assert token_ttl is not None
        token = await asyncio.to_thread(manage.grant_token, float(token_ttl))
        renewing = RenewedToken(token.access_token, token.expires_in)
        del token
        return Minted(manage, renewing, ttl=renewing.ttl)
    except BaseException:
        manage.close()
        raise


def jwt_claims(creds: Credentials | None) -> dict[str, object] | None:
    """The payload of a JWT-looking Bearer token (unverified), or None."""
    if creds is None or creds.scheme != "Bearer" or creds.looks_like() != "jwt":
        return None
    payload = creds._secret.split(".")[1]
    try:
        doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    return doc if isinstance(doc, dict) else None


def expired_token(creds: Credentials | None, *, now: float | None = None) -> str | None:
    """Why a 401 happened, when it is a temporary token that expired: what, how long it lived, the fix.

    None when ``creds`` is not a JWT-looking Bearer token, or its ``exp`` has not passed.

    Examples
    --------
    >>> import base64, json
    >>> body = base64.urlsafe_b64encode(json.dumps({"iat": 1000, "exp": 1030}).encode()).decode().rstrip("=")
    >>> token = Credentials("Bearer", f"eyJhbGciOiJIUzI1NiJ9.{body}.c2lnbmF0dXJlAAAAAAAA", "access_token=")
    >>> print(expired_token(token, now=1100))  # doctest: +ELLIPSIS
    the temporary token from access_token= expired at 1970-01-01T00:17:10Z: it lived 30 s ...
    >>> expired_token(token, now=1010) is None
    True
    """
    claims = jwt_claims(creds)
    exp = None if claims is None else claims.get("exp")
    if creds is None or isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    now = time.time() if now is None else now
    if exp > now + CLOCK_SKEW:
        return None
    iat = claims.get("iat") if claims is not None else None
    lived = (
        f"it lived {exp - iat:g} s"
        if isinstance(iat, int | float) and not isinstance(iat, bool)
        else "how long it lived is not in the token"
    )
    when = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(creds, RenewedToken):
        return (
            f"the temporary token dgtools granted expired at {when} ({lived}) before dgtools could renew it; "
            "check the network and that the API key may still grant tokens (scope member), then rerun"
        )
    return (
        f"the temporary token from {creds.source} expired at {when}: {lived} "
        "(Deepgram's tokens live 30 s unless granted with a longer ttl), so every further file would get 401 too. "
        "Use an API key instead: DEEPGRAM_API_KEY (or api_key=), alone or with token_ttl=30 so that dgtools "
        "grants and renews tokens from it; then rerun: only files not yet stored are sent"
    )
