"""What the command line prints besides results: one-line errors and warnings, in its own words.

Every message from the library goes through :func:`~dgtools.cli.syntax.cli_syntax` here, so the
command line never prints Python syntax (``patterns=(...)``, ``api_key=``).
"""

from __future__ import annotations

import sys

from .syntax import cli_syntax

__all__ = ["PROG", "cli_text", "error", "one_line", "warn"]

PROG = "dgtools"


def one_line(message: str) -> str:
    """``message`` on one line, in the command line's words."""
    return " ".join(cli_syntax(message).split())


def cli_text(text: str) -> str:
    """Library text of several lines (a plan) in the command line's words, line by line."""
    return "\n".join(one_line(line) for line in text.splitlines())


def error(message: str) -> int:
    """Print ``dgtools: error: MESSAGE`` on stderr (one line); return the exit status 1."""
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)
    return 1


def warn(message: str) -> None:
    """Print ``dgtools: warning: MESSAGE`` on stderr (one line)."""
    print(f"{PROG}: warning: {one_line(message)}", file=sys.stderr)
