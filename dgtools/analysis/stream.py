"""How much a live stream's interim results were revised by its finals: :func:`revisions`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._frames import arrow_array, floats
from .diff import _alignment
from .words import require_columns

__all__ = ["revisions"]

_COLUMNS = ("type", "seq", "channel_index", "start", "duration", "is_final", "transcript")


def revisions(messages: pd.DataFrame) -> pd.DataFrame:
    """Each interim result of a live stream against the final that replaced it.

    An interim ``Results`` message (``is_final`` false) is a guess at the audio from its
    ``start`` to its end; the final of the same channel whose span holds that start settles it.
    The interim's words are compared with as many of the final's first words (both case- and
    punctuation-insensitively, as :func:`word_diff` does): words replaced, inserted or deleted
    are *revised*.

    Parameters
    ----------
    messages : pandas.DataFrame
        The ``messages`` table of a stream (``dgtools.stream(...).tables.messages``, or
        :func:`dgtools.to_tables` of a ``.jsonl`` capture).

    Returns
    -------
    pandas.DataFrame
        One row per interim result that a final settled, in message order: ``file_id`` (when
        ``messages`` has it), ``seq``, ``final_seq``, ``channel``, ``start``, ``end``,
        ``interim`` and ``final`` (the texts compared), ``n_words`` (the interim's),
        ``revised`` (words changed) and ``revised_share`` (``revised / n_words``).

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({
    ...     "type": ["Results"] * 3, "seq": [0, 1, 2], "channel_index": [[0, 1]] * 3,
    ...     "start": [0.0, 0.0, 0.0], "duration": [1.0, 2.0, 2.5], "is_final": [False, False, True],
    ...     "transcript": ["the cat", "the cat sad", "The cat sat down."],
    ... })
    >>> revisions(m)[["seq", "final_seq", "interim", "final", "revised"]]
       seq  final_seq      interim        final  revised
    0    0          2      the cat      The cat        0
    1    1          2  the cat sad  The cat sat        1
    """
    require_columns(messages, _COLUMNS, caller="revisions()", works_on="the messages table of a stream")
    df = messages[messages["type"].astype("string").eq("Results").fillna(False).to_numpy(bool)]
    files = df["file_id"].astype("string") if "file_id" in df.columns else pd.Series("", index=df.index)
    channel = [int(c[0]) if c is not None and len(c) else 0 for c in df["channel_index"]]
    start, end = floats(df["start"]), floats(df["start"]) + floats(df["duration"])
    final = df["is_final"].astype("boolean").fillna(False).to_numpy(bool)
    text = df["transcript"].astype("string").fillna("").tolist()
    seq = df["seq"].astype("Int64").tolist()
    finals: dict[tuple[str, int], list[int]] = {}
    for i in np.flatnonzero(final):
        finals.setdefault((files.iloc[i], channel[i]), []).append(int(i))
    rows = []
    for i in np.flatnonzero(~final):
        j = next(
            (
                k
                for k in finals.get((files.iloc[i], channel[i]), ())
                if start[k] - 1e-6 <= start[i] < end[k] - 1e-6
            ),
            None,
        )
        if j is None:
            continue
        said = text[i].split()
        settled = text[j].split()[: len(said)]
        revised = sum(
            max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in _alignment(said, settled) if op != "equal"
        )
        rows.append(
            (
                files.iloc[i],
                seq[i],
                seq[j],
                channel[i],
                start[i],
                end[i],
                text[i],
                " ".join(settled),
                len(said),
                revised,
            )
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "file_id",
            "seq",
            "final_seq",
            "channel",
            "start",
            "end",
            "interim",
            "final",
            "n_words",
            "revised",
        ],
    )
    for name in ("seq", "final_seq", "channel", "n_words", "revised"):
        out[name] = arrow_array(out[name].tolist(), "int")
    for name in ("start", "end"):
        out[name] = arrow_array(out[name].tolist(), "float")
    for name in ("file_id", "interim", "final"):
        out[name] = arrow_array(out[name].tolist(), "str")
    words = floats(out["n_words"])
    out["revised_share"] = arrow_array(
        np.where(words > 0, floats(out["revised"]) / np.maximum(words, 1), np.nan).tolist(), "float"
    )
    if "file_id" not in messages.columns:
        out = out.drop(columns="file_id")
    return out
