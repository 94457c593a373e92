"""Write the golden Parquet files of table schema version 1 into ``v1/`` beside this script.

Run once, from the repository root, by the dgtools whose ``SCHEMA_VERSION`` is 1::

    python tests/data/parquet/make_v1.py

It flattens ``data/responses`` with :func:`dgtools.to_tables` and writes one file per table
with :meth:`dgtools.Tables.to_parquet`.  ``tests/test_parquet.py`` checks that
:func:`dgtools.read_parquet` still reads these files and gives exactly the tables
``to_tables("data/responses")`` gives.  The files are the record of what schema version 1
wrote: never regenerate them with a later schema version (the script refuses); a new
version gets its own folder (``v2/``) and its own script.  See ``README.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import dgtools

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
VERSION = 1
OUT = HERE / f"v{VERSION}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--force", action="store_true", help="overwrite existing v1 files (same schema version only)"
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
    tables = dgtools.to_tables(REPO / "data" / "responses")
    tables.to_parquet(OUT)
    print(f"wrote {OUT.relative_to(REPO)}/<table>.parquet, dgtools {dgtools.__version__}:")
    print(tables.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
