"""Reading an answer's body: decompressed within a bound, in memory or streamed to a file.

A response body is read from the socket chunk by chunk and decompressed here (gzip and deflate,
the encodings the client asks for) with a bound on every step of the inflater, so that neither a
huge answer nor a gzip bomb (16 kB that inflate to 16 MB) takes more memory than the limit:

* above ``limit`` decompressed bytes reading stops and :class:`~dgtools.BadResponseError` is
  raised (not retryable: the same request would get the same answer);
* above ``spool_above`` bytes, when the caller gave a ``spool`` (a function returning a fresh file
  path), the body goes on into that file instead of memory; any error removes the file.

While reading, the first 4 KB (for the ``request_id``), the last bytes and whether ``"results"``
occurs are kept, so the cheap checks of :func:`~dgtools.api.errors.check_parts` need no second
pass over a spooled body.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from ..exceptions import BadResponseError
from .errors import HEAD_BYTES

__all__ = ["Answer", "read_answer", "read_error_body"]

_PIECE = 1 << 20  # most bytes one inflater step may produce
_WRITE_EVERY = 1 << 20  # a spooled body is written in pieces of about this size
_TAIL = 64
_RESULTS = b'"results"'


@dataclass
class Answer:
    """A body read by :func:`read_answer`."""

    body: bytes  # b"" when spooled
    path: Path | None  # the spool file, when the body went there
    size: int  # decompressed bytes
    head: bytes  # the first 4 KB
    tail: bytes  # the last 64 bytes
    has_results: bool  # whether '"results"' occurs in it


class _Inflater:
    """gzip or deflate, decompressed at most ``_PIECE`` bytes per step."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        wbits = zlib.MAX_WBITS | 16 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._d = zlib.decompressobj(wbits)
        self._first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._d.decompress(data, _PIECE)
            except zlib.error:
                if not (self._first and self.encoding == "deflate"):
                    raise
                # 'deflate' is sometimes sent raw, without the zlib wrapper (httpx accepts both)
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._d.decompress(data, _PIECE)
            self._first = False
            data = self._d.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < _PIECE:
                return

    @property
    def complete(self) -> bool:
        """Whether the compressed stream reached its end (else the body was cut short)."""
        return self._d.eof


class _Sink:
    """Where the decompressed body goes: a list of chunks, then (past ``spool_above``) a file."""

    def __init__(
        self,
        *,
        limit: int,
        source: str,
        spool: Callable[[], Path] | None,
        spool_above: int,
        request_id: str | None = None,
    ) -> None:
        self.limit, self.source, self.spool, self.spool_above = limit, source, spool, spool_above
        self.request_id = request_id
        self.chunks: list[bytes] = []
        self.pending = 0  # bytes in self.chunks
        self.size = 0
        self.head = b""
        self.tail = b""
        self.has_results = False
        self.path: Path | None = None
        self.file: IO[bytes] | None = None

    def add(self, piece: bytes) -> bool:
        """Take one decompressed piece; True when the pending pieces should go to the file now."""
        self.size += len(piece)
        if self.size > self.limit:
            raise too_large(self.source, self.limit, self.request_id)
        if len(self.head) < HEAD_BYTES:
            self.head += piece[: HEAD_BYTES - len(self.head)]
        if not self.has_results:
            self.has_results = _RESULTS in piece or _RESULTS in self.tail[-8:] + piece[:8]
        self.tail = piece[-_TAIL:] if len(piece) >= _TAIL else (self.tail + piece)[-_TAIL:]
        self.chunks.append(piece)
        self.pending += len(piece)
        if self.file is not None:
            return self.pending >= _WRITE_EVERY
        return self.spool is not None and self.size > self.spool_above

    async def write(self) -> None:
        """Move the pending pieces to the spool file (opening it the first time)."""
        if self.file is None:
            assert self.spool is not None
            self.path = Path(self.spool())
            self.file = await asyncio.to_thread(self.path.open, "wb")
        chunks, self.chunks, self.pending = self.chunks, [], 0
        await asyncio.to_thread(self.file.writelines, chunks)

    async def finish(self) -> Answer:
        if self.file is not None:
            if self.chunks:
                await self.write()
            await asyncio.to_thread(self.file.close)
            self.file = None
            return Answer(b"", self.path, self.size, self.head, self.tail, self.has_results)
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks = []
        return Answer(body, None, self.size, self.head, self.tail, self.has_results)

    def discard(self) -> None:
        """Drop what was read; remove the spool file."""
        self.chunks = []
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
            self.file = None
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)


def too_large(source: str, limit: int, request_id: str | None = None) -> BadResponseError:
    """The error for an answer above ``max_response_bytes``."""
    return BadResponseError(
        f"the answer for {source!r} is larger than max_response_bytes={limit:,} bytes ({limit / 2**20:g} MiB) "
        "once decompressed; it was not kept and is not retried. Real answers stay far below this "
        "(tens of MB for the longest calls); if this one is expected, raise the limit with "
        "DeepgramClient(max_response_bytes=...)",
        path=source,
        request_id=request_id,
        retryable=False,
    )


async def read_answer(
    response: httpx.Response,
    *,
    source: str,
    limit: int,
    spool: Callable[[], Path] | None = None,
    spool_above: int = 16 << 20,
) -> Answer:
    """Read ``response``'s body, decompressed, at most ``limit`` bytes of it; spooled past ``spool_above``.

    Raises
    ------
    BadResponseError
        Larger than ``limit`` once decompressed (not retryable), or compressed data that is
        corrupt or cut short (retryable).
    httpx.HTTPError
        The connection failed while reading.
    OSError
        Writing the spool file failed (the disk is full ...): the file is removed.
    """
    sink = _Sink(
        limit=limit,
        source=source,
        spool=spool,
        spool_above=spool_above,
        request_id=response.headers.get("dg-request-id"),
    )
    try:
        await _read(response, sink, source=source, limit=limit)
        return await sink.finish()
    except BaseException:
        sink.discard()
        raise


async def read_error_body(response: httpx.Response, *, source: str, limit: int = 1 << 20) -> bytes:
    """An error answer's body, decompressed; cut at ``limit`` bytes (error bodies are short)."""
    sink = _Sink(limit=limit, source=source, spool=None, spool_above=limit)
    try:
        await _read(response, sink, source=source, limit=limit)
    except BadResponseError:
        return b"".join(sink.chunks)[:limit]
    return (await sink.finish()).body


async def _read(response: httpx.Response, sink: _Sink, *, source: str, limit: int) -> None:
    if response.is_stream_consumed:  # read already, and decoded (an httpx.MockTransport answer)
        if sink.add(response.content):
            await sink.write()
        return
    encodings = [
        e.strip().lower()
        for e in response.headers.get("content-encoding", "").split(",")
        if e.strip() and e.strip().lower() != "identity"
    ]
    if not encodings:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise too_large(source, limit, sink.request_id)  # before reading any of it
        async for chunk in response.aiter_raw():
            if sink.add(chunk):
                await sink.write()
        return
    if len(encodings) > 1 or encodings[0] not in ("gzip", "x-gzip", "deflate"):
        # not asked for (dgtools sends Accept-Encoding: gzip, deflate): httpx's decoders, bounded per chunk
        async for chunk in response.aiter_bytes():
            if sink.add(chunk):
                await sink.write()
        return
    inflater = _Inflater(encodings[0])
    try:
        async for chunk in response.aiter_raw():
            for piece in inflater.feed(chunk):
                if sink.add(piece):
                    await sink.write()
    except zlib.error as exc:
        raise BadResponseError(
            f"the answer for {source!r} is not valid {encodings[0]} data ({exc}); it is retried",
            path=source,
            request_id=sink.request_id,
        ) from None
    if not inflater.complete:
        raise BadResponseError(
            f"the {encodings[0]}-compressed answer for {source!r} was cut short; it is retried",
            path=source,
            request_id=sink.request_id,
        )
