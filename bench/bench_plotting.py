"""Time ``confidence_timeline`` on 1,000,000 words against a plain ``ax.scatter`` of the same points.

Both are drawn on a new Agg figure and rendered with ``fig.savefig`` to an
in-memory PNG; the time covers building the artists and rendering.  The
target is ``confidence_timeline`` <= 1.5x the plain scatter (it decimates to
at most ``dgtools.plotting.MAX_POINTS`` points, so it is usually faster).

    python bench/bench_plotting.py [--words 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dgtools import plotting


def synthetic_words(n: int, *, seed: int = 0) -> pd.DataFrame:
    """A words table of ``n`` words (the columns confidence_timeline reads), two speakers, ~5% low confidence."""
    rng = np.random.default_rng(seed)
    dur = rng.uniform(0.15, 0.6, n)
    gap = rng.exponential(0.08, n)
    start = np.cumsum(dur + gap) - (dur + gap)
    conf = rng.beta(12, 1.2, n)
    low = rng.random(n) < 0.03
    conf[low] = rng.uniform(0.1, 0.6, int(low.sum()))
    return pd.DataFrame(
        {
            "file_id": pd.array(["synthetic"] * n, dtype="string[pyarrow]"),
            "channel": pd.array(np.zeros(n, dtype=np.int64), dtype="int64[pyarrow]"),
            "alternative": pd.array(np.zeros(n, dtype=np.int64), dtype="int64[pyarrow]"),
            "word_index": pd.array(np.arange(n, dtype=np.int64), dtype="int64[pyarrow]"),
            "start": pd.array(start, dtype="double[pyarrow]"),
            "end": pd.array(start + dur, dtype="double[pyarrow]"),
            "confidence": pd.array(conf, dtype="double[pyarrow]"),
            "speaker": pd.array((np.arange(n) // 40) % 2, dtype="int64[pyarrow]"),
        }
    )


def timed(draw: Callable[[plt.Axes], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fig, ax = plt.subplots(figsize=(12, 4))
        draw(ax)
        fig.savefig(io.BytesIO(), format="png")
        best = min(best, time.perf_counter() - t0)
        plt.close(fig)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--words", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    words = synthetic_words(args.words)
    mid = ((words["start"] + words["end"]) / 2).to_numpy(dtype=float)
    conf = words["confidence"].to_numpy(dtype=float)

    def baseline(ax: plt.Axes) -> None:
        ax.scatter(mid, conf, s=12, linewidths=0)

    def ours(ax: plt.Axes) -> None:
        plotting.confidence_timeline(words, ax=ax)

    t_base = timed(baseline, args.repeat)
    t_ours = timed(ours, args.repeat)
    print(f"words: {args.words:,} (best of {args.repeat}, build + savefig PNG, Agg)")
    print(f"plain ax.scatter:     {t_base:.3f} s")
    print(f"confidence_timeline:  {t_ours:.3f} s")
    print(f"ratio:                {t_ours / t_base:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
