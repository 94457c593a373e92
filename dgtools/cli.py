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

    from .exceptions import ResponseFormatError
    from .tables import Failure

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder to write the Parquet files to")
    failed: list[Failure] = []  # inputs left out of the tables: each is named and the exit status is 1

    def line(failure: Failure) -> str:
        return " ".join(f"{failure.path or failure.file_id or 'an input'}: {failure.message}".split())

    sources, file_ids = _table_sources(args.sources), _store_file_ids(args.sources)
    summary = None
    if args.dataset:
        from .tables import dataset_summary

        try:
            dgtools.write_dataset(sources, out, file_id=file_ids, on_error=failed.append)
        except ResponseFormatError:
            if not failed:
                raise  # with on_error, write_dataset raises this only when every input failed
        else:
            summary = dataset_summary(out)  # footers and a few columns: memory stays bounded
        where = f"{out / '<table>'}/part-*.parquet"
    else:
        tables = dgtools.to_tables(sources, file_id=file_ids, on_error=failed.append)
        if len(tables.requests) or not failed:  # never replace older tables with nothing
            tables.to_parquet(out)
            summary = tables.summary()
        where = str(out / "<table>.parquet")
    _quarantine(args.sources, failed)
    if summary is None:  # every input failed: nothing was written, the older output is kept
        if len(failed) == 1:
            return _error(line(failed[0]))
        for failure in failed:
            _warn(line(failure))
        return _error(f"none of the {len(failed)} inputs is a usable Deepgram response; nothing was written")
    for failure in failed:
        _warn(line(failure))
    print(summary)
    print(f"wrote {where} for {len(summary.rows)} tables: {', '.join(summary.rows)}")
    if failed:
        return 1
    if summary.files == 0:
        _warn(f"no Deepgram responses (.json, .jsonl, .ndjson files) found in {' '.join(args.sources)}")
    return 0


def _quarantine(sources: Sequence[str], failed: Sequence[Any]) -> None:
    """Move the unreadable responses of raw stores to their quarantine/ (the next transcribe requests them again)."""
    from .store import Store, is_store

    for s in sources:
        if not is_store(s):
            continue
        store = Store(s)
        for failure in failed:
            key = store.key_of(failure.path) if failure.path else None
            if key is not None and store.has(key):
                store.quarantine(key, failure.message)
                failure_note = (
                    f"moved to {Path(s) / 'quarantine'}; the next 'dgtools transcribe' requests it again"
                )
                _warn(f"{failure.path}: {failure_note}")


def _table_sources(sources: Sequence[str]) -> list[str]:
    """Response files and folders; a raw store (``dgtools transcribe --store``) becomes its responses."""
    from .store import is_store, store_sources

    if not any(is_store(s) for s in sources):
        return list(sources)
    if not all(is_store(s) for s in sources):
        raise ConfigError("give either raw stores or response files/folders to 'dgtools tables', not both")

    return [str(p) for s in sources for p, _ in store_sources(s)]


def _store_file_ids(sources: Sequence[str]) -> list[str] | None:
    """The file ids of a store's responses, each its own: a file answered twice gets ``<id>#2``."""
    from .store import is_store, store_sources

    if not sources or not is_store(sources[0]):
        return None
    ids: list[str] = []
    taken: set[str] = set()
    for s in sources:
        for _, fid in store_sources(s):
            given, n = fid, 2
            while given in taken:
                given, n = f"{fid}#{n}", n + 1
            if given != fid:
                _warn(
                    f"{fid} has more than one response in the store (other options?); the tables call it {given}"
                )
            taken.add(given)
            ids.append(given)
    return ids


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


def _add_network_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network")
    g.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="longest one request may take in all, upload and answer (default: scaled to each file's "
        "size and duration)",
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
    _add_network_args(p)
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
        timeout=args.timeout,
        proxy=args.proxy,
        allow_insecure=args.allow_insecure,
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
    for warning in run.warnings:
        _warn(warning)
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
            "make it slow or flaky on purpose. Point dgtools at it with --base-url http://HOST:PORT. "
            "The key comes from the DEEPGRAM_API_KEY environment variable (preferred: a flag shows in ps) "
            "or --api-key; with a key, every other credential gets 401 and /_dgtools/stats and /_dgtools/reset "
            "need it too; without one, any non-empty credential is accepted, and only on a loopback address."
        ),
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1; any other address needs a key)",
    )
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default: 8765)")
    p.add_argument(
        "--engine",
        choices=["synthetic", "replay", "local"],
        default="synthetic",
        help="what answers (default: synthetic)",
    )
    p.add_argument("--folder", metavar="DIR", help="recorded responses for --engine replay")
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="accept only this key (repeatable); prefer setting DEEPGRAM_API_KEY, which is used when no "
        "--api-key is given: a key on the command line shows in ps",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=None,
        metavar="N",
        help="largest request body accepted; larger ones get 413 before they are read (default: 2 GB)",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds a client has to send a request's headers before the connection is closed (default: 10)",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds a request body may go without a byte arriving before the connection is closed "
        "(default: 30)",
    )
    p.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds an idle kept-alive connection stays open between requests (default: 5)",
    )
    g = p.add_argument_group("fault injection")
    g.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds before answering")
    g.add_argument("--jitter", type=float, default=0.0, metavar="S", help="extra uniform random seconds")
    g.add_argument("--rate-429", type=float, default=0.0, metavar="P", help="share of requests answered 429")
    g.add_argument("--retry-after", type=float, default=1.0, metavar="S", help="Retry-After of those 429s")
    g.add_argument("--rate-5xx", type=float, default=0.0, metavar="P", help="share answered 500/503")
    g.add_argument("--drop-rate", type=float, default=0.0, metavar="P", help="share of connections dropped")
    g.add_argument("--payment-after", type=int, default=None, metavar="N", help="answer 402 after N requests")
    g.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        metavar="N",
        help="Deepgram's concurrency limit: a request arriving while N are in flight gets 429 at once",
    )
    g.add_argument(
        "--retry-after-concurrent",
        type=float,
        default=1.0,
        metavar="S",
        help="Retry-After of the --max-concurrent 429s (default: 1)",
    )
    g.add_argument("--seed", type=int, default=0, help="seed of the fault sequence")
    p.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    import os

    if args.engine == "replay" and not args.folder:
        raise ConfigError("--engine replay needs --folder DIR of recorded responses")
    from .server import run

    env_key = os.environ.get("DEEPGRAM_API_KEY", "").strip()
    api_keys = args.api_key or ([env_key] if env_key else [])
    limits = {
        name: value
        for name, value in (
            ("max_body_bytes", args.max_body_bytes),
            ("header_timeout", args.header_timeout),
            ("body_timeout", args.body_timeout),
            ("keep_alive_timeout", args.keep_alive_timeout),
        )
        if value is not None
    }
    run(
        host=args.host,
        port=args.port,
        engine=args.engine,
        folder=args.folder,
        api_keys=api_keys,
        latency=args.latency,
        jitter=args.jitter,
        rate_429=args.rate_429,
        retry_after=args.retry_after,
        rate_5xx=args.rate_5xx,
        drop_rate=args.drop_rate,
        payment_after=args.payment_after,
        max_concurrent=args.max_concurrent,
        retry_after_concurrent=args.retry_after_concurrent,
        seed=args.seed,
        **limits,
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
