"""The transcript browser's logic as plain functions: transcript HTML, audio clips, low-confidence stretches."""

from __future__ import annotations

import html
import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._frames import equals, floats, plain
from ..analysis import low_confidence, word_tokens
from ..exceptions import ConfigError
from ..plotting import speaker_palette
from ._common import file_words

__all__ = ["clip", "low_confidence_stretches", "next_stretch", "transcript_html"]

#: Red of the confidence scale (tab:red).
_RED = (214, 39, 40)


def _rgba(confidence: float) -> str:
    alpha = 0.0 if math.isnan(confidence) else min(max(1.0 - confidence, 0.0), 1.0)
    return f"rgba({_RED[0]},{_RED[1]},{_RED[2]},{alpha:.2f})"


def transcript_html(
    words: pd.DataFrame,
    *,
    file_id: str,
    channel: int | None = None,
    speaker: int | None = None,
    min_confidence: float = 0.0,
    highlight: tuple[float, float] | None = None,
) -> str:
    """The transcript of one file as HTML, each word coloured by its confidence.

    Parameters
    ----------
    words : pandas.DataFrame
        The ``words`` table (only the first alternative is shown).
    file_id : str
        The file to show.
    channel, speaker : int, optional
        Show one channel or one speaker only.
    min_confidence : float, default 0.0
        Words below it are marked low (class ``dg-low``, bold, underlined).
    highlight : (start, end), optional
        Words overlapping this time range get class ``dg-hl`` and an outline.

    Returns
    -------
    str
        ``<div class="dg-transcript">`` holding one ``<span class="dg-word">``
        per word: its background is red with alpha ``1 - confidence`` (two
        decimals) and its ``title`` gives its time and confidence.  A
        ``<span class="dg-speaker">`` label in :func:`~dgtools.plotting.speaker_palette`
        colours starts every speaker (or channel) change.  All text is
        HTML-escaped.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "word": ["hi", "<there>"], "start": [0.0, 0.5],
    ...                       "end": [0.5, 1.0], "confidence": [0.9, 0.25]})
    >>> html = transcript_html(words, file_id="f", min_confidence=0.5)
    >>> html.count('class="dg-word"'), html.count('class="dg-word dg-low"'), "&lt;there&gt;" in html
    (1, 1, True)
    >>> "background:rgba(214,39,40,0.75)" in html   # alpha = 1 - confidence
    True
    """
    df = file_words(words, file_id)
    if channel is not None and "channel" in df:
        df = df[equals(df["channel"], channel)]
    palette = speaker_palette(df["speaker"]) if "speaker" in df else {}
    if speaker is not None and "speaker" in df:
        df = df[equals(df["speaker"], speaker)]
    if df.empty:
        return '<div class="dg-transcript"><i>no words</i></div>'
    tokens = word_tokens(df).tolist()
    start, end, conf = floats(df["start"]), floats(df["end"]), floats(df["confidence"])
    spk = [plain(v) for v in df["speaker"]] if "speaker" in df else [None] * len(df)
    chan = [plain(v) for v in df["channel"]] if "channel" in df else [None] * len(df)
    diarized = any(s is not None for s in spk)
    multichannel = len({c for c in chan if c is not None}) > 1
    parts: list[str] = []
    previous: tuple[Any, Any] | None = None
    for i, token in enumerate(tokens):
        key = (chan[i] if multichannel else None, spk[i] if diarized else None)
        if (diarized or multichannel) and key != previous:
            if previous is not None:
                parts.append("<br>")
            label = []
            if multichannel:
                label.append(f"Channel {chan[i]}")
            if diarized:
                label.append("no speaker" if spk[i] is None else f"Speaker {spk[i]}")
            colour = palette.get(spk[i], "#000000") if diarized else "#000000"
            parts.append(
                f'<span class="dg-speaker" style="color:{colour};font-weight:bold">'
                f"{html.escape(' · '.join(label))}:</span> "
            )
        previous = key
        c = conf[i]
        classes = ["dg-word"]
        style = f"background:{_rgba(c)}"
        if not math.isnan(c) and c < min_confidence:
            classes.append("dg-low")
            style += ";font-weight:bold;text-decoration:underline"
        if highlight is not None and start[i] < highlight[1] and end[i] > highlight[0]:
            classes.append("dg-hl")
            style += ";outline:2px solid #1f77b4"
        shown_conf = "n/a" if math.isnan(c) else f"{c:.2f}"
        title = f"{start[i]:.2f}-{end[i]:.2f} s, confidence {shown_conf}"
        parts.append(
            f'<span class="{" ".join(classes)}" style="{style}" title="{html.escape(title)}">'
            f"{html.escape(token)}</span> "
        )
    return '<div class="dg-transcript" style="line-height:1.9">' + "".join(parts).rstrip() + "</div>"


# -------------------------------------------------------------------- audio


def clip(
    audio: npt.NDArray[Any], sr: float, start: float, end: float, *, pad: float = 0.1
) -> npt.NDArray[Any]:
    """The samples from ``start - pad`` to ``end + pad`` seconds (clamped to the signal).

    ``audio`` is ``(samples,)`` or ``(samples, channels)``; the slice is a view.

    Examples
    --------
    >>> import numpy as np
    >>> clip(np.arange(100), sr=10, start=2.0, end=3.0, pad=0.1)
    array([19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30])
    """
    if sr <= 0:
        raise ConfigError(f"clip: sr={sr!r} must be positive")
    if end < start:
        raise ConfigError(f"clip: end={end!r} is before start={start!r}")
    n = audio.shape[0]
    a = min(max(math.floor((start - pad) * sr), 0), n)
    b = min(max(math.ceil((end + pad) * sr), a), n)
    return audio[a:b]


# ----------------------------------------------------- low-confidence runs


def low_confidence_stretches(words: pd.DataFrame, file_id: str, threshold: float) -> pd.DataFrame:
    """Runs of words below ``threshold`` in one file (:func:`dgtools.analysis.low_confidence`), by start time.

    Columns ``file_id, channel, start, end, n_words, text, mean_confidence``;
    the index is ``0..n-1``.

    Examples
    --------
    >>> import pandas as pd
    >>> words = pd.DataFrame({"file_id": "f", "channel": 0, "word": ["a", "b", "c", "d"],
    ...                       "start": [0.0, 1.0, 2.0, 3.0], "end": [1.0, 2.0, 3.0, 4.0],
    ...                       "confidence": [0.2, 0.9, 0.3, 0.4]})
    >>> low_confidence_stretches(words, "f", 0.5)[["start", "end", "text"]]
       start  end text
    0    0.0  1.0    a
    1    2.0  4.0  c d
    """
    df = file_words(words, file_id)
    if df.empty:
        df = words.iloc[:0]
    out = low_confidence(df, threshold, caller="dgtools.widgets.low_confidence_stretches()")
    return out.sort_values(["start", "channel"], kind="stable").reset_index(drop=True)


def next_stretch(stretches: pd.DataFrame, t: float, direction: Literal[1, -1] = 1) -> pd.Series | None:
    """The first stretch starting after ``t`` (``direction=+1``) or the last starting before it (``-1``).

    Returns the row (a Series) or ``None`` when there is none that way.

    Examples
    --------
    >>> import pandas as pd
    >>> stretches = pd.DataFrame({"start": [0.0, 2.0], "text": ["a", "c d"]})
    >>> next_stretch(stretches, 0.5)["text"], next_stretch(stretches, 0.5, -1)["text"]
    ('c d', 'a')
    >>> next_stretch(stretches, 2.0) is None
    True
    """
    if direction not in (1, -1):
        raise ConfigError(f"next_stretch: direction={direction!r} must be +1 or -1")
    if stretches.empty:
        return None
    starts = floats(stretches["start"])
    eps = 1e-9
    idx = np.flatnonzero(starts > t + eps) if direction == 1 else np.flatnonzero(starts < t - eps)
    if len(idx) == 0:
        return None
    pick = idx[np.argmin(starts[idx])] if direction == 1 else idx[np.argmax(starts[idx])]
    row: pd.Series = stretches.iloc[int(pick)]
    return row


# ------------------------------------------------------------------ diffing
