"""How confident the words are: :func:`confidence_distribution` per file, speaker or model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._frames import floats
from ..analysis import first_alternative
from ..exceptions import ConfigError
from ._common import (
    check_choice,
    current_axes,
    cycle_colours,
    levels_and_codes,
    need_columns,
    speaker_label,
    speaker_palette,
    thin,
    warn_empty,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["confidence_distribution"]


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
    >>> import dgtools
    >>> from matplotlib.figure import Figure
    >>> tables = dgtools.to_tables("data/responses")
    >>> confidence_distribution(tables.words, by="model", requests=tables.requests,
    ...                         kind="ecdf", ax=Figure().subplots())
    <Axes: xlabel='confidence', ylabel='proportion'>
    """
    fn = "confidence_distribution"
    check_choice(fn, "by", by, ("file_id", "speaker", "model"))
    check_choice(fn, "kind", kind, ("hist", "ecdf"))
    if by == "model" and requests is None:
        raise ConfigError(f"{fn}: by='model' needs the requests table: pass requests=tables.requests")
    need_columns(words, fn, ["confidence"], "the words table")
    ax = current_axes(ax)
    df = first_alternative(words)
    conf = floats(df["confidence"])
    if by == "model":
        assert requests is not None
        need_columns(df, fn, ["file_id"], "the words table")
        need_columns(requests, fn, ["file_id"], "the requests table")
        col = next((c for c in ("model_name", "model_arch") if c in requests.columns), None)
        if col is None:
            need_columns(requests, fn, ["model_name"], "the requests table")
        model = requests.drop_duplicates("file_id").set_index("file_id")[col]
        groups = df["file_id"].map(model).to_numpy(dtype=object)
    else:
        need_columns(df, fn, [by], "the words table")
        groups = df[by].to_numpy(dtype=object)
    ok = ~np.isnan(conf)
    conf = conf[ok]
    if not len(conf):
        warn_empty(fn, "no word confidences")
        return ax
    levels, codes = levels_and_codes(pd.Series(groups[ok], dtype=object), numeric=False)
    if by == "speaker":
        levels, codes = levels_and_codes(pd.Series(floats(df["speaker"])[ok]), numeric=True)
    colours = speaker_palette(levels) if by == "speaker" else cycle_colours(levels)
    bins = np.linspace(0.0, 1.0, 21)
    for i, lvl in enumerate(levels):
        x = conf[codes == i]
        label = speaker_label(lvl) if by == "speaker" else ("unknown" if lvl is None else str(lvl))
        if kind == "hist":
            ax.hist(
                x, bins=list(bins), density=True, histtype="step", lw=1.5, color=colours[lvl], label=label
            )
        else:
            xs = np.sort(x)
            ys = np.arange(1, len(xs) + 1) / len(xs)
            idx = thin(len(xs))
            ax.plot(xs[idx], ys[idx], drawstyle="steps-post", color=colours[lvl], label=label)
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("density" if kind == "hist" else "proportion")
    ax.legend(fontsize="small", title=by)
    return ax
