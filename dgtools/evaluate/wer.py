"""Word and character error rates of a words table against reference texts, aligned by jiwer."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from .._extras import require
from .._frames import arrow_array, strings
from ..exceptions import ConfigError
from .keys import By, hypotheses, keyed_references, pair_speakers, stem_keys
from .normalize import Normalizer

__all__ = ["WERResult", "load_references", "wer"]

References: TypeAlias = str | Path | Mapping[str, str] | pd.DataFrame
_SPACES = re.compile(r"\s\s+")  # jiwer.RemoveMultipleSpaces
_FILE_COLUMNS = ["file_id", "ref_words", "hyp_words", "hits", "substitutions", "deletions", "insertions"]


@dataclass(frozen=True)
class WERResult:
    """What :func:`wer` returns.

    Attributes
    ----------
    files : pandas.DataFrame
        One row per file, in the order of the words table (per channel or
        speaker of each file with ``by=``): ``file_id`` (then ``channel``,
        or ``speaker`` and ``hyp_speaker``, the reference speaker and the
        diarized one paired with it, ``""`` for none), ``ref_words``, ``hyp_words``, ``hits``, ``substitutions``,
        ``deletions``, ``insertions``, ``wer``, ``cer`` (NaN when the
        normalised reference is empty), ``reference`` and ``hypothesis``
        (the normalised strings jiwer aligned) and ``normalizer``.
    total : pandas.Series
        Corpus figures: ``files``, ``ref_words``, ``errors``, ``wer``
        (total errors over total reference words; with ``by="speaker"``,
        the cpWER), ``wer_low`` and ``wer_high`` (a 95% bootstrap interval
        over files), ``cer``, ``by``, ``bootstrap`` (resamples) and
        ``normalizer``.
    pairs : pandas.DataFrame
        The errors of jiwer's alignments: ``ref``, ``hyp`` (``""`` for a
        deletion or an insertion), ``kind`` (``substitution``, ``deletion``,
        ``insertion``) and ``count``, most frequent first.
    normalizer : str
        The name of the normalisation applied to both sides.
    """

    files: pd.DataFrame
    total: pd.Series
    pairs: pd.DataFrame
    normalizer: str

    def __repr__(self) -> str:
        t = self.total
        return (
            f"WERResult(files={int(t['files'])}, ref_words={int(t['ref_words'])}, "
            f"wer={t['wer']:.2%} [95% CI {t['wer_low']:.2%}-{t['wer_high']:.2%}], "
            f"cer={t['cer']:.2%}, normalizer={self.normalizer!r})"
        )


def load_references(references: References) -> dict[str, str]:
    """``{name: text}`` from a folder of ``.txt`` files, a mapping or a ``(file_id, text)`` DataFrame.

    A folder's files are keyed by their stem (``one_speaker.txt`` -> ``"one_speaker"``); lines of
    a file are joined with spaces.  :func:`wer` matches a ``file_id`` to a key as it is, or
    without its audio suffix (``"one_speaker.wav"`` -> ``"one_speaker"``).

    Examples
    --------
    >>> load_references({"a.wav": "Hello there"})
    {'a.wav': 'Hello there'}
    >>> import pandas as pd
    >>> load_references(pd.DataFrame({"file_id": ["a"], "text": ["hi"]}))
    {'a': 'hi'}
    """
    if isinstance(references, pd.DataFrame):
        missing = [c for c in ("file_id", "text") if c not in references.columns]
        if missing:
            raise ConfigError(f"references DataFrame needs columns ['file_id', 'text']; it lacks {missing}")
        ids = strings(references["file_id"])
        texts = strings(references["text"])
        return {str(k): str(v) for k, v in zip(ids, texts, strict=True)}
    if isinstance(references, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in references.items()}
    folder = Path(references)
    if not folder.is_dir():
        raise ConfigError(
            f"references {str(folder)!r} is not a folder; pass a folder of .txt files, "
            "a dict {file_id: text} or a DataFrame (file_id, text)"
        )
    return {p.stem: " ".join(p.read_text(encoding="utf-8").split()) for p in sorted(folder.glob("*.txt"))}


@dataclass(frozen=True)
class _Aligned:
    """jiwer's tokens and alignment chunks of each (reference, hypothesis) pair, in order."""

    references: list[list[str]]
    hypotheses: list[list[str]]
    alignments: list[list[Any]]


def _align(process: Callable[[str, str], Any], refs: list[str], hyps: list[str]) -> _Aligned:
    """``process`` (jiwer's) on each pair alone: faster than one call on the lists (jiwer 4)."""
    out = _Aligned([], [], [])
    for ref, hyp in zip(refs, hyps, strict=True):
        one = process(ref, hyp)
        out.references.append(one.references[0])
        out.hypotheses.append(one.hypotheses[0])
        out.alignments.append(one.alignments[0])
    return out


def _counts(output: _Aligned, n: int) -> np.ndarray:
    """Hits, substitutions, deletions, insertions of each of the ``n`` pairs jiwer aligned."""
    counts = np.zeros((n, 4), dtype=np.int64)
    for row, chunks in enumerate(output.alignments):
        for c in chunks:
            ref_n = c.ref_end_idx - c.ref_start_idx
            hyp_n = c.hyp_end_idx - c.hyp_start_idx
            if c.type == "equal":
                counts[row, 0] += ref_n
            elif c.type == "substitute":
                counts[row, 1] += ref_n
            elif c.type == "delete":
                counts[row, 2] += ref_n
            else:
                counts[row, 3] += hyp_n
    return counts


def _pairs(output: _Aligned) -> pd.DataFrame:
    tally: Counter[tuple[str, str, str]] = Counter()
    for refs, hyps, chunks in zip(output.references, output.hypotheses, output.alignments, strict=True):
        for c in chunks:
            if c.type == "substitute":
                for r, h in zip(
                    refs[c.ref_start_idx : c.ref_end_idx], hyps[c.hyp_start_idx : c.hyp_end_idx], strict=True
                ):
                    tally[(r, h, "substitution")] += 1
            elif c.type == "delete":
                for r in refs[c.ref_start_idx : c.ref_end_idx]:
                    tally[(r, "", "deletion")] += 1
            elif c.type == "insert":
                for h in hyps[c.hyp_start_idx : c.hyp_end_idx]:
                    tally[("", h, "insertion")] += 1
    rows = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0][2], kv[0][0], kv[0][1]))
    return pd.DataFrame(
        {
            "ref": arrow_array([k[0] for k, _ in rows], "str"),
            "hyp": arrow_array([k[1] for k, _ in rows], "str"),
            "kind": arrow_array([k[2] for k, _ in rows], "str"),
            "count": arrow_array([v for _, v in rows], "int"),
        }
    )


def _bootstrap(errors: np.ndarray, ref: np.ndarray, n: int, seed: int | None) -> tuple[float, float]:
    """2.5th and 97.5th percentiles of the corpus WER over ``n`` resamples of files (with replacement)."""
    if len(errors) == 0 or n <= 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(errors), size=(n, len(errors)))
    denom = ref[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = errors[idx].sum(axis=1) / denom
    rates = rates[np.isfinite(rates)]
    if len(rates) == 0:
        return (float("nan"), float("nan"))
    low, high = np.percentile(rates, [2.5, 97.5])
    return (float(low), float(high))


def wer(
    tables_or_words: Any,
    references: References,
    *,
    by: By = "file_id",
    normalize: Normalizer | Callable[[str], str] | None = None,
    file_id: str | Sequence[str] | None = None,
    speaker_map: Mapping[str, str] | None = None,
    bootstrap: int = 1000,
    seed: int | None = 0,
) -> WERResult:
    """Word and character error rates of each file (channel, speaker) and of the corpus, with the errors made.

    Hypotheses are the words table's first alternative in word order
    (``punctuated_word``, else ``word``); a file with several channels is
    read in start-time order across them.  Both sides go through the same
    ``normalize``; jiwer aligns the words (``process_words``), and the
    character error rate is the Levenshtein distance of the two strings
    over the reference's characters, which is what ``jiwer.cer`` computes
    (rapidfuzz, jiwer's own aligner, counts it without building the
    alignment, the slow half of the work).

    Parameters
    ----------
    tables_or_words : Run, Tables or pandas.DataFrame
        The result of :func:`dgtools.transcribe` or :func:`dgtools.to_tables`,
        or a words table.
    references : str, Path, dict or pandas.DataFrame
        ``by="file_id"``: a folder of ``<stem>.txt`` files, ``{file_id:
        text}``, a DataFrame with ``file_id`` and ``text`` columns, or an
        STM file (``.stm``; a folder of them when it holds no ``.txt``).
        ``by="channel"`` or ``"speaker"``: an STM file or folder, a DataFrame
        with ``file_id``, ``channel`` (numbered from 0, as in the tables) or
        ``speaker``, and ``text`` (rows of one key joined in ``start`` order
        when there is a ``start`` column), or ``{file_id: {key: text}}``.
        A ``file_id`` such as ``"calls/a.wav"`` matches the key
        ``"calls/a.wav"``, ``"calls/a"``, ``"a.wav"`` or ``"a"``.
    by : {"file_id", "channel", "speaker"}
        Rows of :attr:`WERResult.files`: one per file, per channel of each
        file, or per speaker.  ``"speaker"`` pairs each diarized speaker
        with the reference speaker that gives the fewest errors over the
        file (Hungarian algorithm; the corpus WER is then the cpWER) unless
        ``speaker_map`` fixes it.
    normalize : Normalizer or callable, optional
        Applied to references and hypotheses alike; default
        :class:`Normalizer()` (lowercase, no punctuation but apostrophes
        inside words, hyphens to spaces, no fillers; numerals as they are).
        A callable is named by its ``__name__``.
    file_id : str or sequence of str, optional
        The files to score; default every file of the words table (for a
        :class:`~dgtools.Tables`, also those of its ``requests`` table that
        have no words, scored against an empty hypothesis).
    speaker_map : dict, optional
        ``{hyp_speaker: ref_speaker}`` (as strings, e.g. ``{"0": "agent"}``)
        for ``by="speaker"``, in place of the search for the best pairing.
    bootstrap : int, default 1000
        Resamples of files for the 95% interval of the corpus WER (0: none).
    seed : int or None, default 0
        Seed of the resampling; the same seed gives the same interval.

    Returns
    -------
    WERResult
        ``.files``, ``.total``, ``.pairs`` and ``.normalizer``.

    Raises
    ------
    ConfigError
        When a scored file has no reference (the message lists them),
        ``by`` is unknown, or ``by="speaker"`` meets words without speakers.
    MissingDependencyError
        Without jiwer: ``pip install 'dgtools[evaluate]'``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "a.wav", "channel": 0, "word": ["hello", "word"],
    ...                       "punctuated_word": ["Hello,", "word."], "start": [0.0, 0.5]})
    >>> r = wer(words, {"a": "Hello world"})
    >>> r.files[["file_id", "substitutions", "wer"]].to_dict("records")
    [{'file_id': 'a.wav', 'substitutions': 1, 'wer': 0.5}]
    >>> r.pairs.to_dict("records")
    [{'ref': 'world', 'hyp': 'word', 'kind': 'substitution', 'count': 1}]

    Per speaker, the diarized speakers paired with the reference's:

    >>> words["speaker"] = [1, 0]
    >>> refs = pd.DataFrame({"file_id": "a", "speaker": ["agent", "caller"], "text": ["hello", "world"]})
    >>> wer(words, refs, by="speaker").files[["speaker", "hyp_speaker", "wer"]].to_dict("records")
    [{'speaker': 'agent', 'hyp_speaker': '1', 'wer': 0.0}, {'speaker': 'caller', 'hyp_speaker': '0', 'wer': 1.0}]
    """
    jiwer = require("jiwer", extra="evaluate", feature="dgtools.evaluate.wer")
    levenshtein = require("rapidfuzz.distance.Levenshtein", extra="evaluate", feature="dgtools.evaluate.wer")
    if by not in ("file_id", "channel", "speaker"):
        raise ConfigError(f"by={by!r} is not one of 'file_id', 'channel', 'speaker'")
    norm: Callable[[str], str] = Normalizer() if normalize is None else normalize
    norm_name = norm.name if isinstance(norm, Normalizer) else getattr(norm, "__name__", repr(norm))
    if not isinstance(tables_or_words, pd.DataFrame) and not hasattr(tables_or_words, "words"):
        tables_or_words = tables_or_words.tables  # a Run of dgtools.transcribe
    words = tables_or_words if isinstance(tables_or_words, pd.DataFrame) else tables_or_words.words
    hyps = hypotheses(words, by)
    requests = getattr(tables_or_words, "requests", None)
    if isinstance(requests, pd.DataFrame) and "file_id" in requests.columns:
        for fid in strings(requests["file_id"]):
            hyps.setdefault(str(fid), {})
    if file_id is not None:
        wanted = [file_id] if isinstance(file_id, str) else list(file_id)
        hyps = {f: hyps.get(f, {}) for f in wanted}
    refs = _references(references, by)
    matched: dict[str, dict[str, str]] = {}
    missing: list[str] = []
    for fid in hyps:
        key = next((k for k in stem_keys(fid) if k in refs), None)
        if key is None:
            missing.append(fid)
        else:
            matched[fid] = refs[key]
    if missing:
        raise ConfigError(
            f"no reference for {len(missing)} file(s): {missing[:5]}; add <stem>.txt files or dict keys "
            "for them, or pass file_id= with the files to score"
        )

    def word_errors(ref: str, hyp: str) -> int:
        return int(levenshtein.distance(ref.split(), hyp.split()))

    rows = _rows(hyps, matched, by, norm, word_errors, speaker_map)
    ids = [r[0] for r in rows]
    r_norm = [r[3] for r in rows]
    h_norm = [r[4] for r in rows]
    n = len(rows)
    aligned = _align(jiwer.process_words, r_norm, h_norm)
    counts = _counts(aligned, n)
    pairs = _pairs(aligned)
    ref_chars, c_errors = _char_errors(levenshtein, r_norm, h_norm)
    ref_words = counts[:, 0] + counts[:, 1] + counts[:, 2]
    hyp_words = counts[:, 0] + counts[:, 1] + counts[:, 3]
    errors = counts[:, 1:].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        row_wer = np.where(ref_words > 0, errors / np.maximum(ref_words, 1), np.nan)
        row_cer = np.where(ref_chars > 0, c_errors / np.maximum(ref_chars, 1), np.nan)
    columns: dict[str, Any] = {"file_id": arrow_array(ids, "str")}
    if by == "channel":
        columns["channel"] = arrow_array([int(r[1]) for r in rows], "int")
    elif by == "speaker":
        columns["speaker"] = arrow_array([r[1] for r in rows], "str")
        columns["hyp_speaker"] = arrow_array([r[2] for r in rows], "str")
    for name, values in zip(_FILE_COLUMNS[1:], [ref_words, hyp_words, *counts.T], strict=True):
        columns[name] = arrow_array(values.tolist(), "int")
    columns["wer"] = arrow_array(row_wer.tolist(), "float")
    columns["cer"] = arrow_array(row_cer.tolist(), "float")
    columns["reference"] = arrow_array(r_norm, "str")
    columns["hypothesis"] = arrow_array(h_norm, "str")
    columns["normalizer"] = arrow_array([norm_name] * n, "str")
    files = pd.DataFrame(columns)
    codes, uniques = pd.factorize(pd.Series(ids, dtype=object))
    file_errors = np.bincount(codes, weights=errors, minlength=len(uniques)) if n else np.zeros(0)
    file_ref = np.bincount(codes, weights=ref_words, minlength=len(uniques)) if n else np.zeros(0)
    total_ref = int(ref_words.sum())
    total_err = int(errors.sum())
    total_chars = int(ref_chars.sum())
    low, high = _bootstrap(file_errors, file_ref, bootstrap, seed)
    total = pd.Series(
        {
            "files": len(hyps),
            "ref_words": total_ref,
            "errors": total_err,
            "wer": total_err / total_ref if total_ref else float("nan"),
            "wer_low": low,
            "wer_high": high,
            "cer": int(c_errors.sum()) / total_chars if total_chars else float("nan"),
            "by": by,
            "bootstrap": bootstrap,
            "normalizer": norm_name,
        },
        name="total",
        dtype=object,
    )
    return WERResult(files=files, total=total, pairs=pairs, normalizer=norm_name)


_Row: TypeAlias = tuple[str, str, str, str, str]  # file_id, key (ref side), hyp key, reference, hypothesis


def _rows(
    hyps: Mapping[str, Mapping[str, str]],
    refs: Mapping[str, Mapping[str, str]],
    by: By,
    norm: Callable[[str], str],
    word_errors: Callable[[str, str], int],
    speaker_map: Mapping[str, str] | None,
) -> list[_Row]:
    """The normalised (reference, hypothesis) pairs to align, one per file, channel or speaker pairing."""
    rows: list[_Row] = []
    for fid, hyp in hyps.items():
        ref = {k: norm(v) for k, v in refs[fid].items()}
        hyp_n = {k: norm(v) for k, v in hyp.items()}
        if by == "file_id":
            rows.append((fid, "", "", ref.get("", ""), hyp_n.get("", "")))
        elif by == "channel":
            for ch in sorted(set(ref) | set(hyp_n), key=int):
                rows.append((fid, ch, ch, ref.get(ch, ""), hyp_n.get(ch, "")))
        else:
            for r, h in pair_speakers(ref, hyp_n, word_errors, speaker_map):
                rows.append((fid, r, h, ref.get(r, ""), hyp_n.get(h, "")))
    return rows


def _char_errors(levenshtein: Any, refs: list[str], hyps: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Reference characters and character edits of each pair, as ``jiwer.process_characters`` counts them.

    jiwer's character transform collapses runs of whitespace, strips the ends
    and compares the strings character by character, spaces included; the
    edits of a minimal alignment are the Levenshtein distance.
    """
    ref_n = np.zeros(len(refs), dtype=np.int64)
    edits = np.zeros(len(refs), dtype=np.int64)
    for i, (ref, hyp) in enumerate(zip(refs, hyps, strict=True)):
        r = _SPACES.sub(" ", ref).strip()
        h = _SPACES.sub(" ", hyp).strip()
        ref_n[i] = len(r)
        edits[i] = levenshtein.distance(r, h)
    return ref_n, edits


def _references(references: Any, by: By) -> dict[str, dict[str, str]]:
    """``{name: {key: text}}`` of the references in any of the forms :func:`wer` takes."""
    if isinstance(references, str | Path) and _is_stm(Path(references)):
        from ..io.rttm import reference_segments  # an STM file of one recording also answers to its name

        out: dict[str, dict[str, str]] = {}
        for name, frame in reference_segments(references, fmt="stm").items():
            frame = frame.assign(file_id=name)
            out[name] = (
                {"": _joined(frame).get(name, "")}
                if by == "file_id"
                else keyed_references(frame, by).get(name, {})
            )
        return out
    if by == "file_id":
        if isinstance(references, pd.DataFrame) and "start" in references.columns:
            return {k: {"": v} for k, v in _joined(references).items()}
        return {k: {"": v} for k, v in load_references(references).items()}
    if isinstance(references, pd.DataFrame):
        return keyed_references(references, by)
    if isinstance(references, Mapping) and all(isinstance(v, Mapping) for v in references.values()):
        return {str(f): {str(k): str(t) for k, t in v.items()} for f, v in references.items()}
    raise ConfigError(
        f"wer(by={by!r}) needs references split by {by}: an STM file or folder, a DataFrame with "
        f"columns file_id, {by}, text, or a dict {{file_id: {{{by}: text}}}}"
    )


def _is_stm(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".stm"
    return path.is_dir() and not any(path.glob("*.txt")) and any(path.glob("*.stm"))


def _joined(frame: pd.DataFrame) -> dict[str, str]:
    """``{file_id: text}``: a file's rows joined in ``start`` order (row order without ``start``)."""
    if "start" in frame.columns:
        frame = frame.sort_values("start", kind="stable")
    out: dict[str, list[str]] = {}
    for fid, text in zip(strings(frame["file_id"]), strings(frame["text"]), strict=True):
        out.setdefault(str(fid), []).append(str(text))
    return {k: " ".join(v) for k, v in out.items()}
