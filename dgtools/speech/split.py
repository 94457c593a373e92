"""Splitting long texts into requests: at sentence ends, then clauses, then words.

Deepgram's ``/v1/speak`` takes at most :data:`~dgtools.options.speak.MAX_CHARACTERS` (2,000)
characters per request.  :func:`split_text` cuts a longer text into chunks that each fit, cutting
as late as it can at the strongest boundary in reach:

1. the end of a sentence (``.``, ``!``, ``?``, ``…`` and their CJK forms, with any closing quote
   or bracket after them) or a line break;
2. else the end of a clause (``,``, ``;``, ``:``, a dash);
3. else a space between words;
4. else (one "word" longer than a request: a URL, a run of CJK text without punctuation) anywhere.

Chunks are stripped of the whitespace around them, so their characters (what Deepgram bills)
add up to the text's minus the whitespace at the cuts.  Nothing else is changed: joined with
single spaces the chunks read as the text did.
"""

from __future__ import annotations

import re
from typing import Final

from ..exceptions import ConfigError
from ..options.speak import MAX_CHARACTERS

__all__ = ["BOUNDARY_LEVELS", "split_text"]

#: What each boundary level means, strongest first (the level of a cut: see :func:`split_text`).
BOUNDARY_LEVELS: Final = ("sentence", "clause", "word")

_CLOSERS = "\"'”’»)]}」』"
_SENTENCE_END: Final = re.compile(rf"[.!?…。！？‼⁇⁈⁉][{re.escape(_CLOSERS)}]*$")
_CLAUSE_END: Final = re.compile(rf"(?:[,;:，、；：]|--|[—–])[{re.escape(_CLOSERS)}]*$")
#: A token: a run of non-space characters (cut after CJK punctuation, which takes no space after
#: it) and the whitespace that follows it.
_TOKEN: Final = re.compile(r"[^\s。！？，、；：]*[。！？，、；：]+\s*|[^\s。！？，、；：]+\s*")
_SENTENCE, _CLAUSE, _WORD = 0, 1, 2


def _level(token: str) -> int:
    """The strength of the boundary after ``token`` (with its trailing whitespace)."""
    word = token.rstrip()
    if "\n" in token[len(word) :] or _SENTENCE_END.search(word):
        return _SENTENCE
    if _CLAUSE_END.search(word) or word in ("-", "—", "–"):
        return _CLAUSE
    return _WORD


def split_text(text: str, max_chars: int = MAX_CHARACTERS) -> list[str]:
    """Cut ``text`` into chunks of at most ``max_chars`` characters, at the strongest boundaries in reach.

    Each chunk ends as late as possible at the end of a sentence; where no sentence ends within
    ``max_chars`` characters, at the end of a clause; else between two words; and only a single
    word longer than ``max_chars`` is cut inside.  A text that fits is one chunk (stripped); an
    empty or blank text is no chunk at all.

    Parameters
    ----------
    text
        The text to speak.
    max_chars
        The most characters in one chunk (default: Deepgram's limit per request, 2,000).

    Returns
    -------
    list of str
        The chunks, in order, stripped of surrounding whitespace.

    Raises
    ------
    ConfigError
        ``max_chars`` is not a positive integer.

    Examples
    --------
    >>> split_text("One. Two, three four. Five six.", max_chars=12)
    ['One.', 'Two,', 'three four.', 'Five six.']
    >>> split_text("no punctuation at all in here", max_chars=12)
    ['no', 'punctuation', 'at all in', 'here']
    >>> split_text("   ")
    []
    """
    if not isinstance(max_chars, int) or isinstance(max_chars, bool) or max_chars < 1:
        raise ConfigError(f"max_chars={max_chars!r} must be a positive integer")
    if not isinstance(text, str):
        raise ConfigError(f"the text to speak must be a string, not {type(text).__name__}")
    text = text.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    tokens = _TOKEN.findall(text)
    chunks: list[str] = []
    start = 0
    while start < len(tokens):
        length = 0  # characters of tokens[start:end], the last one's trailing whitespace left out
        end = start
        best: list[int | None] = [None, None]  # the latest cut after a sentence, after a clause or sentence
        while end < len(tokens) and length + len(tokens[end].rstrip()) <= max_chars:
            length += len(tokens[end])
            end += 1
            level = _level(tokens[end - 1])
            if level == _SENTENCE:
                best[_SENTENCE] = end
            if level <= _CLAUSE:
                best[_CLAUSE] = end
        if end == len(tokens):
            chunks.append("".join(tokens[start:end]).strip())
            break
        if end == start:  # one token longer than a chunk: cut inside it
            word = tokens[start]
            chunks.append(word[:max_chars].strip())
            tokens[start] = word[max_chars:]
            if not tokens[start].strip():
                start += 1
            continue
        cut = best[_SENTENCE] or best[_CLAUSE] or end
        chunks.append("".join(tokens[start:cut]).strip())
        start = cut
    return [c for c in chunks if c]
