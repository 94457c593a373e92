"""The ``dgtools`` command line: a thin shell over the library.

Each command parses its arguments, calls one library function and prints what
it did.  Every :class:`~dgtools.DGToolsError` (and an ``OSError`` such as an
unwritable output folder) becomes a one-line ``dgtools: error: ...`` on stderr
and exit status 1, with no traceback; a usage error exits with status 2, as
argparse does.

Commands::

    dgtools tables SOURCE... [--out DIR] [--dataset]    responses -> Parquet tables
    dgtools --version

A new command is a ``_add_<name>(subparsers)`` function that registers its
parser with ``set_defaults(run=...)``, listed in ``_COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .exceptions import ConfigError, DGToolsError

__all__ = ["build_parser", "main"]

_PROG = "dgtools"
_DEFAULT_OUT = "dgtools-out"

# Loose alias: argparse's _SubParsersAction is private and generic.
_Subparsers = Any


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dgtools`` command line and return its exit status.

    Parameters
    ----------
    argv
        The arguments after the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        0 on success, 1 when dgtools reported an error, 2 on a usage error.

    Examples
    --------
    >>> from dgtools.cli import main
    >>> main(["tables", "data/responses", "--out", "out"])   # doctest: +SKIP
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return _exit_code(exc)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except DGToolsError as exc:
        return _error(str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _error(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dgtools``, with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=(
            "Deepgram speech-to-text results as typed tables: flatten saved Deepgram responses "
            "into pandas/Parquet tables (words, utterances, turns, paragraphs, search hits, "
            "summaries, topics, intents, sentiments, entities, streaming messages)."
        ),
        epilog=f"Run '{_PROG} COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"{_PROG} {__version__}")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    for add in _COMMANDS:
        add(sub)
    return parser


# --------------------------------------------------------------------------- dgtools tables


def _add_tables(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "tables",
        help="build tables from saved Deepgram responses and write them as Parquet",
        description=(
            "Flatten Deepgram responses (pre-recorded or /v1/read .json files, streaming captures "
            "as .jsonl, or folders of them, searched recursively) into the dgtools tables and write "
            "one Parquet file per table, then print a summary. Each response's file_id is its path "
            "relative to the folder given, without the suffix (a file given directly: its stem)."
        ),
        epilog=(
            "Read the output back with dgtools.read_parquet(DIR), or query it directly, e.g. "
            "duckdb -c \"select speaker, count(*) from 'DIR/words.parquet' group by 1\"."
        ),
    )
    p.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="a response file (.json, .jsonl) or a folder of them"
    )
    p.add_argument(
        "-o",
        "--out",
        default=_DEFAULT_OUT,
        metavar="DIR",
        help=f"folder to write the Parquet files to (created if needed; default: {_DEFAULT_OUT})",
    )
    p.add_argument(
        "--dataset",
        action="store_true",
        help=(
            "write a partitioned dataset, DIR/<table>/part-NNNNN.parquet, built in bounded-memory "
            "batches (dgtools.write_dataset) instead of DIR/<table>.parquet"
        ),
    )
    p.set_defaults(run=_run_tables)


def _run_tables(args: argparse.Namespace) -> int:
    import dgtools

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder to write the Parquet files to")
    if args.dataset:
        from .parquet import dataset_summary

        dgtools.write_dataset(list(args.sources), out)
        summary = dataset_summary(out)  # footers and a few columns: memory stays bounded
        where = f"{out / '<table>'}/part-*.parquet"
    else:
        tables = dgtools.to_tables(list(args.sources))
        tables.to_parquet(out)
        summary = tables.summary()
        where = str(out / "<table>.parquet")
    print(summary)
    print(f"wrote {where} for {len(summary.rows)} tables: {', '.join(summary.rows)}")
    if summary.files == 0:
        _warn(f"no Deepgram responses (.json, .jsonl, .ndjson files) found in {' '.join(args.sources)}")
    return 0


# --------------------------------------------------------------------------- helpers

_COMMANDS: tuple[Callable[[_Subparsers], None], ...] = (_add_tables,)


def _error(message: str) -> int:
    one_line = " ".join(message.split())
    print(f"{_PROG}: error: {one_line}", file=sys.stderr)
    return 1


def _warn(message: str) -> None:
    print(f"{_PROG}: warning: {message}", file=sys.stderr)


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
