"""``dgtools receive``: store the transcripts Deepgram delivers to a callback URL.

A thin shell over :func:`dgtools.collect_callbacks`.
"""

from __future__ import annotations

import argparse
from typing import Any

from .output import local_only
from .parser import DEFAULT_STORE

__all__ = ["add_receive"]

_Subparsers = Any


def add_receive(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "receive",
        help="receive callback deliveries into the store until nothing is pending",
        description=(
            "Serve a small HTTP receiver on HOST:PORT for the transcripts Deepgram POSTs (or PUTs) to the "
            "callback URL of 'dgtools.transcribe(..., callback=URL)'. A delivery is stored (atomically, under "
            "its file's key, as a normal answer) only when its metadata.request_id is pending in --store; a "
            "repeated delivery is stored once; anything else is refused with a 4xx. Deepgram calls back only "
            "public HTTPS URLs: put a tunnel or TLS proxy (ngrok, cloudflared, Caddy) in front of this port. "
            "Returns when nothing is pending, or after --timeout seconds."
        ),
    )
    p.add_argument(
        "--store", default=DEFAULT_STORE, help=f"the store of the callback run (default: {DEFAULT_STORE})"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8766, help="port to listen on (default: 8766)")
    p.add_argument(
        "--timeout", type=float, default=None, help="stop after this many seconds (default: no limit)"
    )
    p.add_argument(
        "--keep-serving",
        action="store_true",
        help="keep serving when nothing is pending (until --timeout or Ctrl-C)",
    )
    p.add_argument(
        "--key-id",
        default=None,
        help="the id of the API key that sent the requests: a delivery whose dg-token header names "
        "another key is refused (403)",
    )
    p.set_defaults(run=_run_receive)


def _run_receive(args: argparse.Namespace) -> int:
    from ..callbacks import collect_callbacks

    local_only(
        args.store,
        "--store",
        "callback runs record their pending requests in a local store folder: give the --store folder of "
        "'dgtools transcribe --callback'",
    )
    summary = collect_callbacks(
        args.store,
        host=args.host,
        port=args.port,
        until_done=not args.keep_serving,
        timeout=args.timeout,
        key_id=args.key_id,
    )
    print(f"callbacks: {summary}")
    for line in summary.refusals:
        print(f"  refused {line}")
    return 0 if summary.pending == 0 else 1
