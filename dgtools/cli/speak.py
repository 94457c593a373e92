"""``dgtools speak``: texts to audio files with Deepgram's Aura voices (or the local espeak-ng voice).

Two forms::

    dgtools speak "Hello there." --out hello.mp3
    dgtools speak --from texts.csv --column text [--id-column id] --out DIR

and, with ``--stream``, the WebSocket ``/v1/speak`` (:mod:`dgtools.cli.speak_stream`)::

    llm "..." | dgtools speak - --stream --out reply.wav

What it prints, in order: the plan before anything is sent (engine and why, texts, requests,
characters, cost), a question in a terminal above ``--confirm-above`` dollars (``--yes`` skips
it), progress while it sends, then a summary (what was spoken, stored, sent and spent, where the
files went) and each failed text or chunk with the reason and the fix, in the command line's
words.  Exit status 1 when a text has no file.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from ..exceptions import ConfigError, DGToolsError
from .output import PROG, cli_text, error, local_only, one_line, warn
from .parser import DEFAULT_STORE, add_endpoint_args, add_network_args
from .speak_stream import add_stream_args
from .transcribe import CONFIRM_ABOVE, _ask, _until_stopped, confirm_above, positive_seconds

if TYPE_CHECKING:
    import pandas as pd

    from ..speech import SpeechPlan, SpeechRun

__all__ = ["SPEAK_FLAGS", "add_speak", "speak_syntax"]

DEFAULT_SPEECH_OUT = "dgtools-speech"
#: The id of the one text of ``dgtools speak TEXT`` written to a folder.
_ONE_TEXT_ID = "speech"
#: Audio file suffixes ``--out FILE`` may end in, and the encoding (and container) each asks for.
_SUFFIXES: Final[dict[str, dict[str, str]]] = {
    ".mp3": {"encoding": "mp3"},
    ".wav": {"encoding": "linear16", "container": "wav"},
    ".pcm": {"encoding": "linear16", "container": "none"},
    ".raw": {"encoding": "linear16", "container": "none"},
    ".ulaw": {"encoding": "mulaw", "container": "none"},
    ".alaw": {"encoding": "alaw", "container": "none"},
    ".flac": {"encoding": "flac"},
    ".opus": {"encoding": "opus"},
    ".ogg": {"encoding": "opus"},
    ".aac": {"encoding": "aac"},
}
#: Python arguments of :func:`dgtools.speak` -> their flags (those :mod:`dgtools.cli.syntax` does not know).
SPEAK_FLAGS: Final[dict[str, str]] = {
    "encoding": "--encoding",
    "container": "--container",
    "sample_rate": "--sample-rate",
    "bit_rate": "--bit-rate",
    "speed": "--speed",
    "out": "--out",
    "ids": "--id-column",
}
_ASSIGNMENT: Final = re.compile(
    r"(?<![\w?&/.\-'\"])(?P<name>" + "|".join(SPEAK_FLAGS) + r")="
    r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s,;()\[\]]*[^\s,;()\[\].:])?"
)
_SHOWN = ("status", "err_code", "message", "advice")
_NAMES_SHOWN = 5


def speak_syntax(message: str) -> str:
    """``message`` with the arguments of :func:`dgtools.speak` written as ``dgtools speak``'s flags.

    What is left (``model=``, ``budget=``, ``api_key=`` ...) :func:`~dgtools.cli.syntax.cli_syntax`
    translates when the message is printed.

    Examples
    --------
    >>> speak_syntax("sample_rate=24000: encoding=mp3 takes only 22050 (fixed)")
    '--sample-rate 24000: --encoding mp3 takes only 22050 (fixed)'
    >>> speak_syntax("use encoding='linear16' (WAV) or 'mp3'; speed=2.0: Deepgram takes 0.7 to 1.5")
    "use --encoding linear16 (WAV) or 'mp3'; --speed 2.0: Deepgram takes 0.7 to 1.5"
    """

    def flag(m: re.Match[str]) -> str:
        value = m.group("value")
        if value and value[0] in "'\"":
            value = value[1:-1]
        return SPEAK_FLAGS[m.group("name")] + (f" {value}" if value else "")

    return _ASSIGNMENT.sub(flag, message)


def add_speak(sub: Any) -> None:
    """Register ``dgtools speak``."""
    p = sub.add_parser(
        "speak",
        help="speak texts with Deepgram's Aura voices and write one audio file per text",
        description=(
            "Synthesise TEXT, or every row of a CSV file (--from), with Deepgram's text-to-speech "
            "(/v1/speak) and write one audio file per text. Texts longer than 2,000 characters are split "
            "at sentence ends (else clauses, else words), spoken concurrently and joined in order. The "
            "plan (engine, texts, requests, characters, cost) is printed before anything is sent; the "
            "audio of every request is kept in the store, so a rerun sends nothing for what it holds. "
            "Credentials come from DEEPGRAM_API_KEY or DEEPGRAM_TOKEN; without them (and without "
            "--base-url) a local espeak-ng voice speaks, free and offline."
        ),
        epilog=(
            "Examples: dgtools speak 'Hello there.' --out hello.mp3; dgtools speak --from texts.csv "
            "--column text --id-column id --out speech/ --model aura-2-thalia-en; llm '...' | dgtools "
            "speak - --stream --out reply.wav. Exit status: 0 every text has its file; 1 dgtools reported "
            "an error (one line), some texts failed (see the failure table) or --budget stopped a stream's "
            "text; 2 the command line could not be parsed; 130 interrupted."
        ),
    )
    p.add_argument(
        "text",
        nargs="?",
        metavar="TEXT",
        help="the text to speak (or --from a CSV file; with --stream, - reads stdin)",
    )
    g = p.add_argument_group("texts from a CSV file")
    g.add_argument("--from", dest="from_csv", metavar="CSV", help="speak every row of this CSV file")
    g.add_argument("--column", metavar="NAME", help="the column of texts (default: text)")
    g.add_argument(
        "--id-column",
        metavar="NAME",
        help="the column of ids, which name the files (default: the row numbers, 0, 1, ...)",
    )
    p.add_argument(
        "-o",
        "--out",
        metavar="PATH",
        help="with TEXT: the audio file to write (its suffix, .mp3 .wav .flac .opus ..., picks the encoding "
        f"unless --encoding is given) or a folder; with --from: the folder (default: {DEFAULT_SPEECH_OUT})",
    )
    p.add_argument(
        "--store", default=DEFAULT_STORE, metavar="DIR", help=f"the store (default: {DEFAULT_STORE})"
    )
    a = p.add_argument_group("voice and audio (checked before anything is sent)")
    a.add_argument(
        "--model", default=None, help="the voice, e.g. aura-2-thalia-en (default: aura-asteria-en)"
    )
    a.add_argument(
        "--encoding",
        choices=["linear16", "mulaw", "alaw", "mp3", "opus", "flac", "aac"],
        help="the audio encoding (default: mp3, or what --out's suffix says)",
    )
    a.add_argument("--container", choices=["wav", "ogg", "none"], help="wav or none for linear16/mulaw/alaw")
    a.add_argument("--sample-rate", type=int, metavar="HZ", help="samples per second, e.g. 16000")
    a.add_argument("--bit-rate", type=int, metavar="BPS", help="bits per second (mp3, opus, aac)")
    a.add_argument("--speed", type=float, metavar="X", help="speaking rate, 0.7 to 1.5 (default: 1)")
    r = p.add_argument_group("run")
    r.add_argument(
        "--concurrency", type=int, metavar="N", help="requests in flight (default: 15, Deepgram's limit)"
    )
    r.add_argument(
        "--budget",
        type=float,
        metavar="USD",
        help="refuse to start if the estimate is above this (with --stream: stop the text before it would cost more)",
    )
    r.add_argument(
        "--confirm-above",
        type=confirm_above,
        metavar="DOLLARS",
        help=f"in a terminal, ask before sending when the estimate is above this (default: {CONFIRM_ABOVE:g})",
    )
    r.add_argument(
        "-y", "--yes", action="store_true", help="do not ask before sending, whatever the estimate"
    )
    r.add_argument(
        "--engine",
        choices=["auto", "deepgram", "local"],
        default="auto",
        help="deepgram (Aura voices), local (espeak-ng on this machine: free, offline) or auto: deepgram "
        "when --base-url is given or DEEPGRAM_API_KEY or DEEPGRAM_TOKEN is set, else local (default: auto)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar and no progress lines")
    r.add_argument(
        "--progress-every",
        type=positive_seconds,
        metavar="SECONDS",
        help="without a terminal, print a progress line on stderr every SECONDS (default: 10)",
    )
    add_stream_args(p)
    add_endpoint_args(p)
    add_network_args(p)
    p.set_defaults(run=_run_speak)


def _run_speak(args: argparse.Namespace) -> int:
    try:
        if args.stream:
            from .speak_stream import run_speak_stream

            return run_speak_stream(args)
        return _speak(args)
    except DGToolsError as exc:
        return error(speak_syntax(str(exc)))


def _speak(args: argparse.Namespace) -> int:
    from ..speech import aspeak, speak

    texts, ids, out, target = _inputs(args)
    audio = _audio_options(args, target)
    gate = _Gate(args)
    kwargs: dict[str, Any] = dict(
        ids=ids, out=out, store=args.store, concurrency=args.concurrency, budget=args.budget,
        engine=args.engine, base_url=args.base_url, region=args.region, timeout=args.timeout,
        max_retries=args.max_retries, proxy=args.proxy, allow_insecure=args.allow_insecure,
        progress=False if args.no_progress else args.progress_every, confirm=gate, **audio,
    )  # fmt: skip
    if args.model:
        kwargs["model"] = args.model
    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # the stop handling of transcribe: Ctrl-C or SIGTERM cancel the run, which keeps what is stored
            run = cast(
                "SpeechRun", asyncio.run(_until_stopped(cast(Any, aspeak(texts, **kwargs)), cast(Any, gate)))
            )
        else:  # called from inside an event loop (a notebook): no signal handling of our own
            run = speak(texts, **kwargs)
    except KeyboardInterrupt:
        print(f"{PROG}: {gate.interrupted()}", file=sys.stderr)
        return 130
    if not gate.shown and run.plan is not None:  # nothing to send: the plan was not asked about
        gate.show(run.plan)
    if target is not None:
        _move_to(run, target)
    return _report(run)


def _inputs(args: argparse.Namespace) -> tuple[Any, list[str] | None, Path, Path | None]:
    """``(texts, ids, out folder, the one file asked for or None)`` of the command line."""
    local_only(
        args.out, "--out", "give a local audio file or folder (copy the audio to object storage afterwards)"
    )
    local_only(
        args.store, "--store", "dgtools speak keeps the audio of every request in a local store folder"
    )
    local_only(args.from_csv, "--from", "give a local CSV file (download it first)")
    if args.flush is not None:
        raise ConfigError(f"--flush {args.flush} goes with --stream (the WebSocket /v1/speak)")
    if args.text == "-":
        raise ConfigError(
            "TEXT - (the text of stdin) goes with --stream; without it, give the text or --from CSV"
        )
    if (args.text is None) == (args.from_csv is None):
        raise ConfigError(
            "give either TEXT or --from CSV: dgtools speak 'Hello.' --out hello.mp3, or dgtools speak "
            "--from texts.csv --column text --out DIR"
        )
    out = Path(args.out) if args.out else None
    if args.text is not None:
        if args.id_column or args.column is not None:
            raise ConfigError("--column and --id-column go with --from CSV, not with TEXT")
        if out is not None and out.suffix.lower() in _SUFFIXES and not out.is_dir():
            return [args.text], [out.stem], out.parent, out
        return [args.text], [_ONE_TEXT_ID], out or Path(DEFAULT_SPEECH_OUT), None
    if out is not None and out.suffix.lower() in _SUFFIXES and not out.is_dir():
        raise ConfigError(f"--out {out} looks like an audio file: with --from, give a folder for the files")
    frame = _read_csv(Path(args.from_csv))
    texts = frame[_column(frame, args.column or "text", "--column", args.from_csv)]
    ids = None
    if args.id_column:
        ids = [str(v) for v in frame[_column(frame, args.id_column, "--id-column", args.from_csv)]]
    return texts, ids, out or Path(DEFAULT_SPEECH_OUT), None


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise ConfigError(f"--from {path}: no such file")
    try:  # every cell as text: ids like 007 stay themselves, an empty cell is an empty text
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        raise ConfigError(f"--from {path} cannot be read as CSV: {' '.join(str(exc).split())}") from None


def _column(frame: pd.DataFrame, name: str, flag: str, source: str) -> str:
    if name in frame.columns:
        return name
    columns = [str(c) for c in frame.columns]
    close = difflib.get_close_matches(name, columns, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"{flag} {name!r}: {source} has no such column{hint} Its columns: {', '.join(columns)}")


def _audio_options(args: argparse.Namespace, target: Path | None) -> dict[str, Any]:
    """encoding, container, sample_rate, bit_rate, speed of the flags, the encoding from ``--out``'s suffix if not given."""
    opts = {
        "encoding": args.encoding, "container": args.container, "sample_rate": args.sample_rate,
        "bit_rate": args.bit_rate, "speed": args.speed,
    }  # fmt: skip
    if target is None:
        return opts
    implied = _SUFFIXES[target.suffix.lower()]
    if args.encoding is None:
        opts["encoding"] = implied["encoding"]
        if args.container is None and "container" in implied:
            opts["container"] = implied["container"]
    from ..options.speak import speak_format

    fmt = speak_format({k: v for k, v in opts.items() if k in ("encoding", "container", "sample_rate")})
    suffixes = {s for s, o in _SUFFIXES.items() if speak_format(o).file_suffix == fmt.file_suffix}
    if target.suffix.lower() not in suffixes:
        raise ConfigError(
            f"--out {target} ends in {target.suffix}, but --encoding {fmt.encoding} (container {fmt.container}) "
            f"writes {fmt.file_suffix} audio: change the suffix, or leave --encoding out"
        )
    return opts


def _move_to(run: SpeechRun, target: Path) -> None:
    """Put the one text's file where ``--out FILE`` said."""
    (text,) = run.texts
    if text.ok and text.path is not None and text.path != target:
        os.replace(text.path, target)
        text.path = target


def _report(run: SpeechRun) -> int:
    """Everything printed after the run: warnings, the summary, where the files went, the failures."""
    for warning in run.warnings:
        warn(warning)
    s = run.summary()
    counts = ", ".join(
        f"{s[k]} {k}" for k in ("spoken", "stored", "failed", "not sent", "skipped") if s.get(k)
    )
    spent = "free" if run.engine != "deepgram" else f"${s['spent']:.4f}"
    print(
        f"spoke {s['texts']} text(s): {counts or 'none'}; {s['requests_sent']} request(s) sent, "
        f"{s['characters_sent']:,} characters, {spent}; {s['audio_seconds']:,.1f} s of audio in "
        f"{s['elapsed_s']:,.1f} s"
    )
    paths = [t.path for t in run.texts if t.ok and t.path is not None]
    if len(paths) == 1:
        print(f"wrote {paths[0]}")
    elif paths:
        print(f"wrote {len(paths)} files in {run.out}; the audio of every request is kept in {run.store}")
    if run.stopped:
        warn(speak_syntax(run.stopped))
    failures = run.failures
    if len(failures):
        _print_failures(failures)
        return 1
    return 0


def _print_failures(failures: pd.DataFrame) -> None:
    """Each failed text (or chunk of one) with its status, the reason and the fix; alike ones together."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in failures.to_dict("records"):
        key = tuple("" if _missing(row[c]) else str(row[c]) for c in _SHOWN)
        groups.setdefault(key, []).append(row)
    print(f"\n{len(failures)} text(s) or chunk(s) failed:")
    for (status, err_code, message, advice), rows in groups.items():
        names = [f"{r['id']}" + ("" if _missing(r["chunk"]) else f" (chunk {r['chunk']})") for r in rows]
        shown = ", ".join(names[:_NAMES_SHOWN])
        if len(names) > _NAMES_SHOWN:
            shown += f" and {len(names) - _NAMES_SHOWN} more"
        what = " ".join(filter(None, (status, err_code)))
        if len(rows) == 1 and not _missing(rows[0]["request_id"]):
            what += f", request_id {rows[0]['request_id']}"
        print(f"  {shown}: {what}")
        if message:
            print(f"    why: {one_line(speak_syntax(message))}")
        if advice:
            print(f"    fix: {one_line(speak_syntax(advice))}")


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


class _Gate:
    """The run's ``confirm=``: prints the plan before anything is sent, asks in a terminal above a price."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.yes: bool = args.yes
        self.above: float = CONFIRM_ABOVE if args.confirm_above is None else args.confirm_above
        self.plan: SpeechPlan | None = None
        self.shown = False

    def show(self, plan: SpeechPlan) -> None:
        """Print the plan (its first line: the engine and why)."""
        self.plan, self.shown = plan, True
        print(cli_text(speak_syntax(str(plan))), flush=True)

    def __call__(self, plan: SpeechPlan) -> bool:
        self.show(plan)
        if self.yes or not (sys.stdin.isatty() and sys.stdout.isatty()):
            return True  # a run without a terminal never blocks
        dollars = plan.estimate.dollars
        if dollars is not None and dollars <= self.above:
            return True
        cost = "an unknown cost (no price for this voice)" if dollars is None else f"${dollars:,.4f}"
        return _ask(
            f"Send {plan.to_send} request(s), {plan.estimate.characters:,} characters, for {cost}? [y/N] "
        )

    def interrupted(self) -> str:
        """What an interrupted run says."""
        if self.plan is None:
            return "interrupted before anything was sent; run the same command again"
        return "interrupted: the audio received so far is in the store; run the same command again to finish"

    def waiting(self) -> str:
        """What a run that is stopping waits for."""
        return "waiting for the requests in flight to stop, and the audio received to be saved..."
