"""Small pandas and NumPy conversions shared by analysis, io, plotting and widgets.

One home for the helpers every frame-reading module needs: numbers and
strings of a column as NumPy arrays (nulls made explicit), Arrow-backed
result columns, null tests, plain Python scalars and a stable ordering of
rows.  The module imports pandas and NumPy only (pyarrow on first use of
:func:`arrow_array`) and no other part of dgtools.

The names carry no underscore, but the module is private: they are not
dgtools' public API.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "Bools",
    "Floats",
    "Ints",
    "Objects",
    "arrow_array",
    "equals",
    "floats",
    "in_order",
    "is_null",
    "label_id",
    "plain",
    "sort_key",
    "strings",
]

Floats = npt.NDArray[np.float64]
Objects = npt.NDArray[np.object_]
Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]


def floats(s: pd.Series) -> Floats:
    """A column as ``float64``, with ``NaN`` for nulls and for values that are not numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> floats(pd.Series([1, None, 2.5], dtype="Float64"))
    array([1. , nan, 2.5])
    >>> floats(pd.Series(["0.5", None, "x"], dtype=object))
    array([0.5, nan, nan])
    """
    if not pd.api.types.is_numeric_dtype(s.dtype):  # numbers are read as they are: no coercion pass
        s = pd.to_numeric(s, errors="coerce")
    out: Floats = s.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def strings(s: pd.Series) -> Objects:
    """A column as an object array of ``str``, with ``""`` for nulls.

    Examples
    --------
    >>> import pandas as pd
    >>> strings(pd.Series(["a", None, 3], dtype=object))
    array(['a', '', '3'], dtype=object)
    """
    values: Objects = s.to_numpy(dtype=object, na_value="")
    return np.array([v if isinstance(v, str) else str(v) for v in values], dtype=object)


def arrow_array(values: Any, kind: Literal["float", "int", "str"]) -> pd.api.extensions.ExtensionArray:
    """An Arrow-backed pandas array of ``values`` (``NaN`` and ``None`` become null).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> pd.Series(arrow_array(np.array([1.5, np.nan]), "float")).tolist()
    [1.5, <NA>]
    >>> arrow_array(["a", None], "str").dtype
    string[pyarrow]
    """
    import pyarrow as pa

    typ = {"float": pa.float64(), "int": pa.int64(), "str": pa.string()}[kind]
    return pd.arrays.ArrowExtensionArray(pa.array(values, typ, from_pandas=True))


def is_null(value: Any) -> bool:
    """True for a scalar null (``None``, ``NaN``, ``pd.NA``, ``NaT``); False for anything else, lists too.

    Examples
    --------
    >>> import pandas as pd
    >>> [is_null(v) for v in (None, float("nan"), pd.NA, 0, "", [None])]
    [True, True, True, False, False, False]
    """
    try:
        null = pd.isna(value)
    except (TypeError, ValueError):  # objects pandas cannot test
        return False
    return isinstance(null, (bool, np.bool_)) and bool(null)  # an array answer: not a scalar


def plain(value: Any) -> Any:
    """The plain Python scalar of a pandas, NumPy or Arrow value; ``None`` for a null.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> [plain(v) for v in (np.int64(2), np.float32(0.5), np.bool_(True), pd.NA, "a")]
    [2, 0.5, True, None, 'a']
    """
    if is_null(value):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    as_py = getattr(value, "as_py", None)  # a pyarrow Scalar
    return as_py() if callable(as_py) else value


def label_id(value: Any) -> str | None:
    """A speaker or channel id as it is written in a label: ``"0"`` for 0, 0.0 or ``"0"``; None for a null.

    Examples
    --------
    >>> [label_id(v) for v in (0, 1.0, "A", 2.5, None)]
    ['0', '1', 'A', '2.5', None]
    """
    if is_null(value):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def equals(s: pd.Series, value: Any) -> npt.NDArray[np.bool_]:
    """Boolean mask of the rows of ``s`` equal to ``value`` (nulls never are).

    Examples
    --------
    >>> import pandas as pd
    >>> equals(pd.Series([0, None, 1], dtype="Int64"), 0)
    array([ True, False, False])
    """
    out: npt.NDArray[np.bool_] = (s == value).fillna(False).to_numpy(dtype=bool)
    return out


def sort_key(s: pd.Series, *, by_appearance: bool = False) -> npt.NDArray[Any]:
    """Numbers that sort (and compare equal) like ``s``, nulls last; or codes in order of first appearance.

    Examples
    --------
    >>> import pandas as pd
    >>> sort_key(pd.Series([2, None, 1], dtype="Int64"))
    array([ 2., inf,  1.])
    >>> sort_key(pd.Series(["b", "a", None, "b"]), by_appearance=True)
    array([0, 1, 2, 0])
    """
    if (
        not by_appearance
        and pd.api.types.is_numeric_dtype(s.dtype)
        and not pd.api.types.is_bool_dtype(s.dtype)
    ):
        return np.nan_to_num(floats(s), nan=np.inf, posinf=np.inf)  # faster than factorizing numbers
    codes, uniques = pd.factorize(s, sort=not by_appearance)
    return np.where(codes < 0, len(uniques), codes)


def in_order(df: pd.DataFrame, by: Sequence[Hashable]) -> pd.DataFrame:
    """Stable sort: ``by[0]`` in order of first appearance, the rest ascending, nulls last; a new RangeIndex.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"file_id": ["b", "a", "b"], "start": [2.0, 0.0, 1.0]})
    >>> in_order(df, ["file_id", "start"])
      file_id  start
    0       b    1.0
    1       b    2.0
    2       a    0.0
    """
    if len(df) > 1:
        keys = [sort_key(df[col], by_appearance=i == 0) for i, col in enumerate(by)]
        perm = np.lexsort(keys[::-1])
        if (np.diff(perm) < 0).any():
            df = df.take(perm)
    return df.reset_index(drop=True)
