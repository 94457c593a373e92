"""Label Studio exports read back: the corrected regions, and references made of them for WER.

:func:`read_labelstudio` reads an export (Label Studio JSON, or JSON-MIN) of
the tasks of :func:`dgtools.io.to_labelstudio` as one row per region;
:func:`labelstudio_references` puts the corrected regions in place of the
words they cover in the hypothesis, giving a reference per file for
:func:`dgtools.evaluate.wer`.  The words helpers here serve both modules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from .._frames import Floats, arrow_array, floats, label_id, strings
from ..analysis import word_view
from ..exceptions import ConfigError

__all__ = ["READ_COLUMNS", "labelstudio_references", "read_labelstudio"]

#: Columns of :func:`read_labelstudio`.
READ_COLUMNS = [
    "file_id",
    "task_id",
    "source",
    "annotation_id",
    "region_id",
    "channel",
    "start",
    "end",
    "speaker",
    "label",
    "text",
]
SPEECH = "Speech"
SPEAKER_PREFIX = "Speaker "
_NOT_SPEAKERS = ("Speech", "Noise")

# --------------------------------------------------------------------------- words of each file


@dataclass(frozen=True)
class Words:
    """First-alternative words in word order with what the tasks need, and each file's row range."""

    file_ids: list[str]
    bounds: dict[str, tuple[int, int]]  # file_id -> rows [lo, hi)
    tokens: np.ndarray
    channel: np.ndarray
    speaker: list[str | None]
    start: Floats
    end: Floats
    confidence: Floats

    def order(self, fid: str) -> np.ndarray:
        """Rows of ``fid`` in transcript order: word order, channels merged by start time (as WER reads them)."""
        lo, hi = self.bounds.get(fid, (0, 0))
        rows = np.arange(lo, hi)
        if len(set(self.channel[lo:hi].tolist())) < 2:
            return rows
        start = np.where(np.isnan(self.start[lo:hi]), np.arange(hi - lo, dtype=float), self.start[lo:hi])
        return rows[np.lexsort((np.arange(hi - lo), start))]


def words_of(data: Any, caller: str) -> tuple[Words, Any]:
    """The words of a Tables, Run or words DataFrame, and the Tables (None for a bare frame)."""
    if not isinstance(data, pd.DataFrame) and not hasattr(data, "words") and hasattr(data, "tables"):
        data = data.tables  # a Run of dgtools.transcribe
    tables = None if isinstance(data, pd.DataFrame) else data
    frame = data if isinstance(data, pd.DataFrame) else data.words
    view = word_view(frame, ["file_id", "channel", "word"], caller=caller)
    f = view.frame
    ids = strings(f["file_id"])
    n = len(f)
    speaker: list[str | None] = [None] * n
    if "speaker" in f.columns:
        speaker = [label_id(v) for v in f["speaker"]]
    confidence = floats(f["confidence"]) if "confidence" in f.columns else np.full(n, np.nan)
    bounds: dict[str, tuple[int, int]] = {}
    for i, j in zip(view.bounds[:-1], view.bounds[1:], strict=True):
        fid = str(ids[i])
        lo, _ = bounds.get(fid, (int(i), 0))
        bounds[fid] = (lo, int(j))  # a file's channels are adjacent in word order
    channel = np.array([int(c) if c == c else 0 for c in floats(f["channel"])], dtype=np.int64)
    words = Words(list(bounds), bounds, view.tokens, channel, speaker, view.start, view.end, confidence)
    return words, tables


def requests_of(tables: Any) -> pd.DataFrame | None:
    requests = getattr(tables, "requests", None)
    if isinstance(requests, pd.DataFrame) and "file_id" in requests.columns:
        return requests
    return None


# --------------------------------------------------------------------------- reading an export


def _load(tasks: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if isinstance(tasks, Mapping):
        return [tasks]
    if isinstance(tasks, (str, Path)):
        path = Path(tasks)
        if not path.is_file():
            raise ConfigError(
                f"{str(path)!r} is not a file; pass a Label Studio JSON or JSON-MIN export, or its tasks"
            )
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(
                f"{str(path)!r} is not JSON ({exc}); export the project as JSON or JSON-MIN"
            ) from exc
        return [loaded] if isinstance(loaded, dict) else list(loaded)
    return list(tasks)


def _latest(items: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The ground-truth item if any, else the most recently updated (then created, then last listed)."""
    kept = [(i, a) for i, a in enumerate(items) if not (a.get("was_cancelled") or a.get("skipped"))]
    if not kept:
        return None
    stamp = [
        (bool(a.get("ground_truth")), str(a.get("updated_at") or a.get("created_at") or ""), i)
        for i, a in kept
    ]
    return kept[max(range(len(kept)), key=stamp.__getitem__)][1]


def _speaker(label: str | None) -> str | None:
    if label is None or label in _NOT_SPEAKERS:
        return None
    return label[len(SPEAKER_PREFIX) :] if label.startswith(SPEAKER_PREFIX) else label


def _number(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    return " ".join(str(v).strip() for v in value or () if str(v).strip())


def _file_id(data: Mapping[str, Any]) -> str:
    if data.get("file_id") is not None:
        return str(data["file_id"])
    audio = str(data.get("audio") or "")
    return PurePosixPath(audio.split("?d=")[-1]).name


def _regions(result: Sequence[Mapping[str, Any]], text_name: str, labels_name: str) -> list[dict[str, Any]]:
    """One row a region of a Label Studio result list: its textarea's text, its label's value."""
    texts: dict[str, Mapping[str, Any]] = {}
    labels: dict[str, Mapping[str, Any]] = {}
    order: list[str] = []
    for k, r in enumerate(result):
        rid = str(r.get("id", f"#{k}"))
        if r.get("from_name") == text_name:
            texts[rid] = r.get("value", {})
        elif r.get("from_name") == labels_name:
            labels[rid] = r.get("value", {})
        else:
            continue
        order.append(rid)
    rows = []
    for rid in dict.fromkeys(order):
        if rid not in texts:
            continue  # a region nobody transcribed
        value = texts[rid]
        label_list = labels.get(rid, {}).get("labels") or []
        label = str(label_list[0]) if label_list else None
        rows.append(_row(rid, value, label))
    return rows


def _row(rid: str | None, value: Mapping[str, Any], label: str | None) -> dict[str, Any]:
    return {
        "region_id": rid,
        "channel": _number(value.get("channel")),
        "start": _number(value.get("start")),
        "end": _number(value.get("end")),
        "speaker": _speaker(label),
        "label": label,
        "text": _text(value.get("text")),
    }


def _min_regions(record: Mapping[str, Any], text_name: str, labels_name: str) -> list[dict[str, Any]]:
    """The regions of a JSON-MIN record: its transcriptions, paired with its labels by order."""
    texts = record.get(text_name)
    texts = [] if texts is None else [texts] if isinstance(texts, (str, dict)) else list(texts)
    labels = [v for v in record.get(labels_name) or () if isinstance(v, Mapping)]
    if any(isinstance(t, str) for t in texts) and len(texts) != len(labels):
        raise ConfigError(
            f"JSON-MIN task {record.get('id')!r} has {len(texts)} transcriptions and {len(labels)} labelled "
            "regions, so their times are unknown; export the project as JSON (not JSON-MIN)"
        )
    rows = []
    for i, t in enumerate(texts):
        value = t if isinstance(t, Mapping) else {**labels[i], "text": [t]}
        match = next(
            (v for v in labels if (v.get("start"), v.get("end")) == (value.get("start"), value.get("end"))),
            None,
        )
        label_list = (match or {}).get("labels") or []
        rows.append(_row(None, value, str(label_list[0]) if label_list else None))
    return rows


def read_labelstudio(
    tasks: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    use_predictions: bool = False,
    text_name: str = "transcription",
    labels_name: str = "labels",
) -> pd.DataFrame:
    """The corrected regions of a Label Studio export: one row per region, for :func:`labelstudio_references`.

    Each task gives the regions of one annotation: its ground-truth
    annotation if one is marked, else the most recently updated one that was
    not cancelled or skipped.  A task without such an annotation gives no
    rows, unless ``use_predictions=True``: then its latest prediction is read
    (``source`` says which).  A region is a ``text_name`` textarea result with
    the ``labels_name`` result sharing its ``id`` (its label); a region
    without a textarea result is left out, one with an empty text stays (the
    annotator said nothing is spoken there).  A textarea result without
    times (a whole-file transcription) gives a row with NaN ``start`` and
    ``end``.

    Parameters
    ----------
    tasks : str, Path, list of dict or dict
        A Label Studio JSON export (tasks with ``annotations``), a JSON-MIN
        export (one record per annotation, the latest per task is kept), a
        path to either, or one task.
    use_predictions : bool, default False
        Read the predictions of tasks nobody annotated (never mixed with annotations).
    text_name, labels_name : str
        The ``TextArea`` and ``Labels`` names of the labeling config
        (:func:`labelstudio_config`'s by default).

    Returns
    -------
    pandas.DataFrame
        :data:`READ_COLUMNS`: ``file_id`` (the task's ``data.file_id``, else
        the name of its audio), ``task_id``, ``source`` (``annotation`` or
        ``prediction``), ``annotation_id``, ``region_id``, ``channel``,
        ``start``, ``end``, ``speaker`` (``"1"`` for ``Speaker 1``; null for
        ``Speech``), ``label`` and ``text``, regions of a file by start time.

    Raises
    ------
    ConfigError
        For a path that is no file or no JSON, or a JSON-MIN record whose
        transcriptions cannot be matched to their regions.

    Examples
    --------
    >>> task = {"id": 7, "data": {"file_id": "a.wav", "audio": "a.wav"}, "annotations": [{"id": 1, "result": [
    ...     {"id": "r", "from_name": "labels", "to_name": "audio", "type": "labels",
    ...      "value": {"start": 0.5, "end": 1.4, "channel": 0, "labels": ["Speaker 1"]}},
    ...     {"id": "r", "from_name": "transcription", "to_name": "audio", "type": "textarea",
    ...      "value": {"start": 0.5, "end": 1.4, "channel": 0, "text": ["hi there"]}}]}]}
    >>> read_labelstudio([task])[["file_id", "start", "end", "speaker", "text"]].to_dict("records")
    [{'file_id': 'a.wav', 'start': 0.5, 'end': 1.4, 'speaker': '1', 'text': 'hi there'}]
    """
    rows: list[dict[str, Any]] = []
    latest_min: dict[Any, tuple[tuple[str, int], Mapping[str, Any]]] = {}
    for k, task in enumerate(_load(tasks)):
        if not isinstance(task, Mapping):
            raise ConfigError(
                f"item {k} of the export is a {type(task).__name__}, not a task; export as JSON or JSON-MIN"
            )
        if (
            "data" not in task
        ):  # JSON-MIN: the data fields and the results side by side, one record an annotation
            key = task.get("id", f"#{k}")
            stamp = (str(task.get("updated_at") or task.get("created_at") or ""), k)
            if key not in latest_min or stamp > latest_min[key][0]:
                latest_min[key] = (stamp, task)
            continue
        base = {"file_id": _file_id(task["data"]), "task_id": task.get("id")}
        annotation = _latest(task.get("annotations") or task.get("completions") or [])
        source = "annotation"
        if annotation is None and use_predictions:
            annotation, source = _latest(task.get("predictions") or []), "prediction"
        if annotation is not None:
            for region in _regions(annotation.get("result") or [], text_name, labels_name):
                rows.append({**base, "source": source, "annotation_id": annotation.get("id"), **region})
    for _, record in latest_min.values():
        base = {"file_id": _file_id(record), "task_id": record.get("id"), "source": "annotation"}
        for region in _min_regions(record, text_name, labels_name):
            rows.append({**base, "annotation_id": record.get("annotation_id"), **region})
    return _frame(rows)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    files = {f: k for k, f in enumerate(dict.fromkeys(r["file_id"] for r in rows))}
    order = sorted(
        range(len(rows)), key=lambda i: (files[rows[i]["file_id"]], _sort_time(rows[i]["start"]), i)
    )
    rows = [rows[i] for i in order]

    def col(name: str) -> list[Any]:
        return [r[name] for r in rows]

    def ids(name: str) -> list[str | None]:
        return [None if v is None else str(v) for v in col(name)]

    return pd.DataFrame(
        {
            "file_id": arrow_array(col("file_id"), "str"),
            "task_id": arrow_array(ids("task_id"), "str"),
            "source": arrow_array(col("source"), "str"),
            "annotation_id": arrow_array(ids("annotation_id"), "str"),
            "region_id": arrow_array(col("region_id"), "str"),
            "channel": arrow_array([None if math.isnan(c) else int(c) for c in col("channel")], "int"),
            "start": arrow_array(col("start"), "float"),
            "end": arrow_array(col("end"), "float"),
            "speaker": arrow_array(col("speaker"), "str"),
            "label": arrow_array(col("label"), "str"),
            "text": arrow_array(col("text"), "str"),
        },
        columns=READ_COLUMNS,
    )


def _sort_time(t: float) -> float:
    return -math.inf if math.isnan(t) else t


# --------------------------------------------------------------------------- references


def labelstudio_references(corrected: pd.DataFrame, tables_or_words: Any) -> pd.DataFrame:
    """A reference per corrected file: the hypothesis with each corrected region's words replaced by its text.

    Made for files of which only the low-confidence stretches were checked:
    the unchecked words are taken as right, so such a reference is only as
    good as those words, and the WER against it counts only the errors the
    annotators found (a lower bound of the true WER, unless every word was
    checked, e.g. with ``to_labelstudio(..., stretches=None)``).

    A region replaces the hypothesis words of its channel (any channel when
    its channel is unknown) whose midpoint lies within its ``start`` and
    ``end`` and that no earlier region took; its text goes where the first
    of them was.  A region covering no word is inserted before the first word
    starting after it.  A region without times replaces the whole transcript.

    Parameters
    ----------
    corrected : pandas.DataFrame
        Regions of :func:`read_labelstudio` (``file_id``, ``channel``,
        ``start``, ``end``, ``text``).
    tables_or_words : Tables, Run or pandas.DataFrame
        The words the tasks were made from (the hypothesis).

    Returns
    -------
    pandas.DataFrame
        ``file_id``, ``text`` (the reference), ``regions`` (corrected regions
        used), ``checked_words`` (hypothesis words replaced) and ``hyp_words``,
        one row per file of ``corrected``, for
        ``dgtools.evaluate.wer(tables, refs, file_id=list(refs["file_id"]))``.

    Raises
    ------
    ConfigError
        When ``corrected`` lacks the columns of :func:`read_labelstudio`.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "a", "channel": 0, "word": ["so", "hi", "dare"],
    ...                       "start": [0.0, 0.5, 1.0], "end": [0.4, 0.9, 1.4]})
    >>> fixed = pd.DataFrame({"file_id": ["a"], "channel": [0], "start": [0.5], "end": [1.4],
    ...                       "text": ["hi there"]})
    >>> labelstudio_references(fixed, words)[["file_id", "text", "checked_words"]].to_dict("records")
    [{'file_id': 'a', 'text': 'so hi there', 'checked_words': 2}]
    """
    missing = [c for c in ("file_id", "start", "end", "text") if c not in corrected.columns]
    if missing:
        raise ConfigError(
            f"labelstudio_references needs the regions of read_labelstudio(); they lack columns {missing}"
        )
    words, _ = words_of(tables_or_words, "dgtools.io.labelstudio_references()")
    ids = [str(v) for v in strings(corrected["file_id"])]
    start, end = floats(corrected["start"]), floats(corrected["end"])
    channel = floats(corrected["channel"]) if "channel" in corrected.columns else np.full(len(ids), np.nan)
    texts = [str(v) for v in strings(corrected["text"])]
    out: dict[str, list[Any]] = {
        "file_id": [],
        "text": [],
        "regions": [],
        "checked_words": [],
        "hyp_words": [],
    }
    for fid in dict.fromkeys(ids):
        regions = sorted(
            (i for i, f in enumerate(ids) if f == fid), key=lambda i: (_sort_time(float(start[i])), i)
        )
        rows = words.order(fid)
        n = len(rows)
        taken = np.zeros(n, dtype=bool)
        inserts: dict[int, list[str]] = {}
        if any(math.isnan(start[i]) or math.isnan(end[i]) for i in regions):
            taken[:] = True
            inserts[0] = [texts[i] for i in regions if math.isnan(start[i]) or math.isnan(end[i])]
        else:
            mid = (words.start[rows] + words.end[rows]) / 2
            chan = words.channel[rows]
            for i in regions:
                with np.errstate(invalid="ignore"):
                    inside = ~taken & (mid >= start[i]) & (mid <= end[i])
                if not math.isnan(channel[i]):
                    inside &= chan == int(channel[i])
                hit = np.flatnonzero(inside)
                if len(hit):
                    pos = int(hit[0])
                else:
                    after = np.flatnonzero(words.start[rows] >= start[i])
                    pos = int(after[0]) if len(after) else n
                taken[hit] = True
                inserts.setdefault(pos, []).append(texts[i])
        pieces: list[str] = []
        for p in range(n + 1):
            pieces += inserts.get(p, [])
            if p < n and not taken[p]:
                pieces.append(str(words.tokens[rows[p]]))
        out["file_id"].append(fid)
        out["text"].append(" ".join(s for s in pieces if s.strip()))
        out["regions"].append(len(regions))
        out["checked_words"].append(int(taken.sum()))
        out["hyp_words"].append(n)
    return pd.DataFrame(
        {
            "file_id": arrow_array(out["file_id"], "str"),
            "text": arrow_array(out["text"], "str"),
            "regions": arrow_array(out["regions"], "int"),
            "checked_words": arrow_array(out["checked_words"], "int"),
            "hyp_words": arrow_array(out["hyp_words"], "int"),
        }
    )
