"""Parquet datasets in object storage: ``write_dataset(..., "s3://bucket/tables")`` and ``read_parquet`` of it.

The layout is that of a local dataset (``<table>/[key=value/]part-NNNNN.parquet``, the same files
and metadata) under a URL that fsspec opens (``s3://``, ``gs://``, ``abfs://``, ``memory://``), so
DuckDB, Polars, pyarrow, Dask and Spark read it where it is.  Each part file is one PUT.

Object storage has no rename, so a dataset there cannot be swapped in whole as a local one is.
What dgtools does instead:

- **A fresh prefix only.** Writing refuses a URL that already holds dgtools tables (or a
  ``_SUCCESS`` marker): old and new parts would mix.  Write each build to a new prefix (a date or
  a run id in it) or delete the old one first.
- **``_SUCCESS`` last.** The marker (Hadoop's and Spark's convention, an empty object) is written
  after every part; :func:`read_remote_tables` refuses a dataset without it, so a half-written
  one is never read as if it were whole.  Other readers should check it too.
- **A failed build removes its parts** (best effort: a process that is killed leaves them, without
  ``_SUCCESS``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..exceptions import ConfigError, MissingDependencyError, SchemaError
from .partition import selector, split
from .schema import TABLE_NAMES

if TYPE_CHECKING:
    from .summary import TablesSummary

__all__ = ["SUCCESS", "RemoteDataset", "is_url"]

#: The object written last, when every part is: a dataset without it is unfinished.
SUCCESS = "_SUCCESS"
_PACKAGES = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", None), "gcs": ("gcsfs", None)}


def is_url(location: object) -> bool:
    """Whether ``location`` is a URL with a scheme (``s3://...``), not a local path (``file://`` is local).

    Examples
    --------
    >>> is_url("s3://bucket/tables"), is_url("tables"), is_url("file:///tmp/x")
    (True, False, False)
    """
    if not isinstance(location, str) or "://" not in location:
        return False
    scheme = location.split("://", 1)[0]
    return scheme.isidentifier() and scheme != "file"


class RemoteDataset:
    """A dataset's root in object storage; pickles as its URL and options, so Dask tasks can write to it.

    Parameters
    ----------
    url : str
        The root, e.g. ``s3://bucket/tables/2026-12-06``.
    storage_options : mapping, optional
        Passed to the fsspec filesystem (credentials, ``client_kwargs={"endpoint_url": ...}``).

    Examples
    --------
    >>> import dgtools
    >>> out = RemoteDataset("memory://doc-example/tables")
    >>> out.begin()
    >>> tables = dgtools.to_tables("data/responses")
    >>> out.write_part({name: tables.to_arrow(name) for name in tables.names}, 0)
    >>> out.finish()
    >>> len(out.read()["words"])
    271
    """

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self._fs: Any = None
        self._root = ""

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "storage_options": self.storage_options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["storage_options"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"<dgtools RemoteDataset {self.url}>"  # never the options: they may hold credentials

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (opened on first use, in each process)."""
        if self._fs is None:
            protocol = self.url.split("://", 1)[0]
            try:
                import fsspec.core

                fs, root = fsspec.core.url_to_fs(self.url, use_listings_cache=False, **self.storage_options)
            except ImportError as exc:
                package, extra = _PACKAGES.get(protocol, (protocol + "fs", None))
                raise MissingDependencyError(
                    f"a dataset at {self.url}", package=package, extra=extra
                ) from exc
            except ValueError as exc:  # an unknown protocol
                raise ConfigError(f"cannot open {self.url}: {exc}") from None
            self._fs, self._root = fs, str(root).rstrip("/")
        return self._fs

    def _path(self, *parts: str) -> str:
        self.fs  # noqa: B018  (sets _root)
        return posixpath.join(self._root, *parts)

    # ------------------------------------------------------------------ writing

    def begin(self) -> None:
        """Check that the prefix holds no dgtools tables; raise :class:`ConfigError` if it does."""
        fs = self.fs
        held = [
            name
            for name in (*TABLE_NAMES, *(f"{t}.parquet" for t in TABLE_NAMES), SUCCESS)
            if fs.exists(self._path(name))
        ]
        if held:
            raise ConfigError(
                f"{self.url} already holds dgtools tables ({', '.join(held[:3])}); object storage cannot "
                "swap a dataset in whole, so write to a new prefix (e.g. with the date in it) or delete this one"
            )

    def write_part(
        self,
        tables: Mapping[str, pa.Table],
        part: int,
        *,
        compression: str = "zstd",
        partition_on: Sequence[str] = (),
        tags: Mapping[str, dict[bytes, bytes]] | None = None,
    ) -> None:
        """Write part ``part`` of every table (each an object, one PUT), split by ``partition_on``."""
        from .parquet import _checked, _pq, _tags

        checked = _checked(tables)
        tags = tags or _tags()
        pieces = list(split(checked, partition_on)) or [("", checked)]
        for path, piece in pieces:
            for name, table in piece.items():
                sink = pa.BufferOutputStream()
                _pq().write_table(table.replace_schema_metadata(tags[name]), sink, compression=compression)
                where = (
                    self._path(name, path, f"part-{part:05d}.parquet")
                    if path
                    else self._path(name, f"part-{part:05d}.parquet")
                )
                self.fs.pipe_file(where, sink.getvalue().to_pybytes())

    def finish(self) -> None:
        """Write ``_SUCCESS``: the dataset is whole."""
        self.fs.pipe_file(self._path(SUCCESS), b"")

    def discard(self) -> None:
        """Remove every table's parts (after a failed build; never ``_SUCCESS``, which is not there)."""
        for name in TABLE_NAMES:
            try:
                if self.fs.exists(self._path(name)):
                    self.fs.rm(self._path(name), recursive=True)
            except OSError:  # pragma: no cover - the error that failed the build is the one raised
                pass

    def write_all(
        self,
        batches: Iterable[Mapping[str, pa.Table]],
        *,
        compression: str = "zstd",
        partition_on: Sequence[str] = (),
    ) -> None:
        """:meth:`begin`, one part per batch, :meth:`finish`; on any failure :meth:`discard`."""
        from .parquet import _tags

        self.begin()
        tags = _tags()
        try:
            wrote = False
            for part, batch in enumerate(batches):
                self.write_part(batch, part, compression=compression, partition_on=partition_on, tags=tags)
                wrote = True
            if not wrote:
                from .schema import SCHEMAS

                empty = {name: SCHEMAS[name].empty_table() for name in TABLE_NAMES}
                self.write_part(empty, 0, compression=compression, tags=tags)
            self.finish()
        except BaseException:
            self.discard()
            raise

    # ------------------------------------------------------------------ reading

    def read(
        self, tables: str | Sequence[str] | None = None, partitions: Mapping[str, Any] | None = None
    ) -> dict[str, pa.Table]:
        """Every table's parts (checked as local files are), in the order of a local dataset.

        ``partitions`` selects Hive partitions, as for :func:`dgtools.read_parquet`.

        Raises
        ------
        SchemaError
            No ``_SUCCESS`` (an unfinished or foreign dataset), or a file fails the checks.
        """
        from .parquet import _read_checked
        from .schema import schema_for

        fs = self.fs
        self._check_finished()
        wanted = list(TABLE_NAMES if tables is None else [tables] if isinstance(tables, str) else tables)
        for name in wanted:
            schema_for(name)  # an unknown name raises
        found: dict[str, pa.Table] = {}
        for name in wanted:
            parts = []
            pick = selector(partitions, where="read_parquet(partitions=)")
            base = self._path(name)
            for f in self._files(name):
                if pick is not None and not pick(posixpath.relpath(f, base).split("/")[:-1]):
                    continue
                data = fs.cat_file(f)
                parts.append(_read_checked(pa.BufferReader(data), name, label=self._label(f)))
            if parts:
                found[name] = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        return found

    def summary(self) -> TablesSummary:
        """:func:`dgtools.tables.dataset_summary` of this dataset, read where it is.

        Reads each part's footer (its row count, and the checks :meth:`read` makes) and four
        columns of ``words`` (file_id, channel, alternative, speaker) plus two of ``requests``
        (file_id, duration), fetching only those byte ranges: cheap on a dataset far larger
        than memory.  Equal to the summary of the same dataset written to a local folder.

        Returns
        -------
        TablesSummary

        Raises
        ------
        SchemaError
            No ``_SUCCESS`` (an unfinished or foreign dataset), or a file fails the checks.

        Examples
        --------
        >>> import dgtools
        >>> from dgtools.tables import dataset_summary
        >>> out = RemoteDataset("memory://summary-example/tables")
        >>> _ = dgtools.write_dataset("data/responses", out.url, partition_on="kind")
        >>> print(out.summary())  # doctest: +ELLIPSIS
        6 file(s), 0.038 audio hours, 271 words, 2 speaker(s)
        rows: requests=6, channels=7, ...
        >>> import tempfile
        >>> local = dgtools.write_dataset("data/responses", tempfile.mkdtemp(), partition_on="kind")
        >>> out.summary() == dataset_summary(local)
        True
        """
        import pandas as pd

        from .parquet import _check_file, _pq
        from .schema import SCHEMAS
        from .summary import TablesSummary

        self._check_finished()
        files = {name: self._files(name) for name in TABLE_NAMES}
        rows: dict[str, int] = {}
        for name in TABLE_NAMES:
            rows[name] = 0
            for f in files[name]:
                with self.fs.open(f, "rb") as fh:
                    _check_file(fh, name, label=self._label(f))
                    rows[name] += _pq().ParquetFile(fh).metadata.num_rows

        def cols(name: str, columns: list[str]) -> pd.DataFrame:
            if not files[name]:
                return SCHEMAS[name].empty_table().select(columns).to_pandas(types_mapper=pd.ArrowDtype)
            parts = []
            for f in files[name]:
                with self.fs.open(f, "rb") as fh:
                    parts.append(_pq().read_table(fh, columns=columns))
            return pa.concat_tables(parts).to_pandas(types_mapper=pd.ArrowDtype)

        return TablesSummary.from_frames(
            cols("requests", ["file_id", "duration"]),
            cols("words", ["file_id", "channel", "alternative", "speaker"]),
            rows,
        )

    def _check_finished(self) -> None:
        """Raise :class:`SchemaError` unless ``_SUCCESS`` is there."""
        if not self.fs.exists(self._path(SUCCESS)):
            raise SchemaError(
                f"{self.url}: no finished dgtools dataset here (no {SUCCESS} marker: its writer failed, was "
                "killed or is still running); write it again with dgtools.write_dataset or dgtools.dask.write_dataset"
            )

    def _files(self, name: str) -> list[str]:
        """The part files of table ``name`` (in its ``key=value`` folders too), in the order of a local dataset."""
        fs, base = self.fs, self._path(name)
        files = [
            f
            for f in (fs.find(base) if fs.exists(base) else [])
            if f.endswith(".parquet") and _in_partitions(posixpath.relpath(f, base))
        ]
        return sorted(files, key=lambda f: (posixpath.basename(f), posixpath.relpath(f, base)))

    def _label(self, path: str) -> str:
        """The URL errors name a file by."""
        return f"{self.url}/{posixpath.relpath(path, self._root)}"


def _in_partitions(relative: str) -> bool:
    """``part.parquet`` or ``k=v/.../part.parquet``: not hidden, not in another folder."""
    *folders, file = relative.split("/")
    return not file.startswith((".", "_")) and all("=" in d and not d.startswith((".", "_")) for d in folders)
