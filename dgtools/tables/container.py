""":class:`Tables`: every table of a set of responses, as pandas DataFrames.

The container only holds frames and converts them: to Arrow through each
table's explicit schema (:func:`~dgtools.tables.schema.frame_to_arrow`) and to
Parquet through :mod:`dgtools.tables.parquet`.  Building tables from
responses is :mod:`dgtools.tables.build`; reading them back is
:func:`dgtools.read_parquet`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ..exceptions import ConfigError, SchemaError
from .failures import FAILURE_COLUMNS, Failure, failures_frame
from .parquet import write_tables
from .schema import SCHEMAS, TABLE_NAMES, frame_to_arrow
from .summary import TablesSummary

__all__ = ["Tables"]


class Tables:
    """Every table flattened from a set of Deepgram responses.

    Each table is a pandas DataFrame attribute (``tables.words``,
    ``tables.utterances``, ...) with Arrow-backed dtypes and the columns of
    :data:`dgtools.tables.schema.SCHEMAS`.  Streams fill ``messages`` (every
    message), ``latency`` (one row per final ``Results``: how far the
    transcript trailed the audio sent, when the capture has a ``.timing``
    file) and, for ``/v2/listen`` (Flux), ``turns_v2`` (one row per
    ``TurnInfo`` message).  Build one with :func:`dgtools.to_tables`
    or read one back with :func:`dgtools.read_parquet`.

    Parameters
    ----------
    frames : mapping of str to pandas.DataFrame, optional
        Frames by table name; a table not given is empty (with its full schema).
        The frames are kept as they are: :meth:`to_arrow` and
        :meth:`to_parquet` check them against the schema.
    failures : pandas.DataFrame or iterable of Failure, optional
        The inputs left out (see :attr:`failures`).

    Attributes
    ----------
    failures : pandas.DataFrame
        The inputs :func:`dgtools.to_tables` left out with ``on_error="skip"``:
        one row per input, columns ``file_id``, ``path``, ``key_path`` and
        ``message`` (strings); empty, with these columns, when nothing was
        left out.  It is not one of the dgtools tables: it is not in
        :attr:`names`, not iterated over, and never written to Parquet
        (:func:`dgtools.read_parquet` gives it back empty).

    Raises
    ------
    SchemaError
        If a name is not a dgtools table.

    Examples
    --------
    >>> import dgtools
    >>> t = dgtools.to_tables("data/responses")
    >>> t.words[["file_id", "word", "start", "speaker"]].head(3)
                  file_id       word  start  speaker
    0  clinic_call_stereo       good   0.54     <NA>
    1  clinic_call_stereo  afternoon   0.91     <NA>
    2  clinic_call_stereo     harbor   1.66     <NA>
    >>> t.words.dtypes["speaker"]
    int64[pyarrow]
    >>> list(t)[:3], len(t)
    (['requests', 'channels', 'alternatives'], 17)
    """

    requests: pd.DataFrame
    channels: pd.DataFrame
    alternatives: pd.DataFrame
    words: pd.DataFrame
    utterances: pd.DataFrame
    paragraphs: pd.DataFrame
    sentences: pd.DataFrame
    search_hits: pd.DataFrame
    summaries: pd.DataFrame
    topics: pd.DataFrame
    intents: pd.DataFrame
    sentiments: pd.DataFrame
    entities: pd.DataFrame
    messages: pd.DataFrame
    latency: pd.DataFrame
    turns_v2: pd.DataFrame
    turns: pd.DataFrame

    failures: pd.DataFrame

    names: tuple[str, ...] = TABLE_NAMES

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame] | None = None,
        *,
        failures: pd.DataFrame | Iterable[Failure] | None = None,
    ) -> None:
        frames = dict(frames or {})
        unknown = set(frames) - set(TABLE_NAMES)
        if unknown:
            raise SchemaError(
                f"unknown table(s) {sorted(unknown)}; dgtools tables are: {', '.join(TABLE_NAMES)}"
            )
        for name in TABLE_NAMES:
            df = frames.get(name)
            if df is None:
                df = _to_pandas(SCHEMAS[name].empty_table())
            object.__setattr__(self, name, df)
        if not isinstance(failures, pd.DataFrame):
            failures = failures_frame(failures or ())
        elif list(failures.columns) != list(FAILURE_COLUMNS):
            raise SchemaError(
                f"failures must have the columns {list(FAILURE_COLUMNS)}, not {list(failures.columns)}"
            )
        self.failures = failures

    @classmethod
    def from_arrow(
        cls, tables: Mapping[str, pa.Table], *, failures: pd.DataFrame | Iterable[Failure] | None = None
    ) -> Tables:
        """Build from Arrow tables that follow the dgtools schemas (absent tables are empty).

        Examples
        --------
        >>> from dgtools.tables import Tables, TableBuilder, iter_responses
        >>> builder = TableBuilder()
        >>> for file_id, path, response in iter_responses("data/responses"):
        ...     builder.add(response, file_id, path)
        >>> len(Tables.from_arrow(builder.finish()).words)
        271
        """
        return cls({name: _to_pandas(t) for name, t in tables.items()}, failures=failures)

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in TABLE_NAMES:
            raise KeyError(f"{name!r} is not a dgtools table; tables are: {', '.join(TABLE_NAMES)}")
        df: pd.DataFrame = getattr(self, name)
        return df

    def __iter__(self) -> Iterator[str]:
        return iter(TABLE_NAMES)

    def __len__(self) -> int:
        return len(TABLE_NAMES)

    def items(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """Iterate over ``(name, DataFrame)`` pairs in canonical order."""
        for name in TABLE_NAMES:
            yield name, self[name]

    def to_arrow(self, name: str) -> pa.Table:
        """Return table ``name`` as a ``pyarrow.Table`` with its dgtools schema.

        Raises
        ------
        SchemaError
            If the frame's columns or values do not fit the schema
            (see :func:`~dgtools.tables.schema.frame_to_arrow`).

        Examples
        --------
        >>> import dgtools
        >>> dgtools.to_tables("data/responses").to_arrow("turns").num_rows
        12
        """
        return frame_to_arrow(self[name], name)

    def summary(self) -> TablesSummary:
        """Rows per table, files, audio hours, words (first alternative) and speakers.

        Examples
        --------
        >>> import dgtools
        >>> print(dgtools.to_tables("data/responses").summary())  # doctest: +ELLIPSIS
        6 file(s), 0.038 audio hours, 271 words, 2 speaker(s)
        rows: requests=6, channels=7, ...
        """
        rows = {name: len(self[name]) for name in TABLE_NAMES}
        return TablesSummary.from_frames(self.requests, self.words, rows)

    def to_parquet(self, folder: str | os.PathLike[str], *, compression: str = "zstd") -> Path:
        """Write ``folder/<table>.parquet`` for every table; returns the folder.

        The files carry dgtools metadata (schema version, table name, dgtools
        version) and read back with :func:`dgtools.read_parquet`; DuckDB,
        Polars and Spark read them as they are.  Every table is checked
        before any file is written; the files are written into a new folder
        beside ``folder`` and swapped in at the end, so a failure leaves the
        tables already in ``folder`` whole (see
        :func:`dgtools.tables.parquet.write_tables`).  :attr:`failures` is
        not written.

        Parameters
        ----------
        folder : str or os.PathLike
            Created if absent.  The tables of an earlier ``to_parquet`` or
            :func:`dgtools.write_dataset` there are replaced; other files are
            left alone.
        compression : str, default "zstd"
            Any codec of :func:`pyarrow.parquet.write_table`.

        Raises
        ------
        SchemaError
            A table's columns or values do not fit its schema.
        ConfigError
            ``folder`` is a URL: object storage takes ``dgtools.write_dataset(tables, url)``.

        Examples
        --------
        >>> import tempfile, dgtools
        >>> t = dgtools.to_tables("data/responses")
        >>> out = t.to_parquet(tempfile.mkdtemp())
        >>> dgtools.read_parquet(out).words.equals(t.words)
        True
        """
        from .remote import is_url

        if is_url(folder):
            raise ConfigError(
                f"to_parquet writes a local folder, not {folder}: for object storage use "
                "dgtools.write_dataset(tables, url, storage_options=...)"
            )
        return write_tables(
            {name: self.to_arrow(name) for name in TABLE_NAMES}, folder, compression=compression
        )

    def __repr__(self) -> str:
        s = self.summary()
        rows = ", ".join(f"{k}={v}" for k, v in s.rows.items() if v) or "all empty"
        failed = f"; {len(self.failures)} failed (see .failures)" if len(self.failures) else ""
        return f"<dgtools.Tables: {s.files} file(s), {s.audio_hours:.3f} h, {s.words} words; {rows}{failed}>"

    def _repr_html_(self) -> str:
        try:
            return self.summary()._repr_html_()
        except Exception:  # notebook reprs never raise
            return "<i>dgtools.Tables</i>"


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    df = table.to_pandas(types_mapper=pd.ArrowDtype)
    df.index = pd.RangeIndex(len(df))
    return df
