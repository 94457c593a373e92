"""Benchmark dgtools' HTTP path (throughput, client CPU, connections) against its peers.

N one-second WAV files are sent to the local Deepgram-compatible server
(:mod:`dgtools.server`, run in a separate process so that the client's CPU is
measured alone) with a fixed answer latency (default 200 ms), at concurrency
C = 1, 8, 32, 64, for two response sizes: ``small`` (the synthetic engine's
default, a few KB) and ``470`` KB (about a 30-minute diarized call).

Peers (each (size, C, repeat) in a fresh subprocess of this script):

``bare_httpx``
    One ``httpx.AsyncClient`` with ``max_connections=C,
    max_keepalive_connections=C``, an ``asyncio.Semaphore(C)``, a gather of
    POSTs of each file's bytes, reading ``response.content``; nothing else.
    The CPU floor the targets compare against.
``bare_httpx_default``
    The same with httpx's default limits (100 connections, 20 kept alive):
    the trap (for information).
``bare_httpx_lanes``
    The same requests spread over ``ceil(C/16)`` AsyncClients of at most 16
    connections each, least busy first: the best layout found for httpx's
    default transport (httpcore), which dgtools used before its own
    transport (for information).
``dgtools_client``
    ``dgtools.api.client.DeepgramClient(max_connections=C)`` + semaphore + gather
    of ``transcribe_file(path, ListenOptions.from_kwargs(model="nova-3"))``:
    one httpx.AsyncClient on dgtools' ``PooledTransport``.
``dgtools_transcribe``
    The whole ``dgtools.atranscribe(folder, store=<fresh>, concurrency=C)``:
    collecting, hashing, planning and store writes included; its send phase
    (``dgtools.batch.send.SendLoop.drive``) is timed separately.
``deepgram_sdk``
    The official SDK's ``AsyncDeepgramClient`` (its default httpx client),
    semaphore + gather of ``client.listen.v1.media.transcribe_file(request=bytes,
    model="nova-3")``.

Each child imports, warms up with one request on a separate one-file folder
(imports, pydantic schemas ...), resets the server's counters, then times the
measured call: wall time (``time.perf_counter``), the client process's CPU time
(``time.process_time``, all threads) and the server process's CPU time
(``/proc/PID/stat``), and reads the server's ``connections`` (distinct client
ports seen) and ``in_flight_max``.

Usage::

    python bench/bench_client.py                                  # everything (~8 min on 2 cores)
    python bench/bench_client.py --n 200 --concurrency 8,32,64    # quicker
    python bench/bench_client.py --peers bare_httpx,dgtools_client --sizes 470

Results go to stdout and, as JSON, to ``bench/results/client-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import shutil
import socket
import statistics
import struct
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

PEERS = (
    "bare_httpx",
    "bare_httpx_default",
    "bare_httpx_lanes",
    "dgtools_client",
    "dgtools_transcribe",
    "deepgram_sdk",
)
DGTOOLS_PEERS = ("dgtools_client", "dgtools_transcribe")
SIZES = {"small": None, "470": 470.0}  # name -> SyntheticEngine(response_kb=...)
API_KEY = "0123456789abcdef0123456789abcdef01234567"  # the local server accepts any non-empty key
MODEL = "nova-3"
LANE = 16  # connections per AsyncClient in bare_httpx_lanes

TARGETS = {
    "wall_over_floor": {32: 1.08, 64: 1.12},  # dgtools wall / (ceil(N/C) * latency)
    "cpu_over_bare_ms": 0.5,  # dgtools CPU per request - bare_httpx CPU per request
}


# =========================================================================== audio


def write_audio(folder: Path, n: int, *, seed: int) -> list[Path]:
    """``n`` distinct 1-second WAV files (16 kHz mono 16-bit noise; distinct sha256)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        frames = rng.randbytes(32000)
        header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVE"
        header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
        header += b"data" + struct.pack("<I", len(frames))
        p = folder / f"call-{i:04d}.wav"
        p.write_bytes(header + frames)
        paths.append(p)
    return paths


# =========================================================================== server


class PrebuiltEngine:
    """The synthetic engine's answer, built once per query string, then re-sent.

    ``SyntheticEngine(response_kb=470)`` builds each response in Python: about
    45 ms of server CPU per request here, so the server, not the client, would
    bound throughput (about 22 requests/s on one core; the 64-way floor needs
    285/s).  This engine builds one answer per distinct query with the same
    SyntheticEngine, keeps its ``results`` as encoded JSON (``msgspec.Raw``,
    copied verbatim into every response) and answers every request with it
    and a fresh ``metadata`` (this request's ``request_id`` and ``sha256``).
    The client receives the same bytes shape and size as from the stock engine.
    """

    def __init__(self, response_kb: float | None) -> None:
        from dgtools.server import SyntheticEngine

        self.inner = SyntheticEngine(response_kb=response_kb)
        self._cache: dict[tuple[tuple[str, str], ...], tuple[dict[str, Any], Any]] = {}

    async def transcribe(
        self, *, audio: bytes | None, url: str | None, options: Any, request_id: str, sha256: str | None
    ) -> dict[str, Any]:
        import msgspec

        from dgtools.engines.base import option_pairs

        key = tuple(sorted(option_pairs(options)))
        hit = self._cache.get(key)
        if hit is None:
            full = await self.inner.transcribe(
                audio=audio, url=url, options=options, request_id=request_id, sha256=sha256
            )
            hit = self._cache[key] = (full["metadata"], msgspec.Raw(msgspec.json.encode(full["results"])))
        meta, results = hit
        return {"metadata": {**meta, "request_id": request_id, "sha256": sha256 or ""}, "results": results}


def server_main(
    port: int,
    size: str,
    mode: str,
    latency: float,
    max_concurrent: int | None = None,
    retry_after: float = 1.0,
) -> None:
    """Serve on 127.0.0.1:port in the foreground (the server subprocess)."""
    response_kb = SIZES[size]
    limit = (
        {"max_concurrent": max_concurrent, "retry_after_concurrent": retry_after} if max_concurrent else {}
    )
    if mode == "stock":  # exactly `dgtools serve`
        from dgtools.server import run

        run(
            host="127.0.0.1", port=port, engine="synthetic", latency=latency,
            response_kb=response_kb, log_level="warning", **limit,
        )  # fmt: skip
        return
    import uvicorn

    from dgtools.server import Faults, create_app
    from dgtools.server.testing import _http_impl

    app = create_app(engine=PrebuiltEngine(response_kb), faults=Faults(latency=latency, **limit))
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", http=_http_impl(), lifespan="off",
        access_log=False,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The local server in its own process."""

    def __init__(
        self,
        size: str,
        mode: str,
        latency: float,
        max_concurrent: int | None = None,
        retry_after: float = 1.0,
    ) -> None:
        self.size, self.mode, self.latency = size, mode, latency
        self.max_concurrent, self.retry_after = max_concurrent, retry_after
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, warm: Path) -> Server:
        import httpx

        for _ in range(5):
            port = _free_port()
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--_server",
                str(port),
                self.size,
                self.mode,
            ]
            cmd += [str(self.latency)]
            if self.max_concurrent:
                cmd += [str(self.max_concurrent), str(self.retry_after)]
            self.proc = subprocess.Popen(cmd, env=_child_env(), cwd=ROOT)
            self.url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    httpx.get(self.url + "/_dgtools/stats", timeout=2, trust_env=False).raise_for_status()
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                # build the answer for the benchmark's query once (prebuilt mode), outside any timing
                r = httpx.post(
                    self.url + "/v1/listen", params={"model": MODEL}, content=warm.read_bytes(),
                    headers={"Authorization": f"Token {API_KEY}"}, timeout=60, trust_env=False,
                )  # fmt: skip
                r.raise_for_status()
                self.response_bytes = len(r.content)
                return self
            self.stop()  # port taken or a crash: try another port
        raise RuntimeError(f"the local server ({self.size}, {self.mode}) did not start")

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


# =========================================================================== the peers
# Each: async (url, files, folder, c, work) -> extra fields for the result.  Every request must succeed.


def _check(codes: list[int]) -> None:
    bad = [c for c in codes if c != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} of {len(codes)} requests failed: statuses {sorted(set(bad))}")


async def _bare(url: str, files: list[Path], c: int, limits: Any) -> dict[str, Any]:
    import httpx

    sem = asyncio.Semaphore(c)
    headers = {"Authorization": f"Token {API_KEY}", "Content-Type": "application/octet-stream"}
    params = {"model": MODEL}
    kwargs = {} if limits is None else {"limits": limits}
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=None, **kwargs) as client:
        setup = time.perf_counter() - t0

        async def one(path: Path) -> int:
            async with sem:
                r = await client.post("/v1/listen", params=params, headers=headers, content=path.read_bytes())
                r.content  # noqa: B018  (already read; the point is that the body is there)
                return r.status_code

        _check(await asyncio.gather(*(one(p) for p in files)))
    return {"setup_s": setup}


async def peer_bare_httpx(url: str, files: list[Path], folder: Path, c: int, work: Path) -> dict[str, Any]:
    import httpx

    return await _bare(url, files, c, httpx.Limits(max_connections=c, max_keepalive_connections=c))


async def peer_bare_httpx_default(
    url: str, files: list[Path], folder: Path, c: int, work: Path
) -> dict[str, Any]:
    return await _bare(url, files, c, None)


async def peer_bare_httpx_lanes(
    url: str, files: list[Path], folder: Path, c: int, work: Path
) -> dict[str, Any]:
    import httpx

    n_lanes = math.ceil(c / LANE)
    per_lane = math.ceil(c / n_lanes)
    limits = httpx.Limits(max_connections=per_lane, max_keepalive_connections=per_lane)
    t0 = time.perf_counter()
    lanes = [httpx.AsyncClient(base_url=url, timeout=None, limits=limits) for _ in range(n_lanes)]
    setup = time.perf_counter() - t0
    busy = [0] * n_lanes
    sem = asyncio.Semaphore(c)
    headers = {"Authorization": f"Token {API_KEY}", "Content-Type": "application/octet-stream"}
    params = {"model": MODEL}

    async def one(path: Path) -> int:
        async with sem:
            i = min(range(n_lanes), key=busy.__getitem__)
            busy[i] += 1
            try:
                r = await lanes[i].post(
                    "/v1/listen", params=params, headers=headers, content=path.read_bytes()
                )
            finally:
                busy[i] -= 1
            return r.status_code

    try:
        _check(await asyncio.gather(*(one(p) for p in files)))
    finally:
        for lane in lanes:
            await lane.aclose()
    return {"lanes": n_lanes, "setup_s": setup}


async def peer_dgtools_client(
    url: str, files: list[Path], folder: Path, c: int, work: Path
) -> dict[str, Any]:
    from dgtools.api.client import DeepgramClient
    from dgtools.options import ListenOptions

    opts = ListenOptions.from_kwargs(model=MODEL)
    sem = asyncio.Semaphore(c)
    t0 = time.perf_counter()
    async with DeepgramClient(api_key=API_KEY, base_url=url, max_connections=c) as dg:
        setup = time.perf_counter() - t0

        async def one(path: Path) -> int:
            async with sem:
                return (await dg.transcribe_file(path, opts)).status_code

        _check(await asyncio.gather(*(one(p) for p in files)))
        return {"setup_s": setup}


async def peer_dgtools_transcribe(
    url: str, files: list[Path], folder: Path, c: int, work: Path
) -> dict[str, Any]:
    import dgtools
    from dgtools.batch.send import SendLoop  # the send phase is SendLoop.drive, wrapped here

    phase: dict[str, float] = {}
    orig = SendLoop.drive

    async def timed_drive(*args: Any, **kwargs: Any) -> Any:  # dgtools' send phase, timed from outside
        phase["send_t0"], phase["send_c0"] = time.perf_counter(), time.process_time()
        try:
            return await orig(*args, **kwargs)
        finally:
            phase["send_s"] = time.perf_counter() - phase["send_t0"]
            phase["send_cpu_s"] = time.process_time() - phase["send_c0"]

    store = Path(tempfile.mkdtemp(prefix="store-", dir=work))
    SendLoop.drive = timed_drive  # type: ignore[method-assign]
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        run = await dgtools.atranscribe(
            folder, store=store, api_key=API_KEY, base_url=url, concurrency=c, progress=False, model=MODEL
        )
    finally:
        SendLoop.drive = orig  # type: ignore[method-assign]
    statuses: dict[str, int] = {}
    for r in run.results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    if statuses.get("transcribed", 0) != len(files):
        raise RuntimeError(
            f"atranscribe: {statuses}; first failure: {run.failures.head(1).to_dict('records')}"
        )
    t1, c1 = time.perf_counter(), time.process_time()
    send_t1 = phase["send_t0"] + phase["send_s"]
    send_c1 = phase["send_c0"] + phase["send_cpu_s"]
    return {
        "send_s": phase["send_s"],
        "send_cpu_s": phase["send_cpu_s"],
        # before SendLoop.drive: collect, hash + probe every file (threads), plan, open the store
        "plan_s": phase["send_t0"] - t0,
        "plan_cpu_s": phase["send_c0"] - c0,
        # after SendLoop.drive: index entries, sorting the results
        "after_s": t1 - send_t1,
        "after_cpu_s": c1 - send_c1,
        "retries": run.retries,
        "store": str(store),
    }


async def peer_deepgram_sdk(url: str, files: list[Path], folder: Path, c: int, work: Path) -> dict[str, Any]:
    from deepgram import AsyncDeepgramClient
    from deepgram.environment import DeepgramClientEnvironment

    ws = "ws" + url.removeprefix("http")
    env = DeepgramClientEnvironment(base=url, production=ws, agent=ws, agent_rest=url)
    t0 = time.perf_counter()
    client = AsyncDeepgramClient(api_key=API_KEY, environment=env)
    setup = time.perf_counter() - t0
    sem = asyncio.Semaphore(c)

    async def one(path: Path) -> int:
        async with sem:
            resp = await client.listen.v1.media.transcribe_file(request=path.read_bytes(), model=MODEL)
            return 200 if resp.metadata is not None else 0

    try:
        _check(await asyncio.gather(*(one(p) for p in files)))
    finally:
        await client._client_wrapper.httpx_client.httpx_client.aclose()
    return {"setup_s": setup}


PEER_FUNCS = {
    "bare_httpx": peer_bare_httpx,
    "bare_httpx_default": peer_bare_httpx_default,
    "bare_httpx_lanes": peer_bare_httpx_lanes,
    "dgtools_client": peer_dgtools_client,
    "dgtools_transcribe": peer_dgtools_transcribe,
    "deepgram_sdk": peer_deepgram_sdk,
}


# =========================================================================== child process


def _http_json(method: str, url: str) -> dict[str, Any]:
    import httpx

    r = httpx.request(method, url, timeout=10, trust_env=False)
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def child_main(spec: dict[str, Any]) -> None:
    peer, url, c = spec["peer"], spec["url"], spec["c"]
    folder, warm = Path(spec["folder"]), Path(spec["warm"])
    files = sorted(folder.glob("*.wav"))
    work = Path(spec["work"])
    func = PEER_FUNCS[peer]
    # warm-up: imports, schemas, first-call paths; on a separate folder, with a client thrown away
    asyncio.run(func(url, sorted(warm.glob("*.wav")), warm, 1, work))
    gc.collect()
    _http_json("POST", url + "/_dgtools/reset")
    prof = None
    if spec.get("profile"):
        import cProfile

        prof = cProfile.Profile()
    s0 = _proc_cpu(spec["server_pid"])
    c0 = time.process_time()
    t0 = time.perf_counter()
    if prof is not None:
        prof.enable()
    extra = asyncio.run(func(url, files, folder, c, work))
    if prof is not None:
        prof.disable()
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    s1 = _proc_cpu(spec["server_pid"])
    stats = _http_json("GET", url + "/_dgtools/stats")
    if prof is not None:
        prof.dump_stats(spec["profile"])
    out = {
        "peer": peer,
        "c": c,
        "n": len(files),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "server_cpu_seconds": None if s0 is None or s1 is None else s1 - s0,
        "connections": stats["connections"],
        "in_flight_max": stats["in_flight_max"],
        "requests": stats["requests"],
        "by_status": stats["by_status"],
        **extra,
    }
    print("@@RESULT " + json.dumps(out))


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_child(spec: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_child_env(), cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT "):
            return dict(json.loads(line[len("@@RESULT ") :]))
    raise RuntimeError(
        f"child {spec['peer']} C={spec['c']} failed (rc={proc.returncode}):\n"
        f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


# =========================================================================== report


def _server_http() -> str:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def summarise(raw: dict[str, dict[str, dict[int, list[dict[str, Any]]]]], latency: float) -> dict[str, Any]:
    """Per size, C, peer: min wall/CPU over the repeats, the floor, ratios, CPU deltas vs bare_httpx."""
    out: dict[str, Any] = {}
    for size, by_c in raw.items():
        out[size] = {}
        for c, by_peer in by_c.items():
            rows: dict[str, Any] = {}
            for peer, runs in by_peer.items():
                if not runs:
                    continue
                n = runs[0]["n"]
                floor = math.ceil(n / c) * latency
                wall = [r["seconds"] for r in runs]
                cpu = [r["cpu_seconds"] for r in runs]
                srv = [r["server_cpu_seconds"] for r in runs if r["server_cpu_seconds"] is not None]
                row = rows[peer] = {
                    "n": n,
                    "floor_s": floor,
                    "wall_s": min(wall),
                    "wall_median_s": statistics.median(wall),
                    "wall_over_floor": min(wall) / floor,
                    "cpu_ms_per_req": min(cpu) / n * 1e3,
                    "server_cpu_ms_per_req": min(srv) / n * 1e3 if srv else None,
                    "connections": max(r["connections"] for r in runs),
                    "in_flight_max": max(r["in_flight_max"] for r in runs),
                    # constructing the client(s) (SSL context per httpx.AsyncClient), inside the wall time
                    "setup_s": min((r["setup_s"] for r in runs if "setup_s" in r), default=None),
                    "runs_s": wall,
                    "runs_cpu_s": cpu,
                }
                send = [r["send_s"] for r in runs if r.get("send_s") is not None]
                if send:
                    send_cpu = [r["send_cpu_s"] for r in runs]
                    row["send_s"] = min(send)
                    row["send_over_floor"] = min(send) / floor
                    row["send_cpu_ms_per_req"] = min(send_cpu) / n * 1e3
                    row["plan_s"] = min(r["plan_s"] for r in runs)
                    row["plan_cpu_ms_per_req"] = min(r["plan_cpu_s"] for r in runs) / n * 1e3
                    row["after_s"] = min(r["after_s"] for r in runs)
            for base, key in (
                ("bare_httpx", "cpu_minus_bare_ms"),
                ("bare_httpx_lanes", "cpu_minus_lanes_ms"),
            ):
                if base in rows:
                    for row in rows.values():
                        row[key] = row["cpu_ms_per_req"] - rows[base]["cpu_ms_per_req"]
                        if "send_cpu_ms_per_req" in row:
                            row["send_" + key] = row["send_cpu_ms_per_req"] - rows[base]["cpu_ms_per_req"]
            out[size][c] = rows
    return out


def targets(summary: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(label, passed, detail): one line per (size, dgtools peer, target), all C in the detail."""
    checks: list[tuple[str, bool, str]] = []
    for size, by_c in summary.items():
        for peer in DGTOOLS_PEERS:
            # wall time against the floor (C=32 and 64)
            parts, ok, seen = [], True, False
            for c, limit in TARGETS["wall_over_floor"].items():
                row = by_c.get(c, {}).get(peer)
                if row is None:
                    continue
                seen = True
                ok &= row["wall_over_floor"] <= limit
                part = f"C={c} {row['wall_over_floor']:.3f} (<= {limit})"
                if row.get("setup_s") is not None:
                    part += f" [without client construction {(row['wall_s'] - row['setup_s']) / row['floor_s']:.3f}]"
                if "send_over_floor" in row:
                    part += f" [send phase {row['send_over_floor']:.3f}]"
                parts.append(part)
            if seen:
                checks.append((f"[{size}] {peer} wall/floor", ok, "; ".join(parts)))
            # CPU per request against bare httpx (every C)
            parts, ok, seen = [], True, False
            for c, rows in by_c.items():
                row = rows.get(peer)
                if row is None or "cpu_minus_bare_ms" not in row:
                    continue
                seen = True
                ok &= row["cpu_minus_bare_ms"] <= TARGETS["cpu_over_bare_ms"]
                part = f"C={c} {row['cpu_minus_bare_ms']:+.2f}"
                if "send_cpu_minus_bare_ms" in row:
                    part += f" [send phase {row['send_cpu_minus_bare_ms']:+.2f}]"
                parts.append(part)
            if seen:
                checks.append(
                    (f"[{size}] {peer} CPU/request - bare_httpx <= {TARGETS['cpu_over_bare_ms']} ms", ok,
                     "; ".join(parts) + " ms")
                )  # fmt: skip
            # connections seen by the server
            parts, ok, seen = [], True, False
            for c, rows in by_c.items():
                row = rows.get(peer)
                if row is None:
                    continue
                seen = True
                ok &= row["connections"] <= c
                parts.append(f"C={c}: {row['connections']}")
            if seen:
                checks.append((f"[{size}] {peer} server connections <= C", ok, "; ".join(parts)))
    return checks


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def print_report(
    env: dict[str, Any], summary: dict[str, Any], checks: list[tuple[str, bool, str]], a: Any
) -> None:
    print()
    print("environment: " + ", ".join(f"{k} {env[k]}" for k in (
        "python", "httpx", "httpcore", "h11", "anyio", "uvicorn", "starlette", "msgspec", "deepgram-sdk", "dgtools"
    )))  # fmt: skip
    print(
        f"             {env['platform']}; cores: {env['cpu_count']} (usable {env['cpus_usable']}); "
        f"load avg start {', '.join(f'{x:.2f}' for x in env['loadavg_start'])} "
        f"end {', '.join(f'{x:.2f}' for x in env['loadavg_end'])}"
    )
    print(f"dgtools checkout: {env['git']}")
    print(
        f"server: separate process, uvicorn ({env['server_http']}), latency {a.latency:g} s, "
        f"engine {'SyntheticEngine, answers prebuilt once per query' if a.server == 'prebuilt' else 'stock SyntheticEngine'}"
        f" (--server {a.server}); response bytes: "
        + ", ".join(f"{s} {b:,}" for s, b in env["response_bytes"].items())
    )
    print(
        f"N = {a.n} files per run"
        + (
            f" (C=1: {a.n_c1}, scaled down: ceil(N/1) x latency would take {a.n * a.latency:.0f} s per peer)"
            if 1 in [int(x) for x in _csv(a.concurrency)]
            else ""
        )
        + f"; 1-s WAVs of 32 KB, distinct sha256; repeats: {a.repeats} (min over repeats), "
        "each run in a fresh process"
    )
    for size, by_c in summary.items():
        print()
        print(f"== response {size}{' KB' if size != 'small' else ''} ({env['response_bytes'][size]:,} bytes)")
        head = (
            f"{'peer':<20}{'C':>4}{'N':>5}{'wall s':>8}{'floor s':>8}{'wall/floor':>11}{'CPU ms/req':>11}"
            f"{'- bare ms':>10}{'- lanes ms':>11}{'srv ms/req':>11}{'conns':>6}{'inflight':>9}{'setup ms':>9}"
        )
        print(head)
        print("-" * len(head))
        for c, rows in by_c.items():
            for peer in PEERS:
                r = rows.get(peer)
                if r is None:
                    continue
                print(
                    f"{peer:<20}{c:>4}{r['n']:>5}{r['wall_s']:>8.3f}{r['floor_s']:>8.2f}{r['wall_over_floor']:>11.3f}"
                    f"{r['cpu_ms_per_req']:>11.3f}{_f(r.get('cpu_minus_bare_ms'), '+.3f'):>10}"
                    f"{_f(r.get('cpu_minus_lanes_ms'), '+.3f'):>11}{_f(r['server_cpu_ms_per_req'], '.2f'):>11}"
                    f"{r['connections']:>6}{r['in_flight_max']:>9}"
                    f"{_f(None if r['setup_s'] is None else r['setup_s'] * 1e3, '.0f'):>9}"
                )
                if "send_s" in r:
                    print(
                        f"{'  ...send phase':<20}{c:>4}{r['n']:>5}{r['send_s']:>8.3f}{r['floor_s']:>8.2f}"
                        f"{r['send_over_floor']:>11.3f}{r['send_cpu_ms_per_req']:>11.3f}"
                        f"{_f(r.get('send_cpu_minus_bare_ms'), '+.3f'):>10}"
                        f"{_f(r.get('send_cpu_minus_lanes_ms'), '+.3f'):>11}"
                    )
                    print(
                        f"{'  ...before it':<20}{c:>4}{r['n']:>5}{r['plan_s']:>8.3f}{'':>8}{'':>11}"
                        f"{r['plan_cpu_ms_per_req']:>11.3f}   (after it: {r['after_s']:.3f} s)"
                    )
            print()
    print("columns: wall s = send phase of every peer (client created and closed inside it), min of repeats;")
    print(
        "  floor s = ceil(N/C) x latency; CPU ms/req = client process CPU (all threads) / N; - bare / - lanes ="
    )
    print(
        "  CPU ms/req minus bare_httpx's / bare_httpx_lanes' at the same C and size; srv ms/req = server process"
    )
    print(
        "  CPU / N; conns = distinct client connections the server saw; inflight = most requests in flight at"
    )
    print(
        "  once; setup ms = constructing the client(s), part of wall s (httpx builds an SSL context per AsyncClient)."
    )
    print(
        "  dgtools_transcribe's wall/CPU cover the whole atranscribe call; '...send phase' is its SendLoop.drive part"
    )
    print(
        "  (dgtools.batch.send.SendLoop.drive: requests, retries, store writes), '...before it' collecting, hashing and"
    )
    print("  probing the files and planning, 'after it' what follows SendLoop.drive.")
    print()
    print("targets:")
    for label, ok, detail in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}: {detail}")


# =========================================================================== a project limit


def limit_scenario(a: Any, *, tmp_root: Path) -> list[tuple[str, bool, str]]:
    """dgtools asked for more concurrency than the project allows, against a server that enforces it.

    The server answers 429 (with ``Retry-After``) to requests beyond ``--limit`` in flight, as
    Deepgram does.  ``dgtools.atranscribe`` runs asked for ``--limit-c`` (more) and for exactly
    ``--limit``; the targets: wall within 15% of ceil(N / limit) x latency, at most 5% of requests
    answered 429.
    """
    import asyncio

    import httpx

    import dgtools

    rows: list[dict[str, Any]] = []
    try:
        folder = tmp_root / "audio"
        write_audio(folder, a.n, seed=4242)
        warm = tmp_root / "warm"
        write_audio(warm, 1, seed=4243)
        server = Server("small", a.server, a.latency, a.limit, a.limit_retry_after).start(
            next(warm.glob("*.wav"))
        )
        try:
            for c in (a.limit_c, a.limit):
                httpx.post(server.url + "/_dgtools/reset", trust_env=False).raise_for_status()
                store = tmp_root / f"store-{c}"
                t0 = time.perf_counter()
                run = asyncio.run(
                    dgtools.atranscribe(
                        folder, store=store, api_key=API_KEY, base_url=server.url, concurrency=c,
                        progress=False, model=MODEL,
                    )
                )  # fmt: skip
                wall = time.perf_counter() - t0
                stats = httpx.get(server.url + "/_dgtools/stats", trust_env=False).json()
                assert run.summary().get("transcribed") == a.n, run.summary()
                floor = math.ceil(a.n / a.limit) * a.latency
                rows.append({
                    "c": c, "wall_s": wall, "floor_s": floor, "wall_over_floor": wall / floor,
                    "http429": stats.get("concurrency_429", 0), "share_429": stats.get("concurrency_429", 0) / a.n,
                    "max_in_flight": stats.get("max_in_flight"), "retries": run.retries,
                })  # fmt: skip
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    print()
    print(
        f"== project limit: the server answers 429 (Retry-After {a.limit_retry_after:g} s) beyond {a.limit} "
        f"requests in flight; N = {a.n}, latency {a.latency:g} s; floor = ceil(N / {a.limit}) x latency"
    )
    head = f"{'dgtools.atranscribe':<26}{'wall s':>8}{'floor s':>8}{'wall/floor':>11}{'429s':>6}{'429 share':>10}{'max in flight':>14}"
    print(head)
    print("-" * len(head))
    for r in rows:
        label = "concurrency=" + str(r["c"])
        print(
            f"{label:<26}{r['wall_s']:>8.3f}{r['floor_s']:>8.2f}{r['wall_over_floor']:>11.3f}"
            f"{r['http429']:>6}{r['share_429']:>10.1%}{r['max_in_flight']!s:>14}"
        )
    asked = rows[0]
    return [
        (f"[limit {a.limit}] concurrency={a.limit_c}: wall/floor <= 1.15", asked["wall_over_floor"] <= 1.15,
         f"{asked['wall_over_floor']:.3f}"),
        (f"[limit {a.limit}] concurrency={a.limit_c}: 429s <= 5% of requests", asked["share_429"] <= 0.05,
         f"{asked['http429']} ({asked['share_429']:.1%})"),
    ]  # fmt: skip


# =========================================================================== main


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="files per run (default 400)")
    ap.add_argument(
        "--n-c1", type=int, default=50,
        help="files per run at C=1 (default 50: 400 one at a time would take 80 s per peer)",
    )  # fmt: skip
    ap.add_argument("--latency", type=float, default=0.2, help="server latency in seconds (default 0.2)")
    ap.add_argument("--concurrency", default="1,8,32,64", help="comma-separated C values (default 1,8,32,64)")
    ap.add_argument("--sizes", default="small,470", help="comma-separated response sizes: small,470")
    ap.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated subset of {','.join(PEERS)}")
    ap.add_argument("--repeats", type=int, default=1, help="runs per (peer, size, C) (default 1)")
    ap.add_argument(
        "--server", choices=("prebuilt", "stock"), default="prebuilt",
        help="prebuilt (default): the synthetic answer built once per query and re-sent; stock: "
        "SyntheticEngine builds every response (~45 ms server CPU each at 470 KB: server-bound)",
    )  # fmt: skip
    ap.add_argument(
        "--profile", action="store_true",
        help="cProfile every dgtools child's measured call into bench/results/ and print the top functions "
        "(times are inflated; targets are not meaningful)",
    )  # fmt: skip
    ap.add_argument("--no-json", action="store_true", help="do not write bench/results/client-<time>.json")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    ap.add_argument(
        "--limit", type=int, default=50,
        help="the project-limit scenario: a server that answers 429 beyond this many requests in flight "
        "(default 50, Deepgram's usual pre-recorded limit; 0 skips the scenario)",
    )  # fmt: skip
    ap.add_argument(
        "--limit-c", type=int, default=100, help="concurrency asked for in that scenario (default 100)"
    )
    ap.add_argument(
        "--limit-retry-after", type=float, default=1.0,
        help="Retry-After of the server's 429s in that scenario, seconds (default 1)",
    )  # fmt: skip
    ap.add_argument("--_server", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    if a._child:
        child_main(json.loads(a._child))
        return 0
    if a._server:
        port, size, mode, latency, *limit = a._server
        server_main(
            int(port), size, mode, float(latency),
            int(limit[0]) if limit else None, float(limit[1]) if limit else 1.0,
        )  # fmt: skip
        return 0

    peers = [p for p in PEERS if p in _csv(a.peers)]
    unknown = set(_csv(a.peers)) - set(PEERS)
    sizes = _csv(a.sizes)
    if unknown or not peers or set(sizes) - set(SIZES):
        ap.error(f"--peers from {','.join(PEERS)}; --sizes from {','.join(SIZES)}")
    if "bare_httpx" not in peers:
        print("note: bare_httpx not among --peers: no CPU comparison", file=sys.stderr)
    cs = [int(x) for x in _csv(a.concurrency)]
    env = environment(
        ("httpx", "httpcore", "h11", "anyio", "uvicorn", "starlette", "msgspec", "deepgram-sdk", "dgtools"),
        server_http=_server_http(),
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    tmp = Path(tempfile.mkdtemp(prefix="dgtools-bench-client-"))
    try:
        audio = {n: tmp / f"audio-{n}" for n in {a.n, a.n_c1}}
        for n, folder in audio.items():
            write_audio(folder, n, seed=n)
        warm = tmp / "warm"
        write_audio(warm, 1, seed=999_999)
        work = tmp / "work"
        work.mkdir()

        raw: dict[str, dict[int, dict[str, list[dict[str, Any]]]]] = {
            s: {c: {p: [] for p in peers} for c in cs} for s in sizes
        }
        errors: dict[str, list[str]] = {}
        env["response_bytes"] = {}
        profiles: list[tuple[str, Path]] = []
        total = a.repeats * len(sizes) * len(cs) * len(peers)
        done = 0
        started = time.perf_counter()
        for size in sizes:
            server = Server(size, a.server, a.latency).start(next(warm.glob("*.wav")))
            env["response_bytes"][size] = server.response_bytes
            try:
                for rep in range(a.repeats):
                    for c in cs:
                        k = (rep + cs.index(c)) % len(peers)
                        order = peers[k:] + peers[:k]  # rotate who goes first
                        for peer in order:
                            done += 1
                            n = a.n_c1 if c == 1 else a.n
                            spec = {
                                "peer": peer, "c": c, "url": server.url, "server_pid": server.pid,
                                "folder": str(audio[n]), "warm": str(warm), "work": str(work),
                            }  # fmt: skip
                            if a.profile and peer in DGTOOLS_PEERS:
                                RESULTS_DIR.mkdir(parents=True, exist_ok=True)
                                prof = RESULTS_DIR / f"client-{stamp}-{peer}-{size}-C{c}-r{rep}.prof"
                                spec["profile"] = str(prof)
                                profiles.append((f"{peer} {size} C={c}", prof))
                            label = f"[{done}/{total}] {size:>5} C={c:<3} rep {rep + 1}: {peer:<20}"
                            try:
                                res = run_child(spec)
                            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                                errors.setdefault(f"{size}/{c}/{peer}", []).append(str(exc))
                                print(f"{label} ERROR {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
                                continue
                            raw[size][c][peer].append(res)
                            print(
                                f"{label} {res['seconds']:7.3f} s  cpu {res['cpu_seconds'] / res['n'] * 1e3:6.3f} "
                                f"ms/req  conns {res['connections']}  ({time.perf_counter() - started:.0f} s)",
                                file=sys.stderr,
                                flush=True,
                            )
                            shutil.rmtree(work, ignore_errors=True)  # stores of dgtools_transcribe
                            work.mkdir(exist_ok=True)
            finally:
                server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    env["loadavg_end"] = os.getloadavg()
    env["elapsed_s"] = time.perf_counter() - started
    summary = summarise(raw, a.latency)
    checks = targets(summary)
    for key, errs in errors.items():
        size, c, peer = key.split("/")
        if peer in DGTOOLS_PEERS:
            checks.append((f"[{size}] {peer} C={c} ran", False, errs[-1].strip().splitlines()[-1]))
    if a.limit:
        checks += limit_scenario(a, tmp_root=Path(tempfile.mkdtemp(prefix="dgtools-bench-limit-")))
    print_report(env, summary, checks, a)
    if errors:
        print(f"\n{sum(map(len, errors.values()))} run(s) failed (details in the JSON):")
        for key, errs in errors.items():
            print(f"  {key}: {len(errs)} x {errs[-1].strip().splitlines()[-1]}")
    if profiles:
        import pstats

        print("\nprofiles (cProfile of the measured call; tottime, top 15):")
        for label, prof in profiles:
            if prof.exists():
                print(f"\n-- {label}: {prof.relative_to(ROOT)}")
                pstats.Stats(str(prof)).sort_stats("tottime").print_stats(15)
    print(f"\ntotal time {env['elapsed_s']:.0f} s")
    if a.profile:
        print("(--profile: timings are inflated by cProfile; do not read the targets)")

    if not a.no_json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"client-{stamp}.json"
        out.write_text(
            json.dumps(
                {
                    "environment": env,
                    "args": {k: v for k, v in vars(a).items() if not k.startswith("_")},
                    "targets": TARGETS,
                    "checks": [{"target": t, "pass": ok, "value": d} for t, ok, d in checks],
                    "summary": summary,
                    "runs": raw,
                    "errors": errors,
                },
                indent=1,
                default=str,
            )
        )
        print(f"results: {out.relative_to(ROOT)}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
