"""NeMo ASR manifests: JSON lines that NVIDIA NeMo trains, fine-tunes and evaluates on.

One JSON object a line, the keys NeMo's ``ASRAudioText`` manifests read::

    {"audio_filepath": "audio/call.wav", "duration": 26.03, "text": "good afternoon ..."}

one line a file (``segments=False``: its whole transcript, channels merged by start time), or
one line an utterance, turn or word with its ``offset`` into the file (``segments=True``)::

    {"audio_filepath": "audio/call.wav", "offset": 0.54, "duration": 3.83, "text": "..."}

The audio path of a file is, in order: ``audio[file_id]`` when given; the ``path`` (or
``source``) column of the tables' ``files`` frame when they have one; else the ``file_id``
itself (``dgtools.transcribe`` names a file by its path under the folder it was given,
``"calls/a.wav"``).  ``audio_root`` rebases it: a relative path is taken under it (an
absolute one by its name), and when that file does not exist but one with an audio suffix
added does (``root/<file_id>.wav``), that one is written.  A file's duration is the request's
``duration`` (the tables' ``requests``), else its last segment's end.  Times are seconds
rounded to the millisecond.

Examples
--------
>>> import pandas as pd
>>> from dgtools.io.nemo import nemo_jsonl, to_nemo
>>> turns = pd.DataFrame({"file_id": "call.wav", "channel": 0, "text": ["Hi.", "Bye."],
...                       "start": [0.5, 2.0], "end": [1.25, 2.5]})
>>> print(nemo_jsonl(to_nemo(turns, audio_root="/data")), end="")
{"audio_filepath": "/data/call.wav", "duration": 2.5, "text": "Hi. Bye."}
>>> to_nemo(turns, segments=True)[1]
{'audio_filepath': 'call.wav', 'offset': 2.0, 'duration': 0.5, 'text': 'Bye.'}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._frames import arrow_array, floats, strings
from ..exceptions import ConfigError
from ._segments import AUDIO_SUFFIXES, Source, by_file, jsonl, read_lines, segments

__all__ = ["nemo_jsonl", "read_nemo", "to_nemo"]


def to_nemo(
    data: Any,
    *,
    source: Source | None = None,
    segments: bool = False,
    audio_root: str | os.PathLike[str] | None = None,
    audio: Mapping[str, str | os.PathLike[str]] | None = None,
) -> list[dict[str, Any]]:
    """NeMo manifest lines (module docstring): one a file, or one a segment with ``segments=True``.

    Parameters
    ----------
    data : dgtools.Tables or pandas.DataFrame
        The tables, or their words, utterances or turns table.
    source : {"words", "utterances", "turns"}, optional
        The table of a Tables the text (and, with ``segments=True``, the lines) come from;
        None: each file's utterances where it has some, else its turns.
    segments : bool, default False
        One line a segment, with ``offset`` and its own ``duration``, instead of one a file.
    audio_root : str or os.PathLike, optional
        Folder the audio paths are rebased under.
    audio : mapping of str to path, optional
        ``file_id`` -> audio path, for files whose id is not their path.

    Returns
    -------
    list of dict
        The manifest's lines, files in table order (a file without speech: a line with ``""``
        text, without ``segments``); :func:`nemo_jsonl` writes them.

    Raises
    ------
    dgtools.ConfigError
        ``data`` is not a table, lacks a column, or (a Tables) lacks the ``source`` table's rows.

    Examples
    --------
    >>> import pandas as pd
    >>> utts = pd.DataFrame({"file_id": "a", "channel": 0, "transcript": ["One.", "Two."],
    ...                      "start": [0.0, 1.0], "end": [0.75, 1.5]})
    >>> to_nemo(utts, audio={"a": "clips/a.flac"})
    [{'audio_filepath': 'clips/a.flac', 'duration': 1.5, 'text': 'One. Two.'}]
    """
    seg = _segments(data, source, caller="dgtools.io.nemo.to_nemo()")
    durations = _durations(data)
    paths = _paths(data, audio)
    out: list[dict[str, Any]] = []
    for fid, g in by_file(seg, None if segments else data).items():
        path = _audio_path(paths.get(fid, fid), audio_root)
        if segments:
            for s, e, text in zip(g["start"], g["end"], g["text"], strict=True):
                dur = round(max(float(e) - float(s), 0.0), 3)
                out.append(
                    {"audio_filepath": path, "offset": round(float(s), 3), "duration": dur, "text": text}
                )
        else:
            duration = durations.get(fid, float(g["end"].max()) if len(g) else 0.0)  # silence: 0 s
            text = " ".join(t for t in g["text"] if t)
            out.append({"audio_filepath": path, "duration": round(duration, 3), "text": text})
    return out


_segments = segments  # the parameter ``segments`` of to_nemo hides the function's name there


def nemo_jsonl(lines: list[dict[str, Any]]) -> str:
    """Manifest lines as the text of a NeMo manifest file (one JSON object a line).

    Examples
    --------
    >>> nemo_jsonl([{"audio_filepath": "a.wav", "duration": 1.0, "text": "hi"}])
    '{"audio_filepath": "a.wav", "duration": 1.0, "text": "hi"}\\n'
    """
    return jsonl(lines)


def read_nemo(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a NeMo manifest (JSON lines) as a frame.

    Parameters
    ----------
    path : str or os.PathLike
        The manifest (or a folder of ``.json`` manifests).

    Returns
    -------
    pandas.DataFrame
        One row a line: ``audio_filepath``, ``offset`` (null when absent), ``duration`` and
        ``text``, Arrow-backed.

    Raises
    ------
    dgtools.ConfigError
        The path does not exist, or a line is not a JSON object with ``audio_filepath``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.json"
    >>> _ = p.write_text('{"audio_filepath": "a.wav", "duration": 2.5, "text": "hi"}\\n')
    >>> read_nemo(p)[["audio_filepath", "duration", "text"]].values.tolist()
    [['a.wav', 2.5, 'hi']]
    """
    rows: list[dict[str, Any]] = []
    for f, lines in read_lines(path, ".json", caller="dgtools.io.nemo.read_nemo()"):
        for k, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{f}:{k}: not a JSON line ({exc.msg}); a NeMo manifest has one object a line"
                ) from None
            if not isinstance(row, dict) or "audio_filepath" not in row:
                raise ConfigError(f"{f}:{k}: a NeMo manifest line is a JSON object with 'audio_filepath'")
            rows.append(row)
    frame = pd.DataFrame(rows, columns=["audio_filepath", "offset", "duration", "text"])
    return pd.DataFrame(
        {
            "audio_filepath": arrow_array(strings(frame["audio_filepath"]).tolist(), "str"),
            "offset": arrow_array(floats(frame["offset"]), "float"),
            "duration": arrow_array(floats(frame["duration"]), "float"),
            "text": arrow_array(strings(frame["text"]).tolist(), "str"),
        }
    )


# --------------------------------------------------------------------------- audio paths and durations


def _durations(data: Any) -> dict[str, float]:
    requests = getattr(data, "requests", None)
    if not isinstance(requests, pd.DataFrame) or not {"file_id", "duration"} <= set(requests.columns):
        return {}
    dur = floats(requests["duration"])
    return {f: float(d) for f, d in zip(strings(requests["file_id"]), dur, strict=True) if d == d}


def _paths(data: Any, audio: Mapping[str, str | os.PathLike[str]] | None) -> dict[str, str]:
    paths: dict[str, str] = {}
    files = getattr(data, "files", None)
    if isinstance(files, pd.DataFrame) and "file_id" in files.columns:
        col = next((c for c in ("path", "source") if c in files.columns), None)
        if col is not None:
            for f, p in zip(strings(files["file_id"]), strings(files[col]), strict=True):
                if p:
                    paths[f] = p
    if audio:
        paths.update({str(k): os.fspath(v) for k, v in audio.items()})
    return paths


def _audio_path(path: str, root: str | os.PathLike[str] | None) -> str:
    if root is None:
        return path
    p = Path(path)
    full = Path(root) / (p.name if p.is_absolute() else p)
    if not full.exists():
        found = next(
            (full.with_name(full.name + s) for s in AUDIO_SUFFIXES if full.with_name(full.name + s).exists()),
            None,
        )
        full = found or full
    return str(full)
