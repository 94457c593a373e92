"""Label Studio tasks for the lowest-confidence stretches of each file, and the corrected tasks back as references.

:func:`to_labelstudio` writes one Label Studio task per file, in the JSON
Label Studio imports for its "Automatic Speech Recognition using Segments"
template (:func:`labelstudio_config` gives the matching labeling config):
``data`` holds the audio, the ``file_id`` and the whole transcript; the
task's one prediction holds, for each stretch to check, an audio region made
of two results sharing one ``id``: a ``labels`` result (the speaker, else
``Speech``) and a ``textarea`` result (the words of the stretch), both with
``value.start``, ``value.end`` (seconds) and ``value.channel``, and a
``score`` (the stretch's mean word confidence).  The prediction's ``score``
is the file's mean word confidence, so sorting tasks by it puts the worst
files first.

Which stretches (``source="words"``, the default): a file's words are cut
into runs at a channel or speaker change and at pauses of ``max_gap``
seconds or more; every ``window`` consecutive words of a run are a
candidate (a run shorter than ``window`` words is one candidate; runs of
fewer than ``min_words`` words are none).  Candidates are taken in order of
their mean word confidence (lowest first, ties to the earlier one),
skipping those that share a word with one already taken, until ``stretches``
are taken; words without a confidence are left out of the means, and a
candidate with none is never taken.  ``source="utterances"`` makes each
Deepgram utterance a candidate instead (words of a file without utterances
are one candidate per channel and speaker).  ``stretches=None`` covers every
word instead: each run cut into consecutive pieces of at most ``window``
words (or each utterance), whatever their confidence.

:func:`read_labelstudio` (in :mod:`dgtools.io.labelstudio_read`) reads an
export (Label Studio JSON, or JSON-MIN) back as one row per region; :func:`labelstudio_references` puts the
corrected regions in place of the words they cover in the hypothesis, giving
a reference per file for :func:`dgtools.evaluate.wer`.

Examples
--------
>>> import pandas as pd
>>> from dgtools.io.labelstudio import to_labelstudio
>>> words = pd.DataFrame({"file_id": "a.wav", "channel": 0, "word": ["so", "hi", "there"],
...                       "start": [0.0, 0.5, 1.0], "end": [0.4, 0.9, 1.4], "confidence": [0.9, 0.4, 0.5]})
>>> task = to_labelstudio(words, window=2, stretches=1)[0]
>>> [(r["type"], r["value"]["start"], r["value"]["end"]) for r in task["predictions"][0]["result"]]
[('labels', 0.5, 1.4), ('textarea', 0.5, 1.4)]
>>> task["predictions"][0]["result"][1]["value"]["text"], task["data"]["text"]
(['hi there'], 'so hi there')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from .._frames import Floats, floats, strings
from ..exceptions import ConfigError
from .labelstudio_read import (
    READ_COLUMNS,
    SPEAKER_PREFIX,
    SPEECH,
    Words,
    labelstudio_references,
    read_labelstudio,
    requests_of,
    words_of,
)

__all__ = [
    "READ_COLUMNS",
    "labelstudio_config",
    "labelstudio_references",
    "read_labelstudio",
    "to_labelstudio",
]


# --------------------------------------------------------------------------- the labeling config


def labelstudio_config(
    speakers: int | Iterable[str] = 0,
    *,
    tasks: Sequence[Mapping[str, Any]] | None = None,
    split_channels: bool = False,
    transcript: bool = True,
) -> str:
    """The labeling config (XML) the tasks of :func:`to_labelstudio` match: paste it into the project.

    Parameters
    ----------
    speakers : int or iterable of str, default 0
        ``n`` adds the labels ``Speaker 0`` ... ``Speaker n-1``; strings are
        added as they are.  ``Speech`` is always there.
    tasks : list of dict, optional
        Tasks of :func:`to_labelstudio`: every label their regions use is added.
    split_channels : bool, default False
        Show each channel of the audio as its own waveform (``splitchannels``),
        for multichannel files.
    transcript : bool, default True
        Show the task's whole transcript (``$text``) under the audio.

    Returns
    -------
    str
        ``<View>`` with ``Labels`` (``labels``), ``Audio`` (``audio``) and a
        per-region ``TextArea`` (``transcription``).

    Examples
    --------
    >>> print(labelstudio_config(2, transcript=False))
    <View>
      <Labels name="labels" toName="audio">
        <Label value="Speech"/>
        <Label value="Speaker 0"/>
        <Label value="Speaker 1"/>
      </Labels>
      <Audio name="audio" value="$audio"/>
      <TextArea name="transcription" toName="audio" rows="2" editable="true" perRegion="true" required="true"/>
    </View>
    """
    names = [f"{SPEAKER_PREFIX}{i}" for i in range(speakers)] if isinstance(speakers, int) else list(speakers)
    for task in tasks or ():
        for prediction in task.get("predictions", ()):
            for r in prediction.get("result", ()):
                names.extend(r.get("value", {}).get("labels", ()) if r.get("type") == "labels" else ())
    labels = list(dict.fromkeys([SPEECH, *names]))
    split = ' splitchannels="true"' if split_channels else ""
    lines = ["<View>", '  <Labels name="labels" toName="audio">']
    lines += [f"    <Label value={quoteattr(v)}/>" for v in labels]
    lines += ["  </Labels>", f'  <Audio name="audio" value="$audio"{split}/>']
    lines.append(
        '  <TextArea name="transcription" toName="audio" rows="2" editable="true" perRegion="true" required="true"/>'
    )
    if transcript:
        lines += ['  <Header value="Transcript"/>', '  <Text name="transcript" value="$text"/>']
    return "\n".join([*lines, "</View>"])


# --------------------------------------------------------------------------- stretches


@dataclass(frozen=True)
class _Stretch:
    lo: int  # first row
    hi: int  # one past the last row
    score: float  # mean word confidence (NaN when no word has one)


def _runs(words: Words, lo: int, hi: int, cut: np.ndarray) -> list[tuple[int, int]]:
    """Rows [lo, hi) of one file cut where ``cut`` (one flag a row: a run starts here) is set."""
    starts = [lo, *(int(i) for i in np.flatnonzero(cut[lo + 1 : hi]) + lo + 1)]
    return list(zip(starts, [*starts[1:], hi], strict=True))


def _cuts(words: Words, max_gap: float, utterance: np.ndarray | None) -> np.ndarray:
    n = len(words.tokens)
    cut = np.ones(n, dtype=bool)
    if n > 1:
        speaker = np.array(words.speaker, dtype=object)
        gap = words.start[1:] - words.end[:-1]
        cut[1:] = (words.channel[1:] != words.channel[:-1]) | (speaker[1:] != speaker[:-1])
        if utterance is not None:
            cut[1:] |= utterance[1:] != utterance[:-1]
        else:
            with np.errstate(invalid="ignore"):
                cut[1:] |= gap >= max_gap
    return cut


def _utterance_ids(words: Words, tables: Any) -> np.ndarray:
    """Each word's utterance: the last one of its file and channel that starts at or before it (-1: none)."""
    ids = np.full(len(words.tokens), -1, dtype=np.int64)
    utts = getattr(tables, "utterances", None)
    if not isinstance(utts, pd.DataFrame) or len(utts) == 0:
        raise ConfigError(
            "source='utterances' needs the utterances table: request utterances=true or use source='words'"
        )
    u_file = strings(utts["file_id"])
    u_channel = floats(utts["channel"])
    u_start = floats(utts["start"])
    for fid, (lo, hi) in words.bounds.items():
        for ch in sorted(set(words.channel[lo:hi].tolist())):
            mask = (u_file == fid) & (u_channel == ch)
            starts = np.sort(u_start[mask])
            rows = np.flatnonzero(words.channel[lo:hi] == ch) + lo
            found = np.searchsorted(starts, words.start[rows] + 1e-6, side="right") - 1
            ids[rows] = np.where(found >= 0, found + 1_000_000 * ch, -1)
    return ids


def _mean(conf: Floats, lo: int, hi: int) -> float:
    part = conf[lo:hi]
    known = part[~np.isnan(part)]
    return float(known.mean()) if len(known) else math.nan


def _lowest(words: Words, runs: list[tuple[int, int]], n: int, window: int, min_words: int) -> list[_Stretch]:
    """The ``n`` lowest-mean candidate windows of the runs, greedily, none sharing a word."""
    candidates: list[_Stretch] = []
    timed = ~np.isnan(words.start) & ~np.isnan(words.end)
    for lo, hi in runs:
        if hi - lo < min_words:
            continue
        w = min(window, hi - lo)
        for s in range(lo, hi - w + 1):
            score = _mean(words.confidence, s, s + w)
            if not math.isnan(score) and timed[s] and timed[s + w - 1]:
                candidates.append(_Stretch(s, s + w, score))
    candidates.sort(key=lambda c: (c.score, c.lo))
    taken: list[_Stretch] = []
    used: set[int] = set()
    for c in candidates:
        if len(taken) >= n:
            break
        if used.isdisjoint(range(c.lo, c.hi)):
            taken.append(c)
            used.update(range(c.lo, c.hi))
    return taken


def _all_pieces(words: Words, runs: list[tuple[int, int]], window: int) -> list[_Stretch]:
    out: list[_Stretch] = []
    for lo, hi in runs:
        for s in range(lo, hi, window):
            e = min(s + window, hi)
            if not (math.isnan(words.start[s]) or math.isnan(words.end[e - 1])):
                out.append(_Stretch(s, e, _mean(words.confidence, s, e)))
    return out


# --------------------------------------------------------------------------- tasks


def _audio_of(fid: str, audio_root: str | None, audio_url: Callable[[str], str] | str | None) -> str:
    if callable(audio_url):
        return str(audio_url(fid))
    if isinstance(audio_url, str):
        path = PurePosixPath(fid)
        return audio_url.format(file_id=fid, name=path.name, stem=path.stem)
    if audio_root:
        return audio_root.rstrip("/") + "/" + fid.lstrip("/")
    return fid


def _region(rid: str, words: Words, s: _Stretch, duration: float) -> list[dict[str, Any]]:
    start = max(0.0, float(words.start[s.lo]))
    end = float(np.nanmax(words.end[s.lo : s.hi]))
    if not math.isnan(duration):
        end = min(end, duration)
    end = max(end, start + 0.001)  # Label Studio drops empty regions
    speaker = words.speaker[s.lo]
    label = SPEECH if speaker is None else f"{SPEAKER_PREFIX}{speaker}"
    place = {"start": round(start, 3), "end": round(end, 3), "channel": int(words.channel[s.lo])}
    text = " ".join(str(t) for t in words.tokens[s.lo : s.hi])
    common: dict[str, Any] = {"id": rid, "to_name": "audio"}
    if not math.isnan(duration):
        common["original_length"] = duration
    if not math.isnan(s.score):
        common["score"] = round(s.score, 4)
    return [
        {**common, "from_name": "labels", "type": "labels", "value": {**place, "labels": [label]}},
        {**common, "from_name": "transcription", "type": "textarea", "value": {**place, "text": [text]}},
    ]


def to_labelstudio(
    data: Any,
    *,
    audio_root: str | None = None,
    audio_url: Callable[[str], str] | str | None = None,
    stretches: int | None = 5,
    window: int = 10,
    min_words: int = 3,
    max_gap: float = 1.0,
    source: Literal["words", "utterances"] = "words",
    model_version: str | None = None,
) -> list[dict[str, Any]]:
    """One Label Studio task per file, predicting its lowest-confidence stretches for an annotator to correct.

    Parameters
    ----------
    data : Tables, Run or pandas.DataFrame
        The result of :func:`dgtools.to_tables` or :func:`dgtools.transcribe`,
        or a words table.  A Tables' files without words (its ``requests``
        table) get a task without regions.
    audio_root : str, optional
        Prefix of the default audio location, ``<audio_root>/<file_id>``
        (e.g. ``"/data/local-files/?d=calls"`` for Label Studio's local
        storage, or ``"https://host/audio"``).
    audio_url : callable or str, optional
        The audio of a file instead: ``audio_url(file_id)``, or a template
        with ``{file_id}``, ``{name}`` (its last part) and ``{stem}`` (without
        the suffix), e.g. ``"s3://bucket/calls/{name}"``.
    stretches : int or None, default 5
        Stretches to predict per file (fewer when the file has fewer); None:
        every word, in consecutive pieces (see the module docstring).
    window : int, default 10
        Words in a stretch (a shorter run is a stretch of its own).
    min_words : int, default 3
        Runs with fewer words are never a low-confidence stretch.
    max_gap : float, default 1.0
        A pause of this many seconds or more ends a run.
    source : {"words", "utterances"}, default "words"
        ``"utterances"``: each Deepgram utterance is a candidate (needs the
        ``utterances`` table of a Tables).
    model_version : str, optional
        The predictions' ``model_version``; default ``deepgram`` plus the
        model name and version of the file's request, when known.

    Returns
    -------
    list of dict
        Tasks ``{"data": {"audio", "file_id", "text"}, "predictions":
        [{"model_version", "score", "result"}]}``; ``json.dump`` them to a
        file and import it into a project set up with :func:`labelstudio_config`.

    Raises
    ------
    ConfigError
        For ``stretches``, ``window`` or ``min_words`` below 1, an unknown
        ``source``, or ``source="utterances"`` without an utterances table.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "a", "channel": 0, "word": list("abcdef"),
    ...                       "start": [0.0, 1, 2, 3, 4, 5], "end": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
    ...                       "confidence": [0.9, 0.2, 0.3, 0.9, 0.1, 0.95]})
    >>> task = to_labelstudio(words, window=2, stretches=2, audio_url="s3://bucket/{file_id}.wav")[0]
    >>> task["data"]["audio"], [r["value"]["text"] for r in task["predictions"][0]["result"][1::2]]
    ('s3://bucket/a.wav', [['b c'], ['d e']])
    """
    if (stretches is not None and stretches < 1) or window < 1 or min_words < 1:
        raise ConfigError(
            f"to_labelstudio needs stretches >= 1 (or None), window >= 1 and min_words >= 1; "
            f"got stretches={stretches}, window={window}, min_words={min_words}"
        )
    if source not in ("words", "utterances"):
        raise ConfigError(f"source={source!r} is not 'words' or 'utterances'")
    words, tables = words_of(data, "dgtools.io.to_labelstudio()")
    utterance = _utterance_ids(words, tables) if source == "utterances" else None
    cut = _cuts(words, max_gap, utterance)
    piece = window if source == "words" else len(words.tokens) + 1
    requests = requests_of(tables)
    file_ids = list(words.file_ids)
    duration: dict[str, float] = {}
    versions: dict[str, str] = {}
    if requests is not None:
        r_ids = [str(v) for v in strings(requests["file_id"])]
        file_ids += [f for f in dict.fromkeys(r_ids) if f not in words.bounds]
        if "duration" in requests.columns:
            duration = dict(zip(r_ids, floats(requests["duration"]).tolist(), strict=True))
        parts = [strings(requests[c]) for c in ("model_name", "model_version") if c in requests.columns]
        versions = {
            f: " ".join(["deepgram", *(str(p[i]) for p in parts if p[i])]) for i, f in enumerate(r_ids)
        }
    tasks: list[dict[str, Any]] = []
    for fid in file_ids:
        lo, hi = words.bounds.get(fid, (0, 0))
        runs = _runs(words, lo, hi, cut) if hi > lo else []
        if stretches is None:
            chosen = _all_pieces(words, runs, piece)
        else:
            chosen = _lowest(words, runs, stretches, piece, min_words)
        chosen.sort(key=lambda s: (words.start[s.lo], words.channel[s.lo], s.lo))
        dur = duration.get(fid, math.nan)
        result: list[dict[str, Any]] = []
        for k, s in enumerate(chosen):
            result += _region(f"dg{k}", words, s, dur)
        prediction: dict[str, Any] = {"model_version": model_version or versions.get(fid, "deepgram")}
        score = _mean(words.confidence, lo, hi)
        if not math.isnan(score):
            prediction["score"] = round(score, 4)
        prediction["result"] = result
        text = " ".join(str(t) for t in words.tokens[words.order(fid)])
        task_data = {"audio": _audio_of(fid, audio_root, audio_url), "file_id": fid, "text": text}
        tasks.append({"data": task_data, "predictions": [prediction]})
    return tasks
