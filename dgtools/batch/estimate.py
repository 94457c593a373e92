"""What sending some audio would cost, before anything is sent: :func:`estimate` and :class:`Estimate`.

The same planning as a run (:mod:`dgtools.batch.plan`): the audio is found as a run finds it
(:func:`dgtools.audio.collect`), each file is hashed and its duration probed, files the store
already holds for the same options are not counted, nor is the same audio twice, and the rest is
priced with :func:`dgtools.pricing.estimate_cost`.  No key is needed and nothing is sent or written.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._aio import sync_twin
from ..api.auth import split_api_version
from ..audio import Skipped, collect
from ..exceptions import ConfigError
from ..options import ListenOptions, check_model
from ..pricing import ASSUMED_KBPS, estimate_cost
from ..store import RemoteStore, Store, open_store, store_digest
from .plan import Job, input_order, plan, summarize
from .run import FileResult, PlanSummary
from .settings import engine_choice, engine_key

if TYPE_CHECKING:
    import pandas as pd

    from ..pricing import CostEstimate

__all__ = ["ESTIMATE_COLUMNS", "Estimate", "estimate"]

#: Columns of :attr:`Estimate.files`.
ESTIMATE_COLUMNS = ("file", "status", "seconds", "minutes", "dollars", "duration_from", "note")

_DOC = """What transcribing some audio would cost, without sending anything: one line in a notebook.

Parameters
----------
source
    As for :func:`dgtools.transcribe`: a folder (searched recursively), a file, a glob, a URL,
    or a list of those.
store
    A raw-response store (:func:`dgtools.transcribe`'s ``store=``), a folder or a URL such as
    ``s3://bucket/prefix``: files it already holds for the same options and engine are
    ``"stored"`` and not counted.  None (default): every file counts.  The store is only read.
storage_options
    With a URL ``store``: passed to the filesystem (credentials,
    ``client_kwargs={"endpoint_url": ...}``), as for :func:`dgtools.transcribe`.
patterns
    Filename patterns to consider in folders (``("*.wav", "*.mp3")``).
engine
    ``"deepgram"`` (default: what Deepgram would charge), ``"whisper"`` or ``"local"`` (the
    offline engines: free) or ``"auto"`` (as :func:`dgtools.transcribe` would choose).  The store
    key depends on it.
whisper_model
    For ``engine="whisper"``: the model (as for :func:`dgtools.transcribe`); the store key depends on it.
api_version
    ``"v2"``: the files would go to Deepgram's old v2 API (as :func:`dgtools.transcribe`'s
    ``api_version="v2"``), whose answers are stored apart from v1's: the store is looked up for
    those.  Default ``"v1"``.
**options
    The ``/v1/listen`` options the files would be sent with (``model="nova-3"`` sets the price;
    all of them are part of the store key).

Returns
-------
Estimate
    ``.files`` (one row per input) and ``.total`` (a :class:`~dgtools.pricing.CostEstimate`).

Raises
------
ConfigError
    An invalid option, an unknown engine, or (engine ``"deepgram"``) a model Deepgram does not
    offer, with a did-you-mean; ``storage_options`` without a store URL; an unknown
    ``api_version``, or ``"v2"`` with an offline engine.

Examples
--------
>>> import dgtools
>>> e = dgtools.estimate("data/audio", model="nova-3")
>>> e.total.files, round(e.total.minutes, 2), e.total.dollars
(4, 1.02, 0.004407)
>>> e.files[["file", "status", "minutes", "dollars"]].head(2)
                         file   status   minutes   dollars
0  data/audio/one_speaker.wav  to send  0.211052  0.000908
1      data/audio/silence.wav  to send      0.05  0.000215
>>> print(e)
engine deepgram: what Deepgram's API would charge (engine='local' is free)
plan: 4 file(s) to send
estimate: 4 file(s), 1.0 audio minutes with nova-3: $0.0044 at $0.0043/min (prices of 2026-11-21, add-ons not included)
"""


@dataclass(frozen=True, eq=False)
class Estimate:
    """The cost of some audio before it is sent: :func:`estimate`'s answer.

    Attributes
    ----------
    files : pandas.DataFrame
        One row per input, in input order: ``file``; ``status`` (``to send``, ``stored``: the
        store holds it; ``duplicate``: the same audio as another input, sent once; ``skipped``: not
        usable audio; ``ignored``: not audio, found in a folder); ``seconds`` and ``minutes`` of
        audio; ``dollars`` it would cost (0 when it would not be sent again, null when it would not
        be sent at all); ``duration_from`` (``probed``: read from the file; ``size``: estimated from
        its size at :data:`~dgtools.pricing.ASSUMED_KBPS` kbit/s; ``unknown``: a URL) and ``note``
        (why it is not sent, when it is not).
    total : CostEstimate
        What the files to send cost together (as the run's ``run.estimate`` would say).
    plan : PlanSummary
        The plan a run would print: engine, files to send, stored, duplicates, skipped, ignored.
    """

    files: pd.DataFrame
    total: CostEstimate
    plan: PlanSummary

    def __str__(self) -> str:
        return str(self.plan)

    def __repr__(self) -> str:
        p = self.plan
        pairs = ((p.to_send, "to send"), (p.stored, "stored"), (p.duplicates, "duplicate"),
                 (p.skipped, "skipped"), (p.ignored, "ignored"))  # fmt: skip
        counts = ", ".join(f"{n} {what}" for n, what in pairs if n or what == "to send")
        return f"<dgtools.Estimate {counts}: {self.total}>"

    def _repr_html_(self) -> str:
        try:
            head = "<br>".join(html.escape(line) for line in str(self.plan).splitlines())
            table = self.files.to_html(index=False, na_rep="", float_format=lambda x: f"{x:,.4g}")
            return f"<div><b>dgtools estimate</b><br>{head}{table}</div>"
        except Exception:  # notebook reprs never raise
            return "<i>dgtools.Estimate</i>"


async def _aestimate(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    store: str | os.PathLike[str] | Store | RemoteStore | None = None,
    storage_options: Mapping[str, Any] | None = None,
    patterns: Sequence[str] = ("*",),
    engine: str = "deepgram",
    whisper_model: str | None = None,
    api_version: str | None = None,
    **options: Any,
) -> Estimate:
    opts = ListenOptions.from_kwargs(**options)
    chosen, why = engine_choice(engine)
    _, version = split_api_version(None, api_version)
    if version == "v2" and chosen != "deepgram":
        raise ConfigError(
            f"api_version='v2' (the old Deepgram API) is for engine='deepgram'; this estimate uses engine={chosen!r}"
        )
    if chosen == "deepgram":
        check_model(opts.model)
        if engine == "deepgram":
            why = "engine deepgram: what Deepgram's API would charge (engine='local' is free)"
    st = _open(store, storage_options)
    found, skipped = collect(source, patterns=patterns)
    results: list[FileResult] = []
    # the key a run would store under: the old API's answers are filed apart (RunSettings.engine_key)
    key = "deepgram-v2" if version == "v2" else engine_key(chosen, whisper_model)
    jobs = await plan(found, st, store_digest(opts, key), results)
    to_send = [j for j in jobs if j.primary and not j.stored]
    free = chosen != "deepgram"
    total = estimate_cost(
        [j.duration for j in to_send], sizes=[j.audio.size for j in to_send], model=opts.model, free=free
    )
    summary = summarize(
        chosen,
        why,
        jobs,
        total,
        skipped=sum(s.kind != "ignored" for s in skipped) + sum(r.status == "failed" for r in results),
        ignored=sum(s.kind == "ignored" for s in skipped),
    )
    by_result = {id(j.result): j for j in jobs}
    rows: list[tuple[FileResult, dict[str, Any]]] = []
    for r in results:
        job = by_result.get(id(r))
        rows.append((r, _job_row(job, opts.model, free) if job else _unread_row(r)))
    for s in skipped:
        rows.append((FileResult(s.source, s.file_id, "skipped"), _skipped_row(s)))
    order = input_order(source)
    rows.sort(key=lambda pair: order(pair[0]))
    return Estimate(files=_frame([row for _, row in rows]), total=total, plan=summary)


estimate = sync_twin(_aestimate, name="estimate", doc=_DOC)


def _open(
    store: str | os.PathLike[str] | Store | RemoteStore | None, storage_options: Mapping[str, Any] | None
) -> Store | RemoteStore:
    """The store to look files up in (a folder or a URL), or one that holds nothing."""
    if isinstance(store, (Store, RemoteStore)) or store is None:
        if storage_options:
            raise ConfigError("storage_options= go with a store URL, not with store=None or a store object")
        return _NoStore() if store is None else store
    return open_store(store, storage_options=storage_options)


class _NoStore(Store):
    """No store: nothing is held, so every file counts."""

    def __init__(self) -> None:
        super().__init__(os.devnull)

    def has(self, key: str) -> bool:
        return False


def _job_row(job: Job, model: str | None, free: bool) -> dict[str, Any]:
    a = job.audio
    cost = estimate_cost([job.duration], sizes=[a.size], model=model, free=free)
    known = job.duration is not None or a.size is not None
    row: dict[str, Any] = {
        "file": a.source,
        "seconds": job.duration if job.duration is not None else cost.minutes * 60 if known else None,
        "minutes": cost.minutes if known else None,
        "duration_from": "probed" if job.duration is not None else "size" if known else "unknown",
    }
    if job.stored:
        row.update(status="stored", dollars=0.0, note="already in the store: not sent again")
    elif not job.primary:
        twin = job.twin.audio.source if job.twin is not None else "another input"
        row.update(status="duplicate", dollars=0.0, note=f"same audio as {twin}: sent once")
    else:
        note = None if job.duration is not None else (
            f"duration unknown: estimated from its size at {ASSUMED_KBPS} kbit/s" if known
            else "a URL: Deepgram fetches it, its length is not known here"
        )  # fmt: skip
        row.update(status="to send", dollars=cost.dollars if known else None, note=note)
    return row


def _unread_row(r: FileResult) -> dict[str, Any]:
    return {"file": r.source, "status": "skipped", "note": r.message}


def _skipped_row(s: Skipped) -> dict[str, Any]:
    status = "ignored" if s.kind == "ignored" else "skipped"
    return {"file": s.source, "status": status, "note": s.reason}


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS))
    return df.astype(
        {
            "file": "string",
            "status": "string",
            "seconds": "Float64",
            "minutes": "Float64",
            "dollars": "Float64",
            "duration_from": "string",
            "note": "string",
        }
    )
