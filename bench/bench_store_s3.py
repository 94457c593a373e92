"""Throughput of the raw store on S3 (moto's server on 127.0.0.1) against the local store, in one run.

Peers, each storing the same ``--n`` real Deepgram responses (the fixtures, cycled, each made unique)
into a fresh store, then reading them all back:

``local``
    :class:`dgtools.store.Store` in a temp folder: ``write_many`` (group commit: shared syncs) and
    ``write_bytes`` one at a time (temp file, fsync, link, fsync of the folder); ``read_bytes``.
``s3``
    :class:`dgtools.store.RemoteStore` at ``s3://bench/<run>`` on moto's S3 server, started here on
    127.0.0.1 in its own process (``--server thread``: ``ThreadedMotoServer`` in this one, sharing
    the GIL with the client, as the tests run it):
    ``write_many`` (conditional PUTs, up to 32 in flight), ``write_bytes`` one at a time,
    ``read_many`` (concurrent GETs) and ``read_bytes`` one at a time.
``boto3``
    The floor on that server: plain ``put_object(IfNoneMatch="*")`` and ``get_object`` calls in a loop
    (boto3, synchronous), to which the store's one-at-a-time calls compare.

Both stores also rebuild their tables (``store_tables``), the end-to-end read, and the tables go
to a Parquet dataset in a temp folder and at ``s3://bench/<run>/dataset`` (``write_dataset``: one
PUT per table, ``_SUCCESS`` last) and are read back (``read_parquet``).  Each figure is the
best (``--stat min``) or median of ``--repeats`` runs; ratios are local / s3 (how many times faster
the local store is).  moto is an in-memory emulator: the figures measure the store's client-side
cost and HTTP round trips on loopback, not AWS latency (tens of ms per request), under which the
concurrent ``write_many``/``read_many`` matter more.

Usage::

    python bench/bench_store_s3.py                 # 400 responses, 3 repeats
    python bench/bench_store_s3.py --n 100 --repeats 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _env import environment  # bench/_env.py (this folder is on sys.path when run as a script)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIXTURES = ROOT.parent / "shared" / "fixtures" / "deepgram"
RESULTS_DIR = HERE / "results"
DIGEST = "0123456789abcdef"


def corpus(n: int) -> list[tuple[str, bytes]]:
    """``n`` (key, response bytes): the real prerecorded fixtures cycled, each with its own request id."""
    files = sorted(FIXTURES.glob("prerecorded_nova*.json"))
    if not files:
        sys.exit(f"no fixtures in {FIXTURES}")
    bodies = [json.loads(p.read_bytes()) for p in files]
    out = []
    for i in range(n):
        body = bodies[i % len(bodies)]
        body.setdefault("metadata", {})["request_id"] = f"bench-{i}"
        key = f"{hashlib.sha256(str(i).encode()).hexdigest()}-{DIGEST}"
        out.append((key, json.dumps(body).encode()))
    return out


def start_moto(where: str) -> tuple[Callable[[], None], str]:
    """moto's S3 server on 127.0.0.1, in a thread of this process or in its own process; (stop, endpoint)."""
    if where == "thread":
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        return server.stop, f"http://{host}:{port}"
    with socket.socket() as s:  # a free port (a race with other programs is unlikely on loopback)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        sys.exit("moto's server did not start")

    def stop() -> None:
        proc.terminate()
        proc.wait(10)

    return stop, f"http://127.0.0.1:{port}"


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="responses per run (default 400)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--stat", choices=["min", "median"], default="min")
    ap.add_argument(
        "--server",
        choices=["process", "thread"],
        default="process",
        help="moto in its own process (default: client and server do not share a GIL) or in a thread",
    )
    args = ap.parse_args()

    import boto3

    from dgtools import read_parquet, write_dataset
    from dgtools.store import RemoteStore, Store, store_tables

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no log line per request: it costs the server time
    stop, endpoint = start_moto(args.server)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="bench")
    options = {
        "key": "bench",
        "secret": "bench",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    items = corpus(args.n)
    keys = [k for k, _ in items]
    mb = sum(len(d) for _, d in items) / 1e6
    times: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        times.setdefault(name, []).append(seconds)

    try:
        for rep in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                stores: dict[str, Any] = {
                    "local": (Store(Path(tmp) / "many"), Store(Path(tmp) / "one")),
                    "s3": (
                        RemoteStore(f"s3://bench/r{rep}/many", storage_options=options),
                        RemoteStore(f"s3://bench/r{rep}/one", storage_options=options),
                    ),
                }
                for peer, (many, one) in stores.items():
                    add(f"{peer} write_many", timed(lambda m=many: m.write_many(items)))
                    add(
                        f"{peer} write_bytes x n",
                        timed(lambda o=one: [o.write_bytes(k, d) for k, d in items]),
                    )
                    many.record_many({"key": k, "file_id": f"f{i}.json"} for i, k in enumerate(keys))
                    if peer == "s3":
                        add("s3 read_many", timed(lambda m=many: m.read_many(keys)))
                    add(f"{peer} read_bytes x n", timed(lambda o=one: [o.read_bytes(k) for k in keys]))
                    add(f"{peer} store_tables", timed(lambda m=many: store_tables(m)))
                    assert many.read_bytes(keys[-1]) == items[-1][1]

                # the Parquet dataset of the same responses, written and read back (one part: PUT per table)
                tables = store_tables(stores["local"][0])
                add("local write_dataset", timed(lambda t=tmp, tb=tables: write_dataset(tb, Path(t) / "ds")))
                url = f"s3://bench/r{rep}/dataset"
                add(
                    "s3 write_dataset",
                    timed(lambda u=url, tb=tables: write_dataset(tb, u, storage_options=options)),
                )
                add("local read_parquet", timed(lambda t=tmp: read_parquet(Path(t) / "ds")))
                add("s3 read_parquet", timed(lambda u=url: read_parquet(u, storage_options=options)))

                def put_all(r: int = rep) -> None:
                    for k, d in items:
                        client.put_object(Bucket="bench", Key=f"raw{r}/{k}.json", Body=d, IfNoneMatch="*")

                def get_all(r: int = rep) -> None:
                    for k in keys:
                        client.get_object(Bucket="bench", Key=f"raw{r}/{k}.json")["Body"].read()

                add("boto3 put x n", timed(put_all))
                add("boto3 get x n", timed(get_all))
    finally:
        stop()

    pick = min if args.stat == "min" else statistics.median
    rate = {name: args.n / pick(ts) for name, ts in times.items()}
    ratios: dict[str, float] = {}
    print(
        f"{args.n} responses ({mb:.1f} MB), {args.repeats} repeats, {args.stat}; "
        f"moto S3 at {endpoint} ({args.server})"
    )
    print(f"{'operation':<24}{'responses/s':>14}")
    for name, r in rate.items():
        print(f"{name:<24}{r:>14,.0f}")
    pairs = [
        ("write_many", "local write_many", "s3 write_many"),
        ("write_bytes x n", "local write_bytes x n", "s3 write_bytes x n"),
        ("read (best each)", "local read_bytes x n", "s3 read_many"),
        ("read_bytes x n", "local read_bytes x n", "s3 read_bytes x n"),
        ("store_tables", "local store_tables", "s3 store_tables"),
        ("write_dataset", "local write_dataset", "s3 write_dataset"),
        ("read_parquet", "local read_parquet", "s3 read_parquet"),
    ]
    print("\nthe S3 floor: the store's one-at-a-time calls / plain boto3 calls (1.0 = no overhead):")
    for label, a, b in [
        ("put", "s3 write_bytes x n", "boto3 put x n"),
        ("get", "s3 read_bytes x n", "boto3 get x n"),
    ]:
        ratios[f"store/boto3 {label}"] = rate[a] / rate[b]
        print(f"  {label:<20}{ratios[f'store/boto3 {label}']:>8.2f}")
    print("\nlocal / s3 (times faster on the local store):")
    for label, a, b in pairs:
        ratios[label] = rate[a] / rate[b]
        print(f"  {label:<20}{ratios[label]:>8.2f}x")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"store_s3_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps(
            {
                "n": args.n,
                "megabytes": mb,
                "stat": args.stat,
                "server": args.server,
                "responses_per_second": rate,
                "local_over_s3": ratios,
                "environment": environment(["dgtools", "moto", "s3fs", "fsspec", "botocore"]),
            },
            indent=2,
        )
    )
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
