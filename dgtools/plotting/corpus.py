"""Whole corpora: :func:`corpus_overview` (one figure of four panels) and :func:`save_plots` (PNG files)."""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._frames import floats
from ..analysis import file_stats
from ._common import COLOURS, pyplot, warn_empty
from .speakers import speaker_lanes
from .timeline import confidence_timeline

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["corpus_overview", "save_plots"]


def _table(tables: Any, name: str) -> pd.DataFrame | None:
    got = tables.get(name) if isinstance(tables, Mapping) else getattr(tables, name, None)
    return got if isinstance(got, pd.DataFrame) else None


def corpus_overview(tables: Any, *, figsize: tuple[float, float] = (10.0, 6.0)) -> Figure:
    """Four panels about a corpus: hours, words, mean confidence and speakers per file.

    Parameters
    ----------
    tables : dgtools.Tables or mapping of name to DataFrame
        The result of :func:`dgtools.to_tables` (uses ``requests`` and
        ``words``).
    figsize : (float, float), default (10, 6)
        Size of the new figure in inches.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure (made with ``plt.figure``) of four bar-chart Axes,
        titled "hours" (``requests.duration``), "words", "mean confidence"
        and "speakers", one bar per file (files of ``requests`` first, in
        their order), each labelled with its value.  Words, speakers and
        mean confidence are those of :func:`dgtools.analysis.file_stats`
        (first-alternative words of every channel; distinct non-null speaker
        ids, 0 without diarization), the numbers of
        :func:`dgtools.widgets.compare_table`; counts are labelled as integers.

    Examples
    --------
    >>> import dgtools
    >>> import matplotlib.pyplot as plt
    >>> fig = corpus_overview(dgtools.to_tables("data/responses"))
    >>> [a.get_title() for a in fig.axes]
    ['hours', 'words', 'mean confidence', 'speakers']
    >>> [t.get_text() for t in fig.axes[1].texts]  # words per file
    ['50', '16', '59', '0', '79', '67']
    >>> plt.close(fig)
    """
    plt = pyplot()
    fig: Figure = plt.figure(figsize=figsize, layout="constrained")
    axs = fig.subplots(2, 2, sharey=True).ravel()
    titles = ("hours", "words", "mean confidence", "speakers")
    requests = _table(tables, "requests")
    words = _table(tables, "words")
    files: list[Any] = []
    if requests is not None and "file_id" in requests.columns:
        files += list(pd.unique(requests["file_id"]))
    if words is not None and "file_id" in words.columns:
        files += [f for f in pd.unique(words["file_id"]) if f not in set(files)]
    if not files:
        warn_empty("corpus_overview", "no files")
        for a, t in zip(axs, titles, strict=True):
            a.set_title(t)
        return fig
    index = pd.Index([str(f) for f in files], name="file_id")
    hours = pd.Series(np.nan, index=index)
    if requests is not None and "duration" in requests.columns:
        d = pd.Series(floats(requests["duration"]), index=requests["file_id"].astype(str).to_numpy())
        hours = d.groupby(level=0).sum(min_count=1).reindex(index) / 3600.0
    n_words = pd.Series(0.0, index=index)
    mean_conf = pd.Series(np.nan, index=index)
    speakers = pd.Series(0.0, index=index)
    if words is not None and len(words):
        stats = file_stats(words, caller="dgtools.plotting.corpus_overview()")
        stats.index = pd.Index(stats["file_id"].astype(str).to_numpy(), name="file_id")
        n_words = pd.Series(floats(stats["words"]), index=stats.index).reindex(index, fill_value=0.0)
        speakers = pd.Series(floats(stats["speakers"]), index=stats.index).reindex(index, fill_value=0.0)
        mean_conf = pd.Series(floats(stats["mean_confidence"]), index=stats.index).reindex(index)
    y = np.arange(len(index))
    values = (hours, n_words, mean_conf, speakers)
    formats = ("{:.3f}", "{:.0f}", "{:.2f}", "{:.0f}")
    for a, t, v, f in zip(axs, titles, values, formats, strict=True):
        arr = v.to_numpy(dtype=np.float64)
        bars = a.barh(y, np.nan_to_num(arr), color=COLOURS[0])
        a.bar_label(
            bars, labels=["–" if np.isnan(x) else f.format(x) for x in arr], padding=2, fontsize="small"
        )
        a.set_title(t)
        top = float(np.nanmax(arr)) if np.isfinite(arr).any() else 0.0
        a.set_xlim(0, top * 1.25 if top > 0 else 1.0)
    axs[0].set_yticks(y, list(index))
    axs[0].set_ylim(len(index) - 0.5, -0.5)
    return fig


def save_plots(tables: Any, folder: str | PathLike[str], *, dpi: int = 110) -> list[Path]:
    """Write a confidence timeline and a speaker-lanes PNG per file: ``folder/<file_id>.timeline.png``, ``.lanes.png``.

    The command line's ``dgtools transcribe`` calls this for every run.  It
    uses bare :class:`matplotlib.figure.Figure` objects (no pyplot, so no
    GUI backend and no global state); files without words are skipped.
    Slashes in file ids become ``__``.

    Returns
    -------
    list of pathlib.Path
        The PNG files written.

    Examples
    --------
    >>> import dgtools, tempfile
    >>> tables = dgtools.to_tables("data/responses/support_call_diarized.json")
    >>> [path.name for path in save_plots(tables, tempfile.mkdtemp())]
    ['support_call_diarized.timeline.png', 'support_call_diarized.lanes.png']
    """
    from matplotlib.figure import Figure

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    words = tables.words
    segments = tables.utterances if len(tables.utterances) else words
    written: list[Path] = []
    for fid in pd.unique(words["file_id"]) if len(words) else []:
        name = str(fid).replace("/", "__")
        w = words[words["file_id"] == fid]
        fig = Figure(figsize=(11, 3.2))
        confidence_timeline(w, ax=fig.subplots())  # titled with the file_id
        fig.savefig(out / f"{name}.timeline.png", dpi=dpi, bbox_inches="tight")
        written.append(out / f"{name}.timeline.png")
        seg = segments[segments["file_id"] == fid]
        if not len(seg):
            seg = w
        fig = Figure(figsize=(11, 2.4))
        speaker_lanes(seg, ax=fig.subplots())
        fig.savefig(out / f"{name}.lanes.png", dpi=dpi, bbox_inches="tight")
        written.append(out / f"{name}.lanes.png")
    return written
