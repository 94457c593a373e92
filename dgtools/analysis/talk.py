"""Who speaks how much: speaking turns, talk time and per-file counts.

One definition of each measure, whatever table it starts from:

- **Speaking time** is the time from a turn's first word start to its last
  word end, summed over the speaker's turns: pauses inside a turn count,
  gaps between turns do not.  A *turn* is a maximal stretch of one speaker
  (one ``(channel, speaker)`` lane) in a file: it ends where another speaker
  takes over, or where another channel speaks in a pause of this one.  From
  a words table the turns are built from the words; from utterances or
  turns, consecutive rows of one lane are joined into a turn unless another
  lane speaks between them.  So words, utterances and turns of the same call
  give the same speaking time (:func:`speaking_turns`).
- **Share** is a lane's speaking time over the summed speaking time of every
  lane of the file (all its channels and speakers).
- **Words per minute** is the lane's words over its speaking time in minutes.
- **Words** are first-alternative words (``n_words`` of utterances and
  turns); **speakers** are distinct non-null speaker ids of a file
  (:func:`file_stats`).  Counts are integers, never floats.

Where the tables must differ, and why:

- Deepgram gives an utterance one speaker, but its words carry their own
  speakers, and now and then an utterance holds words of two speakers (a
  change of speaker with no pause).  Words and turns follow each word's
  speaker; utterances give those words and their time to the utterance's
  speaker.  Relabelling each word with its utterance's speaker gives exactly
  the talk time of the utterances (``tests/test_analysis.py`` shows it on a
  real response: speakers 1 and 2 get shares of 65.2% and 19.9% from words
  and turns, 63.8% and 21.3% from utterances).
- The turns table holds the turns of one channel at a time
  (:func:`dgtools.tables.build_turns`), so a turn of a multichannel file runs
  on while the other channels speak.  Talk time from the turns table of such
  a file counts that time, and says so with a :class:`~dgtools.DGToolsWarning`;
  pass the words or utterances table.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._frames import Floats, Ints, arrow_array, floats, in_order, sort_key
from ..exceptions import DGToolsWarning
from .words import default_caller, first_alternative, require_columns, text_column

__all__ = ["file_stats", "speaking_turns", "talk_time"]

_KEYS = ["file_id", "channel", "speaker"]
_COUNTS = ("n_words", "num_words")  # words of a row of utterances/turns, of paragraphs/sentences


def _word_counts(frame: pd.DataFrame, *, caller: str, required: bool) -> Floats:
    """Words of each row: 1 per row of a words table, else ``n_words``; NaN where unknown."""
    if "word" in frame.columns:
        return np.ones(len(frame))
    count = next((c for c in _COUNTS if c in frame.columns), None)
    if count is None:
        if required:
            require_columns(frame, ["n_words"], caller=caller)
        return np.full(len(frame), np.nan)
    return np.nan_to_num(floats(frame[count]))


def speaking_turns(df: pd.DataFrame, *, caller: str | None = None) -> pd.DataFrame:
    """The turns that speaking time is measured on, from a words, utterances or turns table.

    A turn is a maximal stretch of one ``(channel, speaker)`` lane of a file,
    in time order: it ends where another lane speaks in its pause (another
    speaker of the channel, or another channel).  Rows without a start or an
    end are left out; on a words table only the first alternative is read.

    Parameters
    ----------
    df : pandas.DataFrame
        The words, utterances or turns table (``file_id``, ``channel``,
        ``speaker``, ``start``, ``end``; ``word`` or ``n_words`` to count words).
    caller : str, optional
        The call named in error messages and warnings.

    Returns
    -------
    pandas.DataFrame
        One row per turn, files in frame order, then by ``start``:
        ``file_id, channel, speaker`` (the frame's dtypes), ``start`` (its
        first word's start), ``end`` (its last word's end), ``seconds``
        (``end - start``) and ``words`` (null when the frame cannot count
        them).  On a mono file this is the file's ``turns`` table, whichever
        table it is built from.

    Raises
    ------
    AttributeError
        ``df`` lacks ``file_id``, ``channel``, ``speaker``, ``start`` or ``end``.

    Warns
    -----
    DGToolsWarning
        ``df`` is a turns table (it has a ``text`` column) holding a file of
        more than one channel: its turns span the other channels' speech.

    Examples
    --------
    Two speakers; speaker 0 pauses from 1.0 s to 2.0 s, speaker 1 speaks from
    2.5 s to 3.0 s, so speaker 0's pause at 1.0-2.0 s is inside its turn:

    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": 0, "word": ["a", "b", "c", "d"],
    ...                       "start": [0.0, 2.0, 2.5, 3.5], "end": [1.0, 2.5, 3.0, 4.0],
    ...                       "speaker": [0, 0, 1, 0]})
    >>> speaking_turns(words)
      file_id  channel  speaker  start  end  seconds  words
    0       f        0        0    0.0  2.5      2.5      2
    1       f        0        1    2.5  3.0      0.5      1
    2       f        0        0    3.5  4.0      0.5      1
    """
    caller = default_caller("speaking_turns", caller)
    frame = require_columns(df, [*_KEYS, "start", "end"], caller=caller)
    if "word" in frame.columns:
        frame = first_alternative(frame)
    elif "text" in frame.columns:
        _warn_multichannel_turns(frame, caller)
    start, end = floats(frame["start"]), floats(frame["end"])
    timed = np.flatnonzero(~(np.isnan(start) | np.isnan(end)))
    fkey = sort_key(frame["file_id"], by_appearance=True)[timed]
    ckey, skey = sort_key(frame["channel"])[timed], sort_key(frame["speaker"])[timed]
    start, end = start[timed], end[timed]
    end = np.maximum(end, start)
    order = np.lexsort((np.arange(len(timed)), skey, ckey, start, fkey))  # file, then time
    rows, fkey, start, end = timed[order], fkey[order], start[order], end[order]
    lane = _group_ids(fkey, ckey[order], skey[order])
    new = _turn_starts(fkey, lane, start, end)
    number = pd.Series(new.astype(np.int64)).groupby(lane).cumsum().to_numpy()
    turn = _group_ids(lane, number)  # numbered in order of their first row
    n = int(turn.max()) + 1 if len(turn) else 0
    first = _first_rows(turn, n)
    t_start = np.full(n, np.inf)
    t_end = np.full(n, -np.inf)
    np.minimum.at(t_start, turn, start)
    np.maximum.at(t_end, turn, end)
    counts = _word_counts(frame, caller=caller, required=False)[rows]
    t_words = np.bincount(turn, weights=np.nan_to_num(counts), minlength=n)
    known = not np.isnan(counts).any()
    take = rows[first]
    return pd.DataFrame(
        {
            "file_id": frame["file_id"].array.take(take),
            "channel": frame["channel"].array.take(take),
            "speaker": frame["speaker"].array.take(take),
            "start": arrow_array(t_start, "float"),
            "end": arrow_array(t_end, "float"),
            "seconds": arrow_array(t_end - t_start, "float"),
            "words": arrow_array(t_words.round().astype(np.int64) if known else [None] * n, "int"),
        }
    )


def _group_ids(*keys: npt.NDArray[Any]) -> Ints:
    """One id per distinct tuple of ``keys`` (no NaN in them), numbered in order of first appearance."""
    ids = np.zeros(len(keys[0]), dtype=np.int64)
    for key in keys:
        codes, uniques = pd.factorize(key)
        ids = pd.factorize(ids * len(uniques) + codes)[0]  # ids * len(uniques) < n * n: no overflow
    out: Ints = ids.astype(np.intp)
    return out


def _turn_starts(fkey: Floats, lane: Ints, start: Floats, end: Floats) -> npt.NDArray[np.bool_]:
    """Whether each row (sorted by file, then start) begins a new turn of its lane.

    A row begins a turn when it is its lane's first, or when it starts after
    its lane's speech so far has ended (a pause) and another lane speaks in
    that pause: some row of the file that starts before it ends after the
    lane's speech so far.  Rows of the lane itself end no later than that, so
    the running maximum end of the file's earlier rows tells.
    """
    n = len(start)
    if not n:
        return np.zeros(0, dtype=bool)
    idx = np.arange(n)
    new_file = np.r_[True, fkey[1:] != fkey[:-1]]
    new_time = new_file | np.r_[True, start[1:] != start[:-1]]
    file_first = np.maximum.accumulate(np.where(new_file, idx, 0))
    time_first = np.maximum.accumulate(np.where(new_time, idx, 0))  # first row of the file starting then
    reach = pd.Series(end).groupby(fkey).cummax().to_numpy()  # latest end of the file's rows so far
    before = np.where(time_first > file_first, reach[np.maximum(time_first - 1, 0)], -np.inf)
    lane_reach = pd.Series(end).groupby(lane).cummax()
    spoken = lane_reach.groupby(lane).shift(1).to_numpy(dtype=np.float64)  # the lane's speech so far ends
    lane_first = np.isnan(spoken)
    out: npt.NDArray[np.bool_] = lane_first | ((start > spoken) & (before > spoken))
    return out


def _warn_multichannel_turns(frame: pd.DataFrame, caller: str) -> None:
    if "channel" not in frame.columns or len(frame) < 2:
        return
    channels = frame.groupby(frame["file_id"].to_numpy(dtype=object), sort=False)["channel"].nunique()
    many = [str(f) for f in channels.index[channels.to_numpy() > 1]]
    if not many:
        return
    from ..tables.failures import caller_stacklevel

    shown = ", ".join(repr(f) for f in many[:5]) + (f" and {len(many) - 5} more" if len(many) > 5 else "")
    warnings.warn(
        f"{caller}: the turns table holds the turns of one channel at a time, so a turn of {shown} "
        f"(more than one channel) runs on while the other channels speak, and its speaking time counts "
        f"that time; pass the words or utterances table for the talk time of multichannel audio",
        DGToolsWarning,
        stacklevel=caller_stacklevel(),
    )


def talk_time(df: pd.DataFrame, *, caller: str | None = None) -> pd.DataFrame:
    """Speaking time, share and pace of every speaker (``df.dg.talk_time()``).

    ``seconds`` is the speaker's speaking time: the spans of its turns
    (:func:`speaking_turns`), from each turn's first word start to its last
    word end, so pauses inside a turn count and gaps between turns do not.
    Words, utterances and turns of the same call give the same numbers,
    except where Deepgram's utterances hold words of two speakers and on the
    turns table of multichannel audio, which warns (see
    :mod:`dgtools.analysis.talk`).

    Returns
    -------
    pandas.DataFrame
        One row per ``(file_id, channel, speaker)`` (a null speaker is its
        own row, last) with ``seconds``; ``share``, the seconds over the
        file's total (every channel and speaker of the file); ``words``
        (first-alternative words, or ``n_words`` of utterances and turns);
        and ``words_per_minute``, ``words / seconds * 60`` (null when
        ``seconds`` is 0).  Files in frame order, channels and speakers
        ascending.

    Raises
    ------
    AttributeError
        ``df`` lacks ``file_id``, ``channel``, ``speaker``, ``start`` or
        ``end``, or (utterances, turns) ``n_words``.

    Warns
    -----
    DGToolsWarning
        On the turns table of a multichannel file (see :func:`speaking_turns`).

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": 0, "word": ["hi", "so", "yes", "no"],
    ...                       "start": [0.0, 1.5, 3.0, 3.5], "end": [0.5, 3.0, 3.5, 4.0],
    ...                       "speaker": [0, 0, 1, 1]})
    >>> talk_time(words)
      file_id  channel  speaker  seconds  share  words  words_per_minute
    0       f        0        0      3.0   0.75      2              40.0
    1       f        0        1      1.0   0.25      2             120.0

    Speaker 0's pause from 0.5 s to 1.5 s is inside its turn (0.0-3.0 s), so it counts.
    """
    caller = default_caller("talk_time", caller)
    text_column(df, caller=caller)
    frame = require_columns(df, [*_KEYS, "start", "end"], caller=caller)
    if "word" in frame.columns:
        frame = first_alternative(frame)
    words = _word_counts(frame, caller=caller, required=True)
    turns = speaking_turns(frame, caller=caller)
    rows = pd.concat(
        [
            pd.DataFrame({**{k: frame[k].array for k in _KEYS}, "seconds": 0.0, "words": words}),
            pd.DataFrame(
                {**{k: turns[k].array for k in _KEYS}, "seconds": floats(turns["seconds"]), "words": 0.0}
            ),
        ],
        ignore_index=True,
    )
    rows = in_order(rows, _KEYS)
    out = (
        rows.groupby(_KEYS, sort=False, dropna=False)
        .agg(seconds=("seconds", "sum"), words=("words", "sum"))
        .reset_index()
    )
    seconds = out["seconds"].to_numpy(dtype=np.float64)
    total = (
        out.groupby("file_id", sort=False, dropna=False)["seconds"]
        .transform("sum")
        .to_numpy(dtype=np.float64)
    )
    n = out["words"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, seconds / total, np.nan)
        wpm = np.where(seconds > 0, n / seconds * 60.0, np.nan)
    out["seconds"] = arrow_array(seconds, "float")
    out["share"] = arrow_array(share, "float")
    out["words"] = arrow_array(n.round().astype(np.int64), "int")
    out["words_per_minute"] = arrow_array(wpm, "float")
    return out[[*_KEYS, "seconds", "share", "words", "words_per_minute"]]


def file_stats(words: pd.DataFrame, *, caller: str | None = None) -> pd.DataFrame:
    """Words, speakers and mean confidence of every file of a words table.

    Parameters
    ----------
    words : pandas.DataFrame
        The words table (``file_id``; ``speaker`` and ``confidence`` when
        present).  Only the first alternative is counted.
    caller : str, optional
        The call named in error messages.

    Returns
    -------
    pandas.DataFrame
        One row per file, in frame order: ``file_id``; ``words``, its words
        (every channel); ``speakers``, its distinct non-null speaker ids (0
        without diarization; the same id on two channels counts once);
        ``mean_confidence``, the mean non-null word confidence (null when
        there is none).  Counts are ``int64[pyarrow]``.

    Raises
    ------
    AttributeError
        ``words`` lacks ``file_id``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": ["a", "a", "a", "b"], "speaker": [0, 1, 1, None],
    ...                       "confidence": [0.5, 1.0, None, 0.75]})
    >>> file_stats(words)
      file_id  words  speakers  mean_confidence
    0       a      3         2             0.75
    1       b      1         0             0.75
    """
    caller = default_caller("file_stats", caller)
    frame = first_alternative(require_columns(words, ["file_id"], caller=caller, works_on="the words table"))
    codes, files = pd.factorize(frame["file_id"], use_na_sentinel=True)
    keep = codes >= 0
    codes, n = codes[keep], len(files)
    counts = np.bincount(codes, minlength=n)
    speakers = np.zeros(n, dtype=np.int64)
    if "speaker" in frame.columns:
        spk = floats(frame["speaker"])[keep]
        has = ~np.isnan(spk)
        pairs = pd.DataFrame({"f": codes[has], "s": spk[has]}).drop_duplicates()
        speakers = np.bincount(pairs["f"].to_numpy(dtype=np.intp), minlength=n).astype(np.int64)
    mean = np.full(n, np.nan)
    if "confidence" in frame.columns:
        conf = floats(frame["confidence"])[keep]
        has = ~np.isnan(conf)
        total = np.bincount(codes[has], weights=conf[has], minlength=n)
        seen = np.bincount(codes[has], minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(seen > 0, total / seen, np.nan)
    return pd.DataFrame(
        {
            "file_id": frame["file_id"].array.take(np.flatnonzero(keep)[_first_rows(codes, n)]),
            "words": arrow_array(counts.astype(np.int64), "int"),
            "speakers": arrow_array(speakers, "int"),
            "mean_confidence": arrow_array(mean, "float"),
        }
    )


def _first_rows(codes: Ints, n: int) -> Ints:
    """The position of each code's first row (codes 0..n-1 numbered in order of appearance)."""
    first = np.full(n, len(codes), dtype=np.intp)
    np.minimum.at(first, codes, np.arange(len(codes), dtype=np.intp))
    return first
