"""Library messages in the command line's words: ``patterns=('*.wav',)`` becomes ``--pattern '*.wav'``.

dgtools' messages are written for Python callers, who pass ``patterns=``, ``engine='local'``,
``budget=`` and ``api_key=``.  On the command line the same advice names flags and environment
variables instead, so every message the CLI prints goes through :func:`cli_syntax` first: one
place, one table (:data:`FLAGS`), tested on its own and over the CLI's failing runs.

Examples
--------
>>> cli_syntax("leave it out (e.g. patterns=('*.wav', '*.mp3'))")
"leave it out (e.g. --pattern '*.wav' --pattern '*.mp3')"
>>> cli_syntax("Raise budget=, send fewer files; without a key, use engine='local'")
'Raise --budget, send fewer files; without a key, use --engine local'
>>> cli_syntax("Set DEEPGRAM_API_KEY or pass api_key=.")
'Set DEEPGRAM_API_KEY.'
"""

from __future__ import annotations

import ast
import re
import shlex
from typing import Final

from ..options import OPTIONS

__all__ = ["ENVIRONMENT", "FLAGS", "SWITCHES", "cli_syntax"]

#: Python argument (of ``dgtools.transcribe``, ``dgtools.estimate``) -> its flag on the command line.
FLAGS: Final[dict[str, str]] = {
    "patterns": "--pattern",
    "engine": "--engine",
    "budget": "--budget",
    "concurrency": "--concurrency",
    "base_url": "--base-url",
    "region": "--region",
    "timeout": "--timeout",
    "proxy": "--proxy",
    "allow_insecure": "--allow-insecure",
    "store": "--store",
    "max_retries": "--max-retries",
    "temporary_key": "--temporary-key",
    "token_ttl": "--token-ttl",
    # /v1/listen options with a flag of their own (any other goes as --option NAME=VALUE)
    "model": "--model",
    "language": "--language",
    "diarize": "--diarize",
    "utterances": "--utterances",
    "smart_format": "--smart-format",
    "punctuate": "--punctuate",
    "paragraphs": "--paragraphs",
    "multichannel": "--multichannel",
    "search": "--search",
    "keyterm": "--keyterm",
    "tag": "--tag",
}

#: Flags that take no value: ``diarize=True`` (or Deepgram's ``diarize=true``) is ``--diarize``.
SWITCHES: Final = frozenset(
    {
        "allow_insecure",
        "temporary_key",
        "diarize",
        "utterances",
        "smart_format",
        "punctuate",
        "paragraphs",
        "multichannel",
    }
)

#: Credentials are never flags (a flag shows in ``ps``): they come from the environment.
ENVIRONMENT: Final[dict[str, str]] = {"api_key": "DEEPGRAM_API_KEY", "access_token": "DEEPGRAM_TOKEN"}

_CREDENTIAL = r"(?:api_key|access_token)="
#: Whole phrases first, where a word-for-word translation would read wrong.
_PHRASES: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"retry=RetryPolicy\(max_retries=\.\.\.\)", "--max-retries N"),
        (r",? or raise it with retry=RetryPolicy\(max_retry_after=\.\.\.\)", ""),
        (r"more than max_retry_after=(\S+) s", r"more than the \1 s dgtools waits at most"),
        (
            r"DeepgramClient\(max_response_bytes=\.\.\.\)",
            "the Python API (a DeepgramClient with a larger max_response_bytes)",
        ),
        (r"max_response_bytes=", "the limit of "),
        (rf",? or pass {_CREDENTIAL}(?: / {_CREDENTIAL})?", ""),  # "Set DEEPGRAM_API_KEY or pass api_key="
        (rf"pass it as {_CREDENTIAL} or (DEEPGRAM_\w+)", r"set it as \1"),
        (rf" \(or {_CREDENTIAL}\)", ""),
        (r" \(recursive=False\)|,? or recursive=True| with recursive=True", ""),  # the CLI always recurses
        (r"pass timeout=SECONDS \(dgtools transcribe --timeout SECONDS\)", "pass --timeout SECONDS"),
        (r", or None \(automatic\)", ", or left out (automatic)"),
        (r"(?<![\w.])base_url (?=')", "--base-url "),  # "base_url 'http://x' is plain http ..."
    )
)

#: ``name=`` and its value, if any: a tuple or list literal, a quoted string, or a bare word (never
#: ending in a full stop).  ``name`` starts a word that is not part of a URL, a path or a dotted name.
_ASSIGNMENT: Final = re.compile(
    r"(?<![\w?&/.\-'\"])(?<!--option )(?P<name>[a-z_][a-z0-9_]*)="
    r"(?P<value>\([^()]*\)|\[[^\[\]]*\]|'[^']*'|\"[^\"]*\"|[^\s,;()\[\]]*[^\s,;()\[\].])?"
)
_EXAMPLE_PATTERNS: Final = re.compile(r"patterns= \(e\.g\. (\([^()]*\))\)")


def cli_syntax(message: str) -> str:
    """``message`` with Python arguments written as the command line's flags and environment variables.

    ``name=value`` becomes ``--flag value`` for the names of :data:`FLAGS` (a tuple or list, one
    flag per item; ``True`` of a switch, the flag alone), the variable of :data:`ENVIRONMENT` for a
    credential, and ``--option name=value`` for any other ``/v1/listen`` option.  Other text is
    left as it is.

    Examples
    --------
    >>> cli_syntax("estimated cost $9 is above budget=5.0; nothing was sent")
    'estimated cost $9 is above --budget 5.0; nothing was sent'
    >>> cli_syntax("check model= (and language=) or use diarize=true with multichannel=true")
    'check --model (and --language) or use --diarize with --multichannel'
    >>> cli_syntax("needs 'sample_rate' too (e.g. sample_rate=16000)")
    "needs 'sample_rate' too (e.g. --option sample_rate=16000)"
    >>> cli_syntax("gave up (max_retries=2): allow more with retry=RetryPolicy(max_retries=...)")
    'gave up (--max-retries 2): allow more with --max-retries N'
    """
    text = message
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    text = _EXAMPLE_PATTERNS.sub(lambda m: f"--pattern (e.g. {_flag('patterns', m.group(1))})", text)
    return _ASSIGNMENT.sub(_translate, text)


def _translate(match: re.Match[str]) -> str:
    name, value = match.group("name"), match.group("value")
    if name in ENVIRONMENT:
        return ENVIRONMENT[name]
    if name in FLAGS:
        return _flag(name, value)
    if name in OPTIONS:
        return f"--option {name}={_unquoted(value) if value else 'VALUE'}"
    return match.group(0)


def _flag(name: str, value: str | None) -> str:
    flag = FLAGS[name]
    if not value:
        return flag
    if name in SWITCHES and value.lower() == "true":
        return flag
    if value[0] in "([":
        try:
            items = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return f"{flag} {value}"
        if isinstance(items, (tuple, list)):
            return " ".join(f"{flag} {shlex.quote(str(item))}" for item in items)
    return f"{flag} {shlex.quote(_unquoted(value))}" if value[0] in "'\"" else f"{flag} {value}"


def _unquoted(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" else value
