"""``dgtools stream FILE``: stream one file to WebSocket ``/v1/listen``, print finals as they arrive, write the tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .output import local_only
from .parser import add_endpoint_args, add_option_args, add_whisper_model_arg, options_from
from .transcribe import positive_seconds

_Subparsers = Any

__all__ = ["add_stream"]


def add_stream(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "stream",
        help="stream an audio file live over WebSocket and capture every message",
        description="Stream FILE to Deepgram's live /v1/listen (or dgtools serve) over WebSocket, print each "
        "final transcript as it arrives, capture every message in STORE/streams/ and write the tables as "
        "Parquet to --out. The key comes from DEEPGRAM_API_KEY (or DEEPGRAM_TOKEN).",
    )
    p.add_argument("file", metavar="FILE", help="an audio file (a 16-bit PCM WAV is sent as linear16)")
    p.add_argument(
        "--out", default="dgtools-out", metavar="DIR", help="where the tables go (default: dgtools-out)"
    )
    p.add_argument(
        "--store",
        default="dgtools-store",
        metavar="DIR",
        help="where the capture goes (default: dgtools-store)",
    )
    p.add_argument(
        "--realtime",
        type=float,
        default=1.0,
        metavar="X",
        help="pace: 1 sends at real time (default), 2 twice as fast, 0 as fast as the socket takes it",
    )
    p.add_argument("--chunk-ms", type=int, default=100, metavar="MS", help="audio per frame (default: 100)")
    p.add_argument("--interim-results", action="store_true", help="interim results as well as finals")
    p.add_argument("--endpointing", metavar="MS", help="silence that ends speech, in ms, or false")
    p.add_argument("--utterance-end-ms", type=int, metavar="MS", help="send UtteranceEnd after MS of silence")
    p.add_argument("--vad-events", action="store_true", help="send SpeechStarted events")
    p.add_argument(
        "--keepalive", type=positive_seconds, default=5.0, metavar="SECONDS",
        help="send KeepAlive after SECONDS without audio (default: 5)",
    )  # fmt: skip
    p.add_argument(
        "--reconnects", type=_count, default=3, metavar="N",
        help="open the socket again up to N times when it drops, resending the audio no final covered (default: 3)",
    )  # fmt: skip
    p.add_argument(
        "--container", action="store_true",
        help="send the file's bytes as they are instead of decoding it to linear16 (no reconnects then)",
    )  # fmt: skip
    p.add_argument(
        "--engine", choices=["auto", "deepgram", "whisper", "local"], default="auto",
        help="deepgram (the API), whisper or local (offline: a dgtools serve on 127.0.0.1 answers), or auto: "
        "Deepgram when a key or --base-url is given, else the best offline engine (default: auto)",
    )  # fmt: skip
    add_whisper_model_arg(p)
    add_option_args(p)
    add_endpoint_args(p)
    p.set_defaults(run=_run_stream)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number, 0 or more")
    return int(text)


def _run_stream(args: argparse.Namespace) -> int:
    from ..batch.settings import engine_choice
    from ..exceptions import ConfigError
    from ..live import stream
    from ..live.messages import final_span, final_text, is_final

    local_only(args.out, "--out", "give a local folder for the tables")
    local_only(args.store, "--store", "the stream's capture is written line by line to a local store folder")
    if args.whisper_model and args.engine not in ("whisper", "auto"):
        raise ConfigError(f"--whisper-model is for --engine whisper, not --engine {args.engine}")
    engine, why = engine_choice(args.engine, base_url=args.base_url)
    print(why, flush=True)

    options: dict[str, Any] = options_from(args)
    if args.interim_results:
        options["interim_results"] = True
    if args.vad_events:
        options["vad_events"] = True
    if args.utterance_end_ms is not None:
        options["utterance_end_ms"] = args.utterance_end_ms
    if args.endpointing is not None:
        options["endpointing"] = args.endpointing

    def show(message: dict[str, Any]) -> None:
        if is_final(message) and (text := final_text(message)):
            start, end = final_span(message)
            print(f"[{start:7.2f} - {end:7.2f}] {text}", flush=True)

    run = stream(
        args.file, store=args.store, realtime=args.realtime, chunk_ms=args.chunk_ms, base_url=args.base_url,
        region=args.region, engine=engine, whisper_model=args.whisper_model, keepalive=args.keepalive, reconnects=args.reconnects, container=args.container,
        on_message=show, progress=False, **options,
    )  # fmt: skip
    tables = run.tables
    again = f" ({run.reconnects} reconnect(s))" if run.reconnects else ""
    out = Path(args.out)
    tables.to_parquet(out)
    print(
        f"{len(run.messages)} messages ({len(run.finals)} finals) for {run.audio_seconds:.2f} audio s in "
        f"{run.wall_seconds:.2f} s{again}; captured in {run.capture}; wrote {out / '<table>.parquet'}"
    )
    return 0
