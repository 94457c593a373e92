"""Pure frame functions: transcripts, turns, talk time, low confidence, search and word diffs.

Each function takes a table of :func:`dgtools.to_tables` (``words``,
``utterances`` or ``turns``; or a frame with the same column names, built by
hand or read back with :func:`pandas.read_parquet`, with Arrow-backed or
plain NumPy/object dtypes) and returns a new DataFrame or Series; nothing is
modified or cached.  The ``df.dg`` accessor, the plots and the widgets all
call these::

    from dgtools import analysis
    analysis.text(tables.words)              # == tables.words.dg.text()
    analysis.talk_time(tables.utterances)    # == tables.utterances.dg.talk_time()

The kind of table is told by its text column: ``word`` (words),
``transcript`` (utterances) or ``text`` (turns).  On a words table only the
first alternative is used (:func:`first_alternative`): higher alternatives
are n-best duplicates of the same speech.  Words are taken in word order
(``word_index``, else ``start``) within each file and channel; files keep
the order in which they first appear in the frame.  Key columns of a result
(``file_id``, ``channel``, ``speaker``) keep the frame's dtypes; computed
columns are Arrow-backed like every dgtools table.

A function called on a frame without the columns it needs raises
:class:`AttributeError` naming them (the error ``df.dg`` has always raised;
``caller=`` names the call in the message).  The building blocks
(:func:`require_columns`, :func:`text_column`, :func:`first_alternative`,
:func:`word_view`, :func:`word_tokens`, :func:`group_bounds`) serve the other
modules that read words: :mod:`dgtools.io`, plots and widgets.  This module
imports pandas and NumPy only; pyarrow and :mod:`dgtools.tables` load on
first use.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from ._frames import Floats, Ints, Objects, arrow_array, floats, in_order, sort_key, strings
from .exceptions import ConfigError

__all__ = [
    "ANY_TABLE",
    "WordView",
    "diff_rate",
    "first_alternative",
    "group_bounds",
    "in_word_order",
    "low_confidence",
    "require_columns",
    "search",
    "talk_time",
    "text",
    "text_column",
    "turns",
    "word_diff",
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


def _caller(fn: str, caller: str | None) -> str:
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
    caller = _caller("text", caller)
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

    from .tables import build_turns
    from .tables.schema import SCHEMAS

    needed = ["file_id", "channel", "word", "start", "end"]
    caller = _caller("turns", caller)
    frame = in_word_order(
        first_alternative(require_columns(df, needed, caller=caller, works_on="the words table"))
    )
    schema = pa.schema([SCHEMAS["words"].field(n).with_nullable(True) for n in _TURN_INPUT])
    null = pd.Series([None] * len(frame), dtype=object)
    sub = pd.DataFrame({n: frame[n].array if n in frame else null.array for n in _TURN_INPUT})
    table = build_turns(pa.Table.from_pandas(sub, schema=schema, preserve_index=False))
    out: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
    return out


def talk_time(df: pd.DataFrame, *, caller: str | None = None) -> pd.DataFrame:
    """Speaking time, share and pace of every speaker (``df.dg.talk_time()``).

    On a words table ``seconds`` sums word durations; on utterances or turns
    it sums segment durations (pauses inside a segment are counted).

    Returns
    -------
    pandas.DataFrame
        One row per ``(file_id, channel, speaker)`` (a null speaker is its
        own row, last) with ``seconds``, ``share`` (of the file and
        channel's total), ``words`` and ``words_per_minute`` (null when
        ``seconds`` is 0).  Files in frame order, channels and speakers
        ascending.

    Raises
    ------
    AttributeError
        ``df`` lacks ``file_id``, ``channel``, ``speaker``, ``start`` or
        ``end``, or (utterances, turns) ``n_words``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": 0, "word": ["hi", "yes", "no"],
    ...                       "start": [0.0, 1.0, 2.0], "end": [1.0, 1.5, 2.0], "speaker": [0, 1, 1]})
    >>> talk_time(words)
      file_id  channel  speaker  seconds     share  words  words_per_minute
    0       f        0        0      1.0  0.666667      1              60.0
    1       f        0        1      0.5  0.333333      2             240.0
    """
    caller = _caller("talk_time", caller)
    col = text_column(df, caller=caller)
    keys = ["file_id", "channel", "speaker"]
    frame = require_columns(df, [*keys, "start", "end"], caller=caller)
    if col == "word":
        frame = first_alternative(frame)
        words = np.ones(len(frame), dtype=np.int64)
    else:
        count = next((c for c in ("n_words", "num_words") if c in frame), "n_words")
        words = np.nan_to_num(floats(require_columns(frame, [count], caller=caller)[count])).astype(np.int64)
    rows = pd.DataFrame({k: frame[k].array for k in keys})
    rows["seconds"] = floats(frame["end"]) - floats(frame["start"])
    rows["words"] = words
    rows = in_order(rows, keys)
    out = (
        rows.groupby(keys, sort=False, dropna=False)
        .agg(seconds=("seconds", "sum"), words=("words", "sum"))
        .reset_index()
    )
    seconds = out["seconds"].to_numpy(dtype=np.float64)
    total = out.groupby(["file_id", "channel"], sort=False, dropna=False)["seconds"].transform("sum")
    n = out["words"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, seconds / total.to_numpy(dtype=np.float64), np.nan)
        wpm = np.where(seconds > 0, n / seconds * 60.0, np.nan)
    out["seconds"] = arrow_array(seconds, "float")
    out["share"] = arrow_array(share, "float")
    out["words"] = arrow_array(out["words"].to_numpy(dtype=np.int64), "int")
    out["words_per_minute"] = arrow_array(wpm, "float")
    return out[[*keys, "seconds", "share", "words", "words_per_minute"]]


def low_confidence(
    df: pd.DataFrame, threshold: float = 0.6, *, min_words: int = 1, caller: str | None = None
) -> pd.DataFrame:
    """Stretches below a confidence threshold (``df.dg.low_confidence()``).

    Parameters
    ----------
    df : pandas.DataFrame
        The words, utterances or turns table.
    threshold : float, default 0.6
        A word (or row) is low when ``confidence < threshold``; a null
        confidence never is.
    min_words : int, default 1
        Drop runs (utterances, turns) of fewer words.
    caller : str, optional
        The call named in error messages.

    Returns
    -------
    pandas.DataFrame
        On a words table, one row per run of consecutive low words of one
        file and channel: ``file_id, channel, start, end, n_words, text,
        mean_confidence``.  On utterances or turns, the low rows with all
        their columns and their index.

    Raises
    ------
    AttributeError
        ``df`` lacks ``file_id``, ``channel``, ``start``, ``end`` or ``confidence``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": 0, "word": ["a", "b", "c", "d"],
    ...                       "start": [0.0, 1.0, 2.0, 3.0], "end": [1.0, 2.0, 3.0, 4.0],
    ...                       "confidence": [0.9, 0.5, 0.3, 0.8]})
    >>> low_confidence(words)
      file_id  channel  start  end  n_words text  mean_confidence
    0       f        0    1.0  3.0        2  b c              0.4
    """
    caller = _caller("low_confidence", caller)
    col = text_column(df, caller=caller)
    needed = ["file_id", "channel", "start", "end", "confidence"]
    if col != "word":
        frame = require_columns(df, needed, caller=caller)
        keep = floats(frame["confidence"]) < threshold
        if "n_words" in frame:
            keep &= floats(frame["n_words"]) >= min_words
        return frame[keep]
    v = word_view(df, [*needed, "word"], caller=caller)
    conf = floats(v.frame["confidence"])
    low = conf < threshold
    brk = low.copy()
    if len(low) > 1:
        brk[1:] &= ~low[:-1] | (v.group[1:] != v.group[:-1])
    first = np.flatnonzero(brk)
    run = np.cumsum(brk) - 1
    rows = np.flatnonzero(low)
    counts = np.bincount(run[rows], minlength=len(first))
    sums = np.bincount(run[rows], weights=conf[rows], minlength=len(first))
    keep = counts >= max(min_words, 1)
    first, counts, sums = first[keep], counts[keep], sums[keep]
    last = first + counts - 1
    joined = [" ".join(filter(None, v.tokens[a : b + 1])) for a, b in zip(first, last, strict=True)]
    return pd.DataFrame(
        {
            "file_id": v.frame["file_id"].array.take(first),
            "channel": v.frame["channel"].array.take(first),
            "start": arrow_array(v.start[first], "float"),
            "end": arrow_array(v.end[last], "float"),
            "n_words": arrow_array(counts.astype(np.int64), "int"),
            "text": arrow_array(joined, "str"),
            "mean_confidence": arrow_array(sums / np.maximum(counts, 1), "float"),
        }
    )


# --------------------------------------------------------------------------- search


def search(
    df: pd.DataFrame,
    pattern: str | re.Pattern[str],
    *,
    context: int = 3,
    case: bool = False,
    caller: str | None = None,
) -> pd.DataFrame:
    r"""Find a regular expression in the words, or in each row's text (``df.dg.search()``).

    On a words table the pattern is matched against the words of each file
    and channel joined by single spaces, once as ``word`` and once as
    ``punctuated_word``; a hit covers every word the match touches, and the
    same words found by both passes are one hit.

    Parameters
    ----------
    df : pandas.DataFrame
        The words, utterances or turns table.
    pattern : str or re.Pattern
        A regular expression (:func:`re.escape` searches literal text).
    context : int, default 3
        Words kept on each side of a hit (words tables).
    case : bool, default False
        Match case-sensitively.
    caller : str, optional
        The call named in error messages.

    Returns
    -------
    pandas.DataFrame
        On a words table, one row per hit in word order: ``file_id, channel,
        speaker, start, end, match, context, word_index``.  On utterances or
        turns, the matching rows with all their columns (and index) plus
        ``match``.

    Raises
    ------
    AttributeError
        ``df`` lacks ``file_id``, ``channel``, ``start`` or ``end``.
    dgtools.ConfigError
        ``pattern`` is not a valid regular expression, or ``context`` is negative.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": 0, "word": ["thank", "you", "drew"],
    ...                       "punctuated_word": ["Thank", "you,", "Drew."],
    ...                       "start": [0.0, 0.5, 1.0], "end": [0.5, 1.0, 1.5]})
    >>> search(words, r"you\.?\s*drew", context=1)[["start", "end", "match", "context"]]
       start  end       match           context
    0    0.5  1.5  you, Drew.  Thank you, Drew.
    """
    rx = _compile(pattern, case)
    if context < 0:
        raise ConfigError(f"search(context={context!r}): context is a number of words, 0 or more")
    caller = _caller("search", caller)
    col = text_column(df, caller=caller)
    needed = ["file_id", "channel", "start", "end"]
    if col != "word":
        frame = require_columns(df, [*needed, col], caller=caller)
        found = [rx.search(t) if t else None for t in strings(frame[col])]
        keep = np.array([m is not None for m in found], dtype=bool)
        out = frame[keep].copy()
        out["match"] = arrow_array([m.group(0) for m in found if m is not None], "str")
        return out
    v = word_view(df, [*needed, "word"], caller=caller)
    passes = [v.words] if "punctuated_word" not in v.frame else [v.words, v.tokens]
    hits: set[tuple[int, int, int, int]] = set()
    for a, b in pairwise(v.bounds):
        for tokens in passes:
            for i, j in _find_spans(rx, tokens[a:b]):
                hits.add((a + i, a + j, a, b))
    spans = sorted(hits)
    first = np.array([h[0] for h in spans], dtype=np.intp)
    last = np.array([h[1] for h in spans], dtype=np.intp)
    match = [" ".join(filter(None, v.tokens[i : j + 1])) for i, j, _, _ in spans]
    around = [
        " ".join(filter(None, v.tokens[max(a, i - context) : min(b, j + 1 + context)]))
        for i, j, a, b in spans
    ]
    frame = v.frame
    if "word_index" in frame:
        word_index = frame["word_index"].array.take(first)
    else:
        word_index = arrow_array(first - np.array([h[2] for h in spans], dtype=np.intp), "int")
    speaker = (
        frame["speaker"].array.take(first) if "speaker" in frame else arrow_array([None] * len(first), "int")
    )
    return pd.DataFrame(
        {
            "file_id": frame["file_id"].array.take(first),
            "channel": frame["channel"].array.take(first),
            "speaker": speaker,
            "start": arrow_array(v.start[first], "float"),
            "end": arrow_array(v.end[last], "float"),
            "match": arrow_array(match, "str"),
            "context": arrow_array(around, "str"),
            "word_index": word_index,
        }
    )


def _compile(pattern: str | re.Pattern[str], case: bool) -> re.Pattern[str]:
    flags = 0 if case else re.IGNORECASE
    try:
        if isinstance(pattern, re.Pattern):
            return re.compile(pattern.pattern, (pattern.flags & ~re.IGNORECASE) | flags)
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ConfigError(
            f"search pattern {pattern!r} is not a valid regular expression ({exc}); "
            "use re.escape(text) to search for literal text"
        ) from None


def _find_spans(rx: re.Pattern[str], tokens: Objects) -> list[tuple[int, int]]:
    """``(first, last)`` word positions (inclusive) of every non-empty match in the joined tokens."""
    if not len(tokens):
        return []
    spans = [m.span() for m in rx.finditer(" ".join(tokens)) if m.end() > m.start()]
    if not spans:
        return []
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
    ends = starts + lengths
    at = np.array(spans, dtype=np.int64)
    first = np.searchsorted(ends, at[:, 0], side="right")  # first word ending after the match starts
    last = np.searchsorted(starts, at[:, 1], side="left") - 1  # last word starting before it ends
    ok = first <= last
    return list(zip(first[ok].tolist(), last[ok].tolist(), strict=True))


# --------------------------------------------------------------------------- word diff

_STRIP = re.compile(r"^\W+|\W+$")


def _as_tokens(words: pd.DataFrame | Sequence[str]) -> list[str]:
    return list(map(str, word_tokens(words) if isinstance(words, pd.DataFrame) else words))


def _alignment(a: list[str], b: list[str]) -> Sequence[tuple[str, int, int, int, int]]:
    """Opcodes aligning two word lists, compared case- and punctuation-insensitively."""

    def norm(token: str) -> str:
        return _STRIP.sub("", token.casefold())

    sm = difflib.SequenceMatcher(None, [norm(w) for w in a], [norm(w) for w in b], autojunk=False)
    return sm.get_opcodes()


def word_diff(
    a_words: pd.DataFrame | Sequence[str], b_words: pd.DataFrame | Sequence[str]
) -> list[tuple[str, str, str]]:
    """Word-level diff of two transcripts.

    Words are compared case- and punctuation-insensitively
    (:class:`difflib.SequenceMatcher`, no autojunk) and returned as written.

    Parameters
    ----------
    a_words, b_words : DataFrame or sequence of str
        Words of one file (a words table slice, in order: its
        :func:`word_tokens`) or lists of words.

    Returns
    -------
    list of (op, a_text, b_text)
        ``op`` is ``"equal"``, ``"replace"``, ``"insert"`` (words only in b;
        ``a_text`` is ``""``) or ``"delete"`` (words only in a; ``b_text`` is
        ``""``); texts are the words of the chunk joined by spaces.

    Examples
    --------
    >>> word_diff(["the", "cat", "sat"], ["The", "dog", "sat", "down"])
    [('equal', 'the', 'The'), ('replace', 'cat', 'dog'), ('equal', 'sat', 'sat'), ('insert', '', 'down')]
    """
    a, b = _as_tokens(a_words), _as_tokens(b_words)
    return [(op, " ".join(a[i1:i2]), " ".join(b[j1:j2])) for op, i1, i2, j1, j2 in _alignment(a, b)]


def diff_rate(a_words: pd.DataFrame | Sequence[str], b_words: pd.DataFrame | Sequence[str]) -> float:
    """Substituted, deleted and inserted words of b against a, over a's word count.

    The alignment of :func:`word_diff`: a WER with ``a`` as the reference.

    Returns
    -------
    float
        0.0 when both are empty; ``inf`` when only ``a`` is.

    Examples
    --------
    >>> diff_rate(["the", "cat", "sat"], ["The", "dog", "sat", "down"])
    0.6666666666666666
    >>> diff_rate([], ["hello"])
    inf
    """
    a, b = _as_tokens(a_words), _as_tokens(b_words)
    errors = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in _alignment(a, b) if op != "equal")
    if not a:
        return 0.0 if not b else float("inf")
    return errors / len(a)
