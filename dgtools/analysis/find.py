"""Finding things in the words: low-confidence stretches and regular-expression search."""

from __future__ import annotations

import re
from itertools import pairwise

import numpy as np
import pandas as pd

from .._frames import Objects, arrow_array, floats, strings
from ..exceptions import ConfigError
from .words import default_caller, require_columns, text_column, word_view

__all__ = ["low_confidence", "search"]


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
    caller = default_caller("low_confidence", caller)
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
    caller = default_caller("search", caller)
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
