"""The ``dgtools`` command line: a thin shell over the library.

Each command parses its arguments, calls one library function and prints what it did, in the
command line's words (:mod:`dgtools.cli.syntax`: ``--pattern '*.wav'``, never ``patterns=(...)``).

Exit status, one rule for every command:

- 0: done;
- 1: dgtools reported an error, as one line ``dgtools: error: ...`` on stderr with no traceback
  (every :class:`~dgtools.DGToolsError`, including an option value the library rejects such as an
  unknown ``--model``, and an ``OSError`` such as an unwritable output folder), or some inputs
  failed (the command names them);
- 2: the command line could not be parsed (an unknown command or flag, with a did-you-mean; a
  missing argument; a value of the wrong type or not among the choices), as argparse does;
- 130: interrupted (Ctrl-C, SIGTERM).

Warnings (:class:`~dgtools.DGToolsWarning`) are one line each, ``dgtools: warning: ...``.

Commands::

    dgtools transcribe PATH... [--out DIR] [--store DIR] [options]   audio -> store -> Parquet
    dgtools tables SOURCE... [--out DIR] [--dataset]                 responses -> Parquet tables
    dgtools export TABLES --format FORMAT --out DIR                  tables -> RTTM, STM, NeMo, captions...
    dgtools estimate PATH... [--store DIR] [options]                 the cost, nothing sent
    dgtools speak TEXT --out FILE | --from CSV --column C --out DIR  texts -> audio files (Aura voices)
    dgtools keys list|create|delete | dgtools usage [--start --end]   Deepgram's Manage API
    dgtools receive [--store DIR] [--port N]                         callback deliveries -> store
    dgtools doctor | dgtools serve | dgtools --version

A new command is an ``add_<name>(subparsers)`` function that registers its parser with
``set_defaults(run=...)``, listed in ``_COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from .._version import __version__
from ..exceptions import DGToolsError, DGToolsWarning
from .commands import add_doctor, add_estimate, add_serve, add_tables
from .export import add_export
from .manage import add_keys, add_usage
from .output import PROG, error, warn
from .parser import Parser
from .receive import add_receive
from .speak import add_speak
from .stream import add_stream
from .transcribe import add_transcribe

__all__ = ["build_parser", "main"]

_COMMANDS: tuple[Callable[[Any], None], ...] = (
    add_transcribe,
    add_tables,
    add_export,
    add_estimate,
    add_doctor,
    add_serve,
    add_stream,
    add_speak,
    add_keys,
    add_usage,
    add_receive,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dgtools`` command line and return its exit status.

    Parameters
    ----------
    argv
        The arguments after the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        0 on success, 1 when dgtools reported an error or inputs failed, 2 on a usage error,
        130 when interrupted.

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
        with _warnings_as_lines():
            return run(args)
    except DGToolsError as exc:
        return error(str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return error(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dgtools``, with one subparser per command."""
    parser = Parser(
        prog=PROG,
        description=(
            "Deepgram speech-to-text results as typed tables: transcribe folders of audio (with Deepgram "
            "or an embedded offline engine) and flatten the responses into pandas/Parquet tables (words, "
            "utterances, turns, paragraphs, search hits, summaries, topics, intents, sentiments, "
            "entities, streaming messages)."
        ),
        epilog=(
            f"Run '{PROG} COMMAND --help' for the options of a command. Exit status: 0 done; 1 dgtools "
            "reported an error (one line) or some inputs failed; 2 the command line could not be parsed; "
            "130 interrupted."
        ),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    for add in _COMMANDS:
        add(sub)
    return parser


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show each :class:`~dgtools.DGToolsWarning` as one ``dgtools: warning:`` line, in the CLI's words."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, DGToolsWarning):
                warn(str(message))
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        warnings.simplefilter("always", DGToolsWarning)  # every one is news on the command line
        yield


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
