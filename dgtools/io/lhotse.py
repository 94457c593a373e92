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

With ``alignments=True`` each supervision also carries its word alignment, as lhotse 1.33's
``SupervisionSegment.to_dict()`` writes it (``AlignmentItem.serialize()``: a list
``[symbol, start, duration, score]``, score null when unknown) and ``from_dict`` reads it back
(``AlignmentItem.deserialize``, which also takes the dicts of lhotse before 1.8)::

    "alignment": {"word": [["good", 0.54, 0.32, 0.986538], ["afternoon", 0.91, 0.57, 0.9997012]]}

Alignment times are, as lhotse's (``AlignmentItem.start`` is "w.r.t. the start of recording"),
seconds from the start of the recording, not of the supervision.  The words are those of the
first alternative of the supervision's file and channel that start within it (each word in one
supervision at most: the last one starting at or before it); the symbol is the bare ``word``
(``punctuated_word`` only where ``word`` is empty): ASR alignments and lexicons are unpunctuated,
and it is the word dgtools' CTM (``to_ctm``, which lhotse's ``with_alignment_from_ctm`` reads)
writes.  The score is the word's ``confidence`` as Deepgram gave it.

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
from ..analysis import text_column
from ..exceptions import ConfigError
from ._segments import Source, by_file, jsonl, read_lines, segments, speaker_name

#: Seconds a word's start may lie outside its supervision's bounds (float noise of stored times).
_SLACK = 1e-6
#: The columns of ``read_lhotse(path, alignments=True)``.
ALIGNMENT_COLUMNS = ["id", "file_id", "channel", "speaker", "word", "start", "end", "confidence"]

__all__ = ["ALIGNMENT_COLUMNS", "lhotse_jsonl", "read_lhotse", "to_lhotse"]


def to_lhotse(
    data: Any,
    *,
    source: Source | None = None,
    speakers: Mapping[Any, str] | None = None,
    alignments: bool = False,
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
    alignments : bool, default False
        Add each supervision's word alignment, ``{"word": [[word, start, duration, confidence],
        ...]}`` (module docstring): the words of a Tables, or of a words table itself.

    Returns
    -------
    list of dict
        One dict a supervision, files in table order; :func:`lhotse_jsonl` writes them.

    Raises
    ------
    dgtools.ConfigError
        ``data`` is not a table, lacks a column, or (a Tables) lacks the ``source`` table's rows;
        ``alignments=True`` on an utterances or turns table (which holds no words).

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": 1, "word": ["ok"], "start": [2.0],
    ...                       "end": [2.5], "confidence": [0.9]})
    >>> to_lhotse(words)[0]["custom"], "speaker" in to_lhotse(words)[0]
    ({'confidence': 0.9}, False)
    >>> to_lhotse(words, alignments=True)[0]["alignment"]
    {'word': [['ok', 2.0, 0.5, 0.9]]}
    """
    caller = "dgtools.io.lhotse.to_lhotse()"
    seg = segments(data, source, caller=caller)
    aligned = _alignments(data, source, seg, caller) if alignments else None
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
            if aligned is not None:
                sup["alignment"] = {"word": aligned[g.index[k]]}
            out.append(sup)
    return out


def _alignments(data: Any, source: str | None, seg: pd.DataFrame, caller: str) -> dict[Any, list[list[Any]]]:
    """``{index of seg: its alignment items}``: the words of each segment of ``seg`` (module docstring)."""
    if isinstance(data, pd.DataFrame):
        is_words = text_column(data, caller=caller) == "word"  # segments() has checked it has one
        if not is_words:
            raise ConfigError(
                f"{caller}: alignments=True needs words; pass the dgtools.Tables or its words table, "
                "not an utterances or turns table"
            )
        table = data
    else:
        is_words = source == "words"
        table = data.words
        if len(table) == 0 and len(seg):
            raise ConfigError(
                f"{caller}: alignments=True needs words and the tables have none; "
                "build the tables from the responses (dgtools.to_tables) or leave alignments out"
            )
    words = segments(_bare(table), caller=caller)  # same rows and order as seg for a words source
    items = [
        [text, round(float(s), 3), round(max(float(e) - float(s), 0.0), 3), None if c != c else float(c)]
        for text, s, e, c in zip(
            words["text"], words["start"], words["end"], words["confidence"], strict=True
        )
    ]
    if is_words:
        return {i: [item] for i, item in zip(seg.index, items, strict=True)}
    out: dict[Any, list[list[Any]]] = {i: [] for i in seg.index}
    spans = {key: g for key, g in seg.groupby(["file_id", "channel"], sort=False)}
    for key, w in words.groupby(["file_id", "channel"], sort=False):
        g = spans.get(key)
        if g is None:
            continue
        starts, ends = floats(g["start"]), floats(g["end"])
        order = np.argsort(starts, kind="stable")
        w_start = floats(w["start"])
        at = np.searchsorted(starts[order], w_start + _SLACK, side="right") - 1
        for n, j in zip(np.flatnonzero(at >= 0), at[at >= 0], strict=True):
            k = order[j]
            if w_start[n] <= ends[k] + _SLACK:
                out[g.index[k]].append(items[w.index[n]])
    return out


def _bare(words: pd.DataFrame) -> pd.DataFrame:
    """``words`` with ``punctuated_word`` set to ``word`` (where that is not empty): segments() then writes it."""
    if "word" not in words.columns:
        return words
    bare = strings(words["word"])
    if "punctuated_word" in words.columns:
        punctuated = strings(words["punctuated_word"])
        bare = np.where(bare == "", punctuated, bare)
    return words.assign(punctuated_word=bare)


def lhotse_jsonl(supervisions: list[dict[str, Any]]) -> str:
    """Supervision dicts as the text of a ``supervisions.jsonl`` file (one JSON object a line).

    Examples
    --------
    >>> lhotse_jsonl([{"id": "a-00000", "recording_id": "a", "start": 0.0, "duration": 1.0}])
    '{"id": "a-00000", "recording_id": "a", "start": 0.0, "duration": 1.0}\\n'
    """
    return jsonl(supervisions)


def read_lhotse(path: str | os.PathLike[str], *, alignments: bool = False) -> pd.DataFrame:
    """Read a supervisions JSONL file (written here or by lhotse, not gzipped) as a frame.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.jsonl`` file, or a folder of them.
    alignments : bool, default False
        Return the supervisions' word alignments (``alignment["word"]``) instead: a words-like
        frame, one row an alignment item, that :func:`dgtools.io.to_ctm` or WER can take.

    Returns
    -------
    pandas.DataFrame
        One row a supervision: ``id``, ``file_id`` (``recording_id``), ``channel`` (the first
        one of a list), ``speaker``, ``start``, ``end`` (start + duration), ``text`` and
        ``language`` (null when absent), Arrow-backed.  With ``alignments=True``, one row a
        word (:data:`ALIGNMENT_COLUMNS`): its supervision's ``id``, ``file_id``, ``channel`` and
        ``speaker``, then ``word`` (the symbol), ``start``, ``end`` (start + duration) and
        ``confidence`` (the score), in file order; supervisions without one add no rows.

    Raises
    ------
    dgtools.ConfigError
        The path does not exist, a line is not a JSON object with ``recording_id`` and ``start``,
        or (``alignments=True``) an alignment is not lhotse's ``{kind: [[symbol, start, duration,
        score], ...]}``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.jsonl"
    >>> _ = p.write_text('{"id": "a-0", "recording_id": "a", "start": 0.5, "duration": 1.0, "channel": 0}\\n')
    >>> read_lhotse(p)[["file_id", "start", "end"]].values.tolist()
    [['a', 0.5, 1.5]]
    >>> _ = p.write_text('{"id": "a-0", "recording_id": "a", "start": 0.5, "duration": 1.0, '
    ...                  '"alignment": {"word": [["hi", 0.5, 0.25, 0.9], ["you", 1.0, 0.5, null]]}}\\n')
    >>> read_lhotse(p, alignments=True)[["word", "start", "end", "confidence"]].values.tolist()
    [['hi', 0.5, 0.75, 0.9], ['you', 1.0, 1.5, <NA>]]
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
            if alignments:
                rows.extend(_alignment_rows(row, f"{f}:{k}"))
            else:
                rows.append(row)
    if alignments:
        return _alignment_frame(rows)
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


def _alignment_rows(sup: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The rows of the word alignment of one supervision (lhotse's lists, or its dicts before 1.8)."""
    alignment = sup.get("alignment")
    if alignment is None:
        return []
    fix = "lhotse writes {kind: [[symbol, start, duration, score], ...]}"
    if not isinstance(alignment, dict) or not all(isinstance(v, list) for v in alignment.values()):
        raise ConfigError(f"{where}: 'alignment' is not a dict of lists; {fix}")
    rows: list[dict[str, Any]] = []
    for item in alignment.get("word", []):
        if isinstance(item, dict):  # AlignmentItem.deserialize: the values, in field order
            item = [item.get(k) for k in ("symbol", "start", "duration", "score")]
        if not isinstance(item, list) or len(item) not in (3, 4) or item[0] is None:
            raise ConfigError(f"{where}: an alignment item is {str(item)[:40]}; {fix}")
        rows.append(
            {
                "id": sup.get("id"),
                "file_id": sup["recording_id"],
                "channel": sup.get("channel"),
                "speaker": sup.get("speaker"),
                "word": item[0],
                "start": item[1],
                "duration": item[2],
                "confidence": item[3] if len(item) == 4 else None,
            }
        )
    return rows


def _alignment_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The frame of :func:`_alignment_rows` rows, columns :data:`ALIGNMENT_COLUMNS`, Arrow-backed."""
    frame = pd.DataFrame(rows, columns=[*ALIGNMENT_COLUMNS[:5], "start", "duration", "confidence"])
    start = floats(frame["start"])
    return pd.DataFrame(
        {
            "id": arrow_array([plain(v) for v in frame["id"].tolist()], "str"),
            "file_id": arrow_array(strings(frame["file_id"]).tolist(), "str"),
            "channel": arrow_array(_channels(frame["channel"]), "int"),
            "speaker": arrow_array([plain(v) for v in frame["speaker"].tolist()], "str"),
            "word": arrow_array([str(v) for v in frame["word"].tolist()], "str"),
            "start": arrow_array(start, "float"),
            "end": arrow_array(np.round(start + floats(frame["duration"]), 6), "float"),
            "confidence": arrow_array(floats(frame["confidence"]), "float"),
        }
    )


def _channels(column: pd.Series) -> list[Any]:
    """Each supervision's channel: the first of a list; 0 when absent (lhotse's default)."""
    return [
        c[0] if isinstance(c, list) and c else (0 if plain(c) is None else plain(c)) for c in column.tolist()
    ]


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
