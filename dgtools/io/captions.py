"""SubRip (``.srt``) and WebVTT (``.vtt``) captions of a words, utterances or turns table, and a cue QA table.

``df.dg.to_srt()`` and ``df.dg.to_vtt()`` call these.  Cues are built from
words: a new cue starts at a speaker change, after a word ending a sentence
(``.``, ``?``, ``!``), and when the next word would no longer fit the cue's
lines (``max_lines`` lines of at most ``max_chars`` characters, broken at
word boundaries) or would make its span longer than ``max_duration`` seconds
(a single longer word is a cue of its own).  Utterances and turns are split
by the same rules, their words timed in proportion to their characters.

Then the timing: a cue's end is stretched towards ``min_duration`` and
towards the length its text needs at ``max_cps`` characters per second, and
clamped to the next cue's start minus ``min_gap`` on the same channel, so
cues of a channel never overlap.  A cue that cannot get its time before
the next one starts is joined to it when the two fit one cue (same speaker,
lines and duration).  Lines are balanced (the narrowest width
that still needs no more lines).  Speaker labels are not counted in the
limits.  :mod:`dgtools.io.qa` checks a caption set against the limits
(``cue_qa``); :mod:`dgtools.io.ass` writes the same cues as ASS.

Presets (:data:`PRESETS`; explicit limits override them):

============  =========  =====  ============  ===========  =======
preset        max_chars  lines  duration (s)  max_cps      min_gap
============  =========  =====  ============  ===========  =======
(none)        42         1      0 - 7         no cap       0
broadcast     42         2      1 - 7         17           0.08
social        32         1      0.7 - 3       20           0
verbatim      42         2      0 - 7         no cap       0
============  =========  =====  ============  ===========  =======

``social`` is one short line a cue (phone screens, burned-in video), so
cues change every one to three seconds; ``broadcast`` follows common
broadcast guidelines (two lines of 42, 17 cps, a 2-frame gap).

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

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._frames import Objects, floats, in_order, label_id, sort_key, strings
from ..analysis import group_bounds, require_columns, text_column, word_view
from ..exceptions import ConfigError

__all__ = [
    "PRESETS",
    "CaptionLimits",
    "Cue",
    "cues_of",
    "limits_of",
    "to_srt",
    "to_vtt",
]

_SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
_CLOSERS = "\"')]}»”’"

Preset = Literal["broadcast", "social", "verbatim"]


@dataclass(frozen=True)
class CaptionLimits:
    """The limits a caption set keeps (see the module docstring for the presets).

    Attributes
    ----------
    max_chars : int
        Most characters in a line (a speaker label not counted).
    max_lines : int
        Most lines in a cue.
    min_duration, max_duration : float
        Shortest and longest cue, in seconds (a cue is stretched towards
        ``min_duration`` only as far as the next cue allows).
    max_cps : float or None
        Most characters per second (the text's characters, lines joined by a
        space, over the cue's duration); None for no cap.
    min_gap : float
        Least time between a cue's end and the next cue's start on the same
        channel, in seconds.

    Examples
    --------
    >>> CaptionLimits().max_chars, PRESETS["broadcast"].max_lines
    (42, 2)
    """

    max_chars: int = 42
    max_lines: int = 1
    min_duration: float = 0.0
    max_duration: float = 7.0
    max_cps: float | None = None
    min_gap: float = 0.0


PRESETS: dict[str, CaptionLimits] = {
    "broadcast": CaptionLimits(42, 2, 1.0, 7.0, 17.0, 0.08),
    "social": CaptionLimits(32, 1, 0.7, 3.0, 20.0, 0.0),
    "verbatim": CaptionLimits(42, 2, 0.0, 7.0, None, 0.0),
}


@dataclass(frozen=True)
class Cue:
    """One caption: its span, where it came from and its lines of text.

    Examples
    --------
    >>> Cue(0.0, 1.5, ("Hello there.",)).text
    'Hello there.'
    """

    start: float
    end: float
    lines: tuple[str, ...]
    channel: Any = None
    speaker: Any = None

    @property
    def text(self) -> str:
        """The lines joined by a space."""
        return " ".join(self.lines)


def limits_of(
    preset: str | None = None,
    *,
    max_chars: int | None = None,
    max_lines: int | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
    max_cps: float | None = None,
    min_gap: float | None = None,
    method: str = "limits_of",
) -> CaptionLimits:
    """The limits of a preset with explicit limits overriding it.

    Examples
    --------
    >>> limits_of("broadcast", max_lines=1).max_lines
    1
    """
    if preset is None:
        base = CaptionLimits()
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ConfigError(f"{method}(preset={preset!r}): the presets are {sorted(PRESETS)} or None")
    given: dict[str, Any] = {
        "max_chars": max_chars,
        "max_lines": max_lines,
        "min_duration": min_duration,
        "max_duration": max_duration,
        "max_cps": max_cps,
        "min_gap": min_gap,
    }
    lim = replace(base, **{k: v for k, v in given.items() if v is not None})
    if not lim.max_chars > 0 or not lim.max_duration > 0:
        raise ConfigError(
            f"{method}(max_chars={lim.max_chars!r}, max_duration={lim.max_duration!r}): both must be positive"
        )
    if lim.max_lines < 1 or lim.min_duration < 0 or lim.min_gap < 0 or lim.min_duration > lim.max_duration:
        raise ConfigError(
            f"{method}(max_lines={lim.max_lines!r}, min_duration={lim.min_duration!r}, "
            f"min_gap={lim.min_gap!r}): max_lines must be at least 1, min_duration and min_gap "
            "not negative, min_duration at most max_duration"
        )
    if lim.max_cps is not None and not lim.max_cps > 0:
        raise ConfigError(f"{method}(max_cps={lim.max_cps!r}): must be positive or None")
    return lim


def to_srt(
    df: pd.DataFrame,
    *,
    preset: Preset | None = None,
    max_chars: int | None = None,
    max_lines: int | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
    max_cps: float | None = None,
    min_gap: float | None = None,
    speaker_labels: bool = True,
    speakers: Mapping[Any, str] | None = None,
    by_channel: bool = False,
    caller: str | None = None,
) -> dict[str, str]:
    """SubRip captions, one document per file (``df.dg.to_srt()``).

    Parameters
    ----------
    df : pandas.DataFrame
        The words, utterances or turns table.
    preset : {"broadcast", "social", "verbatim"}, optional
        Named limits (module docstring); None: one line of 42, up to 7 s.
    max_chars, max_lines, min_duration, max_duration, max_cps, min_gap : optional
        Override the preset's limit of that name (:class:`CaptionLimits`).
    speaker_labels : bool, default True
        Start each cue with ``[Speaker N]`` (not for a null speaker).
    speakers : mapping, optional
        Speaker id -> name used in the label instead (``{0: "Agent"}`` gives
        ``[Agent]``); ids not in it keep ``Speaker N``.
    by_channel : bool, default False
        One document per file and channel, keyed ``"{file_id}.ch{channel}"``,
        with no channel in the labels.
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
        An unknown preset or a limit out of range.

    Examples
    --------
    >>> import pandas as pd
    >>> turns = pd.DataFrame({"file_id": "f", "channel": 0, "text": ["Hi.", "Hello!"],
    ...                       "start": [0.0, 1.0], "end": [0.5, 1.5], "speaker": [0, 1]})
    >>> print(to_srt(turns, speakers={0: "Agent", 1: "Caller"})["f"])
    1
    00:00:00,000 --> 00:00:00,500
    [Agent] Hi.
    <BLANKLINE>
    2
    00:00:01,000 --> 00:00:01,500
    [Caller] Hello!
    <BLANKLINE>
    """
    lim = limits_of(
        preset,
        max_chars=max_chars,
        max_lines=max_lines,
        min_duration=min_duration,
        max_duration=max_duration,
        max_cps=max_cps,
        min_gap=min_gap,
        method="to_srt",
    )
    return _captions(df, "to_srt", "srt", lim, speaker_labels, speakers, by_channel, caller)


def to_vtt(
    df: pd.DataFrame,
    *,
    preset: Preset | None = None,
    max_chars: int | None = None,
    max_lines: int | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
    max_cps: float | None = None,
    min_gap: float | None = None,
    speaker_labels: bool = True,
    speakers: Mapping[Any, str] | None = None,
    by_channel: bool = False,
    caller: str | None = None,
) -> dict[str, str]:
    """WebVTT captions, one document per file (``df.dg.to_vtt()``).

    Cues are built as by :func:`to_srt`.  Each document starts with the
    ``WEBVTT`` header; timestamps are ``HH:MM:SS.mmm``; speakers are voice
    spans (``<v Speaker 0>text``, ``<v Agent>`` with ``speakers=``,
    ``<v Ch 1 Speaker 0>`` when a file has more than one channel); ``&``,
    ``<`` and ``>`` in the text are escaped.

    Parameters
    ----------
    df, preset, max_chars, max_lines, min_duration, max_duration, max_cps, min_gap, speakers, by_channel, caller
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
    lim = limits_of(
        preset,
        max_chars=max_chars,
        max_lines=max_lines,
        min_duration=min_duration,
        max_duration=max_duration,
        max_cps=max_cps,
        min_gap=min_gap,
        method="to_vtt",
    )
    return _captions(df, "to_vtt", "vtt", lim, speaker_labels, speakers, by_channel, caller)


# ---------------------------------------------------------------- building cues

_Token = tuple[str, float, float, Any, Any]  # text, start, end, speaker key, speaker


def _captions(
    df: pd.DataFrame,
    method: str,
    fmt: Literal["srt", "vtt"],
    lim: CaptionLimits,
    speaker_labels: bool,
    speakers: Mapping[Any, str] | None,
    by_channel: bool,
    caller: str | None,
) -> dict[str, str]:
    files = cue_files(df, lim, by_channel=by_channel, caller=caller or f"dgtools.io.captions.{method}()")
    return {key: _document(g, fmt, speaker_labels, speakers) for key, g in files.items()}


def cue_files(
    df: pd.DataFrame, limits: CaptionLimits, *, by_channel: bool, caller: str
) -> dict[str, list[list[Cue]]]:
    """The cues of each caption document: ``{file_id or "<file_id>.ch<channel>": [cues of a channel, ...]}``."""
    files: dict[str, list[list[Cue]]] = {}
    for fid, channel, cues in cues_of(df, limits, caller=caller):
        files.setdefault(f"{fid}.ch{label_id(channel)}" if by_channel else fid, []).append(cues)
    return files


def cues_of(
    df: pd.DataFrame, limits: CaptionLimits, *, caller: str = "dgtools.io.captions.cues_of()"
) -> list[tuple[str, Any, list[Cue]]]:
    """The cues of each file and channel, ``(file_id, channel, cues)`` in frame order.

    Examples
    --------
    >>> import pandas as pd
    >>> turns = pd.DataFrame({"file_id": "f", "channel": 0, "text": ["Hi. Bye."],
    ...                       "start": [0.0], "end": [2.0]})
    >>> [c.text for c in cues_of(turns, PRESETS["verbatim"])[0][2]]
    ['Hi.', 'Bye.']
    >>> [c.text for c in cues_of(turns, PRESETS["broadcast"])[0][2]]  # "Hi." cannot last 1 s alone
    ['Hi. Bye.']
    """
    col = text_column(df, caller=caller)
    needed = ["file_id", "channel", "start", "end"]
    out: list[tuple[str, Any, list[Cue]]] = []
    if col == "word":
        v = word_view(df, [*needed, "word"], caller=caller)
        frame, bounds = v.frame, v.bounds
        spk, codes = _speakers(frame)
        for a, b in pairwise(bounds):
            toks = zip(
                v.tokens[a:b].tolist(),
                v.start[a:b].tolist(),
                v.end[a:b].tolist(),
                codes[a:b].tolist(),
                spk[a:b].tolist(),
                strict=True,
            )
            tokens = [(" ".join(str(t).split()), s, e, c, p) for t, s, e, c, p in toks]
            cues = _timed(_group(tokens, limits, frame["channel"].iat[a]), limits)
            out.append((str(frame["file_id"].iat[a]), frame["channel"].iat[a], cues))
    else:
        frame = in_order(require_columns(df, [*needed, col], caller=caller), ["file_id", "channel", "start"])
        for a, b in pairwise(group_bounds(frame)):
            channel = frame["channel"].iat[a]
            cues = _timed(_group(_row_tokens(frame, col, a, b), limits, channel), limits)
            out.append((str(frame["file_id"].iat[a]), channel, cues))
    return out


def _speakers(frame: pd.DataFrame) -> tuple[Objects, npt.NDArray[Any]]:
    """Speaker values (None for null) and keys for change detection."""
    if "speaker" not in frame:
        return np.full(len(frame), None, dtype=object), np.full(len(frame), -1, dtype=np.intp)
    values: Objects = frame["speaker"].to_numpy(dtype=object, na_value=None)
    return values, sort_key(frame["speaker"])


def _row_tokens(frame: pd.DataFrame, col: str, a: int, b: int) -> list[_Token]:
    """The words of rows ``a:b`` of an utterances or turns frame, timed in proportion to their characters."""
    part = frame.iloc[a:b]
    spk, codes = _speakers(part)
    start, end, text = floats(part["start"]), floats(part["end"]), strings(part[col])
    tokens: list[_Token] = []
    for i in range(b - a):
        words = text[i].split()
        s, e = float(start[i]), float(end[i])
        if not words or math.isnan(s) or math.isnan(e):
            continue
        total = sum(len(w) + 1 for w in words)
        t = s
        for w in words:
            nxt = t + (e - s) * (len(w) + 1) / total
            tokens.append((w, t, nxt, codes[i], spk[i]))
            t = nxt
    return tokens


def wrap(words: Sequence[str], max_chars: int) -> list[str]:
    """Lines of ``words`` broken at spaces, greedily, each at most ``max_chars`` (a longer word alone).

    Examples
    --------
    >>> wrap(["a", "bb", "ccc"], 4)
    ['a bb', 'ccc']
    """
    lines: list[str] = []
    for w in words:
        if lines and len(lines[-1]) + 1 + len(w) <= max_chars:
            lines[-1] += " " + w
        else:
            lines.append(w)
    return lines


def balance(words: Sequence[str], max_chars: int) -> list[str]:
    """Lines as :func:`wrap` makes them, with the narrowest width needing no more lines.

    Examples
    --------
    >>> balance("the quick brown fox jumps".split(), 42)
    ['the quick brown fox jumps']
    >>> balance("the quick brown fox jumps over".split(), 20)
    ['the quick brown', 'fox jumps over']
    """
    lines = wrap(words, max_chars)
    n = len(lines)
    lo = max([len(w) for w in words] + [math.ceil(len(" ".join(words)) / n)])
    for width in range(lo, max_chars):
        cand = wrap(words, width)
        if len(cand) <= n:
            return cand
    return lines


def _fits(words: Sequence[str], lim: CaptionLimits) -> bool:
    return len(wrap(words, lim.max_chars)) <= lim.max_lines


def _group(tokens: Iterable[_Token], lim: CaptionLimits, channel: Any) -> list[Cue]:
    """Cues of one channel's tokens, broken by the module's rules, with their spoken spans."""
    cues: list[Cue] = []
    words: list[str] = []
    cue_start = cue_end = 0.0
    code: Any = None
    speaker: Any = None

    def flush() -> None:
        cues.append(Cue(cue_start, cue_end, tuple(balance(words, lim.max_chars)), channel, speaker))

    for tok, start, end, c, spk in tokens:
        if not tok or start != start or end != end:  # NaN != NaN
            continue
        if words and (
            c != code
            or not _fits([*words, tok], lim)
            or end - cue_start > lim.max_duration
            or words[-1].rstrip(_CLOSERS).endswith(_SENTENCE_END)
        ):
            flush()
            words = []
        if not words:
            cue_start, code, speaker = start, c, spk
        words.append(tok)
        cue_end = end
    if words:
        flush()
    return _merge_short(cues, lim)


def _merge_short(cues: list[Cue], lim: CaptionLimits) -> list[Cue]:
    """Join a cue to the next when it cannot get the time it needs before it, if the two fit one cue."""
    out: list[Cue] = []
    for cue in cues:
        if out:
            prev = out[-1]
            words = [*prev.text.split(), *cue.text.split()]
            if (
                cue.start - prev.start < _needed(prev, lim) + lim.min_gap
                and label_id(prev.speaker) == label_id(cue.speaker)
                and cue.end - prev.start <= lim.max_duration
                and _fits(words, lim)
            ):
                out[-1] = replace(prev, end=cue.end, lines=tuple(balance(words, lim.max_chars)))
                continue
        out.append(cue)
    return out


def _timed(cues: list[Cue], lim: CaptionLimits) -> list[Cue]:
    """Fit the cues of one channel to the timing limits.

    Each end is stretched towards ``min_duration`` and towards the length the
    text needs at ``max_cps`` (never past ``max_duration``), then clamped to
    the next cue's start minus ``min_gap``.  A cue still too short starts
    earlier, into the silence after the previous cue (keeping ``min_gap``).
    What is left (speech faster than ``max_cps`` with no silence around it)
    shows in :func:`cue_qa`.
    """
    out: list[Cue] = []
    for i, cue in enumerate(cues):
        need = _needed(cue, lim)
        end = max(min(max(cue.end, cue.start + need), cue.start + lim.max_duration), cue.end)
        nxt = cues[i + 1].start if i + 1 < len(cues) else math.inf
        end = min(end, nxt - lim.min_gap)
        start = cue.start
        if end - start < need:
            floor = out[-1].end + lim.min_gap if out else 0.0
            start = min(max(min(start, end - need), floor, end - lim.max_duration, 0.0), cue.start)
        if end <= start:  # no room for min_gap: touch the next cue instead
            end = min(max(cue.end, start), nxt)
        out.append(replace(cue, start=start, end=max(end, start)))
    return out


def _needed(cue: Cue, lim: CaptionLimits) -> float:
    """The shortest duration the cue may have: ``min_duration`` and its text at ``max_cps``."""
    need = lim.min_duration
    if lim.max_cps is not None:
        need = max(need, math.ceil(len(cue.text) / lim.max_cps * 1000) / 1000)  # whole milliseconds
    return min(need, lim.max_duration)


# ---------------------------------------------------------------- writing documents


def cue_label(cue: Cue, multichannel: bool, speaker_labels: bool, speakers: Mapping[Any, str] | None) -> str:
    parts = []
    if multichannel:
        parts.append(f"Ch {label_id(cue.channel)}")
    spk = label_id(cue.speaker)
    if speaker_labels and spk is not None:
        name = _speaker_name(cue.speaker, speakers)
        parts.append(name if name is not None else f"Speaker {spk}")
    return " ".join(parts)


def _speaker_name(speaker: Any, speakers: Mapping[Any, str] | None) -> str | None:
    if not speakers:
        return None
    for key in (speaker, label_id(speaker)):
        if key in speakers:
            return speakers[key]
    sid = label_id(speaker)
    if sid is not None and sid.lstrip("-").isdigit() and int(sid) in speakers:
        return speakers[int(sid)]
    return None


def _document(
    groups: list[list[Cue]],
    fmt: Literal["srt", "vtt"],
    speaker_labels: bool,
    speakers: Mapping[Any, str] | None,
) -> str:
    multichannel = len(groups) > 1
    cues = sorted((c for g in groups for c in g), key=lambda c: c.start)  # stable: channel order on ties
    sep = "," if fmt == "srt" else "."
    blocks = []
    for k, cue in enumerate(cues, 1):
        label = cue_label(cue, multichannel, speaker_labels, speakers)
        times = f"{_timestamp(cue.start, sep)} --> {_timestamp(cue.end, sep)}"
        if fmt == "srt":
            text = "\n".join(cue.lines)
            text = f"[{label}] {text}" if label else text
            blocks.append(f"{k}\n{times}\n{text}\n")
        else:
            text = "\n".join(_escape(line) for line in cue.lines)
            blocks.append(f"{times}\n<v {label}>{text}\n" if label else f"{times}\n{text}\n")
    if fmt == "srt":
        return "\n".join(blocks)
    return "WEBVTT\n" + "".join("\n" + b for b in blocks)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _timestamp(seconds: float, sep: str) -> str:
    """``HH:MM:SS,mmm`` (``sep=","``, SRT) or ``HH:MM:SS.mmm`` (WebVTT)."""
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"
