"""RTTM: speaker turns for diarization scoring tools (:func:`to_rttm`, :func:`read_rttm`).

An RTTM line is ``SPEAKER <uri> <channel> <start> <duration> <NA> <NA> <speaker> <NA> <NA>``
(NIST's Rich Transcription Time Marked format, as ``md-eval``, ``dscore`` and
pyannote read it), with 1-based channels and times in seconds.

Speaker labels, here and in :mod:`dgtools.evaluate` (DER, WDER, cpWER), come
from one rule, :func:`speaker_segments`:

- a Deepgram speaker id ``n`` is ``speaker_<n>``; in a file with several
  channels (``multichannel=true``), whose speaker ids are counted per
  channel, ``channel_<c>_speaker_<n>``;
- a row with no speaker (``diarize`` off) is ``channel_<c>``: each channel
  is one speaker, as on a call with the agent on channel 0 and the caller on
  channel 1;
- a speaker that already is a name (a string, as :func:`read_rttm` returns)
  is kept as it is.

``<c>`` is the table's 0-based channel; the RTTM channel field is ``c + 1``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from .._frames import arrow_array, floats, in_order, label_id, strings
from ..analysis import first_alternative, require_columns, word_view
from ..exceptions import ConfigError

__all__ = [
    "RTTM_LINE",
    "Source",
    "read_documents",
    "read_rttm",
    "reference_segments",
    "speaker_segments",
    "to_rttm",
]

Source = Literal["auto", "turns", "utterances", "words"]
TextSource: TypeAlias = str | Path | io.TextIOBase
#: The line :func:`read_rttm` expects, as its errors quote it.
RTTM_LINE = "SPEAKER <uri> <channel> <start> <duration> <NA> <NA> <speaker> <NA> <NA>"
_SEGMENT_COLUMNS = ["file_id", "channel", "speaker", "start", "end"]
_RTTM_TYPES = {
    "SEGMENT", "NOSCORE", "NO_RT_METADATA", "LEXEME", "NON-LEX", "NON-SPEECH", "FILLER", "EDIT", "IP",
    "SU", "CB", "A/P", "SPKR-INFO",
}  # fmt: skip


# --------------------------------------------------------------------------- segments


def _frame_of(data: Any, source: Source) -> tuple[pd.DataFrame, str, list[str]]:
    """The frame to read, its kind (``words``, ``utterances``, ``turns``) and the files of a Tables."""
    if not isinstance(data, pd.DataFrame) and not hasattr(data, "words") and hasattr(data, "tables"):
        data = data.tables  # a Run of dgtools.transcribe
    files: list[str] = []
    if isinstance(data, pd.DataFrame):
        frame = data
        if source == "auto":
            kind = "words" if "word" in frame else "utterances" if "transcript" in frame else "turns"
        else:
            kind = source
    else:
        if source not in ("auto", "turns", "utterances", "words"):
            raise ConfigError(f"source={source!r}: choose 'turns', 'utterances', 'words' or 'auto'")
        kind = "turns" if source == "auto" else source
        frame = getattr(data, kind)
        requests = getattr(data, "requests", None)
        if isinstance(requests, pd.DataFrame) and "file_id" in requests:
            files = [str(f) for f in dict.fromkeys(strings(requests["file_id"]))]
    if kind not in ("turns", "utterances", "words"):
        raise ConfigError(f"source={source!r}: choose 'turns', 'utterances', 'words' or 'auto'")
    return frame, kind, files


def _labels(
    fids: np.ndarray, channels: np.ndarray, speakers: np.ndarray, names: Mapping[Any, str] | None
) -> np.ndarray:
    """The speaker label of each row (module docstring), renamed through ``names``."""
    multi = {f for f, c in zip(fids.tolist(), channels.tolist(), strict=True) if c != 0}
    out = np.empty(len(fids), dtype=object)
    cache: dict[tuple[Any, ...], str] = {}
    for i, (f, c, s) in enumerate(zip(fids.tolist(), channels.tolist(), speakers.tolist(), strict=True)):
        key = (f in multi, c, s)
        label = cache.get(key)
        if label is None:
            label = _label(f in multi, c, s, names)
            cache[key] = label
        out[i] = label
    return out


def _label(multi: bool, channel: int, speaker: Any, names: Mapping[Any, str] | None) -> str:
    if isinstance(speaker, str) and speaker:
        label = speaker
    elif speaker is None or speaker == "" or (isinstance(speaker, float) and np.isnan(speaker)):
        label = f"channel_{channel}"
    else:
        sid = label_id(speaker)
        label = f"channel_{channel}_speaker_{sid}" if multi else f"speaker_{sid}"
        if names and label not in names and sid is not None and sid.lstrip("-").isdigit():
            return str(names.get(int(sid), label))
    return str(names.get(label, label)) if names else label


def _speaker_values(frame: pd.DataFrame) -> np.ndarray:
    if "speaker" not in frame:
        return np.full(len(frame), None, dtype=object)
    values: np.ndarray = frame["speaker"].to_numpy(dtype=object, na_value=None)
    return values


def _channels(frame: pd.DataFrame) -> np.ndarray:
    if "channel" not in frame:
        return np.zeros(len(frame), dtype=np.int64)
    return np.nan_to_num(floats(frame["channel"]), nan=0.0).astype(np.int64)


def speaker_segments(
    data: Any,
    *,
    source: Source = "auto",
    speakers: Mapping[Any, str] | None = None,
    max_gap: float = 0.5,
    caller: str = "dgtools.io.rttm.speaker_segments()",
) -> pd.DataFrame:
    """Who spoke when: one row per speaker segment, ``file_id, channel, speaker, start, end``.

    Parameters
    ----------
    data : Tables, Run or pandas.DataFrame
        Tables or a transcribe Run (their ``turns`` by default), or a words,
        utterances or turns table, or a frame of segments with ``file_id``,
        ``start``, ``end`` and optional ``channel`` and ``speaker`` (as
        :func:`read_rttm` returns).
    source : {"auto", "turns", "utterances", "words"}
        Which table of a Tables to read; for a frame, ``"auto"`` tells it by
        its text column (``word``, ``transcript``, else turns or segments).
    speakers : mapping, optional
        Label -> name or Deepgram speaker id -> name (``{0: "agent"}``).
    max_gap : float, default 0.5
        Words only: consecutive words of one speaker and channel form one
        segment unless the silence between them is longer than this (seconds).
        Turns and utterances are kept as they are, one segment a row.
    caller : str
        The call named in error messages.

    Returns
    -------
    pandas.DataFrame
        ``speaker`` holds labels (module docstring); ``channel`` is the
        table's 0-based channel.  Rows with no times are left out; files
        keep their order, rows go by channel, then start.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "a", "channel": 0, "word": ["hi", "there", "yes", "ok"],
    ...                       "start": [0.0, 0.4, 1.0, 3.0], "end": [0.3, 0.8, 1.5, 3.2],
    ...                       "speaker": [0, 0, 1, 1]})
    >>> speaker_segments(words).to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'file_id': ['a', 'a', 'a'], 'channel': [0, 0, 0], 'speaker': ['speaker_0', 'speaker_1', 'speaker_1'],
     'start': [0.0, 1.0, 3.0], 'end': [0.8, 1.5, 3.2]}
    """
    frame, kind, _ = _frame_of(data, source)
    if kind == "words":
        v = word_view(frame, ["file_id", "channel", "word", "start", "end"], caller=caller)
        f = strings(v.frame["file_id"])
        start, end = v.start, v.end
        chan, spk = _channels(v.frame), _speaker_values(v.frame)
        keep = ~(np.isnan(start) | np.isnan(end))
        f, chan, spk, start, end, group = (
            f[keep],
            chan[keep],
            spk[keep],
            start[keep],
            end[keep],
            v.group[keep],
        )
        labels = _labels(f, chan, spk, speakers)
        n = len(f)
        brk = np.ones(n, dtype=bool)
        if n > 1:
            run_end = np.maximum.accumulate(end)  # so a long word is not cut by the short one inside it
            brk[1:] = (
                (group[1:] != group[:-1]) | (labels[1:] != labels[:-1]) | (start[1:] - run_end[:-1] > max_gap)
            )
        first = np.flatnonzero(brk)
        ends = np.maximum.reduceat(end, first) if n else end
        out = {"file_id": f[first], "channel": chan[first], "speaker": labels[first], "start": start[first]}
        out["end"] = ends
    else:
        frame = require_columns(first_alternative(frame), ["file_id", "start", "end"], caller=caller)
        frame = in_order(
            frame, ["file_id", "channel", "start"] if "channel" in frame else ["file_id", "start"]
        )
        start, end = floats(frame["start"]), floats(frame["end"])
        keep = ~(np.isnan(start) | np.isnan(end))
        f, chan, spk = strings(frame["file_id"])[keep], _channels(frame)[keep], _speaker_values(frame)[keep]
        out = {"file_id": f, "channel": chan, "speaker": _labels(f, chan, spk, speakers)}
        out.update(start=start[keep], end=end[keep])
    return _segment_frame(out)


def _segment_frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file_id": arrow_array(list(columns["file_id"]), "str"),
            "channel": arrow_array([int(c) for c in columns["channel"]], "int"),
            "speaker": arrow_array(list(columns["speaker"]), "str"),
            "start": arrow_array([float(x) for x in columns["start"]], "float"),
            "end": arrow_array([float(x) for x in columns["end"]], "float"),
        }
    )


# --------------------------------------------------------------------------- writing


def _uri(file_id: str) -> str:
    return "_".join(Path(file_id).stem.split()) or "_"


def to_rttm(
    data: Any,
    *,
    source: Source = "auto",
    speakers: Mapping[Any, str] | None = None,
    max_gap: float = 0.5,
) -> dict[str, str]:
    """RTTM documents of speaker turns, one per file.

    Parameters
    ----------
    data : Tables, Run or pandas.DataFrame
        As :func:`speaker_segments` reads it: a Tables' ``turns`` by default,
        or a words, utterances or turns table, or segments (:func:`read_rttm`).
    source : {"auto", "turns", "utterances", "words"}
        Which table to write from (``"auto"``: turns of a Tables; a frame's kind).
    speakers : mapping, optional
        Label or Deepgram speaker id -> the name written (``{0: "agent", 1: "caller"}``).
    max_gap : float, default 0.5
        From words: the longest silence (seconds) kept inside one speaker's turn.

    Returns
    -------
    dict of str to str
        ``file_id`` -> the RTTM text, one ``SPEAKER`` line per turn ordered by
        start time, files in their order (a Tables' files with no words give
        ``""``).  The uri is the file's stem with spaces replaced by ``_``;
        the channel is 1-based; times are rounded to the millisecond (start,
        then duration = rounded end - rounded start), and a turn that rounds
        to no duration is left out.  Speakers are labelled as the module
        docstring says; whitespace in a label becomes ``_``.

    Examples
    --------
    >>> import pandas as pd
    >>> turns = pd.DataFrame({"file_id": "calls/a b.wav", "channel": 0, "speaker": [0, 1],
    ...                       "start": [0.5, 2.0], "end": [1.75, 3.0], "text": ["Hi.", "Hello."]})
    >>> print(to_rttm(turns, speakers={0: "agent"})["calls/a b.wav"], end="")
    SPEAKER a_b 1 0.500 1.250 <NA> <NA> agent <NA> <NA>
    SPEAKER a_b 1 2.000 1.000 <NA> <NA> speaker_1 <NA> <NA>
    """
    _, _, files = _frame_of(data, source)
    seg = speaker_segments(
        data, source=source, speakers=speakers, max_gap=max_gap, caller="dgtools.to_rttm()"
    )
    docs: dict[str, list[tuple[int, int, str]]] = {f: [] for f in files}
    s_ms = np.round(floats(seg["start"]) * 1000).astype(np.int64)
    e_ms = np.round(floats(seg["end"]) * 1000).astype(np.int64)
    rows = zip(strings(seg["file_id"]), _channels(seg), strings(seg["speaker"]), s_ms, e_ms, strict=True)
    for fid, chan, spk, s, e in rows:
        lines = docs.setdefault(fid, [])
        if e > s:
            name = "_".join(spk.split()) or "_"
            line = f"SPEAKER {_uri(fid)} {chan + 1} {s / 1000:.3f} {(e - s) / 1000:.3f} <NA> <NA> {name} <NA> <NA>\n"
            lines.append((int(s), int(chan), line))
    return {
        fid: "".join(line for _, _, line in sorted(lines, key=lambda t: t[:2])) for fid, lines in docs.items()
    }


# --------------------------------------------------------------------------- reading


def read_documents(source: TextSource, suffix: str, *, what: str) -> list[tuple[str, str]]:
    """``(name, text)`` of each document: a file, every ``*<suffix>`` of a folder (sorted), or text itself.

    A string that is blank, has a line break, or starts with ``SPEAKER`` or ``;;`` is text;
    any other string is a path.  The name of a text is ``"<text>"``.
    """
    if isinstance(source, io.TextIOBase):
        return [(getattr(source, "name", "<text>"), source.read())]
    if isinstance(source, str) and (
        not source.strip() or "\n" in source or source.lstrip().startswith(("SPEAKER", ";;"))
    ):
        return [("<text>", source)]
    path = Path(source)
    if path.is_dir():
        return [(str(p), p.read_text(encoding="utf-8")) for p in sorted(path.glob(f"*{suffix}"))]
    if path.is_file():
        return [(str(path), path.read_text(encoding="utf-8"))]
    raise ConfigError(
        f"{what} {str(source)!r} is neither a file nor a folder; pass a {suffix} file, a folder of them, or their text"
    )


def _number(token: str, name: str, where: str, expected: str) -> Decimal:
    try:
        value = Decimal(token)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{where}: {name} {token!r} is not a number >= 0; expected {expected!r}")
    return value


def _channel(token: str) -> int:
    return int(token) - 1 if token.isdigit() and int(token) > 0 else 0


def _parse_rttm(name: str, text: str) -> list[tuple[str, int, str | None, float, float]]:
    rows: list[tuple[str, int, str | None, float, float]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith((";;", "#")):
            continue
        fields = line.split()
        kind = fields[0].upper()
        where = f"{name}:{number}"
        if kind in _RTTM_TYPES:
            continue
        if kind != "SPEAKER" or len(fields) < 8:
            raise ConfigError(f"{where}: {line[:60]!r} is not an RTTM SPEAKER line; expected {RTTM_LINE!r}")
        start = _number(fields[3], "start", where, RTTM_LINE)
        duration = _number(fields[4], "duration", where, RTTM_LINE)
        speaker = None if fields[7] == "<NA>" else fields[7]
        rows.append((fields[1], _channel(fields[2]), speaker, float(start), float(start + duration)))
    return rows


def _frame(rows: Iterable[tuple[str, int, str | None, float, float]]) -> pd.DataFrame:
    cols: list[Any] = list(zip(*rows, strict=True))
    cols = cols or [[] for _ in _SEGMENT_COLUMNS]
    return pd.DataFrame(
        {
            "file_id": arrow_array(list(cols[0]), "str"),
            "channel": arrow_array(list(cols[1]), "int"),
            "speaker": arrow_array(list(cols[2]), "str"),
            "start": arrow_array(list(cols[3]), "float"),
            "end": arrow_array(list(cols[4]), "float"),
        }
    )


def read_rttm(source: TextSource) -> pd.DataFrame:
    """Speaker turns from RTTM: ``file_id, channel, speaker, start, end``, one row per SPEAKER line.

    Parameters
    ----------
    source : str, Path or text stream
        An ``.rttm`` file, a folder (every ``*.rttm`` in it, sorted by name),
        RTTM text itself (a string with a line break or starting with
        ``SPEAKER``), or an open text file.

    Returns
    -------
    pandas.DataFrame
        ``file_id`` is the RTTM uri; ``channel`` is 0-based (RTTM channel - 1;
        0 for ``<NA>``); ``speaker`` is the name (null for ``<NA>``); ``end``
        is start + duration, summed in decimal so that times written to the
        millisecond read back exactly.  Rows keep the order of the lines.
        Blank lines, comments (``;;`` or ``#``) and RTTM lines of other types
        (``SPKR-INFO``, ``LEXEME``, ...) are skipped; fields may be separated
        by any whitespace.

    Raises
    ------
    ConfigError
        A path that does not exist, or a line that is no RTTM line (the
        message names ``file:line`` and the expected format).

    Examples
    --------
    >>> df = read_rttm("SPEAKER call 1 0.400 2.837 <NA> <NA> agent <NA> <NA>\\n")
    >>> df.to_dict("records")
    [{'file_id': 'call', 'channel': 0, 'speaker': 'agent', 'start': 0.4, 'end': 3.237}]
    """
    rows: list[tuple[str, int, str | None, float, float]] = []
    for name, text in read_documents(source, ".rttm", what="RTTM"):
        rows.extend(_parse_rttm(name, text))
    return _frame(rows)


def reference_segments(source: Any, *, fmt: Literal["rttm", "stm"] = "rttm") -> dict[str, pd.DataFrame]:
    """Reference segments by recording: ``{uri: frame}`` from a path, text, a frame or a mapping.

    A path or text is read with :func:`read_rttm` (``fmt="rttm"``) or
    :func:`dgtools.io.stm.read_stm`.  A file (or text) that holds one
    recording, or none, is also keyed by its own stem: ``call.rttm`` whose
    uri is ``sample`` answers to ``call`` too, and an empty ``silence.rttm``
    is the empty reference of ``silence``.  A frame is split by ``file_id``;
    a mapping's frames are taken as they are, under its keys.
    """
    if isinstance(source, Mapping):
        return {str(k): v for k, v in source.items()}
    if isinstance(source, pd.DataFrame):
        require_columns(
            source, ["file_id", "start", "end"], caller="references", works_on="reference segments"
        )
        ids = strings(source["file_id"])
        return {str(f): source[ids == f].reset_index(drop=True) for f in dict.fromkeys(ids)}
    out: dict[str, pd.DataFrame] = {}
    aliases: dict[str, pd.DataFrame] = {}
    for name, frame in _documents(source, fmt):
        ids = strings(frame["file_id"])
        for f in dict.fromkeys(ids):
            part = frame[ids == f].reset_index(drop=True)
            out[str(f)] = pd.concat([out[str(f)], part], ignore_index=True) if str(f) in out else part
        if len(set(ids)) <= 1 and name != "<text>":
            aliases[Path(name).stem] = frame
    for stem, frame in aliases.items():
        out.setdefault(stem, frame)
    return out


def _documents(source: Any, fmt: Literal["rttm", "stm"]) -> list[tuple[str, pd.DataFrame]]:
    """``(name, segments)`` of each RTTM or STM document of ``source``."""
    if fmt == "rttm":
        return [(n, _frame(_parse_rttm(n, t))) for n, t in read_documents(source, ".rttm", what="RTTM")]
    from .stm import read_stm  # the STM reader of the exports

    path = Path(source)
    if isinstance(source, str | Path) and path.is_dir():
        return [(str(p), read_stm(p)) for p in sorted(path.glob("*.stm"))]
    if isinstance(source, str | Path) and path.is_file():
        return [(str(path), read_stm(path))]
    return [("<text>", read_stm(source))]


def labelled_words(
    data: Any, *, speakers: Mapping[Any, str] | None = None, caller: str = "labelled_words()"
) -> pd.DataFrame:
    """First-alternative words with their speaker labels: ``file_id, channel, speaker, start, end, word``.

    Words are in start-time order within each file (channels merged), word order on ties;
    ``word`` is ``punctuated_word``, else ``word``.  Labels as the module docstring says.
    """
    frame, _, _ = _frame_of(data, "words")
    v = word_view(frame, ["file_id", "channel", "word"], caller=caller)
    f, chan = strings(v.frame["file_id"]), _channels(v.frame)
    labels = _labels(f, chan, _speaker_values(v.frame), speakers)
    codes = pd.factorize(f)[0]
    order = np.lexsort((np.arange(len(f)), np.where(np.isnan(v.start), np.inf, v.start), codes))
    out = _segment_frame(
        {"file_id": f[order], "channel": chan[order], "speaker": labels[order], "start": v.start[order]}
        | {"end": v.end[order]}
    )
    out["word"] = arrow_array(v.tokens[order].tolist(), "str")
    return out
