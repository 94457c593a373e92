"""Reading words: column checks, the first alternative, word order, tokens, transcripts and turns.

The building blocks (:func:`require_columns`, :func:`text_column`,
:func:`first_alternative`, :func:`word_view`, :func:`word_tokens`,
:func:`group_bounds`) serve the rest of :mod:`dgtools.analysis` and the other
modules that read words (:mod:`dgtools.io`, plots and widgets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from .._frames import Floats, Ints, Objects, arrow_array, floats, in_order, sort_key, strings

__all__ = [
    "ANY_TABLE",
    "WordView",
    "default_caller",
    "first_alternative",
    "group_bounds",
    "in_word_order",
    "require_columns",
    "text",
    "text_column",
    "turns",
    "word_tokens",
    "word_view",
]

#: What the functions work on, as error messages say it.
ANY_TABLE = "the words, utterances or turns table"
_TEXT_COLUMNS = ("word", "transcript", "text")  # words, utterances, turns


# --------------------------------------------------------------------------- column checks


def require_columns(
    df: pd.DataFrame, needed: Sequence[str], *, caller: str, works_on: str = ANY_TABLE
) -> pd.DataFrame:
    """``df`` itself, or :class:`AttributeError` naming the columns of ``needed`` it lacks.

    Examples
    --------
    >>> import pandas as pd
    >>> require_columns(pd.DataFrame({"start": []}), ["start", "end"], caller="df.dg.text()")
    Traceback (most recent call last):
    ...
    AttributeError: df.dg.text() needs columns ['end']; it works on the words, utterances or turns table of dgtools.to_tables(...)
    """
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise AttributeError(
            f"{caller} needs columns {missing}; it works on {works_on} of dgtools.to_tables(...)"
        )
    return df


def text_column(df: pd.DataFrame, *, caller: str) -> str:
    """``"word"`` (words table), ``"transcript"`` (utterances) or ``"text"`` (turns); else AttributeError.

    Examples
    --------
    >>> import pandas as pd
    >>> text_column(pd.DataFrame({"transcript": []}), caller="df.dg.text()")
    'transcript'
    """
    for col in _TEXT_COLUMNS:
        if col in df.columns:
            return col
    raise AttributeError(
        f"{caller} needs a 'word', 'transcript' or 'text' column; it works on {ANY_TABLE} of dgtools.to_tables(...)"
    )


def default_caller(fn: str, caller: str | None) -> str:
    """``caller``, or ``"dgtools.analysis.<fn>()"`` when it is None: the call error messages name."""
    return caller if caller is not None else f"dgtools.analysis.{fn}()"


# --------------------------------------------------------------------------- words in order


def first_alternative(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the first alternative (``alternative`` 0 or null); ``df`` itself when that is all of them.

    Examples
    --------
    >>> import pandas as pd
    >>> first_alternative(pd.DataFrame({"word": ["a", "b", "c"], "alternative": [0, 1, None]}))["word"].tolist()
    ['a', 'c']
    """
    if "alternative" not in df.columns:
        return df
    alt = floats(df["alternative"])
    keep = (alt == 0) | np.isnan(alt)
    return df if keep.all() else df[keep]


def in_word_order(df: pd.DataFrame) -> pd.DataFrame:
    """Rows by file (first appearance), channel, then ``word_index`` (else ``start``); a new RangeIndex.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"file_id": "f", "channel": 0, "word": ["b", "a"], "start": [1.0, 0.0]})
    >>> in_word_order(df)["word"].tolist()
    ['a', 'b']
    """
    order = next((c for c in ("word_index", "start") if c in df.columns), None)
    return in_order(df, ["file_id", "channel", *([order] if order else [])])


def group_bounds(frame: pd.DataFrame) -> Ints:
    """Row offsets where each run of equal ``(file_id, channel)`` starts, then ``len(frame)``.

    Examples
    --------
    >>> import pandas as pd
    >>> group_bounds(pd.DataFrame({"file_id": ["a", "a", "a", "b"], "channel": [0, 0, 1, 0]}))
    array([0, 2, 3, 4])
    """
    n = len(frame)
    change = np.ones(n, dtype=bool)
    if n > 1:
        f = sort_key(frame["file_id"], by_appearance=True)
        c = sort_key(frame["channel"])
        change[1:] = (f[1:] != f[:-1]) | (c[1:] != c[:-1])
    return np.append(np.flatnonzero(change), n).astype(np.intp)


def word_tokens(words: pd.DataFrame) -> Objects:
    """The text of each word as written: ``punctuated_word``, else ``word``, else ``""``.

    Examples
    --------
    >>> import pandas as pd
    >>> word_tokens(pd.DataFrame({"word": ["hi", "there"], "punctuated_word": ["Hi", None]}))
    array(['Hi', 'there'], dtype=object)
    """
    bare = strings(words["word"]) if "word" in words.columns else np.full(len(words), "", dtype=object)
    return _punctuated(words, bare)


def _punctuated(words: pd.DataFrame, bare: Objects) -> Objects:
    if "punctuated_word" not in words.columns:
        return bare
    tokens = strings(words["punctuated_word"])
    empty = tokens == ""
    tokens[empty] = bare[empty]
    return tokens


@dataclass(frozen=True)
class WordView:
    """First-alternative words in word order, with their text and times as NumPy arrays.

    Attributes
    ----------
    frame : pandas.DataFrame
        The words, in word order, with a RangeIndex.
    tokens : numpy.ndarray
        ``punctuated_word``, else ``word``, else ``""`` (:func:`word_tokens`).
    words : numpy.ndarray
        ``word``, else ``""``.
    start, end : numpy.ndarray
        Times in seconds (NaN for nulls, or when the column is absent).
    group : numpy.ndarray
        The ``(file_id, channel)`` group number of each row.
    bounds : numpy.ndarray
        The first row of each group, then ``len(frame)`` (:func:`group_bounds`).
    """

    frame: pd.DataFrame
    tokens: Objects
    words: Objects
    start: Floats
    end: Floats
    group: Ints
    bounds: Ints


def word_view(df: pd.DataFrame, needed: Sequence[str], *, caller: str) -> WordView:
    """The :class:`WordView` of a words table, after checking it has the ``needed`` columns.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"file_id": "f", "channel": 0, "word": ["so", "hi"], "start": [1.0, 0.0]})
    >>> v = word_view(df, ["file_id", "channel", "word"], caller="example")
    >>> v.tokens.tolist(), v.start.tolist(), v.bounds.tolist()
    (['hi', 'so'], [0.0, 1.0], [0, 2])
    """
    frame = in_word_order(first_alternative(require_columns(df, needed, caller=caller)))
    words = strings(frame["word"])
    nan = np.full(len(frame), np.nan)
    start = floats(frame["start"]) if "start" in frame else nan
    end = floats(frame["end"]) if "end" in frame else nan
    bounds = group_bounds(frame)
    group = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    return WordView(frame, _punctuated(frame, words), words, start, end, group, bounds)


def text(df: pd.DataFrame, *, punctuated: bool = True, caller: str | None = None) -> pd.Series:
    """The transcript of every file and channel (``df.dg.text()``).

    Parameters
    ----------
    df : pandas.DataFrame
        The words, utterances or turns table.
    punctuated : bool, default True
        On a words table, join ``punctuated_word`` (``word`` where it is
        null); ``False`` joins the bare ``word``.  Utterances and turns are
        joined as they are.
    caller : str, optional
        The call named in error messages (``df.dg`` passes ``"df.dg.text()"``).

    Returns
    -------
    pandas.Series
        Named ``text``, ``string[pyarrow]``, indexed by ``(file_id, channel)``.

    Raises
    ------
    AttributeError
        ``df`` lacks ``file_id``, ``channel`` or a text column.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "call", "channel": 0, "word": ["hello", "there"],
    ...                       "punctuated_word": ["Hello", "there."], "start": [0.0, 0.5]})
    >>> text(words)
    file_id  channel
    call     0          Hello there.
    Name: text, dtype: string[pyarrow]
    """
    caller = default_caller("text", caller)
    col = text_column(df, caller=caller)
    if col == "word":
        v = word_view(df, ["file_id", "channel", "word"], caller=caller)
        tokens, frame, bounds = (v.tokens if punctuated else v.words), v.frame, v.bounds
    else:
        frame = require_columns(df, ["file_id", "channel", col], caller=caller)
        frame = in_order(frame, ["file_id", "channel", *(["start"] if "start" in frame else [])])
        tokens = strings(frame[col])
        bounds = group_bounds(frame)
    texts = [" ".join(filter(None, tokens[a:b])) for a, b in pairwise(bounds)]
    first = bounds[:-1]
    index = pd.MultiIndex.from_arrays(
        [frame["file_id"].array.take(first), frame["channel"].array.take(first)],
        names=["file_id", "channel"],
    )
    return pd.Series(arrow_array(texts, "str"), index=index, name="text")


#: Columns of the words table that build_turns reads (taken as null when the frame lacks them).
_TURN_INPUT = ("file_id", "request_id", "channel", "word", "punctuated_word",
               "start", "end", "confidence", "speaker")  # fmt: skip


def turns(df: pd.DataFrame, *, caller: str | None = None) -> pd.DataFrame:
    """Speaker turns of a words table, by :func:`dgtools.tables.build_turns` (``df.dg.turns()``).

    ``request_id``, ``punctuated_word``, ``confidence`` and ``speaker`` are
    taken as null when ``df`` lacks them (no speaker: one turn per file and
    channel).

    Returns
    -------
    pandas.DataFrame
        The ``turns`` table (Arrow dtypes); on the words table of
        :func:`dgtools.to_tables` it equals that set's ``turns``.

    Raises
    ------
    AttributeError
        ``df`` lacks ``file_id``, ``channel``, ``word``, ``start`` or ``end``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": 0, "word": ["hi", "yes", "no"],
    ...                       "start": [0.0, 1.0, 2.0], "end": [0.5, 1.5, 2.5], "speaker": [0, 1, 1]})
    >>> turns(words)[["speaker", "start", "end", "n_words", "text"]]
       speaker  start  end  n_words    text
    0        0    0.0  0.5        1      hi
    1        1    1.0  2.5        2  yes no
    """
    import pyarrow as pa

    from ..tables import build_turns
    from ..tables.schema import SCHEMAS

    needed = ["file_id", "channel", "word", "start", "end"]
    caller = default_caller("turns", caller)
    frame = in_word_order(
        first_alternative(require_columns(df, needed, caller=caller, works_on="the words table"))
    )
    schema = pa.schema([SCHEMAS["words"].field(n).with_nullable(True) for n in _TURN_INPUT])
    null = pd.Series([None] * len(frame), dtype=object)
    sub = pd.DataFrame({n: frame[n].array if n in frame else null.array for n in _TURN_INPUT})
    table = build_turns(pa.Table.from_pandas(sub, schema=schema, preserve_index=False))
    out: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
    return out
