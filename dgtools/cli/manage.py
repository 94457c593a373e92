"""``dgtools keys list|create|delete`` and ``dgtools usage``: Deepgram's Manage API from the command line.

The key comes from ``DEEPGRAM_API_KEY`` (never a flag: a flag shows in ``ps``).  ``keys create``
prints the new key's secret on stdout, alone on one line and only there, so that
``KEY=$(dgtools keys create --comment ci)`` captures it; what it is and the warning that it is not
shown again go to stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

from .output import warn
from .parser import add_endpoint_args

__all__ = ["add_keys", "add_usage"]

_Subparsers = Any


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", metavar="ID", help="project id or name (default: the key's only project)")
    add_endpoint_args(p)


def _manage(args: argparse.Namespace) -> Any:
    from ..manage import Manage

    return Manage(base_url=args.base_url, region=args.region)


def add_keys(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "keys",
        help="list, create or delete the project's API keys (Deepgram's Manage API)",
        description=(
            "List, create or delete API keys of a Deepgram project with the key in DEEPGRAM_API_KEY "
            "(it needs the keys:read / keys:write scope, or member). 'create' prints the new key once, on "
            "stdout; Deepgram never shows it again."
        ),
    )
    actions = p.add_subparsers(
        title="actions", dest="action", metavar="ACTION", required=True, help="list, create or delete"
    )
    listing = actions.add_parser("list", help="the project's keys (never their secrets)",
                                 description="List the project's API keys: id, comment, scopes, created, expiry.")  # fmt: skip
    listing.add_argument("--status", choices=["active", "expired"], help="only active or only expired keys")
    _common(listing)
    listing.set_defaults(run=_run_list)

    create = actions.add_parser("create", help="create a key and print its secret once",
                                description="Create an API key. Its secret goes to stdout, this once.")  # fmt: skip
    create.add_argument("--comment", required=True, metavar="TEXT", help="what the key is for (required)")
    create.add_argument("--scope", action="append", metavar="SCOPE",
                        help="a scope of the key, repeatable (default: usage:write, to transcribe and speak)")  # fmt: skip
    create.add_argument("--expires-in", type=float, metavar="SECONDS", help="seconds until the key expires")
    create.add_argument("--tag", action="append", metavar="TAG", help="a tag of the key, repeatable")
    _common(create)
    create.set_defaults(run=_run_create)

    delete = actions.add_parser("delete", help="delete a key: it stops working at once",
                                description="Delete the API key KEY_ID (an api_key_id from 'dgtools keys list').")  # fmt: skip
    delete.add_argument("key_id", metavar="KEY_ID", help="the api_key_id of the key to delete")
    _common(delete)
    delete.set_defaults(run=_run_delete)


def _run_list(args: argparse.Namespace) -> int:
    with _manage(args) as m:
        df = m.keys(args.project, status=args.status)
    if df.empty:
        print("no keys")
        return 0
    shown = df[["api_key_id", "comment", "scopes", "created", "expiration_date"]].copy()
    shown["scopes"] = [",".join(s) for s in shown["scopes"]]
    print(shown.to_string(index=False))
    return 0


def _run_create(args: argparse.Namespace) -> int:
    with _manage(args) as m:
        key = m.create_key(args.project, args.comment, args.scope or ("usage:write",),
                           expires_in=args.expires_in, tags=args.tag or ())  # fmt: skip
    expires = "" if key.expiration_date is None else f", expires {key.expiration_date.isoformat()}"
    warn(
        f"created key {key.api_key_id} ({key.comment!r}, scopes {','.join(key.scopes)}{expires}); its secret is "
        "on stdout and is not shown again: store it now"
    )
    print(key.secret)
    return 0


def _run_delete(args: argparse.Namespace) -> int:
    with _manage(args) as m:
        m.delete_key(args.project, args.key_id)
    print(f"deleted key {args.key_id}")
    return 0


def add_usage(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "usage",
        help="the project's usage per day, or its requests with their billed cost",
        description=(
            "The project's usage per day (hours of audio, requests, characters spoken) from Deepgram's Manage "
            "API, with the key in DEEPGRAM_API_KEY (scope usage:read, or member); --requests lists each "
            "request with its billed cost instead."
        ),
    )
    p.add_argument("--start", metavar="DATE", help="from this date, YYYY-MM-DD (or YYYY-MM-DDTHH:MM:SS)")
    p.add_argument("--end", metavar="DATE", help="up to this date, YYYY-MM-DD, included")
    p.add_argument("--requests", action="store_true", help="list every request with its billed cost (usd)")
    _common(p)
    p.set_defaults(run=_run_usage)


def _run_usage(args: argparse.Namespace) -> int:
    with _manage(args) as m:
        if args.requests:
            df = m.requests(args.project, start=args.start, end=args.end)
            if df.empty:
                print("no requests")
                return 0
            cols = ["request_id", "created", "endpoint", "code", "duration", "characters", "usd"]
            print(df[cols].to_string(index=False))
            print(f"total: {len(df)} request(s), ${df['usd'].sum():f}")
            return 0
        df = m.usage(args.project, start=args.start, end=args.end)
    if df.empty:
        print("no usage")
        return 0
    print(df.to_string(index=False))
    return 0
