"""SubRip (``.srt``) and WebVTT (``.vtt``) captions of a words, utterances or turns table.

``df.dg.to_srt()`` and ``df.dg.to_vtt()`` call these.  On a words table cues
are built from words: a new cue starts at a speaker change, after a word
ending a sentence (``.``, ``?``, ``!``), and when the next word would make
the cue's text longer than ``max_chars`` or its span longer than
``max_duration`` seconds (a single longer word is a cue of its own).  On
utterances or turns each row is one cue.  Cues are one line each, in
start-time order; every file gets its own document.

Examples
--------
>>> import pandas as pd
>>> from dgtools.io.captions import to_srt, to_vtt
>>> words = pd.DataFrame({"file_id": "call", "channel": 0, "word": ["hello", "there", "bye"],
...                       "punctuated_word": ["Hello", "there.", "Bye."],
...                       "start": [0.0, 0.5, 2.0], "end": [0.5, 1.0, 2.5], "speaker": [0, 0, 1]})
>>> print(to_srt(words)["call"])
1
00:00:00,000 --> 00:00:01,000
[Speaker 0] Hello there.
<BLANKLINE>
2
00:00:02,000 --> 00:00:02,500
[Speaker 1] Bye.
<BLANKLINE>
>>> print(to_vtt(words, speaker_labels=False)["call"])
WEBVTT
<BLANKLINE>
00:00:00.000 --> 00:00:01.000
Hello there.
<BLANKLINE>
00:00:02.000 --> 00:00:02.500
Bye.
<BLANKLINE>
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._frames import Objects, floats, in_order, label_id, sort_key, strings
from ..analysis import WordView, group_bounds, require_columns, text_column, word_view
from ..exceptions import ConfigError

__all__ = ["to_srt", "to_vtt"]

_SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
_CLOSERS = "\"')]}»”’"


def to_srt(
    df: pd.DataFrame,
    *,
    max_chars: int = 42,
    max_duration: float = 7.0,
    speaker_labels: bool = True,
    caller: str | None = None,
) -> dict[str, str]:
    """SubRip captions, one document per file (``df.dg.to_srt()``).

    Parameters
    ----------
    df : pandas.DataFrame
        The words, utterances or turns table.
    max_chars : int, default 42
        Most characters of text in a cue (the label not counted).
    max_duration : float, default 7.0
        Longest cue, in seconds.
    speaker_labels : bool, default True
        Start each cue with ``[Speaker N]`` (not for a null speaker).
    caller : str, optional
        The call named in error messages (``df.dg`` passes ``"df.dg.to_srt()"``).

    Returns
    -------
    dict of str to str
        ``file_id`` -> the SRT document (cues numbered from 1, timestamps
        ``HH:MM:SS,mmm``, separated by a blank line), files in frame order.
        A file with more than one channel names it in every label
        (``[Ch 1 Speaker 0]``, or ``[Ch 1]``).  An empty frame gives ``{}``.

    Raises
    ------
    AttributeError
        ``df`` lacks ``file_id``, ``channel``, ``start``, ``end`` or a text column.
    dgtools.ConfigError
        ``max_chars`` or ``max_duration`` is not positive.

    Examples
    --------
    >>> import pandas as pd
    >>> turns = pd.DataFrame({"file_id": "f", "channel": 0, "text": ["Hi.", "Hello!"],
    ...                       "start": [0.0, 1.0], "end": [0.5, 1.5], "speaker": [0, 1]})
    >>> print(to_srt(turns, speaker_labels=False)["f"])
    1
    00:00:00,000 --> 00:00:00,500
    Hi.
    <BLANKLINE>
    2
    00:00:01,000 --> 00:00:01,500
    Hello!
    <BLANKLINE>
    """
    return _captions(df, "to_srt", "srt", max_chars, max_duration, speaker_labels, caller)


def to_vtt(
    df: pd.DataFrame,
    *,
    max_chars: int = 42,
    max_duration: float = 7.0,
    speaker_labels: bool = True,
    caller: str | None = None,
) -> dict[str, str]:
    """WebVTT captions, one document per file (``df.dg.to_vtt()``).

    Cues are built as by :func:`to_srt`.  Each document starts with the
    ``WEBVTT`` header; timestamps are ``HH:MM:SS.mmm``; speakers are voice
    spans (``<v Speaker 0>text``, ``<v Ch 1 Speaker 0>`` when a file has more
    than one channel); ``&``, ``<`` and ``>`` in the text are escaped.

    Parameters
    ----------
    df, max_chars, max_duration, caller
        As :func:`to_srt`.
    speaker_labels : bool, default True
        Wrap each cue's text in a ``<v Speaker N>`` voice span.

    Returns
    -------
    dict of str to str
        ``file_id`` -> the WebVTT document, files in frame order.

    Raises
    ------
    AttributeError, dgtools.ConfigError
        As :func:`to_srt`.

    Examples
    --------
    >>> import pandas as pd
    >>> turns = pd.DataFrame({"file_id": "f", "channel": 0, "text": ["a < b"],
    ...                       "start": [0.0], "end": [0.5], "speaker": [0]})
    >>> to_vtt(turns)["f"]
    'WEBVTT\\n\\n00:00:00.000 --> 00:00:00.500\\n<v Speaker 0>a &lt; b\\n'
    """
    return _captions(df, "to_vtt", "vtt", max_chars, max_duration, speaker_labels, caller)


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
    caller: str | None,
) -> dict[str, str]:
    if not max_chars > 0 or not max_duration > 0:
        raise ConfigError(
            f"{method}(max_chars={max_chars!r}, max_duration={max_duration!r}): both must be positive"
        )
    caller = caller if caller is not None else f"dgtools.io.captions.{method}()"
    col = text_column(df, caller=caller)
    needed = ["file_id", "channel", "start", "end"]
    if col == "word":
        v = word_view(df, [*needed, "word"], caller=caller)
        frame, bounds = v.frame, v.bounds
        speakers, codes = _speakers(frame)
        cues = [_word_cues(v, speakers, codes, a, b, max_chars, max_duration) for a, b in pairwise(bounds)]
    else:
        frame = in_order(require_columns(df, [*needed, col], caller=caller), ["file_id", "channel", "start"])
        bounds = group_bounds(frame)
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
    return values, sort_key(frame["speaker"])


def _word_cues(
    v: WordView,
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
    start, end, text = floats(part["start"]), floats(part["end"]), strings(part[col])
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
            parts.append(f"Ch {label_id(cue.channel)}")
        spk = label_id(cue.speaker)
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
