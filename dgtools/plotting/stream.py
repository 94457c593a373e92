"""How far behind the audio a live stream's transcript ran: :func:`stream_latency`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._frames import floats
from ._common import COLOURS, current_axes, need_columns, one_file, warn_empty

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["stream_latency"]

#: Colours of finals that ended speech (``speech_final``), other finals and interim results.
_SPEECH_FINAL, _FINAL, _INTERIM = COLOURS[3], COLOURS[0], "#c7c7c7"


def stream_latency(
    data: pd.DataFrame,
    *,
    file_id: str | None = None,
    percentiles: tuple[float, ...] = (50.0, 99.0),
    ax: Axes | None = None,
) -> Axes:
    """Latency of each result of a live stream against where it sits in the audio.

    Latency is Deepgram's own measure: the audio seconds sent when a result arrived minus the end
    of the audio it transcribes (its last word's end for the ``latency`` table, ``start +
    duration`` for ``messages``).  At ``realtime=1`` an audio second is a wall second.

    Parameters
    ----------
    data : pandas.DataFrame
        The ``latency`` table (one row per final result), or the ``messages`` table (its Results
        rows: interim results are drawn too, in grey) of a capture made by :func:`dgtools.stream`
        (a capture without its ``.timing`` file has no latency).
    file_id : str, optional
        The stream to draw when ``data`` holds several.
    percentiles : tuple of float, default (50, 99)
        Horizontal lines at these percentiles of the finals' latency, labelled with their values.
    ax : matplotlib.axes.Axes, optional
        Where to draw (the current Axes when None).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import dgtools
    >>> from matplotlib.figure import Figure
    >>> run = dgtools.stream("data/audio/two_voices.wav", realtime=0)  # doctest: +SKIP
    >>> dgtools.plotting.stream_latency(run.tables.latency, ax=Figure().subplots())  # doctest: +SKIP
    <Axes: title={'center': '...'}, xlabel='audio time (s)', ylabel='latency (s)'>
    """
    fn = "stream_latency"
    need_columns(data, fn, ["latency"], "the latency or messages table")
    ax = current_axes(ax)
    df = one_file(data, file_id, fn)
    if "type" in df.columns:  # the messages table: its Results, interim and final
        df = df[df["type"].astype("string").eq("Results").fillna(False).to_numpy(bool)]
        end = floats(df["start"]) + floats(df["duration"])
        final = df["is_final"].astype("boolean").fillna(False).to_numpy(bool)
    else:
        end = floats(df["last_word_end"]) if "last_word_end" in df.columns else floats(df["end"])
        if "end" in df.columns:
            end = np.where(np.isnan(end), floats(df["end"]), end)
        final = np.ones(len(df), dtype=bool)
    latency = floats(df["latency"])
    speech_final = (
        df["speech_final"].astype("boolean").fillna(False).to_numpy(bool)
        if "speech_final" in df.columns
        else np.zeros(len(df), dtype=bool)
    )
    keep = ~np.isnan(latency) & ~np.isnan(end)
    if not keep.any():
        warn_empty(fn, "no result has a latency (stream with dgtools.stream: its .timing file gives it)")
        return ax
    for mask, colour, label in (
        (keep & ~final, _INTERIM, "interim"),
        (keep & final & ~speech_final, _FINAL, "final"),
        (keep & final & speech_final, _SPEECH_FINAL, "final, speech_final"),
    ):
        if mask.any():
            ax.scatter(end[mask], latency[mask], s=14, color=colour, label=f"{label} ({int(mask.sum())})")
    finals = latency[keep & final]
    for i, q in enumerate(percentiles):
        if finals.size:
            value = float(np.percentile(finals, q))
            ax.axhline(
                value,
                color=(COLOURS[2], COLOURS[4], COLOURS[6])[i % 3],
                linestyle="--",
                linewidth=1,
                label=f"p{q:g} {value:.3f} s",
            )
    ax.set_xlabel("audio time (s)")
    ax.set_ylabel("latency (s)")
    if "file_id" in df.columns and len(df):
        ax.set_title(str(df["file_id"].iloc[0]))
    ax.legend(loc="upper right", fontsize="small")
    return ax
