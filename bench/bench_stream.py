"""Benchmark ``dgtools.astream`` (live capture) against a bare ``websockets`` client.

Two scenarios, against the local server (:mod:`dgtools.server`, the synthetic
WebSocket ``/v1/listen``) running in a **separate process**, so that only the
client's CPU is counted:

1. **Many streams at real time.**  ``--streams`` (default 50) concurrent streams
   of ``--seconds`` (default 20) of 16 kHz 16-bit mono audio each, paced at real
   time (``realtime=1.0``) in ``--chunk-ms`` (default 100) frames, with
   ``interim_results=true``.  The server stamps every text frame it sends with
   ``"_sent_at": time.time()`` (an ASGI wrapper around the stock app adds it as
   the first key of the JSON, right before handing the frame to uvicorn; same
   machine, same wall clock).  Reported per peer: the latency from ``_sent_at``
   to the message being in the client's hands (p50, p90, p99, max over every
   message of every stream and repeat, and of the peer's *quietest* run: the one
   during which other processes used the least CPU, read from ``/proc/stat``;
   the machine may be shared and other jobs only add latency), the pauses of
   the client's cyclic GC (``gc.callbacks``: a collection stops every stream)
   and the client process's CPU seconds per stream-second of audio.
2. **One stream as fast as possible** (``realtime=0``), ``--tput-seconds`` of
   audio: audio seconds sent per wall second, from before the connection to the
   server's close.

Peers (each (scenario, peer, repeat) in a fresh subprocess of this script):

``bare``
    ``websockets.asyncio.client.connect`` with the same query, header and
    ``max_size=None`` as dgtools; a task sends the same PCM chunks with the same
    pacing rule as dgtools (``due = t0 + bytes_sent / bytes_per_second /
    realtime``), then ``CloseStream``; the receive loop does
    ``received.append((time.time(), frame))`` and nothing else (no parsing, no
    file).  It offers permessage-deflate (websockets' default, what a client
    written by hand gets), which the local server (uvicorn) accepts: every
    audio frame is then zlib-compressed by the client.
``bare_nodeflate``
    ``bare`` with ``compression=None``, as dgtools opens its sockets: the
    floor the added latency and CPU are measured against.
``dgtools``
    ``dgtools.astream(wav, store=<tmp>, realtime=..., chunk_ms=..., api_key=...,
    base_url=..., on_message=cb, interim_results=True)``.  Three times per
    message: ``handoff`` (the frame comes out of websockets: stamped by a
    wrapper of ``dgtools.live.stream._frames`` installed from outside, the point
    that matches the bare peer's stamp), ``captured`` (the capture's own
    ``received_at`` from the ``.timing`` sidecar: taken right after the
    ``.jsonl`` line is written and flushed), ``callback`` (``time.time()`` in
    ``on_message``, which dgtools calls after the ``.timing`` line is flushed
    and the JSON parsed).  ``in-process`` = callback - handoff, paired per
    message: dgtools' own work on a message, without the socket.

What dgtools adds is read two ways: the paired ``in-process`` time, and the
difference between dgtools' latency percentiles and the bare peer's in the same
run (which also counts what dgtools' work on one stream delays on the others).

Stream starts are spread evenly over one chunk (``--stagger-ms``, default
``--chunk-ms``): independent streams do not send in phase.  ``--stagger-ms 0``
starts them all at once (every chunk of every stream then leaves, and its
answers come back, in one burst).

Usage::

    python bench/bench_stream.py                          # 50 x 20 s, 2 repeats (~1.7 min on 2 cores)
    python bench/bench_stream.py --quick                  # smoke run (~15 s)
    python bench/bench_stream.py --seconds 60 --repeats 1 --only concurrent   # long streams: GC pauses
    python bench/bench_stream.py --streams 50 --seconds 30 --repeats 1
    python bench/bench_stream.py --peers bare,dgtools,bare_nodeflate   # + the peer without compression
    python bench/bench_stream.py --profile --repeats 1 --tput-repeats 1  # cProfile of every peer's run

Results go to stdout and, as JSON, to ``bench/results/stream-<time>.json``.
The exit status is 1 when a target fails.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import contextvars
import gc
import json
import math
import os
import random
import resource
import shutil
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

PEERS = ("bare", "bare_nodeflate", "dgtools")
#: Peers run only when named in --peers.
OPTIONAL_PEERS: tuple[str, ...] = ()
ALL_PEERS = PEERS + OPTIONAL_PEERS
KEY = "0123456789abcdef0123456789abcdef01234567"  # the server is started with exactly this key
RATE = 16_000  # Hz, mono, 16-bit
BYTES_PER_SECOND = 2 * RATE
# What dgtools.astream sends for a 16-bit mono WAV plus interim_results=True
# (dgtools.live.stream._query); the bare peer sends the same.
QUERY = "channels=1&encoding=linear16&sample_rate=16000&interim_results=true"
TARGET_ADDED_P99_MS = 5.0
#: Cores other processes may use during a run before the report warns that the latencies are noise.
BUSY_CORES = 0.2
LATENCY_KINDS = ("handoff", "captured", "callback", "in_process", "from_audio")


# =========================================================================== audio


def write_wav(path: Path, seconds: float, *, seed: int) -> Path:
    """A 16 kHz mono 16-bit WAV: a 440 Hz tone plus noise (a 10-s pattern, repeated)."""
    rng = random.Random(seed)
    n = int(seconds * RATE)
    step = 2 * math.pi * 440 / RATE
    pattern = array.array(
        "h", (int(6000 * math.sin(i * step)) + rng.randint(-2000, 2000) for i in range(min(n, 10 * RATE)))
    )
    if sys.byteorder != "little":
        pattern.byteswap()
    frames = (pattern.tobytes() * (n // len(pattern) + 1))[: 2 * n]
    header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, RATE, BYTES_PER_SECOND, 2, 16)
    header += b"data" + struct.pack("<I", len(frames))
    path.write_bytes(header + frames)
    return path


def pcm_of(path: Path) -> bytes:
    """The samples of a WAV written by :func:`write_wav` (44-byte header)."""
    return path.read_bytes()[44:]


# =========================================================================== server


class StampSentAt:
    """ASGI wrapper: every WebSocket text frame that is a JSON object gets ``"_sent_at": time.time()`` first.

    The time is taken right before the frame is handed to uvicorn's ``send``
    (which writes it to the socket), so ``client time - _sent_at`` is the
    time from the server's write to the client.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def stamped(message: dict[str, Any]) -> None:
            text = message.get("text")
            if message["type"] == "websocket.send" and text and text[0] == "{":
                rest = text[1:] if text[1:].lstrip().startswith("}") else "," + text[1:]
                message = {**message, "text": '{"_sent_at":%.6f%s' % (time.time(), rest)}  # noqa: UP031
            await send(message)

        await self.app(scope, receive, stamped)


def server_main() -> None:
    """The server subprocess: the stock app (synthetic engine) in a LocalServer, until stdin closes."""
    from dgtools.server import LocalServer, SyntheticEngine, create_app

    app = StampSentAt(create_app(engine=SyntheticEngine(), api_keys={KEY}))
    with LocalServer(app=app) as server:
        print(f"@@URL {server.url}", flush=True)
        sys.stdin.read()  # the parent closes our stdin to stop us


class Server:
    """The local server in its own process."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> Server:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_server"]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_child_env(), cwd=ROOT
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until it serves (or dies)
        if not line.startswith("@@URL "):
            self.stop()
            raise RuntimeError(f"the local server did not start: {line!r}")
        self.url = line.split()[1]
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _busy_cpu() -> float | None:
    """CPU seconds the whole machine has been busy (Linux ``/proc/stat``: all but idle and iowait)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _rss_mb() -> float | None:
    """This process's resident set now, MB (Linux ``/proc/self/statm``)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):
        return None


def _proc_cpu(pid: int) -> float | None:
    """user + system CPU seconds of process ``pid`` (Linux /proc), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# =========================================================================== the peers
# Each: async (url, wav, streams, realtime, chunk_ms, stagger_s, work) -> (per-stream results, extra)

_HANDOFF: contextvars.ContextVar[list[float]] = contextvars.ContextVar("handoff")


async def peer_bare(
    url: str,
    wav: Path,
    streams: int,
    realtime: float,
    chunk_ms: int,
    stagger_s: float,
    work: Path,
    *,
    compression: str | None = "deflate",
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    pcm = pcm_of(wav)
    chunk = max(1, int(BYTES_PER_SECOND * chunk_ms / 1000))
    ws_url = "ws" + url.removeprefix("http") + "/v1/listen?" + QUERY

    async def one(i: int) -> dict[str, Any]:
        await asyncio.sleep(i * stagger_s / max(1, streams))
        t0, t0_wall = time.monotonic(), time.time()  # the pacing clock's origin, and it on the wall clock
        socket = await connect(
            ws_url, additional_headers={"Authorization": f"Token {KEY}"}, max_size=None, open_timeout=30,
            compression=compression,
        )  # fmt: skip
        received: list[tuple[float, str | bytes]] = []

        async def send_audio() -> None:
            sent = 0
            for j in range(0, len(pcm), chunk):
                piece = pcm[j : j + chunk]
                if realtime > 0:
                    due = t0 + (sent + len(piece)) / BYTES_PER_SECOND / realtime
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                await socket.send(piece)
                sent += len(piece)
            await socket.send(json.dumps({"type": "CloseStream"}))

        sender = asyncio.create_task(send_audio())
        with contextlib.suppress(ConnectionClosed):
            async for frame in socket:
                received.append((time.time(), frame))
        await sender
        if socket.close_code != 1000:
            raise RuntimeError(f"stream {i}: closed {socket.close_code} {socket.close_reason!r}")
        return {
            "received": received, "audio_seconds": len(pcm) / BYTES_PER_SECOND, "t0_wall": t0_wall,
            "realtime": realtime,
        }  # fmt: skip

    return list(await asyncio.gather(*(one(i) for i in range(streams)))), {}


def _wrap_frames() -> bool:
    """Stamp, from outside dgtools, when each frame comes out of websockets (``_frames`` yields it)."""
    import importlib

    # not `import dgtools.live.stream as mod`: dgtools.live's attribute `stream` is the function
    mod = importlib.import_module("dgtools.live.stream")
    orig = getattr(mod, "_frames", None)
    if orig is None or getattr(orig, "_bench_wrapped", False):
        return orig is not None

    async def frames(*args: Any, **kwargs: Any) -> Any:
        holder = _HANDOFF.get(None)
        async for frame in orig(*args, **kwargs):
            if holder is not None:
                holder[0] = time.time()
            yield frame

    frames._bench_wrapped = True  # type: ignore[attr-defined]
    mod._frames = frames  # type: ignore[attr-defined]
    return True


async def peer_dgtools(
    url: str, wav: Path, streams: int, realtime: float, chunk_ms: int, stagger_s: float, work: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import dgtools

    wrapped = _wrap_frames()
    store = Path(tempfile.mkdtemp(prefix="store-", dir=work))

    async def one(i: int) -> dict[str, Any]:
        await asyncio.sleep(i * stagger_s / max(1, streams))
        holder = [math.nan]
        _HANDOFF.set(holder)  # this task's context: the wrapped _frames of this stream sees it
        # (handoff, callback, _sent_at): floats only, so that the harness keeps no message alive
        # (the GC would then scan them, and its pauses would be charged to dgtools)
        seen: list[tuple[float, float, Any]] = []

        def on_message(message: dict[str, Any]) -> None:
            seen.append((holder[0], time.time(), message.get("_sent_at")))

        run = await dgtools.astream(
            wav, store=store, realtime=realtime, chunk_ms=chunk_ms, api_key=KEY, base_url=url,
            on_message=on_message, interim_results=True,
        )  # fmt: skip
        return {"run": run, "seen": seen, "audio_seconds": run.audio_seconds, "realtime": realtime}

    results = list(await asyncio.gather(*(one(i) for i in range(streams))))
    return results, {"handoff_stamped": wrapped, "store": str(store)}


async def peer_bare_nodeflate(
    url: str, wav: Path, streams: int, realtime: float, chunk_ms: int, stagger_s: float, work: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return await peer_bare(url, wav, streams, realtime, chunk_ms, stagger_s, work, compression=None)


PEER_FUNCS = {"bare": peer_bare, "dgtools": peer_dgtools, "bare_nodeflate": peer_bare_nodeflate}


def _audio_end(message: dict[str, Any]) -> float | None:
    """Audio seconds an interim ``Results`` covers up to: exactly what the server had received when it sent it."""
    if message.get("type") != "Results" or message.get("is_final"):
        return None
    start, duration = message.get("start"), message.get("duration")
    if not isinstance(start, int | float) or not isinstance(duration, int | float):
        return None
    return float(start) + float(duration)


def _latencies(peer: str, results: list[dict[str, Any]]) -> tuple[dict[str, list[float]], int]:
    """Milliseconds per message and kind (after the measured run); and the number of messages.

    ``from_audio`` (interim ``Results`` only): client time - when the audio the message covers up to
    was due to be sent (``t0 + audio_end / realtime``, the pacing rule both peers follow).  Unlike the
    others it also counts a client that sends late (a stalled event loop, a GC pause): the local
    server only answers audio, so a stalled client delays the audio and the answers alike.
    """
    out: dict[str, list[float]] = {k: [] for k in LATENCY_KINDS}
    count = 0
    if peer != "dgtools":
        for r in results:
            for t, frame in r["received"]:
                count += 1
                try:
                    message = json.loads(frame)
                except ValueError:
                    continue
                sent = message.get("_sent_at")
                if isinstance(sent, int | float):
                    out["handoff"].append((t - sent) * 1e3)
                end = _audio_end(message)
                if end is not None and r["realtime"] > 0:
                    out["from_audio"].append((t - r["t0_wall"] - end / r["realtime"]) * 1e3)
        return out, count
    for r in results:
        run, seen = r["run"], r["seen"]
        lines = run.capture.read_text(encoding="utf-8").splitlines()
        timing = run.capture.with_suffix(".timing").read_text(encoding="utf-8").splitlines()
        if len(lines) != len(timing) or len(lines) != len(seen):
            raise RuntimeError(
                f"{run.capture.name}: {len(lines)} capture lines, {len(timing)} timing lines, "
                f"{len(seen)} on_message calls"
            )
        stamps = [json.loads(t) for t in timing]
        walls = [datetime.fromisoformat(t["received_at"]).timestamp() for t in stamps]
        # dgtools' t0 on the wall clock: received_at is taken just after `monotonic` (now - t0), so the
        # smallest difference is the closest (too late by at most a line's write and flush, a few us)
        t0_wall = min((w - t["monotonic"] for w, t in zip(walls, stamps, strict=True)), default=math.nan)
        for line, captured, (handoff, callback, cb_sent) in zip(lines, walls, seen, strict=True):
            count += 1
            try:
                message = json.loads(line)
            except ValueError:
                continue
            sent = message.get("_sent_at")
            if not isinstance(sent, int | float) or cb_sent != sent:
                continue
            end = _audio_end(message)
            if end is not None and r["realtime"] > 0:
                out["from_audio"].append((callback - t0_wall - end / r["realtime"]) * 1e3)
            out["captured"].append((captured - sent) * 1e3)
            out["callback"].append((callback - sent) * 1e3)
            if not math.isnan(handoff):
                out["handoff"].append((handoff - sent) * 1e3)
                out["in_process"].append((callback - handoff) * 1e3)
    return out, count


# =========================================================================== child process


def child_main(spec: dict[str, Any]) -> None:
    peer, url = spec["peer"], spec["url"]
    wav, warm, work = Path(spec["wav"]), Path(spec["warm"]), Path(spec["work"])
    func = PEER_FUNCS[peer]
    # warm-up: imports and first-connection paths, one short stream at full speed
    asyncio.run(func(url, warm, 1, 0.0, spec["chunk_ms"], 0.0, work))
    gc.collect()
    prof = None
    if spec.get("profile"):
        import cProfile

        prof = cProfile.Profile()
    pauses: list[tuple[int, float]] = []  # (generation, ms) of every collection of the cyclic GC
    gc_start = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], (time.perf_counter() - gc_start[0]) * 1e3))

    gc.callbacks.append(on_gc)
    rss0 = _rss_mb()
    s0 = _proc_cpu(spec["server_pid"])
    b0 = _busy_cpu()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0 = time.process_time()
    t0 = time.perf_counter()
    if prof is not None:
        prof.enable()
    results, extra = asyncio.run(
        func(url, wav, spec["streams"], spec["realtime"], spec["chunk_ms"], spec["stagger_s"], work)
    )
    if prof is not None:
        prof.disable()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    gc.callbacks.remove(on_gc)
    s1 = _proc_cpu(spec["server_pid"])
    b1 = _busy_cpu()
    server_cpu = None if s0 is None or s1 is None else s1 - s0
    # what every other process (other jobs on a shared machine) used meanwhile, in cores
    others = None if b0 is None or b1 is None else (b1 - b0 - cpu - (server_cpu or 0.0)) / seconds
    if prof is not None:
        prof.dump_stats(spec["profile"])
    latencies, messages = _latencies(peer, results)
    out = {
        "peer": peer,
        "scenario": spec["scenario"],
        "streams": spec["streams"],
        "realtime": spec["realtime"],
        "seconds": seconds,
        "cpu_seconds": cpu,
        "user_seconds": r1.ru_utime - r0.ru_utime,
        "system_seconds": r1.ru_stime - r0.ru_stime,
        "voluntary_switches": r1.ru_nvcsw - r0.ru_nvcsw,
        # peak RSS growth over the call: ru_maxrss (KB on Linux) - RSS just before (after imports, warm-up)
        "rss_growth_mb": None if rss0 is None else r1.ru_maxrss / 1024 - rss0,
        "server_cpu_seconds": server_cpu,
        "others_cores": others,
        "gc": {
            f"gen{g}": {"n": len(v), "total_ms": sum(v), "max_ms": max(v, default=0.0)}
            for g in (0, 1, 2)
            for v in [[ms for gen, ms in pauses if gen == g]]
        },
        "audio_seconds": sum(r["audio_seconds"] for r in results),
        "messages": messages,
        "latency_ms": {k: [round(x, 4) for x in v] for k, v in latencies.items() if v},
        **{k: v for k, v in extra.items() if k != "store"},
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
        f"child {spec['scenario']}/{spec['peer']} failed (rc={proc.returncode}):\n"
        f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


# =========================================================================== report


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``; nan when empty."""
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def summarise(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Latency percentiles over every message of every repeat; CPU and throughput: best repeat."""
    out: dict[str, Any] = {"concurrent": {}, "throughput": {}}
    for peer, runs in raw.get("concurrent", {}).items():
        if not runs:
            continue
        pooled: dict[str, list[float]] = {}
        for r in runs:
            for kind, values in r["latency_ms"].items():
                pooled.setdefault(kind, []).extend(values)
        audio = runs[0]["audio_seconds"]
        cpu = min(r["cpu_seconds"] for r in runs)
        best = min(runs, key=lambda r: r["cpu_seconds"])
        srv = [r["server_cpu_seconds"] for r in runs if r["server_cpu_seconds"] is not None]
        out["concurrent"][peer] = {
            "runs": len(runs),
            "streams": runs[0]["streams"],
            "audio_seconds": audio,
            "messages_per_run": [r["messages"] for r in runs],
            "wall_s": [r["seconds"] for r in runs],
            "cpu_s": [r["cpu_seconds"] for r in runs],
            "user_s": best.get("user_seconds"),
            "system_s": best.get("system_seconds"),
            "voluntary_switches": best.get("voluntary_switches"),
            "rss_growth_mb": max((r.get("rss_growth_mb") or 0.0) for r in runs),
            "cpu_ms_per_stream_s": cpu / audio * 1e3,
            "cpu_ms_per_message": cpu / runs[0]["messages"] * 1e3 if runs[0]["messages"] else math.nan,
            "server_cpu_s": min(srv) if srv else None,
            "latency_ms": {
                kind: {f"p{q}": pct(v, q) for q in (50, 90, 99, 99.9)} | {"max": max(v), "n": len(v)}
                for kind, v in pooled.items()
            },
            "others_cores_per_run": [r.get("others_cores") for r in runs],
            "gc_per_run": [r.get("gc") for r in runs],
            # the run during which other jobs used the least CPU: on a shared machine they only add latency
            "quietest_run": min(range(len(runs)), key=lambda i: runs[i].get("others_cores") or 0.0),
            "p99_per_run_ms": {
                kind: [pct(r["latency_ms"].get(kind, []), 99) for r in runs] for kind in pooled
            },
            "max_per_run_ms": {
                kind: [max(r["latency_ms"].get(kind, [math.nan])) for r in runs] for kind in pooled
            },
            "p50_per_run_ms": {
                kind: [pct(r["latency_ms"].get(kind, []), 50) for r in runs] for kind in pooled
            },
        }
    for peer, runs in raw.get("throughput", {}).items():
        if not runs:
            continue
        best = min(runs, key=lambda r: r["seconds"])
        out["throughput"][peer] = {
            "runs": len(runs),
            "audio_seconds": best["audio_seconds"],
            "wall_s": best["seconds"],
            "wall_runs_s": [r["seconds"] for r in runs],
            "audio_s_per_wall_s": best["audio_seconds"] / best["seconds"],
            "cpu_s": best["cpu_seconds"],
            "server_cpu_s": best["server_cpu_seconds"],
            "messages": best["messages"],
        }
    return out


def _floor(results: dict[str, Any]) -> str | None:
    """The peer dgtools is measured against: the bare client without compression (as dgtools connects)."""
    return next((p for p in ("bare_nodeflate", "bare") if p in results), None)


def targets(summary: dict[str, Any]) -> list[tuple[str, bool, str]]:
    checks: list[tuple[str, bool, str]] = []
    conc = summary["concurrent"]
    if "dgtools" not in conc:
        return checks
    dg = conc["dgtools"]
    lat = dg["p99_per_run_ms"]
    q = dg["quietest_run"]
    ref = _floor(conc)
    if ref:
        bare = conc[ref]
        base = bare["p99_per_run_ms"]["handoff"][bare["quietest_run"]]
        for kind, what in (("captured", ".jsonl written+flushed"), ("callback", "both files flushed")):
            if kind in lat:
                added = lat[kind][q] - base
                checks.append((
                    f"added latency at p99 (quietest runs), {kind} ({what}) - {ref} < {TARGET_ADDED_P99_MS:g} ms",
                    added < TARGET_ADDED_P99_MS,
                    f"{added:.2f} ms ({lat[kind][q]:.2f} - {base:.2f})",
                ))  # fmt: skip
    if ref and "from_audio" in lat and "from_audio" in conc[ref]["p99_per_run_ms"]:
        bare = conc[ref]
        base = bare["p99_per_run_ms"]["from_audio"][bare["quietest_run"]]
        added = lat["from_audio"][q] - base
        checks.append((
            f"added latency at p99 (quietest runs), end to end (audio due -> on_message) - {ref} "
            f"< {TARGET_ADDED_P99_MS:g} ms",
            added < TARGET_ADDED_P99_MS,
            f"{added:.2f} ms ({lat['from_audio'][q]:.2f} - {base:.2f})",
        ))  # fmt: skip
    if "in_process" in lat:
        v = dg["latency_ms"]["in_process"]["p99"]
        checks.append((
            f"dgtools in-process time per message at p99 < {TARGET_ADDED_P99_MS:g} ms",
            v < TARGET_ADDED_P99_MS, f"{v:.3f} ms",
        ))  # fmt: skip
    return checks


def print_report(
    env: dict[str, Any], summary: dict[str, Any], checks: list[tuple[str, bool, str]], a: Any
) -> None:
    print()
    print(
        f"python {env['python']}, websockets {env['websockets']}, uvicorn {env['uvicorn']}, dgtools "
        f"{env['dgtools']} ({env['git']}); {env['cpus_usable']} usable cores; load average "
        f"{'/'.join(f'{x:.2f}' for x in env['loadavg_start'])} at start, "
        f"{'/'.join(f'{x:.2f}' for x in env['loadavg_end'])} at end"
    )
    conc = summary["concurrent"]
    if conc:
        any_peer = next(iter(conc.values()))
        msgs = any_peer["messages_per_run"][0]
        print()
        print(
            f"== {a.streams} concurrent streams at real time, {a.seconds:g} s of audio each, {a.chunk_ms} ms "
            f"chunks, interim_results=true; starts spread over {a.stagger_ms:g} ms; {a.repeats} repeat(s)"
        )
        print(
            f"   ~{msgs} messages per run ({msgs / (a.streams * a.seconds):.1f} per stream-second, "
            f"{msgs / a.seconds:.0f}/s in all); latency = client time - server's _sent_at: percentiles over "
            "every message of every run, then of the run with the least CPU used by other jobs"
        )
        head = (
            f"{'peer / stamp':<34}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'p99.9':>8}{'max ms':>8}{'p99 by run':>16}"
            f"{'quietest p50':>13}{'p99':>8}"
        )
        print(head)
        print("-" * len(head))
        labels = {
            ("bare", "handoff"): "bare: frame out of websockets",
            ("bare_nodeflate", "handoff"): "bare_nodeflate: frame out of ws",
            ("dgtools", "handoff"): "dgtools: frame out of websockets",
            ("dgtools", "captured"): "dgtools: captured (received_at)",
            ("dgtools", "callback"): "dgtools: on_message (all flushed)",
            ("dgtools", "in_process"): "dgtools: in-process (cb - handoff)",
            ("bare", "from_audio"): "bare: audio due -> received",
            ("bare_nodeflate", "from_audio"): "bare_nodeflate: audio due -> recv",
            ("dgtools", "from_audio"): "dgtools: audio due -> on_message",
        }
        for (peer, kind), label in labels.items():
            row = conc.get(peer, {}).get("latency_ms", {}).get(kind)
            if row is None:
                continue
            per_run = ",".join(f"{x:.2f}" for x in conc[peer]["p99_per_run_ms"][kind])
            q = conc[peer]["quietest_run"]
            print(
                f"{label:<34}{row['p50']:>8.3f}{row['p90']:>8.3f}{row['p99']:>8.3f}{row['p99.9']:>8.2f}{row['max']:>8.2f}"
                f"{per_run:>16}{conc[peer]['p50_per_run_ms'][kind][q]:>13.3f}"
                f"{conc[peer]['p99_per_run_ms'][kind][q]:>8.3f}"
            )
        print()
        head = (
            f"{'run':<20}{'others, cores':>14}{'p99 ms':>8}{'e2e p99':>9}{'e2e max':>9}{'gc gen1 n':>11}"
            f"{'max ms':>8}{'gen2 n':>8}{'max ms':>8}"
        )
        print(head)
        print("-" * len(head))
        for peer, row in conc.items():
            kind = "callback" if peer == "dgtools" else "handoff"
            for i, (others, g) in enumerate(zip(row["others_cores_per_run"], row["gc_per_run"], strict=True)):
                busy = "-" if others is None else f"{max(0.0, others):.2f}"
                e2e = row["p99_per_run_ms"].get("from_audio", [math.nan] * (i + 1))[i]
                e2e_max = row.get("max_per_run_ms", {}).get("from_audio", [math.nan] * (i + 1))[i]
                print(
                    f"{f'{peer} #{i + 1}':<20}{busy:>14}{row['p99_per_run_ms'][kind][i]:>8.2f}{e2e:>9.2f}{e2e_max:>9.2f}"
                    f"{g['gen1']['n']:>11}{g['gen1']['max_ms']:>8.2f}{g['gen2']['n']:>8}{g['gen2']['max_ms']:>8.2f}"
                )
        print(
            "   others: CPU used by other processes meanwhile (/proc/stat minus this client and the server); "
            "e2e: audio due -> received (bare) / on_message (dgtools), interim Results; "
            "gc: collections of the cyclic GC in the client and the longest (every stream waits)"
        )
        quietest = {p: r["others_cores_per_run"][r["quietest_run"]] or 0.0 for p, r in conc.items()}
        if any(x > BUSY_CORES for x in quietest.values()):
            print(
                f"   WARNING: other jobs used more than {BUSY_CORES:g} core in every run of a peer: the client "
                "was descheduled; its tail latencies measure the machine, not dgtools. Rerun when it is quiet."
            )
        ref = _floor(conc)
        if ref and "dgtools" in conc:
            bare, dg = conc[ref], conc["dgtools"]
            qb, qd = bare["quietest_run"], dg["quietest_run"]
            b50, b99 = bare["p50_per_run_ms"]["handoff"][qb], bare["p99_per_run_ms"]["handoff"][qb]
            print()
            print(f"quietest runs, against {ref}:")
            for kind in ("handoff", "captured", "callback", "from_audio"):
                if kind not in dg["p99_per_run_ms"]:
                    continue
                base = "from_audio" if kind == "from_audio" else "handoff"
                b50, b99 = bare["p50_per_run_ms"][base][qb], bare["p99_per_run_ms"][base][qb]
                d50, d99 = dg["p50_per_run_ms"][kind][qd], dg["p99_per_run_ms"][kind][qd]
                print(
                    f"  dgtools {kind:<9} - {ref}:  p50 {d50 - b50:+.3f} ms ({d50 / b50:.2f}x)"
                    f"   p99 {d99 - b99:+.3f} ms ({d99 / b99:.2f}x)"
                )
        print()
        head = (
            f"{'client CPU':<16}{'CPU s':>8}{'user s':>8}{'sys s':>8}{'ms per stream-s':>17}{'% of a core':>13}"
            f"{'server CPU s':>14}{'RSS +MB':>9}"
        )
        print(head)
        print("-" * len(head))
        for peer in ALL_PEERS:
            row = conc.get(peer)
            if row is None:
                continue
            cpu = min(row["cpu_s"])
            core = cpu / (row["audio_seconds"] / row["streams"])  # CPU s over the run's audio length
            srv = "-" if row["server_cpu_s"] is None else f"{row['server_cpu_s']:.2f}"
            print(
                f"{peer:<16}{cpu:>8.2f}{row['user_s']:>8.2f}{row['system_s']:>8.2f}"
                f"{row['cpu_ms_per_stream_s']:>17.3f}{core:>13.1%}{srv:>14}{row['rss_growth_mb']:>9.0f}"
            )
        print(
            "   RSS +MB: peak RSS growth over the call; bare keeps one copy of the audio for all its streams, "
            "dgtools.astream reads each stream's file whole (as it would 50 different files)"
        )
        for base_peer in ("bare", "bare_nodeflate"):
            if base_peer in conc and "dgtools" in conc:
                ratio = conc["dgtools"]["cpu_ms_per_stream_s"] / conc[base_peer]["cpu_ms_per_stream_s"]
                extra = conc["dgtools"]["cpu_ms_per_message"] - conc[base_peer]["cpu_ms_per_message"]
                print(
                    f"dgtools / {base_peer} CPU: {ratio:.2f}x  ({extra * 1e3:+.0f} us per message received; "
                    "the CPU includes pacing and sending the audio)"
                )
    tput = summary["throughput"]
    if tput:
        print()
        print(
            f"== one stream at realtime=0, {a.tput_seconds:g} s of audio, {a.chunk_ms} ms chunks, "
            f"interim_results=true; best of {a.tput_repeats}"
        )
        head = f"{'peer':<16}{'wall s':>8}{'audio s / wall s':>18}{'client CPU s':>14}{'server CPU s':>14}{'msgs':>7}"
        print(head)
        print("-" * len(head))
        for peer in ALL_PEERS:
            row = tput.get(peer)
            if row is None:
                continue
            srv = "-" if row["server_cpu_s"] is None else f"{row['server_cpu_s']:.2f}"
            print(
                f"{peer:<16}{row['wall_s']:>8.3f}{row['audio_s_per_wall_s']:>18.1f}{row['cpu_s']:>14.3f}"
                f"{srv:>14}{row['messages']:>7}"
            )
        for base_peer in ("bare", "bare_nodeflate"):
            if base_peer in tput and "dgtools" in tput:
                r = tput["dgtools"]["audio_s_per_wall_s"] / tput[base_peer]["audio_s_per_wall_s"]
                print(f"dgtools / {base_peer} throughput: {r:.2f}x")
    if checks:
        print()
        print("targets:")
        for target, ok, value in checks:
            print(f"  [{'PASS' if ok else 'FAIL'}] {target}: {value}")


# =========================================================================== main


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=50, help="concurrent streams (default 50)")
    ap.add_argument("--seconds", type=float, default=20.0, help="audio seconds per stream (default 20)")
    ap.add_argument("--chunk-ms", type=int, default=100, help="milliseconds of audio per frame (default 100)")
    ap.add_argument(
        "--stagger-ms", type=float, default=None,
        help="stream starts spread evenly over this many ms (default: --chunk-ms; 0: all at once)",
    )  # fmt: skip
    ap.add_argument(
        "--repeats", type=int, default=2, help="runs per peer of the concurrent scenario (default 2)"
    )
    ap.add_argument(
        "--tput-seconds",
        type=float,
        default=600.0,
        help="audio seconds of the realtime=0 stream (default 600)",
    )
    ap.add_argument("--tput-repeats", type=int, default=3, help="runs per peer at realtime=0 (default 3)")
    ap.add_argument(
        "--peers", default=",".join(PEERS),
        help=f"comma-separated subset of {','.join(ALL_PEERS)} (default {','.join(PEERS)})",
    )  # fmt: skip
    ap.add_argument("--only", choices=("concurrent", "throughput"), help="run one scenario (default: both)")
    ap.add_argument(
        "--quick", action="store_true",
        help="smoke run: 10 streams x 5 s, 1 repeat, 60 s at realtime=0, 1 repeat (explicit flags win)",
    )  # fmt: skip
    ap.add_argument(
        "--profile", action="store_true",
        help="cProfile every peer's first run of each scenario into bench/results/ and print the top "
        "functions (latencies and CPU are then inflated)",
    )  # fmt: skip
    ap.add_argument("--no-json", action="store_true", help="do not write bench/results/stream-<time>.json")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    ap.add_argument("--_server", action="store_true", help=argparse.SUPPRESS)
    raw_argv = sys.argv[1:] if argv is None else argv
    a = ap.parse_args(argv)
    if a._server:
        server_main()
        return 0
    if a._child:
        child_main(json.loads(a._child))
        return 0
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if a.quick:  # smaller defaults; flags given explicitly keep their values
        given = {x.split("=")[0] for x in raw_argv if x.startswith("--")}
        for flag, value in (
            ("--streams", 10), ("--seconds", 5.0), ("--repeats", 1), ("--tput-seconds", 60.0), ("--tput-repeats", 1),
        ):  # fmt: skip
            if flag not in given:
                setattr(a, flag[2:].replace("-", "_"), value)
    if a.stagger_ms is None:
        a.stagger_ms = float(a.chunk_ms)
    peers = [p for p in ALL_PEERS if p in _csv(a.peers)]
    if not peers or set(_csv(a.peers)) - set(ALL_PEERS):
        ap.error(f"--peers from {','.join(ALL_PEERS)}")
    if a.streams < 1 or a.seconds <= 0 or a.tput_seconds <= 0 or a.repeats < 1 or a.tput_repeats < 1:
        ap.error("--streams, --repeats and --tput-repeats must be at least 1, seconds positive")
    scenarios = [s for s in ("concurrent", "throughput") if a.only in (None, s)]

    env = environment(("websockets", "uvicorn", "starlette", "msgspec", "httptools", "dgtools"))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    started = time.perf_counter()
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {s: {p: [] for p in peers} for s in scenarios}
    errors: dict[str, list[str]] = {}
    profiles: list[tuple[str, Path]] = []
    tmp = Path(tempfile.mkdtemp(prefix="dgtools-bench-stream-"))
    try:
        wavs = {
            "concurrent": write_wav(tmp / "concurrent.wav", a.seconds, seed=1),
            "throughput": write_wav(tmp / "throughput.wav", a.tput_seconds, seed=2),
        }
        warm = write_wav(tmp / "warm.wav", 1.0, seed=3)
        work = tmp / "work"
        work.mkdir()
        server = Server().start()
        try:
            plan = [("concurrent", rep) for rep in range(a.repeats)] if "concurrent" in scenarios else []
            plan += (
                [("throughput", rep) for rep in range(a.tput_repeats)] if "throughput" in scenarios else []
            )
            total = len(plan) * len(peers)
            done = 0
            for scenario, rep in plan:
                order = peers[rep % len(peers) :] + peers[: rep % len(peers)]  # rotate who goes first
                for peer in order:
                    done += 1
                    conc = scenario == "concurrent"
                    spec: dict[str, Any] = {
                        "scenario": scenario, "peer": peer, "url": server.url, "server_pid": server.pid,
                        "wav": str(wavs[scenario]), "warm": str(warm), "work": str(work),
                        "streams": a.streams if conc else 1, "realtime": 1.0 if conc else 0.0,
                        "chunk_ms": a.chunk_ms, "stagger_s": a.stagger_ms / 1e3 if conc else 0.0,
                    }  # fmt: skip
                    if a.profile and rep == 0:
                        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
                        prof = RESULTS_DIR / f"stream-{stamp}-{scenario}-{peer}.prof"
                        spec["profile"] = str(prof)
                        profiles.append((f"{peer} {scenario}", prof))
                    label = f"[{done}/{total}] {scenario:<10} rep {rep + 1}: {peer:<8}"
                    try:
                        res = run_child(spec)
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        errors.setdefault(f"{scenario}/{peer}", []).append(str(exc))
                        print(f"{label} ERROR {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
                        continue
                    raw[scenario][peer].append(res)
                    lat = res["latency_ms"].get("callback", res["latency_ms"].get("handoff", []))
                    others = res.get("others_cores")
                    print(
                        f"{label} wall {res['seconds']:7.2f} s  cpu {res['cpu_seconds']:6.2f} s  "
                        f"{res['messages']} msgs  p99 {pct(lat, 99):7.2f} ms  others "
                        f"{'-' if others is None else f'{others:.2f}'} cores  "
                        f"({time.perf_counter() - started:.0f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
                    shutil.rmtree(work, ignore_errors=True)  # dgtools' stores
                    work.mkdir(exist_ok=True)
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    env["loadavg_end"] = os.getloadavg()
    env["elapsed_s"] = time.perf_counter() - started
    summary = summarise(raw)
    checks = targets(summary)
    for key, errs in errors.items():
        checks.append((f"{key} ran", False, errs[-1].strip().splitlines()[-1]))
    print_report(env, summary, checks, a)
    if errors:
        print(f"\n{sum(map(len, errors.values()))} run(s) failed (details in the JSON):")
        for key, errs in errors.items():
            print(f"  {key}: {len(errs)} x {errs[-1].strip().splitlines()[-1]}")
    if profiles:
        import pstats

        print("\nprofiles (cProfile of the measured call; tottime, top 20):")
        for label, prof in profiles:
            if prof.exists():
                print(f"\n-- {label}: {prof.relative_to(ROOT)}")
                pstats.Stats(str(prof)).sort_stats("tottime").print_stats(20)
    print(f"\ntotal time {env['elapsed_s']:.0f} s")
    if a.profile:
        print("(--profile: latencies and CPU are inflated by cProfile; do not read the targets)")
    if not a.no_json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"stream-{stamp}.json"
        out.write_text(
            json.dumps(
                {
                    "environment": env,
                    "args": {k: v for k, v in vars(a).items() if not k.startswith("_")},
                    "checks": [{"target": t, "pass": ok, "value": d} for t, ok, d in checks],
                    "summary": summary,
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
