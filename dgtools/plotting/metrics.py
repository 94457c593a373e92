"""A metric of each file under several runs (models, options): :func:`metric_by_file`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._frames import floats, strings
from ._common import COLOURS, current_axes, need_columns, warn_empty

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["metric_by_file"]

_PERCENT = {"wer", "der", "cer", "jer", "wer_delta", "der_delta", "confidence", "confidence_delta"}


def metric_by_file(
    data: pd.DataFrame,
    *,
    y: str = "wer",
    x: str = "file_id",
    hue: str = "run",
    order: list[str] | None = None,
    sort: bool = True,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Grouped horizontal bars: ``y`` of each file (rows), one bar per run (``hue``).

    Parameters
    ----------
    data : pandas.DataFrame
        The frame of :func:`dgtools.compare_runs` (one row per file and
        run), or any frame with the ``x``, ``y`` and ``hue`` columns, such
        as ``wer(...).files`` with a ``run`` column added.
    y : str, default "wer"
        The metric: ``wer``, ``der``, ``confidence``, ``cost``, a
        ``*_delta`` column...  Rates are shown as percentages.
    x : str, default "file_id"
        The column of the groups (one row of bars each).
    hue : str, default "run"
        The column of the bars within a group; without it in ``data``, one
        bar per group.
    order : list of str, optional
        The groups, bottom to top; default by the first run's value (the
        highest at the top) when ``sort``, else in order of appearance.
    sort : bool, default True
        Sort the groups by the first run's ``y``, highest at the top.
    ax : matplotlib.axes.Axes, optional
        Where to draw (the current Axes when None).
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.barh`.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> df = pd.DataFrame({"run": ["nova-3", "nova-3", "nova-2", "nova-2"], "file_id": ["a", "b", "a", "b"],
    ...                    "wer": [0.10, 0.20, 0.15, 0.18]})
    >>> ax = metric_by_file(df, ax=Figure().subplots())
    >>> [t.get_text() for t in ax.get_yticklabels()], ax.get_xlabel()
    (['a', 'b'], 'wer (%)')
    """
    fn = "metric_by_file"
    need_columns(data, fn, [x, y], "the frame of dgtools.compare_runs (or one with these columns)")
    ax = current_axes(ax)
    values = floats(data[y])
    keep = ~np.isnan(values)
    if not keep.any():
        warn_empty(fn, f"no file has a {y!r} value")
        return ax
    df = pd.DataFrame(
        {
            "x": strings(data[x]),
            "hue": strings(data[hue]) if hue in data.columns else np.full(len(data), "", dtype=object),
            "y": values * (100.0 if y in _PERCENT else 1.0),
        }
    )
    runs = list(dict.fromkeys(df["hue"]))
    table = df.pivot_table(index="x", columns="hue", values="y", aggfunc="mean", sort=False)
    groups = list(dict.fromkeys(df["x"])) if order is None else [g for g in order if g in table.index]
    if sort and order is None:
        first = table[runs[0]].reindex(groups)
        groups = list(first.sort_values(ascending=True, na_position="first", kind="stable").index)
    height = 0.8 / len(runs)
    positions = np.arange(len(groups), dtype=float)
    for i, run in enumerate(runs):
        bar_values = table[run].reindex(groups).to_numpy(float) if run in table.columns else np.nan
        offsets = positions - 0.4 + height * (i + 0.5)
        ax.barh(
            offsets,
            np.nan_to_num(bar_values),
            height=height,
            color=COLOURS[i % len(COLOURS)],
            label=run or y,
            **kwargs,
        )
    ax.set_yticks(positions, groups)
    ax.set_xlabel(f"{y} (%)" if y in _PERCENT else y)
    ax.set_ylabel(x)
    if len(runs) > 1 or runs[0]:
        ax.legend(loc="lower right", fontsize="small", title=hue)
    return ax
