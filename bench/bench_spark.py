"""dgtools.spark.flatten on local Spark against dgtools.to_tables in one process: words rows per second.

Usage::

    python bench/bench_spark.py [--files 200] [--words 1500] [--cores 2] [--repeats 3]

Corpus: the one of ``bench/bench_scale.py`` (``--files`` responses of about ``--words`` words,
each the real diarized fixture replicated with shifted times, with its own request_id).  Timed,
best of ``--repeats`` after a warm-up: ``dgtools.to_tables(folder)`` (every table, pandas, in this
process); ``flatten(df, "words")`` over the responses already in Spark's memory (``spark.read.text
(wholetext=True)``, cached), written to Spark's ``noop`` sink so every row is produced;
``dgtools.spark.read_store(spark, folder, "words")`` (executors read the files).  Spark runs
``local[--cores]``; the session start (~8 s) and the first Python worker start (~7 s) are not
timed.  The words of each Spark run are checked equal to ``to_tables``' (sorted).

2026-12-06, pyspark 4.3.0 (OpenJDK 17), pyarrow 26.0.1, pandas 3.1.1, 2 cores *shared with a CI
run in the background (load average 4-5 throughout), so the figures are noisy: 200 files, 316,400
words, two runs a minute apart: to_tables 0.48 s / 0.63 s (653k / 501k words/s); flatten of the
cached JSON 1.57 s / 1.02 s (0.31x / 0.62x to_tables); read_store 1.10 s / 1.48 s (0.44x / 0.43x);
equal words both times.  The Python side is not the cost: the same function run on one Arrow
batch of the 200 responses in this process takes 0.43-0.52 s, as to_tables; the rest is Spark
moving 112 MB of JSON from the JVM to its Python workers over Arrow and the rows back, on 2 cores
that the JVM, the workers and the CI share.  Spark pays off across machines, not on one: on one
machine use ``to_tables(processes=N)`` (bench_scale.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import pyarrow as pa  # noqa: E402
from _env import environment  # noqa: E402
from bench_scale import best, corpus  # noqa: E402

import dgtools  # noqa: E402


def _same_words(got: pa.Table, want: pa.Table) -> bool:
    """The same words as ``want`` (sorted; file ids aside: flatten names responses by request_id)."""
    keys = [("request_id", "ascending"), ("word_index", "ascending")]
    drop = ["file_id"]
    return bool(got.cast(want.schema).drop(drop).sort_by(keys).equals(want.drop(drop).sort_by(keys)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--words", type=int, default=1500)
    ap.add_argument("--cores", type=int, default=2, help="Spark runs local[cores]")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from pyspark.sql import SparkSession

    from dgtools.spark import flatten, read_store

    print(environment(["pyspark", "pyarrow", "pandas", "msgspec"]))
    print(f"load average at the start: {os.getloadavg()}")
    spark = (
        SparkSession.builder.master(f"local[{args.cores}]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "corpus"
            n_words = corpus(folder, args.files, args.words)
            print(f"{args.files} files, {n_words:,} words; best of {args.repeats} after a warm-up")
            want = dgtools.tables.frame_to_arrow(dgtools.to_tables(folder).words, "words")
            t_local = best(lambda: dgtools.to_tables(folder), args.repeats)

            texts = spark.read.text(str(folder), wholetext=True).withColumnRenamed("value", "json")
            texts = texts.repartition(args.cores * 4).cache()
            texts.count()
            words = flatten(texts, "words")
            t_flatten = best(lambda: words.write.format("noop").mode("overwrite").save(), args.repeats)
            stored = read_store(spark, folder, "words")
            t_store = best(lambda: stored.write.format("noop").mode("overwrite").save(), args.repeats)

            # flatten names a response by its request_id, read_store by its file: compare by request_id
            equal = _same_words(words.toArrow(), want) and _same_words(stored.toArrow(), want)
    finally:
        spark.stop()
    rate = n_words / t_local
    print(f"to_tables, one process:      {t_local:6.2f} s  {rate:12,.0f} words/s")
    for label, t in (("spark flatten (cached)", t_flatten), ("spark read_store", t_store)):
        print(f"{label + ':':28} {t:6.2f} s  {n_words / t:12,.0f} words/s  ({t_local / t:.2f}x to_tables)")
    print(f"equal words: {equal}; load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        main()
