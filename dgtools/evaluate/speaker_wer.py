"""Speaker-attributed word errors: WDER (:func:`wder`), cpWER (:func:`cpwer`) and tcpWER (:func:`tcpwer`).

The hypothesis is the words table with its speakers (labels as
:mod:`dgtools.io.rttm` gives them: ``speaker_0``, ``channel_1``, ...); the
reference is speaker-attributed text: STM, or segments
``file_id, speaker, start, end, text``.  Both sides go through the same
:class:`~dgtools.evaluate.Normalizer` as :func:`~dgtools.evaluate.wer`.

- cpWER and tcpWER are meeteval's (``meeteval.wer.api.cpwer`` and
  ``tcpwer`` on SegLST): the reference has one segment per reference
  segment, the hypothesis one segment per word, so tcpWER sees each
  hypothesis word at its own time.
- WDER is computed here, as Shafey et al. (2019) define it: jiwer aligns
  the reference and hypothesis words of a file (speakers ignored, each side
  in time order); over the aligned pairs (hits and substitutions) the
  hypothesis speakers are mapped one-to-one to reference speakers to agree
  on the most pairs (the Hungarian algorithm); WDER = pairs whose speakers
  disagree under that mapping / aligned pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._extras import require
from .._frames import arrow_array, floats, strings
from ..io.rttm import labelled_words, reference_segments
from .diarization import match_references
from .normalize import Normalizer

__all__ = ["SpeakerErrorResult", "cpwer", "tcpwer", "wder"]

Metric = Literal["wder", "cpwer", "tcpwer"]
_EXTRA = "evaluate"
_NONE = "<none>"  # meeteval's placeholder speaker of an empty side


@dataclass(frozen=True)
class SpeakerErrorResult:
    """What :func:`wder`, :func:`cpwer` and :func:`tcpwer` return.

    Attributes
    ----------
    files : pandas.DataFrame
        One row per file.  cpWER and tcpWER: ``file_id``, ``ref_words``,
        ``hyp_words``, ``errors``, ``substitutions``, ``deletions``,
        ``insertions``, the rate (column named after ``metric``; NaN for an
        empty reference), ``ref_speakers``, ``hyp_speakers``,
        ``missed_speakers``, ``false_alarm_speakers`` (meeteval's) and
        ``assignment`` (``"ref=hyp; ..."``).  WDER: ``file_id``,
        ``ref_words``, ``hyp_words``, ``aligned`` (hits + substitutions),
        ``speaker_errors``, ``wder``, ``ref_speakers``, ``hyp_speakers``
        and ``assignment``.
    total : pandas.Series
        The corpus: ``files``, ``ref_words``, the error count (``errors``,
        or ``speaker_errors`` and ``aligned`` for WDER) and the rate
        (errors over reference words; for WDER speaker errors over aligned
        pairs).
    metric : {"wder", "cpwer", "tcpwer"}
        Which measure this is.
    normalizer : str
        The normalisation applied to both sides.
    """

    files: pd.DataFrame
    total: pd.Series
    metric: Metric
    normalizer: str

    def __repr__(self) -> str:
        t = self.total
        errors = "speaker_errors" if self.metric == "wder" else "errors"
        return (
            f"SpeakerErrorResult(metric={self.metric!r}, files={int(t['files'])}, ref_words={int(t['ref_words'])}, "
            f"{errors}={int(t[errors])}, {self.metric}={t[self.metric]:.2%}, normalizer={self.normalizer!r})"
        )


@dataclass(frozen=True)
class _Side:
    """The normalised words of one file's side: token, speaker, start, end (per token)."""

    tokens: list[str]
    speakers: list[str]
    start: list[float]
    end: list[float]


def _normalizer(normalize: Normalizer | Callable[[str], str] | None) -> tuple[Callable[[str], str], str]:
    norm: Callable[[str], str] = Normalizer() if normalize is None else normalize
    name = norm.name if isinstance(norm, Normalizer) else getattr(norm, "__name__", repr(norm))
    return norm, name


def _side(frame: pd.DataFrame, col: str, norm: Callable[[str], str]) -> _Side:
    out = _Side([], [], [], [])
    rows = zip(
        strings(frame[col]),
        strings(frame["speaker"]),
        floats(frame["start"]),
        floats(frame["end"]),
        strict=True,
    )
    for text, spk, start, end in rows:
        for token in norm(text).split():
            out.tokens.append(token)
            out.speakers.append(spk)
            out.start.append(float(start))
            out.end.append(float(end))
    return out


def _pairs(
    data: Any,
    references: Any,
    norm: Callable[[str], str],
    file_id: str | Sequence[str] | None,
    speakers: Mapping[Any, str] | None,
    caller: str,
) -> dict[str, tuple[_Side, _Side, pd.DataFrame]]:
    """``{file_id: (reference side, hypothesis side, reference segments)}`` of every file scored."""
    words = labelled_words(data, speakers=speakers, caller=caller)
    ids = strings(words["file_id"])
    wanted = list(dict.fromkeys(ids.tolist()))
    if file_id is not None:
        wanted = [file_id] if isinstance(file_id, str) else list(file_id)
    else:
        tables = data if hasattr(data, "requests") else getattr(data, "tables", None)
        requests = getattr(tables, "requests", None)
        if isinstance(requests, pd.DataFrame) and "file_id" in requests.columns:
            wanted.extend(f for f in strings(requests["file_id"]).tolist() if f not in wanted)
    refs = match_references(wanted, reference_segments(references, fmt="stm"), "speaker-attributed")
    out: dict[str, tuple[_Side, _Side, pd.DataFrame]] = {}
    for fid in wanted:
        ref = refs[fid]
        ref = ref.iloc[np.argsort(floats(ref["start"]), kind="stable")]
        hyp = words[ids == fid]
        out[fid] = (_side(ref, "text", norm), _side(hyp, "word", norm), ref)
    return out


def _assignment(pairs: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"{r}={h}" for r, h in pairs)


def wder(
    tables_or_words: Any,
    references: Any,
    *,
    normalize: Normalizer | Callable[[str], str] | None = None,
    file_id: str | Sequence[str] | None = None,
    speakers: Mapping[Any, str] | None = None,
) -> SpeakerErrorResult:
    """Word diarization error rate: the share of aligned words given to the wrong speaker.

    Parameters
    ----------
    tables_or_words : Tables, Run or pandas.DataFrame
        Tables, a transcribe Run, or a words table with ``speaker`` (a file
        without speakers has one speaker per channel, ``channel_<n>``).
    references : str, Path, pandas.DataFrame or mapping
        An STM file or folder of ``*.stm``, a frame with ``file_id``,
        ``speaker``, ``start``, ``end`` and ``text``, or ``{file_id: frame}``;
        files are matched as :func:`~dgtools.evaluate.der` matches them.
    normalize : Normalizer or callable, optional
        Applied to both sides; default :class:`Normalizer()`.
    file_id : str or sequence of str, optional
        The files to score; default every file.
    speakers : mapping, optional
        Renames hypothesis labels (cosmetic: the mapping is optimal anyway).

    Returns
    -------
    SpeakerErrorResult
        ``metric="wder"``; definition in the module docstring.

    Raises
    ------
    ConfigError
        A scored file has no reference (the message lists them).
    MissingDependencyError
        Without jiwer or scipy: ``pip install 'dgtools[evaluate]'``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "a.wav", "channel": 0, "word": ["hello", "there", "good", "bye"],
    ...                       "start": [0.0, 0.5, 1.0, 1.5], "end": [0.4, 0.9, 1.4, 1.9],
    ...                       "speaker": [0, 0, 0, 1]})
    >>> ref = pd.DataFrame({"file_id": "a", "speaker": ["A", "B"], "start": [0.0, 1.0],
    ...                     "end": [1.0, 2.0], "text": ["Hello there.", "Good bye."]})
    >>> wder(words, ref).files[["aligned", "speaker_errors", "wder"]].to_dict("records")
    [{'aligned': 4, 'speaker_errors': 1, 'wder': 0.25}]
    """
    jiwer = require("jiwer", extra=_EXTRA, feature="dgtools.evaluate.wder")
    optimize = require("scipy.optimize", extra=_EXTRA, feature="dgtools.evaluate.wder", package="scipy")
    norm, norm_name = _normalizer(normalize)
    rows: list[dict[str, Any]] = []
    for fid, (ref, hyp, _) in _pairs(tables_or_words, references, norm, file_id, speakers, "wder()").items():
        matched: list[tuple[str, str]] = []
        if ref.tokens and hyp.tokens:
            out = jiwer.process_words(" ".join(ref.tokens), " ".join(hyp.tokens))
            for c in out.alignments[0]:
                if c.type in ("equal", "substitute"):
                    for i, j in zip(
                        range(c.ref_start_idx, c.ref_end_idx),
                        range(c.hyp_start_idx, c.hyp_end_idx),
                        strict=True,
                    ):
                        matched.append((ref.speakers[i], hyp.speakers[j]))
        r_names = sorted({r for r, _ in matched})
        h_names = sorted({h for _, h in matched})
        counts = np.zeros((len(r_names), len(h_names)), dtype=np.int64)
        for r, h in matched:
            counts[r_names.index(r), h_names.index(h)] += 1
        ri, hi = optimize.linear_sum_assignment(-counts) if counts.size else ([], [])
        agree = int(sum(counts[i, j] for i, j in zip(ri, hi, strict=True)))
        rows.append(
            {
                "file_id": fid,
                "ref_words": len(ref.tokens),
                "hyp_words": len(hyp.tokens),
                "aligned": len(matched),
                "speaker_errors": len(matched) - agree,
                "wder": (len(matched) - agree) / len(matched) if matched else float("nan"),
                "ref_speakers": len(set(ref.speakers)),
                "hyp_speakers": len(set(hyp.speakers)),
                "assignment": _assignment([(r_names[i], h_names[j]) for i, j in zip(ri, hi, strict=True)]),
            }
        )
    ints = ["ref_words", "hyp_words", "aligned", "speaker_errors", "ref_speakers", "hyp_speakers"]
    files = _frame(rows, ints, ["wder"], ["file_id", "assignment"])
    aligned, errors = int(files["aligned"].sum()), int(files["speaker_errors"].sum())
    total = {
        "aligned": aligned,
        "speaker_errors": errors,
        "wder": errors / aligned if aligned else float("nan"),
    }
    return _result(files, total, "wder", norm_name)


def _frame(rows: list[dict[str, Any]], ints: list[str], fl: list[str], st: list[str]) -> pd.DataFrame:
    order = [k for k in rows[0]] if rows else [*st[:1], *ints, *fl, *st[1:]]
    kinds: dict[str, Literal["int", "float", "str"]] = {c: "int" for c in ints}
    kinds.update({c: "float" for c in fl})
    kinds.update({c: "str" for c in st})
    return pd.DataFrame({c: arrow_array([r[c] for r in rows], kinds[c]) for c in order})


def _result(
    files: pd.DataFrame, measures: dict[str, Any], metric: Metric, norm_name: str
) -> SpeakerErrorResult:
    total = pd.Series(
        {
            "files": len(files),
            "ref_words": int(files["ref_words"].sum()),
            **measures,
            "normalizer": norm_name,
        },
        name="total",
        dtype=object,
    )
    return SpeakerErrorResult(files=files, total=total, metric=metric, normalizer=norm_name)


def _seglst(
    fid: str, side: _Side, by_word: bool, ref: pd.DataFrame | None, norm: Callable[[str], str]
) -> Any:
    """meeteval SegLST of one side: a segment per reference segment (``ref``) or per hypothesis word."""
    io = require("meeteval.io", extra=_EXTRA, feature="dgtools.evaluate.cpwer", package="meeteval")
    segs: list[dict[str, Any]] = []
    if by_word:
        for token, spk, start, end in zip(side.tokens, side.speakers, side.start, side.end, strict=True):
            segs.append(
                {"session_id": fid, "speaker": spk, "start_time": start, "end_time": end, "words": token}
            )
    elif ref is not None:
        rows = zip(
            strings(ref["speaker"]),
            floats(ref["start"]),
            floats(ref["end"]),
            strings(ref["text"]),
            strict=True,
        )
        for spk, start, end, text in rows:
            words = " ".join(norm(text).split())
            if words:
                segs.append(
                    {
                        "session_id": fid,
                        "speaker": spk,
                        "start_time": float(start),
                        "end_time": float(end),
                        "words": words,
                    }
                )
    if not segs:  # meeteval wants every session on both sides: an empty one says "nothing was said"
        segs.append({"session_id": fid, "speaker": _NONE, "start_time": 0.0, "end_time": 0.0, "words": ""})
    return io.SegLST(segs)


def _meeteval(
    metric: Literal["cpwer", "tcpwer"],
    data: Any,
    references: Any,
    normalize: Normalizer | Callable[[str], str] | None,
    file_id: str | Sequence[str] | None,
    speakers: Mapping[Any, str] | None,
    collar: float,
) -> SpeakerErrorResult:
    api = require("meeteval.wer.api", extra=_EXTRA, feature=f"dgtools.evaluate.{metric}", package="meeteval")
    combine = require("meeteval.wer", extra=_EXTRA, feature=f"dgtools.evaluate.{metric}", package="meeteval")
    norm, norm_name = _normalizer(normalize)
    rows: list[dict[str, Any]] = []
    results = []
    pairs = _pairs(data, references, norm, file_id, speakers, f"{metric}()")
    for fid, (ref, hyp, ref_frame) in pairs.items():
        r_seg = _seglst(fid, ref, False, ref_frame, norm)
        h_seg = _seglst(fid, hyp, True, None, norm)
        if metric == "cpwer":
            er = api.cpwer(r_seg, h_seg)[fid]
        else:
            er = api.tcpwer(r_seg, h_seg, collar=collar)[fid]
        results.append(er)
        assignment = [
            (r, h) for r, h in er.assignment if r is not None and h is not None and _NONE not in (r, h)
        ]
        rows.append(
            {
                "file_id": fid,
                "ref_words": int(er.length),
                "hyp_words": len(hyp.tokens),
                "errors": int(er.errors),
                "substitutions": int(er.substitutions),
                "deletions": int(er.deletions),
                "insertions": int(er.insertions),
                metric: float(er.error_rate) if er.length else float("nan"),
                "ref_speakers": len(set(ref.speakers)),
                "hyp_speakers": len(set(hyp.speakers)),
                "missed_speakers": int(er.missed_speaker),
                "false_alarm_speakers": int(er.falarm_speaker),
                "assignment": _assignment(assignment),
            }
        )
    ints = ["ref_words", "hyp_words", "errors", "substitutions", "deletions", "insertions", "ref_speakers"]
    ints += ["hyp_speakers", "missed_speakers", "false_alarm_speakers"]
    files = _frame(rows, ints, [metric], ["file_id", "assignment"])
    total: dict[str, Any] = {"errors": int(files["errors"].sum()), metric: float("nan")}
    if results:
        whole = combine.combine_error_rates(*results)
        total[metric] = float(whole.error_rate) if whole.length else float("nan")
    if metric == "tcpwer":
        total["collar"] = collar
    return _result(files, total, metric, norm_name)


def cpwer(
    tables_or_words: Any,
    references: Any,
    *,
    normalize: Normalizer | Callable[[str], str] | None = None,
    file_id: str | Sequence[str] | None = None,
    speakers: Mapping[Any, str] | None = None,
) -> SpeakerErrorResult:
    """Concatenated minimum-permutation WER (CHiME-6), by meeteval.

    Each speaker's words are concatenated in time order on both sides;
    meeteval pairs hypothesis and reference speakers for the fewest errors
    and counts the word errors of the pairs (a speaker left over counts all
    its words as deletions or insertions).

    Parameters
    ----------
    tables_or_words, references, normalize, file_id, speakers
        As for :func:`wder`.

    Returns
    -------
    SpeakerErrorResult
        ``metric="cpwer"``.

    Raises
    ------
    ConfigError
        A scored file has no reference (the message lists them).
    MissingDependencyError
        Without meeteval: ``pip install 'dgtools[evaluate]'``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "a.wav", "channel": 0, "word": ["hello", "there", "good", "bye"],
    ...                       "start": [0.0, 0.5, 1.0, 1.5], "end": [0.4, 0.9, 1.4, 1.9],
    ...                       "speaker": [0, 0, 0, 1]})
    >>> ref = pd.DataFrame({"file_id": "a", "speaker": ["A", "B"], "start": [0.0, 1.0],
    ...                     "end": [1.0, 2.0], "text": ["Hello there.", "Good bye."]})
    >>> cpwer(words, ref).files[["errors", "cpwer", "assignment"]].to_dict("records")
    [{'errors': 2, 'cpwer': 0.5, 'assignment': 'A=speaker_0; B=speaker_1'}]
    """
    return _meeteval("cpwer", tables_or_words, references, normalize, file_id, speakers, 0.0)


def tcpwer(
    tables_or_words: Any,
    references: Any,
    *,
    collar: float = 5.0,
    normalize: Normalizer | Callable[[str], str] | None = None,
    file_id: str | Sequence[str] | None = None,
    speakers: Mapping[Any, str] | None = None,
) -> SpeakerErrorResult:
    """Time-constrained minimum-permutation WER (CHiME-7/8), by meeteval.

    As :func:`cpwer`, but a hypothesis word can only match a reference word
    when their times overlap within ``collar`` seconds.  Hypothesis words
    keep their own times (meeteval's ``character_based_points``); reference
    words get times spread over their segment by characters (``character_based``).

    Parameters
    ----------
    tables_or_words, references, normalize, file_id, speakers
        As for :func:`wder`.
    collar : float, default 5.0
        meeteval's collar in seconds (5 s in the CHiME-8 evaluation).

    Returns
    -------
    SpeakerErrorResult
        ``metric="tcpwer"``; ``total["collar"]`` the collar.

    Raises
    ------
    ConfigError
        A scored file has no reference (the message lists them).
    MissingDependencyError
        Without meeteval: ``pip install 'dgtools[evaluate]'``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "a.wav", "channel": 0, "word": ["hello", "there"],
    ...                       "start": [10.0, 10.5], "end": [10.4, 10.9], "speaker": [0, 0]})
    >>> ref = pd.DataFrame({"file_id": "a", "speaker": ["A"], "start": [0.0], "end": [1.0],
    ...                     "text": ["hello there"]})
    >>> tcpwer(words, ref, collar=1.0).total["tcpwer"], tcpwer(words, ref, collar=10.0).total["tcpwer"]
    (2.0, 0.0)
    """
    return _meeteval("tcpwer", tables_or_words, references, normalize, file_id, speakers, collar)
