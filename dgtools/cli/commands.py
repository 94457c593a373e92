"""The commands besides ``transcribe``: ``tables``, ``estimate``, ``doctor`` and ``serve``.

Each ``add_<name>(subparsers)`` registers its parser with ``set_defaults(run=...)``; the run
function calls one library function and prints what it did.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError, DGToolsWarning
from .output import cli_text, error, is_url, local_only, warn
from .parser import DEFAULT_OUT, add_endpoint_args, add_option_args, add_whisper_model_arg, options_from
from .syntax import cli_syntax

__all__ = ["add_doctor", "add_estimate", "add_serve", "add_tables"]

if TYPE_CHECKING:
    import pyarrow as pa

    from ..store import RemoteStore
    from ..tables import Failure, Tables

# Loose alias: argparse's _SubParsersAction is private and generic.
_Subparsers = Any

#: Responses of a store in object storage fetched at once (one concurrent read_many, then built).
_FETCH = 64
#: Words per part of a dataset built from a store in object storage (write_dataset's default).
_BATCH_WORDS = 1_000_000


# --------------------------------------------------------------------------- dgtools tables


def add_tables(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "tables",
        help="build tables from saved Deepgram responses and write them as Parquet",
        description=(
            "Flatten Deepgram responses (pre-recorded or /v1/read .json files, streaming captures "
            "as .jsonl, or folders of them, searched recursively) into the dgtools tables and write "
            "one Parquet file per table, then print a summary. Each response's file_id is its path "
            "relative to the folder given, without the suffix (a file given directly: its stem). "
            "A raw store (dgtools transcribe --store) gives its responses under the file ids of its "
            "index, a store in object storage (s3://bucket/prefix) too. With --dataset, --out may be "
            "a URL in object storage (s3://bucket/tables): a fresh prefix, _SUCCESS written last. "
            "Credentials and endpoint come from the environment (AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, AWS_PROFILE)."
        ),
        epilog=(
            "Read the output back with dgtools.read_parquet(DIR), or query it directly, e.g. "
            "duckdb -c \"select speaker, count(*) from 'DIR/words.parquet' group by 1\"."
        ),
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="a response file (.json, .jsonl), a folder of them, or a raw store (a folder or an s3:// URL)",
    )
    p.add_argument(
        "-o",
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder to write the Parquet files to (created if needed; default: {DEFAULT_OUT}); with "
        "--dataset also a URL in object storage, s3://bucket/prefix (a prefix holding no tables yet)",
    )
    p.add_argument(
        "--dataset",
        action="store_true",
        help=(
            "write a partitioned dataset, DIR/<table>/part-NNNNN.parquet, built in bounded-memory "
            "batches (dgtools.write_dataset) instead of DIR/<table>.parquet; needed for an s3:// --out"
        ),
    )
    p.add_argument(
        "--partition-on",
        action="append",
        metavar="KEY",
        help=(
            "with --dataset: Hive partitions by a key of each response, DIR/<table>/KEY=VALUE/part-*.parquet; "
            "'date' (the UTC day of the request) or a requests column such as model_name; "
            "repeat it or give KEY,KEY for nested partitions"
        ),
    )
    p.set_defaults(run=_run_tables)


def _run_tables(args: argparse.Namespace) -> int:
    import dgtools

    from ..exceptions import ResponseFormatError

    to_url = is_url(args.out)
    if to_url and not args.dataset:
        raise ConfigError(
            f"--out {args.out} is a URL: in object storage dgtools writes a Parquet dataset, so add --dataset "
            f"(dgtools tables SOURCE --dataset --out {args.out})"
        )
    out: Path | str = str(args.out).rstrip("/") if to_url else Path(args.out)
    if isinstance(out, Path) and out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder to write the Parquet files to")
    keys: tuple[str, ...] = ()
    if args.partition_on:
        from ..tables.partition import partition_keys

        if not args.dataset:
            raise ConfigError("--partition-on partitions a dataset: add --dataset")
        given = [k.strip() for arg in args.partition_on for k in arg.split(",") if k.strip()]
        keys = partition_keys(given, where="--partition-on")
    failed: list[Failure] = []  # inputs left out of the tables: each is named and the exit status is 1

    def line(failure: Failure) -> str:
        return " ".join(f"{failure.path or failure.file_id or 'an input'}: {failure.message}".split())

    stores = _remote_stores(args.sources)
    if stores is None:
        sources, file_ids = _table_sources(args.sources), _store_file_ids(args.sources)
        empty = _without_responses(args.sources, sources)
    else:
        pairs, empty = _remote_pairs(stores), _empty_remote(stores)
    if len(empty) == len(args.sources):  # nothing to build tables from: say where to look, write nothing
        return error("; ".join(empty))
    for reason in empty:
        warn(reason)
    summary = None
    with warnings.catch_warnings():  # said above, in the command line's words
        warnings.filterwarnings("ignore", "no Deepgram responses", DGToolsWarning)
        try:
            if args.dataset:
                if stores is None:
                    dgtools.write_dataset(
                        sources, out, file_id=file_ids, on_error=failed.append, partition_on=keys or None
                    )
                else:  # fetched a few at a time, one part per million words: memory stays bounded
                    _write_batches(_remote_batches(pairs, failed.append, _BATCH_WORDS), out, keys)
                summary = _summary(out)  # footers and a few columns: memory stays bounded
            else:
                if stores is None:
                    tables = dgtools.to_tables(sources, file_id=file_ids, on_error=failed.append)
                else:
                    tables = _remote_tables(pairs, failed.append)
                if len(tables.requests) or not failed:  # never replace older tables with nothing
                    assert isinstance(out, Path)
                    tables.to_parquet(out)
                    summary = tables.summary()
        except ResponseFormatError:
            if not failed:
                raise  # with on_error, the builders raise this only when every input failed
    if args.dataset:
        where = f"{out}/<table>/{''.join(f'{k}=*/' for k in keys)}part-*.parquet"
    else:
        where = f"{out}/<table>.parquet"
    _quarantine(args.sources, failed)
    if summary is None:  # every input failed: nothing was written, the older output is kept
        if len(failed) == 1:
            return error(line(failed[0]))
        for failure in failed:
            warn(line(failure))
        return error(f"none of the {len(failed)} inputs is a usable Deepgram response; nothing was written")
    for failure in failed:
        warn(line(failure))
    print(summary)
    print(f"wrote {where} for {len(summary.rows)} tables: {', '.join(summary.rows)}")
    return 1 if failed else 0


def _summary(out: Path | str) -> Any:
    """The summary of the dataset at ``out``, a folder or a URL, read from its files."""
    if isinstance(out, str):
        from ..tables.remote import RemoteDataset

        return RemoteDataset(out).summary()
    from ..tables import dataset_summary

    return dataset_summary(out)


def _write_batches(batches: Iterator[dict[str, pa.Table]], out: Path | str, keys: Sequence[str]) -> None:
    """Write a dataset of ``batches`` (one part each) to a folder or a URL, as dgtools.write_dataset does."""
    if isinstance(out, str):
        from ..tables.remote import RemoteDataset

        RemoteDataset(out).write_all(batches, partition_on=keys)
    else:
        from ..tables.parquet import write_parts

        write_parts(batches, out, partition_on=keys)


def _without_responses(given: Sequence[str], sources: Sequence[str]) -> list[str]:
    """Why each input given holds no response to build tables from (empty: every input may hold some)."""
    from ..store import is_store
    from ..tables.read import no_responses, response_files

    reasons = []
    for s in given:
        if is_store(s):
            if not sources:
                reasons.append(
                    f"the store {s} holds no responses yet: transcribe into it first "
                    f"(dgtools transcribe AUDIO --store {s})"
                )
        elif Path(s).is_dir() and not response_files(s):
            reasons.append(no_responses(s, command_line=True))
    return reasons


def _quarantine(sources: Sequence[str], failed: Sequence[Any]) -> None:
    """Move the unreadable responses of raw stores to their quarantine/ (the next transcribe requests them again)."""
    from ..store import RemoteStore, Store, is_store

    for s in sources:
        if _is_remote(s):
            _quarantine_remote(RemoteStore(s), failed)
            continue
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
                warn(f"{failure.path}: {failure_note}")


def _quarantine_remote(store: RemoteStore, failed: Sequence[Any]) -> None:
    """:func:`_quarantine` for a store in object storage: each failure named by its response URL there."""
    from ..store.keys import is_key

    for failure in failed:
        path = failure.path if isinstance(failure.path, str) else ""
        key = path.rsplit("/", 1)[-1].removesuffix(".json")
        if is_key(key) and path == store.path(key) and store.has(key):
            store.quarantine(key, failure.message)
            warn(f"{path}: moved to {store.url}/quarantine; the next 'dgtools transcribe' requests it again")


def _table_sources(sources: Sequence[str]) -> list[str]:
    """Response files and folders; a raw store (``dgtools transcribe --store``) becomes its responses."""
    from ..store import is_store, store_sources

    if not any(is_store(s) for s in sources):
        return list(sources)
    if not all(is_store(s) for s in sources):
        raise ConfigError("give either raw stores or response files/folders to 'dgtools tables', not both")

    return [str(p) for s in sources for p, _ in store_sources(s)]


def _store_file_ids(sources: Sequence[str]) -> list[str] | None:
    """The file ids of a store's responses, each its own: a file answered twice gets ``<id>#2``."""
    from ..store import is_store, store_sources, unique_file_ids

    if not sources or not is_store(sources[0]):
        return None
    ids, renamed = unique_file_ids(fid for s in sources for _, fid in store_sources(s))
    for fid, given in renamed:
        warn(f"{fid} has more than one response in the store (other options?); the tables call it {given}")
    return ids


# ------------------------------------------------ raw stores in object storage (s3://bucket/prefix)

#: ``(store, response URL, file_id)`` of one response in a store in object storage.
_RemotePair = tuple["RemoteStore", str, str]


def _is_remote(source: str) -> bool:
    """Whether a SOURCE is in object storage (``s3://...``); a ``file://`` URL is a local path."""
    return is_url(source) and not source.startswith("file://")


def _remote_stores(sources: Sequence[str]) -> list[RemoteStore] | None:
    """The stores of SOURCEs given as URLs (credentials from the environment); None when none is a URL."""
    if not any(_is_remote(s) for s in sources):
        return None
    if not all(_is_remote(s) for s in sources):
        raise ConfigError(
            "give either raw stores in object storage (s3://...) or local response files, folders and stores, "
            "not both"
        )
    from ..store import RemoteStore

    return [RemoteStore(s) for s in sources]


def _empty_remote(stores: Sequence[RemoteStore]) -> list[str]:
    """Why each store holds nothing to build tables from (empty: every one may hold some)."""
    return [
        f"nothing is stored under {st.url} yet (no dgtools store there): transcribe into it first "
        f"(dgtools transcribe AUDIO --store {st.url})"
        for st in stores
        if not st.is_store()
    ]


def _remote_pairs(stores: Sequence[RemoteStore]) -> list[_RemotePair]:
    """Every response of the stores with its file id, each its own (as :func:`_store_file_ids` gives)."""
    from ..store import store_sources, unique_file_ids

    pairs = [(st, url, fid) for st in stores if st.is_store() for url, fid in store_sources(st)]
    ids, renamed = unique_file_ids(fid for _, _, fid in pairs)
    for fid, given in renamed:
        warn(f"{fid} has more than one response in the store (other options?); the tables call it {given}")
    return [(st, url, fid) for (st, url, _), fid in zip(pairs, ids, strict=True)]


def _remote_batches(
    pairs: Sequence[_RemotePair], on_error: Callable[[Failure], None] | None, batch_words: int | None
) -> Iterator[dict[str, pa.Table]]:
    """The tables of ``pairs``, fetched :data:`_FETCH` at a time, in batches of about ``batch_words`` words.

    ``on_error`` None: an input that is not a Deepgram response raises; else it receives it, and
    :class:`~dgtools.ResponseFormatError` is raised at the end when every input failed.
    """
    import pyarrow as pa

    from ..exceptions import ResponseFormatError
    from ..tables.build import build_shard_blobs
    from ..tables.schema import TABLE_NAMES

    held: list[dict[str, pa.Table]] = []
    words = built = failures = 0
    for start in range(0, len(pairs), _FETCH):
        chunk = pairs[start : start + _FETCH]
        blobs = []
        for store in dict.fromkeys(st for st, _, _ in chunk):
            mine = [(url, fid) for st, url, fid in chunk if st is store]
            fetched = store.read_many([url.rsplit("/", 1)[-1].removesuffix(".json") for url, _ in mine])
            blobs += [(data, fid, url) for data, (url, fid) in zip(fetched, mine, strict=True)]
        tables, failed = build_shard_blobs(blobs, on_error="raise" if on_error is None else "skip")
        for failure in failed:
            assert on_error is not None
            on_error(failure)
        failures += len(failed)
        built += tables["requests"].num_rows
        words += tables["words"].num_rows
        held.append(tables)
        if batch_words is not None and words >= batch_words:
            yield {name: pa.concat_tables([t[name] for t in held]) for name in TABLE_NAMES}
            held, words = [], 0
    if failures and not built:
        raise ResponseFormatError(f"none of the {failures} stored responses is a usable Deepgram response")
    if held:
        yield {name: pa.concat_tables([t[name] for t in held]) for name in TABLE_NAMES}


def _remote_tables(pairs: Sequence[_RemotePair], on_error: Callable[[Failure], None] | None) -> Tables:
    """The tables of ``pairs`` in memory (as :func:`dgtools.to_tables` of the same files gives them)."""
    from ..tables import Tables

    failed: list[Failure] = []

    def report(failure: Failure) -> None:
        failed.append(failure)
        if on_error is not None:
            on_error(failure)

    batches = list(_remote_batches(pairs, report if on_error is not None else None, None))
    return Tables.from_arrow(batches[0] if batches else {}, failures=failed)


# --------------------------------------------------------------------------- dgtools estimate


def add_estimate(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "estimate",
        help="estimate what transcribing some audio would cost, without sending anything",
        description=(
            "Find the audio as 'dgtools transcribe' would, probe every file's duration locally and price "
            "it with dgtools.pricing.PRICES (dated, editable), for the model of --model. Files already in "
            "--store for the same options and engine are not counted, nor the same audio twice. No key "
            "is needed; nothing is sent or written (in Python: dgtools.estimate)."
        ),
        epilog="Give the same Deepgram options as to 'dgtools transcribe', so the store keys match.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio file, folder, glob or URL")
    p.add_argument(
        "--store",
        metavar="DIR",
        help="a raw-response store, a folder or a URL (s3://bucket/prefix, credentials from the "
        "environment): files it holds for the same options are not counted (default: none)",
    )
    p.add_argument("--pattern", action="append", metavar="GLOB", help="only files matching GLOB (repeatable)")
    p.add_argument(
        "--engine",
        choices=["auto", "deepgram", "whisper", "local"],
        default="deepgram",
        help="price for deepgram (the API), whisper or local (the offline engines: free) or auto (as "
        "transcribe would choose); the store keys depend on it (default: deepgram)",
    )
    add_whisper_model_arg(p)
    p.add_argument(
        "--api-version", choices=["v1", "v2"], default=None,
        help="v2: the files would go to Deepgram's old API (transcribe --api-version v2), whose answers "
        "are stored apart from v1's (default: v1)",
    )  # fmt: skip
    add_option_args(p)
    p.set_defaults(run=_run_estimate)


def _run_estimate(args: argparse.Namespace) -> int:
    from ..batch.estimate import estimate

    found = estimate(
        list(args.paths),
        store=args.store,
        patterns=tuple(args.pattern or ("*",)),
        engine=args.engine,
        **({"whisper_model": args.whisper_model} if args.whisper_model else {}),
        **({"api_version": args.api_version} if args.api_version else {}),
        **options_from(args),
    )
    print(cli_text(str(found)))
    for row in found.files.itertuples():
        if row.status in ("skipped", "ignored"):
            warn(f"{row.file}: {row.note}")
    return 0


# --------------------------------------------------------------------------- dgtools doctor


def add_doctor(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "doctor",
        help="check credentials and the endpoint with one short request",
        description=(
            "Check that a key is present and well formed, that the endpoint answers, tell a Token/Bearer "
            "mix-up apart, and send one second of silence to see a request round-trip (cost: 1 second of audio)."
        ),
    )
    add_endpoint_args(p)
    p.add_argument("--model", default=None, help="model for the test request")
    p.set_defaults(run=_run_doctor)


def _run_doctor(args: argparse.Namespace) -> int:
    from ..doctor import doctor

    report = doctor(base_url=args.base_url, region=args.region, model=args.model)
    for line in report.lines:
        print(cli_syntax(line))
    return 0 if report.ok else 1


# --------------------------------------------------------------------------- dgtools serve


def add_serve(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "serve",
        help="run a local Deepgram-compatible server (for tests and offline work)",
        description=(
            "Answer POST /v1/listen, POST /v2/listen (the old brain.deepgram.com API, HTTP Basic auth, its "
            "response shape), and the live WebSocket /v1/listen and /v2/listen (Flux), on HOST:PORT as "
            "Deepgram does (auth check, status codes, error bodies, options validated), from an engine: 'synthetic' makes a deterministic response from the audio "
            "length, 'replay' answers recorded responses keyed by the audio's sha256. Aura text-to-speech, "
            "POST /v1/speak and its WebSocket, is answered in Deepgram's formats by the espeak-ng program "
            "(apt-get install espeak-ng): a robot voice, for tests and offline work. Fault injection options "
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
        choices=["synthetic", "replay", "local", "whisper"],
        default="synthetic",
        help="what answers: synthetic (a transcript of the audio's length), replay (--folder), local "
        "(pocketsphinx) or whisper (faster-whisper; pip install 'dgtools[whisper]') (default: synthetic)",
    )
    add_whisper_model_arg(p)
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
        "--basic-user",
        metavar="USER",
        help="with --basic-password: the only username POST /v2/listen (the old brain.deepgram.com API, "
        "HTTP Basic) accepts; default DEEPGRAM_USERNAME; without a pair, any non-empty one is accepted",
    )
    p.add_argument(
        "--basic-password",
        metavar="PASSWORD",
        help="its password; prefer DEEPGRAM_PASSWORD, which is used when --basic-password is not given: "
        "a password on the command line shows in ps",
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
    p.add_argument(
        "--stream-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds a WebSocket /v1/listen or /v2/listen stream may go without audio (or KeepAlive), and a "
        "/v1/speak stream without a message, before it is closed 1011 NET-0001 (default: 10, as Deepgram's listen)",
    )
    p.add_argument(
        "--stream-max-segment",
        type=float,
        default=None,
        metavar="S",
        help="with --engine local or whisper: the longest piece of a WebSocket stream transcribed at once, "
        "in audio seconds; pauses end pieces sooner (default: 15)",
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
    g.add_argument(
        "--stream-drop-after",
        type=float,
        default=None,
        metavar="S",
        help="drop a WebSocket stream (no close frame) once S audio seconds have arrived on it",
    )
    g.add_argument(
        "--stream-drops",
        type=int,
        default=None,
        metavar="N",
        help="drop only the first N streams that reach --stream-drop-after (default: every one)",
    )
    g.add_argument(
        "--final-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="hold back each final Results (Flux: EndOfTurn) message of a WebSocket stream S seconds (order is kept)",
    )
    g.add_argument("--callback-twice", type=int, default=0, metavar="N",
                   help="deliver the first N callbacks (/v1/listen?callback=) twice, as Deepgram may")  # fmt: skip
    g.add_argument("--callback-unknown", type=int, default=0, metavar="N",
                   help="after each of the first N callbacks, send a copy under a request_id nobody asked for")  # fmt: skip
    g.add_argument("--callback-retry-base", type=float, default=0.5, metavar="S",
                   help="seconds before the first retry of a failed callback delivery, doubling (default: 0.5)")  # fmt: skip
    g.add_argument("--seed", type=int, default=0, help="seed of the fault sequence")
    p.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    import os

    if args.engine == "replay" and not args.folder:
        raise ConfigError("--engine replay needs --folder DIR of recorded responses")
    local_only(args.folder, "--folder", "the replay engine reads a local folder of recorded responses")
    if args.whisper_model and args.engine != "whisper":
        raise ConfigError(f"--whisper-model is for --engine whisper, not --engine {args.engine}")
    from ..server import run

    env_key = os.environ.get("DEEPGRAM_API_KEY", "").strip()
    api_keys = args.api_key or ([env_key] if env_key else [])
    user = args.basic_user or os.environ.get("DEEPGRAM_USERNAME", "").strip()
    if bool(user) != bool(args.basic_password or os.environ.get("DEEPGRAM_PASSWORD")):
        raise ConfigError(
            "POST /v2/listen's Basic auth needs both a username and a password: pass --basic-user with "
            "DEEPGRAM_PASSWORD set (or --basic-password), or neither"
        )
    basic_auth = [(user, args.basic_password or os.environ["DEEPGRAM_PASSWORD"])] if user else []
    limits = {
        name: value
        for name, value in (
            ("max_body_bytes", args.max_body_bytes),
            ("header_timeout", args.header_timeout),
            ("body_timeout", args.body_timeout),
            ("keep_alive_timeout", args.keep_alive_timeout),
            ("stream_timeout", args.stream_timeout),
            ("stream_max_segment", args.stream_max_segment),
        )
        if value is not None
    }
    run(
        host=args.host,
        port=args.port,
        engine=args.engine,
        engine_options={"model": args.whisper_model} if args.whisper_model else None,
        folder=args.folder,
        api_keys=api_keys,
        basic_auth=basic_auth,
        latency=args.latency,
        jitter=args.jitter,
        rate_429=args.rate_429,
        retry_after=args.retry_after,
        rate_5xx=args.rate_5xx,
        drop_rate=args.drop_rate,
        payment_after=args.payment_after,
        max_concurrent=args.max_concurrent,
        retry_after_concurrent=args.retry_after_concurrent,
        stream_drop_after=args.stream_drop_after,
        stream_drops=args.stream_drops,
        callback_twice=args.callback_twice,
        callback_unknown=args.callback_unknown,
        callback_retry_base=args.callback_retry_base,
        final_delay=args.final_delay,
        seed=args.seed,
        **limits,
    )
    return 0
