"""Flattening at scale: to_tables in one process, to_tables(processes=2), and Dask on 2 workers.

Usage::

    python bench/bench_scale.py [--files 800] [--words 1500] [--shard-size 200] [--repeats 3]

Corpus: ``--files`` ten-minute responses written to a temp folder, each the real diarized
fixture ``prerecorded_diarize_utterances_paragraphs__deepgram-python-captions.json`` (226
words, 170 s, utterances and paragraphs) replicated end to end with shifted times to about
``--words`` words (~600 s), with its own request_id.  Each figure is the best of ``--repeats``
runs after a warm-up run (which also starts the process pool's fork server).  Two comparable
pairs: ``dgtools.to_tables(folder)`` against ``dgtools.to_tables(folder, processes=2)`` (every
table as pandas in this process), and ``dgtools.write_dataset(folder, out)`` against
``dgtools.dask.write_dataset(folder, out, shard_size=200)`` on a ``distributed.LocalCluster`` of 2
worker processes, 1 thread each (every table built once per shard and written as Parquet;
cluster start-up not timed).  ``shard_size=200`` gives 4 tasks, 2 per worker; each task writes
17 files (~25 ms however small), so on this small corpus 20-response shards were 1.3x slower and
100-response shards (8 tasks) about 5% slower than 200.
``read_store`` is not timed for all 17 tables: each call builds every table of its shards, so
17 calls do 17 times the work.  Every output must equal the one-process tables.

Projection: seconds per response on one worker = Dask time / files x 2, linear in responses and
workers.  Assumptions: responses like these (~1,500 words); files read from a filesystem as
fast as this one (page cache here; an object store adds latency per file); each worker a core
of this speed; the output written by the workers (``dgtools.dask.write_dataset``), never
gathered to one client (100 M responses are ~150 G words); scheduler overhead (~2 ms per task
of 100 responses) negligible; the final swap of the output folder (one rename per table folder)
independent of size.

2026-12-06, 2 cores idle (load average 1.2-1.6), dask/distributed 2026.8.0, pyarrow 26.0.1, pandas
3.1.1, 800 files, 1,265,600 words, five runs of the script: to_tables 1.82-1.87 s, processes=2
1.07-1.13 s (1.62x-1.74x); write_dataset 2.15-2.21 s, Dask 2 workers 1.24-1.33 s (1.64x-1.76x;
1.64x was with 100-response shards); equal tables every time.  So both sit at about the 1.7x
target, within the run-to-run spread of this shared machine.  With another job's load (~1.3)
the same script gave 1.67x and 1.50x, and while other jobs held the cores (load average 4-8)
0.5-1.1x: the ratios need an idle machine.  Before ``processes=`` returned tables through Arrow
IPC files and preloaded its module in the fork server it gave 0.8x (pickling through the pipe,
and importing pandas in each worker, ~1 s); before the Dask tasks wrote their parts directly it
gave 0.4x (each part recomputed the pandas metadata of 17 schemas, 0.2 s).
Four more runs on 2026-12-06 (after partition_on=, and the parent mapping the workers' Arrow files
instead of reading them, which gained ~0.02 s): to_tables 1.79-1.80 s, processes=2 1.10-1.12 s
(1.60x-1.63x); write_dataset 2.15-2.23 s, Dask 1.25-1.37 s (1.62x-1.72x).  Dask's task stream
shows why not 2x: each 200-response task takes 0.62-0.75 s in a worker, ~20% more than its share
of the one-process time, with pyarrow's threads and the cluster's processes on the same 2 cores.
Projection at 3.2-3.4 ms per response per worker: 1 M responses 0.9 h on 1 worker, 5.5 min on
10, 33 s on 100; 10 M: 9 h / 0.9 h / 5.5 min; 100 M: 90 h / 9 h / 0.9 h on 1 / 10 / 100 workers.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _env import environment  # noqa: E402

import dgtools  # noqa: E402

FIXTURE = "prerecorded_diarize_utterances_paragraphs__deepgram-python-captions.json"


def corpus(folder: Path, files: int, words: int) -> int:
    """Write ``files`` responses of about ``words`` words each; returns the words written."""
    base = json.loads((REPO.parent / "shared" / "fixtures" / "deepgram" / FIXTURE).read_text())
    alt = base["results"]["channels"][0]["alternatives"][0]
    span = float(base["metadata"]["duration"])
    copies = max(1, round(words / len(alt["words"])))

    def shifted(items: list[dict], k: int) -> list[dict]:
        out = []
        for item in items:
            item = copy.deepcopy(item)
            for key in ("start", "end"):
                if key in item:
                    item[key] = round(item[key] + k * span, 3)
            for sub in ("words", "sentences"):
                if sub in item:
                    item[sub] = shifted(item[sub], k)
            out.append(item)
        return out

    big = copy.deepcopy(base)
    balt = big["results"]["channels"][0]["alternatives"][0]
    balt["words"] = [w for k in range(copies) for w in shifted(alt["words"], k)]
    balt["transcript"] = " ".join([alt["transcript"]] * copies)
    balt["paragraphs"]["paragraphs"] = [
        p for k in range(copies) for p in shifted(alt["paragraphs"]["paragraphs"], k)
    ]
    balt["paragraphs"]["transcript"] = alt["paragraphs"]["transcript"] * copies
    big["results"]["utterances"] = [
        u for k in range(copies) for u in shifted(base["results"]["utterances"], k)
    ]
    big["metadata"]["duration"] = span * copies
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        big["metadata"]["request_id"] = f"req-{i:06d}"
        (folder / f"call_{i:06d}.json").write_text(json.dumps(big))
    return files * len(balt["words"])


def best(fn: Callable[[], object], repeats: int) -> float:
    """The shortest of ``repeats`` timed calls (after one untimed warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=800)
    ap.add_argument("--words", type=int, default=1500)
    ap.add_argument("--shard-size", type=int, default=200, help="responses per Dask task")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import distributed

    from dgtools.dask import write_dataset

    print(environment(["dask", "distributed", "pyarrow", "pandas", "msgspec"]))
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "corpus", Path(tmp) / "out"
        n_words = corpus(folder, args.files, args.words)
        print(f"{args.files} files, {n_words:,} words; best of {args.repeats} after a warm-up")
        one = dgtools.to_tables(folder)
        two = dgtools.to_tables(folder, processes=2)
        t_one = best(lambda: dgtools.to_tables(folder), args.repeats)
        t_two = best(lambda: dgtools.to_tables(folder, processes=2), args.repeats)
        t_write = best(lambda: dgtools.write_dataset(folder, out / "one"), args.repeats)
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as lc,
            distributed.Client(lc) as client,
        ):
            t_dask = best(
                lambda: write_dataset(folder, out / "dask", shard_size=args.shard_size, client=client),
                args.repeats,
            )
        back = dgtools.read_parquet(out / "dask")
        same = all(two[n].equals(one[n]) and back[n].equals(one[n]) for n in one.names)
        print(f"to_tables: one process {t_one:.2f} s; processes=2 {t_two:.2f} s ({t_one / t_two:.2f}x)")
        print(f"write_dataset: one process {t_write:.2f} s; dask 2 workers {t_dask:.2f} s "
              f"({t_write / t_dask:.2f}x); equal tables: {same}")  # fmt: skip
        print(f"load average at the end: {os.getloadavg()}")
        per = t_dask / args.files * 2  # seconds per response on one worker, at the Dask rate
        print(f"projection at {per * 1000:.1f} ms per response per worker (linear in responses and workers):")
        for total in (1_000_000, 10_000_000, 100_000_000):
            row = ", ".join(f"{n} workers {total * per / n / 3600:.2f} h" for n in (1, 10, 100, 1000))
            print(f"  {total:>11,} responses: {row}")


if __name__ == "__main__":
    main()
