"""What :func:`~dgtools.evaluate.wer` scores: hypotheses and references per file, channel or speaker.

``by="file_id"`` pairs one hypothesis with one reference per file.
``by="channel"`` pairs the words of each channel with the reference of
that channel (channels numbered as in the tables, from 0).
``by="speaker"`` pairs the words of each diarized speaker with the
reference of one reference speaker: the pairing is the one that makes the
fewest word errors over the file (the Hungarian algorithm on a matrix of
jiwer alignments; a speaker left over is scored against nothing), so the
corpus total is the concatenated minimum-permutation WER (cpWER) of the
CHiME-6 challenge.  ``speaker_map`` fixes the pairing instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

from .._frames import strings
from ..analysis import word_view
from ..exceptions import ConfigError

__all__ = ["By", "hypotheses", "keyed_references", "pair_speakers", "stem_keys"]

By: TypeAlias = Literal["file_id", "channel", "speaker"]
_AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".mp4", ".webm", ".aac", ".json")


def stem_keys(file_id: str) -> list[str]:
    """The names a reference of ``file_id`` may go by: itself, without its audio suffix, its name, its stem.

    Examples
    --------
    >>> stem_keys("calls/a.wav")
    ['calls/a.wav', 'calls/a', 'a.wav', 'a']
    """
    keys = [file_id]
    path = Path(file_id)
    if path.suffix.lower() in _AUDIO_SUFFIXES:
        keys.append(str(path.with_suffix("")))
    keys.append(path.name)
    keys.append(path.stem)
    return list(dict.fromkeys(keys))


def hypotheses(words: pd.DataFrame, by: By) -> dict[str, dict[str, str]]:
    """``{file_id: {key: transcript}}`` of the first-alternative words, in word order.

    ``key`` is ``""`` for ``by="file_id"`` (a file's channels merged by start
    time), the channel number as a string for ``"channel"``, and the
    speaker for ``"speaker"`` (``"<channel>:<speaker>"`` in a file of
    several channels, whose speakers are numbered per channel).
    """
    if by == "speaker" and ("speaker" not in words.columns or words["speaker"].isna().all()):
        raise ConfigError(
            "wer(by='speaker') needs diarized words, and these have no speaker: transcribe with "
            "diarize=True, or score by='file_id' or by='channel'"
        )
    needed = ["file_id", "channel", "word"] + (["speaker"] if by == "speaker" else [])
    view = word_view(words, needed, caller=f"dgtools.evaluate.wer(by={by!r})")
    n = len(view.frame)
    if n == 0:
        return {}
    codes, uniques = pd.factorize(strings(view.frame["file_id"]))  # files in order of first appearance
    position = np.arange(n, dtype=np.float64)
    groups_per_file = np.bincount(codes[view.bounds[:-1]], minlength=len(uniques))
    multichannel = groups_per_file[codes] > 1
    if by == "file_id":
        start = np.where(np.isnan(view.start), position, view.start)
        key = np.where(multichannel, start, position)  # one channel: word order as it is
        order = np.lexsort((position, key, codes))
        cuts = np.flatnonzero(np.diff(codes[order])) + 1
        chunks = np.split(view.tokens[order], cuts)
        return {str(fid): {"": " ".join(chunk)} for fid, chunk in zip(uniques, chunks, strict=True)}
    channel = view.frame["channel"].to_numpy(dtype=object)
    if by == "channel":
        labels = np.array([str(c) for c in channel], dtype=object)
    else:
        speaker = view.frame["speaker"]
        spk = np.array(["" if pd.isna(s) else str(s) for s in speaker], dtype=object)
        labels = np.where(multichannel, [f"{c}:{s}" for c, s in zip(channel, spk, strict=True)], spk)
    parts: dict[str, dict[str, list[str]]] = {}
    for code, label, token in zip(codes.tolist(), labels.tolist(), view.tokens.tolist(), strict=True):
        parts.setdefault(str(uniques[code]), {}).setdefault(label, []).append(
            str(token)
        )  # the view's word order
    return {fid: {k: " ".join(v) for k, v in texts.items()} for fid, texts in parts.items()}


def keyed_references(references: pd.DataFrame, by: By) -> dict[str, dict[str, str]]:
    """``{file_id: {key: text}}`` from a DataFrame of ``file_id``, ``by`` (channel or speaker) and ``text``.

    Rows of one key are joined in ``start`` order when there is a ``start``
    column, else in row order.
    """
    column = {"channel": "channel", "speaker": "speaker"}.get(by)
    if column is None:
        raise ConfigError(f"by={by!r}: expected 'file_id', 'channel' or 'speaker'")
    missing = [c for c in ("file_id", column, "text") if c not in references.columns]
    if missing:
        raise ConfigError(
            f"references for wer(by={by!r}) need columns ['file_id', {column!r}, 'text'] "
            f"(a DataFrame, or an STM file or folder); they lack {missing}"
        )
    frame = references
    if "start" in frame.columns:
        frame = frame.sort_values(["start"], kind="stable")
    out: dict[str, dict[str, str]] = {}
    for fid, key, text in zip(
        strings(frame["file_id"]), frame[column].to_numpy(dtype=object), strings(frame["text"]), strict=True
    ):
        texts = out.setdefault(str(fid), {})
        k = str(int(key)) if by == "channel" else str(key)
        texts[k] = f"{texts[k]} {text}".strip() if k in texts else str(text)
    return out


def pair_speakers(
    refs: Mapping[str, str],
    hyps: Mapping[str, str],
    errors: Callable[[str, str], int],
    fixed: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """``[(ref_speaker, hyp_speaker), ...]`` pairing the speakers of one file for the fewest word errors.

    ``errors(ref, hyp)`` is the number of word errors of one pairing
    (normalised texts).  Every speaker appears once; one left without a
    partner is paired with ``""`` (its words all deleted or inserted).
    ``fixed`` (``{hyp_speaker: ref_speaker}``) replaces the search.

    Examples
    --------
    >>> def errs(r, h):
    ...     return sum(a != b for a, b in zip(r.split(), h.split())) + abs(len(r.split()) - len(h.split()))
    >>> pair_speakers({"agent": "hi there", "caller": "bye now"}, {"0": "bye now", "1": "hi there"}, errs)
    [('agent', '1'), ('caller', '0')]
    """
    ref_keys, hyp_keys = list(refs), list(hyps)
    if fixed is not None:
        pairs = [(r, next((h for h in hyp_keys if fixed.get(h) == r), "")) for r in ref_keys]
        used = {h for _, h in pairs}
        return pairs + [("", h) for h in hyp_keys if h not in used]
    from scipy.optimize import linear_sum_assignment  # scipy comes with librosa, a core dependency

    size = len(ref_keys) + len(hyp_keys)
    cost = np.zeros((size, size), dtype=np.int64)
    n_ref = [len(refs[r].split()) for r in ref_keys]
    n_hyp = [len(hyps[h].split()) for h in hyp_keys]
    for i, r in enumerate(ref_keys):
        for j, h in enumerate(hyp_keys):
            cost[i, j] = errors(refs[r], hyps[h])
        cost[i, len(hyp_keys) :] = n_ref[i]  # unpaired: every reference word deleted
    for j in range(len(hyp_keys)):
        cost[len(ref_keys) :, j] = n_hyp[j]  # unpaired: every hypothesis word inserted
    rows, cols = linear_sum_assignment(cost)
    found: list[tuple[str, str]] = []
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        r = ref_keys[i] if i < len(ref_keys) else ""
        h = hyp_keys[j] if j < len(hyp_keys) else ""
        if r or h:
            found.append((r, h))
    order = {r: k for k, r in enumerate(ref_keys)}
    return sorted(found, key=lambda p: (p[0] == "", order.get(p[0], 0), p[1]))
