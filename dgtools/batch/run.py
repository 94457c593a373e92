"""The outcome of a transcription run: :class:`Run`, one :class:`FileResult` per input."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..exceptions import DGToolsError

if TYPE_CHECKING:
    import pandas as pd

    from ..options import ListenOptions
    from ..pricing import CostEstimate
    from ..store import RemoteStore, Store
    from ..tables import Tables

__all__ = ["FAILURE_COLUMNS", "STATUSES", "FileResult", "PlanSummary", "Run"]

#: Columns of :attr:`Run.failures`.
FAILURE_COLUMNS = ("file", "status", "err_code", "message", "request_id", "retryable", "attempts", "advice")


#: What a :class:`FileResult`'s status means.
STATUSES = {
    "transcribed": "answered in this run and stored",
    "stored": "already in the store: not sent again",
    "duplicate": "the same audio as another input of the run: sent once",
    "failed": "sent (or tried) without a stored transcript: see message and advice",
    "skipped": "never sent: not usable audio (the message says why)",
    "not sent": "never sent: the run stopped dispatching (a 402, a rejected key, a full disk ...)",
    "ignored": "not an audio file, found in a folder: left out, not a failure",
    "submitted": "sent with callback=: Deepgram accepted it; the transcript is delivered later",
}
_OK = frozenset({"transcribed", "stored", "duplicate"})


@dataclass
class FileResult:
    """What happened to one input (``status``: a key of :data:`STATUSES`)."""

    source: str
    file_id: str
    status: str
    key: str | None = None
    request_id: str | None = None
    attempts: int = 0
    duration: float | None = None
    status_code: int | None = None
    err_code: str | None = None
    message: str | None = None
    retryable: bool | None = None
    advice: str | None = None
    answered: bool = False  # Deepgram answered 200 in this run (billed), stored or not

    @property
    def ok(self) -> bool:
        """A transcript of this input is in the store."""
        return self.status in _OK

    @property
    def failed(self) -> bool:
        """No transcript, and not because the input was a non-audio file left out of a folder."""
        return not self.ok and self.status not in ("ignored", "submitted")


@dataclass(frozen=True)
class PlanSummary:
    """What a run is about to do, before anything is sent: the plan it prints, and asks about.

    Attributes
    ----------
    engine, engine_reason
        Which engine sends, and why (``engine auto: ...``).
    to_send
        Files to send now (each billed once).
    stored, duplicates
        Files the store already holds (not sent again), and copies of another input's audio (sent once).
    skipped, ignored
        Inputs that will not be sent: not usable audio, and non-audio files left out of a folder.
    estimate
        What ``to_send`` costs (:class:`~dgtools.pricing.CostEstimate`).
    """

    engine: str
    engine_reason: str
    to_send: int
    stored: int
    duplicates: int
    skipped: int
    ignored: int
    estimate: CostEstimate

    def __str__(self) -> str:
        parts = [f"{self.to_send} file(s) to send"]
        for n, what in ((self.stored, "already stored"), (self.duplicates, "duplicate(s), sent once"),
                        (self.skipped, "skipped"), (self.ignored, "ignored (not audio)")):  # fmt: skip
            if n:
                parts.append(f"{n} {what}")
        head = f"{self.engine_reason}\nplan: " + ", ".join(parts)
        if not self.to_send:
            return head + "; nothing to pay"
        e = self.estimate
        return f"{head}\nestimate: {e}"


@dataclass
class Run:
    """The outcome of :func:`transcribe`: one :class:`FileResult` per input, in input order."""

    results: list[FileResult]
    store: Store | RemoteStore
    options: ListenOptions
    estimate: CostEstimate | None = None
    elapsed: float = 0.0
    retries: int = 0
    rate_limited: int = 0
    stopped: str | None = None  # why dispatching stopped early (402, 401/403, a store write error)
    engine: str = "deepgram"
    engine_reason: str = ""  # which engine, and why ("engine auto: ...")
    plan: PlanSummary | None = None  # what the run planned before sending anything
    realtime_factor: float | None = None  # engine="local": decode seconds per audio second, per process
    warnings: list[str] = field(default_factory=list)  # what looked wrong but did not stop the run
    _tables: Tables | None = field(default=None, repr=False)

    @property
    def tables(self) -> Tables:
        """Tables for exactly these inputs, built from the raw responses in the store.

        ``file_id`` is each input's id (its path relative to the folder given).  A stored answer
        that cannot be read (a disk error, a hand edit) is moved to the store's ``quarantine/``
        with the reason, its input becomes a ``failed`` row saying so, and the tables hold
        everything else; the next run requests it again.
        """
        self._arrived()
        if self._tables is None:
            from ..tables import Failure, to_tables

            ok = [r for r in self.results if r.ok and r.key]
            bad: list[Failure] = []
            self._tables = to_tables(
                self._sources([r.key for r in ok if r.key]),
                file_id=[r.file_id for r in ok],
                on_error=bad.append,
            )
            by_id = {r.file_id: r for r in ok}
            for failure in bad:
                r = by_id.get(failure.file_id or "")
                if r is None or r.key is None:  # pragma: no cover - every input has its file_id
                    continue
                self.store.quarantine(r.key, failure.message)
                r.status, r.retryable = "failed", True
                r.message = f"the stored answer cannot be read ({failure.message}): moved to quarantine"
                r.advice = "rerun the same command: the file is requested again"
        return self._tables

    def _sources(self, keys: list[str]) -> list[Any]:
        """What :func:`~dgtools.tables.to_tables` reads for ``keys``: local paths, or a remote store's responses.

        A remote store's are fetched concurrently; one that cannot be fetched or parsed stays its
        URL, so that ``to_tables`` reports it (and :attr:`tables` quarantines it) as for a bad file.
        """
        from ..store import Store

        if isinstance(self.store, Store):
            return [self.store.path(k) for k in keys]
        import json

        out: list[Any] = []
        for key, data in zip(keys, self.store.read_many(keys), strict=True):
            try:
                out.append(json.loads(data) if isinstance(data, bytes) else self.store.path(key))
            except ValueError:
                out.append(self.store.path(key))
        return out

    @property
    def pending(self) -> pd.DataFrame:
        """Inputs submitted with ``callback=`` whose transcript has not arrived in the store yet.

        Columns: file, file_id, request_id, submitted_at, key.  Read afresh on every access: an
        input whose transcript :func:`dgtools.collect_callbacks` has stored since is no longer
        listed, and becomes ``transcribed`` (:attr:`tables` then holds it).
        """
        import pandas as pd

        from ..store import Pending, Store

        self._arrived()
        rows = []
        # callback= needs a local store: a remote one has nothing pending
        book = Pending(self.store) if isinstance(self.store, Store) else None
        for r in self.results:
            if book is not None and r.status == "submitted" and r.key:
                record = book.get(r.key) or {}
                rows.append(
                    {
                        "file": r.source,
                        "file_id": r.file_id,
                        "request_id": r.request_id,
                        "submitted_at": record.get("submitted_at"),
                        "key": r.key,
                    }
                )
        columns = ["file", "file_id", "request_id", "submitted_at", "key"]
        return pd.DataFrame(rows, columns=columns).astype(dict.fromkeys(columns, "string"))

    def _arrived(self) -> None:
        """Pending inputs whose transcript is now in the store become ``transcribed``."""
        for r in self.results:
            if r.status == "submitted" and r.key and self.store.has(r.key):
                r.status, r.message = "transcribed", "delivered by callback and stored"
                self._tables = None

    def option_warnings(self) -> list[str]:
        """What the engine said it did not do with the options, once per kind, with the files it concerns.

        Gathered from every answer's ``metadata.warnings`` (the ``requests.warnings`` column): the
        embedded engine reports each option it cannot honour there (``diarize`` on mono audio, a
        ``model``, a ``language`` it does not know...), and Deepgram reports what it ignored.

        Examples
        --------
        >>> run = dgtools.transcribe("data/audio", engine="local", diarize=True)   # doctest: +SKIP
        >>> run.option_warnings()                                                  # doctest: +SKIP
        ['diarize: ... (3 files: one_speaker.wav, silence.wav, two_voices.wav)']
        """
        requests = self.tables.requests
        groups: dict[tuple[str, str], list[str]] = {}
        for fid, warnings in zip(requests["file_id"], requests["warnings"], strict=True):
            for w in warnings if isinstance(warnings, (list, tuple)) else ():
                key = (str(w.get("parameter") or "options"), str(w.get("message") or w.get("type") or ""))
                groups.setdefault(key, []).append(str(fid))
        out = []
        for (parameter, message), fids in sorted(groups.items()):
            shown = ", ".join(fids[:3]) + (f" and {len(fids) - 3} more" if len(fids) > 3 else "")
            out.append(f"{parameter}: {message} ({len(fids)} file{'s' if len(fids) > 1 else ''}: {shown})")
        return out

    @property
    def failures(self) -> pd.DataFrame:
        """Inputs that did not get a transcript: file, status, err_code, message, request_id,
        retryable, attempts, advice (non-audio files left out of a folder are not failures)."""
        import pandas as pd

        rows = [
            {
                "file": r.source,
                "status": r.status if r.status_code is None else str(r.status_code),
                "err_code": r.err_code,
                "message": r.message,
                "request_id": r.request_id,
                "retryable": r.retryable,
                "attempts": r.attempts,
                "advice": r.advice,
            }
            for r in self.results
            if r.failed
        ]
        df = pd.DataFrame(rows, columns=list(FAILURE_COLUMNS))
        return df.astype(
            {
                "file": "string",
                "status": "string",
                "err_code": "string",
                "message": "string",
                "request_id": "string",
                "retryable": "boolean",
                "attempts": "Int64",
                "advice": "string",
            }
        )

    @property
    def results_frame(self) -> pd.DataFrame:
        """Every input's outcome as a DataFrame."""
        import pandas as pd

        return pd.DataFrame([r.__dict__ for r in self.results])

    def summary(self) -> dict[str, Any]:
        """Counts by status, audio minutes, retries, 429s seen, estimated spend, time taken.

        ``audio_minutes_sent`` and ``estimated_spend`` count every file Deepgram answered in this
        run, stored or not: an answer the store could not keep (a full disk) was paid for too, and
        ``unsaved`` counts those.
        """
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        answered = [r for r in self.results if r.answered]
        minutes = sum(r.duration or 0.0 for r in answered) / 60.0
        per_min = self.estimate.per_minute if self.estimate else None
        return {
            "files": len(self.results),
            **counts,
            "failed_total": sum(1 for r in self.results if r.failed),
            "unsaved": sum(1 for r in answered if not r.ok),
            "audio_minutes_sent": round(minutes, 3),
            "estimated_spend": None if per_min is None else round(minutes * per_min, 4),
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "elapsed_s": round(self.elapsed, 3),
            "stopped": self.stopped,
            "engine": self.engine,
            "realtime_factor": None if self.realtime_factor is None else round(self.realtime_factor, 3),
        }

    def reconcile(
        self, *, project: str | None = None, billed: pd.DataFrame | None = None, **options: Any
    ) -> pd.DataFrame:
        """The billed cost of each file beside its estimate, from Deepgram's request log (the Manage API).

        One row per input with a request_id: file_id, request_id, estimated (its duration at the
        run's price per minute), billed (``usd`` of its request in :func:`dgtools.manage.requests`;
        null while Deepgram's log does not hold it yet), difference (billed - estimated).  Money
        columns are ``decimal128(38, 12)``.

        Parameters
        ----------
        project
            Project id or name (default: the key's only project).
        billed
            A frame from :func:`dgtools.manage.requests` to join with, instead of asking Deepgram.
        **options
            For :class:`dgtools.manage.Manage`: ``api_key=``, ``base_url=``, ``transport=`` ...

        Examples
        --------
        >>> run = dgtools.transcribe("calls/")          # doctest: +SKIP
        >>> run.reconcile()["difference"].sum()          # doctest: +SKIP
        """
        import pandas as pd
        import pyarrow as pa

        from ..manage import Manage
        from ..manage.frames import MONEY_SCALE, money

        rows = [r for r in self.results if r.request_id]
        if billed is None:
            with Manage(**options) as m:
                pid = m.project_id(project)
                if len(rows) <= 50:  # one filtered call each, not the whole log
                    frames = [m.requests(pid, request_id=r.request_id) for r in rows]
                    billed = (
                        pd.concat(frames, ignore_index=True) if frames else m.requests(pid, request_id="-")
                    )
                else:
                    billed = m.requests(pid)
        usd = {str(k): v for k, v in zip(billed["request_id"], billed["usd"], strict=True) if pd.notna(v)}
        per_min = self.estimate.per_minute if self.estimate else None
        estimated = [
            None if per_min is None or r.duration is None
            else money(Decimal(repr(float(r.duration))) * Decimal(repr(per_min)) / 60)
            for r in rows
        ]  # fmt: skip
        paid = [money(usd[r.request_id]) if r.request_id in usd else None for r in rows]
        diff = [None if b is None or e is None else b - e for b, e in zip(paid, estimated, strict=True)]
        dec = pa.decimal128(38, MONEY_SCALE)

        def column(values: list[Any], kind: pa.DataType) -> Any:
            return pd.array(pa.array(values, type=kind), dtype=pd.ArrowDtype(kind))

        return pd.DataFrame(
            {
                "file_id": column([r.file_id for r in rows], pa.string()),
                "request_id": column([r.request_id for r in rows], pa.string()),
                "estimated": column(estimated, dec),
                "billed": column(paid, dec),
                "difference": column(diff, dec),
            }
        )

    def raise_for_errors(self) -> None:
        """Raise the first failure's error (a :class:`DGToolsError`) if any input failed."""
        bad = [r for r in self.results if r.failed]
        if bad:
            first = bad[0]
            more = f" (and {len(bad) - 1} more; see run.failures)" if len(bad) > 1 else ""
            raise DGToolsError(f"{first.source}: {first.message}{more}")

    def __repr__(self) -> str:
        s = self.summary()
        parts = ", ".join(f"{k}={v}" for k, v in s.items() if v and k not in ("files", "elapsed_s", "engine"))
        return f"<dgtools.Run {s['files']} file(s): {parts}; {s['elapsed_s']} s>"

    def _repr_html_(self) -> str:
        try:
            rows = "".join(
                f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in self.summary().items() if v is not None
            )
            return f"<b>dgtools run</b><table>{rows}</table>"
        except Exception:  # notebook reprs never raise
            return "<i>dgtools.Run</i>"
