"""What every plot module shares: the speaker palette, colours, thresholds and Axes helpers."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._frames import equals, floats, is_null, plain
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "COLOURS",
    "LINE_POINTS",
    "MAX_POINTS",
    "NULL_COLOUR",
    "RASTERIZE_ABOVE",
    "check_choice",
    "current_axes",
    "cycle_colours",
    "is_int",
    "levels_and_codes",
    "need_columns",
    "one_file",
    "pyplot",
    "speaker_label",
    "speaker_palette",
    "thin",
    "true_runs",
    "warn_empty",
]

#: Scatter plots keep at most this many points (decimation above it).
MAX_POINTS = 50_000
#: Collections with more elements than this are rasterized in vector output.
RASTERIZE_ABOVE = 5_000
#: Points of a decimated line (rolling mean, ECDF) or of the waveform envelope.
LINE_POINTS = 4_000

#: tab10 without its grey, which is kept for the null speaker.
COLOURS = (
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
NULL_COLOUR = "#7f7f7f"


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
    has_null = any(is_null(v) for v in values)
    ids = sorted({plain(v) for v in values if not is_null(v)}, key=lambda v: (not is_int(v), str(v), v))
    out: dict[Any, str] = {}
    others = 0
    for v in ids:
        if is_int(v):
            out[v] = COLOURS[int(v) % len(COLOURS)]
        else:
            out[v] = COLOURS[others % len(COLOURS)]
            others += 1
    if has_null:
        out[None] = NULL_COLOUR
    return out


def is_int(v: Any) -> bool:
    """True for Python and NumPy integers, not for booleans."""
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def speaker_label(v: Any) -> str:
    """``"Speaker 1"``, or ``"no speaker"`` for a null."""
    return "no speaker" if is_null(v) else f"Speaker {plain(v)}"


# --------------------------------------------------------------- helpers


def pyplot() -> Any:
    """``matplotlib.pyplot``, imported on first use."""
    import matplotlib.pyplot as plt

    return plt


def current_axes(ax: Axes | None) -> Axes:
    """``ax``, or ``plt.gca()`` when it is None."""
    if ax is not None:
        return ax
    ax_: Axes = pyplot().gca()
    return ax_


def warn_empty(fn: str, what: str) -> None:
    """The UserWarning of a plot function (``fn``) that has nothing to draw."""
    warnings.warn(f"{fn}: {what}; nothing to plot", UserWarning, stacklevel=3)


def need_columns(df: pd.DataFrame, fn: str, columns: Sequence[str], table: str) -> None:
    """ConfigError naming the ``columns`` that ``df`` lacks (``table`` says which table ``fn`` takes)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(f"{fn}: the frame lacks columns {missing}; pass {table} of dgtools.to_tables(...)")


def check_choice(fn: str, name: str, value: Any, choices: Sequence[Any]) -> None:
    """ConfigError when the option ``name`` of ``fn`` is not one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{fn}: {name}={value!r} is not one of {list(choices)}")


def one_file(df: pd.DataFrame, file_id: str | None, fn: str) -> pd.DataFrame:
    """Rows of ``file_id``; without it, the frame must hold a single file.

    A ``file_id`` with no rows (a typo, or a file with nothing in this table
    such as silence) warns with the ids that are there and the closest one.
    """
    if "file_id" not in df.columns or df.empty:
        return df
    files = list(pd.unique(df["file_id"].dropna()))
    shown = ", ".join(repr(str(f)) for f in files[:10]) + (", ..." if len(files) > 10 else "")
    if file_id is not None:
        rows = df[equals(df["file_id"], file_id)]
        if rows.empty and files:
            close = difflib.get_close_matches(str(file_id), [str(f) for f in files], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            warnings.warn(
                f"{fn}: file_id={file_id!r} has no rows in this table{hint} (files here: {shown})",
                UserWarning,
                stacklevel=3,
            )
        return rows
    if len(files) > 1:
        raise ConfigError(f"{fn}: the data hold {len(files)} files ({shown}); pass file_id= to choose one")
    return df


def true_runs(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """First and last index of every run of True in ``mask``."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(padded)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


def thin(n: int, points: int = LINE_POINTS) -> npt.NDArray[np.intp]:
    """At most ``points`` evenly spaced indices of ``range(n)``, first and last included."""
    if n <= points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, points).round().astype(np.intp))


def levels_and_codes(values: pd.Series, *, numeric: bool) -> tuple[list[Any], npt.NDArray[np.intp]]:
    """Levels (sorted numbers, or strings in order of appearance; ``None`` last) and each row's level."""
    if numeric:
        f = floats(values)
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


def cycle_colours(levels: Sequence[Any]) -> dict[Any, str]:
    """The palette's colours in the order of ``levels``; grey for ``None``."""
    return {lvl: (NULL_COLOUR if lvl is None else COLOURS[i % len(COLOURS)]) for i, lvl in enumerate(levels)}
