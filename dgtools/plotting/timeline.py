"""Plots of dgtools tables, in the style of seaborn.

Every function takes the data first (a table of :func:`dgtools.to_tables`),
then keyword-only options, draws on ``ax`` (the current Axes,
``plt.gca()``, when ``None``) and returns it; :func:`corpus_overview` builds
and returns a whole :class:`~matplotlib.figure.Figure`.  Nothing here calls
``plt.show()`` or changes ``rcParams``.  Importing this module does not
import matplotlib (nor librosa): they load when a function is first called.

Empty data warns (:class:`UserWarning`) and returns the Axes untouched.
Large tables stay fast: scatter plots keep at most :data:`MAX_POINTS` points
(every k-th point and all low-confidence ones) and big collections are
rasterized.

Colours of speakers come from :func:`speaker_palette`, shared with the
widgets, so a speaker has the same colour in every plot.

Examples
--------
>>> import dgtools
>>> from dgtools import plotting
>>> tables = dgtools.to_tables("data/responses")                         # doctest: +SKIP
>>> plotting.confidence_timeline(tables.words, file_id="podcast_mono")   # doctest: +SKIP
<Axes: ...>
>>> plotting.speaker_lanes(tables.utterances, file_id="support_call_diarized")  # doctest: +SKIP
<Axes: ...>
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "MAX_POINTS",
    "confidence_distribution",
    "confidence_timeline",
    "corpus_overview",
    "save_plots",
    "search_hits",
    "speaker_lanes",
    "speaker_palette",
    "talk_time",
]

Floats = npt.NDArray[np.float64]
Waveform = str | PathLike[str] | tuple[npt.ArrayLike, float]

#: Scatter plots keep at most this many points (decimation above it).
MAX_POINTS = 50_000
#: Collections with more elements than this are rasterized in vector output.
_RASTERIZE_ABOVE = 5_000
#: Above this many low-confidence stretches they are drawn as one collection, not one axvspan each.
_MAX_SPANS = 1_000
#: Points of a decimated line (rolling mean, ECDF) or of the waveform envelope.
_LINE_POINTS = 4_000

#: tab10 without its grey, which is kept for the null speaker.
_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
)
_NULL_COLOUR = "#7f7f7f"


# --------------------------------------------------------------- palette


def speaker_palette(speakers: Iterable[Any]) -> dict[Any, str]:
    """One fixed colour per speaker, shared by every plot and widget.

    Parameters
    ----------
    speakers : iterable
        Speaker ids (a column such as ``words["speaker"]`` or a list);
        duplicates and nulls (``None``, ``pd.NA``, ``NaN``) are allowed.

    Returns
    -------
    dict
        ``{speaker: "#rrggbb"}`` for every distinct id in sorted order, the
        null speaker (if present) last under the key ``None`` in grey.
        Integer ids take ``tab10[id % 9]`` (tab10 without its grey), so
        speaker 1 has the same colour in every file whatever other speakers
        it holds; other ids take the colours in their sorted order.

    Examples
    --------
    >>> from dgtools.plotting import speaker_palette
    >>> speaker_palette([1, 0, None, 1])
    {0: '#1f77b4', 1: '#ff7f0e', None: '#7f7f7f'}
    """
    values = list(pd.unique(pd.Series(list(speakers), dtype=object)))
    has_null = any(_is_null(v) for v in values)
    ids = sorted({_plain(v) for v in values if not _is_null(v)}, key=lambda v: (not _is_int(v), str(v), v))
    out: dict[Any, str] = {}
    others = 0
    for v in ids:
        if _is_int(v):
            out[v] = _COLOURS[int(v) % len(_COLOURS)]
        else:
            out[v] = _COLOURS[others % len(_COLOURS)]
            others += 1
    if has_null:
        out[None] = _NULL_COLOUR
    return out


def _is_null(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _plain(v: Any) -> Any:
    return int(v) if _is_int(v) else v


def _speaker_key(v: Any) -> Any:
    return None if _is_null(v) else _plain(v)


def _speaker_label(v: Any) -> str:
    return "no speaker" if _is_null(v) else f"Speaker {_plain(v)}"


# --------------------------------------------------------------- helpers


def _pyplot() -> Any:
    import matplotlib.pyplot as plt

    return plt


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    ax_: Axes = _pyplot().gca()
    return ax_


def _warn_empty(fn: str, what: str) -> None:
    warnings.warn(f"{fn}: {what}; nothing to plot", UserWarning, stacklevel=3)


def _floats(s: pd.Series) -> Floats:
    out: Floats = s.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _need(df: pd.DataFrame, fn: str, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        from .exceptions import ConfigError

        raise ConfigError(f"{fn}: the frame lacks columns {missing}; pass {table} of dgtools.to_tables(...)")


def _check_choice(fn: str, name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        from .exceptions import ConfigError

        raise ConfigError(f"{fn}: {name}={value!r} is not one of {list(choices)}")


def _one_file(df: pd.DataFrame, file_id: str | None, fn: str) -> pd.DataFrame:
    """Rows of ``file_id``; without it, the frame must hold a single file."""
    if "file_id" not in df.columns or df.empty:
        return df
    if file_id is not None:
        return df[(df["file_id"] == file_id).fillna(False).to_numpy(dtype=bool)]
    files = list(pd.unique(df["file_id"].dropna()))
    if len(files) > 1:
        from .exceptions import ConfigError

        shown = ", ".join(repr(str(f)) for f in files[:10]) + (", ..." if len(files) > 10 else "")
        raise ConfigError(f"{fn}: the data hold {len(files)} files ({shown}); pass file_id= to choose one")
    return df


def _alternative0(df: pd.DataFrame) -> pd.DataFrame:
    if "alternative" not in df.columns:
        return df
    alt = _floats(df["alternative"])
    keep = (alt == 0) | np.isnan(alt)
    return df if keep.all() else df[keep]


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


def _runs(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """First and last index of every run of True in ``mask``."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(padded)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


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


def _thin(n: int, points: int = _LINE_POINTS) -> npt.NDArray[np.intp]:
    if n <= points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, points).round().astype(np.intp))


def _codes(values: pd.Series, *, numeric: bool) -> tuple[list[Any], npt.NDArray[np.intp]]:
    """Levels (sorted numbers, or strings in order of appearance; ``None`` last) and each row's level."""
    if numeric:
        f = _floats(values)
        null = np.isnan(f)
        uniq = np.unique(f[~null])
        codes = np.searchsorted(uniq, np.where(null, 0.0, f)).astype(np.intp)
        levels: list[Any] = [int(u) if float(u).is_integer() else float(u) for u in uniq]
    else:
        codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
        codes = codes.astype(np.intp)
        null = codes < 0
        levels = [str(u) for u in uniques]
    if null.any():
        codes[null] = len(levels)
        levels.append(None)
    return levels, codes


# ------------------------------------------------------ confidence_timeline


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
    >>> confidence_timeline(tables.words, file_id="support_call_diarized",
    ...                     search_hits=tables.search_hits)          # doctest: +SKIP
    <Axes: title={'center': 'support_call_diarized'}, xlabel='time (s)', ylabel='confidence'>
    """
    fn = "confidence_timeline"
    _check_choice(fn, "hue", hue, ("speaker", "channel", None))
    _need(words, fn, ["start", "end", "confidence"], "the words table")
    ax = _axes(ax)
    df = _alternative0(_one_file(words, file_id, fn))
    if channel is not None and "channel" in df.columns:
        df = df[(df["channel"] == channel).fillna(False).to_numpy(dtype=bool)]
    if df.empty:
        _warn_empty(fn, "no words")
        return ax

    start, end = _floats(df["start"]), _floats(df["end"])
    mid = (start + end) / 2.0
    order = np.argsort(mid, kind="stable")
    mid, start, end = mid[order], start[order], end[order]
    conf = _floats(df["confidence"])[order]
    n = len(mid)
    hue_col = hue if hue is not None and hue in df.columns else None

    # points: one collection per hue level, decimated above MAX_POINTS
    keep = _decimate(n, conf < threshold, MAX_POINTS)
    if hue_col is None:
        levels: list[Any] = [None]
        codes = np.zeros(n, dtype=np.intp)
        colours: dict[Any, str] = {None: _COLOURS[0]}
    else:
        levels, codes = _codes(df[hue_col], numeric=True)
        codes = codes[order]
        colours = speaker_palette(levels) if hue_col == "speaker" else _cycle(levels)
    kc = codes[keep]
    for i, lvl in enumerate(levels):
        idx = keep[kc == i]
        if hue_col == "speaker":
            label = _speaker_label(lvl)
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
            rasterized=len(idx) > _RASTERIZE_ABOVE,
            zorder=3,
        )

    # rolling mean, low-confidence stretches, threshold
    roll = _rolling_mean(conf, window)
    thin = _thin(n)
    ax.plot(mid[thin], roll[thin], color="black", lw=1.5, label=f"rolling mean ({window} words)", zorder=4)
    first, last = _runs(roll < threshold)
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
            hits = hits[(hits["file_id"] == file_id).fillna(False).to_numpy(dtype=bool)]
        elif "file_id" in hits.columns and "file_id" in df.columns:
            hits = hits[hits["file_id"].isin(pd.unique(df["file_id"])).fillna(False).to_numpy(dtype=bool)]
        if channel is not None and "channel" in hits.columns:
            hits = hits[(hits["channel"] == channel).fillna(False).to_numpy(dtype=bool)]
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


def _cycle(levels: Sequence[Any]) -> dict[Any, str]:
    return {
        lvl: (_NULL_COLOUR if lvl is None else _COLOURS[i % len(_COLOURS)]) for i, lvl in enumerate(levels)
    }


def _draw_hit_lines(ax: Axes, hits: pd.DataFrame) -> None:
    _need(hits, "confidence_timeline", ["query", "start"], "the search_hits table")
    start = _floats(hits["start"])
    ok = ~np.isnan(start)
    queries = hits["query"].to_numpy(dtype=object)[ok]
    colours = _cycle(list(pd.unique(pd.Series(queries, dtype=object))))
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
        from .exceptions import ConfigError

        raise ConfigError("confidence_timeline: waveform= takes a path or a (1-D array, sample rate) tuple")
    strip = ax.inset_axes((0.0, 0.0, 1.0, 0.2), sharex=ax)
    strip.set_gid("waveform")
    strip.set_axis_off()
    strip.patch.set_alpha(0.0)
    if len(y):
        bins = min(len(y), 2 * _LINE_POINTS)
        edges = np.linspace(0, len(y), bins + 1).astype(np.intp)
        lo = np.minimum.reduceat(y, edges[:-1])
        hi = np.maximum.reduceat(y, edges[:-1])
        t = edges[:-1] / sr
        peak = float(np.max(np.abs(y))) or 1.0
        strip.fill_between(t, lo / peak, hi / peak, color="0.4", lw=0, gid="waveform")
    strip.set_ylim(-1.05, 1.05)


# ----------------------------------------------------------- speaker_lanes


def _segments(data: pd.DataFrame, fn: str) -> pd.DataFrame:
    _need(data, fn, ["start", "end"], "the words, utterances or turns table")
    df = _alternative0(data)
    return pd.DataFrame(
        {
            "channel": df["channel"].to_numpy(dtype=object) if "channel" in df else np.full(len(df), None),
            "speaker": df["speaker"].to_numpy(dtype=object) if "speaker" in df else np.full(len(df), None),
            "start": _floats(df["start"]),
            "end": _floats(df["end"]),
        }
    )


def _pack(start: Floats, end: Floats) -> npt.NDArray[np.intp]:
    """Sub-row of each segment (sorted by start): the first sub-row whose last end <= start."""
    rows = np.zeros(len(start), dtype=np.intp)
    if len(start) < 2 or (start[1:] >= np.maximum.accumulate(end)[:-1]).all():
        return rows  # nothing overlaps: one sub-row (the usual case, no loop)
    last_end: list[float] = []
    for i, (a, b) in enumerate(zip(start.tolist(), end.tolist(), strict=True)):
        for j, e in enumerate(last_end):
            if e <= a:
                last_end[j] = b
                rows[i] = j
                break
        else:
            rows[i] = len(last_end)
            last_end.append(b)
    return rows


def _merge(start: Floats, end: Floats) -> tuple[Floats, Floats]:
    """Union of intervals sorted by start."""
    if not len(start):
        return start, end
    reach = np.maximum.accumulate(end)
    new = np.concatenate([[True], start[1:] > reach[:-1]])
    first = np.flatnonzero(new)
    last = np.concatenate([first[1:] - 1, [len(start) - 1]])
    return start[first], reach[last]


def _overlaps(lanes: list[tuple[Floats, Floats]]) -> list[tuple[float, float]]:
    """Time spans where two or more lanes speak at once (touching segments do not overlap)."""
    starts = [a for a, _ in lanes]
    ends = [b for _, b in lanes]
    if not starts:
        return []
    t = np.concatenate([*starts, *ends])
    step = np.concatenate([np.ones(sum(map(len, starts))), -np.ones(sum(map(len, ends)))])
    order = np.lexsort((step, t))  # at equal times, ends (-1) before starts (+1)
    t, active = t[order], np.cumsum(step[order])
    on = active >= 2
    first, last = _runs(on)
    return [(float(t[a]), float(t[b + 1])) for a, b in zip(first, last, strict=True) if t[b + 1] > t[a]]


def speaker_lanes(data: pd.DataFrame, *, file_id: str | None = None, ax: Axes | None = None) -> Axes:
    """Who speaks when: one horizontal lane per speaker (and channel).

    Parameters
    ----------
    data : pandas.DataFrame
        The ``words``, ``utterances`` or ``turns`` table (``start``, ``end``;
        ``speaker`` and ``channel`` when present).  Each row is a segment.
    file_id : str, optional
        The file to draw; required when ``data`` hold several files.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: ``plt.gca()``).

    Returns
    -------
    matplotlib.axes.Axes
        Lanes run from top to bottom in (channel, speaker) order.  A lane's
        y tick label is ``"Speaker 0 (62%)"``, or ``"ch1 · spk0 (40%)"`` for
        multichannel audio: the lane's share of the file's summed segment
        time.  Segments are ``broken_barh`` collections (gid ``"segments"``)
        coloured by :func:`speaker_palette`; segments of one lane that
        overlap are packed greedily into sub-rows.  Where different lanes
        speak at once the time is shaded (one collection, gid ``"overlap"``).

    Raises
    ------
    dgtools.ConfigError
        ``data`` hold several files and ``file_id`` is not given, or lack
        ``start``/``end``.

    Examples
    --------
    >>> speaker_lanes(tables.utterances, file_id="support_call_diarized")   # doctest: +SKIP
    <Axes: title={'center': 'support_call_diarized'}, xlabel='time (s)'>
    """
    fn = "speaker_lanes"
    ax = _axes(ax)
    seg = _segments(_one_file(data, file_id, fn), fn)
    seg = seg[~(np.isnan(seg["start"].to_numpy()) | np.isnan(seg["end"].to_numpy()))]
    if seg.empty:
        _warn_empty(fn, "no segments")
        return ax
    seg["channel"] = seg["channel"].map(_speaker_key)
    seg["speaker"] = seg["speaker"].map(_speaker_key)
    multichannel = seg["channel"].nunique(dropna=True) > 1
    palette = speaker_palette(seg["speaker"])

    def sort_key(k: Any) -> tuple[bool, Any]:
        return (k is None, -1 if k is None else k)

    keys = sorted(
        set(zip(seg["channel"], seg["speaker"], strict=True)), key=lambda k: (sort_key(k[0]), sort_key(k[1]))
    )
    total = float((seg["end"] - seg["start"]).clip(lower=0).sum())
    labels: list[str] = []
    merged: list[tuple[Floats, Floats]] = []
    lane_height = 0.8
    for lane, (ch, spk) in enumerate(keys):
        sel = seg[
            (seg["channel"].map(lambda v, ch=ch: v == ch)) & (seg["speaker"].map(lambda v, s=spk: v == s))
        ]
        start, end = sel["start"].to_numpy(), sel["end"].to_numpy()
        order = np.argsort(start, kind="stable")
        start, end = start[order], np.maximum(end[order], start[order])
        rows = _pack(start, end)
        n_rows = int(rows.max()) + 1
        h = lane_height / n_rows
        for r in range(n_rows):
            m = rows == r
            ax.broken_barh(
                list(zip(start[m], end[m] - start[m], strict=True)),
                (lane - lane_height / 2 + r * h, h * 0.9),
                facecolors=palette[spk],
                gid="segments",
                rasterized=int(m.sum()) > _RASTERIZE_ABOVE,
            )
        merged.append(_merge(start, end))
        share = float((end - start).sum()) / total if total > 0 else 0.0
        name = (f"ch{ch}" + ("" if spk is None else f" · spk{spk}")) if multichannel else _speaker_label(spk)
        labels.append(f"{name} ({share:.0%})")

    spans = _overlaps(merged)
    if spans:
        ax.broken_barh(
            [(a, b - a) for a, b in spans],
            (0, 1),
            transform=ax.get_xaxis_transform(),
            facecolors="tab:red",
            alpha=0.2,
            gid="overlap",
            label="overlapping speech",
            zorder=0,
        )
        ax.legend(loc="upper right", fontsize="small")
    ax.set_yticks(range(len(keys)), labels)
    ax.set_ylim(len(keys) - 0.5, -0.5)  # first lane on top
    ax.set_xlabel("time (s)")
    if "file_id" in data.columns and len(data):
        ax.set_title(str(_one_file(data, file_id, fn)["file_id"].iloc[0]))
    return ax


# --------------------------------------------------------------- talk_time


def talk_time(
    data: pd.DataFrame, *, by: Literal["speaker", "channel", "file"] = "speaker", ax: Axes | None = None
) -> Axes:
    """Speaking time as horizontal bars, from ``df.dg.talk_time()``.

    Parameters
    ----------
    data : pandas.DataFrame
        The ``words``, ``utterances`` or ``turns`` table.
    by : {"speaker", "channel", "file"}, default "speaker"
        One bar per (file, channel, speaker) coloured by
        :func:`speaker_palette` and labelled with its share; or the seconds
        summed per (file, channel), or per file.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: ``plt.gca()``).

    Returns
    -------
    matplotlib.axes.Axes
        Bars (``ax.patches``) in table order from the top; their y tick
        labels name them (file and channel are left out when there is only
        one).

    Raises
    ------
    dgtools.ConfigError
        ``by`` is not one of the choices.
    AttributeError
        ``data`` is not a words, utterances or turns table (from ``df.dg``).

    Examples
    --------
    >>> talk_time(tables.utterances, by="speaker")   # doctest: +SKIP
    <Axes: xlabel='seconds'>
    """
    fn = "talk_time"
    _check_choice(fn, "by", by, ("speaker", "channel", "file"))
    ax = _axes(ax)
    if data.empty:
        _warn_empty(fn, "no rows")
        return ax
    from . import accessor  # noqa: F401  registers df.dg

    tt = data.dg.talk_time()
    if tt.empty:
        _warn_empty(fn, "no rows")
        return ax
    many_files = tt["file_id"].nunique() > 1
    many_channels = tt.groupby("file_id", sort=False)["channel"].nunique().max() > 1
    if by == "file":
        agg = tt.groupby("file_id", sort=False, dropna=False)["seconds"].sum()
        names = [str(k) for k in agg.index]
        colours = [_COLOURS[0]] * len(agg)
        notes = [f"{v:.1f} s" for v in agg.to_numpy(dtype=np.float64)]
        seconds = agg.to_numpy(dtype=np.float64)
    elif by == "channel":
        agg = tt.groupby(["file_id", "channel"], sort=False, dropna=False)["seconds"].sum()
        names = [(f"{f} · " if many_files else "") + f"ch{c}" for f, c in agg.index]
        colours = [
            _cycle(sorted(set(tt["channel"].map(_speaker_key)), key=str))[_speaker_key(c)]
            for _, c in agg.index
        ]
        seconds = agg.to_numpy(dtype=np.float64)
        notes = [f"{v:.1f} s" for v in seconds]
    else:
        palette = speaker_palette(tt["speaker"])
        names = []
        for f, c, s in zip(tt["file_id"], tt["channel"], tt["speaker"], strict=True):
            parts = [str(f)] if many_files else []
            parts += [f"ch{c}"] if many_channels else []
            names.append(" · ".join([*parts, _speaker_label(s)]))
        colours = [palette[_speaker_key(s)] for s in tt["speaker"]]
        seconds = _floats(tt["seconds"])
        notes = [
            f"{v:.1f} s ({sh:.0%})"
            for v, sh in zip(seconds, np.nan_to_num(_floats(tt["share"])), strict=True)
        ]
    y = np.arange(len(names))
    bars = ax.barh(y, seconds, color=colours, gid="talk_time")
    ax.bar_label(bars, labels=notes, padding=3, fontsize="small")
    ax.set_yticks(y, names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0, float(np.nanmax(seconds)) * 1.3 if len(seconds) and np.nanmax(seconds) > 0 else 1)
    ax.set_xlabel("seconds")
    return ax


# -------------------------------------------------- confidence_distribution


def confidence_distribution(
    words: pd.DataFrame,
    *,
    by: Literal["file_id", "speaker", "model"] = "file_id",
    kind: Literal["hist", "ecdf"] = "hist",
    requests: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Distribution of word confidence per file, speaker or model.

    Parameters
    ----------
    words : pandas.DataFrame
        The ``words`` table (first alternative only).
    by : {"file_id", "speaker", "model"}, default "file_id"
        One histogram or ECDF per group.  ``"model"`` joins ``requests`` on
        ``file_id`` and groups by its ``model_name`` (else ``model_arch``).
    kind : {"hist", "ecdf"}, default "hist"
        Step histograms of density over 20 bins in [0, 1], or empirical
        cumulative distributions (at most 4,000 points per line).
    requests : pandas.DataFrame, optional
        The ``requests`` table; required for ``by="model"``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: ``plt.gca()``).

    Returns
    -------
    matplotlib.axes.Axes
        Histograms are patches, ECDFs lines, each labelled with its group.

    Raises
    ------
    dgtools.ConfigError
        ``by`` or ``kind`` is invalid, or ``by="model"`` without
        ``requests=``.

    Examples
    --------
    >>> confidence_distribution(tables.words, by="model", requests=tables.requests,
    ...                         kind="ecdf")   # doctest: +SKIP
    <Axes: xlabel='confidence', ylabel='proportion'>
    """
    fn = "confidence_distribution"
    _check_choice(fn, "by", by, ("file_id", "speaker", "model"))
    _check_choice(fn, "kind", kind, ("hist", "ecdf"))
    if by == "model" and requests is None:
        from .exceptions import ConfigError

        raise ConfigError(f"{fn}: by='model' needs the requests table: pass requests=tables.requests")
    _need(words, fn, ["confidence"], "the words table")
    ax = _axes(ax)
    df = _alternative0(words)
    conf = _floats(df["confidence"])
    if by == "model":
        assert requests is not None
        _need(df, fn, ["file_id"], "the words table")
        _need(requests, fn, ["file_id"], "the requests table")
        col = next((c for c in ("model_name", "model_arch") if c in requests.columns), None)
        if col is None:
            _need(requests, fn, ["model_name"], "the requests table")
        model = requests.drop_duplicates("file_id").set_index("file_id")[col]
        groups = df["file_id"].map(model).to_numpy(dtype=object)
    else:
        _need(df, fn, [by], "the words table")
        groups = df[by].to_numpy(dtype=object)
    ok = ~np.isnan(conf)
    conf = conf[ok]
    if not len(conf):
        _warn_empty(fn, "no word confidences")
        return ax
    levels, codes = _codes(pd.Series(groups[ok], dtype=object), numeric=False)
    if by == "speaker":
        levels, codes = _codes(pd.Series(_floats(df["speaker"])[ok]), numeric=True)
    colours = speaker_palette(levels) if by == "speaker" else _cycle(levels)
    bins = np.linspace(0.0, 1.0, 21)
    for i, lvl in enumerate(levels):
        x = conf[codes == i]
        label = _speaker_label(lvl) if by == "speaker" else ("unknown" if lvl is None else str(lvl))
        if kind == "hist":
            ax.hist(
                x, bins=list(bins), density=True, histtype="step", lw=1.5, color=colours[lvl], label=label
            )
        else:
            xs = np.sort(x)
            ys = np.arange(1, len(xs) + 1) / len(xs)
            idx = _thin(len(xs))
            ax.plot(xs[idx], ys[idx], drawstyle="steps-post", color=colours[lvl], label=label)
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("density" if kind == "hist" else "proportion")
    ax.legend(fontsize="small", title=by)
    return ax


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
    >>> search_hits(tables.search_hits, file_id="support_call_diarized")   # doctest: +SKIP
    <Axes: title={'center': 'support_call_diarized'}, xlabel='time (s)'>
    """
    fn = "search_hits"
    _need(hits, fn, ["query", "start"], "the search_hits table")
    ax = _axes(ax)
    df = _one_file(hits, file_id, fn)
    if df.empty:
        _warn_empty(fn, "no search results")
        return ax
    queries = [str(q) for q in pd.unique(df["query"].dropna())]
    colours = _cycle(queries)
    start = _floats(df["start"])
    end = _floats(df["end"]) if "end" in df.columns else start
    conf = (
        np.nan_to_num(_floats(df["confidence"]), nan=1.0) if "confidence" in df.columns else np.ones(len(df))
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


# --------------------------------------------------------- corpus_overview


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
        titled "hours", "words", "mean confidence" and "speakers", one bar
        per file (files of ``requests`` first, in their order).

    Examples
    --------
    >>> fig = corpus_overview(dgtools.to_tables("data/responses"))   # doctest: +SKIP
    >>> [a.get_title() for a in fig.axes]                            # doctest: +SKIP
    ['hours', 'words', 'mean confidence', 'speakers']
    """
    plt = _pyplot()
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
        _warn_empty("corpus_overview", "no files")
        for a, t in zip(axs, titles, strict=True):
            a.set_title(t)
        return fig
    index = pd.Index([str(f) for f in files], name="file_id")
    hours = pd.Series(np.nan, index=index)
    if requests is not None and "duration" in requests.columns:
        d = pd.Series(_floats(requests["duration"]), index=requests["file_id"].astype(str).to_numpy())
        hours = d.groupby(level=0).sum(min_count=1).reindex(index) / 3600.0
    n_words = pd.Series(0.0, index=index)
    mean_conf = pd.Series(np.nan, index=index)
    speakers = pd.Series(0.0, index=index)
    if words is not None and len(words):
        w = _alternative0(words)
        fid = w["file_id"].astype(str).to_numpy()
        n_words = pd.Series(1.0, index=fid).groupby(level=0).sum().reindex(index, fill_value=0.0)
        if "confidence" in w.columns:
            mean_conf = pd.Series(_floats(w["confidence"]), index=fid).groupby(level=0).mean().reindex(index)
        if "speaker" in w.columns:
            spk = pd.Series(_floats(w["speaker"]), index=fid)
            speakers = spk.groupby(level=0).nunique().reindex(index, fill_value=0).astype(np.float64)
    y = np.arange(len(index))
    values = (hours, n_words, mean_conf, speakers)
    formats = ("{:.3f}", "{:.0f}", "{:.2f}", "{:.0f}")
    for a, t, v, f in zip(axs, titles, values, formats, strict=True):
        arr = v.to_numpy(dtype=np.float64)
        bars = a.barh(y, np.nan_to_num(arr), color=_COLOURS[0])
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
    >>> dgtools.plotting.save_plots(run.tables, "dgtools-out/plots")   # doctest: +SKIP
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
