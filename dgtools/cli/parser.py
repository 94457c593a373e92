"""The argument parser of every command, and the argument groups commands share.

:class:`Parser` is argparse's, with a suggestion for every mistyped flag, command or choice
(``--diarise``: "did you mean --diarize?"), on every subcommand: argparse's own
``suggest_on_error`` exists only from Python 3.14.  A usage error prints the command's usage and
exits with status 2, as argparse does.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence
from typing import Any, NoReturn

from ..exceptions import ConfigError
from ..options import OPTIONS

__all__ = [
    "DEFAULT_OUT",
    "DEFAULT_STORE",
    "Parser",
    "add_endpoint_args",
    "add_network_args",
    "add_option_args",
    "options_from",
]

DEFAULT_OUT = "dgtools-out"
DEFAULT_STORE = "dgtools-store"

_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` that suggests the closest flag, command or choice."""

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """Parse ``args``; an unknown flag is a usage error of the command it was given to, with a suggestion."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = self.command(getattr(parsed, "command", None)) or self
            parser.error(parser.unrecognized(extras))
        return parsed

    def command(self, name: str | None) -> Parser | None:
        """The parser of subcommand ``name``, if this parser has one."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and name in action.choices:
                found = action.choices[name]
                return found if isinstance(found, Parser) else None
        return None

    def unrecognized(self, extras: Sequence[str]) -> str:
        """argparse's message for ``extras``, each unknown flag with what was probably meant."""
        flags = sorted({s for a in self._actions for s in a.option_strings if s.startswith("--")})
        words = []
        for extra in extras:
            hint = ""
            if extra.startswith("--"):
                name = extra.split("=", 1)[0]
                option = name[2:].replace("-", "_")
                close = difflib.get_close_matches(name.lower(), flags, n=1, cutoff=0.7)
                if "--option" in flags and option in OPTIONS and f"--{option.replace('_', '-')}" not in flags:
                    hint = f" (a Deepgram option without a flag of its own: --option {option}=VALUE)"
                elif close:
                    hint = f" (did you mean {close[0]}?)"
            words.append(extra + hint)
        return "unrecognized arguments: " + " ".join(words)

    def error(self, message: str) -> NoReturn:
        """Print the usage and ``message`` (with a did-you-mean for an invalid choice); exit with status 2."""
        found = _CHOICE.search(message)
        if found:
            choices = re.findall(r"'([^']*)'", found.group(2))
            close = difflib.get_close_matches(found.group(1), choices, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean '{close[0]}'?"
        super().error(message)


# --------------------------------------------------------------------------- shared argument groups


def add_option_args(p: argparse.ArgumentParser) -> None:
    """The ``/v1/listen`` options (``--model``, ``--diarize``, ... and ``--option NAME=VALUE``)."""
    g = p.add_argument_group("Deepgram options (any /v1/listen option also with --option NAME=VALUE)")
    g.add_argument("--model", help="model, e.g. nova-3 (default: Deepgram's default)")
    g.add_argument("--language", help="language code, e.g. en, es, multi")
    g.add_argument("--diarize", action="store_true", default=None, help="label speakers")
    g.add_argument("--utterances", action="store_true", default=None, help="split into utterances")
    g.add_argument(
        "--smart-format", action="store_true", default=None, help="smart formatting (implies paragraphs)"
    )
    g.add_argument("--punctuate", action="store_true", default=None, help="punctuation and capitalisation")
    g.add_argument("--paragraphs", action="store_true", default=None, help="paragraphs and sentences")
    g.add_argument(
        "--multichannel", action="store_true", default=None, help="transcribe each channel on its own"
    )
    g.add_argument("--search", action="append", metavar="TERM", help="search for TERM (repeatable)")
    g.add_argument("--keyterm", action="append", metavar="TERM", help="boost TERM (nova-3; repeatable)")
    g.add_argument("--tag", action="append", metavar="TAG", help="tag the requests (repeatable)")
    g.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other option, e.g. --option summarize=v2 --option redact=pci (repeatable)",
    )


def options_from(args: argparse.Namespace) -> dict[str, Any]:
    """The ``/v1/listen`` options of parsed arguments, as keyword arguments."""
    opts: dict[str, Any] = {}
    for name in ("model", "language", "diarize", "utterances", "smart_format", "punctuate", "paragraphs",
                 "multichannel", "search", "keyterm", "tag"):  # fmt: skip
        value = getattr(args, name, None)
        if value is not None:
            opts[name] = value
    for item in args.option:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise ConfigError(f"--option {item!r} must look like NAME=VALUE, e.g. --option summarize=v2")
        name = name.replace("-", "_")
        if name in opts:
            prev = opts[name]
            opts[name] = [*(prev if isinstance(prev, list) else [prev]), value]
        else:
            opts[name] = value
    return opts


def add_whisper_model_arg(p: argparse.ArgumentParser) -> None:
    """``--whisper-model NAME|DIR`` (for ``--engine whisper``)."""
    p.add_argument(
        "--whisper-model",
        metavar="NAME|DIR",
        help="with --engine whisper: base or tiny.en (the packaged weights), or a CTranslate2 model "
        "directory (default: DGTOOLS_WHISPER_MODEL, else the best packaged model installed)",
    )


def add_endpoint_args(p: argparse.ArgumentParser) -> None:
    """``--region`` and ``--base-url``."""
    g = p.add_argument_group("endpoint")
    g.add_argument("--region", choices=["eu", "au", "in"], help="a Deepgram regional endpoint")
    g.add_argument(
        "--base-url",
        metavar="URL",
        help="a dedicated or self-hosted endpoint, or 'dgtools serve' (naming a server means the Deepgram "
        "engine: --engine auto never picks the offline one then)",
    )


def add_network_args(p: argparse.ArgumentParser) -> None:
    """``--timeout``, ``--max-retries``, ``--proxy``, ``--allow-insecure``."""
    g = p.add_argument_group("network")
    g.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="longest one request may take in all, upload and answer (default: scaled to each file's "
        "size and duration)",
    )
    g.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help="retries per file for 408, 429, 5xx and network errors (default: 6)",
    )
    g.add_argument(
        "--proxy",
        metavar="URL",
        help="an http(s) proxy for every request (default: HTTPS_PROXY, HTTP_PROXY, NO_PROXY from the "
        "environment)",
    )
    g.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow a plain http:// --base-url on another machine (the key then travels in clear)",
    )
