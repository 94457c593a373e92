"""Word and character error rates of a words table against reference texts, aligned by jiwer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from .._extras import require
from .._frames import arrow_array, strings
from ..analysis import word_view
from ..exceptions import ConfigError
from .normalize import Normalizer

__all__ = ["WERResult", "load_references", "wer"]

References: TypeAlias = str | Path | Mapping[str, str] | pd.DataFrame
_FILE_COLUMNS = ["file_id", "ref_words", "hyp_words", "hits", "substitutions", "deletions", "insertions"]
_AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".mp4", ".webm", ".aac", ".json")


@dataclass(frozen=True)
class WERResult:
    """What :func:`wer` returns.

    Attributes
    ----------
    files : pandas.DataFrame
        One row per file, in the order of the words table: ``file_id``,
        ``ref_words``, ``hyp_words``, ``hits``, ``substitutions``,
        ``deletions``, ``insertions``, ``wer``, ``cer`` (NaN when the
        normalised reference is empty), ``reference`` and ``hypothesis``
        (the normalised strings jiwer aligned) and ``normalizer``.
    total : pandas.Series
        Corpus figures: ``files``, ``ref_words``, ``errors``, ``wer``
        (total errors over total reference words), ``wer_low`` and
        ``wer_high`` (a 95% bootstrap interval over files), ``cer``,
        ``bootstrap`` (resamples) and ``normalizer``.
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


def _stem_keys(file_id: str) -> list[str]:
    """The names a reference of ``file_id`` may go by: itself, then without its audio suffix."""
    keys = [file_id]
    path = Path(file_id)
    if path.suffix.lower() in _AUDIO_SUFFIXES:
        keys.append(str(path.with_suffix("")))
    keys.append(path.name)
    keys.append(path.stem)
    return list(dict.fromkeys(keys))


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


def _hypotheses(tables_or_words: Any) -> dict[str, str]:
    """``{file_id: transcript}``: first-alternative words in word order, channels merged by start time."""
    words = tables_or_words if isinstance(tables_or_words, pd.DataFrame) else tables_or_words.words
    view = word_view(words, ["file_id", "channel", "word"], caller="dgtools.evaluate.wer()")
    n = len(view.frame)
    if n == 0:
        return {}
    codes, uniques = pd.factorize(strings(view.frame["file_id"]))  # files in order of first appearance
    position = np.arange(n, dtype=np.float64)
    groups_per_file = np.bincount(codes[view.bounds[:-1]], minlength=len(uniques))
    multichannel = groups_per_file[codes] > 1
    start = np.where(np.isnan(view.start), position, view.start)
    key = np.where(multichannel, start, position)  # one channel: word order as it is
    order = np.lexsort((position, key, codes))
    cuts = np.flatnonzero(np.diff(codes[order])) + 1
    tokens = view.tokens[order]
    return {str(fid): " ".join(chunk) for fid, chunk in zip(uniques, np.split(tokens, cuts), strict=True)}


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
    by: Literal["file_id"] = "file_id",
    normalize: Normalizer | Callable[[str], str] | None = None,
    file_id: str | Sequence[str] | None = None,
    bootstrap: int = 1000,
    seed: int | None = 0,
) -> WERResult:
    """Word and character error rates of each file and of the corpus, with the errors made.

    Hypotheses are the words table's first alternative in word order
    (``punctuated_word``, else ``word``); a file with several channels is
    read in start-time order across them.  Both sides go through the same
    ``normalize`` and then through jiwer (``process_words`` and
    ``process_characters``).

    Parameters
    ----------
    tables_or_words : Run, Tables or pandas.DataFrame
        The result of :func:`dgtools.transcribe` or :func:`dgtools.to_tables`,
        or a words table.
    references : str, Path, dict or pandas.DataFrame
        A folder of ``<stem>.txt`` files, ``{file_id: text}`` or a
        DataFrame with ``file_id`` and ``text`` columns.  A ``file_id`` such
        as ``"calls/a.wav"`` matches the key ``"calls/a.wav"``,
        ``"calls/a"``, ``"a.wav"`` or ``"a"``.
    by : {"file_id"}
        Rows of :attr:`WERResult.files`.  Only ``"file_id"`` for now:
        per-speaker or per-channel WER needs references split the same way.
    normalize : Normalizer or callable, optional
        Applied to references and hypotheses alike; default
        :class:`Normalizer()` (lowercase, no punctuation but apostrophes
        inside words, hyphens to spaces, no fillers; numerals as they are).
        A callable is named by its ``__name__``.
    file_id : str or sequence of str, optional
        The files to score; default every file of the words table (for a
        :class:`~dgtools.Tables`, also those of its ``requests`` table that
        have no words, scored against an empty hypothesis).
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
        When a scored file has no reference (the message lists them), or
        ``by`` is not ``"file_id"``.
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
    """
    jiwer = require("jiwer", extra="evaluate", feature="dgtools.evaluate.wer")
    if by != "file_id":
        raise ConfigError(
            f"by={by!r} is not supported: dgtools.evaluate.wer scores whole files (by='file_id'); "
            "per-speaker or per-channel WER needs references split the same way"
        )
    norm: Callable[[str], str] = Normalizer() if normalize is None else normalize
    norm_name = norm.name if isinstance(norm, Normalizer) else getattr(norm, "__name__", repr(norm))
    if not isinstance(tables_or_words, pd.DataFrame) and not hasattr(tables_or_words, "words"):
        tables_or_words = tables_or_words.tables  # a Run of dgtools.transcribe
    hyps = _hypotheses(tables_or_words)
    requests = getattr(tables_or_words, "requests", None)
    if isinstance(requests, pd.DataFrame) and "file_id" in requests.columns:
        for fid in strings(requests["file_id"]):
            hyps.setdefault(str(fid), "")
    if file_id is not None:
        wanted = [file_id] if isinstance(file_id, str) else list(file_id)
        hyps = {f: hyps.get(f, "") for f in wanted}
    refs = load_references(references)
    ids = list(hyps)
    ref_text: list[str] = []
    missing: list[str] = []
    for fid in ids:
        key = next((k for k in _stem_keys(fid) if k in refs), None)
        if key is None:
            missing.append(fid)
        else:
            ref_text.append(refs[key])
    if missing:
        raise ConfigError(
            f"no reference for {len(missing)} file(s): {missing[:5]}; add <stem>.txt files or dict keys "
            "for them, or pass file_id= with the files to score"
        )
    r_norm = [norm(t) for t in ref_text]
    h_norm = [norm(hyps[f]) for f in ids]
    n = len(ids)
    words_out = _align(jiwer.process_words, r_norm, h_norm)
    chars_out = _align(jiwer.process_characters, r_norm, h_norm)
    counts = _counts(words_out, n)
    c_counts = _counts(chars_out, n)
    pairs = _pairs(words_out)
    ref_words = counts[:, 0] + counts[:, 1] + counts[:, 2]
    hyp_words = counts[:, 0] + counts[:, 1] + counts[:, 3]
    errors = counts[:, 1:].sum(axis=1)
    ref_chars = c_counts[:, 0] + c_counts[:, 1] + c_counts[:, 2]
    c_errors = c_counts[:, 1:].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        file_wer = np.where(ref_words > 0, errors / np.maximum(ref_words, 1), np.nan)
        file_cer = np.where(ref_chars > 0, c_errors / np.maximum(ref_chars, 1), np.nan)
    columns: dict[str, Any] = {"file_id": arrow_array(ids, "str")}
    for name, values in zip(_FILE_COLUMNS[1:], [ref_words, hyp_words, *counts.T], strict=True):
        columns[name] = arrow_array(values.tolist(), "int")
    columns["wer"] = arrow_array(file_wer.tolist(), "float")
    columns["cer"] = arrow_array(file_cer.tolist(), "float")
    columns["reference"] = arrow_array(r_norm, "str")
    columns["hypothesis"] = arrow_array(h_norm, "str")
    columns["normalizer"] = arrow_array([norm_name] * n, "str")
    files = pd.DataFrame(columns)
    total_ref = int(ref_words.sum())
    total_err = int(errors.sum())
    total_chars = int(ref_chars.sum())
    low, high = _bootstrap(errors.astype(float), ref_words.astype(float), bootstrap, seed)
    total = pd.Series(
        {
            "files": n,
            "ref_words": total_ref,
            "errors": total_err,
            "wer": total_err / total_ref if total_ref else float("nan"),
            "wer_low": low,
            "wer_high": high,
            "cer": int(c_errors.sum()) / total_chars if total_chars else float("nan"),
            "bootstrap": bootstrap,
            "normalizer": norm_name,
        },
        name="total",
        dtype=object,
    )
    return WERResult(files=files, total=total, pairs=pairs, normalizer=norm_name)
