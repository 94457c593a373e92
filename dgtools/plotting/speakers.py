"""Who speaks when, and how much: :func:`speaker_lanes` and :func:`talk_time`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from .. import analysis
from .._frames import Floats, floats, plain
from ._common import (
    COLOURS,
    RASTERIZE_ABOVE,
    check_choice,
    current_axes,
    cycle_colours,
    need_columns,
    one_file,
    speaker_label,
    speaker_palette,
    true_runs,
    warn_empty,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["speaker_lanes", "talk_time"]


def _segments(data: pd.DataFrame, fn: str) -> pd.DataFrame:
    need_columns(data, fn, ["start", "end"], "the words, utterances or turns table")
    df = analysis.first_alternative(data)
    return pd.DataFrame(
        {
            "channel": df["channel"].to_numpy(dtype=object) if "channel" in df else np.full(len(df), None),
            "speaker": df["speaker"].to_numpy(dtype=object) if "speaker" in df else np.full(len(df), None),
            "start": floats(df["start"]),
            "end": floats(df["end"]),
        }
    )


def _lane_shares(data: pd.DataFrame, fn: str) -> dict[tuple[Any, Any], float]:
    """Each ``(channel, speaker)`` lane's share of the file's speaking time, as :func:`dgtools.analysis.talk_time`.

    The speaking time of :func:`dgtools.analysis.speaking_turns` (turn spans),
    over the summed speaking time of every lane; a frame without ``file_id``,
    ``channel`` or ``speaker`` is taken as one file, one channel, or without
    diarization.
    """
    missing = {c: None for c in ("file_id", "channel", "speaker") if c not in data.columns}
    filled = data.assign(**missing) if missing else data
    turns = analysis.speaking_turns(filled, caller=f"dgtools.plotting.{fn}()")
    seconds: dict[tuple[Any, Any], float] = {}
    for ch, spk, sec in zip(turns["channel"], turns["speaker"], floats(turns["seconds"]), strict=True):
        key = (plain(ch), plain(spk))
        seconds[key] = seconds.get(key, 0.0) + float(sec)
    total = sum(seconds.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in seconds.items()}


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
    first, last = true_runs(on)
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
        multichannel audio: the lane's share of the file's speaking time,
        the ``share`` of :func:`dgtools.analysis.talk_time` (turn spans, from
        each turn's first word to its last, so words, utterances and turns
        give the same share); the y axis label says so.  Each row of ``data``
        is drawn as it is: segments are ``broken_barh`` collections (gid
        ``"segments"``) coloured by :func:`speaker_palette`; segments of one
        lane that overlap are packed greedily into sub-rows.  Where
        different lanes speak at once the time is shaded (one collection,
        gid ``"overlap"``).

    Warns
    -----
    DGToolsWarning
        ``data`` is the turns table of a multichannel file, whose turns span
        the other channels' speech (see :func:`dgtools.analysis.talk_time`).

    Raises
    ------
    dgtools.ConfigError
        ``data`` hold several files and ``file_id`` is not given, or lack
        ``start``/``end``.

    Examples
    --------
    >>> import dgtools
    >>> from matplotlib.figure import Figure
    >>> tables = dgtools.to_tables("data/responses")
    >>> ax = speaker_lanes(tables.utterances, file_id="support_call_diarized", ax=Figure().subplots())
    >>> [label.get_text() for label in ax.get_yticklabels()], ax.get_ylabel()
    (['Speaker 0 (74%)', 'Speaker 1 (26%)'], 'speaker (share of speaking time)')
    """
    fn = "speaker_lanes"
    ax = current_axes(ax)
    seg = _segments(one_file(data, file_id, fn), fn)
    seg = seg[~(np.isnan(seg["start"].to_numpy()) | np.isnan(seg["end"].to_numpy()))]
    if seg.empty:
        warn_empty(fn, "no segments")
        return ax
    seg["channel"] = seg["channel"].map(plain)
    seg["speaker"] = seg["speaker"].map(plain)
    multichannel = seg["channel"].nunique(dropna=True) > 1
    palette = speaker_palette(seg["speaker"])

    def sort_key(k: Any) -> tuple[bool, Any]:
        return (k is None, -1 if k is None else k)

    keys = sorted(
        set(zip(seg["channel"], seg["speaker"], strict=True)), key=lambda k: (sort_key(k[0]), sort_key(k[1]))
    )
    shares = _lane_shares(one_file(data, file_id, fn), fn)
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
                rasterized=int(m.sum()) > RASTERIZE_ABOVE,
            )
        merged.append(_merge(start, end))
        share = shares.get((ch, spk), 0.0)
        name = (f"ch{ch}" + ("" if spk is None else f" · spk{spk}")) if multichannel else speaker_label(spk)
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
    ax.set_ylabel(f"{'lane' if multichannel else 'speaker'} (share of speaking time)")
    if "file_id" in data.columns and len(data):
        ax.set_title(str(one_file(data, file_id, fn)["file_id"].iloc[0]))
    return ax


# --------------------------------------------------------------- talk_time


def talk_time(
    data: pd.DataFrame, *, by: Literal["speaker", "channel", "file"] = "speaker", ax: Axes | None = None
) -> Axes:
    """Speaking time as horizontal bars, from :func:`dgtools.analysis.talk_time`.

    Speaking time is the span of each turn, from its first word's start to its
    last word's end, summed per speaker (the x axis label says so); a share is
    of the file's speaking time, the share the speaker lanes show.

    Parameters
    ----------
    data : pandas.DataFrame
        The ``words``, ``utterances`` or ``turns`` table.
    by : {"speaker", "channel", "file"}, default "speaker"
        One bar per (file, channel, speaker) coloured by
        :func:`speaker_palette` and labelled with its seconds and share; or
        the seconds summed per (file, channel), labelled with the channel's
        share of the file, or per file.
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
        ``data`` is not a words, utterances or turns table (it lacks a
        column :func:`dgtools.analysis.talk_time` needs; the message names it).

    Examples
    --------
    >>> import dgtools
    >>> from matplotlib.figure import Figure
    >>> tables = dgtools.to_tables("data/responses")
    >>> ax = talk_time(tables.utterances, by="speaker", ax=Figure().subplots())
    >>> ax.get_xlabel()
    'speaking time (s): turn spans, first word to last'
    >>> [text.get_text() for text in ax.texts]
    ['13.4 s (67%)', '6.5 s (33%)', '18.8 s (74%)', '6.6 s (26%)']
    """
    fn = "talk_time"
    check_choice(fn, "by", by, ("speaker", "channel", "file"))
    ax = current_axes(ax)
    if data.empty:
        warn_empty(fn, "no rows")
        return ax
    tt = analysis.talk_time(data, caller="dgtools.plotting.talk_time()")
    if tt.empty:
        warn_empty(fn, "no rows")
        return ax
    many_files = tt["file_id"].nunique() > 1
    many_channels = tt.groupby("file_id", sort=False)["channel"].nunique().max() > 1
    if by == "file":
        agg = tt.groupby("file_id", sort=False, dropna=False)["seconds"].sum()
        names = [str(k) for k in agg.index]
        colours = [COLOURS[0]] * len(agg)
        notes = [f"{v:.1f} s" for v in agg.to_numpy(dtype=np.float64)]
        seconds = agg.to_numpy(dtype=np.float64)
    elif by == "channel":
        per = tt.groupby(["file_id", "channel"], sort=False, dropna=False)[["seconds", "share"]].sum()
        names = [(f"{f} · " if many_files else "") + f"ch{c}" for f, c in per.index]
        colours = [
            cycle_colours(sorted(set(tt["channel"].map(plain)), key=str))[plain(c)] for _, c in per.index
        ]
        seconds = per["seconds"].to_numpy(dtype=np.float64)
        shares = np.nan_to_num(per["share"].to_numpy(dtype=np.float64, na_value=np.nan))
        notes = [f"{v:.1f} s ({sh:.0%})" for v, sh in zip(seconds, shares, strict=True)]
    else:
        palette = speaker_palette(tt["speaker"])
        names = []
        for f, c, s in zip(tt["file_id"], tt["channel"], tt["speaker"], strict=True):
            parts = [str(f)] if many_files else []
            parts += [f"ch{c}"] if many_channels else []
            names.append(" · ".join([*parts, speaker_label(s)]))
        colours = [palette[plain(s)] for s in tt["speaker"]]
        seconds = floats(tt["seconds"])
        notes = [
            f"{v:.1f} s ({sh:.0%})" for v, sh in zip(seconds, np.nan_to_num(floats(tt["share"])), strict=True)
        ]
    y = np.arange(len(names))
    bars = ax.barh(y, seconds, color=colours, gid="talk_time")
    ax.bar_label(bars, labels=notes, padding=3, fontsize="small")
    ax.set_yticks(y, names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0, float(np.nanmax(seconds)) * 1.3 if len(seconds) and np.nanmax(seconds) > 0 else 1)
    ax.set_xlabel("speaking time (s): turn spans, first word to last")
    return ax
