"""Confidence over time: :func:`confidence_timeline` (with a waveform strip and search hits) and :func:`search_hits`."""

from __future__ import annotations

import math
import warnings
from os import PathLike
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._frames import Floats, equals, floats
from ..analysis import first_alternative
from ..exceptions import ConfigError
from ._common import (
    COLOURS,
    LINE_POINTS,
    MAX_POINTS,
    RASTERIZE_ABOVE,
    check_choice,
    current_axes,
    cycle_colours,
    levels_and_codes,
    need_columns,
    one_file,
    speaker_label,
    speaker_palette,
    thin,
    true_runs,
    warn_empty,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Waveform", "confidence_timeline", "search_hits"]

#: Audio for the waveform strip: a path librosa reads, or (samples, sample rate).
Waveform = str | PathLike[str] | tuple[npt.ArrayLike, float]
#: Above this many low-confidence stretches they are drawn as one collection, not one axvspan each.
_MAX_SPANS = 1_000


def _rolling_mean(values: Floats, window: int) -> Floats:
    """Centred mean over ``window`` values (shifted inwards at the edges), ignoring NaN; cumsum, no loop."""
    n = len(values)
    window = max(int(window), 1)
    ok = ~np.isnan(values)
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, values, 0.0))])
    ccount = np.concatenate([[0], np.cumsum(ok)])
    lo = np.clip(np.arange(n) - window // 2, 0, max(n - window, 0))  # edges: the window shifts inwards
    hi = np.clip(lo + window, 0, n)
    counts = ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Floats = np.where(counts > 0, (csum[hi] - csum[lo]) / np.maximum(counts, 1), np.nan)
    return out


def _decimate(n: int, low: npt.NDArray[np.bool_], budget: int) -> npt.NDArray[np.intp]:
    """Indices to draw: all of them up to ``budget``; else all low ones (up to half) and every k-th other."""
    if n <= budget:
        return np.arange(n)
    low_idx = np.flatnonzero(low)
    if len(low_idx) > budget // 2:
        low_idx = low_idx[:: math.ceil(len(low_idx) / (budget // 2))]
    rest = np.flatnonzero(~low)
    room = budget - len(low_idx)
    if len(rest) > room:
        rest = rest[:: math.ceil(len(rest) / room)]
    return np.sort(np.concatenate([low_idx, rest]))


def confidence_timeline(
    words: pd.DataFrame,
    *,
    file_id: str | None = None,
    channel: int | None = None,
    hue: Literal["speaker", "channel"] | None = "speaker",
    window: int = 15,
    threshold: float = 0.6,
    waveform: Waveform | None = None,
    search_hits: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Word confidence over time, with its rolling mean and the stretches below a threshold.

    Parameters
    ----------
    words : pandas.DataFrame
        The ``words`` table (``start``, ``end``, ``confidence``; ``speaker``
        and ``channel`` for ``hue``).  Only the first alternative is drawn.
    file_id : str, optional
        The file to draw; required when ``words`` hold several files.
    channel : int, optional
        Draw one channel only (default: every channel).
    hue : {"speaker", "channel", None}, default "speaker"
        Colour words by speaker (:func:`speaker_palette`), by channel, or
        all alike.
    window : int, default 15
        Words in the centred rolling mean (at the ends of the file the
        window shifts inwards, so it always holds ``window`` words).
    threshold : float, default 0.6
        Dashed horizontal line; stretches whose rolling mean is below it are
        shaded (``axvspan``, gid ``"low_confidence"``).
    waveform : path or (array, sample_rate), optional
        Audio drawn as a strip (an inset Axes sharing the time axis) below
        the points: a path read with ``librosa.load`` (mono, native rate) or
        a 1-D array and its sample rate.
    search_hits : pandas.DataFrame, optional
        The ``search_hits`` table: each hit of this file (and channel) is a
        dotted vertical line at its start, labelled with its query.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: ``plt.gca()``).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    dgtools.ConfigError
        ``words`` hold several files and ``file_id`` is not given (the
        message names them), a needed column is missing, or ``hue`` is
        invalid.

    Examples
    --------
    >>> import dgtools
    >>> from matplotlib.figure import Figure
    >>> tables = dgtools.to_tables("data/responses")
    >>> confidence_timeline(tables.words, file_id="support_call_diarized",
    ...                     search_hits=tables.search_hits, ax=Figure().subplots())
    <Axes: title={'center': 'support_call_diarized'}, xlabel='time (s)', ylabel='confidence'>
    """
    fn = "confidence_timeline"
    check_choice(fn, "hue", hue, ("speaker", "channel", None))
    need_columns(words, fn, ["start", "end", "confidence"], "the words table")
    ax = current_axes(ax)
    df = first_alternative(one_file(words, file_id, fn))
    if channel is not None and "channel" in df.columns:
        df = df[equals(df["channel"], channel)]
    if df.empty:
        warn_empty(fn, "no words")
        return ax

    start, end = floats(df["start"]), floats(df["end"])
    mid = (start + end) / 2.0
    order = np.argsort(mid, kind="stable")
    mid, start, end = mid[order], start[order], end[order]
    conf = floats(df["confidence"])[order]
    n = len(mid)
    hue_col = hue if hue is not None and hue in df.columns else None

    # points: one collection per hue level, decimated above MAX_POINTS
    keep = _decimate(n, conf < threshold, MAX_POINTS)
    if hue_col is None:
        levels: list[Any] = [None]
        codes = np.zeros(n, dtype=np.intp)
        colours: dict[Any, str] = {None: COLOURS[0]}
    else:
        levels, codes = levels_and_codes(df[hue_col], numeric=True)
        codes = codes[order]
        colours = speaker_palette(levels) if hue_col == "speaker" else cycle_colours(levels)
    kc = codes[keep]
    for i, lvl in enumerate(levels):
        idx = keep[kc == i]
        if hue_col == "speaker":
            label = speaker_label(lvl)
        elif hue_col == "channel":
            label = "no channel" if lvl is None else f"channel {lvl}"
        else:
            label = "words"
        ax.scatter(
            mid[idx],
            conf[idx],
            s=12,
            color=colours[lvl],
            alpha=0.7,
            linewidths=0,
            label=label,
            rasterized=len(idx) > RASTERIZE_ABOVE,
            zorder=3,
        )

    # rolling mean, low-confidence stretches, threshold
    roll = _rolling_mean(conf, window)
    line = thin(n)
    ax.plot(mid[line], roll[line], color="black", lw=1.5, label=f"rolling mean ({window} words)", zorder=4)
    first, last = true_runs(roll < threshold)
    if len(first) > _MAX_SPANS:
        spans = list(zip(start[first], end[last] - start[first], strict=True))
        ax.broken_barh(
            spans,
            (0, 1),
            transform=ax.get_xaxis_transform(),
            facecolor="tab:red",
            alpha=0.15,
            gid="low_confidence",
            label="low confidence",
            rasterized=True,
        )
    else:
        for j, (a, b) in enumerate(zip(start[first], end[last], strict=True)):
            ax.axvspan(
                a, b, color="tab:red", alpha=0.15, lw=0, gid="low_confidence",
                label="low confidence" if j == 0 else "_nolegend_",
            )  # fmt: skip
    ax.axhline(threshold, color="grey", ls="--", lw=1, gid="threshold", label=f"threshold {threshold:g}")

    if search_hits is not None:
        hits = search_hits
        if file_id is not None and "file_id" in hits.columns:
            hits = hits[equals(hits["file_id"], file_id)]
        elif "file_id" in hits.columns and "file_id" in df.columns:
            hits = hits[hits["file_id"].isin(pd.unique(df["file_id"])).fillna(False).to_numpy(dtype=bool)]
        if channel is not None and "channel" in hits.columns:
            hits = hits[equals(hits["channel"], channel)]
        _draw_hit_lines(ax, hits)

    ymin = -0.35 if waveform is not None else -0.02
    ax.set_ylim(ymin, 1.05)
    ax.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    if waveform is not None:
        _draw_waveform(ax, waveform)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("confidence")
    if "file_id" in df.columns:
        ax.set_title(str(df["file_id"].iloc[0]))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return ax


def _draw_hit_lines(ax: Axes, hits: pd.DataFrame) -> None:
    need_columns(hits, "confidence_timeline", ["query", "start"], "the search_hits table")
    start = floats(hits["start"])
    ok = ~np.isnan(start)
    queries = hits["query"].to_numpy(dtype=object)[ok]
    colours = cycle_colours(list(pd.unique(pd.Series(queries, dtype=object))))
    trans = ax.get_xaxis_transform()
    for x, q in zip(start[ok], queries, strict=True):
        ax.axvline(x, color=colours[q], ls=":", lw=1.2, gid="search_hit", zorder=2)
        ax.text(x, 1.0, f" {q}", transform=trans, rotation=90, va="top", ha="left",
                fontsize="small", color=colours[q], gid="search_hit_label")  # fmt: skip


def _draw_waveform(ax: Axes, waveform: Waveform) -> None:
    if isinstance(waveform, tuple):
        samples, rate = waveform
        y = np.asarray(samples, dtype=np.float64)
        sr = float(rate)
    else:
        with warnings.catch_warnings():
            # librosa's audioread fallback imports the deprecated aifc/sunau modules, and
            # warns "PySoundFile failed. Trying audioread instead." for formats soundfile cannot read
            warnings.simplefilter("ignore")
            import librosa

            loaded, sr = librosa.load(waveform, sr=None, mono=True)
        y = np.asarray(loaded, dtype=np.float64)
    if y.ndim != 1 or sr <= 0:
        raise ConfigError("confidence_timeline: waveform= takes a path or a (1-D array, sample rate) tuple")
    strip = ax.inset_axes((0.0, 0.0, 1.0, 0.2), sharex=ax)
    strip.set_gid("waveform")
    strip.set_axis_off()
    strip.patch.set_alpha(0.0)
    if len(y):
        bins = min(len(y), 2 * LINE_POINTS)
        edges = np.linspace(0, len(y), bins + 1).astype(np.intp)
        lo = np.minimum.reduceat(y, edges[:-1])
        hi = np.maximum.reduceat(y, edges[:-1])
        t = edges[:-1] / sr
        peak = float(np.max(np.abs(y))) or 1.0
        strip.fill_between(t, lo / peak, hi / peak, color="0.4", lw=0, gid="waveform")
    strip.set_ylim(-1.05, 1.05)


# ------------------------------------------------------------- search_hits


def search_hits(hits: pd.DataFrame, *, file_id: str | None = None, ax: Axes | None = None) -> Axes:
    """Search hits on a timeline: one lane per query, marker size and opacity by confidence.

    Parameters
    ----------
    hits : pandas.DataFrame
        The ``search_hits`` table.  A query with no hits (its row has a null
        ``hit_index``/``start``) keeps an empty lane marked "no hits".
    file_id : str, optional
        The file to draw; required when ``hits`` hold several files.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: ``plt.gca()``).

    Returns
    -------
    matplotlib.axes.Axes
        One scatter collection per query (label = query, x = ``start``),
        lanes top to bottom in the order the queries first appear; y tick
        labels are the queries.

    Raises
    ------
    dgtools.ConfigError
        ``hits`` hold several files and ``file_id`` is not given, or lack
        ``query``/``start``.

    Examples
    --------
    >>> import dgtools
    >>> from matplotlib.figure import Figure
    >>> tables = dgtools.to_tables("data/responses")
    >>> search_hits(tables.search_hits, file_id="support_call_diarized", ax=Figure().subplots())
    <Axes: title={'center': 'support_call_diarized'}, xlabel='time (s)'>
    """
    fn = "search_hits"
    need_columns(hits, fn, ["query", "start"], "the search_hits table")
    ax = current_axes(ax)
    df = one_file(hits, file_id, fn)
    if df.empty:
        warn_empty(fn, "no search results")
        return ax
    queries = [str(q) for q in pd.unique(df["query"].dropna())]
    colours = cycle_colours(queries)
    start = floats(df["start"])
    end = floats(df["end"]) if "end" in df.columns else start
    conf = (
        np.nan_to_num(floats(df["confidence"]), nan=1.0) if "confidence" in df.columns else np.ones(len(df))
    )
    conf = np.clip(conf, 0.0, 1.0)
    q_of = df["query"].to_numpy(dtype=object)
    from matplotlib.colors import to_rgba_array

    for lane, q in enumerate(queries):
        m = (q_of == q) & ~np.isnan(start)
        if not m.any():
            ax.text(0.01, lane, "no hits", transform=ax.get_yaxis_transform(), va="center",
                    fontsize="small", color="0.5", gid="no_hits")  # fmt: skip
            continue
        rgba = to_rgba_array([colours[q]] * int(m.sum()))
        rgba[:, 3] = 0.25 + 0.75 * conf[m]
        ax.hlines(
            np.full(int(m.sum()), lane),
            start[m],
            np.maximum(end[m], start[m]),
            colors=list(map(tuple, rgba)),
            lw=3,
        )
        ax.scatter(start[m], np.full(int(m.sum()), lane), s=20 + 180 * conf[m], c=rgba, label=q, zorder=3)
    ax.set_yticks(range(len(queries)), queries)
    ax.set_ylim(len(queries) - 0.5, -0.5)
    ax.set_xlabel("time (s)")
    if "file_id" in df.columns:
        ax.set_title(str(df["file_id"].iloc[0]))
    return ax
