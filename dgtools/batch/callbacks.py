"""Callback runs: ``transcribe(..., callback=URL)`` submits every file and returns without waiting.

Deepgram answers a ``/v1/listen`` request that carries ``callback=URL`` at once with
``{"request_id": "..."}`` (the OpenAPI spec's accepted-response shape) and later POSTs (or PUTs,
``callback_method="put"``) the whole transcript to the URL.  A callback run:

1. checks the URL (:func:`check_callback_url`): Deepgram calls back only public ``https://`` URLs,
   the usual reason for "my callback never fires";
2. leaves out every file whose earlier submission is still pending in the store (no second
   request, no second charge) unless ``resubmit_pending=True``;
3. sends the rest with ``callback=`` and ``callback_method=`` added to the options, retrying 408,
   429, 5xx and transport errors like any run, and records each accepted request_id as pending
   (:class:`~dgtools.store.Pending`) under the file's store key, the key a run without callback
   would use, so the delivered transcript is found exactly like a normal answer.

:func:`dgtools.collect_callbacks` receives the deliveries and stores them.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..api.auth import is_loopback
from ..exceptions import (
    BadResponseError,
    ConfigError,
    DeepgramAPIError,
    DGToolsError,
    PaymentRequiredError,
    TransportError,
)
from ..options._values import mask_url
from ..store import Pending, index
from .send import _fill_failure, _not_sent

if TYPE_CHECKING:
    from ..api import ListenResult, RetryPolicy
    from ..options import ListenOptions
    from ..store import Store
    from .plan import Job
    from .run import Run
    from .send import Sender

__all__ = ["CALLBACK_METHODS", "check_callback_url", "hold_pending", "submit"]

#: The methods Deepgram can call back with.
CALLBACK_METHODS = ("POST", "PUT")


def check_callback_url(url: str, method: str = "post", *, base_url: str | None = None) -> str:
    """Check a callback URL and method; returns the method upper-cased.

    Deepgram calls back only ``https://`` URLs it can reach from the internet.  A plain
    ``http://`` URL is accepted only on this machine (``127.0.0.1``, ``::1``, ``localhost``), and
    a loopback URL only when the requests go to a server on this machine too (the local server,
    ``dgtools serve``): Deepgram itself can never reach your ``127.0.0.1``.

    Raises
    ------
    ConfigError
        The URL or method cannot work; the message says why and what to use instead.

    Examples
    --------
    >>> check_callback_url("https://hooks.example.com/dg", "put")
    'PUT'
    >>> check_callback_url("http://127.0.0.1:8766/hook", base_url="http://127.0.0.1:8080")
    'POST'
    >>> check_callback_url("http://hooks.example.com/dg")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dgtools.exceptions.ConfigError: callback='http://hooks.example.com/dg' is plain http on another machine: ...
    """
    if not isinstance(method, str) or method.upper() not in CALLBACK_METHODS:
        raise ConfigError(f"callback_method={method!r}: use 'post' (the default) or 'put'")
    shown = mask_url(url) if isinstance(url, str) else repr(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except (TypeError, ValueError):
        host, parts = None, urlsplit("")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"callback={shown!r} is not an http(s) URL; pass the public HTTPS URL Deepgram should "
            "POST the transcript to, such as 'https://hooks.example.com/deepgram'"
        )
    base_host = urlsplit(base_url).hostname if base_url else None
    local_server = is_loopback(base_host)
    if is_loopback(host):
        if not local_server:
            raise ConfigError(
                f"callback={shown!r} is on this machine, which Deepgram cannot reach, so the callback "
                "would never fire; use a public HTTPS URL (a tunnel such as ngrok or cloudflared to "
                "'dgtools receive' works), or test against the local server (base_url='http://127.0.0.1:PORT')"
            )
        return method.upper()
    if scheme != "https":
        raise ConfigError(
            f"callback={shown!r} is plain http on another machine: Deepgram calls back only public "
            "HTTPS URLs, so the callback would never fire; use https:// (a tunnel such as ngrok or "
            "cloudflared in front of 'dgtools receive' gives one)"
        )
    return method.upper()


def hold_pending(to_send: list[Job], st: Store, *, resubmit: bool) -> list[Job]:
    """The jobs to send: those pending in the store are left out (and marked so) unless ``resubmit``."""
    book = Pending(st)
    out = []
    for job in to_send:
        record = book.get(job.key)
        if record is None or not record.get("request_id") or resubmit:  # no request_id: a crashed submission
            out.append(job)
            continue
        r = job.result
        r.status, r.request_id = "submitted", record.get("request_id")
        r.message = (
            f"submitted earlier (request_id={r.request_id}, at {record.get('submitted_at')}): waiting for "
            "its callback, not sent again (resubmit_pending=True sends it again)"
        )
    return out


async def submit(
    jobs: list[Job],
    *,
    store: Store,
    sender: Sender,
    options: ListenOptions,
    callback: str,
    method: str,
    run: Run,
    cap: int,
    retry: RetryPolicy,
) -> None:
    """Send every job with ``callback=``; record each accepted request_id as pending. Never raises partway."""
    book = Pending(store)
    canonical = options.canonical()
    request_options = options.updated(callback=callback, callback_method=method)
    gate = asyncio.Semaphore(cap)
    stop_advice = (
        "rerun the same command once the account has credits: files already submitted are not sent again"
    )

    async def one(job: Job) -> None:
        r, a = job.result, job.audio
        try:
            previous = book.submitting(job.key, file=a.source, file_id=r.file_id, options=canonical)
        except OSError as exc:
            r.status, r.retryable = "not sent", True
            r.message = f"not sent: its pending record cannot be written to {book.root} ({exc})"
            r.advice = "make the store writable (or free some space), then rerun"
            return
        try:
            await attempt(job)
        except OSError as exc:  # accepted (and billed), but the store cannot keep its request_id
            r.status, r.retryable = "failed", True
            r.message = f"accepted, but its request_id cannot be recorded in {book.root} ({exc})"
            r.advice = "make the store writable (or free some space), then rerun: the file is sent again"
        finally:
            record = book.get(job.key)
            if record is not None and record.get("request_id") is None:  # not accepted: as it was
                book.restore(job.key, previous)

    async def attempt(job: Job) -> None:
        r, a = job.result, job.audio
        async with gate:
            while True:
                if run.stopped:  # a 402 on another file: nothing more is sent
                    _not_sent(r, run.stopped, stop_advice)
                    return
                r.attempts += 1
                try:
                    answer = await _send(sender, job, request_options)
                except (DeepgramAPIError, TransportError, BadResponseError) as exc:
                    if isinstance(exc, PaymentRequiredError) and not run.stopped:
                        run.stopped = "the project is out of credits (402); no new files were submitted"
                    if retry.should_retry(exc, attempts=r.attempts):
                        run.retries += 1
                        await asyncio.sleep(retry.delay(exc, attempts=r.attempts))
                        continue
                    _fill_failure(r, exc)
                    return
                except DGToolsError as exc:
                    r.status, r.message, r.retryable = "failed", str(exc), False
                    return
                break
        body = _decode(answer.body)
        request_id = body.get("request_id") if isinstance(body.get("request_id"), str) else None
        if "results" in body:  # the server answered in full after all: store it like any answer
            meta = body.get("metadata")
            rid = meta.get("request_id") if isinstance(meta, dict) else answer.request_id
            store.write_bytes(job.key, answer.body)
            entry = index.entry(
                key=job.key, source=a.source, file_id=r.file_id, options=canonical, status="transcribed",
                request_id=rid,
            )  # fmt: skip
            store.record(entry)
            r.status, r.request_id, r.answered = "transcribed", rid, True
            r.message = "answered in full at once (no callback needed)"
            return
        request_id = request_id or answer.request_id
        if not request_id:
            r.status, r.retryable = "failed", True
            r.message = (
                f"{a.source}: the callback request was accepted without a request_id: {answer.body[:200]!r}"
            )
            r.advice = "rerun: the file is sent again"
            return
        earlier = (book.get(job.key) or {}).get("earlier_request_ids")
        book.add(
            job.key,
            request_id=request_id,
            file=a.source,
            file_id=r.file_id,
            options=canonical,
            callback_method=method,
            earlier_request_ids=earlier,
        )
        r.status, r.request_id = "submitted", request_id
        r.message = f"accepted; the transcript will be delivered to {mask_url(callback)}"
        r.status_code = r.err_code = r.retryable = r.advice = None

    await asyncio.gather(*(one(j) for j in jobs))


async def _send(sender: Sender, job: Job, options: ListenOptions) -> ListenResult:
    a = job.audio
    if a.url is not None:
        return await sender.transcribe_url(a.url, options, source=a.source)
    assert a.path is not None
    return await sender.transcribe_file(
        a.path, options, content_type=a.content_type, source=a.source, duration=job.duration
    )


def _decode(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
