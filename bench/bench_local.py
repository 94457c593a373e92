"""The embedded offline engine: real-time factor (one process and two) and WER on data/audio.

Usage::

    python bench/bench_local.py [--repeats 3]

Prints, for ``decode_many(..., workers=1)`` and ``workers=2``: wall seconds,
audio seconds, the wall-clock real-time factor (wall / audio) and the
per-process one (decode seconds / audio seconds); then the word error rate of
each file against ``data/references/<name>.txt`` (reported, not a gate).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dgtools.engines.local import decode_many  # noqa: E402

AUDIO = REPO / "data" / "audio"
REFS = REPO / "data" / "references"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def wer(reference: list[str], hypothesis: list[str]) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words (Levenshtein)."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    prev = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        cur = [i] + [0] * len(hypothesis)
        for j, h in enumerate(hypothesis, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(reference)


def run(workers: int, paths: list[Path], options: dict[str, object]) -> tuple[float, float, float, list]:
    start = time.perf_counter()
    results = list(decode_many(paths, options, workers=workers))
    wall = time.perf_counter() - start
    audio = sum(d.audio_seconds for d in results)
    decode = sum(d.seconds for d in results)
    return wall, audio, decode, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    paths = sorted(AUDIO.glob("*.wav"))
    options = {"punctuate": True}
    from importlib.metadata import version

    print(f"python {platform.python_version()}, pocketsphinx {version('pocketsphinx')}, "
          f"cores {os.cpu_count()}; {len(paths)} files in {AUDIO.relative_to(REPO)}")  # fmt: skip
    print(
        f"{'workers':>7} {'wall s':>8} {'audio s':>8} {'RTF wall':>9} {'RTF/process':>12}  (best of {a.repeats})"
    )
    last = None
    for workers in (1, 2):
        runs = [run(workers, paths, options) for _ in range(a.repeats)]
        wall, audio, decode, results = min(runs, key=lambda r: r[0])
        last = results
        print(f"{workers:>7} {wall:8.2f} {audio:8.2f} {wall / audio:9.3f} {decode / audio:12.3f}"
              f"   (walls: {', '.join(f'{r[0]:.2f}' for r in runs)}; median {statistics.median(r[0] for r in runs):.2f})")  # fmt: skip
    print("\nWER against data/references (reported, not a gate):")
    assert last is not None
    for d in last:
        name = Path(d.path).stem
        ref_path = REFS / f"{name}.txt"
        if isinstance(d.result, Exception) or not ref_path.exists():
            continue
        ref = words(ref_path.read_text())
        hyp = [w["word"] for ch in d.result["results"]["channels"] for w in ch["alternatives"][0]["words"]]
        print(
            f"  {name:14s} {wer(ref, [h.lower() for h in hyp]):.3f}  ({len(ref)} reference words, {len(hyp)} decoded)"
        )


if __name__ == "__main__":
    main()
