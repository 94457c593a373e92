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
``caller=`` names the call in the message).  The package imports pandas and
NumPy only; pyarrow and :mod:`dgtools.tables` load on first use.  One module
per job, their public names re-exported here:

- :mod:`~dgtools.analysis.words`: the building blocks (:func:`require_columns`,
  :func:`text_column`, :func:`first_alternative`, :func:`word_view`,
  :func:`word_tokens`, :func:`group_bounds`) that serve the other modules
  reading words (:mod:`dgtools.io`, plots, widgets), :func:`text` and :func:`turns`;
- :mod:`~dgtools.analysis.talk`: :func:`speaking_turns`, :func:`talk_time` and
  :func:`file_stats`, with the one definition of speaking time, share, words
  per minute, words and speakers that every table, plot and widget uses;
- :mod:`~dgtools.analysis.find`: :func:`low_confidence` and :func:`search`;
- :mod:`~dgtools.analysis.diff`: :func:`word_diff` and :func:`diff_rate`;
- :mod:`~dgtools.analysis.stream`: :func:`revisions` (interim against final results of a live stream).
"""

from __future__ import annotations

from .diff import diff_rate, word_diff
from .find import low_confidence, search
from .stream import revisions
from .talk import file_stats, speaking_turns, talk_time
from .words import (
    ANY_TABLE,
    WordView,
    first_alternative,
    group_bounds,
    in_word_order,
    require_columns,
    text,
    text_column,
    turns,
    word_tokens,
    word_view,
)

__all__ = [
    "ANY_TABLE",
    "WordView",
    "diff_rate",
    "file_stats",
    "first_alternative",
    "group_bounds",
    "in_word_order",
    "low_confidence",
    "require_columns",
    "revisions",
    "search",
    "speaking_turns",
    "talk_time",
    "text",
    "text_column",
    "turns",
    "word_diff",
    "word_tokens",
    "word_view",
]
