"""The text normalisation applied identically to references and hypotheses before scoring."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["FILLERS", "Normalizer"]

#: Hesitations dropped by default: they are rarely in a reference and Deepgram leaves them out
#: unless ``filler_words=true``.
FILLERS: frozenset[str] = frozenset({"uh", "um", "uhm", "umm", "uh-huh", "mm", "mhm", "hmm", "er", "ah"})

_HYPHENS = re.compile(r"[-\u2010\u2011\u2012\u2013\u2014\u2015]")
_APOSTROPHES = re.compile(r"[\u2018\u2019\u02bc`]")
# Anything but letters, digits, apostrophes and whitespace is punctuation.
_PUNCT = re.compile(r"[^\w\s']|_")
# An apostrophe not between two word characters (quotes, trailing possessive marks) is punctuation too.
_LOOSE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Normalizer:
    """Text normalisation for fair WER of formatted output (punctuation, casing) against references.

    The default pipeline, in order: lowercase; curly apostrophes to ``'``;
    hyphens and dashes to spaces; punctuation removed, apostrophes inside
    words kept (``o'clock``, ``don't``); fillers removed (``uh``, ``um``, ...,
    :data:`FILLERS`); whitespace collapsed.  Numerals are left as they are:
    ``"120"`` against ``"one hundred and twenty"`` counts as errors, so
    compare engines with the same numeral formatting (Deepgram's
    ``numerals=false``, the default) or write references the same way.

    Parameters
    ----------
    lowercase, strip_punctuation, hyphens_to_spaces : bool, default True
        Each step of the pipeline.
    remove_fillers : bool, default True
        Drop the words of ``fillers``.
    fillers : frozenset of str
        The filler words, lowercase.

    Examples
    --------
    >>> Normalizer()("Uh, it's nine o'clock -- a well-known 'fact'.")
    "it's nine o'clock a well known fact"
    >>> Normalizer(remove_fillers=False).name
    'lowercase+punctuation+hyphens'
    """

    lowercase: bool = True
    strip_punctuation: bool = True
    hyphens_to_spaces: bool = True
    remove_fillers: bool = True
    fillers: frozenset[str] = field(default=FILLERS)

    @property
    def name(self) -> str:
        """The steps, as shown in results (``"lowercase+punctuation+hyphens+fillers"`` by default)."""
        steps = [
            ("lowercase", self.lowercase),
            ("punctuation", self.strip_punctuation),
            ("hyphens", self.hyphens_to_spaces),
            ("fillers", self.remove_fillers),
        ]
        return "+".join(s for s, on in steps if on) or "none"

    def __call__(self, text: str) -> str:
        """The normalised ``text``: words separated by single spaces, no leading or trailing space."""
        if self.lowercase:
            text = text.lower()
        text = _APOSTROPHES.sub("'", text)
        hyphenated = sorted(f for f in self.fillers if "-" in f)
        if self.remove_fillers and self.hyphens_to_spaces and hyphenated:  # "uh-huh": one filler
            alternatives = "|".join(re.escape(f) for f in hyphenated)
            flags = 0 if self.lowercase else re.IGNORECASE
            text = re.sub(rf"(?<![\w'-])(?:{alternatives})(?![\w'-])", " ", text, flags=flags)
        if self.hyphens_to_spaces:
            text = _HYPHENS.sub(" ", text)
        if self.strip_punctuation:
            text = _LOOSE_APOSTROPHE.sub(" ", _PUNCT.sub(" ", text))
        words = text.split()
        if self.remove_fillers:
            fillers = self.fillers if self.lowercase else {f.lower() for f in self.fillers}
            words = [w for w in words if (w if self.lowercase else w.lower()) not in fillers]
        return _SPACE.sub(" ", " ".join(words)).strip()
