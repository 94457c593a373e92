"""``dgtools transcribe``: the plan first, a question above a price in a terminal, then the run.

What it prints, in order:

1. the plan, before anything is sent (:class:`~dgtools.batch.PlanSummary`): which engine and why
   (the first line), files to send, files already stored, audio minutes, price and total;
2. in a terminal, when the total is above ``--confirm-above`` dollars, the question
   "Send N files for $X? [y/N]" (``--yes`` skips it; a run without a terminal never asks);
3. progress while it sends (a bar in a terminal, else a line on stderr every
   ``--progress-every`` seconds);
4. what the engine ignored of the options, once per kind (``dgtools: warning:``), the tables'
   summary and where everything went;
5. each failed file with the reason and the fix, in the command line's words.

Ctrl-C or SIGTERM stop it: it says how many files are saved and that the same command finishes
the job.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from .output import PROG, cli_text, is_url, local_only, one_line, warn
from .parser import (
    DEFAULT_OUT,
    DEFAULT_STORE,
    add_endpoint_args,
    add_network_args,
    add_option_args,
    add_whisper_model_arg,
    options_from,
)

if TYPE_CHECKING:
    import pandas as pd

    from ..batch import PlanSummary, Run

__all__ = ["add_transcribe", "confirm_above", "positive_seconds"]

#: The default of ``--confirm-above``: dollars a terminal run may send without asking.
CONFIRM_ABOVE = 5.0
#: Seconds an interrupted run may take to stop before the command line says what it waits for.
_WAIT_NOTE_AFTER = 1.0
#: Failed files shown by name in one group of the failure table.
_NAMES_SHOWN = 5
#: The columns of ``run.failures`` that tell one failure from another.
_SHOWN = ("status", "err_code", "message", "advice")


def positive_seconds(text: str) -> float:
    """An argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0")
    return value


def confirm_above(text: str) -> float:
    """An argparse type: dollars, 0 or more."""
    try:
        value = float(text.lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of dollars") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give an amount of dollars, 0 or more")
    return value


def add_transcribe(sub: Any) -> None:
    """Register ``dgtools transcribe``."""
    p = sub.add_parser(
        "transcribe",
        help="transcribe audio files with Deepgram, concurrently and resumably, and write Parquet tables",
        description=(
            "Send every audio file (folders are searched recursively; globs and http(s) URLs work too) "
            "to Deepgram's /v1/listen, store each raw response in the store as it arrives, and write the "
            "tables as Parquet. The plan (engine, files to send, files already stored, minutes, cost) "
            "is printed before anything is sent. A rerun with the same store sends only what is missing. "
            "Credentials come from DEEPGRAM_API_KEY (sent as 'Token') or DEEPGRAM_TOKEN (a temporary "
            "JWT, sent as 'Bearer')."
        ),
        epilog=(
            "Exit status: 0 every file transcribed; 1 dgtools reported an error (one line 'dgtools: "
            "error: ...', an option value it rejects included, such as an unknown --model) or some "
            "files failed (see the failure table); 2 the command line could not be parsed (an unknown "
            "flag, a missing argument); 130 interrupted (Ctrl-C, SIGTERM): the same command finishes the job."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio file, folder, glob or URL")
    p.add_argument(
        "-o",
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"local folder of the Parquet tables and plots (default: {DEFAULT_OUT}); for tables in "
        "object storage run 'dgtools tables STORE --dataset --out s3://...' afterwards",
    )
    p.add_argument(
        "--store",
        default=DEFAULT_STORE,
        metavar="DIR",
        help=f"raw-response store, a folder or a URL in object storage, s3://bucket/prefix, with credentials "
        f"and endpoint from the environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL...) (default: {DEFAULT_STORE})",
    )
    p.add_argument(
        "--concurrency", type=int, metavar="N", help="requests in flight (default: Deepgram's limit)"
    )
    p.add_argument(
        "--budget", type=float, metavar="USD", help="refuse to start if the estimate is above this"
    )
    p.add_argument(
        "--confirm-above",
        type=confirm_above,
        default=CONFIRM_ABOVE,
        metavar="DOLLARS",
        help="in a terminal, ask before sending when the estimate is above this "
        f"(default: {CONFIRM_ABOVE:g}); a run without a terminal never asks",
    )
    p.add_argument(
        "-y", "--yes", action="store_true", help="do not ask before sending, whatever the estimate"
    )
    p.add_argument("--pattern", action="append", metavar="GLOB", help="only files matching GLOB (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar and no progress lines")
    p.add_argument(
        "--progress-every",
        type=positive_seconds,
        metavar="SECONDS",
        help="without a terminal (CI logs, nohup, a file), print a progress line on stderr every "
        "SECONDS (default: 10); a terminal gets a progress bar",
    )
    p.add_argument("--no-plots", action="store_true", help="do not write the PNG plots to DIR/plots")
    p.add_argument(
        "--engine",
        choices=["auto", "deepgram", "whisper", "local"],
        default="auto",
        help="deepgram (the API), whisper (faster-whisper on this machine, free; pip install "
        "'dgtools[whisper]'), local (pocketsphinx, embedded, free) or auto: deepgram when --base-url is "
        "given or DEEPGRAM_API_KEY or DEEPGRAM_TOKEN is set, else whisper when installed, else local; "
        "the first line printed says which and why (default: auto)",
    )
    p.add_argument(
        "--temporary-key",
        action="store_true",
        help="send with a new API key of scope usage:write, created from DEEPGRAM_API_KEY (which needs "
        "keys:write) for this run only and deleted at its end (also on an error or Ctrl-C); it expires by "
        "itself shortly after the planned run; its secret is never shown",
    )
    p.add_argument(
        "--token-ttl",
        type=positive_seconds,
        metavar="SECONDS",
        help="send with temporary tokens living SECONDS, granted from DEEPGRAM_API_KEY (scope member) and "
        "renewed before they expire, so a long batch never meets an expired token",
    )
    p.add_argument(
        "--api-version", choices=["v1", "v2"], default=None,
        help="v2: Deepgram's old API (https://brain.deepgram.com/v2 unless --base-url), HTTP Basic auth from "
        "DEEPGRAM_USERNAME and DEEPGRAM_PASSWORD (environment only: a flag shows in ps) (default: v1)",
    )  # fmt: skip
    p.add_argument(
        "--callback", metavar="URL",
        help="callback mode: submit every file with Deepgram's callback=URL (public HTTPS) and return; "
        "'dgtools receive' stores the transcripts Deepgram POSTs there",
    )  # fmt: skip
    p.add_argument(
        "--callback-method", choices=["post", "put"], default="post",
        help="how Deepgram delivers to --callback (default: post)",
    )  # fmt: skip
    p.add_argument(
        "--resubmit-pending", action="store_true",
        help="with --callback: submit again files whose earlier submission is still pending",
    )  # fmt: skip
    add_whisper_model_arg(p)
    add_option_args(p)
    add_endpoint_args(p)
    add_network_args(p)
    p.set_defaults(run=_run_transcribe)


def _run_transcribe(args: argparse.Namespace) -> int:
    from ..batch import atranscribe, transcribe

    local_only(
        args.out,
        "--out",
        "it is the folder of the Parquet tables and plots: give a folder, and put the tables in object "
        f"storage with 'dgtools tables {args.store} --dataset --out {args.out}' after the run",
    )
    if args.callback:
        local_only(
            args.store,
            "--store",
            "with --callback the pending requests are recorded in a local store folder for 'dgtools receive': "
            "give a folder, or leave --callback out",
        )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder to write the Parquet files to")
    gate = _Gate(args)
    kwargs: dict[str, Any] = dict(
        store=args.store,
        concurrency=args.concurrency,
        progress=False if args.no_progress else args.progress_every,
        base_url=args.base_url,
        region=args.region,
        budget=args.budget,
        patterns=tuple(args.pattern or ("*",)),
        engine=args.engine,
        timeout=args.timeout,
        **({"whisper_model": args.whisper_model} if args.whisper_model else {}),
        max_retries=args.max_retries,
        proxy=args.proxy,
        allow_insecure=args.allow_insecure,
        confirm=gate,
        **({"temporary_key": True} if args.temporary_key else {}),
        **({"token_ttl": args.token_ttl} if args.token_ttl else {}),
        **({"callback": args.callback, "callback_method": args.callback_method} if args.callback else {}),
        **({"resubmit_pending": True} if args.resubmit_pending else {}),
        **({"api_version": args.api_version} if args.api_version else {}),
        **options_from(args),
    )
    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            run = asyncio.run(_until_stopped(atranscribe(list(args.paths), **kwargs), gate))
        else:  # called from inside an event loop (a notebook): no signal handling of our own
            run = transcribe(list(args.paths), **kwargs)
        return _report(run, args, gate)
    except KeyboardInterrupt:
        print(f"{PROG}: {gate.interrupted()}", file=sys.stderr)
        return 130
    except ConfigError as exc:
        if args.base_url and "DEEPGRAM_API_KEY" in str(exc) and not _credentials_set():
            raise ConfigError(
                f"{exc}. --base-url names a server, so the Deepgram engine sends to it and needs a key: "
                "for a 'dgtools serve' started without --api-key any value of 16 characters or more "
                "works (export DEEPGRAM_API_KEY=local-test-key-0001)"
            ) from None
        raise


def _credentials_set() -> bool:
    return bool(os.environ.get("DEEPGRAM_API_KEY") or os.environ.get("DEEPGRAM_TOKEN"))


def _report(run: Run, args: argparse.Namespace, gate: _Gate) -> int:
    """Everything printed after the run: warnings, the tables and where they went, the failures."""
    out = Path(args.out)
    if not gate.shown and run.plan is not None:  # nothing to send: the plan was not asked about
        gate.show(run.plan)
    for warning in run.warnings:
        warn(warning)
    tables = run.tables
    for warning in run.option_warnings():
        warn(warning)
    tables.to_parquet(out)
    print(tables.summary())
    if not args.no_plots and len(tables.words):
        from ..plotting import save_plots

        pngs = save_plots(tables, out / "plots")
        print(
            f"plots: {len(pngs)} PNG(s) in {out / 'plots'} (a confidence timeline and speaker lanes per file)"
        )
    summary = run.summary()
    print("run: " + ", ".join(f"{k}={one_line(str(v))}" for k, v in summary.items() if v not in (None, 0)))
    print(f"wrote {out / '<table>.parquet'}; raw responses in {args.store}")
    pending = run.pending
    if len(pending):
        print(
            f"{len(pending)} file(s) submitted with a callback, their transcripts not here yet: "
            f"'dgtools receive --store {args.store}' stores them as Deepgram delivers them"
        )
    failures = run.failures
    if len(failures):
        _print_failures(failures)
        return 1
    return 0


def _print_failures(failures: pd.DataFrame) -> None:
    """Each failed file with its status, the reason and the fix; files that failed alike, together."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for row in failures.to_dict("records"):
        status, err_code, message, advice = ("" if _missing(row[c]) else str(row[c]) for c in _SHOWN)
        groups.setdefault((status, err_code, message, advice), []).append(row)
    print(f"\n{len(failures)} file(s) failed:")
    for (status, err_code, message, advice), rows in groups.items():
        names = [str(r["file"]) for r in rows]
        shown = ", ".join(names[:_NAMES_SHOWN])
        if len(names) > _NAMES_SHOWN:
            shown += f" and {len(names) - _NAMES_SHOWN} more"
        what = " ".join(filter(None, (status, err_code)))
        if len(rows) == 1:
            r = rows[0]
            if not _missing(r["request_id"]):
                what += f", request_id {r['request_id']}"
            if not _missing(r["attempts"]) and r["attempts"] > 1:
                what += f", {r['attempts']} attempts"
        print(f"  {shown}: {what}")
        if message:
            print(f"    why: {one_line(message)}")
        if advice:
            print(f"    fix: {one_line(advice)}")


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


class _Gate:
    """The run's ``confirm=``: prints the plan before anything is sent, and asks in a terminal above a price."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.yes: bool = args.yes
        self.above: float = args.confirm_above
        self.store: str = args.store if is_url(args.store) else str(Path(args.store))
        self.concurrency: int | None = args.concurrency
        self.plan: PlanSummary | None = None
        self.shown = False
        self.keys_before = 0

    def show(self, plan: PlanSummary) -> None:
        """Print the plan (its first line: the engine and why)."""
        self.plan, self.shown = plan, True
        print(cli_text(str(plan)), flush=True)

    def __call__(self, plan: PlanSummary) -> bool:
        self.show(plan)
        self.keys_before = self.saved()
        if self.yes or not (sys.stdin.isatty() and sys.stdout.isatty()):
            return True  # a run without a terminal never blocks
        dollars = plan.estimate.dollars
        if dollars is not None and dollars <= self.above:
            return True
        cost = "an unknown cost (no price for this model)" if dollars is None else _dollars(dollars)
        files = "file" if plan.to_send == 1 else "files"
        return _ask(f"Send {plan.to_send} {files} for {cost}? [y/N] ")

    def saved(self) -> int:
        """Responses in the store now."""
        from ..exceptions import DGToolsError
        from ..store import open_store

        try:  # a store in object storage: one LIST of its responses
            return sum(1 for _key in open_store(self.store).keys())  # noqa: SIM118 - a method, not a dict
        except (OSError, DGToolsError):
            return 0

    def interrupted(self) -> str:
        """What an interrupted run says: how many files are saved, and that a rerun finishes the job."""
        if self.plan is None:
            return "interrupted before anything was sent; run the same command again"
        plan = self.plan
        saved = min(plan.stored + max(0, self.saved() - self.keys_before), plan.stored + plan.to_send)
        return (
            f"interrupted: {saved} of {plan.stored + plan.to_send} files saved in {self.store}; "
            "run the same command again to finish"
        )

    def waiting(self) -> str:
        """What a run that is stopping waits for."""
        plan = self.plan
        if plan is None:
            return "waiting for the files being read to stop..."
        if plan.engine == "local":
            from ..batch import RunSettings

            left = plan.to_send - max(0, self.saved() - self.keys_before)
            n = max(1, min(RunSettings(engine="local", concurrency=self.concurrency).cap, left))
            return f"waiting for {n} decode{'s' if n != 1 else ''} to stop..."
        return "waiting for the requests in flight to stop, and the answers received to be saved..."


def _dollars(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _ask(question: str) -> bool:
    """Ask on the terminal; only y or yes goes on (Ctrl-C or end of input is a no)."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    if main:  # asyncio.run's handler would only cancel the run once the answer came
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        answer = input(question)
    except (EOFError, KeyboardInterrupt):
        print()
        return False
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    return answer.strip().lower() in ("y", "yes")


async def _until_stopped(coro: Coroutine[Any, Any, Run], gate: _Gate) -> Run:
    """Run ``coro``; Ctrl-C or SIGTERM cancel it, and a stop taking over a second says what it waits for.

    Completed responses are already in the store, so a rerun finishes the job. SIGTERM is handled
    only from the main thread, and the previous handler is restored afterwards; Ctrl-C is asyncio's
    (a second one stops at once).
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated = False

    def on_term() -> None:
        nonlocal terminated
        terminated = True
        if task is not None:
            task.cancel()

    previous = signal.getsignal(signal.SIGTERM)
    installed = False
    if threading.current_thread() is threading.main_thread():
        try:
            loop.add_signal_handler(signal.SIGTERM, on_term)
            installed = True
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - other platforms
            pass
    inner = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        inner.cancel()
        note = loop.call_later(_WAIT_NOTE_AFTER, lambda: print(f"{PROG}: {gate.waiting()}", file=sys.stderr))
        try:
            await asyncio.wait({inner})
        finally:
            note.cancel()
        if not inner.cancelled() and inner.exception() is None:
            return inner.result()  # it finished before the cancellation reached it
        if terminated:
            raise KeyboardInterrupt from None
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, previous)
