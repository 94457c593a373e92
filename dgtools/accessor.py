"""The ``df.dg`` pandas accessor: transcripts, turns, talk time, search, captions and plots.

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

The accessor is a thin, stateless delegate: pandas builds a new one on every
``df.dg`` access, it keeps nothing but the frame, and each method is one
call into :mod:`dgtools.analysis` (the frame functions), :mod:`dgtools.io.captions`
(SRT and WebVTT) or :mod:`dgtools.plotting`; see those for how results are
computed.  A method called on a frame without the columns it needs raises
:class:`AttributeError` naming them.

This module imports only pandas, NumPy and the standard library when
``dgtools`` is imported; pyarrow, matplotlib and :mod:`dgtools.tables` load on first use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from . import analysis, plotting
from .io import ass, captions

__all__ = ["DGAccessor"]

#: Columns of every table the accessor works on (words, utterances, turns).
_ALWAYS = ("file_id", "start", "end")


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
    >>> tables = dgtools.to_tables(response, file_id="call")
    >>> words = tables.words
    """

    def __init__(self, pandas_obj: pd.DataFrame) -> None:
        analysis.require_columns(pandas_obj, _ALWAYS, caller="df.dg")
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
        >>> words.dg.text()
        file_id  channel
        call     0          Hello there. Thank you, Drew. Thank you so much.
        Name: text, dtype: string[pyarrow]
        >>> words.dg.text(punctuated=False)
        file_id  channel
        call     0          hello there thank you drew thank you so much
        Name: text, dtype: string[pyarrow]
        """
        return analysis.text(self._df, punctuated=punctuated, caller="df.dg.text()")

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
        >>> words.dg.turns()[["speaker", "start", "end", "text"]]
           speaker  start  end                                 text
        0        0    0.0  1.0                         Hello there.
        1        1   1.25  4.5  Thank you, Drew. Thank you so much.
        >>> words.dg.turns().equals(tables.turns)
        True
        """
        return analysis.turns(self._df, caller="df.dg.turns()")

    # ------------------------------------------------------------- talk time

    def talk_time(self) -> pd.DataFrame:
        """Speaking time, share and pace of every speaker.

        Speaking time is the span of each turn, from its first word's start to
        its last word's end (pauses inside a turn count, gaps between turns do
        not), so a words, utterances or turns table of the same call gives the
        same numbers; see :func:`dgtools.analysis.talk_time` for where they
        must differ (Deepgram utterances that hold two speakers' words, the
        turns table of multichannel audio).

        Returns
        -------
        pandas.DataFrame
            One row per ``(file_id, channel, speaker)``, a null speaker (no
            diarization) being its own row, with columns

            - ``seconds``: the speaker's speaking time;
            - ``share``: ``seconds`` over the file's total (all its channels);
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
        >>> words.dg.talk_time()
          file_id  channel  speaker  seconds     share  words  words_per_minute
        0    call        0        0      1.0  0.235294      2             120.0
        1    call        0        1     3.25  0.764706      7        129.230769
        >>> tables.utterances.dg.talk_time().equals(words.dg.talk_time())
        True
        """
        return analysis.talk_time(self._df, caller="df.dg.talk_time()")

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
        >>> words.dg.low_confidence()
          file_id  channel  start   end  n_words        text  mean_confidence
        0    call        0   1.25  1.75        2  Thank you,             0.45
        1    call        0   3.25   3.5        1         you             0.55
        >>> tables.utterances.dg.low_confidence(0.9)["transcript"]
        1    Thank you, Drew. Thank you so much.
        Name: transcript, dtype: string[pyarrow]
        """
        return analysis.low_confidence(
            self._df, threshold, min_words=min_words, caller="df.dg.low_confidence()"
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
        >>> words.dg.search("thank you")[["start", "end", "match", "context"]]
           start   end       match                                  context
        0   1.25  1.75  Thank you,  Hello there. Thank you, Drew. Thank you
        1    3.0   3.5   Thank you      Thank you, Drew. Thank you so much.
        """
        return analysis.search(self._df, pattern, context=context, case=case, caller="df.dg.search()")

    # -------------------------------------------------------------- captions

    def to_srt(
        self,
        *,
        preset: captions.Preset | None = None,
        max_chars: int | None = None,
        max_lines: int | None = None,
        min_duration: float | None = None,
        max_duration: float | None = None,
        max_cps: float | None = None,
        min_gap: float | None = None,
        speaker_labels: bool = True,
        speakers: Mapping[Any, str] | None = None,
        by_channel: bool = False,
    ) -> dict[str, str]:
        """SubRip (``.srt``) captions, one document per file.

        Cues are built from words: a new cue starts at a speaker change,
        after a word ending a sentence (``.``, ``?``, ``!``), and when the
        next word would no longer fit ``max_lines`` lines of ``max_chars``
        (broken at spaces, balanced) or would make its span longer than
        ``max_duration`` seconds (a single longer word is a cue of its own).
        Utterances and turns are split by the same rules.  Ends are stretched
        towards ``min_duration`` and ``max_cps`` and clamped to the next
        cue's start minus ``min_gap``, so a channel's cues never overlap
        (:mod:`dgtools.io.captions`; check a result with
        :func:`dgtools.io.captions.cue_qa`).  Cues are in start-time order,
        numbered from 1.

        Parameters
        ----------
        preset : {"broadcast", "social", "verbatim"}, optional
            Named limits: broadcast 42x2, 1-7 s, 17 cps, 0.08 s gap; social
            32x1, 0.7-3 s, 20 cps; verbatim 42x2, up to 7 s, no cps cap.
            None: one line of 42, up to 7 s.
        max_chars, max_lines, min_duration, max_duration, max_cps, min_gap : optional
            Override the preset's limit: characters per line (the label not
            counted), lines per cue, shortest and longest cue in seconds,
            characters per second, seconds between cues.
        speaker_labels : bool, default True
            Start each cue with ``[Speaker N]`` (not for a null speaker).
        speakers : mapping, optional
            Speaker id -> name for the labels (``{0: "Agent", 1: "Caller"}``
            gives ``[Agent] ...``).
        by_channel : bool, default False
            One document per file and channel, keyed ``"{file_id}.ch{channel}"``.

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
            An unknown preset or a limit out of range.

        Examples
        --------
        >>> print(words.dg.to_srt()["call"])
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
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> for file_id, srt in words.dg.to_srt().items():
        ...     _ = (out / f"{file_id}.srt").write_text(srt, encoding="utf-8")
        >>> sorted(p.name for p in out.iterdir())
        ['call.srt']
        """
        return captions.to_srt(
            self._df,
            preset=preset,
            max_chars=max_chars,
            max_lines=max_lines,
            min_duration=min_duration,
            max_duration=max_duration,
            max_cps=max_cps,
            min_gap=min_gap,
            speaker_labels=speaker_labels,
            speakers=speakers,
            by_channel=by_channel,
            caller="df.dg.to_srt()",
        )

    def to_vtt(
        self,
        *,
        preset: captions.Preset | None = None,
        max_chars: int | None = None,
        max_lines: int | None = None,
        min_duration: float | None = None,
        max_duration: float | None = None,
        max_cps: float | None = None,
        min_gap: float | None = None,
        speaker_labels: bool = True,
        speakers: Mapping[Any, str] | None = None,
        by_channel: bool = False,
    ) -> dict[str, str]:
        """WebVTT (``.vtt``) captions, one document per file.

        Cues are built exactly as by :meth:`to_srt`.  Each document starts
        with the ``WEBVTT`` header; timestamps are ``HH:MM:SS.mmm``; speakers
        are voice spans (``<v Speaker 0>text``, ``<v Ch 1 Speaker 0>`` when a
        file has more than one channel); ``&``, ``<`` and ``>`` in the text
        are escaped.

        Parameters
        ----------
        preset, max_chars, max_lines, min_duration, max_duration, max_cps, min_gap, by_channel
            As :meth:`to_srt`.
        speaker_labels : bool, default True
            Wrap each cue's text in a ``<v Speaker N>`` voice span.
        speakers : mapping, optional
            Speaker id -> name for the voice spans (``<v Agent>``).

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
            An unknown preset or a limit out of range.

        Examples
        --------
        >>> print(words.dg.to_vtt()["call"])
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
        return captions.to_vtt(
            self._df,
            preset=preset,
            max_chars=max_chars,
            max_lines=max_lines,
            min_duration=min_duration,
            max_duration=max_duration,
            max_cps=max_cps,
            min_gap=min_gap,
            speaker_labels=speaker_labels,
            speakers=speakers,
            by_channel=by_channel,
            caller="df.dg.to_vtt()",
        )

    def to_ass(
        self,
        *,
        preset: captions.Preset | None = None,
        max_chars: int | None = None,
        max_lines: int | None = None,
        min_duration: float | None = None,
        max_duration: float | None = None,
        max_cps: float | None = None,
        min_gap: float | None = None,
        speaker_labels: bool = True,
        speakers: Mapping[Any, str] | None = None,
        by_channel: bool = False,
    ) -> dict[str, str]:
        """Advanced SubStation Alpha (``.ass``) captions, one document per file.

        Cues are built exactly as by :meth:`to_srt` and written by pysubs2
        (``pip install 'dgtools[captions]'``); the speaker label fills each
        event's ``Name``, lines are joined by ``\\N``.

        Parameters
        ----------
        preset, max_chars, max_lines, min_duration, max_duration, max_cps, min_gap, speakers, by_channel
            As :meth:`to_srt`.
        speaker_labels : bool, default True
            Fill each event's ``Name`` with ``Speaker N`` (or the mapped name).

        Returns
        -------
        dict of str to str
            ``file_id`` -> the ASS document, in frame order of the files.

        Raises
        ------
        dgtools.MissingDependencyError
            pysubs2 is not installed.
        AttributeError, dgtools.ConfigError
            As :meth:`to_srt`.

        Examples
        --------
        >>> words.dg.to_ass(speakers={0: "Agent"})["call"].splitlines()[-1]
        'Dialogue: 0,0:00:03.00,0:00:04.50,Default,Speaker 1,0,0,0,,Thank you so much.'
        """
        return ass.to_ass(
            self._df,
            preset=preset,
            max_chars=max_chars,
            max_lines=max_lines,
            min_duration=min_duration,
            max_duration=max_duration,
            max_cps=max_cps,
            min_gap=min_gap,
            speaker_labels=speaker_labels,
            speakers=speakers,
            by_channel=by_channel,
            caller="df.dg.to_ass()",
        )

    # ------------------------------------------------------------------ scoring formats (dgtools.io)

    def to_rttm(self, *, speakers: Mapping[Any, str] | None = None, max_gap: float = 0.5) -> dict[str, str]:
        """RTTM speaker turns of this table, one document per file (:func:`dgtools.io.to_rttm`).

        Parameters
        ----------
        speakers : mapping, optional
            Deepgram speaker id -> the name written (``{0: "agent"}``).
        max_gap : float, default 0.5
            Of a words table: the longest silence (seconds) kept inside one speaker's turn.

        Returns
        -------
        dict of str to str
            ``file_id`` -> the RTTM text, for pyannote.metrics and ``dgtools.der``.

        Examples
        --------
        >>> words.dg.to_rttm(speakers={0: "agent"})["call"].splitlines()[0]
        'SPEAKER call 1 0.000 1.000 <NA> <NA> agent <NA> <NA>'
        """
        from .io import rttm

        return rttm.to_rttm(self._df, speakers=speakers, max_gap=max_gap)

    def to_stm(self, *, speakers: Mapping[Any, str] | None = None) -> dict[str, str]:
        """NIST STM of this table's rows (words, utterances or turns), one document per file.

        See :func:`dgtools.io.to_stm`; ``speakers`` maps ids to the names written.

        Examples
        --------
        >>> words.dg.to_stm()["call"].splitlines()[0]
        'call 1 0 0.000 0.500 Hello'
        """
        from .io import stm

        return stm.to_stm(self._df, speakers=speakers)

    def to_ctm(self, *, punctuated: bool = False) -> dict[str, str]:
        """NIST CTM word timings of this words table, one document per file (:func:`dgtools.io.to_ctm`).

        ``punctuated=True`` writes ``punctuated_word`` (scorers expect the plain ``word``).

        Examples
        --------
        >>> words.dg.to_ctm()["call"].splitlines()[0]
        'call 1 0.000 0.500 hello 0.9900'
        """
        from .io import stm

        return stm.to_ctm(self._df, punctuated=punctuated)

    # ------------------------------------------------------------------ plots (dgtools.plotting)

    def confidence_timeline(self, **kwargs: Any) -> Any:
        """:func:`dgtools.plotting.confidence_timeline` of this words table; returns the Axes.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> words.dg.confidence_timeline(file_id="call", threshold=0.7, ax=ax) is ax
        True
        >>> plt.close(fig)
        """
        return plotting.confidence_timeline(self._df, **kwargs)

    def speaker_lanes(self, **kwargs: Any) -> Any:
        """:func:`dgtools.plotting.speaker_lanes` of this words, utterances or turns table; returns the Axes.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> tables.utterances.dg.speaker_lanes(file_id="call", ax=ax) is ax
        True
        >>> plt.close(fig)
        """
        return plotting.speaker_lanes(self._df, **kwargs)

    def plot_talk_time(self, **kwargs: Any) -> Any:
        """:func:`dgtools.plotting.talk_time` bars (``talk_time()`` returns the table); returns the Axes.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> words.dg.plot_talk_time(by="speaker", ax=ax) is ax
        True
        >>> plt.close(fig)
        """
        return plotting.talk_time(self._df, **kwargs)

    def confidence_distribution(self, **kwargs: Any) -> Any:
        """:func:`dgtools.plotting.confidence_distribution` of this words table; returns the Axes.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> words.dg.confidence_distribution(by="speaker", kind="ecdf", ax=ax) is ax
        True
        >>> plt.close(fig)
        """
        return plotting.confidence_distribution(self._df, **kwargs)
