"""Two transcriptions of the same files side by side: :func:`compare_table`, :func:`diff_html`, :class:`Comparison`."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._frames import equals, floats
from ..analysis import diff_rate, file_stats, word_diff, word_tokens
from ..exceptions import ConfigError
from ._common import file_ids, file_words, load_ipywidgets, safe_bundle

if TYPE_CHECKING:
    from ..tables import Tables

__all__ = ["Comparison", "compare", "compare_table", "diff_html"]

#: The measures of compare_table that are counts: nullable integers (``Int64``), never floats.
_COUNTS = ("words", "speakers")


def _file_stats(tables: Tables) -> dict[str, tuple[int, int, float]]:
    """``file_id -> (words, speakers, mean confidence)`` of :func:`dgtools.analysis.file_stats`."""
    stats = file_stats(tables.words, caller="dgtools.widgets.compare_table()")
    return {
        str(f): (int(n), int(s), float(c))
        for f, n, s, c in zip(
            stats["file_id"], stats["words"], stats["speakers"], floats(stats["mean_confidence"]), strict=True
        )
    }


def _duration(tables: Tables, file_id: str) -> float:
    req = tables.requests
    dur = floats(req.loc[equals(req["file_id"], file_id), "duration"]) if "duration" in req else np.array([])
    return float(dur[0]) if len(dur) else math.nan


def compare_table(a: Tables, b: Tables, labels: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Per-file differences between two sets of tables (e.g. two models on the same audio).

    Returns
    -------
    pandas.DataFrame
        One row per file of either set (sorted by ``file_id``) with, for
        each label ``x``: ``words_x`` (first-alternative words, every
        channel), ``mean_confidence_x``, ``speakers_x`` (distinct non-null
        speaker ids, 0 without diarization), all three from
        :func:`dgtools.analysis.file_stats` as in
        :func:`dgtools.plotting.corpus_overview`, and ``duration_x`` (from
        ``requests``); the deltas ``words_delta``, ``mean_confidence_delta``,
        ``speakers_delta``, ``duration_delta`` (b minus a); and
        ``word_diff_rate``: substituted, deleted and inserted words of b
        against a, over a's word count (a WER with a as the reference;
        ``inf`` when a has no words and b has some).  Counts (``words_*``,
        ``speakers_*``) are nullable integers (``Int64``), the rest
        ``float64``; a file missing from one set has nulls (``<NA>``,
        ``NaN``) on that side.

    Examples
    --------
    >>> import dgtools, pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": 0, "word": ["the", "cat", "sat"],
    ...                       "start": [0.0, 1.0, 2.0], "end": [1.0, 2.0, 3.0], "confidence": 0.9})
    >>> a = dgtools.Tables({"words": words})
    >>> b = dgtools.Tables({"words": words.assign(word=["the", "hat", "sat"])})
    >>> compare_table(a, b, labels=("old", "new"))[["file_id", "words_old", "words_new", "word_diff_rate"]]
      file_id  words_old  words_new  word_diff_rate
    0       f          3          3        0.333333
    """
    la, lb = labels
    if la == lb:
        raise ConfigError(f"compare_table: labels must differ, got {labels!r}")
    ids_a, ids_b = set(file_ids(a)), set(file_ids(b))
    stats_a, stats_b = _file_stats(a), _file_stats(b)
    nothing = (0, 0, math.nan)  # a file of the set without words
    rows = []
    for fid in sorted(ids_a | ids_b):
        row: dict[str, Any] = {"file_id": fid}
        for label, tables, ids, stats in ((la, a, ids_a, stats_a), (lb, b, ids_b, stats_b)):
            n, spk, conf = stats.get(fid, nothing) if fid in ids else (None, None, math.nan)
            row[f"words_{label}"], row[f"speakers_{label}"] = n, spk
            row[f"mean_confidence_{label}"] = conf
            row[f"duration_{label}"] = _duration(tables, fid) if fid in ids else math.nan
        for what in _COUNTS:
            x, y = row[f"{what}_{la}"], row[f"{what}_{lb}"]
            row[f"{what}_delta"] = None if x is None or y is None else y - x
        for what in ("mean_confidence", "duration"):
            row[f"{what}_delta"] = row[f"{what}_{lb}"] - row[f"{what}_{la}"]
        both = fid in ids_a and fid in ids_b
        row["word_diff_rate"] = diff_rate(_tokens(a, fid), _tokens(b, fid)) if both else math.nan
        rows.append(row)
    columns = ["file_id"]
    for what in ("words", "mean_confidence", "speakers", "duration"):
        columns += [f"{what}_{la}", f"{what}_{lb}", f"{what}_delta"]
    columns.append("word_diff_rate")
    out = pd.DataFrame(rows, columns=columns)
    counts = {f"{what}_{x}" for what in _COUNTS for x in (la, lb, "delta")}
    for c in columns[1:]:
        out[c] = out[c].astype("Int64" if c in counts else np.float64)
    return out


def _tokens(tables: Tables, file_id: str) -> list[str]:
    w = file_words(tables.words, file_id)
    tokens: list[str] = word_tokens(w).tolist() if len(w) else []
    return tokens


def diff_html(ops: list[tuple[str, str, str]], labels: tuple[str, str] = ("a", "b")) -> str:
    """Two columns of HTML from :func:`word_diff`: deleted words struck in a, inserted ones marked in b.

    Examples
    --------
    >>> html = diff_html(word_diff(["the", "cat"], ["the", "hat", "sat"]), labels=("old", "new"))
    >>> html.count('<del class="dg-replace"'), html.count('<ins class="dg-replace"'), "<th>new</th>" in html
    (1, 1, True)
    """
    left: list[str] = []
    right: list[str] = []
    for op, at, bt in ops:
        ea, eb = html.escape(at), html.escape(bt)
        if op == "equal":
            left.append(ea)
            right.append(eb)
        elif op == "delete":
            left.append(f'<del class="dg-delete" style="background:#fdd">{ea}</del>')
        elif op == "insert":
            right.append(f'<ins class="dg-insert" style="background:#dfd">{eb}</ins>')
        else:
            left.append(f'<del class="dg-replace" style="background:#ffe4b3">{ea}</del>')
            right.append(f'<ins class="dg-replace" style="background:#ffe4b3">{eb}</ins>')
    cell = 'style="vertical-align:top;padding:4px;width:50%"'
    return (
        '<table class="dg-diff" style="width:100%;table-layout:fixed"><tr>'
        f"<th>{html.escape(labels[0])}</th><th>{html.escape(labels[1])}</th></tr>"
        f"<tr><td {cell}>{' '.join(left)}</td><td {cell}>{' '.join(right)}</td></tr></table>"
    )


class Comparison:
    """Two sets of tables side by side: see :func:`compare`.

    Attributes: ``root`` (VBox), ``file`` (Dropdown), ``diff`` (HTML: the
    word diff of the chosen file), ``summary`` (HTML: ``table``), ``table``
    (the :func:`compare_table` DataFrame).
    """

    def __init__(self, a: Tables, b: Tables, *, labels: tuple[str, str] = ("a", "b")) -> None:
        w = load_ipywidgets()
        self.a, self.b, self.labels = a, b, labels
        self.table = compare_table(a, b, labels)
        ids = list(self.table["file_id"])
        self.file = w.Dropdown(options=ids, value=ids[0] if ids else None, description="file")
        self.diff = w.HTML(value="")
        self.summary = w.HTML(value=self.table.to_html(index=False, float_format=lambda v: f"{v:.3f}"))
        self.root = w.VBox([self.summary, self.file, self.diff])
        self.file.observe(self._on_file, names="value")
        self._on_file()

    def _on_file(self, _change: Any = None) -> None:
        fid = self.file.value
        if fid is None:
            self.diff.value = "<i>no files</i>"
            return
        ops = word_diff(file_words(self.a.words, fid), file_words(self.b.words, fid))
        self.diff.value = diff_html(ops, self.labels)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return safe_bundle(self.root, "Comparison", kwargs)

    def __repr__(self) -> str:
        return f"<Comparison {self.labels[0]!r} vs {self.labels[1]!r}: {len(self.table)} files>"


def compare(a: Tables, b: Tables, *, labels: tuple[str, str] = ("a", "b")) -> Comparison:
    """Compare two transcriptions of the same files (per-file table and word diff).

    Pick a file in the dropdown to see the :func:`word_diff` of its words
    (:func:`diff_html`) under the :func:`compare_table` of every file.

    Raises
    ------
    WidgetsUnavailableError
        ipywidgets is not installed (``pip install ipywidgets``).

    Examples
    --------
    >>> import dgtools
    >>> tables = dgtools.to_tables("data/responses")
    >>> compare(tables, tables, labels=("nova-3", "again"))
    <Comparison 'nova-3' vs 'again': 6 files>
    """
    return Comparison(a, b, labels=labels)
