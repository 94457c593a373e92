"""The ``df.dg`` pandas accessor: transcripts, turns, talk time, search and captions.

``import dgtools`` registers ``df.dg`` on every DataFrame.  It works on the
``words``, ``utterances`` and ``turns`` tables of :func:`dgtools.to_tables`
(and on frames with the same column names built by hand or read back with
:func:`pandas.read_parquet`, with Arrow-backed or plain NumPy/object dtypes)::

    tables = dgtools.to_tables("responses/")
    tables.words.dg.text()              # transcript per (file_id, channel)
    tables.words.dg.turns()             # == tables.turns
    tables.utterances.dg.talk_time()    # seconds, share and pace per speaker
    tables.words.dg.search("thank you")
    tables.words.dg.to_srt()["call-17"]

The kind of table is told by its text column: ``word`` (words), ``transcript``
(utterances) or ``text`` (turns).  On a words table only the first
alternative (``alternative == 0``) is used: higher alternatives are n-best
duplicates of the same speech.  Words are taken in word order (``word_index``,
else ``start``) within each file and channel; files keep the order in which
they first appear in the frame.

The accessor is a stateless delegate: pandas builds a new one on every
``df.dg`` access, and it keeps nothing but the frame.  A method called on a
frame without the columns it needs raises :class:`AttributeError` naming them.
Key columns of a result (``file_id``, ``channel``, ``speaker``) keep the
frame's dtypes; computed columns are Arrow-backed like every dgtools table.

This module imports only pandas, NumPy and the standard library when
``dgtools`` is imported; pyarrow and :mod:`dgtools.tables` load on first use.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["DGAccessor"]

_ANY_TABLE = "the words, utterances or turns table"
_SEGMENT_TEXT = ("transcript", "text")  # utterances, turns
_SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
_CLOSERS = "\"')]}»”’"

Floats = npt.NDArray[np.float64]
Objects = npt.NDArray[np.object_]
Ints = npt.NDArray[np.intp]


@pd.api.extensions.register_dataframe_accessor("dg")
class DGAccessor:
    """Deepgram helpers on a dgtools table, as ``df.dg``.

    Parameters
    ----------
    pandas_obj : pandas.DataFrame
        The frame ``df.dg`` was accessed on: the ``words``, ``utterances`` or
        ``turns`` table of :func:`dgtools.to_tables` (or a frame with the same
        column names).

    Raises
    ------
    AttributeError
        On access, when the frame lacks ``file_id``, ``start`` or ``end``
        (every dgtools table it works on has them), naming the missing
        columns; so ``hasattr(df, "dg")`` is False for unrelated frames.

    Notes
    -----
    Each method also checks the further columns it needs and raises
    ``AttributeError`` naming the missing ones and the table it expects.

    Examples
    --------
    The examples of the methods use one diarized call (``file_id="call"``)
    whose words are "Hello there." (speaker 0) and "Thank you, Drew. Thank
    you so much." (speaker 1):

    >>> import dgtools
    >>> tables = dgtools.to_tables(response, file_id="call")   # doctest: +SKIP
    >>> words = tables.words                                   # doctest: +SKIP
    """

    def __init__(self, pandas_obj: pd.DataFrame) -> None:
        missing = [c for c in _ALWAYS if c not in pandas_obj.columns]
        if missing:
            raise AttributeError(
                f"df.dg needs columns {missing}; it works on {_ANY_TABLE} of dgtools.to_tables(...)"
            )
        self._df = pandas_obj

    # ------------------------------------------------------------------ text

    def text(self, *, punctuated: bool = True) -> pd.Series:
        """The transcript of every file and channel.

        Parameters
        ----------
        punctuated : bool, default True
            On a words table, join ``punctuated_word`` (falling back to
            ``word`` where it is null); ``False`` joins the bare ``word``.
            Utterances and turns are already punctuated: their
            ``transcript``/``text`` is joined either way.

        Returns
        -------
        pandas.Series
            Named ``text``, ``string[pyarrow]``, indexed by a
            ``(file_id, channel)`` MultiIndex; words (or rows) joined by a
            space in word (or start-time) order.  Empty for an empty frame.

        Raises
        ------
        AttributeError
            The frame lacks ``file_id``, ``channel`` or a ``word``,
            ``transcript`` or ``text`` column.

        Examples
        --------
        >>> words.dg.text()                                 # doctest: +SKIP
        file_id  channel
        call     0          Hello there. Thank you, Drew. Thank you so much.
        Name: text, dtype: string[pyarrow]
        >>> words.dg.text(punctuated=False)                 # doctest: +SKIP
        file_id  channel
        call     0          hello there thank you drew thank you so much
        Name: text, dtype: string[pyarrow]
        """
        df = self._df
        col = _text_column(df, "text")
        if col == "word":
            v = _word_view(df, "text", ["file_id", "channel", "word"])
            tokens, frame, bounds = (v.tokens if punctuated else v.words), v.frame, v.bounds
        else:
            frame = _prepare(df, "text", ["file_id", "channel", col], _ANY_TABLE)
            frame = _in_order(frame, ["file_id", "channel", *(["start"] if "start" in frame else [])])
            tokens = _strings(frame[col])
            bounds = _group_bounds(frame)
        texts = [" ".join(filter(None, tokens[a:b])) for a, b in pairwise(bounds)]
        first = bounds[:-1]
        index = pd.MultiIndex.from_arrays(
            [frame["file_id"].array.take(first), frame["channel"].array.take(first)],
            names=["file_id", "channel"],
        )
        return pd.Series(_arrow(texts, "str"), index=index, name="text")

    # ----------------------------------------------------------------- turns

    def turns(self) -> pd.DataFrame:
        """Speaker turns of a words table: a new turn at each speaker change.

        Delegates to :func:`dgtools.tables.build_turns`, so on the words table
        of :func:`dgtools.to_tables` the result equals its ``turns`` table.
        ``request_id``, ``punctuated_word``, ``confidence`` and ``speaker``
        are taken as null when the frame lacks them (no speaker: one turn per
        file and channel).

        Returns
        -------
        pandas.DataFrame
            The ``turns`` table: ``file_id, request_id, channel, turn_index,
            speaker, start, end, n_words, text, confidence``, Arrow dtypes.

        Raises
        ------
        AttributeError
            The frame lacks ``file_id``, ``channel``, ``word``, ``start`` or
            ``end`` (it is not a words table).

        Examples
        --------
        >>> words.dg.turns()[["speaker", "start", "end", "text"]]   # doctest: +SKIP
           speaker  start  end                                 text
        0        0    0.0  1.0                         Hello there.
        1        1   1.25  4.5  Thank you, Drew. Thank you so much.
        >>> words.dg.turns().equals(tables.turns)                   # doctest: +SKIP
        True
        """
        import pyarrow as pa

        from .tables import build_turns
        from .tables.schema import SCHEMAS

        needed = ["file_id", "channel", "word", "start", "end"]
        frame = _in_word_order(_alternative0(_prepare(self._df, "turns", needed, "the words table")))
        names = [
            "file_id",
            "request_id",
            "channel",
            "word",
            "punctuated_word",
            "start",
            "end",
            "confidence",
            "speaker",
        ]
        schema = pa.schema([SCHEMAS["words"].field(n).with_nullable(True) for n in names])
        null = pd.Series([None] * len(frame), dtype=object)
        sub = pd.DataFrame({n: frame[n].array if n in frame else null.array for n in names})
        table = build_turns(pa.Table.from_pandas(sub, schema=schema, preserve_index=False))
        out: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
        return out

    # ------------------------------------------------------------- talk time

    def talk_time(self) -> pd.DataFrame:
        """Speaking time, share and pace of every speaker.

        On a words table ``seconds`` sums word durations (pauses between words
        are not counted); on utterances or turns it sums segment durations
        (pauses inside a segment are counted), so the two differ.

        Returns
        -------
        pandas.DataFrame
            One row per ``(file_id, channel, speaker)``, a null speaker (no
            diarization) being its own row, with columns

            - ``seconds``: sum of ``end - start``;
            - ``share``: ``seconds`` over the file and channel's total;
            - ``words``: words spoken (``n_words`` on utterances and turns);
            - ``words_per_minute``: ``words / seconds * 60`` (null when
              ``seconds`` is 0).

            Files in frame order; channels and speakers ascending, a null
            speaker last.

        Raises
        ------
        AttributeError
            The frame lacks ``file_id``, ``channel``, ``speaker``, ``start``
            or ``end``, or (utterances, turns) ``n_words``.

        Examples
        --------
        >>> words.dg.talk_time()                           # doctest: +SKIP
          file_id  channel  speaker  seconds     share  words  words_per_minute
        0    call        0        0      1.0  0.285714      2             120.0
        1    call        0        1      2.5  0.714286      7             168.0
        """
        df = self._df
        col = _text_column(df, "talk_time")
        needed = ["file_id", "channel", "speaker", "start", "end"]
        frame = _prepare(df, "talk_time", needed, _ANY_TABLE)
        if col == "word":
            frame = _alternative0(frame)
            words = np.ones(len(frame), dtype=np.int64)
        else:
            count = next((c for c in ("n_words", "num_words") if c in frame), None)
            if count is None:
                raise _missing("talk_time", ["n_words"], _ANY_TABLE)
            words = np.nan_to_num(_floats(frame[count])).astype(np.int64)
        keys = ["file_id", "channel", "speaker"]
        rows = pd.DataFrame({k: frame[k].array for k in keys})
        rows["seconds"] = _floats(frame["end"]) - _floats(frame["start"])
        rows["words"] = words
        rows = _in_order(rows, keys)
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
        out["seconds"] = _arrow(seconds, "float")
        out["share"] = _arrow(share, "float")
        out["words"] = _arrow(out["words"].to_numpy(dtype=np.int64), "int")
        out["words_per_minute"] = _arrow(wpm, "float")
        return out[[*keys, "seconds", "share", "words", "words_per_minute"]]

    # -------------------------------------------------------- low confidence

    def low_confidence(self, threshold: float = 0.6, *, min_words: int = 1) -> pd.DataFrame:
        """Stretches Deepgram was unsure of.

        Parameters
        ----------
        threshold : float, default 0.6
            A word (or row) is low-confidence when ``confidence < threshold``;
            a null confidence never is.
        min_words : int, default 1
            Drop runs (utterances, turns) of fewer words.

        Returns
        -------
        pandas.DataFrame
            On a words table, one row per run of consecutive low-confidence
            words of the same file and channel: ``file_id, channel, start,
            end, n_words, text, mean_confidence``.  On utterances or turns,
            the rows below the threshold with all their columns (and their
            index).

        Raises
        ------
        AttributeError
            The frame lacks ``file_id``, ``channel``, ``start``, ``end`` or
            ``confidence``.

        Examples
        --------
        >>> words.dg.low_confidence()                      # doctest: +SKIP
          file_id  channel  start   end  n_words        text  mean_confidence
        0    call        0   1.25  1.75        2  Thank you,             0.45
        1    call        0   3.25   3.5        1         you             0.55
        >>> tables.utterances.dg.low_confidence(0.9)["transcript"]   # doctest: +SKIP
        1    Thank you, Drew. Thank you so much.
        Name: transcript, dtype: string[pyarrow]
        """
        df = self._df
        col = _text_column(df, "low_confidence")
        needed = ["file_id", "channel", "start", "end", "confidence"]
        if col != "word":
            frame = _prepare(df, "low_confidence", needed, _ANY_TABLE)
            keep = _floats(frame["confidence"]) < threshold
            if "n_words" in frame:
                keep &= _floats(frame["n_words"]) >= min_words
            return frame[keep]
        v = _word_view(df, "low_confidence", [*needed, "word"])
        conf = _floats(v.frame["confidence"])
        low = conf < threshold
        n = len(low)
        brk = low.copy()
        if n > 1:
            brk[1:] &= ~low[:-1] | (v.group[1:] != v.group[:-1])
        first = np.flatnonzero(brk)
        run = np.cumsum(brk) - 1
        rows = np.flatnonzero(low)
        counts = np.bincount(run[rows], minlength=len(first))
        sums = np.bincount(run[rows], weights=conf[rows], minlength=len(first))
        keep = counts >= max(min_words, 1)
        first, counts, sums = first[keep], counts[keep], sums[keep]
        last = first + counts - 1
        text = [" ".join(filter(None, v.tokens[a : b + 1])) for a, b in zip(first, last, strict=True)]
        return pd.DataFrame(
            {
                "file_id": v.frame["file_id"].array.take(first),
                "channel": v.frame["channel"].array.take(first),
                "start": _arrow(v.start[first], "float"),
                "end": _arrow(v.end[last], "float"),
                "n_words": _arrow(counts.astype(np.int64), "int"),
                "text": _arrow(text, "str"),
                "mean_confidence": _arrow(sums / np.maximum(counts, 1), "float"),
            }
        )

    # ---------------------------------------------------------------- search

    def search(self, pattern: str | re.Pattern[str], *, context: int = 3, case: bool = False) -> pd.DataFrame:
        """Find a regular expression in the words (or in each row's text).

        On a words table the pattern is matched against the words of each
        file and channel joined by single spaces, once as ``word`` and once as
        ``punctuated_word``, so ``"thank you"`` finds *thank you* across two
        words and ``r"you\\."`` finds *you.* at a sentence end.  A hit covers
        every word the match touches; the same words found by both passes are
        one hit.

        Parameters
        ----------
        pattern : str or re.Pattern
            A regular expression (:mod:`re` syntax).  Use :func:`re.escape`
            to search for literal text.
        context : int, default 3
            Words of context kept on each side of a hit (words tables).
        case : bool, default False
            Match case-sensitively.

        Returns
        -------
        pandas.DataFrame
            On a words table, one row per hit in word order: ``file_id,
            channel, speaker`` (of the first matched word), ``start`` and
            ``end`` (of the first and last matched word), ``match`` (the
            matched words, punctuated), ``context`` (up to ``context`` words
            either side with the match in the middle) and ``word_index`` (of
            the first matched word).  On utterances or turns, the matching
            rows with all their columns (and their index) plus ``match``, the
            first matched text.

        Raises
        ------
        AttributeError
            The frame lacks ``file_id``, ``channel``, ``start`` or ``end``.
        dgtools.ConfigError
            ``pattern`` is not a valid regular expression, or ``context`` is
            negative.

        Examples
        --------
        >>> words.dg.search("thank you")[["start", "end", "match", "context"]]   # doctest: +SKIP
           start   end       match                                  context
        0   1.25  1.75  Thank you,  Hello there. Thank you, Drew. Thank you
        1    3.0   3.5   Thank you      Thank you, Drew. Thank you so much.
        """
        rx = _compile(pattern, case)
        if context < 0:
            from .exceptions import ConfigError

            raise ConfigError(f"search(context={context!r}): context is a number of words, 0 or more")
        df = self._df
        col = _text_column(df, "search")
        needed = ["file_id", "channel", "start", "end"]
        if col != "word":
            frame = _prepare(df, "search", [*needed, col], _ANY_TABLE)
            found = [rx.search(t) if t else None for t in _strings(frame[col])]
            keep = np.array([m is not None for m in found], dtype=bool)
            out = frame[keep].copy()
            out["match"] = _arrow([m.group(0) for m in found if m is not None], "str")
            return out
        v = _word_view(df, "search", [*needed, "word"])
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
            word_index = _arrow(first - np.array([h[2] for h in spans], dtype=np.intp), "int")
        speaker = (
            frame["speaker"].array.take(first) if "speaker" in frame else _arrow([None] * len(first), "int")
        )
        return pd.DataFrame(
            {
                "file_id": frame["file_id"].array.take(first),
                "channel": frame["channel"].array.take(first),
                "speaker": speaker,
                "start": _arrow(v.start[first], "float"),
                "end": _arrow(v.end[last], "float"),
                "match": _arrow(match, "str"),
                "context": _arrow(around, "str"),
                "word_index": word_index,
            }
        )

    # -------------------------------------------------------------- captions

    def to_srt(
        self, *, max_chars: int = 42, max_duration: float = 7.0, speaker_labels: bool = True
    ) -> dict[str, str]:
        """SubRip (``.srt``) captions, one document per file.

        On a words table cues are built from words: a new cue starts at a
        speaker change, after a word ending a sentence (``.``, ``?``, ``!``),
        and when adding the next word would make the cue's text longer than
        ``max_chars`` or its span longer than ``max_duration`` seconds (a
        single longer word is a cue of its own).  On utterances or turns each
        row is one cue, however long.  Cues are one line each, in start-time
        order, numbered from 1.

        Parameters
        ----------
        max_chars : int, default 42
            Most characters of text in a cue (the label not counted).
        max_duration : float, default 7.0
            Longest cue, in seconds.
        speaker_labels : bool, default True
            Start each cue with ``[Speaker N]`` (not for a null speaker).

        Returns
        -------
        dict of str to str
            ``file_id`` -> the SRT document (timestamps ``HH:MM:SS,mmm``,
            cues separated by a blank line), in frame order of the files.
            When a file has words (rows) on more than one channel, every
            label names the channel too: ``[Ch 1 Speaker 0]``, or ``[Ch 1]``
            without a speaker label.  An empty frame gives ``{}``.

        Raises
        ------
        AttributeError
            The frame lacks ``file_id``, ``channel``, ``start``, ``end`` or a
            ``word``, ``transcript`` or ``text`` column.
        dgtools.ConfigError
            ``max_chars`` or ``max_duration`` is not positive.

        Examples
        --------
        >>> print(words.dg.to_srt()["call"])               # doctest: +SKIP
        1
        00:00:00,000 --> 00:00:01,000
        [Speaker 0] Hello there.
        <BLANKLINE>
        2
        00:00:01,250 --> 00:00:02,250
        [Speaker 1] Thank you, Drew.
        <BLANKLINE>
        3
        00:00:03,000 --> 00:00:04,500
        [Speaker 1] Thank you so much.
        <BLANKLINE>
        >>> for file_id, srt in words.dg.to_srt().items():             # doctest: +SKIP
        ...     pathlib.Path(f"{file_id}.srt").write_text(srt, encoding="utf-8")
        """
        return _captions(self._df, "to_srt", "srt", max_chars, max_duration, speaker_labels)

    def to_vtt(
        self, *, max_chars: int = 42, max_duration: float = 7.0, speaker_labels: bool = True
    ) -> dict[str, str]:
        """WebVTT (``.vtt``) captions, one document per file.

        Cues are built exactly as by :meth:`to_srt`.  Each document starts
        with the ``WEBVTT`` header; timestamps are ``HH:MM:SS.mmm``; speakers
        are voice spans (``<v Speaker 0>text``, ``<v Ch 1 Speaker 0>`` when a
        file has more than one channel); ``&``, ``<`` and ``>`` in the text
        are escaped.

        Parameters
        ----------
        max_chars : int, default 42
            Most characters of text in a cue (the label not counted).
        max_duration : float, default 7.0
            Longest cue, in seconds.
        speaker_labels : bool, default True
            Wrap each cue's text in a ``<v Speaker N>`` voice span.

        Returns
        -------
        dict of str to str
            ``file_id`` -> the WebVTT document, in frame order of the files.
            An empty frame gives ``{}``.

        Raises
        ------
        AttributeError
            As :meth:`to_srt`.
        dgtools.ConfigError
            ``max_chars`` or ``max_duration`` is not positive.

        Examples
        --------
        >>> print(words.dg.to_vtt()["call"])               # doctest: +SKIP
        WEBVTT
        <BLANKLINE>
        00:00:00.000 --> 00:00:01.000
        <v Speaker 0>Hello there.
        <BLANKLINE>
        00:00:01.250 --> 00:00:02.250
        <v Speaker 1>Thank you, Drew.
        <BLANKLINE>
        00:00:03.000 --> 00:00:04.500
        <v Speaker 1>Thank you so much.
        <BLANKLINE>
        """
        return _captions(self._df, "to_vtt", "vtt", max_chars, max_duration, speaker_labels)

    # ------------------------------------------------------------------ plots (dgtools.plotting)

    def confidence_timeline(self, **kwargs: Any) -> Any:
        """:func:`dgtools.plotting.confidence_timeline` of this words table; returns the Axes.

        Examples
        --------
        >>> words.dg.confidence_timeline(file_id="call", threshold=0.7)   # doctest: +SKIP
        """
        from .plotting import confidence_timeline

        return confidence_timeline(self._df, **kwargs)

    def speaker_lanes(self, **kwargs: Any) -> Any:
        """:func:`dgtools.plotting.speaker_lanes` of this words, utterances or turns table; returns the Axes."""
        from .plotting import speaker_lanes

        return speaker_lanes(self._df, **kwargs)

    def plot_talk_time(self, **kwargs: Any) -> Any:
        """:func:`dgtools.plotting.talk_time` bars (``talk_time()`` returns the table); returns the Axes."""
        from .plotting import talk_time

        return talk_time(self._df, **kwargs)

    def confidence_distribution(self, **kwargs: Any) -> Any:
        """:func:`dgtools.plotting.confidence_distribution` of this words table; returns the Axes."""
        from .plotting import confidence_distribution

        return confidence_distribution(self._df, **kwargs)


# --------------------------------------------------------------------------- column checks


def _missing(method: str, columns: Sequence[str], works_on: str) -> AttributeError:
    return AttributeError(
        f"df.dg.{method}() needs columns {list(columns)}; it works on {works_on} of dgtools.to_tables(...)"
    )


def _prepare(df: pd.DataFrame, method: str, needed: Sequence[str], works_on: str) -> pd.DataFrame:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise _missing(method, missing, works_on)
    return df


def _text_column(df: pd.DataFrame, method: str) -> str:
    """``word`` (words table), ``transcript`` (utterances) or ``text`` (turns)."""
    for col in ("word", *_SEGMENT_TEXT):
        if col in df.columns:
            return col
    raise AttributeError(
        f"df.dg.{method}() needs a 'word', 'transcript' or 'text' column; "
        f"it works on {_ANY_TABLE} of dgtools.to_tables(...)"
    )


# --------------------------------------------------------------------------- words in order


#: Columns of every table the accessor works on (words, utterances, turns).
_ALWAYS = ("file_id", "start", "end")


@dataclass(frozen=True)
class _WordView:
    """Alternative-0 words in word order, with their text and times as NumPy arrays."""

    frame: pd.DataFrame  # RangeIndex
    tokens: Objects  # punctuated_word, else word, else ""
    words: Objects  # word, else ""
    start: Floats
    end: Floats
    group: Ints  # (file_id, channel) group number of each row
    bounds: Ints  # first row of each group, then len(frame)


def _word_view(df: pd.DataFrame, method: str, needed: Sequence[str]) -> _WordView:
    frame = _in_word_order(_alternative0(_prepare(df, method, needed, _ANY_TABLE)))
    n = len(frame)
    words = _strings(frame["word"])
    if "punctuated_word" in frame:
        tokens = _strings(frame["punctuated_word"])
        empty = tokens == ""
        tokens[empty] = words[empty]
    else:
        tokens = words
    nan = np.full(n, np.nan)
    start = _floats(frame["start"]) if "start" in frame else nan
    end = _floats(frame["end"]) if "end" in frame else nan
    bounds = _group_bounds(frame)
    group = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    return _WordView(frame, tokens, words, start, end, group, bounds)


def _alternative0(df: pd.DataFrame) -> pd.DataFrame:
    if "alternative" not in df.columns:
        return df
    keep = df["alternative"].eq(0).to_numpy(dtype=bool, na_value=False)
    return df if keep.all() else df[keep]


def _in_word_order(df: pd.DataFrame) -> pd.DataFrame:
    order = next((c for c in ("word_index", "start") if c in df.columns), None)
    return _in_order(df, ["file_id", "channel", *([order] if order else [])])


def _in_order(df: pd.DataFrame, by: Sequence[Hashable]) -> pd.DataFrame:
    """Stable sort: ``by[0]`` in order of first appearance, the rest ascending, nulls last."""
    if len(df) > 1:
        keys = [_sort_key(df[col], by_appearance=i == 0) for i, col in enumerate(by)]
        perm = np.lexsort(keys[::-1])
        if (np.diff(perm) < 0).any():
            df = df.take(perm)
    return df.reset_index(drop=True)


def _sort_key(s: pd.Series, *, by_appearance: bool = False) -> npt.NDArray[Any]:
    """Numbers that sort (and compare equal) like ``s``, nulls last; or codes in order of first appearance."""
    if (
        not by_appearance
        and pd.api.types.is_numeric_dtype(s.dtype)
        and not pd.api.types.is_bool_dtype(s.dtype)
    ):
        return np.nan_to_num(_floats(s), nan=np.inf, posinf=np.inf)  # faster than factorizing numbers
    codes, uniques = pd.factorize(s, sort=not by_appearance)
    return np.where(codes < 0, len(uniques), codes)


def _group_bounds(frame: pd.DataFrame) -> Ints:
    """Row offsets where each run of equal ``(file_id, channel)`` starts, then ``len(frame)``."""
    n = len(frame)
    change = np.ones(n, dtype=bool)
    if n > 1:
        f = _sort_key(frame["file_id"], by_appearance=True)
        c = _sort_key(frame["channel"])
        change[1:] = (f[1:] != f[:-1]) | (c[1:] != c[:-1])
    return np.append(np.flatnonzero(change), n).astype(np.intp)


# --------------------------------------------------------------------------- conversions


def _floats(s: pd.Series) -> Floats:
    out: Floats = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _strings(s: pd.Series) -> Objects:
    """Object array of ``str``, with ``""`` for nulls."""
    values: Objects = s.to_numpy(dtype=object, na_value="")
    return np.array([v if isinstance(v, str) else str(v) for v in values], dtype=object)


def _arrow(values: Any, kind: Literal["float", "int", "str"]) -> Any:
    """An Arrow-backed pandas array (``NaN`` and ``None`` become null)."""
    import pyarrow as pa

    typ = {"float": pa.float64(), "int": pa.int64(), "str": pa.string()}[kind]
    return pd.arrays.ArrowExtensionArray(pa.array(values, typ, from_pandas=True))


def _label_id(value: Any) -> str | None:
    """``0`` for 0, 0.0 or '0'; None for a null."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- search


def _compile(pattern: str | re.Pattern[str], case: bool) -> re.Pattern[str]:
    flags = 0 if case else re.IGNORECASE
    try:
        if isinstance(pattern, re.Pattern):
            return re.compile(pattern.pattern, (pattern.flags & ~re.IGNORECASE) | flags)
        return re.compile(pattern, flags)
    except re.error as exc:
        from .exceptions import ConfigError

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


# --------------------------------------------------------------------------- captions


@dataclass(frozen=True)
class _Cue:
    start: float
    end: float
    channel: Any
    speaker: Any
    text: str


def _captions(
    df: pd.DataFrame,
    method: str,
    fmt: Literal["srt", "vtt"],
    max_chars: int,
    max_duration: float,
    speaker_labels: bool,
) -> dict[str, str]:
    if not max_chars > 0 or not max_duration > 0:
        from .exceptions import ConfigError

        raise ConfigError(
            f"{method}(max_chars={max_chars!r}, max_duration={max_duration!r}): both must be positive"
        )
    col = _text_column(df, method)
    needed = ["file_id", "channel", "start", "end"]
    if col == "word":
        v = _word_view(df, method, [*needed, "word"])
        frame, bounds = v.frame, v.bounds
        speakers, codes = _speakers(frame)
        cues = [_word_cues(v, speakers, codes, a, b, max_chars, max_duration) for a, b in pairwise(bounds)]
    else:
        frame = _in_order(_prepare(df, method, [*needed, col], _ANY_TABLE), ["file_id", "channel", "start"])
        bounds = _group_bounds(frame)
        cues = [_row_cues(frame, col, a, b) for a, b in pairwise(bounds)]
    files: dict[str, list[list[_Cue]]] = {}
    for a, group in zip(bounds[:-1], cues, strict=True):
        files.setdefault(str(frame["file_id"].iat[a]), []).append(group)
    return {fid: _document(groups, fmt, speaker_labels) for fid, groups in files.items()}


def _speakers(frame: pd.DataFrame) -> tuple[Objects, npt.NDArray[Any]]:
    """Speaker values (None for null) and keys for change detection."""
    if "speaker" not in frame:
        return np.full(len(frame), None, dtype=object), np.full(len(frame), -1, dtype=np.intp)
    values: Objects = frame["speaker"].to_numpy(dtype=object, na_value=None)
    return values, _sort_key(frame["speaker"])


def _word_cues(
    v: _WordView,
    speakers: Objects,
    codes: npt.NDArray[Any],
    a: int,
    b: int,
    max_chars: int,
    max_duration: float,
) -> list[_Cue]:
    """Cues of the words ``a:b`` (one file and channel)."""
    channel = v.frame["channel"].iat[a]
    cues: list[_Cue] = []
    words: list[str] = []
    chars = 0
    cue_start = cue_end = 0.0
    code: Any = None
    speaker: Any = None
    group_codes = codes[a:b].tolist()
    group_speakers = speakers[a:b].tolist()
    rows = zip(v.tokens[a:b].tolist(), v.start[a:b].tolist(), v.end[a:b].tolist(), strict=True)
    for i, (tok, start, end) in enumerate(rows):
        if not tok or start != start or end != end:  # NaN != NaN
            continue
        if words and (
            group_codes[i] != code
            or chars + 1 + len(tok) > max_chars
            or end - cue_start > max_duration
            or words[-1].rstrip(_CLOSERS).endswith(_SENTENCE_END)
        ):
            cues.append(_Cue(cue_start, cue_end, channel, speaker, " ".join(words)))
            words = []
        if not words:
            cue_start, code, speaker, chars = start, group_codes[i], group_speakers[i], len(tok)
        else:
            chars += 1 + len(tok)
        words.append(tok)
        cue_end = end
    if words:
        cues.append(_Cue(cue_start, cue_end, channel, speaker, " ".join(words)))
    return cues


def _row_cues(frame: pd.DataFrame, col: str, a: int, b: int) -> list[_Cue]:
    """One cue per row ``a:b`` (one file and channel) of an utterances or turns frame."""
    part = frame.iloc[a:b]
    speakers, _ = _speakers(part)
    start, end, text = _floats(part["start"]), _floats(part["end"]), _strings(part[col])
    channel = part["channel"].iat[0]
    cues = []
    for i in range(b - a):
        line = " ".join(text[i].split())  # a newline inside a cue would end it
        if line and not np.isnan(start[i]) and not np.isnan(end[i]):
            cues.append(_Cue(float(start[i]), float(end[i]), channel, speakers[i], line))
    return cues


def _document(groups: list[list[_Cue]], fmt: Literal["srt", "vtt"], speaker_labels: bool) -> str:
    multichannel = len(groups) > 1
    cues = sorted((c for g in groups for c in g), key=lambda c: c.start)  # stable: channel order on ties
    sep = "," if fmt == "srt" else "."
    blocks = []
    for k, cue in enumerate(cues, 1):
        parts = []
        if multichannel:
            parts.append(f"Ch {_label_id(cue.channel)}")
        spk = _label_id(cue.speaker)
        if speaker_labels and spk is not None:
            parts.append(f"Speaker {spk}")
        label = " ".join(parts)
        times = f"{_timestamp(cue.start, sep)} --> {_timestamp(cue.end, sep)}"
        if fmt == "srt":
            text = f"[{label}] {cue.text}" if label else cue.text
            blocks.append(f"{k}\n{times}\n{text}\n")
        else:
            text = cue.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            blocks.append(f"{times}\n<v {label}>{text}\n" if label else f"{times}\n{text}\n")
    if fmt == "srt":
        return "\n".join(blocks)
    return "WEBVTT\n" + "".join("\n" + b for b in blocks)


def _timestamp(seconds: float, sep: str) -> str:
    """``HH:MM:SS,mmm`` (``sep=","``, SRT) or ``HH:MM:SS.mmm`` (WebVTT)."""
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"
