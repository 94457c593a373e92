"""A cue QA table: each caption's measures and the limits it breaks, for any SRT or WebVTT set.

Examples
--------
>>> from dgtools.io.qa import cue_qa
>>> cue_qa("WEBVTT\\n\\n00:00:00.000 --> 00:00:02.000\\n<v Agent>Hello there.\\n")["violations"].tolist()
['']
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .captions import Cue, Preset, limits_of

__all__ = ["QA_COLUMNS", "cue_qa", "parse_cues"]

QA_COLUMNS = ["index", "start", "end", "duration", "chars", "lines", "cps", "violations"]

_TIMES = re.compile(r"(\d+:)?(\d{1,2}):(\d{2})[,.](\d{3})\s*-->\s*(\d+:)?(\d{1,2}):(\d{2})[,.](\d{3})")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_SRT_LABEL = re.compile(r"^\[[^\]]*\]\s+")


def parse_cues(text: str) -> list[Cue]:
    """The cues of an SRT or WebVTT document, labels and tags removed, entities unescaped.

    Examples
    --------
    >>> parse_cues("1\\n00:00:01,000 --> 00:00:02,500\\n[Agent] Hi\\nthere\\n")
    [Cue(start=1.0, end=2.5, lines=('Hi', 'there'), channel=None, speaker=None)]
    """
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        rows = block.split("\n")
        for i, row in enumerate(rows):
            m = _TIMES.search(row)
            if m is None:
                continue
            g = m.groups()
            start = _seconds(g[0], g[1], g[2], g[3])
            end = _seconds(g[4], g[5], g[6], g[7])
            lines = [_TAG.sub("", line) for line in rows[i + 1 :]]
            if lines:
                lines[0] = _SRT_LABEL.sub("", lines[0])
            lines = [
                line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip() for line in lines
            ]
            cues.append(Cue(start, end, tuple(line for line in lines if line)))
            break
    return cues


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int((h or "0:")[:-1]) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def cue_qa(
    cues: Sequence[Cue] | str | Path,
    *,
    preset: Preset | None = None,
    max_chars: int | None = None,
    max_lines: int | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
    max_cps: float | None = None,
    min_gap: float | None = None,
) -> pd.DataFrame:
    """One row per cue with its measures and the limits it breaks.

    Parameters
    ----------
    cues : sequence of Cue, str or pathlib.Path
        Cues, the text of an SRT or WebVTT document, or a path to one (a
        ``str`` without a newline that names an existing file is read).
    preset, max_chars, max_lines, min_duration, max_duration, max_cps, min_gap : optional
        The limits to check, as :func:`to_srt` takes them.

    Returns
    -------
    pandas.DataFrame
        Columns ``index`` (from 1), ``start``, ``end``, ``duration``, ``chars``
        (the longest line), ``lines``, ``cps`` (the text's characters, lines
        joined by a space, per second) and ``violations``: the names of the
        broken limits joined by ``", "`` (``max_chars``, ``max_lines``,
        ``min_duration``, ``max_duration``, ``max_cps``, ``min_gap`` for too
        little time before the next cue, ``overlap`` when the next cue starts
        before this one ends), ``""`` when none.  Speaker labels (``[..]`` in
        SRT, ``<v ..>`` in WebVTT) are not counted.

    Examples
    --------
    >>> srt = "1\\n00:00:00,000 --> 00:00:00,500\\nFar too many words for half a second\\n"
    >>> cue_qa(srt, preset="broadcast")[["chars", "cps", "violations"]]
       chars   cps             violations
    0     36  72.0  min_duration, max_cps
    """
    lim = limits_of(
        preset,
        max_chars=max_chars,
        max_lines=max_lines,
        min_duration=min_duration,
        max_duration=max_duration,
        max_cps=max_cps,
        min_gap=min_gap,
        method="cue_qa",
    )
    if isinstance(cues, Path) or (isinstance(cues, str) and "\n" not in cues and Path(cues).is_file()):
        cues = Path(cues).read_text(encoding="utf-8")
    items = parse_cues(cues) if isinstance(cues, str) else list(cues)
    eps = 0.0011  # timestamps are whole milliseconds
    rows = []
    for i, cue in enumerate(items):
        duration = cue.end - cue.start
        chars = max((len(line) for line in cue.lines), default=0)
        cps = len(cue.text) / duration if duration > 0 else math.inf
        bad = []
        if chars > lim.max_chars:
            bad.append("max_chars")
        if len(cue.lines) > lim.max_lines:
            bad.append("max_lines")
        if duration < lim.min_duration - eps:
            bad.append("min_duration")
        if duration > lim.max_duration + eps:
            bad.append("max_duration")
        if lim.max_cps is not None and len(cue.text) / lim.max_cps > duration + eps:
            bad.append("max_cps")
        if i + 1 < len(items):
            gap = items[i + 1].start - cue.end
            if gap < -eps:
                bad.append("overlap")
            elif gap < lim.min_gap - eps:
                bad.append("min_gap")
        rows.append(
            (
                i + 1,
                cue.start,
                cue.end,
                round(duration, 3),
                chars,
                len(cue.lines),
                round(cps, 2),
                ", ".join(bad),
            )
        )
    return pd.DataFrame(rows, columns=QA_COLUMNS).astype(
        {
            "index": "int64",
            "start": "float64",
            "end": "float64",
            "duration": "float64",
            "chars": "int64",
            "lines": "int64",
            "cps": "float64",
            "violations": "object",
        }
    )
