"""NIST STM (segment transcripts) and CTM (word timings): the files sclite, meeteval and asclite score.

STM, one line a segment (an utterance, a turn or a word), sorted by start time::

    <file> <channel> <speaker> <start> <end> <transcript>

CTM, one line a word, sorted by start time::

    <file> <channel> <start> <duration> <word> [<confidence>]

Conventions dgtools keeps:

- ``<file>`` is the ``file_id``, whitespace replaced by ``_`` (a field may hold none);
- ``<channel>`` is **1-based**, as NIST numbers channels and as dgtools writes RTTM: a
  table's channel 0 is written ``1``.  The readers give 0-based channels back (``1`` or ``A``
  is 0, ``2`` or ``B`` is 1), so a frame survives a round trip;
- ``<speaker>`` is the speaker id (``0``, ``1``, or the name ``speakers=`` maps it to); a
  segment without one (no ``diarize``) takes its channel's name, ``channel_0``, ``channel_1``
  (the 0-based name :func:`dgtools.io.rttm.to_rttm` gives it too);
- times are seconds with 3 decimals (milliseconds, Deepgram's own precision);
- no ``<label>`` field is written; :func:`read_stm` reads one (``<o,f0,male>``) into ``label``;
- a CTM word is ``word`` (unpunctuated, what scoring wants) or, with ``punctuated=True``,
  ``punctuated_word``; the confidence has 4 decimals and is left out when unknown.

Examples
--------
>>> import pandas as pd
>>> from dgtools.io.stm import to_ctm, to_stm
>>> words = pd.DataFrame({"file_id": "call", "channel": 0, "word": ["hi", "there"],
...                       "punctuated_word": ["Hi", "there."], "start": [0.5, 0.9],
...                       "end": [0.8, 1.25], "confidence": [0.99, 0.875], "speaker": [0, 0]})
>>> print(to_ctm(words)["call"], end="")
call 1 0.500 0.300 hi 0.9900
call 1 0.900 0.350 there 0.8750
>>> turns = pd.DataFrame({"file_id": "call", "channel": 0, "text": ["Hi there."],
...                       "start": [0.5], "end": [1.25], "speaker": [0]})
>>> print(to_stm(turns)["call"], end="")
call 1 0 0.500 1.250 Hi there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .._frames import arrow_array
from ..exceptions import ConfigError
from ._segments import Source, by_file, field, read_lines, segments, speaker_name

__all__ = ["read_ctm", "read_stm", "to_ctm", "to_stm"]


def to_stm(
    data: Any,
    *,
    source: Source | None = None,
    speakers: Mapping[Any, str] | None = None,
) -> dict[str, str]:
    """NIST STM transcripts, one document per file: one line a segment, sorted by start.

    Parameters
    ----------
    data : dgtools.Tables or pandas.DataFrame
        The tables, or their words, utterances or turns table.
    source : {"words", "utterances", "turns"}, optional
        The table of a Tables to write, a line per row; None: each file's utterances where it
        has some, else its turns.
    speakers : mapping, optional
        Speaker id -> name written instead of the id (``{0: "agent"}``); whitespace becomes ``_``.

    Returns
    -------
    dict of str to str
        ``file_id`` -> the STM text (module docstring), files in table order; a file without
        speech (in a Tables' ``requests``, or a frame's row without times) gets ``""``.

    Raises
    ------
    dgtools.ConfigError
        ``data`` is not a table, lacks a column, or (a Tables) lacks the ``source`` table's rows.

    Examples
    --------
    >>> import pandas as pd
    >>> utts = pd.DataFrame({"file_id": "call", "channel": [1, 0], "transcript": ["Yes.", "Hello?"],
    ...                      "start": [1.5, 0.25], "end": [2.0, 1.0]})
    >>> print(to_stm(utts)["call"], end="")
    call 1 channel_0 0.250 1.000 Hello?
    call 2 channel_1 1.500 2.000 Yes.
    """
    seg = segments(data, source, caller="dgtools.io.stm.to_stm()")
    out = {}
    for fid, g in by_file(seg, data).items():
        lines = []
        for ch, spk, s, e, text in zip(
            g["channel"], g["speaker"], g["start"], g["end"], g["text"], strict=True
        ):
            who = speaker_name(spk, speakers) or f"channel_{int(ch)}"
            lines.append(f"{field(fid)} {int(ch) + 1} {field(who)} {s:.3f} {e:.3f} {text}".rstrip() + "\n")
        out[fid] = "".join(lines)
    return out


def to_ctm(data: Any, *, punctuated: bool = False) -> dict[str, str]:
    """NIST CTM word timings, one document per file: one line a word, sorted by start.

    Parameters
    ----------
    data : dgtools.Tables or pandas.DataFrame
        The tables, or their words table (first alternative, as everywhere).
    punctuated : bool, default False
        Write ``punctuated_word`` (else ``word``, what scorers expect).

    Returns
    -------
    dict of str to str
        ``file_id`` -> the CTM text (module docstring), files in table order (a file without
        words gets ``""``).  Words with no text or no times are left out.

    Raises
    ------
    dgtools.ConfigError
        ``data`` is not a words table (or a Tables), or lacks ``file_id``, ``start`` or ``end``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "a b", "channel": 1, "word": ["ok"], "start": [2.0], "end": [2.5]})
    >>> to_ctm(words)["a b"]
    'a_b 2 2.000 0.500 ok\\n'
    """
    caller = "dgtools.io.stm.to_ctm()"
    words = data if isinstance(data, pd.DataFrame) else getattr(data, "words", None)
    if not isinstance(words, pd.DataFrame) or "word" not in words.columns:
        raise ConfigError(
            f"{caller} writes words: pass a dgtools.Tables or its words table (a 'word' column)"
        )
    if not punctuated and "punctuated_word" in words.columns:
        words = words.drop(columns="punctuated_word")
    seg = segments(words, caller=caller)
    out = {}
    for fid, g in by_file(seg[seg["text"] != ""], data).items():
        lines = []
        for ch, s, e, w, c in zip(
            g["channel"], g["start"], g["end"], g["text"], g["confidence"], strict=True
        ):
            conf = "" if np.isnan(c) else f" {c:.4f}"
            lines.append(f"{field(fid)} {int(ch) + 1} {s:.3f} {max(e - s, 0.0):.3f} {field(w)}{conf}\n")
        out[fid] = "".join(lines)
    return out


# --------------------------------------------------------------------------- readers


def _channel(value: str) -> int:
    """A NIST channel field as a 0-based channel: ``1`` or ``A`` is 0."""
    if value.isdigit():
        return max(int(value) - 1, 0)
    if len(value) == 1 and value.isalpha():
        return ord(value.upper()) - ord("A")
    return 0


def read_stm(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an STM file (or every ``.stm`` file of a folder, or STM text) as a frame.

    Parameters
    ----------
    path : str or os.PathLike
        An STM file, a folder searched recursively for ``*.stm``, or the text itself (a
        ``str`` holding a line break).

    Returns
    -------
    pandas.DataFrame
        One row a line (``;;`` comments and blank lines skipped), columns ``file_id``,
        ``channel`` (0-based: ``1`` or ``A`` is 0), ``speaker``, ``start``, ``end``, ``label``
        (``<...>`` or null) and ``text``, Arrow-backed, in file order.

    Raises
    ------
    dgtools.ConfigError
        The path does not exist, or a line has fewer than 5 fields (named with its file and line).

    Examples
    --------
    >>> read_stm("a 1 spk1 0.5 1.25 <o,f0,male> hello there\\n;; a comment\\n").iloc[0].tolist()
    ['a', 0, 'spk1', 0.5, 1.25, '<o,f0,male>', 'hello there']
    """
    rows: list[tuple[str, int, str, float, float, str | None, str]] = []
    for f, lines in read_lines(path, ".stm", caller="dgtools.io.stm.read_stm()"):
        for k, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith(";;"):
                continue
            parts = line.split(maxsplit=5)
            if len(parts) < 5:
                raise ConfigError(
                    f"{f}:{k}: an STM line needs <file> <channel> <speaker> <start> <end> [text]"
                )
            rest = parts[5] if len(parts) > 5 else ""
            label = None
            if rest.startswith("<") and ">" in rest:
                label, _, rest = rest.partition(">")
                label += ">"
            try:
                start, end = float(parts[3]), float(parts[4])
            except ValueError:
                raise ConfigError(f"{f}:{k}: the start and end of an STM line must be seconds") from None
            rows.append((parts[0], _channel(parts[1]), parts[2], start, end, label, " ".join(rest.split())))
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    return pd.DataFrame(
        {
            "file_id": arrow_array(list(cols[0]), "str"),
            "channel": arrow_array(list(cols[1]), "int"),
            "speaker": arrow_array(list(cols[2]), "str"),
            "start": arrow_array(list(cols[3]), "float"),
            "end": arrow_array(list(cols[4]), "float"),
            "label": arrow_array(list(cols[5]), "str"),
            "text": arrow_array(list(cols[6]), "str"),
        }
    )


def read_ctm(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CTM file (or every ``.ctm`` file of a folder, or CTM text) as a words-like frame.

    Parameters
    ----------
    path : str or os.PathLike
        A CTM file, a folder searched recursively for ``*.ctm``, or the text itself (a ``str``
        holding a line break).

    Returns
    -------
    pandas.DataFrame
        One row a word, columns ``file_id``, ``channel`` (0-based), ``word``, ``start``,
        ``end`` (start + duration, to the microsecond) and ``confidence`` (null when absent),
        Arrow-backed, in file order: it works where a words table does (``df.dg.text()``,
        :func:`to_stm`).

    Raises
    ------
    dgtools.ConfigError
        The path does not exist, or a line has fewer than 5 fields.

    Examples
    --------
    >>> ctm = read_ctm("a 1 0.50 0.30 hi 0.99\\na 1 0.9 0.35 there\\n")
    >>> ctm[["word", "start", "end", "confidence"]].astype(object).values.tolist()
    [['hi', 0.5, 0.8, 0.99], ['there', 0.9, 1.25, <NA>]]
    """
    rows: list[tuple[str, int, str, float, float, float | None]] = []
    for f, lines in read_lines(path, ".ctm", caller="dgtools.io.stm.read_ctm()"):
        for k, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith(";;"):
                continue
            parts = line.split()
            if len(parts) < 5:
                raise ConfigError(
                    f"{f}:{k}: a CTM line needs <file> <channel> <start> <duration> <word> [conf]"
                )
            try:
                start, dur = float(parts[2]), float(parts[3])
                conf = float(parts[5]) if len(parts) > 5 and parts[5] != "NA" else None
            except ValueError:
                raise ConfigError(
                    f"{f}:{k}: the start, duration and confidence of a CTM line are numbers"
                ) from None
            rows.append((parts[0], _channel(parts[1]), parts[4], start, round(start + dur, 6), conf))
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    return pd.DataFrame(
        {
            "file_id": arrow_array(list(cols[0]), "str"),
            "channel": arrow_array(list(cols[1]), "int"),
            "word": arrow_array(list(cols[2]), "str"),
            "start": arrow_array(list(cols[3]), "float"),
            "end": arrow_array(list(cols[4]), "float"),
            "confidence": arrow_array(list(cols[5]), "float"),
        }
    )
