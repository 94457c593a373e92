"""Write the golden Parquet files of table schema version 2 into ``v2/`` beside this script.

Run once, from the repository root, by the dgtools whose ``SCHEMA_VERSION`` is 2::

    python tests/data/parquet/make_v2.py

It flattens ``data/responses`` and the two stream captures of ``tests/data/streams`` (with their
``.timing`` files: a reconnected ``/v1/listen`` stream and a Flux ``/v2/listen`` stream, so that
the stream timing columns, ``latency`` and ``turns_v2`` hold values) with
:func:`dgtools.to_tables` and writes one file per table with :meth:`dgtools.Tables.to_parquet`.
``tests/test_parquet.py`` checks that :func:`dgtools.read_parquet` still reads these files and
gives exactly the tables ``to_tables`` gives for the same sources.  The files are the record of
what schema version 2 wrote: never regenerate them with a later schema version (the script
refuses); a new version gets its own folder (``v3/``) and its own script.  See ``README.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import dgtools

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
VERSION = 2
#: What the files are made of, in this order.
SOURCES = [REPO / "data" / "responses", REPO / "tests" / "data" / "streams"]
OUT = HERE / f"v{VERSION}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--force", action="store_true", help="overwrite existing v2 files (same schema version only)"
    )
    args = ap.parse_args(argv)
    if dgtools.SCHEMA_VERSION != VERSION:
        print(
            f"this dgtools writes table schema version {dgtools.SCHEMA_VERSION}, not {VERSION}: the v{VERSION} "
            "golden files must not be regenerated; write a new folder with a new script instead",
            file=sys.stderr,
        )
        return 1
    if OUT.is_dir() and any(OUT.glob("*.parquet")) and not args.force:
        print(
            f"{OUT} already holds golden files; they are never regenerated (--force to override)",
            file=sys.stderr,
        )
        return 1
    tables = dgtools.to_tables(SOURCES)
    tables.to_parquet(OUT)
    print(f"wrote {OUT.relative_to(REPO)}/<table>.parquet, dgtools {dgtools.__version__}:")
    print(tables.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
