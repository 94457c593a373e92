"""Text to speech in batches: :func:`speak` and :func:`aspeak`, the speech twins of ``dgtools.transcribe``.

For every text (a string, a list, a pandas Series) a run:

1. checks the options before anything is sent (:func:`~dgtools.options.speak.speak_query`: an
   unknown voice or a format Deepgram refuses is a :class:`~dgtools.ConfigError`, no request);
2. plans (:mod:`dgtools.speech.plan`): splits each text into chunks of at most 2,000 characters
   at sentence, then clause, then word boundaries (:func:`~dgtools.speech.split.split_text`),
   keys each chunk by its text and the options, and finds what the store already holds;
3. estimates the cost (characters x the voice's price, :data:`dgtools.pricing.TTS_PRICES`) and
   refuses to start above ``budget=`` (:class:`~dgtools.BudgetError`: no request at all);
4. sends the rest with bounded concurrency (:class:`~dgtools.batch.AIMDLimiter`, lowered on 429)
   and retries (408, 429, 5xx, transport errors, ``Retry-After`` honoured; never 400, 401, 402,
   403; a 402 or a rejected key stops dispatching), each answer made durable in the store as it
   arrives (:class:`~dgtools.speech.store.SpeechStore`).  Two runs at once on one store never
   send one chunk twice: a run claims its chunks first (:class:`~dgtools.store.Claims`, under
   ``STORE/speech/``), sends those it got, waits for those another live run holds (and uses its
   audio once stored), and takes over the chunks of a run that died (killed, or no heartbeat for
   two minutes);
5. joins each text's chunks, in order, into one file in ``out`` (:mod:`dgtools.speech.join`:
   gapless for WAV and raw PCM; MP3 frames concatenated).

Nothing raises partway: a text that cannot be spoken, or that the server refuses, is a row of
``run.failures``.  A rerun with the same store sends nothing for what it holds, and pays nothing.
Audio that was paid for but could not be stored (a full disk) is a failure row that says so, with
the path it could not be written to; the run then stops sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from .._aio import sync_twin
from ..api.auth import Credentials, resolve_credentials
from ..api.retry import RetryPolicy
from ..batch.settings import engine_choice, retry_policy
from ..exceptions import BudgetError, ConfigError, NotConfirmedError
from ..options.speak import DEFAULT_MODEL, SpeakFormat, speak_bit_rate, speak_format, speak_query
from ..pricing import estimate_speech_cost, price_per_1k_characters
from ..store import Claims, Owner, Store
from .client import SpeakClient
from .join import duration, join
from .plan import ChunkJob, TextJob, plan, texts_and_ids
from .run import SpeechPlan, SpeechRun
from .send import SendLoop
from .store import SpeechStore, canonical

if TYPE_CHECKING:
    import httpx


__all__ = ["DEFAULT_CONCURRENCY", "ENGINES", "aspeak", "speak", "speech_engine"]

#: Deepgram's concurrency limit for text-to-speech REST requests (Aura and Aura-2, Pay as You Go
#: and Growth: https://developers.deepgram.com/reference/api-rate-limits).
DEFAULT_CONCURRENCY: Final = 15
#: Engines :func:`speak` can send through, besides ``"auto"``.
ENGINES: Final = ("deepgram", "local")

_DOC = """Speak texts with Deepgram's Aura voices (``/v1/speak``), concurrently, resumably.

Works in plain Python and inside a running event loop (a Jupyter cell): there it runs on a
worker thread.  ``await dgtools.aspeak(...)`` is the async twin.

Parameters
----------
texts
    A string, a list of strings, or a pandas Series (or one-column DataFrame) of them.  Each
    text becomes one audio file, ``out/<id><suffix>``.  A text longer than 2,000 characters
    (Deepgram's limit per request) is split at sentence ends (else clauses, else words) into
    chunks spoken concurrently and joined in order: gapless for linear16/mulaw/alaw (WAV or raw);
    for MP3 the frames are concatenated (it plays as one file, and may last a few tens of
    milliseconds longer per chunk: each chunk's encoder padding).  Opus, FLAC and AAC do not join:
    a longer text in them is a failure row, not sent.
ids
    The texts' ids (their file names, and the ``id`` column): default the Series' index, else
    the positions ``"0"``, ``"1"``, ...  They must be unique.
model
    The voice, e.g. ``"aura-2-thalia-en"`` (default ``"aura-asteria-en"``; see
    ``dgtools.options.speak.SPEAK_MODELS``).
out
    The folder of the joined files (created if needed); None: write none (the audio of every
    chunk is in the store all the same).
store
    The folder of the store (shared with ``dgtools.transcribe``'s).  The audio of every chunk is
    kept under ``store/speech/``, keyed by its text and the options: a rerun sends nothing, and
    pays nothing, for what it holds.  Runs at the same time on one store (processes, notebooks)
    never send one chunk twice: each waits for the chunks another live run is sending.
concurrency
    Most requests in flight (default 15, Deepgram's limit for text-to-speech); lowered on 429.
encoding, container, sample_rate, bit_rate, speed
    The audio asked for (default MP3 at 22050 Hz, 48 kbit/s); checked against Deepgram's
    combinations before anything is sent.  ``speed``: 0.7 to 1.5.
api_key, access_token, base_url, region, allow_insecure
    Credentials and endpoint, as for ``dgtools.transcribe``.
engine
    ``"auto"`` (default: Deepgram when a key or token is set or a server is named with
    ``base_url=``, else the local voice), ``"deepgram"``, or ``"local"``: a local server's
    espeak-ng voice, started for the run on 127.0.0.1 (free, robotic, nothing leaves this
    machine; its audio is stored apart from Deepgram's).
progress
    A progress bar: ``None`` (default) where one can be drawn, else a line on stderr every 10
    seconds; a number: a line every that many seconds; ``True``: always a bar; ``False``: nothing.
budget
    A hard cap in dollars: a run whose estimate (characters x the voice's price, see
    ``dgtools.pricing.TTS_PRICES``) is above it sends nothing and raises ``BudgetError``.
confirm
    Called with the :class:`~dgtools.speech.SpeechPlan` (texts, requests, characters, cost)
    before anything is sent; returning False raises ``NotConfirmedError`` and nothing is sent.
max_retries, retry
    Retries per request for 408, 429, 5xx and transport errors (default 6), as for
    ``dgtools.transcribe``.
timeout
    Seconds one request may take in all (default 60).
proxy
    An http(s) proxy URL; default: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``; ``False``: none.
transport
    An ``httpx.AsyncBaseTransport`` (tests: ``httpx.MockTransport``).

Returns
-------
SpeechRun
    ``run.tables.speech`` (one row per text and per chunk: id, chunk, status, characters,
    model, request_id, path, duration, bytes, ttfb, cost), ``run.failures``, ``run.paths``,
    ``run.summary()``.

Examples
--------
>>> run = dgtools.speak(["Hello there.", "Goodbye."], model="aura-2-thalia-en", out="speech")  # doctest: +SKIP
>>> run.tables.speech[["id", "chunk", "duration", "cost"]]                                       # doctest: +SKIP
>>> run.paths["0"]                                                                               # doctest: +SKIP
PosixPath('speech/0.mp3')
"""


def speech_engine(
    engine: str, *, api_key: str | None = None, access_token: str | None = None, base_url: str | None = None
) -> tuple[str, str]:
    """``(engine, why)``: ``"deepgram"`` or ``"local"`` (the local server's espeak-ng voice), and the reason.

    ``"auto"`` chooses as ``dgtools.transcribe`` does (:func:`~dgtools.batch.engine_choice`):
    Deepgram when a server is named or a credential is set, else the offline voice.

    Raises
    ------
    ConfigError
        An engine other than ``"auto"``, ``"deepgram"`` or ``"local"``.

    Examples
    --------
    >>> speech_engine("auto", api_key="0123456789abcdef0123456789abcdef01234567")
    ('deepgram', 'engine auto: Deepgram, because a key was given (api_key=)')
    >>> speech_engine("whisper")
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: engine='whisper' does not speak: use 'deepgram' (Aura voices), 'local' (espeak-ng on this machine, free) or 'auto'
    """
    if engine not in (*ENGINES, "auto"):
        raise ConfigError(
            f"engine={engine!r} does not speak: use 'deepgram' (Aura voices), 'local' (espeak-ng on this "
            "machine, free) or 'auto'"
        )
    if engine != "auto":
        return engine, f"engine {engine}: as asked"
    named = ("DEEPGRAM_BASE_URL", "DEEPGRAM_TOKEN", "DEEPGRAM_API_KEY")
    if base_url or api_key or access_token or any(os.environ.get(n) for n in named):
        return engine_choice("auto", api_key=api_key, access_token=access_token, base_url=base_url)
    return "local", (
        "engine auto: the local voice (espeak-ng on this machine: free, robotic, nothing leaves this "
        "machine), because neither DEEPGRAM_API_KEY nor DEEPGRAM_TOKEN is set"
    )


async def aspeak(
    texts: Any,
    *,
    ids: Sequence[Any] | None = None,
    model: str = DEFAULT_MODEL,
    out: str | os.PathLike[str] | None = "dgtools-speech",
    store: str | os.PathLike[str] = "dgtools-store",
    concurrency: int | None = None,
    encoding: str | None = None,
    container: str | None = None,
    sample_rate: int | None = None,
    bit_rate: int | None = None,
    speed: float | None = None,
    api_key: str | None = None,
    access_token: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    engine: str = "auto",
    progress: bool | float | None = None,
    budget: float | None = None,
    confirm: Callable[[SpeechPlan], bool] | None = None,
    max_retries: int | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    proxy: str | Literal[False] | None = None,
    allow_insecure: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SpeechRun:
    """The async twin of :func:`speak`: the same parameters; ``await`` it in a running event loop.

    Examples
    --------
    >>> run = await dgtools.aspeak(["Hello there."], model="aura-2-thalia-en")   # doctest: +SKIP
    """
    started = time.perf_counter()
    chosen, why = speech_engine(engine, api_key=api_key, access_token=access_token, base_url=base_url)
    settings = _Settings.check(
        model=model, encoding=encoding, container=container, sample_rate=sample_rate, bit_rate=bit_rate,
        speed=speed, concurrency=concurrency, progress=progress, budget=budget, engine=chosen,
        retry=retry_policy(max_retries, retry),
    )  # fmt: skip
    credentials: Credentials | None = None
    missing: ConfigError | None = None
    if chosen == "deepgram":
        try:
            credentials = resolve_credentials(api_key, access_token)
        except ConfigError as exc:  # only an error if something has to be sent
            missing = exc
    del api_key, access_token  # from here on only in `credentials`, whose repr never shows it
    out_dir = None if out is None else Path(out)
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"out={str(out_dir)!r} is a file; give a folder to write the audio files to")
    given = texts_and_ids(texts, ids)
    root = Path(store)
    Store(root, secrets=credentials.secrets if credentials else ()).clean()  # temp files of a killed run
    st = SpeechStore(root, settings.format.file_suffix, secrets=credentials.secrets if credentials else ())
    options = canonical(settings.key_query, "deepgram" if chosen == "deepgram" else "local")
    jobs = plan(given, settings.format, options, st)
    to_send = [cj for j in jobs for cj in j.chunks if cj.primary and not cj.stored]
    estimate = estimate_speech_cost([len(cj.text) for cj in to_send], model=model, free=chosen != "deepgram")
    summary = SpeechPlan(
        engine=chosen,
        engine_reason=why,
        texts=len(jobs),
        requests=sum(len(j.chunks) for j in jobs),
        to_send=len(to_send),
        stored=sum(cj.stored for j in jobs for cj in j.chunks),
        duplicates=sum(not cj.primary for j in jobs for cj in j.chunks),
        skipped=sum(j.result.status == "skipped" for j in jobs),
        estimate=estimate,
    )
    _check_budget(budget, summary)
    if confirm is not None and to_send and not confirm(summary):
        raise NotConfirmedError(f"nothing was sent: {estimate} was not confirmed")
    run = SpeechRun(
        texts=[j.result for j in jobs], out=out_dir, store=root, model=model, format=settings.format,
        options=options, plan=summary, engine=chosen, engine_reason=why,
    )  # fmt: skip
    if to_send:
        if missing is not None:
            raise missing
        claims = Claims(st.folder)  # STORE/speech/claims: apart from the transcription claims
        try:
            claims.heartbeat()
        except OSError as exc:  # a full or read-only store: it could not keep the audio either
            claims.close()
            _unclaimed(run, to_send, exc, st)
        else:
            with claims:
                async with _sender(chosen, credentials, settings, base_url, region, allow_insecure, transport,
                                   timeout, proxy) as sender:  # fmt: skip
                    loop = SendLoop(
                        sender, st, run, query=settings.query, fmt=settings.format, cap=settings.cap,
                        retry=settings.retry, progress=settings.progress, claims=claims,
                        price=0.0 if chosen != "deepgram" else _per_character(model),
                    )  # fmt: skip
                    await _send_claimed(loop, claims, to_send)
    for j in jobs:
        for cj in j.chunks:
            cj.finish()
    await asyncio.to_thread(_assemble, jobs, st, settings.format, out_dir)
    run.elapsed = time.perf_counter() - started
    return run


speak = sync_twin(aspeak, name="speak", doc=_DOC)


# --------------------------------------------------------------------------- claims: one sender per chunk


async def _send_claimed(loop: SendLoop, claims: Claims, jobs: list[ChunkJob]) -> None:
    """Claim every chunk; send those this run got, wait for (or take over) those another live run holds."""
    beat = asyncio.ensure_future(_heartbeat(claims))
    try:
        owners = _take(loop, claims, [cj.result.key for cj in jobs])
        mine = [cj for cj in jobs if cj.result.key in owners and owners[cj.result.key] is None]
        if mine:
            await loop.drive(mine)  # each chunk is looked up in the store again first (SendLoop.one)
        theirs: dict[str, tuple[ChunkJob, Owner]] = {}
        for cj in jobs:
            owner = owners.get(cj.result.key)
            if owner is not None:
                theirs[cj.result.key] = (cj, owner)
        if theirs:
            await _wait_for_other_runs(loop, claims, theirs)
        for cj in jobs:
            if cj.result.status == "pending":  # never claimed: the claims could not be written
                _not_sent_by(cj, loop)
    finally:
        beat.cancel()


def _take(loop: SendLoop, claims: Claims, keys: list[str]) -> dict[str, Owner | None]:
    """``claims.take(keys)``; on a store error, stop the run (nothing more is claimed or sent) and answer ``{}``."""
    try:
        return claims.take(keys)
    except OSError as exc:
        loop.halt(
            f"the store {loop.store.folder} cannot keep this run's claims ({exc.strerror or exc}); no new "
            "requests were sent",
            "make room in the store folder (or fix its permissions), then rerun: only what is missing is sent",
        )
        return {}


async def _heartbeat(claims: Claims) -> None:
    """Tell other runs this one is alive, for as long as it sends."""
    while True:
        with contextlib.suppress(OSError):  # a beat missed: the next take finds out what it means
            claims.heartbeat()
        await asyncio.sleep(min(5.0, claims.stale_after / 4))


async def _wait_for_other_runs(
    loop: SendLoop, claims: Claims, theirs: dict[str, tuple[ChunkJob, Owner]]
) -> None:
    """Chunks another live run is sending: use its audio once stored, or take over those it gives up."""
    while theirs and not loop.stop.is_set():
        for key, (cj, owner) in list(theirs.items()):
            if loop.store.has(key):
                cj.result.status = "stored"
                cj.result.message = f"spoken by another run ({owner}) while this one waited: not sent again"
                del theirs[key]
        if not theirs:
            break
        owners = _take(loop, claims, list(theirs))  # ours once that run let go of it (or died)
        takeover = [theirs.pop(key)[0] for key, owner in owners.items() if owner is None and key in theirs]
        if takeover:
            await loop.drive(takeover)  # each is looked up in the store again first: it may have landed
        if theirs:
            await asyncio.sleep(0.25)
    for cj, owner in theirs.values():  # dispatching stopped (a 402, a full disk ...)
        _not_sent_by(cj, loop, f"another run ({owner}) was sending it, and ")


def _not_sent_by(cj: ChunkJob, loop: SendLoop, other: str = "") -> None:
    r = cj.result
    r.status, r.retryable = "not sent", True
    r.message = f"not sent: {other}this run stopped: {loop.run.stopped}"
    r.advice = loop.stop_advice or "fix what stopped the run, then rerun: only chunks not yet stored are sent"


def _unclaimed(run: SpeechRun, jobs: list[ChunkJob], exc: OSError, st: SpeechStore) -> None:
    """No claim could be written (a full or read-only store): nothing is sent, every chunk says why."""
    run.stopped = (
        f"the store {st.folder} cannot keep this run's claims ({exc.strerror or exc}), nor audio: "
        "nothing was sent"
    )
    for cj in jobs:
        r = cj.result
        r.status, r.retryable = "not sent", True
        r.message = f"not sent: {run.stopped}"
        r.advice = "make room in the store folder (or fix its permissions), then rerun"


def _per_character(model: str) -> float:
    """Dollars per character of ``model`` (0 when it has no price: the estimate said so)."""
    per_thousand = price_per_1k_characters(model)
    return (per_thousand or 0.0) / 1000


def _check_budget(budget: float | None, summary: SpeechPlan) -> None:
    """Refuse to start when the estimate is above ``budget=``, or unknown while a budget is set."""
    e = summary.estimate
    if budget is None or not summary.to_send:
        return
    if e.dollars is None:
        raise BudgetError(
            f"budget={budget} is a hard cap, but {e.model} has no price in dgtools.pricing.TTS_PRICES, so what "
            "the requests cost is not known; nothing was sent. Add its price to the table, or leave budget= out"
        )
    if e.dollars > budget:
        raise BudgetError(
            f"estimated cost {e} is above budget={budget}; nothing was sent. Raise budget=, speak fewer or "
            "shorter texts, or pick a cheaper voice (Aura costs half of Aura-2)"
        )


@dataclass(frozen=True)
class _Settings:
    """The run's arguments, checked before anything else happens (:meth:`check`)."""

    model: str
    query: list[tuple[str, str]]  # what is sent: the options given
    key_query: list[tuple[str, str]]  # what the store keys hash: the audio asked for, defaults filled in
    format: SpeakFormat
    cap: int
    progress: bool | float | None
    retry: RetryPolicy
    engine: str

    @classmethod
    def check(
        cls,
        *,
        model: str,
        encoding: str | None,
        container: str | None,
        sample_rate: int | None,
        bit_rate: int | None,
        speed: float | None,
        concurrency: int | None,
        progress: bool | float | None,
        budget: float | None,
        engine: str,
        retry: RetryPolicy,
    ) -> _Settings:
        asked = {
            "model": model, "encoding": encoding, "container": container, "sample_rate": sample_rate,
            "bit_rate": bit_rate, "speed": speed,
        }  # fmt: skip
        query = speak_query(**asked)  # ConfigError on a bad option: nothing is sent
        fmt = speak_format(asked)
        effective = [("model", model), ("encoding", fmt.encoding), ("container", fmt.container),
                     ("sample_rate", str(fmt.sample_rate))]  # fmt: skip
        rate = speak_bit_rate(asked)
        if rate is not None:
            effective.append(("bit_rate", str(rate)))
        effective += [(k, v) for k, v in query if k == "speed" and float(v) != 1.0]
        c = concurrency
        if c is not None and (not isinstance(c, int) or isinstance(c, bool) or c < 1):
            raise ConfigError(f"concurrency={c!r} must be a positive integer")
        v = progress
        if v is not None and not isinstance(v, bool) and (not isinstance(v, (int, float)) or not v > 0):
            raise ConfigError(f"progress={v!r} must be True, False, None or a number of seconds above 0")
        b = budget
        if b is not None and (not isinstance(b, (int, float)) or isinstance(b, bool) or not b >= 0):
            raise ConfigError(f"budget={b!r} must be a number of dollars, 0 or more")
        cap = (
            c
            if c is not None
            else DEFAULT_CONCURRENCY
            if engine == "deepgram"
            else min(8, os.cpu_count() or 1)
        )
        return cls(
            model=model, query=query, key_query=effective, format=fmt, cap=cap, progress=progress,
            retry=retry, engine=engine,
        )  # fmt: skip


@contextlib.asynccontextmanager
async def _sender(
    engine: str,
    credentials: Credentials | None,
    settings: _Settings,
    base_url: str | None,
    region: str | None,
    allow_insecure: bool,
    transport: httpx.AsyncBaseTransport | None,
    timeout: float | None,
    proxy: str | Literal[False] | None,
) -> AsyncIterator[SpeakClient]:
    """The client to send through: to Deepgram (or ``base_url``), or to a local server started for the run."""
    if engine == "deepgram":
        assert credentials is not None
        client = SpeakClient(
            credentials=credentials, base_url=base_url, region=region, allow_insecure=allow_insecure,
            transport=transport, max_connections=settings.cap, timeout=timeout, proxy=proxy,
        )  # fmt: skip
        try:
            yield client
        finally:
            await client.aclose()
        return
    from ..server.testing import private_server

    async with private_server() as (url, key):  # the key is this run's own: the server takes it alone
        client = SpeakClient(
            credentials=Credentials("Token", key, "the local server"), base_url=url,
            max_connections=settings.cap, timeout=timeout, proxy=False,
        )  # fmt: skip
        del key
        try:
            yield client
        finally:
            await client.aclose()


# --------------------------------------------------------------------------- joining


def _assemble(jobs: list[TextJob], store: SpeechStore, fmt: SpeakFormat, out: Path | None) -> None:
    """Fill in each text's outcome from its chunks (read from the store), and write its joined file."""
    for job in jobs:
        t = job.result
        if t.status == "skipped":
            continue
        for cj in job.chunks:  # stored before this run: describe them from the store
            c = cj.result
            if c.status == "stored":
                meta = store.meta(c.key)
                c.path, c.request_id = store.path(c.key), meta.get("request_id")
                c.duration, c.bytes, c.ttfb = meta.get("duration"), meta.get("bytes"), meta.get("ttfb")
            elif c.status == "duplicate" and c.path is None:
                c.path = store.path(c.key)
        bad = [c for c in t.chunks if not c.ok]
        if bad:
            t.status = "not sent" if all(c.status == "not sent" for c in bad) else "failed"
            continue
        t.status = "spoken" if any(c.status == "spoken" for c in t.chunks) else "stored"
        try:
            audio = join([store.read(c.key) for c in t.chunks], fmt)
            t.duration, t.bytes = duration(audio, fmt), len(audio)
            if out is not None:
                t.path = _write_file(out / f"{job.name}{fmt.file_suffix}", audio)
        except (OSError, ValueError) as exc:
            t.status, t.retryable = "failed", True
            t.message = f"the audio of its chunks is stored, but its file could not be written: {exc}"
            t.advice = "fix the out= folder (room, permissions), then rerun: nothing is sent again"


def _write_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path
