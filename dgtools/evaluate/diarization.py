"""Diarization error rate (DER) and Jaccard error rate (JER) of speaker turns, by pyannote.metrics.

:func:`der` turns the hypothesis (a transcript's words, turns or utterances)
and the reference (RTTM) into ``pyannote.core.Annotation`` objects
(:func:`to_annotation`) and scores them with pyannote.metrics'
``DiarizationErrorRate`` and ``JaccardErrorRate``: dgtools computes no rate
itself.  pyannote.metrics is an optional dependency, the ``evaluate`` extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from .._extras import require
from .._frames import arrow_array, floats, strings
from ..exceptions import ConfigError
from ..io.rttm import Source, reference_segments, speaker_segments
from .keys import stem_keys

__all__ = ["DERResult", "der", "match_references", "to_annotation"]

RTTMReferences: TypeAlias = Any  # str | Path | DataFrame | Mapping[str, DataFrame]
UEM: TypeAlias = Mapping[str, tuple[float, float] | Sequence[tuple[float, float]]]
_EXTRA = "evaluate"


@dataclass(frozen=True)
class DERResult:
    """What :func:`der` returns.

    Attributes
    ----------
    files : pandas.DataFrame
        One row per file: ``file_id``, ``reference_s`` (scored reference
        speech, seconds), ``missed_s``, ``false_alarm_s``, ``confusion_s``,
        ``der`` (pyannote's: (missed + false alarm + confusion) / reference;
        0 when both are 0, 1 when the reference is empty and the hypothesis
        is not), ``jer`` (pyannote's; NaN for a file with no reference
        speaker, where pyannote says 1),
        ``missed``, ``false_alarm`` and ``confusion`` (each over
        ``reference_s``; NaN when it is 0), ``ref_speakers``,
        ``hyp_speakers``, ``collar`` and ``skip_overlap``.
    total : pandas.Series
        The corpus: ``files`` and the same measures summed over files, with
        ``der`` pyannote's accumulated DER (total errors over total
        reference) and ``jer`` its accumulated JER (the mean of the
        per-speaker Jaccard errors of every reference speaker of every file).
    collar : float
        pyannote's collar (seconds removed around each reference boundary, half on each side).
    skip_overlap : bool
        Whether overlapped reference speech was left out.
    """

    files: pd.DataFrame
    total: pd.Series
    collar: float
    skip_overlap: bool

    def __repr__(self) -> str:
        t = self.total
        return (
            f"DERResult(files={int(t['files'])}, reference={t['reference_s']:.1f}s, der={t['der']:.2%} "
            f"(missed {t['missed']:.2%}, false alarm {t['false_alarm']:.2%}, confusion {t['confusion']:.2%}), "
            f"jer={t['jer']:.2%}, collar={self.collar}, skip_overlap={self.skip_overlap})"
        )


def _annotation(segments: pd.DataFrame, uri: str) -> Any:
    core = require(
        "pyannote.core", extra=_EXTRA, feature="dgtools.evaluate.to_annotation", package="pyannote.core"
    )
    ann = core.Annotation(uri=uri)
    rows = zip(floats(segments["start"]), floats(segments["end"]), strings(segments["speaker"]), strict=True)
    for k, (start, end, label) in enumerate(rows):
        if end > start:
            ann[core.Segment(float(start), float(end)), k] = label
    return ann


def to_annotation(
    data: Any,
    *,
    source: Source = "auto",
    file_id: str | None = None,
    speakers: Mapping[Any, str] | None = None,
    max_gap: float = 0.5,
) -> Any:
    """The speaker turns of a transcript (or of RTTM segments) as a ``pyannote.core.Annotation``.

    Parameters
    ----------
    data : Tables, Run or pandas.DataFrame
        Tables or a transcribe Run, a words, utterances or turns table, or
        segments as :func:`dgtools.io.read_rttm` returns them.
    source : {"auto", "turns", "utterances", "words"}
        What to read; ``"auto"`` is the ``words`` of a Tables (speech is where
        words are: a pause longer than ``max_gap`` is not speech), or a
        frame's own kind.  This is what :func:`der` scores.
    file_id : str, optional
        The file to convert; default every file.
    speakers : mapping, optional
        Label or Deepgram speaker id -> name (labels: :mod:`dgtools.io.rttm`).
    max_gap : float, default 0.5
        From words: the longest pause (seconds) kept inside one speaker's segment.

    Returns
    -------
    pyannote.core.Annotation or dict of str to Annotation
        One Annotation (``uri`` = the file id) when ``file_id`` is given or
        the data hold one file; else ``{file_id: Annotation}``.

    Raises
    ------
    MissingDependencyError
        Without pyannote.metrics: ``pip install 'dgtools[evaluate]'``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "a.wav", "channel": 0, "word": ["hi", "yes"],
    ...                       "start": [0.0, 1.0], "end": [0.5, 1.5], "speaker": [0, 1]})
    >>> ann = to_annotation(words)
    >>> [(s.start, s.end, label) for s, _, label in ann.itertracks(yield_label=True)]
    [(0.0, 0.5, 'speaker_0'), (1.0, 1.5, 'speaker_1')]
    """
    seg = speaker_segments(
        data, source=_auto_words(data, source), speakers=speakers, max_gap=max_gap, caller="to_annotation()"
    )
    ids = strings(seg["file_id"])
    files = list(dict.fromkeys(ids.tolist()))
    if file_id is not None:
        return _annotation(seg[ids == file_id], file_id)
    out = {f: _annotation(seg[ids == f], f) for f in files}
    return out[files[0]] if len(files) == 1 else out


def _auto_words(data: Any, source: Source) -> Source:
    return "words" if source == "auto" and not isinstance(data, pd.DataFrame) else source


def match_references(ids: Sequence[str], refs: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``{file_id: reference}`` matched through ``stem_keys``, or ConfigError listing the files without one."""
    out: dict[str, Any] = {}
    missing: list[str] = []
    for fid in ids:
        key = next((k for k in stem_keys(fid) if k in refs), None)
        if key is None:
            missing.append(fid)
        else:
            out[fid] = refs[key]
    if missing:
        raise ConfigError(
            f"no {what} reference for {len(missing)} file(s): {missing[:5]}; add them to the references "
            f"(matched as the file id, without its audio suffix, its name or its stem) or pass file_id= "
            f"with the files to score"
        )
    return out


def _file_ids(data: Any, seg: pd.DataFrame, file_id: str | Sequence[str] | None) -> list[str]:
    if file_id is not None:
        return [file_id] if isinstance(file_id, str) else list(file_id)
    ids = list(dict.fromkeys(strings(seg["file_id"]).tolist()))
    if not isinstance(data, pd.DataFrame) and hasattr(data, "tables") and not hasattr(data, "words"):
        data = data.tables
    requests = getattr(data, "requests", None)
    if isinstance(requests, pd.DataFrame) and "file_id" in requests.columns:
        ids.extend(f for f in strings(requests["file_id"]).tolist() if f not in ids)
    return ids


def _uem(core: Any, uem: UEM | None, fid: str, ref: Any, hyp: Any) -> Any:
    """The scored region: ``uem[fid]`` if given, else the extent of reference and hypothesis together."""
    if uem is not None and fid in uem:
        spans = uem[fid]
        pairs = [spans] if isinstance(spans, tuple) else list(spans)
        return core.Timeline([core.Segment(float(a), float(b)) for a, b in pairs], uri=fid)
    both = ref.get_timeline().union(hyp.get_timeline())
    return core.Timeline([both.extent()] if both else [], uri=fid)


def der(
    tables_or_frame: Any,
    rttm: RTTMReferences,
    *,
    collar: float = 0.25,
    skip_overlap: bool = False,
    source: Source = "auto",
    uem: UEM | None = None,
    file_id: str | Sequence[str] | None = None,
    speakers: Mapping[Any, str] | None = None,
    max_gap: float = 0.5,
) -> DERResult:
    """Diarization and Jaccard error rates of each file and of the corpus, by pyannote.metrics.

    The hypothesis is read as :func:`to_annotation` reads it; the reference
    RTTM as :func:`dgtools.io.read_rttm`.  Speaker names need not agree:
    pyannote maps hypothesis speakers to reference speakers optimally
    (Hungarian) before counting confusion.  A file with several channels and
    no diarization has one speaker per channel (``channel_0``, ``channel_1``:
    the agent and the caller of a Deepgram ``multichannel`` call).

    Parameters
    ----------
    tables_or_frame : Tables, Run or pandas.DataFrame
        Tables or a transcribe Run, or a words, utterances or turns table.
    rttm : str, Path, pandas.DataFrame or mapping
        An RTTM file, a folder of ``*.rttm``, RTTM text, a frame as
        :func:`dgtools.io.read_rttm` returns, or ``{file_id: frame}``.  A
        ``file_id`` such as ``"calls/a.wav"`` matches the uri ``"calls/a.wav"``,
        ``"calls/a"``, ``"a.wav"`` or ``"a"``; an RTTM file of one uri (or
        none: an empty file is an empty reference) also answers to its own stem.
    collar : float, default 0.25
        pyannote's collar: seconds left unscored around every reference
        boundary, half before and half after (``md-eval -c 0.25`` is ``collar=0.5``).
    skip_overlap : bool, default False
        Leave out reference regions where two or more speakers talk.
    source : {"auto", "turns", "utterances", "words"}
        The hypothesis; ``"auto"``: the words of a Tables, or a frame's kind.
    uem : mapping, optional
        ``{file_id: (start, end)}`` or ``{file_id: [(start, end), ...]}``:
        the regions scored; default the extent of reference and hypothesis
        together (pyannote's own default, without its warning).
    file_id : str or sequence of str, optional
        The files to score; default every file (of a Tables, also those with no words).
    speakers : mapping, optional
        Renames hypothesis labels (only cosmetic: the mapping is optimal anyway).
    max_gap : float, default 0.5
        From words: the longest pause (seconds) inside one speaker segment.

    Returns
    -------
    DERResult
        ``.files`` and ``.total``.

    Raises
    ------
    ConfigError
        A scored file has no reference (the message lists them), or a bad RTTM line.
    MissingDependencyError
        Without pyannote.metrics: ``pip install 'dgtools[evaluate]'``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "a.wav", "channel": 0, "word": ["hi", "yes"],
    ...                       "start": [0.0, 1.0], "end": [1.0, 2.0], "speaker": [0, 0]})
    >>> ref = "SPEAKER a 1 0.0 1.0 <NA> <NA> A <NA> <NA>\\nSPEAKER a 1 1.0 1.0 <NA> <NA> B <NA> <NA>\\n"
    >>> r = der(words, ref, collar=0.0)
    >>> r.files[["file_id", "confusion_s", "der"]].to_dict("records")
    [{'file_id': 'a.wav', 'confusion_s': 1.0, 'der': 0.5}]
    """
    diarization = require(
        "pyannote.metrics.diarization",
        extra=_EXTRA,
        feature="dgtools.evaluate.der",
        package="pyannote.metrics",
    )
    core = require("pyannote.core", extra=_EXTRA, feature="dgtools.evaluate.der", package="pyannote.core")
    if not collar >= 0:
        raise ConfigError(f"der(collar={collar!r}): must be a number of seconds >= 0")
    seg = speaker_segments(
        tables_or_frame,
        source=_auto_words(tables_or_frame, source),
        speakers=speakers,
        max_gap=max_gap,
        caller="dgtools.evaluate.der()",
    )
    ids = _file_ids(tables_or_frame, seg, file_id)
    refs = match_references(ids, reference_segments(rttm), "RTTM")
    der_metric = diarization.DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    jer_metric = diarization.JaccardErrorRate(collar=collar, skip_overlap=skip_overlap)
    hyp_ids = strings(seg["file_id"])
    rows: list[dict[str, Any]] = []
    for fid in ids:
        ref = _annotation(refs[fid], fid)
        hyp = _annotation(seg[hyp_ids == fid], fid)
        region = _uem(core, uem, fid, ref, hyp)
        d = der_metric(ref, hyp, uem=region, detailed=True)
        j = jer_metric(ref, hyp, uem=region)
        rows.append(_row(fid, d, j, ref, hyp))
    files = _files_frame(rows, collar, skip_overlap)
    acc = der_metric.accumulated_
    total = pd.Series(
        {
            "files": len(ids),
            **_measures(acc),
            "der": abs(der_metric) if ids else float("nan"),
            "jer": abs(jer_metric) if ids else float("nan"),
            "ref_speakers": int(files["ref_speakers"].sum()) if ids else 0,
            "hyp_speakers": int(files["hyp_speakers"].sum()) if ids else 0,
            "collar": collar,
            "skip_overlap": skip_overlap,
        },
        name="total",
        dtype=object,
    )
    return DERResult(files=files, total=total, collar=collar, skip_overlap=skip_overlap)


def _measures(d: Mapping[str, float]) -> dict[str, float]:
    total = float(d["total"])
    out = {
        "reference_s": total,
        "missed_s": float(d["missed detection"]),
        "false_alarm_s": float(d["false alarm"]),
        "confusion_s": float(d["confusion"]),
    }
    for name in ("missed", "false_alarm", "confusion"):
        out[name] = out[f"{name}_s"] / total if total > 0 else float("nan")
    return out


def _row(fid: str, d: Mapping[str, float], jer: float, ref: Any, hyp: Any) -> dict[str, Any]:
    m = _measures(d)
    return {
        "file_id": fid,
        **{k: m[k] for k in ("reference_s", "missed_s", "false_alarm_s", "confusion_s")},
        "der": float(d["diarization error rate"]),
        "jer": float(jer) if ref.labels() else float("nan"),  # pyannote says 1.0 for no reference speaker
        **{k: m[k] for k in ("missed", "false_alarm", "confusion")},
        "ref_speakers": len(ref.labels()),
        "hyp_speakers": len(hyp.labels()),
    }


_FLOATS = ["reference_s", "missed_s", "false_alarm_s", "confusion_s", "der", "jer", "missed", "false_alarm"]


def _files_frame(rows: list[dict[str, Any]], collar: float, skip_overlap: bool) -> pd.DataFrame:
    cols: dict[str, Any] = {"file_id": arrow_array([r["file_id"] for r in rows], "str")}
    for name in [*_FLOATS, "confusion"]:
        cols[name] = arrow_array(np.array([r[name] for r in rows], dtype=np.float64), "float")
    for name in ("ref_speakers", "hyp_speakers"):
        cols[name] = arrow_array([r[name] for r in rows], "int")
    cols["collar"] = arrow_array([float(collar)] * len(rows), "float")
    cols["skip_overlap"] = pd.array([skip_overlap] * len(rows), dtype="bool[pyarrow]")
    return pd.DataFrame(cols)
