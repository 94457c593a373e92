"""What a set of tables holds, at a glance: :class:`TablesSummary`.

Built from two frames (requests and words) and the row counts, so that
:meth:`dgtools.Tables.summary` and :func:`dgtools.tables.dataset_summary`
(which reads only a few columns of a Parquet dataset) give the same value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["TablesSummary"]


@dataclass(frozen=True)
class TablesSummary:
    """What a :class:`~dgtools.Tables` holds, at a glance (see :meth:`dgtools.Tables.summary`).

    Attributes
    ----------
    files : int
        Distinct ``file_id`` values of the requests table.
    audio_hours : float
        The sum of the requests' ``duration``, in hours.
    words : int
        Words of the first alternative.
    speakers : int
        Distinct (file, channel, speaker) triples among those words.
    rows : dict of str to int
        Rows per table, in canonical table order.

    Examples
    --------
    >>> import dgtools
    >>> s = dgtools.to_tables("data/responses").summary()
    >>> (s.files, s.words, s.rows["turns"])
    (6, 271, 12)
    >>> print(s)  # doctest: +ELLIPSIS
    6 file(s), 0.038 audio hours, 271 words, 2 speaker(s)
    rows: requests=6, channels=7, alternatives=10, words=271, ...
    """

    files: int
    audio_hours: float
    words: int
    speakers: int
    rows: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_frames(cls, requests: pd.DataFrame, words: pd.DataFrame, rows: dict[str, int]) -> TablesSummary:
        """Summarise from two frames and the row counts.

        Parameters
        ----------
        requests : pandas.DataFrame
            Columns ``file_id`` and ``duration`` of the requests table (others may be absent).
        words : pandas.DataFrame
            Columns ``file_id``, ``channel``, ``alternative`` and ``speaker`` of the words table.
        rows : dict of str to int
            Rows per table.

        Returns
        -------
        TablesSummary

        Examples
        --------
        >>> import pandas as pd
        >>> requests = pd.DataFrame({"file_id": ["a"], "duration": [7200.0]})
        >>> words = pd.DataFrame({"file_id": ["a"] * 3, "channel": [0] * 3, "alternative": [0] * 3,
        ...                       "speaker": [0, 1, 1]})
        >>> TablesSummary.from_frames(requests, words, {"requests": 1, "words": 3})
        TablesSummary(files=1, audio_hours=2.0, words=3, speakers=2, rows={'requests': 1, 'words': 3})
        """
        w0 = words[words["alternative"] == 0] if len(words) else words
        # fsum: exact, so the same whatever the row order (a partitioned dataset reads in another)
        dur = math.fsum(requests["duration"].dropna()) if len(requests) else 0.0
        spk = (
            w0.dropna(subset=["speaker"])[["file_id", "channel", "speaker"]].drop_duplicates()
            if len(w0)
            else w0
        )
        return cls(
            files=int(requests["file_id"].nunique()) if len(requests) else 0,
            audio_hours=float(dur or 0.0) / 3600.0,
            words=len(w0),
            speakers=len(spk),
            rows=dict(rows),
        )

    def __str__(self) -> str:
        head = (
            f"{self.files} file(s), {self.audio_hours:.3f} audio hours, "
            f"{self.words} words, {self.speakers} speaker(s)"
        )
        body = ", ".join(f"{k}={v}" for k, v in self.rows.items() if v)
        return head + ("\nrows: " + body if body else "")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td>{v:,}</td></tr>" for k, v in self.rows.items())
        return (
            f"<b>dgtools tables</b>: {self.files} file(s), {self.audio_hours:.3f} audio hours, "
            f"{self.words:,} words, {self.speakers} speaker(s)"
            f"<table><tr><th>table</th><th>rows</th></tr>{rows}</table>"
        )
