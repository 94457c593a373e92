"""Benchmark ``dgtools.to_tables`` against its peers on the same corpus.

Peers (each timed on every file of a corpus, read from disk each time):

``floor``
    ``orjson.loads(path.read_bytes())`` per file, results discarded: the JSON
    has to be parsed, so nothing that builds tables from it can beat this.
``json_normalize``
    What a typical user writes: ``json.load`` per file, then
    ``pd.json_normalize`` for the words and the utterances, ``pd.concat``
    across files (2 tables; dgtools builds 8 from the same files).
``deepgram_sdk``
    The official SDK's own response parsing, exactly as
    ``client.listen.v1.media.transcribe_url/transcribe_file`` does it
    (``construct_type(type_=MediaTranscribeResponse, object_=response.json())``,
    where ``response.json()`` is httpx's, i.e. stdlib ``json.loads``), then a
    Python loop over channels/alternatives/words and utterances building row
    dicts into two DataFrames.
``dgtools``
    ``dgtools.to_tables(folder)``: all tables.

Every measured call runs in a fresh subprocess of this script (hidden flag
``--_child``): imports, a warm-up on a one-file corpus, then the RSS just
before the call, the wall time of the call, and ``ru_maxrss`` after it.  Runs
are interleaved (repeat 1 of every peer, then repeat 2, ...; the order
rotates) so that load from other processes hits all peers alike.

Usage::

    python bench/bench_tables.py                          # both corpora, 3 repeats
    python bench/bench_tables.py --only small --repeats 1 # quick
    python bench/bench_tables.py --stat median            # ratios on medians (default: min)

Corpora are generated with ``bench/corpus.py`` into ``bench/.corpus/`` when
absent.  Results go to stdout and, as JSON, to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _env import environment  # bench/_env.py (this folder is on sys.path when run as a script)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS_ROOT = HERE / ".corpus"
RESULTS_DIR = HERE / "results"

#: name -> corpus.py parameters.  "large" is 4x "small".
CORPORA: dict[str, dict[str, Any]] = {
    "small": {"files": 200, "minutes": 10.0, "seed": 0},
    "large": {"files": 800, "minutes": 10.0, "seed": 0},
}
WARMUP = {"files": 1, "minutes": 1.0, "seed": 12345}
CORPUS_FORMAT = "compact-v1"  # bump if corpus.py's output changes

PEERS = ("floor", "json_normalize", "deepgram_sdk", "dgtools")

TARGETS = {
    "floor_ratio": 1.5,  # dgtools <= 1.5x floor
    "speedup_json_normalize": 5.0,  # dgtools >= 5x faster than json_normalize
    "linearity": 1.15,  # dgtools time per word, large / small
    "peak_over_tables": 3.0,  # dgtools peak RSS growth <= 3x the size of its tables
}


# =========================================================================== the peers
# Each takes the corpus folder and returns {table name: DataFrame} (or None).


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


def peer_floor(folder: Path) -> None:
    import orjson

    for path in _files(folder):
        orjson.loads(path.read_bytes())
    return None


def peer_json_normalize(folder: Path) -> dict[str, Any]:
    import pandas as pd

    words, utterances = [], []
    for path in _files(folder):
        with open(path, encoding="utf-8") as f:
            resp = json.load(f)
        rid = resp["metadata"]["request_id"]
        # meta=[["metadata", "request_id"]] does not work with a nested record_path
        # (pandas looks for it under results.channels...), so users add it by hand.
        w = pd.json_normalize(resp, record_path=["results", "channels", "alternatives", "words"])
        w["file_id"] = path.stem
        w["request_id"] = rid
        words.append(w)
        u = pd.json_normalize(resp, record_path=["results", "utterances"]).drop(columns="words")
        u["file_id"] = path.stem
        u["request_id"] = rid
        utterances.append(u)
    return {
        "words": pd.concat(words, ignore_index=True),
        "utterances": pd.concat(utterances, ignore_index=True),
    }


def peer_deepgram_sdk(folder: Path) -> dict[str, Any]:
    import pandas as pd
    from deepgram.core.unchecked_base_model import construct_type
    from deepgram.listen.v1.media.types import MediaTranscribeResponse

    wrows: list[dict[str, Any]] = []
    urows: list[dict[str, Any]] = []
    for path in _files(folder):
        # Exactly what RawMediaClient.transcribe_url/transcribe_file do with a 200 response
        # (deepgram/listen/v1/media/raw_client.py); httpx's Response.json() is json.loads(content).
        resp = construct_type(type_=MediaTranscribeResponse, object_=json.loads(path.read_bytes()))
        fid, rid = path.stem, resp.metadata.request_id
        for ci, ch in enumerate(resp.results.channels):
            for ai, alt in enumerate(ch.alternatives or ()):
                for wi, w in enumerate(alt.words or ()):
                    wrows.append(
                        {
                            "file_id": fid, "request_id": rid, "channel": ci, "alternative": ai,
                            "word_index": wi, "word": w.word,
                            "punctuated_word": getattr(w, "punctuated_word", None),  # an "extra" field in the SDK model
                            "start": w.start, "end": w.end, "confidence": w.confidence,
                            "speaker": w.speaker, "speaker_confidence": w.speaker_confidence,
                        }
                    )  # fmt: skip
        for ui, u in enumerate(resp.results.utterances or ()):
            urows.append(
                {
                    "file_id": fid, "request_id": rid, "utterance_index": ui, "id": u.id,
                    "channel": u.channel, "speaker": u.speaker, "start": u.start, "end": u.end,
                    "confidence": u.confidence, "transcript": u.transcript, "n_words": len(u.words or ()),
                }
            )  # fmt: skip
    return {"words": pd.DataFrame(wrows), "utterances": pd.DataFrame(urows)}


def peer_dgtools(folder: Path) -> dict[str, Any]:
    import dgtools

    tables = dgtools.to_tables(folder)
    return dict(tables.items())


PEER_FUNCS = {
    "floor": peer_floor,
    "json_normalize": peer_json_normalize,
    "deepgram_sdk": peer_deepgram_sdk,
    "dgtools": peer_dgtools,
}


# =========================================================================== child process


def _rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:  # Linux without psutil
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024  # KB on Linux, bytes on macOS


def _table_sizes(tables: dict[str, Any] | None) -> dict[str, Any]:
    if not tables:
        return {"tables_bytes": 0, "arrow_bytes": None, "rows": {}}
    import pandas as pd
    import pyarrow as pa

    total = 0
    arrow: int | None = 0
    for df in tables.values():
        total += int(df.memory_usage(deep=True, index=True).sum())
        if arrow is not None:
            if all(isinstance(dt, pd.ArrowDtype) for dt in df.dtypes):
                # zero-copy: the Arrow buffers the DataFrame's columns already are
                arrow += int(pa.Table.from_pandas(df, preserve_index=False).nbytes)
            else:
                arrow = None  # numpy/object columns: no Arrow buffers to count
    rows = {name: len(df) for name, df in tables.items() if name in ("words", "utterances")}
    return {"tables_bytes": total, "arrow_bytes": arrow, "rows": rows}


def child_main(peer: str, folder: Path, warmup: Path) -> None:
    import gc

    import pandas  # noqa: F401  (imported by every peer; part of the baseline)

    func = PEER_FUNCS[peer]
    func(warmup)  # imports, pydantic schema build, pyarrow kernels ... not part of the timing
    gc.collect()
    rss_before = _rss_bytes()
    maxrss_before = _maxrss_bytes()
    c0 = time.process_time()
    t0 = time.perf_counter()
    tables = func(folder)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    maxrss_after = _maxrss_bytes()
    out = {
        "peer": peer,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rss_before": rss_before,
        "maxrss_before": maxrss_before,
        "maxrss_after": maxrss_after,
        "peak_growth": maxrss_after - rss_before,
        # the call did not raise the process's high-water mark: its growth is at most this
        "peak_is_upper_bound": maxrss_after <= maxrss_before,
        "n_tables": len(tables or {}),
    }
    out.update(_table_sizes(tables))
    print("@@RESULT " + json.dumps(out))


def sdk_check_main(path: Path) -> None:
    """Show that construct_type(MediaTranscribeResponse, ...) is what the SDK client returns."""
    import httpx
    from deepgram import DeepgramClient
    from deepgram.core.unchecked_base_model import construct_type
    from deepgram.listen.v1.media.types import MediaTranscribeResponse

    body = path.read_bytes()
    transport = httpx.MockTransport(
        lambda req: httpx.Response(200, content=body, headers={"content-type": "application/json"})
    )
    client = DeepgramClient(api_key="not-used", httpx_client=httpx.Client(transport=transport))
    via_client = client.listen.v1.media.transcribe_url(
        url="https://example.com/call.wav", diarize=True, utterances=True
    )
    via_parse = construct_type(type_=MediaTranscribeResponse, object_=json.loads(body))
    ok = type(via_client) is type(via_parse) and via_client == via_parse
    print(
        "@@RESULT "
        + json.dumps({"ok": ok, "type": f"{type(via_client).__module__}.{type(via_client).__qualname__}"})
    )


def run_child(args: list[str], timeout: float = 3600) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT "):
            return json.loads(line[len("@@RESULT ") :])
    raise RuntimeError(
        f"child {args} failed (rc={proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


# =========================================================================== corpora


def ensure_corpus(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Generate ``bench/.corpus/<name>`` unless it is already there; return its manifest."""
    folder = CORPUS_ROOT / name
    manifest_path = folder / "MANIFEST"
    want = {**params, "format": CORPUS_FORMAT}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        n_files = len(list(folder.glob("*.json")))
        if {k: manifest.get(k) for k in want} == want and n_files == params["files"]:
            return manifest
    sys.path.insert(0, str(HERE))
    from corpus import write_corpus  # bench/corpus.py

    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    print(
        f"generating corpus {name!r}: {params['files']} files x {params['minutes']:g} min ...",
        file=sys.stderr,
        flush=True,
    )
    paths = write_corpus(folder, files=params["files"], minutes=params["minutes"], seed=params["seed"])
    words = utterances = nbytes = 0
    for p in paths:
        raw = p.read_bytes()
        nbytes += len(raw)
        d = json.loads(raw)
        words += sum(len(a["words"]) for c in d["results"]["channels"] for a in c["alternatives"])
        utterances += len(d["results"].get("utterances") or ())
    manifest = {**want, "words": words, "utterances": utterances, "bytes": nbytes}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    print(
        f"  done in {time.perf_counter() - t0:.1f} s: {words:,} words, {nbytes / 1e6:.0f} MB",
        file=sys.stderr,
        flush=True,
    )
    return manifest


# =========================================================================== report


def _mb(b: float | None) -> str:
    return "-" if b is None else f"{b / 1e6:,.1f}"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


STATS = {
    "min": "min wall time of the repeats",
    "median": "median wall time of the repeats",
    "cpu": "min CPU time (user+system, all threads) of the repeats",
}


def summarise(
    raw: dict[str, dict[str, list[dict[str, Any]]]], manifests: dict[str, dict[str, Any]], stat: str
) -> dict[str, Any]:
    """Per (corpus, peer): wall/CPU statistics, memory, and ratios computed on ``stat``."""
    summary: dict[str, Any] = {}
    for corpus, by_peer in raw.items():
        words = manifests[corpus]["words"]
        rows: dict[str, Any] = {}
        for peer, runs in by_peer.items():
            if not runs:
                continue
            wall = [r["seconds"] for r in runs]
            cpu = [r["cpu_seconds"] for r in runs]
            last = runs[-1]
            r = rows[peer] = {
                "median_s": statistics.median(wall),
                "min_s": min(wall),
                "cpu_min_s": min(cpu),
                "runs_s": wall,
                "runs_cpu_s": cpu,
                "peak_growth": statistics.median(r["peak_growth"] for r in runs),
                "peak_is_upper_bound": any(r["peak_is_upper_bound"] for r in runs),
                "tables_bytes": last["tables_bytes"],
                "arrow_bytes": last["arrow_bytes"],
                "rows": last["rows"],
                "n_tables": last["n_tables"],
            }
            r["peak_over_tables"] = r["peak_growth"] / r["tables_bytes"] if r["tables_bytes"] else None
            for key, st in (("t", stat), ("t_min", "min"), ("t_median", "median"), ("t_cpu", "cpu")):
                r[key] = r[{"min": "min_s", "median": "median_s", "cpu": "cpu_min_s"}[st]]
            r["s_per_mword"] = r["t"] / (words / 1e6)
        for key in ("t", "t_min", "t_median", "t_cpu"):
            sfx = key[1:]  # "", "_min", ...
            floor = rows["floor"][key] if "floor" in rows else float("nan")
            dg = rows.get("dgtools")
            for r in rows.values():
                r["x_floor" + sfx] = r[key] / floor
                if dg:
                    r["x_dgtools" + sfx] = r[key] / dg[key]
        summary[corpus] = {"words": words, "files": manifests[corpus]["files"], "peers": rows}
    return summary


def targets(summary: dict[str, Any], stat: str) -> list[tuple[str, bool, str]]:
    """(label, passed, detail) per target; judged on ``stat``, the other statistics shown alongside."""

    def others(fmt: str, value: Any) -> str:
        return "; ".join(
            f"{st} {fmt.format(value(sfx))}"
            for st, sfx in (("min", "_min"), ("median", "_median"), ("cpu", "_cpu"))
            if st != stat
        )

    out: list[tuple[str, bool, str]] = []
    for corpus, s in summary.items():
        p = s["peers"]
        if "dgtools" not in p or "floor" not in p:
            continue
        dg = p["dgtools"]
        out.append(
            (
                f"[{corpus}] dgtools <= {TARGETS['floor_ratio']}x floor",
                dg["x_floor"] <= TARGETS["floor_ratio"],
                f"{dg['x_floor']:.2f}x  ({others('{:.2f}x', lambda sfx, dg=dg: dg['x_floor' + sfx])})",
            )
        )
        if "json_normalize" in p:
            jn = p["json_normalize"]
            out.append(
                (
                    f"[{corpus}] dgtools >= {TARGETS['speedup_json_normalize']:g}x faster than json_normalize",
                    jn["x_dgtools"] >= TARGETS["speedup_json_normalize"],
                    f"{jn['x_dgtools']:.1f}x  ({others('{:.1f}x', lambda sfx, jn=jn: jn['x_dgtools' + sfx])})",
                )
            )
        ratio = dg["peak_over_tables"]
        bound = "<= " if dg["peak_is_upper_bound"] else ""
        out.append(
            (
                f"[{corpus}] dgtools peak RSS growth <= {TARGETS['peak_over_tables']:g}x its tables",
                ratio is not None and ratio <= TARGETS["peak_over_tables"],
                f"{bound}{_mb(dg['peak_growth'])} MB / {_mb(dg['tables_bytes'])} MB = {bound}{ratio:.2f}x",
            )
        )
    if all(c in summary and "dgtools" in summary[c]["peers"] for c in ("small", "large")):
        sm, lg = summary["small"]["peers"]["dgtools"], summary["large"]["peers"]["dgtools"]
        ws, wl = summary["small"]["words"], summary["large"]["words"]

        def lin(sfx: str) -> float:
            key = "t" + sfx
            return (lg[key] / wl) / (sm[key] / ws)

        out.append(
            (
                f"linear in words: dgtools s/Mword large/small <= {TARGETS['linearity']}",
                lin("") <= TARGETS["linearity"],
                f"{lg['s_per_mword']:.3f} / {sm['s_per_mword']:.3f} = {lin(''):.3f}  ({others('{:.3f}', lin)})",
            )
        )
    return out


def print_report(
    env: dict[str, Any],
    summary: dict[str, Any],
    checks: list[tuple[str, bool, str]],
    sdk: dict[str, Any],
    repeats: int,
    stat: str,
) -> None:
    print()
    print(
        "environment: "
        + ", ".join(
            f"{k} {env[k]}"
            for k in ("python", "pandas", "pyarrow", "numpy", "orjson", "pydantic", "deepgram-sdk", "dgtools")
        )
    )
    print(
        f"             {env['platform']}; cores: {env['cpu_count']} (usable {env['cpus_usable']}); "
        f"load avg start {', '.join(f'{x:.2f}' for x in env['loadavg_start'])} "
        f"end {', '.join(f'{x:.2f}' for x in env['loadavg_end'])}"
    )
    print(f"dgtools checkout: {env['git']}")
    print(f"repeats: {repeats} per peer per corpus, interleaved, each in a fresh process")
    print(f"ratios, s/Mword and targets use: {stat} = {STATS[stat]}")
    if sdk:
        print(
            "SDK parse path check (client.listen.v1.media.transcribe_url via httpx.MockTransport == "
            f"construct_type(MediaTranscribeResponse, json.loads(body))): {'OK' if sdk.get('ok') else 'MISMATCH'}"
            f" -> {sdk.get('type')}"
        )
    for corpus, s in summary.items():
        print()
        print(f"== {corpus}: {s['files']} files, {s['words']:,} words")
        head = (f"{'peer':<15}{'median s':>9}{'min s':>8}{'cpu s':>8}{'x floor':>9}{'peer/dgtools':>14}{'s/Mword':>9}"
                f"{'peak MB':>10}{'tables MB':>11}{'arrow MB':>10}{'peak/tables':>13}  rows: words, utterances")  # fmt: skip
        print(head)
        print("-" * len(head))
        for peer in PEERS:
            r = s["peers"].get(peer)
            if r is None:
                continue
            bound = "<=" if r["peak_is_upper_bound"] else ""
            pot = "-" if r["peak_over_tables"] is None else f"{bound}{r['peak_over_tables']:.2f}x"
            xdg = f"{r['x_dgtools']:.2f}x" if "x_dgtools" in r else "-"
            rows = r["rows"]
            rows_s = f"{rows.get('words', '-')}, {rows.get('utterances', '-')}" if rows else "-"
            print(
                f"{peer:<15}{r['median_s']:>9.3f}{r['min_s']:>8.3f}{r['cpu_min_s']:>8.3f}{r['x_floor']:>8.2f}x{xdg:>14}"
                f"{r['s_per_mword']:>9.3f}{bound + _mb(r['peak_growth']):>10}{_mb(r['tables_bytes'] or None):>11}"
                f"{_mb(r['arrow_bytes']):>10}{pot:>13}  {rows_s}"
            )
    print()
    print(f"targets (judged on {stat}; the other statistics in brackets):")
    for label, ok, detail in checks:
        print(f"  {_verdict(ok)}  {label}: {detail}")


# =========================================================================== main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(CORPORA), help="run one corpus (default: both)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per peer per corpus (default 3)")
    ap.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"comma-separated subset of {','.join(PEERS)} (floor is always run)",
    )
    ap.add_argument(
        "--stat", choices=list(STATS), default="min",
        help="statistic for ratios and targets: min wall time (default), median wall time, or min CPU time",
    )  # fmt: skip
    ap.add_argument("--no-json", action="store_true", help="do not write bench/results/tables-<time>.json")
    ap.add_argument("--_child", nargs=3, metavar=("PEER", "FOLDER", "WARMUP"), help=argparse.SUPPRESS)
    ap.add_argument("--_sdk_check", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # keep the report in order with the progress on stderr

    if a._child:
        child_main(a._child[0], Path(a._child[1]), Path(a._child[2]))
        return 0
    if a._sdk_check:
        sdk_check_main(a._sdk_check)
        return 0

    peers = [p for p in PEERS if p == "floor" or p in a.peers.split(",")]
    corpora = [a.only] if a.only else list(CORPORA)
    env = environment(
        ("pandas", "pyarrow", "numpy", "orjson", "pydantic", "deepgram-sdk", "dgtools", "psutil")
    )
    manifests = {name: ensure_corpus(name, CORPORA[name]) for name in corpora}
    ensure_corpus("warmup", WARMUP)
    warm_dir = CORPUS_ROOT / "warmup"

    sdk = (
        run_child(["--_sdk_check", str(next(iter(sorted(warm_dir.glob("*.json")))))])
        if "deepgram_sdk" in peers
        else {}
    )

    raw: dict[str, dict[str, list[dict[str, Any]]]] = {c: {p: [] for p in peers} for c in corpora}
    total = a.repeats * len(corpora) * len(peers)
    done = 0
    errors: dict[str, list[str]] = {}
    for rep in range(a.repeats):
        for corpus in corpora:
            order = peers[rep % len(peers) :] + peers[: rep % len(peers)]  # rotate who goes first
            for peer in order:
                done += 1
                try:
                    res = run_child(["--_child", peer, str(CORPUS_ROOT / corpus), str(warm_dir)])
                except (RuntimeError, subprocess.TimeoutExpired) as exc:  # e.g. dgtools mid-edit
                    errors.setdefault(f"{corpus}/{peer}", []).append(str(exc))
                    last = str(exc).strip().splitlines()[-1]
                    print(
                        f"[{done}/{total}] {corpus} rep {rep + 1}: {peer:<15} ERROR {last}",
                        file=sys.stderr,
                        flush=True,
                    )
                    continue
                raw[corpus][peer].append(res)
                print(
                    f"[{done}/{total}] {corpus} rep {rep + 1}: {peer:<15} {res['seconds']:8.3f} s  "
                    f"peak +{_mb(res['peak_growth'])} MB",
                    file=sys.stderr,
                    flush=True,
                )
    env["loadavg_end"] = os.getloadavg()
    summary = summarise(raw, manifests, a.stat)
    checks = targets(summary, a.stat)
    for key, errs in errors.items():
        corpus, peer = key.split("/")
        if peer == "dgtools" and not raw[corpus]["dgtools"]:
            checks.append((f"[{corpus}] dgtools ran", False, errs[-1].strip().splitlines()[-1]))
    print_report(env, summary, checks, sdk, a.repeats, a.stat)
    if errors:
        print(f"\n{sum(map(len, errors.values()))} run(s) failed (details in the JSON):")
        for key, errs in errors.items():
            print(f"  {key}: {len(errs)} x {errs[-1].strip().splitlines()[-1]}")

    if not a.no_json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS_DIR / f"tables-{stamp}.json"
        out.write_text(
            json.dumps(
                {
                    "environment": env,
                    "corpora": manifests,
                    "repeats": a.repeats,
                    "stat": a.stat,
                    "targets": TARGETS,
                    "checks": [{"target": t, "pass": ok, "value": d} for t, ok, d in checks],
                    "sdk_check": sdk,
                    "summary": summary,
                    "runs": raw,
                    "errors": errors,
                },
                indent=1,
                default=str,
            )
        )
        print(f"\nresults: {out.relative_to(ROOT)}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
