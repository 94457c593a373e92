"""Advanced SubStation Alpha (``.ass``) captions written by pysubs2 (``df.dg.to_ass()``).

The cues are :mod:`dgtools.io.captions`' own; pysubs2 (the ``captions``
extra) writes the file, so styles and timing follow its ASS writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .._extras import require
from .captions import Preset, cue_files, cue_label, limits_of

__all__ = ["to_ass"]


def to_ass(
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
    """Advanced SubStation Alpha (``.ass``) captions, one document per file (``df.dg.to_ass()``).

    Cues are built as by :func:`to_srt` and written by pysubs2 (the
    ``captions`` extra: ``pip install 'dgtools[captions]'``).  The speaker
    label goes into each event's ``Name`` field (Aegisub shows it as the
    actor), lines are joined by ``\\N``.

    Parameters
    ----------
    df, preset, max_chars, max_lines, min_duration, max_duration, max_cps, min_gap, speakers, by_channel, caller
        As :func:`to_srt`.
    speaker_labels : bool, default True
        Fill each event's ``Name`` with ``Speaker N`` (or the mapped name).

    Returns
    -------
    dict of str to str
        ``file_id`` -> the ASS document, files in frame order.

    Raises
    ------
    dgtools.MissingDependencyError
        pysubs2 is not installed.
    AttributeError, dgtools.ConfigError
        As :func:`to_srt`.

    Examples
    --------
    >>> import pandas as pd
    >>> turns = pd.DataFrame({"file_id": "f", "channel": 0, "text": ["Hi."],
    ...                       "start": [0.0], "end": [0.5], "speaker": [0]})
    >>> to_ass(turns, speakers={0: "Agent"})["f"].splitlines()[-1]
    'Dialogue: 0,0:00:00.00,0:00:00.50,Default,Agent,0,0,0,,Hi.'
    """
    pysubs2 = require("pysubs2", extra="captions", feature=caller or "dgtools.io.captions.to_ass()")
    lim = limits_of(
        preset,
        max_chars=max_chars,
        max_lines=max_lines,
        min_duration=min_duration,
        max_duration=max_duration,
        max_cps=max_cps,
        min_gap=min_gap,
        method="to_ass",
    )
    files = cue_files(df, lim, by_channel=by_channel, caller=caller or "dgtools.io.captions.to_ass()")
    out: dict[str, str] = {}
    for key, parts in files.items():
        subs = pysubs2.SSAFile()
        for cue in sorted((c for g in parts for c in g), key=lambda c: c.start):
            name = cue_label(cue, len(parts) > 1, speaker_labels, speakers)
            text = "\\N".join(line.replace("{", "(").replace("}", ")") for line in cue.lines)
            subs.append(
                pysubs2.SSAEvent(
                    start=round(cue.start * 1000), end=round(cue.end * 1000), text=text, name=name
                )
            )
        out[key] = str(subs.to_string("ass"))
    return out
