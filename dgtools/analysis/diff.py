"""Word-level differences of two transcripts: :func:`word_diff` and :func:`diff_rate`."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import pandas as pd

from .words import word_tokens

__all__ = ["diff_rate", "word_diff"]

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
