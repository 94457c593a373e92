"""The raw store on S3 (:class:`dgtools.store.RemoteStore`), against moto's S3 server on 127.0.0.1.

The store behaviours run twice, on a local :class:`~dgtools.store.Store` and on a
:class:`~dgtools.store.RemoteStore` at ``s3://`` in moto's server mode (a real HTTP S3 peer,
with conditional PUTs), and must agree.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import dgtools
from conftest import fixture_files, missing
from dgtools.exceptions import ConfigError, MissingDependencyError, ResponseFormatError
from dgtools.store import RemoteStore, Store, is_store, open_store, store_sources, store_tables

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

from moto_s3 import moto_s3  # noqa: E402  (after the skips)

REPO = Path(__file__).resolve().parents[1]
DIGEST = "0123456789abcdef"
SECRET = "dg_secret_0123456789abcdef0123456789abcdef"
BUCKET = "dgtools-test"

AnyStore = Store | RemoteStore


def make_key(seed: str) -> str:
    return Store.key(hashlib.sha256(seed.encode()).hexdigest(), DIGEST)


def response(request_id: str, word: str = "hello") -> bytes:
    alt = {
        "transcript": word,
        "confidence": 0.9,
        "words": [{"word": word, "start": 0.0, "end": 0.5, "confidence": 0.9}],
    }
    return json.dumps(
        {"metadata": {"request_id": request_id}, "results": {"channels": [{"alternatives": [alt]}]}}
    ).encode()


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict[str, Any]]:
    """moto's S3 server on 127.0.0.1 (a free port), one bucket, and the storage_options to reach it."""
    with moto_s3(BUCKET) as (_, options):
        yield options


@pytest.fixture
def s3_url(request: pytest.FixtureRequest) -> str:
    """A fresh prefix in the bucket for each test."""
    return f"s3://{BUCKET}/{request.node.name.replace('[', '-').replace(']', '')}"


@pytest.fixture(params=["local", "s3"])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_options: dict[str, Any], s3_url: str
) -> Callable[..., AnyStore]:
    """Makes the store under test: a local folder or an s3:// prefix on moto (same arguments)."""

    def make(**kwargs: Any) -> AnyStore:
        if request.param == "local":
            return Store(tmp_path / "store", **kwargs)
        return RemoteStore(s3_url, storage_options=s3_options, **kwargs)

    return make


@pytest.fixture
def store(make_store: Callable[..., AnyStore]) -> AnyStore:
    return make_store()


# --------------------------------------------------------------------------- the same behaviour, local and S3


def test_write_once_and_read_back(store: AnyStore) -> None:
    key = make_key("a")
    assert not store.has(key)
    where = store.write_bytes(key, response("r1"))
    assert str(where) == str(store.path(key))
    assert store.has(key)
    assert store.read_bytes(key) == response("r1")


def test_the_first_write_wins(store: AnyStore) -> None:
    key = make_key("a")
    store.write_bytes(key, response("r1"))
    store.write_bytes(key, response("r2"))
    out = store.write_many(
        [(key, response("r3")), (make_key("b"), response("b1")), (make_key("b"), response("b2"))]
    )
    assert [str(p) for p in out] == [str(store.path(key)), str(store.path(make_key("b")))] * 1 + [
        str(store.path(make_key("b")))
    ]
    assert store.read_bytes(key) == response("r1")
    assert store.read_bytes(make_key("b")) == response("b1")


def test_racing_writers_of_one_key_keep_exactly_one(store: AnyStore) -> None:
    key = make_key("race")
    bodies = [response(f"r{i}") for i in range(8)]
    start = threading.Barrier(len(bodies))

    def write(body: bytes) -> None:
        start.wait()
        store.write_bytes(key, body)

    threads = [threading.Thread(target=write, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.read_bytes(key) in bodies
    assert list(store.keys()) == [key]


def test_reading_a_missing_key_names_it(store: AnyStore) -> None:
    key = make_key("nothing")
    with pytest.raises(FileNotFoundError, match=key):
        store.read_bytes(key)


def test_keys_are_listed_sorted(store: AnyStore) -> None:
    keys = [make_key(s) for s in ("c", "a", "b")]
    store.write_many([(k, response(k[:6])) for k in keys])
    assert list(store.keys()) == sorted(keys)


def test_a_secret_is_refused_and_nothing_is_written(make_store: Callable[..., AnyStore]) -> None:
    store = make_store(secrets=[SECRET])
    key = make_key("leak")
    out = store.write_many([(key, json.dumps({"token": SECRET}).encode()), (make_key("ok"), response("ok"))])
    assert isinstance(out[0], ConfigError) and SECRET not in str(out[0])
    assert list(store.keys()) == [make_key("ok")]
    with pytest.raises(ConfigError):
        store.record({"key": key, "file_id": SECRET})
    assert store.entries() == []


def test_the_index_reads_back_in_record_order(store: AnyStore) -> None:
    k1, k2 = make_key("a"), make_key("b")
    store.record({"key": k1, "file_id": "calls/a.wav", "at": "2026-01-01T00:00:00.000Z"})
    store.record_many(
        [{"key": k2, "file_id": "b.wav", "request_id": None, "bytes": 12}, {"key": k1, "file_id": "c.wav"}]
    )
    got = store.entries()
    assert [(e["key"], e["file_id"]) for e in got] == [(k1, "calls/a.wav"), (k2, "b.wav"), (k1, "c.wav")]
    assert got[0]["at"] == "2026-01-01T00:00:00.000Z" and got[1]["bytes"] == 12
    assert store.index_problems() == []
    with pytest.raises(ConfigError, match="not an index entry"):
        store.record({"key": 12})


def test_quarantine_moves_a_response_aside(store: AnyStore) -> None:
    key = make_key("bad")
    store.write_bytes(key, b'{"results": ')
    where = store.quarantine(key, "truncated   JSON")
    assert str(where).endswith(f"quarantine/{key}.json")
    assert not store.has(key) and list(store.keys()) == []
    assert store.quarantined() == [(key, "truncated JSON")]
    with pytest.raises(FileNotFoundError):
        store.quarantine(key, "again")


def test_store_sources_and_tables_agree_local_and_s3(
    tmp_path: Path, s3_options: dict[str, Any], s3_url: str
) -> None:
    files = fixture_files(("prerecorded_nova",))[:6]
    if not files:
        missing("fixtures", "no real Deepgram responses")
    local = Store(tmp_path / "store")
    remote = RemoteStore(s3_url, storage_options=s3_options)
    items = [(make_key(p.name), p.read_bytes()) for p in files]
    for st in (local, remote):
        st.write_many(items)
        st.record_many([{"key": k, "file_id": f"calls/{i}.wav"} for i, (k, _) in enumerate(items[:-1])])
    want = [(k, f"calls/{i}.wav") for i, (k, _) in enumerate(items[:-1])] + [(items[-1][0], items[-1][0])]
    assert [(local.key_of(p), f) for p, f in store_sources(local)] == want
    assert [(u.rsplit("/", 1)[-1][: -len(".json")], f) for u, f in store_sources(remote)] == want
    assert all(u.startswith(s3_url + "/responses/") for u, _ in store_sources(remote))
    a, b = store_tables(local), store_tables(remote)
    assert len(a.words) > 0
    for name in ("requests", "words", "utterances"):
        assert getattr(a, name).equals(getattr(b, name)), name
    direct = dgtools.to_tables(
        [p for p, _ in store_sources(local)], file_id=[f for _, f in store_sources(local)]
    )
    assert direct.words.equals(b.words)


def test_a_local_store_copied_to_s3_reads_the_same(
    tmp_path: Path, s3_options: dict[str, Any], s3_url: str
) -> None:
    import fsspec

    local = Store(tmp_path / "store")
    k1, k2 = make_key("a"), make_key("b")
    local.write_many([(k1, response("r1", "one")), (k2, response("r2", "two"))])
    local.record({"key": k1, "file_id": "a.wav"})
    fs = fsspec.filesystem("s3", **s3_options)
    fs.put(str(local.root) + "/", s3_url.removeprefix("s3://") + "/", recursive=True)
    remote = RemoteStore(s3_url, storage_options=s3_options)
    assert is_store(remote) and remote.entries() == local.entries()
    assert list(remote.keys()) == sorted([k1, k2])
    assert store_tables(remote).words["word"].tolist() == ["one", "two"]
    remote.record({"key": k2, "file_id": "b.wav"})  # a new entry goes to index/, after index.jsonl's
    assert [e["file_id"] for e in remote.entries()] == ["a.wav", "b.wav"]
    fs.pipe_file(
        s3_url.removeprefix("s3://") + "/index/99999999999999999999-bad.jsonl", b'{"key": 12}\nnot json\n'
    )
    assert remote.index_problems() == [
        "index/99999999999999999999-bad.jsonl line 1: key is 12, not a store key",
        "index/99999999999999999999-bad.jsonl line 2: not valid JSON",
    ]
    fs.pipe_file(remote.path(k2).removeprefix("s3://"), b"", mode="overwrite")  # clobbered outside dgtools
    with pytest.raises(ResponseFormatError, match="is not JSON"):
        store_tables(remote)


# --------------------------------------------------------------------------- S3 specifics


def test_the_s3_guarantee_is_a_conditional_put(s3_options: dict[str, Any], s3_url: str) -> None:
    store = RemoteStore(s3_url, storage_options=s3_options)
    assert store.guarantee == "put-if-absent (If-None-Match: *)"
    assert not is_store(store) and store.clean() == 0
    store.write_bytes(make_key("a"), b"{}")
    assert is_store(store)
    assert "s3://" in repr(store)


def test_read_many_fetches_concurrently_and_names_what_is_missing(
    s3_options: dict[str, Any], s3_url: str
) -> None:
    store = RemoteStore(s3_url, storage_options=s3_options)
    keys = [make_key(str(i)) for i in range(40)]
    store.write_many([(k, response(k[:8])) for k in keys[:-1]])
    got = store.read_many(keys)
    assert got[:-1] == [response(k[:8]) for k in keys[:-1]]
    assert isinstance(got[-1], FileNotFoundError) and keys[-1] in str(got[-1])
    assert store.read_many([]) == []


def test_a_remote_store_pickles_for_workers(s3_options: dict[str, Any], s3_url: str) -> None:
    store = RemoteStore(s3_url, storage_options=s3_options, secrets=[SECRET])
    store.write_bytes(make_key("a"), response("r1"))
    blob = pickle.dumps(store)
    assert SECRET.encode() not in blob
    again = pickle.loads(blob)
    assert again.read_bytes(make_key("a")) == response("r1")
    with pytest.raises(ConfigError):
        again.write_bytes(make_key("b"), SECRET.encode())


def test_open_store_picks_the_backend(tmp_path: Path, s3_options: dict[str, Any], s3_url: str) -> None:
    assert isinstance(open_store(tmp_path / "st"), Store)
    st = open_store(f"file://{tmp_path}/st")
    assert isinstance(st, Store) and st.root == tmp_path / "st"
    assert isinstance(open_store(s3_url, storage_options=s3_options), RemoteStore)


def test_a_url_is_no_local_folder(s3_url: str) -> None:
    with pytest.raises(ConfigError, match="open_store"):
        Store(s3_url)
    # dgtools.transcribe(store=s3_url) writes into S3: tests/test_transcribe_s3.py


def test_a_backend_not_installed_names_the_package() -> None:
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover
        pytest.skip("gcsfs is installed")
    with pytest.raises(MissingDependencyError, match="gcsfs"):
        open_store("gs://bucket/store")


def test_import_dgtools_loads_no_filesystem_package() -> None:
    code = (
        "import json, sys, dgtools, dgtools.store; "
        "print(json.dumps(sorted(m for m in ('fsspec', 's3fs', 'botocore', 'moto') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(out.stdout) == []


# --------------------------------------------------------------------------- Parquet datasets in the bucket


def test_write_dataset_to_s3_reads_back_and_refuses_to_mix_with_an_older_one(
    s3_options: dict[str, Any], s3_url: str
) -> None:
    import pandas as pd

    sources = [str(REPO / "data" / "responses")]
    expected = dgtools.to_tables(sources)
    out = dgtools.write_dataset(
        sources, s3_url, partition_on="kind", batch_words=60, storage_options=s3_options
    )
    assert out == s3_url
    back = dgtools.read_parquet(s3_url, storage_options=s3_options)
    for name in expected.names:
        key = [
            c
            for c in ("file_id", "channel", "alternative", "seq", "start", "end")
            if c in expected[name].columns
        ]
        pd.testing.assert_frame_equal(
            back[name].sort_values(key, ignore_index=True), expected[name].sort_values(key, ignore_index=True)
        )
    streamed = dgtools.read_parquet(s3_url, storage_options=s3_options, partitions={"kind": "streaming"})
    assert streamed.requests["file_id"].tolist() == ["live_session"]
    assert streamed.words.equals(
        expected.words[expected.words["file_id"] == "live_session"].reset_index(drop=True)
    )
    # another reader, through fsspec: pandas reads the Hive key from the object names
    words = pd.read_parquet(
        f"{s3_url}/words", storage_options=s3_options, filters=[("kind", "==", "streaming")]
    )
    assert len(words) == int((expected.words["file_id"] == "live_session").sum()) > 0
    with pytest.raises(ConfigError, match=r"already holds dgtools tables.*new prefix"):
        dgtools.write_dataset(sources, s3_url, storage_options=s3_options)
    assert len(dgtools.read_parquet(s3_url, storage_options=s3_options).words) == len(expected.words)


def test_a_failed_write_to_s3_leaves_nothing_that_reads_as_a_dataset(
    s3_options: dict[str, Any], s3_url: str, tmp_path: Path
) -> None:
    import s3fs

    bad = tmp_path / "zz_bad.json"
    bad.write_text('{"metadata": {}, "results": ', encoding="utf-8")
    sources = [str(REPO / "data" / "responses"), str(bad)]
    with pytest.raises(ResponseFormatError):
        dgtools.write_dataset(sources, s3_url, batch_words=60, storage_options=s3_options)
    fs = s3fs.S3FileSystem(**s3_options)
    assert not fs.exists(s3_url) or fs.find(s3_url) == []  # its parts were removed
    # parts without _SUCCESS (a killed writer) are refused, not read as a whole dataset
    fs.pipe_file(f"{s3_url}/words/part-00000.parquet", b"not read")
    with pytest.raises(dgtools.SchemaError, match=r"no finished dgtools dataset.*_SUCCESS"):
        dgtools.read_parquet(s3_url, storage_options=s3_options)
    with pytest.raises(ConfigError, match="storage_options are for a dataset in object storage"):
        dgtools.read_parquet(tmp_path, storage_options=s3_options)
    with pytest.raises(ConfigError, match=r"for object storage use dgtools.write_dataset\(tables, url"):
        dgtools.to_tables(REPO / "data" / "responses").to_parquet(s3_url)
    assert not Path("s3:").exists()
