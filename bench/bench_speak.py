"""Benchmark dgtools' text to speech: REST throughput against its floor, WebSocket time to first audio.

The local server (``create_app`` with ``Faults(latency=L)``, default 200 ms) runs in a separate
process.  Two scenarios:

``rest``
    N distinct texts (default 200) spoken at concurrency C (default 16) through ``POST /v1/speak``,
    whose answers wait ``latency`` seconds each: the floor is ``ceil(N / C) * latency`` (200 texts
    at 16 with 200 ms: 2.6 s; ``N * latency / C`` = 2.5 s when requests overlap perfectly).
    Peers: ``bare_httpx`` (one ``httpx.AsyncClient`` with C connections, a semaphore, a gather of
    POSTs reading each answer) and ``dgtools_speak`` (the whole ``dgtools.aspeak(texts,
    concurrency=C)``: planning, the store, retries, joining the files into ``out``).  Printed:
    wall time, ratio to the floor, client CPU per text.
``ws``
    N streams one after another (default 30), each one text: ``Speak`` + ``Flush``, then
    ``Close`` after ``Flushed``.  Peers: ``bare_websockets`` (``websockets.asyncio.client.connect``
    with the same header and query, the two messages, the first binary frame timed) and
    ``dgtools_speak_stream`` (``dgtools.aspeak_stream(text, flush="never")``, the first frame
    timed by ``on_audio``).  Printed: median and p90 of the time to the first audio byte from
    the call (connecting included) and from the ``Flush`` leaving, and dgtools' ratio to bare.
    The server injects no faults into WebSocket ``/v1/speak`` (its latency applies to REST only),
    so these times are the client's and the voice's.

By default the server's voice is ``prebuilt``: the audio of one sentence, synthesized once per
format with espeak-ng and answered for every text (espeak-ng takes 20-50 ms of server CPU per
text, which on 2 cores would bound the REST scenario, not the client); ``--server stock`` speaks
every text.

Usage::

    python bench/bench_speak.py            # 200 texts at C=16, 30 streams (~20 s)
    python bench/bench_speak.py --quick    # 64 texts, 10 streams (~8 s)

Results go to stdout and, as JSON, to ``bench/results/speak-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _env import environment  # bench/_env.py (this folder is on sys.path when run as a script)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_DIR = HERE / "results"
API_KEY = "0123456789abcdef0123456789abcdef01234567"
MODEL = "aura-2-thalia-en"
QUERY = {"model": MODEL, "encoding": "linear16", "container": "wav", "sample_rate": "24000"}
WS_QUERY = {"model": MODEL, "encoding": "linear16", "sample_rate": "24000"}
SENTENCE = "Thank you for calling, your order number is five five five, one two three."


def texts(n: int, seed: str = "") -> list[str]:
    """``n`` distinct texts of ordinary length (distinct: the store sends each)."""
    return [f"This is text number {i}{seed} of the benchmark. {SENTENCE}" for i in range(n)]


# =========================================================================== server


def server_main(port: int, latency: float, mode: str) -> None:
    """Serve on 127.0.0.1:port in the foreground (the server subprocess)."""
    import uvicorn

    import dgtools.server.speak as speak
    from dgtools.server import Faults, SyntheticEngine, create_app
    from dgtools.server.testing import _http_impl

    if mode == "prebuilt":
        real = speak._synthesize
        cache: dict[Any, bytes] = {}

        def prebuilt(text: str, pairs: list[tuple[str, str]], fmt: Any, *, stream: bool) -> bytes:
            key = (tuple(pairs), fmt, stream)
            if key not in cache:
                cache[key] = real(SENTENCE, pairs, fmt, stream=stream)
            return cache[key]

        speak._synthesize = prebuilt  # type: ignore[assignment]
    app = create_app(engine=SyntheticEngine(), faults=Faults(latency=latency))
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", http=_http_impl(), lifespan="off",
        access_log=False,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


class Server:
    """The local server in its own process."""

    def __init__(self, latency: float, mode: str) -> None:
        self.latency, self.mode = latency, mode
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> Server:
        import httpx

        for _ in range(5):
            port = _free_port()
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--_server",
                str(port),
                str(self.latency),
                self.mode,
            ]
            self.proc = subprocess.Popen(cmd, env=_child_env(), cwd=ROOT)
            self.url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    httpx.get(self.url + "/_dgtools/stats", timeout=2, trust_env=False).raise_for_status()
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                r = httpx.post(  # synthesizes the prebuilt answer once, outside any timing
                    self.url + "/v1/speak", params=QUERY, json={"text": "warm up"},
                    headers={"Authorization": f"Token {API_KEY}"}, timeout=60, trust_env=False,
                )  # fmt: skip
                r.raise_for_status()
                self.answer_bytes = len(r.content)
                return self
            self.stop()
        raise RuntimeError("the local server did not start")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def _proc_cpu(pid: int) -> float | None:
    """user + system CPU seconds of process ``pid`` (Linux /proc), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# =========================================================================== REST peers


async def rest_bare_httpx(url: str, items: list[str], c: int, work: Path) -> dict[str, Any]:
    import httpx

    sem = asyncio.Semaphore(c)
    headers = {"Authorization": f"Token {API_KEY}"}
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(base_url=url, timeout=None, limits=limits, trust_env=False) as client:

        async def one(text: str) -> int:
            async with sem:
                r = await client.post("/v1/speak", params=QUERY, headers=headers, json={"text": text})
                r.content  # noqa: B018  (read)
                return r.status_code

        codes = await asyncio.gather(*(one(t) for t in items))
    bad = [code for code in codes if code != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} of {len(codes)} requests failed: {sorted(set(bad))}")
    return {}


async def rest_dgtools_speak(url: str, items: list[str], c: int, work: Path) -> dict[str, Any]:
    import dgtools.speech

    store = Path(tempfile.mkdtemp(prefix="store-", dir=work))
    run = await dgtools.speech.aspeak(
        items, model=MODEL, encoding="linear16", container="wav", sample_rate=24000, concurrency=c,
        api_key=API_KEY, base_url=url, engine="deepgram", store=store, out=store / "out", progress=False,
    )  # fmt: skip
    s = run.summary()
    if s.get("spoken", 0) != len(items):
        raise RuntimeError(f"aspeak: {s}; first failure: {run.failures.head(1).to_dict('records')}")
    return {"retries": run.retries, "rate_limited": run.rate_limited}


REST_PEERS = {"bare_httpx": rest_bare_httpx, "dgtools_speak": rest_dgtools_speak}


# =========================================================================== WebSocket peers


async def ws_bare_websockets(url: str, text: str, work: Path) -> dict[str, float]:
    from urllib.parse import urlencode

    from websockets.asyncio.client import connect

    t0 = time.perf_counter()
    target = "ws" + url.removeprefix("http") + "/v1/speak?" + urlencode(WS_QUERY)
    first = flushed_at = None
    async with connect(target, additional_headers={"Authorization": f"Token {API_KEY}"}, max_size=None) as ws:
        await ws.send(json.dumps({"type": "Speak", "text": text}))
        await ws.send(json.dumps({"type": "Flush"}))
        sent = time.perf_counter()
        async for frame in ws:
            if isinstance(frame, bytes):
                if first is None:
                    first = time.perf_counter()
            elif json.loads(frame).get("type") == "Flushed":
                flushed_at = time.perf_counter()
                await ws.send(json.dumps({"type": "Close"}))
    assert first is not None and flushed_at is not None
    return {"ttfb_s": first - t0, "ttfb_after_flush_s": first - sent}


async def ws_dgtools_speak_stream(url: str, text: str, work: Path) -> dict[str, float]:
    import dgtools.speech.stream

    first: list[float] = []
    t0 = time.perf_counter()
    run = await dgtools.speech.stream.aspeak_stream(
        text, flush="never", model=MODEL, sample_rate=24000, api_key=API_KEY, base_url=url, store=work,
        on_audio=lambda chunk, tts: first.append(time.perf_counter()) if not first else None,
    )  # fmt: skip
    row = run.flushes.iloc[0]
    assert first and row.sequence_id == 0
    return {"ttfb_s": first[0] - t0, "ttfb_after_flush_s": float(row.ttfb_s)}


WS_PEERS = {"bare_websockets": ws_bare_websockets, "dgtools_speak_stream": ws_dgtools_speak_stream}


# =========================================================================== runs


def _reset(url: str) -> None:
    import httpx

    httpx.post(url + "/_dgtools/reset", timeout=10, trust_env=False).raise_for_status()


def run_rest(server: Server, n: int, c: int, repeats: int, work: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {p: [] for p in REST_PEERS}
    names = list(REST_PEERS)
    for name in names:  # warm-up: imports, first-call paths
        asyncio.run(REST_PEERS[name](server.url, texts(2, f"-warm-{name}"), 2, work))
    for rep in range(repeats):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            items = texts(n, f"-{name}-{rep}")
            gc.collect()
            _reset(server.url)
            s0, c0, t0 = _proc_cpu(server.pid), time.process_time(), time.perf_counter()
            extra = asyncio.run(REST_PEERS[name](server.url, items, c, work))
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            s1 = _proc_cpu(server.pid)
            out[name].append({
                "n": n, "c": c, "seconds": seconds, "cpu_seconds": cpu,
                "server_cpu_seconds": None if s0 is None or s1 is None else s1 - s0, **extra,
            })  # fmt: skip
            print(f"  rest {name:<22} rep {rep + 1}: {seconds:6.3f} s  cpu {cpu / n * 1e3:6.2f} ms/text",
                  file=sys.stderr, flush=True)  # fmt: skip
    return out


def run_ws(server: Server, n: int, repeats: int, work: Path) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {p: [] for p in WS_PEERS}

    async def series() -> None:
        for peer in WS_PEERS.values():  # warm-up
            await peer(server.url, "Warm up.", work)
        for rep in range(repeats):
            for i in range(n):  # alternate the peers stream by stream: the same conditions for both
                order = list(WS_PEERS) if (i + rep) % 2 == 0 else list(WS_PEERS)[::-1]
                for name in order:
                    out[name].append(await WS_PEERS[name](server.url, f"Stream {i}. {SENTENCE}", work))

    asyncio.run(series())
    return out


def _q(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def report(
    env: dict[str, Any], args: argparse.Namespace, rest: dict[str, Any], ws: dict[str, Any]
) -> dict[str, Any]:
    n, c, latency = args.n, args.concurrency, args.latency
    floor = math.ceil(n / c) * latency
    ideal = n * latency / c
    print(f"\nenvironment: python {env['python']}, dgtools {env['dgtools']} ({env['git']}), "
          f"websockets {env['websockets']}, httpx {env['httpx']}, uvicorn {env['uvicorn']}; "
          f"{env['cpus_usable']} usable cores, load {env['loadavg_start'][0]:.2f}; server voice: {args.server}")  # fmt: skip
    print(f"\nREST POST /v1/speak: {n} texts at C={c}, server latency {latency * 1e3:.0f} ms "
          f"(floor ceil(N/C) x latency = {floor:.2f} s; N x latency / C = {ideal:.2f} s)")  # fmt: skip
    print(
        f"{'peer':<24}{'wall s (min)':>13}{'/ floor':>9}{'/ N*L/C':>9}{'client CPU ms/text':>20}{'server CPU s':>14}"
    )
    summary: dict[str, Any] = {"rest": {}, "ws": {}}
    for name, runs in rest.items():
        best = min(runs, key=lambda r: r["seconds"])
        cpu = statistics.median(r["cpu_seconds"] for r in runs) / n * 1e3
        server_cpu = best["server_cpu_seconds"]
        summary["rest"][name] = {"seconds": best["seconds"], "over_floor": best["seconds"] / floor,
                                 "over_ideal": best["seconds"] / ideal, "cpu_ms_per_text": cpu}  # fmt: skip
        print(f"{name:<24}{best['seconds']:>13.3f}{best['seconds'] / floor:>9.3f}{best['seconds'] / ideal:>9.3f}"
              f"{cpu:>20.2f}{server_cpu if server_cpu is not None else float('nan'):>14.2f}")  # fmt: skip
    print(f"\nWebSocket /v1/speak: {args.streams} streams x {args.repeats} one after another, Speak + Flush "
          "(the server's latency fault does not apply to WebSocket /v1/speak)")  # fmt: skip
    print(f"{'peer':<24}{'TTFB ms p50':>12}{'p90':>8}{'after Flush p50':>17}{'p90':>8}")
    for name, runs in ws.items():
        a = [r["ttfb_s"] * 1e3 for r in runs]
        b = [r["ttfb_after_flush_s"] * 1e3 for r in runs]
        summary["ws"][name] = {"ttfb_ms_p50": statistics.median(a), "ttfb_ms_p90": _q(a, 0.9),
                               "after_flush_ms_p50": statistics.median(b), "after_flush_ms_p90": _q(b, 0.9)}  # fmt: skip
        print(
            f"{name:<24}{statistics.median(a):>12.2f}{_q(a, 0.9):>8.2f}{statistics.median(b):>17.2f}{_q(b, 0.9):>8.2f}"
        )
    if {"bare_websockets", "dgtools_speak_stream"} <= set(summary["ws"]):
        d, b0 = summary["ws"]["dgtools_speak_stream"], summary["ws"]["bare_websockets"]
        ratio, added = d["ttfb_ms_p50"] / b0["ttfb_ms_p50"], d["ttfb_ms_p50"] - b0["ttfb_ms_p50"]
        summary["ws"]["ratio_p50"], summary["ws"]["added_ms_p50"] = ratio, added
        print(f"dgtools / bare (TTFB p50, connect included): {ratio:.3f} ({added:+.2f} ms); after the Flush: "
              f"{d['after_flush_ms_p50'] / b0['after_flush_ms_p50']:.3f} "
              f"({d['after_flush_ms_p50'] - b0['after_flush_ms_p50']:+.2f} ms)")  # fmt: skip
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--n", type=int, default=None, help="texts in the REST scenario (default 200; --quick 64)"
    )
    ap.add_argument("--concurrency", type=int, default=16, help="REST concurrency (default 16)")
    ap.add_argument("--latency", type=float, default=0.2, help="server latency in seconds (default 0.2)")
    ap.add_argument(
        "--streams", type=int, default=None, help="WebSocket streams per peer (default 30; --quick 10)"
    )
    ap.add_argument(
        "--repeats", type=int, default=None, help="repeats of each scenario (default 2; --quick 1)"
    )
    ap.add_argument("--only", choices=("rest", "ws"), help="run one scenario only")
    ap.add_argument("--server", choices=("prebuilt", "stock"), default="prebuilt",
                    help="prebuilt (default): one sentence's audio answered for every text; stock: espeak-ng per text")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="smaller defaults (explicit flags win)")
    ap.add_argument("--no-json", action="store_true", help="do not write bench/results/speak-<time>.json")
    ap.add_argument("--_server", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._server:
        port, latency, mode = a._server
        server_main(int(port), float(latency), mode)
        return 0
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    a.n = a.n or (64 if a.quick else 200)
    a.streams = a.streams or (10 if a.quick else 30)
    a.repeats = a.repeats or (1 if a.quick else 2)
    env = environment(("httpx", "httpcore", "websockets", "uvicorn", "starlette", "dgtools"))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="dgtools-bench-speak-"))
    server = Server(a.latency, a.server).start()
    try:
        rest = {} if a.only == "ws" else run_rest(server, a.n, a.concurrency, a.repeats, work)
        ws = {} if a.only == "rest" else run_ws(server, a.streams, a.repeats, work)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    env["loadavg_end"] = os.getloadavg()
    env["elapsed_s"] = time.perf_counter() - started
    summary = report(env, a, rest, ws)
    print(f"\ntotal time {env['elapsed_s']:.0f} s")
    if not a.no_json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"speak-{stamp}.json"
        path.write_text(json.dumps({
            "environment": env, "args": {k: v for k, v in vars(a).items() if not k.startswith("_")},
            "summary": summary, "rest": rest, "ws": ws,
        }, indent=1, default=str))  # fmt: skip
        print(f"results: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
