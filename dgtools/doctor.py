"""``dgtools doctor``: check credentials and the endpoint before a big run.

Each check adds one line to a :class:`DoctorReport`: a key is present and well
formed, the endpoint answers, and one second of silence round-trips through
``/v1/listen`` (billed as one second of audio).  A 401 is retried once with
the other scheme, to tell a Token/Bearer mix-up apart from a wrong key.  The
key itself is never printed.
"""

from __future__ import annotations

import asyncio
import io
import wave
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from .exceptions import AuthenticationError, ConfigError, DeepgramAPIError, TransportError

if TYPE_CHECKING:
    from .api import Credentials, DeepgramClient, ListenResult
    from .options import ListenOptions

__all__ = ["DoctorReport", "doctor", "silence_wav"]


@dataclass
class DoctorReport:
    """The outcome of :func:`doctor`: one line per check, and whether all passed."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def good(self, text: str) -> None:
        self.lines.append(f"ok    {text}")

    def bad(self, text: str) -> None:
        self.ok = False
        self.lines.append(f"FAIL  {text}")

    def __str__(self) -> str:
        return "\n".join(self.lines)


def silence_wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A mono 16-bit WAV of silence."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


def doctor(
    *,
    api_key: str | None = None,
    access_token: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    model: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> DoctorReport:
    """Run the checks and return the report (never raises for a failed check).

    Examples
    --------
    >>> print(dgtools.doctor.doctor())   # doctest: +SKIP
    ok    credentials: Token from DEEPGRAM_API_KEY (an API key, 40 hex characters)
    ok    endpoint https://api.deepgram.com answers
    ok    /v1/listen round trip: 1 s of silence transcribed (request_id=...)
    """
    from .api import DeepgramClient, resolve_base_url, resolve_credentials
    from .options import ListenOptions

    report = DoctorReport()
    try:
        creds = resolve_credentials(api_key, access_token)
    except ConfigError as exc:
        report.bad(f"credentials: {exc}")
        return report
    looks = creds.looks_like()
    shape = {
        "api key": "an API key, 40 hex characters",
        "jwt": "a JWT",
        "unknown": "neither an API key nor a JWT",
    }
    line = f"credentials: {creds.scheme} from {creds.source} ({shape[looks]})"
    if (creds.scheme == "Token" and looks == "jwt") or (creds.scheme == "Bearer" and looks == "api key"):
        report.bad(
            line
            + "; it will be sent with the wrong scheme: a JWT goes in DEEPGRAM_TOKEN, a key in DEEPGRAM_API_KEY"
        )
    elif looks == "unknown" and creds.scheme != "Basic":
        report.good(line + "; unusual shape, but self-hosted and proxied endpoints may use other keys")
    else:
        report.good(line)
    try:
        url = resolve_base_url(base_url, region)
    except ConfigError as exc:
        report.bad(f"endpoint: {exc}")
        return report

    async def run() -> None:
        async with httpx.AsyncClient(transport=transport, timeout=10) as http:
            try:
                await http.get(url)
                report.good(f"endpoint {url} answers")
            except httpx.HTTPError as exc:
                report.bad(
                    f"endpoint {url} does not answer ({type(exc).__name__}); check the network and --base-url"
                )
                return
        opts = ListenOptions.from_kwargs(model=model)
        for attempt_creds in _schemes(creds):
            client = DeepgramClient(
                credentials=attempt_creds, base_url=url, transport=transport, max_connections=1
            )
            try:
                res = await _post_silence(client, opts)
            except AuthenticationError as exc:
                if exc.status_code == 401:
                    continue  # try the other scheme, to tell a mix-up apart
                report.bad(f"/v1/listen: {exc}")
                return
            except (DeepgramAPIError, TransportError) as exc:
                report.bad(f"/v1/listen: {exc}")
                return
            finally:
                await client.aclose()
            if attempt_creds is creds:
                report.good(
                    f"/v1/listen round trip: 1 s of silence transcribed (request_id={res.request_id})"
                )
            else:
                report.bad(
                    f"/v1/listen: the credential from {creds.source} is rejected as {creds.scheme} but accepted as "
                    f"{attempt_creds.scheme}: move it to {'DEEPGRAM_TOKEN' if attempt_creds.scheme == 'Bearer' else 'DEEPGRAM_API_KEY'}"
                )
            return
        report.bad(
            f"/v1/listen: 401, the credential from {creds.source} is rejected as Token and as Bearer: "
            "it is wrong, expired or revoked; create a new key in the Deepgram console"
        )

    asyncio.run(run())
    return report


def _schemes(creds: Credentials) -> list[Credentials]:
    from .api import Credentials

    if creds.scheme == "Basic":
        return [creds]
    other = "Bearer" if creds.scheme == "Token" else "Token"
    return [creds, Credentials(other, creds._secret, creds.source)]


async def _post_silence(client: DeepgramClient, opts: ListenOptions) -> ListenResult:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="dgtools-doctor-") as tmp:
        p = Path(tmp) / "silence.wav"
        p.write_bytes(silence_wav())
        return await client.transcribe_file(p, opts, content_type="audio/wav", source="1 s of silence")
