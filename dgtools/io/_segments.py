"""What every export writes from: the timed segments of a :class:`~dgtools.Tables` or of one table.

A segment is one utterance, turn or word: ``file_id``, ``channel``, ``speaker``, ``start``,
``end``, ``text`` and ``confidence``.  :func:`segments` builds them from

- a :class:`~dgtools.Tables` and ``source`` (``"words"``, ``"utterances"`` or ``"turns"``),
  or ``source=None``: each file's utterances where it has some (``utterances=true``), else
  its turns (always there: they are built from the words);
- or a words, utterances or turns frame (told apart by its text column, as
  :mod:`dgtools.analysis` does).

Channels are 0-based in the frames (as in the tables) and 1-based in the files of the NIST
formats (STM, CTM, RTTM) and of SegLST, as NIST and meeteval number them.  The module is
private: the exports' public names live in their own modules.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._frames import floats, in_order, label_id, plain, strings
from ..analysis import text_column, word_view
from ..exceptions import ConfigError

__all__ = [
    "AUDIO_SUFFIXES",
    "SEGMENT_COLUMNS",
    "SOURCES",
    "Source",
    "by_file",
    "check_choice",
    "field",
    "jsonl",
    "read_lines",
    "segments",
    "speaker_name",
]

Source = Literal["words", "utterances", "turns"]
SOURCES: tuple[str, ...] = ("words", "utterances", "turns")
SEGMENT_COLUMNS = ["file_id", "channel", "speaker", "start", "end", "text", "confidence"]
#: Suffixes an audio file's name may end in (a file id without one is looked up with each).
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".webm", ".mp4", ".aac", ".mkv")


def check_choice(value: Any, choices: Iterable[Any], *, name: str, caller: str) -> None:
    """ConfigError naming ``name`` and the choices when ``value`` is not one of them."""
    allowed = list(choices)
    if value not in allowed:
        raise ConfigError(f"{caller}: {name}={value!r} is not one of {allowed}")


def segments(
    data: Any,
    source: str | None = None,
    *,
    caller: str,
    timed: bool = True,
) -> pd.DataFrame:
    """The segments of ``data`` (a Tables or a table), by file (first appearance), then start, then channel.

    Parameters
    ----------
    data : dgtools.Tables or pandas.DataFrame
        The tables, or a words, utterances or turns frame.
    source : {"words", "utterances", "turns"}, optional
        Which table of a Tables; None: each file's utterances, else its turns.  Ignored for a frame.
    caller : str
        The call named in error messages.
    timed : bool, default True
        Leave out segments without a start or an end.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SEGMENT_COLUMNS`: ``file_id`` (str), ``channel`` (int, 0 when the frame
        has none), ``speaker`` (the table's value, None for none), ``start``, ``end``,
        ``confidence`` (float, NaN for none) and ``text`` (whitespace collapsed).

    Raises
    ------
    dgtools.ConfigError
        ``data`` is neither, ``source`` is unknown, or the table lacks a column or rows.

    Examples
    --------
    >>> import pandas as pd
    >>> turns = pd.DataFrame({"file_id": "f", "channel": 0, "text": ["b  c", "a"],
    ...                       "start": [1.0, 0.0], "end": [2.0, 0.5], "speaker": [1, 0]})
    >>> segments(turns, caller="example")[["start", "speaker", "text"]].to_dict("list")
    {'start': [0.0, 1.0], 'speaker': [0, 1], 'text': ['a', 'b c']}
    """
    if isinstance(data, pd.DataFrame):
        out = _of_frame(data, caller)
    else:
        if not all(isinstance(getattr(data, n, None), pd.DataFrame) for n in SOURCES):
            raise ConfigError(
                f"{caller} takes a dgtools.Tables or its words, utterances or turns table, not "
                f"{type(data).__name__}: pass dgtools.to_tables(...) or dgtools.read_parquet(...)"
            )
        if source is not None:
            check_choice(source, SOURCES, name="source", caller=caller)
            table: pd.DataFrame = getattr(data, source)
            if len(table) == 0 and any(len(getattr(data, n)) for n in SOURCES):
                fix = "transcribe with utterances=true (--utterances), or " if source == "utterances" else ""
                raise ConfigError(
                    f"{caller}: the tables have no {source}; {fix}pass source='turns' or leave source=None"
                )
            out = _of_frame(table, caller)
        else:
            utter = _of_frame(data.utterances, caller)
            turns = _of_frame(data.turns, caller)
            turns = turns[~turns["file_id"].isin(set(utter["file_id"]))]
            out = pd.concat([utter, turns], ignore_index=True) if len(utter) else turns
            out = _files_in_order(out, data)
    if timed:
        out = out[~(np.isnan(floats(out["start"])) | np.isnan(floats(out["end"])))]
    return in_order(out, ["file_id", "start", "channel"])


def _files_in_order(seg: pd.DataFrame, data: Any) -> pd.DataFrame:
    """``seg`` with its files in the order of ``data.requests`` (then any other)."""
    requests = getattr(data, "requests", None)
    if not isinstance(requests, pd.DataFrame) or "file_id" not in requests or len(seg) == 0:
        return seg
    order = {f: i for i, f in enumerate(dict.fromkeys(strings(requests["file_id"]).tolist()))}
    rank = np.array([order.get(f, len(order)) for f in seg["file_id"].tolist()])
    return seg.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)


def _of_frame(df: pd.DataFrame, caller: str) -> pd.DataFrame:
    try:
        col = text_column(df, caller=caller)
    except AttributeError as exc:
        raise ConfigError(str(exc)) from None
    missing = [c for c in ("file_id", "start", "end") if c not in df.columns]
    if missing:
        raise ConfigError(
            f"{caller} needs columns {missing}; pass a words, utterances or turns table of dgtools.to_tables(...)"
        )
    if "channel" not in df.columns:
        df = df.assign(channel=0)
    if col == "word":
        view = word_view(df, ["file_id", "channel", "word"], caller=caller)
        frame, text, start, end = view.frame, view.tokens, view.start, view.end
    else:
        frame = df.reset_index(drop=True)
        text, start, end = strings(frame[col]), floats(frame["start"]), floats(frame["end"])
    n = len(frame)
    none = np.full(n, None, dtype=object)
    return pd.DataFrame(
        {
            "file_id": strings(frame["file_id"]),
            "channel": [0 if c is None else c for c in map(plain, frame["channel"].tolist())],
            "speaker": [plain(s) for s in frame["speaker"].tolist()] if "speaker" in frame else none,
            "start": start,
            "end": end,
            "text": [" ".join(str(t).split()) for t in text],
            "confidence": floats(frame["confidence"]) if "confidence" in frame else np.full(n, np.nan),
        },
        columns=SEGMENT_COLUMNS,
    )


def by_file(seg: pd.DataFrame, data: Any = None) -> dict[str, pd.DataFrame]:
    """``{file_id: its segments}``, files in frame order; with ``data``, its files without any too (empty).

    ``data``'s files are those of a Tables' ``requests`` or of a frame's ``file_id`` column, so a
    file with no speech (silence) still gets its (empty) document.
    """
    ids: list[str] = []
    if data is not None:
        frame = data if isinstance(data, pd.DataFrame) else getattr(data, "requests", None)
        if isinstance(frame, pd.DataFrame) and "file_id" in frame.columns:
            ids = list(dict.fromkeys(strings(frame["file_id"]).tolist()))
    if len(seg) == 0:
        return {f: seg for f in ids}
    codes, uniques = pd.factorize(seg["file_id"])
    found = {str(f): seg[codes == i] for i, f in enumerate(uniques)}
    empty = seg.iloc[:0]
    return {**{f: found.get(f, empty) for f in ids}, **found} if ids else found


def speaker_name(speaker: Any, speakers: Mapping[Any, str] | None = None) -> str | None:
    """The name of ``speaker``: ``speakers[speaker]`` (by value or label), else its label; None for none.

    Examples
    --------
    >>> speaker_name(1.0), speaker_name(0, {0: "Agent"}), speaker_name(None)
    ('1', 'Agent', None)
    """
    sid = label_id(speaker)
    if sid is None:
        return None
    if speakers:
        for key in (speaker, sid, int(sid) if sid.lstrip("-").isdigit() else sid):
            if key in speakers:
                return str(speakers[key])
    return sid


def field(value: Any) -> str:
    """``value`` as one whitespace-free field of a NIST file (whitespace becomes ``_``).

    Examples
    --------
    >>> field("calls/a b.wav")
    'calls/a_b.wav'
    """
    return "_".join(str(value).split()) or "-"


def jsonl(records: Iterable[Mapping[str, Any]]) -> str:
    """One compact JSON object a line (UTF-8 kept as is), each line ending in a newline.

    Examples
    --------
    >>> jsonl([{"a": 1}, {"b": "é"}])
    '{"a": 1}\\n{"b": "é"}\\n'
    """
    return "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in records)


def read_lines(path: str | os.PathLike[str], suffix: str, *, caller: str) -> list[tuple[Path, list[str]]]:
    """The lines of a file, of every ``*<suffix>`` file of a folder (sorted), or of a text: ``[(file, lines)]``.

    A ``str`` holding a line break is the text itself (its file is ``<text>``).
    """
    if isinstance(path, str) and "\n" in path:
        return [(Path("<text>"), path.splitlines())]
    p = Path(path)
    if p.is_dir():
        files = sorted(p.rglob(f"*{suffix}"))
        if not files:
            raise ConfigError(
                f"{caller}: {p} holds no {suffix} files; pass a {suffix} file or a folder of them"
            )
    elif p.is_file():
        files = [p]
    else:
        raise ConfigError(f"{caller}: {p} does not exist; pass a {suffix} file or a folder of them")
    return [(f, f.read_text(encoding="utf-8").splitlines()) for f in files]
