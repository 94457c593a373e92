"""The command line with stores and datasets in object storage (``s3://``), against moto's S3 server.

Every command runs as ``python -m dgtools`` in a subprocess whose credentials and endpoint come
from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``...), as a user's shell gives
them.  What it writes to the bucket is read back in this process with ``storage_options`` and
compared with what the same commands write to local folders.  No command may ever make a local
folder named ``s3:`` (``Path("s3://b/x")`` is the relative folder ``s3:/b/x``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import dgtools
from dgtools.exceptions import SchemaError
from dgtools.store import RemoteStore, Store
from dgtools.tables import dataset_summary
from dgtools.tables.remote import SUCCESS, RemoteDataset
from dgtools.tables.schema import TABLE_NAMES

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

from moto_s3 import moto_s3  # noqa: E402  (after the skips)

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO / "data" / "audio"
RESPONSES = REPO / "data" / "responses"
BUCKET = "dgtools-cli"


@dataclass(frozen=True)
class S3:
    """moto's S3 server: the environment the CLI runs with, and the same access for this process."""

    env: dict[str, str]
    storage_options: dict[str, Any]

    def url(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix}"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    """moto's S3 server on 127.0.0.1 (a free port), one bucket, credentials only in the environment given."""
    with moto_s3(BUCKET) as (endpoint, options):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.pop("DEEPGRAM_API_KEY", None)
        env.pop("DEEPGRAM_TOKEN", None)
        env.update(
            AWS_ACCESS_KEY_ID=options["key"],
            AWS_SECRET_ACCESS_KEY=options["secret"],
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=endpoint,
        )
        yield S3(env=env, storage_options=options)


def run(s3: S3, cwd: Path, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """``python -m dgtools ARGS`` in ``cwd`` with the S3 environment; it never leaves a folder ``s3:``."""
    done = subprocess.run(
        [sys.executable, "-m", "dgtools", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=s3.env,
    )
    assert not (cwd / "s3:").exists(), f"{args} made a local folder named s3:"
    assert "Traceback" not in done.stderr, done.stderr
    return done


def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("dgtools: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_same_tables(got: dgtools.Tables, expected: dgtools.Tables, *, sort: bool = False) -> None:
    """Every table equal: the same rows, columns and dtypes (``sort``: the files in any order).

    A response's rows stay together and in order in every table, so a stable sort by file_id
    puts two orders of the same responses' rows alike.
    """
    for name in TABLE_NAMES:
        a, b = got[name], expected[name]
        if sort:
            a = a.sort_values("file_id", kind="stable").reset_index(drop=True)
            b = b.sort_values("file_id", kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, obj=name)


@dataclass(frozen=True)
class Run:
    """The audio transcribed by the local engine into a store in S3, and a local copy of that store."""

    cwd: Path
    store: str  # s3://.../store
    out: Path  # its --out
    local_store: Path  # the same responses and index entries, in a local store
    stdout: str


@pytest.fixture(scope="module")
def transcribed(s3: S3, tmp_path_factory: pytest.TempPathFactory) -> Run:
    cwd = tmp_path_factory.mktemp("cli-s3")
    store = s3.url("store")
    done = run(
        s3, cwd, "transcribe", AUDIO, "--engine", "local", "--store", store, "--out", "out", "--no-plots"
    )
    assert done.returncode == 0, done.stderr
    remote = RemoteStore(store, storage_options=s3.storage_options)
    local = Store(cwd / "local-store")
    for key in remote.keys():  # noqa: SIM118 - a method, not a dict
        local.write_bytes(key, remote.read_bytes(key))
    local.record_many(remote.entries())
    return Run(cwd, store, cwd / "out", cwd / "local-store", done.stdout)


# --------------------------------------------------------------------------- dgtools transcribe


def test_transcribe_writes_the_store_in_s3_and_the_tables_locally(s3: S3, transcribed: Run) -> None:
    assert (
        transcribed.stdout.splitlines()[-1]
        == f"wrote out/<table>.parquet; raw responses in {transcribed.store}"
    )
    store = RemoteStore(transcribed.store, storage_options=s3.storage_options)
    assert len(list(store.keys())) == 4
    assert sorted(e["file_id"] for e in store.entries()) == [p.name for p in sorted(AUDIO.iterdir())]
    tables = dgtools.read_parquet(transcribed.out)
    assert sorted(tables.requests["file_id"]) == [p.name for p in sorted(AUDIO.iterdir())]
    assert len(tables.words) == 130
    assert sorted(tables.requests["request_id"]) == sorted(
        json.loads(store.read_bytes(k))["metadata"]["request_id"]
        for k in store.keys()  # noqa: SIM118
    )


def test_a_rerun_into_the_store_in_s3_sends_nothing(s3: S3, transcribed: Run, tmp_path: Path) -> None:
    again = run(
        s3, tmp_path, "transcribe", AUDIO, "--engine", "local", "--store", transcribed.store, "--out", "o",
        "--no-plots",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "plan: 0 file(s) to send, 4 already stored" in again.stdout
    assert_same_tables(dgtools.read_parquet(tmp_path / "o"), dgtools.read_parquet(transcribed.out))


# --------------------------------------------------------------------------- dgtools tables


def test_tables_of_a_store_in_s3_equal_the_run_tables(s3: S3, transcribed: Run, tmp_path: Path) -> None:
    done = run(s3, tmp_path, "tables", transcribed.store, "--out", "tables")
    assert done.returncode == 0, done.stderr
    expected = dgtools.read_parquet(transcribed.out)
    # the same file ids and rows; in the order the store recorded them, not the run's input order
    assert_same_tables(dgtools.read_parquet(tmp_path / "tables"), expected, sort=True)
    assert done.stdout.startswith(str(expected.summary()) + "\n")
    assert done.stdout.splitlines()[-1].startswith("wrote tables/<table>.parquet for 17 tables: requests,")
    # as the tables of the local store are
    local = run(s3, tmp_path, "tables", transcribed.local_store, "--out", "local")
    assert local.returncode == 0, local.stderr
    assert_same_tables(dgtools.read_parquet(tmp_path / "tables"), dgtools.read_parquet(tmp_path / "local"))


def test_a_dataset_of_a_store_in_s3_written_to_s3(s3: S3, transcribed: Run, tmp_path: Path) -> None:
    url = s3.url("tables/run-1")
    done = run(s3, tmp_path, "tables", transcribed.store, "--dataset", "--out", url, "--partition-on", "kind")
    assert done.returncode == 0, done.stderr
    expected = dgtools.read_parquet(transcribed.out)
    assert_same_tables(dgtools.read_parquet(url, storage_options=s3.storage_options), expected, sort=True)
    # the summary printed is that of the same dataset written to a local folder
    local = run(
        s3, tmp_path, "tables", transcribed.store, "--dataset", "--out", "ds", "--partition-on", "kind"
    )
    assert local.returncode == 0, local.stderr
    summary = dataset_summary(tmp_path / "ds")
    assert summary == expected.summary()
    assert done.stdout.startswith(str(summary) + "\n")
    assert done.stdout.splitlines()[-1].startswith(f"wrote {url}/<table>/kind=*/part-*.parquet for 17 tables")
    assert local.stdout.splitlines()[:-1] == done.stdout.splitlines()[:-1]
    dataset = RemoteDataset(url, s3.storage_options)
    assert dataset.fs.exists(f"{url}/{SUCCESS}")
    assert dataset.fs.exists(f"{url}/words/kind=prerecorded/part-00000.parquet")
    # a prefix holding tables is never written again: object storage cannot swap a dataset in whole
    again = run(s3, tmp_path, "tables", transcribed.store, "--dataset", "--out", url)
    assert_one_line_error(again, f"{url} already holds dgtools tables", "write to a new prefix")
    assert_same_tables(dgtools.read_parquet(url, storage_options=s3.storage_options), expected, sort=True)


def test_a_dataset_of_local_responses_goes_to_the_bucket_not_to_a_folder_s3(s3: S3, tmp_path: Path) -> None:
    """The trap: ``Path("s3://b/x")`` is a local folder; the dataset must go to the bucket."""
    url = s3.url("responses/2026-12-06")
    done = run(s3, tmp_path, "tables", RESPONSES, "--dataset", "--out", url)
    assert done.returncode == 0, done.stderr
    expected = dgtools.to_tables(RESPONSES)
    got = dgtools.read_parquet(url, storage_options=s3.storage_options)
    assert_same_tables(got, expected)
    assert len(got.words) == 271
    summary = dgtools.write_dataset(RESPONSES, tmp_path / "local")
    assert done.stdout.startswith(str(dataset_summary(summary)) + "\n")
    assert str(expected.summary()).splitlines()[0] == "6 file(s), 0.038 audio hours, 271 words, 2 speaker(s)"
    assert done.stdout.splitlines()[0] == "6 file(s), 0.038 audio hours, 271 words, 2 speaker(s)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local"]


def test_tables_to_a_url_needs_dataset(s3: S3, transcribed: Run, tmp_path: Path) -> None:
    done = run(s3, tmp_path, "tables", RESPONSES, "--out", s3.url("plain"))
    assert_one_line_error(done, f"--out {s3.url('plain')} is a URL", "add --dataset")
    assert not RemoteDataset(s3.url("plain"), s3.storage_options).fs.exists(s3.url("plain"))
    assert list(tmp_path.iterdir()) == []


def test_tables_of_an_empty_prefix_says_to_transcribe_first(s3: S3, tmp_path: Path) -> None:
    done = run(s3, tmp_path, "tables", s3.url("nothing-here"), "--out", "t")
    assert_one_line_error(
        done, f"nothing is stored under {s3.url('nothing-here')}", "dgtools transcribe AUDIO --store"
    )
    assert list(tmp_path.iterdir()) == []


def test_tables_refuses_store_urls_with_local_sources(s3: S3, transcribed: Run, tmp_path: Path) -> None:
    done = run(s3, tmp_path, "tables", transcribed.store, RESPONSES, "--out", "t")
    assert_one_line_error(done, "not both")


def response(request_id: str, word: str) -> bytes:
    alt = {
        "transcript": word,
        "confidence": 0.9,
        "words": [{"word": word, "start": 0.0, "end": 0.5, "confidence": 0.9}],
    }
    meta = {"request_id": request_id, "duration": 1.5}
    return json.dumps({"metadata": meta, "results": {"channels": [{"alternatives": [alt]}]}}).encode()


def test_a_broken_response_in_s3_is_named_left_out_and_quarantined(s3: S3, tmp_path: Path) -> None:
    store = RemoteStore(s3.url("broken-store"), storage_options=s3.storage_options)
    good, bad = (Store.key(hashlib.sha256(s.encode()).hexdigest(), "0123456789abcdef") for s in "gb")
    store.write_bytes(good, response("r-good", "hello"))
    store.write_bytes(bad, b"{not json")
    store.record_many([{"key": good, "file_id": "calls/good.wav"}, {"key": bad, "file_id": "calls/bad.wav"}])
    done = run(s3, tmp_path, "tables", store.url, "--out", "t")
    assert done.returncode == 1
    warnings = done.stderr.strip().splitlines()
    assert warnings[0].startswith(f"dgtools: warning: {store.path(bad)}: moved to {store.url}/quarantine")
    assert warnings[1].startswith(f"dgtools: warning: {store.path(bad)}: ")
    tables = dgtools.read_parquet(tmp_path / "t")
    assert tables.requests["file_id"].tolist() == ["calls/good.wav"]
    assert tables.words["word"].tolist() == ["hello"]
    assert [k for k, _ in store.quarantined()] == [bad]
    assert sorted(store.keys()) == [good]
    # the store now holds only good responses: a dataset of it goes through
    url = s3.url("broken-store-tables")
    again = run(s3, tmp_path, "tables", store.url, "--dataset", "--out", url)
    assert again.returncode == 0, again.stderr
    assert_same_tables(dgtools.read_parquet(url, storage_options=s3.storage_options), tables)


# --------------------------------------------------------------------------- RemoteDataset.summary


@pytest.mark.parametrize("partition_on", [None, "kind"])
def test_remote_dataset_summary_equals_the_local_one(
    s3: S3, tmp_path: Path, partition_on: str | None
) -> None:
    url = s3.url(f"summary/{partition_on}")
    dgtools.write_dataset(
        RESPONSES, url, storage_options=s3.storage_options, partition_on=partition_on, batch_words=60
    )
    local = dgtools.write_dataset(RESPONSES, tmp_path, partition_on=partition_on, batch_words=60)
    summary = RemoteDataset(url, s3.storage_options).summary()
    assert summary == dataset_summary(local)
    assert summary == dgtools.to_tables(RESPONSES).summary()
    assert (summary.files, summary.words, summary.speakers) == (6, 271, 2)
    assert summary.rows["words"] == 271 and summary.rows["requests"] == 6


def test_remote_dataset_summary_refuses_an_unfinished_dataset(s3: S3) -> None:
    url = s3.url("summary/unfinished")
    dataset = RemoteDataset(url, s3.storage_options)
    tables = dgtools.to_tables(RESPONSES)
    dataset.write_part({name: tables.to_arrow(name) for name in tables.names}, 0)
    with pytest.raises(SchemaError, match=f"{url}: no finished dgtools dataset here"):
        dataset.summary()


# --------------------------------------------------------------------------- dgtools export


def srt_files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*.srt"))}


def test_export_of_a_store_and_of_a_dataset_in_s3(s3: S3, transcribed: Run, tmp_path: Path) -> None:
    local = run(s3, tmp_path, "export", transcribed.out, "--format", "srt", "--out", "from-out")
    assert local.returncode == 0, local.stderr
    expected = srt_files(tmp_path / "from-out")
    assert sorted(expected) == ["one_speaker.srt", "stereo_call.srt", "two_voices.srt"]  # silence: no words
    done = run(s3, tmp_path, "export", transcribed.store, "--format", "srt", "--out", "from-store")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "wrote 3 srt files to from-store"
    assert srt_files(tmp_path / "from-store") == expected
    url = s3.url("tables/for-export")
    assert run(s3, tmp_path, "tables", transcribed.store, "--dataset", "--out", url).returncode == 0
    done = run(s3, tmp_path, "export", url, "--format", "srt", "--out", "from-dataset")
    assert done.returncode == 0, done.stderr
    assert srt_files(tmp_path / "from-dataset") == expected


def test_export_of_a_url_holding_nothing(s3: S3, tmp_path: Path) -> None:
    done = run(s3, tmp_path, "export", s3.url("void"), "--format", "srt", "--out", "x")
    assert_one_line_error(done, f"{s3.url('void')} holds neither a raw store nor a Parquet dataset")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- dgtools estimate


def test_estimate_counts_what_the_store_in_s3_holds(s3: S3, transcribed: Run, tmp_path: Path) -> None:
    remote = run(s3, tmp_path, "estimate", AUDIO, "--engine", "local", "--store", transcribed.store)
    local = run(s3, tmp_path, "estimate", AUDIO, "--engine", "local", "--store", transcribed.local_store)
    assert remote.returncode == local.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout
    assert remote.stdout.splitlines()[1] == "plan: 0 file(s) to send, 4 already stored; nothing to pay"
    fresh = run(s3, tmp_path, "estimate", AUDIO, "--engine", "local", "--store", s3.url("empty-store"))
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.splitlines()[1] == "plan: 4 file(s) to send"
    # in Python too, with storage_options
    e = dgtools.estimate(AUDIO, store=transcribed.store, storage_options=s3.storage_options, engine="local")
    assert e.files["status"].tolist() == ["stored"] * 4
    assert (e.plan.to_send, e.plan.stored) == (0, 4)


# --------------------------------------------------------------------------- flags that take a local path

REFUSED = [
    (["transcribe", AUDIO, "--engine", "local", "--out", "s3://B/out"], "--out", "dgtools tables"),
    (["transcribe", AUDIO, "--engine", "local", "--store", "s3://B/st", "--callback", "https://x.test/cb"],
     "--store", "--callback"),
    (["tables", RESPONSES, "--out", "s3://B/x"], "--out", "--dataset"),
    (["export", RESPONSES, "--format", "srt", "--out", "s3://B/srt"], "--out", "local"),
    (["receive", "--store", "s3://B/st"], "--store", "dgtools transcribe --callback"),
    (["speak", "Hello.", "--out", "s3://B/hello.mp3"], "--out", "local"),
    (["speak", "Hello.", "--store", "s3://B/speech"], "--store", "local"),
    (["speak", "--from", "s3://B/texts.csv", "--out", "speech"], "--from", "CSV"),
    (["stream", AUDIO / "silence.wav", "--out", "s3://B/o"], "--out", "local"),
    (["stream", AUDIO / "silence.wav", "--store", "s3://B/o"], "--store", "local"),
    (["serve", "--engine", "replay", "--folder", "s3://B/r"], "--folder", "local"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "flag", "fix"), REFUSED, ids=lambda v: " ".join(map(str, v)) if isinstance(v, list) else None
)
def test_a_url_for_a_local_path_is_one_line_naming_the_flag(
    s3: S3, tmp_path: Path, args: list[Any], flag: str, fix: str
) -> None:
    done = run(s3, tmp_path, *[str(a).replace("s3://B/", s3.url("refused/")) for a in args])
    line = assert_one_line_error(done, flag, fix)
    assert "s3://" in line
    assert list(tmp_path.iterdir()) == []
    assert not RemoteDataset(s3.url("refused"), s3.storage_options).fs.exists(s3.url("refused"))
