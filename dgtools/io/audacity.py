"""Audacity label tracks: ``File > Import > Labels...`` shows each utterance, turn or word over the audio.

One line a label, tab-separated, times in seconds with 6 decimals::

    0.540000<TAB>4.370000<TAB>Speaker 0: Good afternoon, Harbor Clinic.

The label is the speaker and the text (``label="speaker_text"``, the default), the text alone
(``"text"``) or the speaker alone (``"speaker"``, a diarization track).  The speaker is written
as the captions write it (:mod:`dgtools.io.captions`): ``Speaker 0``, or the name
``speakers=`` maps it to, with ``Ch 1`` before it when the file has more than one channel;
nothing for a segment without a speaker or channel to tell.  Labels are sorted by start;
tabs and line breaks in a text become spaces.

Examples
--------
>>> import pandas as pd
>>> from dgtools.io.audacity import to_audacity
>>> turns = pd.DataFrame({"file_id": "call", "channel": 0, "text": ["Hi.", "Hello!"],
...                       "start": [0.5, 1.0], "end": [0.75, 1.5], "speaker": [0, 1]})
>>> to_audacity(turns)["call"]
'0.500000\\t0.750000\\tSpeaker 0: Hi.\\n1.000000\\t1.500000\\tSpeaker 1: Hello!\\n'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

import pandas as pd

from .._frames import arrow_array
from ..exceptions import ConfigError
from ._segments import Source, by_file, check_choice, read_lines, segments
from .captions import Cue, cue_label

__all__ = ["read_audacity", "to_audacity"]

Label = Literal["speaker_text", "text", "speaker"]


def to_audacity(
    data: Any,
    *,
    source: Source | None = None,
    label: Label = "speaker_text",
    speakers: Mapping[Any, str] | None = None,
) -> dict[str, str]:
    """Audacity label tracks, one per file (module docstring).

    Parameters
    ----------
    data : dgtools.Tables or pandas.DataFrame
        The tables, or their words, utterances or turns table.
    source : {"words", "utterances", "turns"}, optional
        The table of a Tables, a label per row; None: each file's utterances where it has
        some, else its turns.
    label : {"speaker_text", "text", "speaker"}, default "speaker_text"
        What each label says.
    speakers : mapping, optional
        Speaker id -> name (``{0: "Agent"}`` gives ``Agent: ...``).

    Returns
    -------
    dict of str to str
        ``file_id`` -> the label track text, files in table order (``""`` for a file without speech).

    Raises
    ------
    dgtools.ConfigError
        An unknown ``label``; ``data`` is not a table, lacks a column, or lacks the ``source`` rows.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": [0, 1], "word": ["hi", "yo"],
    ...                       "start": [0.0, 0.25], "end": [0.5, 0.5]})
    >>> to_audacity(words, label="speaker")["f"].splitlines()
    ['0.000000\\t0.500000\\tCh 0', '0.250000\\t0.500000\\tCh 1']
    """
    caller = "dgtools.io.audacity.to_audacity()"
    check_choice(label, ("speaker_text", "text", "speaker"), name="label", caller=caller)
    out = {}
    for fid, g in by_file(segments(data, source, caller=caller), data).items():
        multichannel = g["channel"].nunique() > 1
        lines = []
        for ch, spk, s, e, text in zip(
            g["channel"], g["speaker"], g["start"], g["end"], g["text"], strict=True
        ):
            who = cue_label(Cue(float(s), float(e), (text,), ch, spk), multichannel, True, speakers)
            if label == "text" or (label == "speaker_text" and not who):
                tag = text
            elif label == "speaker":
                tag = who
            else:
                tag = f"{who}: {text}"
            lines.append(f"{s:.6f}\t{e:.6f}\t{' '.join(tag.split())}\n")
        out[fid] = "".join(lines)
    return out


def read_audacity(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an Audacity label track (or every ``.txt`` track of a folder) as a frame.

    Parameters
    ----------
    path : str or os.PathLike
        A label track exported by Audacity or written by :func:`to_audacity`, or a folder.

    Returns
    -------
    pandas.DataFrame
        One row a label: ``file_id`` (the track's file name without its suffix), ``start``,
        ``end`` and ``label``, Arrow-backed.  Spectral-selection lines (``\\`` then two
        frequencies, under a label) are skipped.

    Raises
    ------
    dgtools.ConfigError
        The path does not exist, or a line has no start and end.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "call.txt"
    >>> _ = p.write_text("0.5\\t1.25\\tSpeaker 0: hi\\n\\\\\\t100.0\\t2000.0\\n2\\t2\\t\\n")
    >>> read_audacity(p).values.tolist()
    [['call', 0.5, 1.25, 'Speaker 0: hi'], ['call', 2.0, 2.0, '']]
    """
    rows: list[tuple[str, float, float, str]] = []
    for f, lines in read_lines(path, ".txt", caller="dgtools.io.audacity.read_audacity()"):
        for k, line in enumerate(lines, 1):
            if not line.strip() or line.startswith("\\"):
                continue
            parts = line.split("\t", 2)
            try:
                start, end = float(parts[0]), float(parts[1])
            except (ValueError, IndexError):
                raise ConfigError(f"{f}:{k}: an Audacity label line is <start>\\t<end>\\t<label>") from None
            rows.append((f.stem, start, end, parts[2].strip() if len(parts) > 2 else ""))
    cols = list(zip(*rows, strict=True)) if rows else [()] * 4
    return pd.DataFrame(
        {
            "file_id": arrow_array(list(cols[0]), "str"),
            "start": arrow_array(list(cols[1]), "float"),
            "end": arrow_array(list(cols[2]), "float"),
            "label": arrow_array(list(cols[3]), "str"),
        }
    )
