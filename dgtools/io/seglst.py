"""SegLST, meeteval's segment list: the JSON that ``meeteval-wer cpwer|tcpwer|orcwer`` scores.

A SegLST file is a JSON list of segments, one an utterance, turn or word::

    [{"session_id": "call", "channel": 1, "speaker": "0", "start_time": 0.5, "end_time": 1.25,
      "words": "Hi there.", "confidence": 0.97}, ...]

``session_id`` is the ``file_id``; ``speaker`` the speaker id as a string (or the name
``speakers=`` maps it to), ``channel_0``, ``channel_1`` for a segment without one (no ``diarize``, as RTTM);
``channel`` is 1-based, as meeteval's STM conversion keeps it (``meeteval.io.STM`` ->
``SegLST``); times are seconds rounded to the millisecond; ``confidence`` is there when the
table has one.  Segments are sorted by file, then start.  ``meeteval.io.SegLST(to_seglst(t))``
and ``meeteval.io.SegLST.load(path)`` of the written JSON both work; meeteval is not needed to
write or read it here.

Examples
--------
>>> import pandas as pd
>>> from dgtools.io.seglst import to_seglst
>>> turns = pd.DataFrame({"file_id": "call", "channel": 0, "text": ["Hi there."],
...                       "start": [0.5], "end": [1.25], "speaker": [0]})
>>> to_seglst(turns)
[{'session_id': 'call', 'channel': 1, 'speaker': '0', 'start_time': 0.5, 'end_time': 1.25, 'words': 'Hi there.'}]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._frames import arrow_array, floats, plain
from ..exceptions import ConfigError
from ._segments import Source, segments, speaker_name

__all__ = ["read_seglst", "seglst_json", "to_seglst"]


def to_seglst(
    data: Any,
    *,
    source: Source | None = None,
    speakers: Mapping[Any, str] | None = None,
) -> list[dict[str, Any]]:
    """The segments of ``data`` as SegLST dicts (module docstring), sorted by file then start.

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
        One dict a segment; ``[]`` for no rows.  :func:`seglst_json` writes it as a file.

    Raises
    ------
    dgtools.ConfigError
        ``data`` is not a table, lacks a column, or (a Tables) lacks the ``source`` table's rows.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": 1, "word": ["ok"], "start": [2.0],
    ...                       "end": [2.5], "confidence": [0.9]})
    >>> to_seglst(words)[0]["speaker"], to_seglst(words)[0]["confidence"]
    ('channel_1', 0.9)
    """
    seg = segments(data, source, caller="dgtools.io.seglst.to_seglst()")
    out: list[dict[str, Any]] = []
    for fid, ch, spk, s, e, text, conf in seg.itertuples(index=False, name=None):
        row: dict[str, Any] = {
            "session_id": fid,
            "channel": int(ch) + 1,
            "speaker": speaker_name(spk, speakers) or f"channel_{int(ch)}",
            "start_time": round(float(s), 3),
            "end_time": round(float(e), 3),
            "words": text,
        }
        if not np.isnan(conf):
            row["confidence"] = round(float(conf), 4)
        out.append(row)
    return out


def seglst_json(records: Iterable[Mapping[str, Any]]) -> str:
    """SegLST segments as the JSON text of a ``.json`` file (indented, UTF-8 kept as is).

    Examples
    --------
    >>> seglst_json([{"session_id": "a", "words": "hi"}])
    '[\\n  {\\n    "session_id": "a",\\n    "words": "hi"\\n  }\\n]\\n'
    """
    return json.dumps([dict(r) for r in records], ensure_ascii=False, indent=2) + "\n"


def read_seglst(path_or_segments: str | os.PathLike[str] | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Read a SegLST JSON file (or a list of segment dicts, or a ``meeteval.io.SegLST``) as a frame.

    Parameters
    ----------
    path_or_segments : str, os.PathLike or iterable of dict
        The JSON file, or the segments themselves.

    Returns
    -------
    pandas.DataFrame
        One row a segment, columns ``file_id`` (``session_id``), ``channel`` (0-based; null
        when the segment has none), ``speaker``, ``start``, ``end``, ``text`` (``words``; a
        list of words is joined by spaces) and ``confidence`` (null when absent), Arrow-backed.

    Raises
    ------
    dgtools.ConfigError
        The file does not exist, is not a JSON list, or a segment lacks ``session_id``.

    Examples
    --------
    >>> read_seglst([{"session_id": "a", "speaker": "0", "start_time": 0, "end_time": 1.5,
    ...               "words": "hi"}])[["file_id", "speaker", "end", "text"]].values.tolist()
    [['a', '0', 1.5, 'hi']]
    """
    caller = "dgtools.io.seglst.read_seglst()"
    if isinstance(path_or_segments, (str, os.PathLike)):
        p = Path(path_or_segments)
        if not p.is_file():
            raise ConfigError(f"{caller}: {p} does not exist; pass a SegLST .json file or a list of segments")
        try:
            loaded = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{caller}: {p} is not JSON ({exc.msg}, line {exc.lineno})") from None
        where = str(p)
    else:
        loaded = list(getattr(path_or_segments, "segments", path_or_segments))
        where = "the segments"
    if not isinstance(loaded, list) or not all(isinstance(s, Mapping) and "session_id" in s for s in loaded):
        raise ConfigError(f"{caller}: {where} is not a SegLST list of segments, each with a session_id")

    def text(words: Any) -> str:
        return " ".join(words) if isinstance(words, list) else " ".join(str(words or "").split())

    def chan(value: Any) -> int | None:
        v = plain(value)
        return None if v is None else max(int(v) - 1, 0)

    frame = pd.DataFrame(
        {
            "file_id": arrow_array([str(s["session_id"]) for s in loaded], "str"),
            "channel": arrow_array([chan(s.get("channel")) for s in loaded], "int"),
            "speaker": arrow_array(
                [None if s.get("speaker") is None else str(s["speaker"]) for s in loaded], "str"
            ),
            "start": arrow_array(
                floats(pd.Series([s.get("start_time") for s in loaded], dtype=object)), "float"
            ),
            "end": arrow_array(floats(pd.Series([s.get("end_time") for s in loaded], dtype=object)), "float"),
            "text": arrow_array([text(s.get("words")) for s in loaded], "str"),
            "confidence": arrow_array(
                floats(pd.Series([s.get("confidence") for s in loaded], dtype=object)), "float"
            ),
        }
    )
    return frame
