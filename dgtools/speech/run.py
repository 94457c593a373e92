"""The outcome of a speech run: :class:`SpeechRun`, one :class:`TextResult` per text and a :class:`ChunkResult` per request.

``run.tables.speech`` has one row per text (``chunk`` null: the joined file) followed by one row
per chunk (the request that spoke it); ``run.failures`` one row per chunk that has no audio, and
per text that was never sent (empty, not text, too long for its format).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import DGToolsError

if TYPE_CHECKING:
    import pandas as pd

    from ..options.speak import SpeakFormat
    from ..pricing import SpeechCostEstimate

__all__ = [
    "CHUNK_STATUSES",
    "SPEECH_COLUMNS",
    "SPEECH_FAILURE_COLUMNS",
    "TEXT_STATUSES",
    "ChunkResult",
    "SpeechPlan",
    "SpeechRun",
    "SpeechTables",
    "TextResult",
]

#: Columns of ``SpeechRun.tables.speech``, in order.
SPEECH_COLUMNS: Final = (
    "id", "chunk", "status", "characters", "model", "request_id", "path", "duration", "bytes", "ttfb", "cost",
)  # fmt: skip
_SPEECH_DTYPES: Final = {
    "id": "string", "chunk": "Int64", "status": "string", "characters": "Int64", "model": "string",
    "request_id": "string", "path": "string", "duration": "Float64", "bytes": "Int64", "ttfb": "Float64",
    "cost": "Float64",
}  # fmt: skip
#: Columns of :attr:`SpeechRun.failures`.
SPEECH_FAILURE_COLUMNS: Final = (
    "id", "chunk", "status", "err_code", "message", "request_id", "retryable", "attempts", "advice",
)  # fmt: skip

#: What a :class:`ChunkResult`'s status means.
CHUNK_STATUSES: Final = {
    "spoken": "synthesised in this run and stored",
    "stored": "already in the store: not sent again",
    "duplicate": "the same text, voice and format as another chunk of the run: sent once",
    "failed": "sent (or tried) without audio: see message and advice",
    "not sent": "never sent: the run stopped dispatching (a 402, a rejected key, a full disk ...)",
}
#: What a :class:`TextResult`'s status means.
TEXT_STATUSES: Final = {
    "spoken": "its file is written; at least one chunk was synthesised in this run",
    "stored": "its file is written from the store: nothing was sent",
    "failed": "no file: a chunk failed, or the file could not be written (see failures)",
    "skipped": "never sent: empty, not text, or too long for its format (the message says why)",
    "not sent": "never sent: the run stopped dispatching",
}
_CHUNK_OK: Final = frozenset({"spoken", "stored", "duplicate"})


@dataclass
class ChunkResult:
    """One request: a chunk of a text (at most 2,000 characters), and what became of it."""

    id: str
    chunk: int
    characters: int
    key: str
    status: str = "pending"
    path: Path | None = None
    request_id: str | None = None
    duration: float | None = None
    bytes: int | None = None
    ttfb: float | None = None
    cost: float = 0.0  # dollars paid in this run (0 when stored, a duplicate or failed)
    attempts: int = 0
    status_code: int | None = None
    err_code: str | None = None
    message: str | None = None
    retryable: bool | None = None
    advice: str | None = None
    answered: bool = False  # Deepgram answered 200 in this run (billed), stored or not

    @property
    def ok(self) -> bool:
        """Its audio is in the store."""
        return self.status in _CHUNK_OK


@dataclass
class TextResult:
    """One text: its chunks, and the file they were joined into."""

    id: str
    characters: int
    chunks: list[ChunkResult] = field(default_factory=list)
    status: str = "pending"
    path: Path | None = None
    duration: float | None = None
    bytes: int | None = None
    message: str | None = None
    advice: str | None = None
    retryable: bool | None = None

    @property
    def ok(self) -> bool:
        """Its file is written."""
        return self.status in ("spoken", "stored")

    @property
    def request_id(self) -> str | None:
        """The request_id of its one chunk (None for a text of several chunks: see their rows)."""
        return self.chunks[0].request_id if len(self.chunks) == 1 else None

    @property
    def ttfb(self) -> float | None:
        """Seconds to the first byte of its first chunk: how soon its audio could start playing."""
        return self.chunks[0].ttfb if self.chunks else None

    @property
    def cost(self) -> float:
        """Dollars paid for it in this run."""
        return round(sum(c.cost for c in self.chunks), 6)


@dataclass(frozen=True)
class SpeechPlan:
    """What a speech run is about to do, before anything is sent: what it prints, and asks about.

    Attributes
    ----------
    engine, engine_reason
        Which engine speaks, and why (``engine auto: ...``).
    texts
        Texts given.
    requests
        Chunks of at most 2,000 characters that the texts make (one request each).
    to_send, stored, duplicates
        Requests to send now, requests whose audio the store holds (not sent again), and chunks
        the same as another of the run (sent once).
    skipped
        Texts that will not be sent: empty, not text, or too long for their format.
    estimate
        What ``to_send`` costs: characters x the voice's price (:class:`~dgtools.pricing.SpeechCostEstimate`).
    """

    engine: str
    engine_reason: str
    texts: int
    requests: int
    to_send: int
    stored: int
    duplicates: int
    skipped: int
    estimate: SpeechCostEstimate

    def __str__(self) -> str:
        parts = [f"{self.texts} text(s) in {self.requests} request(s): {self.to_send} to send"]
        for n, what in ((self.stored, "already stored"), (self.duplicates, "duplicate(s), sent once"),
                        (self.skipped, "text(s) skipped")):  # fmt: skip
            if n:
                parts.append(f"{n} {what}")
        head = f"{self.engine_reason}\nplan: " + ", ".join(parts)
        if not self.to_send:
            return head + "; nothing to pay"
        return f"{head}\nestimate: {self.estimate}"


@dataclass(frozen=True)
class SpeechTables:
    """The tables of a speech run: :attr:`speech` (one row per text, then one per chunk)."""

    speech: pd.DataFrame

    def __repr__(self) -> str:
        return f"<dgtools.SpeechTables speech: {len(self.speech)} rows>"


@dataclass
class SpeechRun:
    """The outcome of :func:`dgtools.speak`: one :class:`TextResult` per text, in input order.

    Attributes
    ----------
    texts : list of TextResult
        Every text, with its chunks (``texts[i].chunks``).
    out : Path or None
        The folder of the joined files (one per text: ``<id><suffix>``).
    store : Path
        The store's folder (the audio of every chunk is under ``speech/``).
    format : SpeakFormat
        The audio asked for, defaults filled in.
    plan : SpeechPlan
        What the run planned (and printed, and asked about) before sending anything.
    """

    texts: list[TextResult]
    out: Path | None
    store: Path
    model: str
    format: SpeakFormat
    options: str  # the canonical options of every request (what the store keys hash)
    plan: SpeechPlan | None = None
    engine: str = "deepgram"
    engine_reason: str = ""
    elapsed: float = 0.0
    retries: int = 0
    rate_limited: int = 0
    stopped: str | None = None  # why dispatching stopped early (402, 401/403, a store write error)
    warnings: list[str] = field(default_factory=list)

    @property
    def estimate(self) -> SpeechCostEstimate | None:
        """What the plan said the requests to send would cost."""
        return self.plan.estimate if self.plan is not None else None

    @property
    def chunks(self) -> list[ChunkResult]:
        """Every chunk of every text, in order."""
        return [c for t in self.texts for c in t.chunks]

    @property
    def paths(self) -> dict[str, Path]:
        """The file of each text that has one, by id."""
        return {t.id: t.path for t in self.texts if t.ok and t.path is not None}

    @property
    def tables(self) -> SpeechTables:
        """``tables.speech``: per text (``chunk`` null) and per chunk, id, status, characters, model,
        request_id, path, duration (s), bytes, ttfb (s, time to first byte), cost ($, paid in this run)."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for t in self.texts:
            rows.append(
                {
                    "id": t.id, "chunk": None, "status": t.status, "characters": t.characters,
                    "model": self.model, "request_id": t.request_id, "path": _str(t.path),
                    "duration": t.duration, "bytes": t.bytes, "ttfb": t.ttfb, "cost": t.cost,
                }
            )  # fmt: skip
            for c in t.chunks:
                rows.append(
                    {
                        "id": c.id, "chunk": c.chunk, "status": c.status, "characters": c.characters,
                        "model": self.model, "request_id": c.request_id, "path": _str(c.path),
                        "duration": c.duration, "bytes": c.bytes, "ttfb": c.ttfb, "cost": c.cost,
                    }
                )  # fmt: skip
        df = pd.DataFrame(rows, columns=list(SPEECH_COLUMNS))
        return SpeechTables(speech=df.astype(_SPEECH_DTYPES))

    @property
    def failures(self) -> pd.DataFrame:
        """Chunks without audio and texts never sent: id, chunk (null: the whole text), status,
        err_code, message, request_id, retryable, attempts, advice."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for t in self.texts:
            bad = [c for c in t.chunks if not c.ok]
            for c in bad:
                rows.append(
                    {
                        "id": c.id, "chunk": c.chunk,
                        "status": c.status if c.status_code is None else str(c.status_code),
                        "err_code": c.err_code, "message": c.message, "request_id": c.request_id,
                        "retryable": c.retryable, "attempts": c.attempts, "advice": c.advice,
                    }
                )  # fmt: skip
            if not bad and not t.ok:
                rows.append(
                    {
                        "id": t.id, "chunk": None, "status": t.status, "err_code": None, "message": t.message,
                        "request_id": None, "retryable": t.retryable, "attempts": 0, "advice": t.advice,
                    }
                )  # fmt: skip
        df = pd.DataFrame(rows, columns=list(SPEECH_FAILURE_COLUMNS))
        return df.astype(
            {
                "id": "string", "chunk": "Int64", "status": "string", "err_code": "string", "message": "string",
                "request_id": "string", "retryable": "boolean", "attempts": "Int64", "advice": "string",
            }
        )  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """Counts of texts by status, requests sent, characters, seconds of audio, spend, retries, time."""
        counts: dict[str, int] = {}
        for t in self.texts:
            counts[t.status] = counts.get(t.status, 0) + 1
        sent = [c for c in self.chunks if c.answered]
        return {
            "texts": len(self.texts),
            **counts,
            "requests_sent": len(sent),
            "characters_sent": sum(c.characters for c in sent),
            "audio_seconds": round(sum(t.duration or 0.0 for t in self.texts if t.ok), 3),
            "spent": round(sum(c.cost for c in sent), 6) if sent else 0.0,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "elapsed_s": round(self.elapsed, 3),
            "stopped": self.stopped,
            "engine": self.engine,
        }

    def raise_for_errors(self) -> None:
        """Raise a :class:`~dgtools.DGToolsError` naming the first text without a file, if any."""
        bad = [t for t in self.texts if not t.ok]
        if bad:
            first = bad[0]
            why = first.message or next(
                (c.message for c in first.chunks if not c.ok and c.message), first.status
            )
            more = f" (and {len(bad) - 1} more; see run.failures)" if len(bad) > 1 else ""
            raise DGToolsError(f"text {first.id!r}: {why}{more}")

    def __repr__(self) -> str:
        s = self.summary()
        skip = ("texts", "elapsed_s", "engine")
        parts = ", ".join(f"{k}={v}" for k, v in s.items() if v and k not in skip)
        return f"<dgtools.SpeechRun {s['texts']} text(s): {parts}; {s['elapsed_s']} s>"

    def _repr_html_(self) -> str:
        try:
            rows = "".join(
                f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                for k, v in self.summary().items()
                if v is not None
            )
            return f"<b>dgtools speech run</b><table>{rows}</table>"
        except Exception:  # notebook reprs never raise
            return "<i>dgtools.SpeechRun</i>"


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
