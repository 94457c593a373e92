"""Lhotse supervisions as JSON lines, written without lhotse (which needs torch).

``lhotse`` 1.33 requires torch (hundreds of MB) besides audioread, SoundFile, cytoolz,
intervaltree, click, pyyaml and tabulate: too heavy for an export.  So dgtools writes the JSONL that
``lhotse.SupervisionSet.from_jsonl`` (``lhotse.load_manifest``) reads, in the shape of
``SupervisionSegment.to_dict()`` (lhotse/supervision.py): one object a segment, fields left
out when None, as lhotse writes them::

    {"id": "call-00000", "recording_id": "call", "start": 0.54, "duration": 3.83, "channel": 0,
     "text": "Good afternoon.", "language": "en", "speaker": "0", "custom": {"confidence": 0.97}}

``id`` is ``<file_id>-<5-digit index>`` (the segment's place in its file, by start time);
``recording_id`` the ``file_id``; ``channel`` is 0-based, as lhotse numbers channels;
``language`` the channel's detected language (``tables.channels``), else the request's, when
known; ``speaker`` the id as a string or the name ``speakers=`` maps it to (left out without
one); ``custom.confidence`` the table's confidence when known.  Times are seconds rounded to
the millisecond.

Examples
--------
>>> import pandas as pd
>>> from dgtools.io.lhotse import to_lhotse
>>> turns = pd.DataFrame({"file_id": "call", "channel": 0, "text": ["Hi there."],
...                       "start": [0.5], "end": [1.25], "speaker": [0]})
>>> to_lhotse(turns)
[{'id': 'call-00000', 'recording_id': 'call', 'start': 0.5, 'duration': 0.75, 'channel': 0, 'text': 'Hi there.', 'speaker': '0'}]
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .._frames import arrow_array, floats, plain, strings
from ..exceptions import ConfigError
from ._segments import Source, by_file, jsonl, read_lines, segments, speaker_name

__all__ = ["lhotse_jsonl", "read_lhotse", "to_lhotse"]


def to_lhotse(
    data: Any,
    *,
    source: Source | None = None,
    speakers: Mapping[Any, str] | None = None,
) -> list[dict[str, Any]]:
    """Lhotse ``SupervisionSegment`` dicts of the segments of ``data`` (module docstring).

    Parameters
    ----------
    data : dgtools.Tables or pandas.DataFrame
        The tables, or their words, utterances or turns table.
    source : {"words", "utterances", "turns"}, optional
        The table of a Tables; None: each file's utterances where it has some, else its turns.
    speakers : mapping, optional
        Speaker id -> name (``{0: "agent"}``).

    Returns
    -------
    list of dict
        One dict a supervision, files in table order; :func:`lhotse_jsonl` writes them.

    Raises
    ------
    dgtools.ConfigError
        ``data`` is not a table, lacks a column, or (a Tables) lacks the ``source`` table's rows.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": 1, "word": ["ok"], "start": [2.0],
    ...                       "end": [2.5], "confidence": [0.9]})
    >>> to_lhotse(words)[0]["custom"], "speaker" in to_lhotse(words)[0]
    ({'confidence': 0.9}, False)
    """
    seg = segments(data, source, caller="dgtools.io.lhotse.to_lhotse()")
    languages = _languages(data)
    out: list[dict[str, Any]] = []
    for fid, g in by_file(seg).items():
        for k, (ch, spk, s, e, text, conf) in enumerate(
            zip(g["channel"], g["speaker"], g["start"], g["end"], g["text"], g["confidence"], strict=True)
        ):
            sup: dict[str, Any] = {
                "id": f"{fid}-{k:05d}",
                "recording_id": fid,
                "start": round(float(s), 3),
                "duration": round(max(float(e) - float(s), 0.0), 3),
                "channel": int(ch),
                "text": text,
            }
            language = languages.get((fid, int(ch))) or languages.get((fid, -1))
            if language:
                sup["language"] = language
            name = speaker_name(spk, speakers)
            if name is not None:
                sup["speaker"] = name
            if not np.isnan(conf):
                sup["custom"] = {"confidence": round(float(conf), 4)}
            out.append(sup)
    return out


def lhotse_jsonl(supervisions: list[dict[str, Any]]) -> str:
    """Supervision dicts as the text of a ``supervisions.jsonl`` file (one JSON object a line).

    Examples
    --------
    >>> lhotse_jsonl([{"id": "a-00000", "recording_id": "a", "start": 0.0, "duration": 1.0}])
    '{"id": "a-00000", "recording_id": "a", "start": 0.0, "duration": 1.0}\\n'
    """
    return jsonl(supervisions)


def read_lhotse(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a supervisions JSONL file (written here or by lhotse, not gzipped) as a frame.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.jsonl`` file, or a folder of them.

    Returns
    -------
    pandas.DataFrame
        One row a supervision: ``id``, ``file_id`` (``recording_id``), ``channel`` (the first
        one of a list), ``speaker``, ``start``, ``end`` (start + duration), ``text`` and
        ``language`` (null when absent), Arrow-backed.

    Raises
    ------
    dgtools.ConfigError
        The path does not exist, or a line is not a JSON object with ``recording_id`` and ``start``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.jsonl"
    >>> _ = p.write_text('{"id": "a-0", "recording_id": "a", "start": 0.5, "duration": 1.0, "channel": 0}\\n')
    >>> read_lhotse(p)[["file_id", "start", "end"]].values.tolist()
    [['a', 0.5, 1.5]]
    """
    rows: list[dict[str, Any]] = []
    for f, lines in read_lines(path, ".jsonl", caller="dgtools.io.lhotse.read_lhotse()"):
        for k, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{f}:{k}: not a JSON line ({exc.msg}); supervisions are one object a line"
                ) from None
            if not isinstance(row, dict) or not {"recording_id", "start"} <= row.keys():
                raise ConfigError(f"{f}:{k}: a supervision is a JSON object with 'recording_id' and 'start'")
            rows.append(row)
    frame = pd.DataFrame(
        rows, columns=["id", "recording_id", "channel", "speaker", "start", "duration", "text", "language"]
    )
    start = floats(frame["start"])
    channel = [c[0] if isinstance(c, list) and c else plain(c) for c in frame["channel"].tolist()]
    return pd.DataFrame(
        {
            "id": arrow_array([plain(v) for v in frame["id"].tolist()], "str"),
            "file_id": arrow_array(strings(frame["recording_id"]).tolist(), "str"),
            "channel": arrow_array(channel, "int"),
            "speaker": arrow_array([plain(v) for v in frame["speaker"].tolist()], "str"),
            "start": arrow_array(start, "float"),
            "end": arrow_array(np.round(start + floats(frame["duration"]), 6), "float"),
            "text": arrow_array([plain(v) for v in frame["text"].tolist()], "str"),
            "language": arrow_array([plain(v) for v in frame["language"].tolist()], "str"),
        }
    )


def _languages(data: Any) -> dict[tuple[str, int], str]:
    """``{(file_id, channel): language}`` of a Tables (channel -1: the request's), else empty."""
    out: dict[tuple[str, int], str] = {}
    requests = getattr(data, "requests", None)
    if isinstance(requests, pd.DataFrame) and {"file_id", "language"} <= set(requests.columns):
        for f, lang in zip(strings(requests["file_id"]), strings(requests["language"]), strict=True):
            if lang:
                out[(f, -1)] = lang
    channels = getattr(data, "channels", None)
    if isinstance(channels, pd.DataFrame) and {"file_id", "channel", "detected_language"} <= set(
        channels.columns
    ):
        chans = floats(channels["channel"])
        for f, c, lang in zip(
            strings(channels["file_id"]), chans, strings(channels["detected_language"]), strict=True
        ):
            if lang and c == c:
                out[(f, int(c))] = lang
    return out
