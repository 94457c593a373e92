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
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ._version import __version__
from .exceptions import ConfigError, DGToolsError

__all__ = ["build_parser", "main"]

_T = TypeVar("_T")
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
        from .tables import dataset_summary

        dgtools.write_dataset(list(args.sources), out)
        summary = dataset_summary(out)  # footers and a few columns: memory stays bounded
        where = f"{out / '<table>'}/part-*.parquet"
    else:
        tables = dgtools.to_tables(_table_sources(args.sources), file_id=_store_file_ids(args.sources))
        tables.to_parquet(out)
        summary = tables.summary()
        where = str(out / "<table>.parquet")
    print(summary)
    print(f"wrote {where} for {len(summary.rows)} tables: {', '.join(summary.rows)}")
    if summary.files == 0:
        _warn(f"no Deepgram responses (.json, .jsonl, .ndjson files) found in {' '.join(args.sources)}")
    return 0


def _table_sources(sources: Sequence[str]) -> list[str]:
    """Response files and folders; a raw store (``dgtools transcribe --store``) becomes its responses."""
    from .store import is_store, store_sources

    if not any(is_store(s) for s in sources):
        return list(sources)
    if not all(is_store(s) for s in sources):
        raise ConfigError("give either raw stores or response files/folders to 'dgtools tables', not both")

    return [str(p) for s in sources for p, _ in store_sources(s)]


def _store_file_ids(sources: Sequence[str]) -> list[str] | None:
    from .store import is_store, store_sources

    if not sources or not is_store(sources[0]):
        return None

    return [fid for s in sources for _, fid in store_sources(s)]


# --------------------------------------------------------------------------- dgtools transcribe


def _add_option_args(p: argparse.ArgumentParser) -> None:
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


def _options_from(args: argparse.Namespace) -> dict[str, Any]:
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


def _add_endpoint_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("endpoint")
    g.add_argument("--region", choices=["eu", "au", "in"], help="a Deepgram regional endpoint")
    g.add_argument(
        "--base-url", metavar="URL", help="a dedicated or self-hosted endpoint, or 'dgtools serve'"
    )


def _add_transcribe(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "transcribe",
        help="transcribe audio files with Deepgram, concurrently and resumably, and write Parquet tables",
        description=(
            "Send every audio file (folders are searched recursively; globs and http(s) URLs work too) "
            "to Deepgram's /v1/listen, store each raw response in the store as it arrives, and write the "
            "tables as Parquet. A rerun with the same store sends only what is missing. Credentials come "
            "from DEEPGRAM_API_KEY (sent as 'Token') or DEEPGRAM_TOKEN (a temporary JWT, sent as 'Bearer')."
        ),
        epilog="Exit status: 0 all files transcribed, 1 some failed (see the failure table), 2 usage error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio file, folder, glob or URL")
    p.add_argument(
        "-o", "--out", default=_DEFAULT_OUT, metavar="DIR", help=f"Parquet folder (default: {_DEFAULT_OUT})"
    )
    p.add_argument(
        "--store", default="dgtools-store", metavar="DIR", help="raw-response store (default: dgtools-store)"
    )
    p.add_argument(
        "--concurrency", type=int, metavar="N", help="requests in flight (default: Deepgram's limit)"
    )
    p.add_argument(
        "--budget", type=float, metavar="USD", help="refuse to start if the estimate is above this"
    )
    p.add_argument("--pattern", action="append", metavar="GLOB", help="only files matching GLOB (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="do not write the PNG plots to DIR/plots")
    p.add_argument(
        "--engine",
        choices=["auto", "deepgram", "local"],
        default="auto",
        help="deepgram (the API), local (the embedded offline engine, free) or auto: deepgram when "
        "DEEPGRAM_API_KEY or DEEPGRAM_TOKEN is set, else local (default: auto)",
    )
    _add_option_args(p)
    _add_endpoint_args(p)
    p.set_defaults(run=_run_transcribe)


def _run_transcribe(args: argparse.Namespace) -> int:
    from .batch import atranscribe, transcribe

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder to write the Parquet files to")
    kwargs: dict[str, Any] = dict(
        store=args.store,
        concurrency=args.concurrency,
        progress=False if args.no_progress else None,
        base_url=args.base_url,
        region=args.region,
        budget=args.budget,
        patterns=tuple(args.pattern or ("*",)),
        engine=args.engine,
        **_options_from(args),
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        run = asyncio.run(_until_terminated(atranscribe(list(args.paths), **kwargs)))
    else:  # called from inside an event loop (a notebook): no signal handling of our own
        run = transcribe(list(args.paths), **kwargs)
    if run.estimate is not None:
        print(f"estimate: {run.estimate}")
    tables = run.tables
    tables.to_parquet(out)
    print(tables.summary())
    if not args.no_plots and len(tables.words):
        from .plotting import save_plots

        pngs = save_plots(tables, out / "plots")
        print(
            f"plots: {len(pngs)} PNG(s) in {out / 'plots'} (a confidence timeline and speaker lanes per file)"
        )
    summary = run.summary()
    print("run: " + ", ".join(f"{k}={v}" for k, v in summary.items() if v not in (None, 0)))
    print(f"wrote {out / '<table>.parquet'}; raw responses in {args.store}")
    failures = run.failures
    if len(failures):
        import pandas as pd

        with pd.option_context("display.max_colwidth", 120, "display.width", 200):
            print(f"\n{len(failures)} file(s) failed:")
            print(
                failures[["file", "status", "err_code", "request_id", "attempts", "advice"]].to_string(
                    index=False
                )
            )
        return 1
    return 0


async def _until_terminated(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro``; SIGTERM cancels it as Ctrl-C does (then raises KeyboardInterrupt).

    Completed responses are already in the store, so a rerun finishes the job. The handler is
    only installed from the main thread, and the previous one is restored afterwards.
    """
    import signal
    import threading

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
    try:
        return await coro
    except asyncio.CancelledError:
        if terminated:
            raise KeyboardInterrupt from None
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------- dgtools estimate


def _add_estimate(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "estimate",
        help="estimate what transcribing some audio would cost, without sending anything",
        description=(
            "Probe the duration of every audio file locally and price it with dgtools.pricing.PRICES "
            "(dated, editable). Files already in --store for the same options are not counted."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio file, folder or glob")
    p.add_argument("--model", default=None, help="the model to price (default: nova-3)")
    p.add_argument("--pattern", action="append", metavar="GLOB", help="only files matching GLOB (repeatable)")
    p.set_defaults(run=_run_estimate)


def _run_estimate(args: argparse.Namespace) -> int:
    from .audio import collect, probe_duration
    from .pricing import estimate_cost

    found, skipped = collect(list(args.paths), patterns=tuple(args.pattern or ("*",)))
    durations = [probe_duration(a.path) if a.path is not None else None for a in found]
    print(estimate_cost(durations, model=args.model))
    for s in skipped:
        _warn(f"{s.source}: {s.reason}")
    return 0


# --------------------------------------------------------------------------- dgtools doctor


def _add_doctor(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "doctor",
        help="check credentials and the endpoint with one short request",
        description=(
            "Check that a key is present and well formed, that the endpoint answers, tell a Token/Bearer "
            "mix-up apart, and send one second of silence to see a request round-trip (cost: 1 second of audio)."
        ),
    )
    _add_endpoint_args(p)
    p.add_argument("--model", default=None, help="model for the test request")
    p.set_defaults(run=_run_doctor)


def _run_doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor

    report = doctor(base_url=args.base_url, region=args.region, model=args.model)
    for line in report.lines:
        print(line)
    return 0 if report.ok else 1


# --------------------------------------------------------------------------- dgtools serve


def _add_serve(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "serve",
        help="run a local Deepgram-compatible server (for tests and offline work)",
        description=(
            "Answer POST /v1/listen on HOST:PORT as Deepgram does (auth check, status codes, error bodies, "
            "options validated), from an engine: 'synthetic' makes a deterministic response from the audio "
            "length, 'replay' answers recorded responses keyed by the audio's sha256. Fault injection options "
            "make it slow or flaky on purpose. Point dgtools at it with --base-url http://HOST:PORT."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default: 8765)")
    p.add_argument(
        "--engine",
        choices=["synthetic", "replay", "local"],
        default="synthetic",
        help="what answers (default: synthetic)",
    )
    p.add_argument("--folder", metavar="DIR", help="recorded responses for --engine replay")
    p.add_argument(
        "--api-key", action="append", default=[], metavar="KEY", help="accept only this key (repeatable)"
    )
    g = p.add_argument_group("fault injection")
    g.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds before answering")
    g.add_argument("--jitter", type=float, default=0.0, metavar="S", help="extra uniform random seconds")
    g.add_argument("--rate-429", type=float, default=0.0, metavar="P", help="share of requests answered 429")
    g.add_argument("--retry-after", type=float, default=1.0, metavar="S", help="Retry-After of those 429s")
    g.add_argument("--rate-5xx", type=float, default=0.0, metavar="P", help="share answered 500/503")
    g.add_argument("--drop-rate", type=float, default=0.0, metavar="P", help="share of connections dropped")
    g.add_argument("--payment-after", type=int, default=None, metavar="N", help="answer 402 after N requests")
    g.add_argument("--seed", type=int, default=0, help="seed of the fault sequence")
    p.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    if args.engine == "replay" and not args.folder:
        raise ConfigError("--engine replay needs --folder DIR of recorded responses")
    from .server import run

    run(
        host=args.host,
        port=args.port,
        engine=args.engine,
        folder=args.folder,
        api_keys=args.api_key,
        latency=args.latency,
        jitter=args.jitter,
        rate_429=args.rate_429,
        retry_after=args.retry_after,
        rate_5xx=args.rate_5xx,
        drop_rate=args.drop_rate,
        payment_after=args.payment_after,
        seed=args.seed,
    )
    return 0


# --------------------------------------------------------------------------- helpers

_COMMANDS: tuple[Callable[[_Subparsers], None], ...] = (
    _add_transcribe,
    _add_tables,
    _add_estimate,
    _add_doctor,
    _add_serve,
)


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
