"""Tests of :mod:`dgtools.store`: keys, atomic writes, crash consistency, the index and secrets."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import dgtools
from dgtools.exceptions import ConfigError, DGToolsError
from dgtools.store import AtomicWriter, Store

REPO = Path(__file__).resolve().parents[1]
DIGEST = "0123456789abcdef"
SECRET = "dg_secret_0123456789abcdef0123456789abcdef"
posix_only = pytest.mark.skipif(os.name == "nt", reason="SIGKILL and pid checks are POSIX")


def make_key(seed: str = "audio", digest: str = DIGEST) -> str:
    return Store.key(hashlib.sha256(seed.encode()).hexdigest(), digest)


def response(request_id: str = "r1", word: str = "hello") -> bytes:
    body = {
        "metadata": {"request_id": request_id},
        "results": {
            "channels": [
                {
                    "alternatives": [
                        {
                            "transcript": word,
                            "confidence": 0.9,
                            "words": [{"word": word, "start": 0.0, "end": 0.5, "confidence": 0.9}],
                        }
                    ]
                }
            ]
        },
    }
    return json.dumps(body).encode()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


# --------------------------------------------------------------------------- keys and paths


def test_key_joins_sha256_and_options_digest() -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    assert Store.key(sha, DIGEST) == f"{sha}-{DIGEST}"


@pytest.mark.parametrize(
    ("sha", "digest"),
    [
        ("AB" * 32, DIGEST),  # uppercase
        ("ab" * 31, DIGEST),  # too short for a sha256
        ("zz" * 32, DIGEST),  # not hex
        ("ab" * 32, "0123456789ABCDEF"),
        ("ab" * 32, ""),
        ("ab" * 32, "0123-456"),
        ("ab" * 32, "../../etc"),
    ],
)
def test_key_refuses_what_is_not_lowercase_hex(sha: str, digest: str) -> None:
    with pytest.raises(ValueError, match="lowercase hex") as info:
        Store.key(sha, digest)
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, DGToolsError)


def test_path_layout(store: Store) -> None:
    key = make_key()
    assert store.path(key) == store.root / "responses" / key[:2] / f"{key}.json"


@pytest.mark.parametrize("bad", ["../../../etc/passwd", "ab", "ab" * 32, f"{'ab' * 32}-xyz", ""])
def test_path_refuses_what_is_not_a_key(store: Store, bad: str) -> None:
    with pytest.raises(ConfigError, match="not a store key"):
        store.path(bad)


def test_root_is_created_lazily(tmp_path: Path) -> None:
    store = Store(tmp_path / "a" / "b")
    key = make_key()
    assert store.root == tmp_path / "a" / "b"
    assert not store.has(key)
    assert store.entries() == []
    assert list(store.keys()) == []
    assert store.clean() == 0
    assert "responses=0" in repr(store)
    assert not store.root.exists()
    store.write_bytes(key, b"{}")
    assert store.has(key)


def test_root_accepts_str_and_pathlike(tmp_path: Path) -> None:
    assert Store(str(tmp_path)).root == Store(tmp_path).root == tmp_path


# --------------------------------------------------------------------------- whole writes


def test_write_and_read_round_trip(store: Store) -> None:
    key = make_key()
    path = store.write_bytes(key, response())
    assert path == store.path(key)
    assert store.has(key)
    assert store.read_bytes(key) == response()
    assert files_under(store.root / "tmp") == []


def test_write_accepts_bytearray_and_memoryview(store: Store) -> None:
    store.write_bytes(make_key("a"), bytearray(b"[1]"))
    store.write_bytes(make_key("b"), memoryview(b"[2]"))
    assert store.read_bytes(make_key("a")) == b"[1]"
    assert store.read_bytes(make_key("b")) == b"[2]"


def test_first_write_wins(store: Store) -> None:
    key = make_key()
    first = store.write_bytes(key, response("first"))
    before = first.stat()
    second = store.write_bytes(key, response("second"))
    assert second == first
    assert store.read_bytes(key) == response("first")
    after = first.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # never edited
    assert files_under(store.root / "tmp") == []


def test_read_missing_key_names_it(store: Store) -> None:
    key = make_key()
    with pytest.raises(FileNotFoundError, match="no response stored for key"):
        store.read_bytes(key)


def test_concurrent_writers_of_one_key_keep_exactly_one(store: Store) -> None:
    key = make_key()
    payloads = [response(f"r{i}") * 50 for i in range(8)]
    created: list[bool] = []
    barrier = threading.Barrier(len(payloads))

    def write(data: bytes) -> None:
        w = store.writer(key)
        with w:
            w.write(data)
            barrier.wait()
        created.append(w.created)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert created.count(True) == 1
    assert store.read_bytes(key) in payloads
    assert files_under(store.root / "tmp") == []
    assert files_under(store.root / "responses") == [store.path(key)]


# --------------------------------------------------------------------------- streaming writes


def test_writer_streams_chunks(store: Store) -> None:
    key = make_key()
    data = response() * 100
    with store.writer(key) as w:
        assert isinstance(w, AtomicWriter)
        assert not store.has(key)  # nothing visible before the commit
        for i in range(0, len(data), 1000):
            assert w.write(data[i : i + 1000]) == len(data[i : i + 1000])
    assert w.path == store.path(key)
    assert w.created
    assert w.bytes_written == len(data)
    assert store.read_bytes(key) == data
    assert files_under(store.root / "tmp") == []


def test_writer_that_raises_leaves_nothing(store: Store) -> None:
    key = make_key()
    with pytest.raises(RuntimeError, match="network dropped"), store.writer(key) as w:
        w.write(b'{"partial": ')
        raise RuntimeError("network dropped")
    assert w.path is None
    assert not store.has(key)
    assert files_under(store.root / "responses") == []
    assert files_under(store.root / "tmp") == []
    assert store.clean() == 0


def test_writer_discard_leaves_nothing(store: Store) -> None:
    key = make_key()
    with store.writer(key) as w:
        w.write(b"{}")
        w.discard()
        w.discard()  # idempotent
        with pytest.raises(ValueError, match="discarded"):
            w.write(b"more")
    assert w.path is None
    assert not store.has(key)
    assert files_under(store.root / "tmp") == []


def test_writer_on_existing_key_keeps_the_first(store: Store) -> None:
    key = make_key()
    store.write_bytes(key, b'"first"')
    with store.writer(key) as w:
        w.write(b'"second"')
    assert w.path == store.path(key)
    assert not w.created
    assert store.read_bytes(key) == b'"first"'
    assert files_under(store.root / "tmp") == []


def test_writer_cannot_be_reused(store: Store) -> None:
    w = store.writer(make_key())
    with w:
        w.write(b"{}")
    with pytest.raises(ValueError, match="already used"), w:
        pass
    with pytest.raises(ValueError, match="committed"):
        w.write(b"x")
    assert w.commit() == w.path  # committing again is harmless


def test_writer_commit_without_with(store: Store) -> None:
    key = make_key()
    w = store.writer(key)
    w.write(b"[]")
    assert w.commit() == store.path(key)
    assert store.read_bytes(key) == b"[]"
    assert "committed" in repr(w)


def test_writer_rejects_a_bad_key_up_front(store: Store) -> None:
    with pytest.raises(ConfigError):
        store.writer("nope")


# --------------------------------------------------------------------------- crash consistency


CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from dgtools.store import Store

store = Store({root!r})
with store.writer({key!r}) as w:
    w.write(b'{{"metadata": {{"request_id": "killed"}}, "results": {{"channels": [' + b' ' * (4 << 20))
    print("ready", flush=True)
    time.sleep(60)
    w.write(b"]}}}}")
"""


@posix_only
def test_sigkill_mid_write_leaves_only_a_stale_temp(store: Store) -> None:
    key = make_key()
    code = CHILD.format(repo=str(REPO), root=str(store.root), key=key)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    assert not store.has(key)
    assert list(store.keys()) == []
    assert files_under(store.root / "responses") == []
    temps = files_under(store.root / "tmp")
    assert len(temps) == 1 and temps[0].name.startswith(key) and temps[0].suffix == ".part"
    assert temps[0].stat().st_size >= 4 << 20

    assert store.clean() == 1
    assert files_under(store.root / "tmp") == []
    assert store.clean() == 0

    store.write_bytes(key, response("retry"))
    assert json.loads(store.read_bytes(key))["metadata"]["request_id"] == "retry"


def test_clean_leaves_writes_in_progress(store: Store) -> None:
    key = make_key()
    with store.writer(key) as w:
        w.write(b"{")
        assert store.clean() == 0  # this process is alive and still writing
        w.write(b"}")
    assert store.read_bytes(key) == b"{}"


def test_clean_removes_old_and_keeps_foreign_files(store: Store) -> None:
    key = make_key()
    tmp = store.root / "tmp"
    tmp.mkdir(parents=True)
    old = tmp / f"{key}.0000abcd.{os.getpid()}.00ff.part"  # another machine: judged by age only
    old.write_bytes(b"{")
    recent = tmp / f"{key}.0000abcd.1.00fe.part"
    recent.write_bytes(b"{")
    foreign = tmp / "notes.txt"
    foreign.write_text("not ours")
    week_ago = old.stat().st_mtime - 7 * 24 * 3600
    os.utime(old, (week_ago, week_ago))
    assert store.clean() == 1
    assert not old.exists()
    assert recent.exists() and foreign.exists()


# --------------------------------------------------------------------------- the index


def test_record_and_entries(store: Store) -> None:
    key = make_key()
    store.record({"key": key, "file_id": "calls/a.wav", "bytes": 12, "request_id": "r1"})
    store.record({"key": key, "source": Path("calls/a.wav"), "at": dt.datetime(2025, 1, 2, tzinfo=dt.UTC)})
    first, second = store.entries()
    assert first["key"] == key and first["file_id"] == "calls/a.wav" and first["bytes"] == 12
    assert dt.datetime.fromisoformat(first["at"]).tzinfo is not None  # added, in UTC
    assert first["at"].endswith("Z")
    assert second["source"] == "calls/a.wav"
    assert second["at"] == "2025-01-02T00:00:00+00:00"
    lines = (store.root / "index.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3


def test_record_keeps_non_ascii_and_refuses_non_json(store: Store) -> None:
    store.record({"key": make_key(), "file_id": "réunion/été.wav"})
    assert store.entries()[0]["file_id"] == "réunion/été.wav"
    with pytest.raises(TypeError, match="JSON values"):
        store.record({"key": make_key(), "file_id": object()})
    assert len(store.entries()) == 1


def test_concurrent_records_from_threads_do_not_interleave(store: Store) -> None:
    n_threads, n_lines = 8, 200
    padding = "x" * 3000  # lines longer than a pipe buffer's atomic size

    def work(t: int) -> None:
        for i in range(n_lines):
            store.record({"key": make_key(), "thread": t, "i": i, "pad": padding})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    raw = (store.root / "index.jsonl").read_bytes().splitlines()
    assert len(raw) == n_threads * n_lines
    entries = store.entries()
    assert len(entries) == n_threads * n_lines
    assert {(e["thread"], e["i"]) for e in entries} == {
        (t, i) for t in range(n_threads) for i in range(n_lines)
    }
    for n in range(n_threads):  # each thread's lines keep their order
        assert [e["i"] for e in entries if e["thread"] == n] == list(range(n_lines))


def test_concurrent_records_from_processes_do_not_interleave(store: Store) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from dgtools.store import Store
        store = Store({str(store.root)!r})
        for i in range(100):
            store.record({{"key": {make_key()!r}, "proc": int(sys.argv[1]), "i": i, "pad": "y" * 2000}})
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)]) for n in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 4
    entries = store.entries()
    assert len(entries) == 400
    assert len((store.root / "index.jsonl").read_bytes().splitlines()) == 400


def test_torn_last_line_is_skipped_and_the_next_record_survives(store: Store) -> None:
    k = {c: make_key(c) for c in "abcd"}
    store.record({"key": k["a"]})
    store.record({"key": k["b"]})
    with open(store.root / "index.jsonl", "ab") as f:
        f.write(b'{"key": "' + k["c"].encode() + b'", "file_id": "cal')  # a crash mid-append
    assert [e["key"] for e in store.entries()] == [k["a"], k["b"]]
    store.record({"key": k["d"]})
    assert [e["key"] for e in store.entries()] == [k["a"], k["b"], k["d"]]


def test_entries_skips_blank_and_non_object_lines(store: Store) -> None:
    a, b = make_key("a"), make_key("b")
    store.root.mkdir(parents=True)
    (store.root / "index.jsonl").write_bytes(
        b'{"key": "%s"}\n\n[1, 2]\n\xff\xfe\n{"key": "%s"}\n' % (a.encode(), b.encode())
    )
    assert [e["key"] for e in store.entries()] == [a, b]


# --------------------------------------------------------------------------- secrets


def test_write_bytes_refuses_a_secret_without_echoing_it(tmp_path: Path) -> None:
    store = Store(tmp_path, secrets=[SECRET])
    key = make_key()
    with pytest.raises(ValueError, match="never holds the key") as info:
        store.write_bytes(key, b'{"headers": {"Authorization": "Token ' + SECRET.encode() + b'"}}')
    assert isinstance(info.value, ConfigError)
    assert SECRET not in str(info.value)
    assert not store.has(key)
    assert files_under(tmp_path / "tmp") == []


@pytest.mark.parametrize("split_at", [1, 10, len(SECRET) - 1])
def test_writer_finds_a_secret_split_across_chunks(tmp_path: Path, split_at: int) -> None:
    store = Store(tmp_path, secrets=[SECRET])
    key = make_key()
    data = b'{"url": "https://x/?key=' + SECRET.encode() + b'"}'
    cut = data.index(SECRET.encode()) + split_at
    with pytest.raises(ConfigError) as info, store.writer(key) as w:
        w.write(data[:cut])
        w.write(data[cut:])
    assert SECRET not in str(info.value)
    assert not store.has(key)
    assert files_under(tmp_path / "tmp") == []


def test_writer_refuses_to_commit_after_a_swallowed_refusal(tmp_path: Path) -> None:
    store = Store(tmp_path, secrets=[SECRET])
    key = make_key()
    # the caller swallows the refusal (innermost suppress); the writer's clean exit must still refuse
    with pytest.raises(ConfigError), store.writer(key) as w, contextlib.suppress(ConfigError):
        w.write(SECRET.encode())
    with pytest.raises(ConfigError):
        w.commit()
    assert not store.has(key)


def test_secret_is_found_json_escaped(tmp_path: Path) -> None:
    secret = 'se/cr"et\\ké-0123456789'  # 16 characters or more: shorter ones cannot be checked
    store = Store(tmp_path, secrets=[secret])
    for i, data in enumerate(
        [json.dumps({"k": secret}).encode(), json.dumps({"k": secret}, ensure_ascii=False).encode()]
    ):
        with pytest.raises(ConfigError):
            store.write_bytes(make_key(str(i)), data)
    with pytest.raises(ConfigError):
        store.record({"note": f"key={secret}"})


def test_record_refuses_a_secret(tmp_path: Path) -> None:
    store = Store(tmp_path, secrets=(SECRET,))
    with pytest.raises(ConfigError) as info:
        store.record({"key": make_key(), "options": f"model=nova-3&api_key={SECRET}"})
    assert SECRET not in str(info.value)
    assert store.entries() == []


def test_secrets_as_one_string_and_empty_values(tmp_path: Path) -> None:
    store = Store(tmp_path, secrets=SECRET)  # a bare str is one secret, not a sequence of characters
    with pytest.raises(ConfigError):
        store.write_bytes(make_key(), SECRET.encode())
    store.write_bytes(make_key("ok"), b'{"a": "d"}')  # its single characters are not secrets
    lenient = Store(tmp_path / "other", secrets=["", ""])
    lenient.write_bytes(make_key(), b"{}")  # empty secrets are ignored, not matched everywhere
    assert SECRET not in repr(store)


def test_data_without_secrets_is_stored(tmp_path: Path) -> None:
    store = Store(tmp_path, secrets=[SECRET])
    key = make_key()
    store.write_bytes(key, response())
    store.record({"key": key, "request_id": "r1"})
    assert store.has(key) and len(store.entries()) == 1


# --------------------------------------------------------------------------- listing, repr, tables


def test_keys_lists_complete_responses_only(store: Store) -> None:
    keys = sorted(make_key(s) for s in "abc")
    for k in reversed(keys):
        store.write_bytes(k, b"{}")
    stray = store.root / "responses" / "zz"
    stray.mkdir()
    (stray / "notes.json").write_text("{}")
    (store.root / "responses" / keys[0][:2] / "x.json.bak").write_text("{}")
    with store.writer(make_key("in-progress")) as w:
        w.write(b"{")
        assert list(store.keys()) == keys
    assert len(list(store.keys())) == 4


def test_repr(store: Store) -> None:
    store.write_bytes(make_key(), b"{}")
    assert repr(store) == f"<dgtools.Store root={str(store.root)!r} responses=1>"


def test_responses_are_readable_by_to_tables(store: Store) -> None:
    keys = [make_key("a"), make_key("b")]
    for i, key in enumerate(keys):
        store.write_bytes(key, response(f"req-{i}", word=f"w{i}"))
    with store.writer(make_key("c")) as w:  # a write in progress is not picked up
        w.write(b'{"metadata": ')
        tables = dgtools.to_tables(store.root / "responses")
        w.discard()
    words = tables.words.sort_values("request_id")
    assert list(words["word"]) == ["w0", "w1"]
    assert sorted(words["file_id"]) == sorted(f"{k[:2]}/{k}" for k in keys)


# --------------------------------------------------------------------------- group commit: write_many, record_many


def test_write_many_stores_every_item(store: Store) -> None:
    items = [(make_key(f"m{i}"), response(f"r{i}") * (i + 1)) for i in range(20)]
    out = store.write_many(items)
    assert out == [store.path(k) for k, _ in items]
    for key, data in items:
        assert store.read_bytes(key) == data
    assert list(store.keys()) == sorted(k for k, _ in items)
    assert files_under(store.root / "tmp") == []
    assert store.write_many([]) == []


def test_write_many_first_write_wins(store: Store) -> None:
    old, new = make_key("old"), make_key("new")
    first = store.write_bytes(old, response("first"))
    before = first.stat()
    out = store.write_many([(old, response("second")), (new, response("a")), (new, response("b"))])
    assert out == [first, store.path(new), store.path(new)]
    assert store.read_bytes(old) == response("first")
    assert (first.stat().st_ino, first.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert store.read_bytes(new) == response("a")  # the same key twice in one batch: the first wins
    assert files_under(store.root / "tmp") == []


def test_write_many_refuses_one_item_and_stores_the_others(tmp_path: Path) -> None:
    store = Store(tmp_path, secrets=[SECRET])
    keys = [make_key(s) for s in "abc"]
    leaky = b'{"url": "https://x/?key=' + SECRET.encode() + b'"}'
    out = store.write_many(
        [(keys[0], response("a")), (keys[1], leaky), ("not-a-key", b"{}"), (keys[2], b"{}")]
    )
    assert out[0] == store.path(keys[0]) and out[3] == store.path(keys[2])
    assert isinstance(out[1], ConfigError) and "never holds the key" in str(out[1])
    assert SECRET not in str(out[1])
    assert isinstance(out[2], ConfigError) and "not a store key" in str(out[2])
    assert [store.has(k) for k in keys] == [True, False, True]
    assert files_under(tmp_path / "tmp") == []


def test_write_many_reports_an_io_failure_per_item(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [make_key(s) for s in "abc"]
    real_write = os.write

    def disk_full_for_b(fd: int, data: Any) -> int:
        if bytes(data) == b'"b"':
            real_write(fd, bytes(data)[:1])  # a partial temp file that must not survive
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full_for_b)
    out = store.write_many([(keys[0], b'"a"'), (keys[1], b'"b"'), (keys[2], b'"c"')])
    assert isinstance(out[1], OSError) and out[1].errno == 28
    assert out[0] == store.path(keys[0]) and out[2] == store.path(keys[2])
    assert not store.has(keys[1])
    assert files_under(store.root / "tmp") == []


def test_write_many_interrupted_leaves_no_temp_file(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "link", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.write_many([(make_key("a"), b"{}"), (make_key("b"), b"{}")])
    assert files_under(store.root / "tmp") == []
    assert list(store.keys()) == []


def test_write_many_shares_its_syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dgtools.store import syncfs_supported

    store = Store(tmp_path / "store")
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd))[1])
    items = [(make_key(f"s{i}"), b"{}") for i in range(16)]
    assert store.write_many(items) == [store.path(k) for k, _ in items]
    if syncfs_supported(
        tmp_path
    ):  # ext4, xfs, tmpfs, overlayfs...: one syncfs for the data, one for the links
        assert fsyncs == []
    else:  # pragma: no cover - other filesystems: each file and each changed directory
        assert len(fsyncs) >= len(items)
    fsyncs.clear()
    store.write_many([(make_key("s0") + "0", b"{}")])  # one file, in an existing shard: plain fsyncs
    assert len(fsyncs) == 2  # the file, then its directory


def test_write_many_with_sync_fsync_fsyncs_each_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "store", sync="fsync")
    fsynced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsynced.append(fd), real_fsync(fd))[1])
    items = [(make_key(f"f{i}"), response(f"r{i}")) for i in range(5)]
    assert store.write_many(items) == [store.path(k) for k, _ in items]
    assert [store.read_bytes(k) for k, _ in items] == [d for _, d in items]
    shards = {k[:2] for k, _ in items}
    # each temp file, each new shard directory, responses/ and the root (both new)
    assert len(fsynced) == len(items) + len(shards) + 2
    assert files_under(store.root / "tmp") == []
    with pytest.raises(ConfigError, match="sync="):
        Store(tmp_path / "other", sync="never")  # type: ignore[arg-type]


def test_write_bytes_and_write_many_agree_on_the_layout(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    items = [(make_key(f"l{i}"), response(f"r{i}")) for i in range(3)]
    for key, data in items:
        a.write_bytes(key, data)
    b.write_many(items)
    rel = [p.relative_to(a.root) for p in files_under(a.root)]
    assert rel == [p.relative_to(b.root) for p in files_under(b.root)]


def test_record_many_appends_parseable_lines(store: Store) -> None:
    a, b, c = make_key("a"), make_key("b"), make_key("c")
    store.record({"key": a})
    store.record_many([{"key": b, "file_id": "b.wav"}, {"key": c, "at": "2025-01-01T00:00:00Z"}])
    store.record_many([])
    assert [e["key"] for e in store.entries()] == [a, b, c]
    assert store.entries()[1]["at"].endswith("Z") and store.entries()[2]["at"] == "2025-01-01T00:00:00Z"
    assert len((store.root / "index.jsonl").read_bytes().splitlines()) == 3


def test_record_many_is_all_or_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path, secrets=[SECRET])
    with pytest.raises(ConfigError) as info:
        store.record_many([{"key": make_key("a")}, {"key": make_key("b"), "options": f"api_key={SECRET}"}])
    assert SECRET not in str(info.value)
    with pytest.raises(TypeError, match="JSON values"):
        store.record_many([{"key": make_key("a")}, {"key": object()}])
    assert store.entries() == []


def test_record_many_after_a_torn_line(store: Store) -> None:
    k = {c: make_key(c) for c in "abcdef"}
    store.record_many([{"key": k["a"]}, {"key": k["b"]}])
    with open(store.root / "index.jsonl", "ab") as f:
        f.write(b'{"key": "c", "file_id": "cal')  # a crash mid-append
    store.record_many([{"key": k["d"]}, {"key": k["e"]}])
    assert [e["key"] for e in store.entries()] == [k["a"], k["b"], k["d"], k["e"]]
    store.record({"key": k["f"]})
    assert [e["key"] for e in store.entries()] == [k["a"], k["b"], k["d"], k["e"], k["f"]]


# --------------------------------------------------------------------------- shared helpers (issue 11)

HEX_KEY = "3f2a9c0b7d1e4f5a6b8c9d0e1f2a3b4c5d6e7f80"  # the shape of a Deepgram API key: 40 hex digits


def big_response(words: int = 6000) -> bytes:
    """A realistic ~470 KB answer: many words, uuids, a sha256 (one 64-hex run), numbers."""
    body = {
        "metadata": {
            "request_id": "8f2c1a55-3b1e-4d2a-9f00-6c1d2e3f4a5b",
            "sha256": hashlib.sha256(b"audio").hexdigest(),
            "models": ["1abfe86b-e047-4eed-858a-35e5625b41ee"],
        },
        "results": {
            "channels": [
                {
                    "alternatives": [
                        {
                            "words": [
                                {
                                    "word": ("face", "the", "bad", "deed", "a")[i % 5],
                                    "start": i * 0.41,
                                    "end": i * 0.41 + 0.3,
                                    "confidence": 0.9 - (i % 7) / 100,
                                    "speaker": i % 2,
                                }
                                for i in range(words)
                            ]
                        }
                    ]
                }
            ]
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- quarantine, key_of


def test_quarantine_moves_an_unreadable_response_aside_with_its_reason(store: Store) -> None:
    good, bad = make_key("good"), make_key("bad")
    store.write_bytes(good, response())
    store.write_bytes(bad, b'{"results": {"channels": [')  # truncated on disk
    before = store.path(bad).stat().st_ino
    moved = store.quarantine(bad, "truncated JSON: Expecting value at char 26")
    assert moved == store.root / "quarantine" / f"{bad}.json"
    assert moved.read_bytes() == b'{"results": {"channels": [' and moved.stat().st_ino == before  # moved
    assert not store.has(bad) and store.has(good)
    assert list(store.keys()) == [good]
    assert store.quarantined() == [(bad, "truncated JSON: Expecting value at char 26")]
    # the next run re-requests it: a new answer is stored, the quarantined copy stays as evidence
    store.write_bytes(bad, response("again"))
    assert store.has(bad) and store.quarantined() == [(bad, "truncated JSON: Expecting value at char 26")]
    # quarantined again later: the latest copy and reason win
    store.quarantine(bad, "second reason")
    assert store.quarantined() == [(bad, "second reason")]
    assert moved.read_bytes() == response("again")
    assert files_under(store.root / "tmp") == []


def test_quarantine_of_nothing_stored_raises_and_keeps_no_reason(store: Store) -> None:
    key = make_key()
    with pytest.raises(FileNotFoundError, match="no response stored"):
        store.quarantine(key, "why")
    assert store.quarantined() == []
    with pytest.raises(ConfigError, match="not a store key"):
        store.quarantine("../../etc/passwd", "why")


def test_quarantine_reason_never_holds_a_secret(tmp_path: Path) -> None:
    store = Store(tmp_path, secrets=[HEX_KEY])
    key = make_key()
    store.write_bytes(key, b"{")
    store.quarantine(key, f"bad body near ...token={HEX_KEY}...")
    ((k, reason),) = store.quarantined()
    assert k == key and HEX_KEY not in reason
    assert HEX_KEY.encode() not in b"".join(p.read_bytes() for p in files_under(tmp_path))


def test_key_of_maps_a_response_path_back_to_its_key(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    key = make_key()
    path = store.write_bytes(key, b"{}")
    assert store.key_of(path) == key
    assert store.key_of(str(path)) == key
    monkeypatch.chdir(store.root)
    assert store.key_of(Path("responses") / key[:2] / f"{key}.json") == key  # relative to the cwd
    assert store.key_of(store.root / "responses" / "zz" / f"{key}.json") is None  # wrong shard
    assert store.key_of(store.root / "quarantine" / f"{key}.json") is None
    assert store.key_of(store.root / "elsewhere.json") is None
    assert store.key_of(Store(store.root / "other").path(key)) is None


# --------------------------------------------------------------------------- index validation


def test_entries_skip_ill_typed_lines_and_index_problems_name_them(store: Store) -> None:
    good = make_key("good")
    store.record({"key": good, "file_id": "a.wav", "request_id": None, "bytes": 12})
    lines = [
        b'{"key": 12, "file_id": ["x"]}',
        b'{"key": "' + good.encode() + b'", "file_id": ["x"]}',
        b'{"key": "' + good.encode() + b'", "source": 3}',
        b'{"key": "' + good.encode() + b'", "request_id": 7}',
        b'{"key": "' + good.encode() + b'", "bytes": "12"}',
        b'{"key": "' + good.encode() + b'", "bytes": true}',
        b'{"key": "' + good.encode() + b'", "options": {"model": "x"}}',
        b'{"key": "' + good.encode() + b'", "status": null}',
        b'{"file_id": "no-key.wav"}',
        b'{"key": "../../etc/passwd"}',
        b"[1, 2]",
    ]
    with open(store.root / "index.jsonl", "ab") as f:
        f.write(b"\n".join(lines) + b"\n")
    store.record({"key": good, "file_id": "b.wav", "bytes": None})
    assert [e["file_id"] for e in store.entries()] == ["a.wav", "b.wav"]
    problems = store.index_problems()
    assert len(problems) == len(lines)
    assert problems[0] == "index.jsonl line 2: key is 12, not a store key"
    assert problems[1] == 'index.jsonl line 3: file_id is ["x"], not a string'
    assert all(p.startswith(f"index.jsonl line {i + 2}: ") for i, p in enumerate(problems))
    assert "request_id is 7" in problems[3] and "bytes is true" in problems[5]
    assert "no key" in problems[8] and "not a JSON object" in problems[10]


def test_store_sources_survive_bad_index_lines(store: Store) -> None:
    from dgtools.store import store_sources

    key = make_key()
    store.write_bytes(key, response())
    store.root.joinpath("index.jsonl").write_bytes(
        b'{"key": 12, "file_id": ["x"]}\n{"key": "' + key.encode() + b'", "file_id": ["x"]}\n'
    )
    assert store_sources(store) == [(store.path(key), key)]  # unindexed: its key stands in
    store.record({"key": key, "file_id": "a.wav"})
    assert store_sources(store) == [(store.path(key), "a.wav")]


def test_record_refuses_what_entries_would_skip(store: Store) -> None:
    with pytest.raises(ConfigError, match="key is 12, not a store key"):
        store.record({"key": 12, "file_id": "a.wav"})
    with pytest.raises(ConfigError, match="file_id"):
        store.record_many([{"key": make_key(), "file_id": "ok.wav"}, {"key": make_key(), "file_id": ["x"]}])
    assert store.entries() == [] and store.index_problems() == []


def test_a_rerun_survives_a_bad_index_line(tmp_path: Path) -> None:
    """A hand-edited index made every later run fail with a TypeError traceback."""
    import wave

    from dgtools.api import RetryPolicy
    from dgtools.server import LocalServer

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        with wave.open(str(folder / f"{i}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(bytes([i + 1, 0]) * 8000)
    store = tmp_path / "store"
    kw: dict[str, Any] = {
        "store": store,
        "api_key": HEX_KEY,
        "progress": False,
        "retry": RetryPolicy(base_delay=0.01),
    }
    with LocalServer() as server:
        first = dgtools.transcribe(folder, base_url=server.url, **kw)
        assert [r.status for r in first.results] == ["transcribed", "transcribed"]
        with open(store / "index.jsonl", "ab") as f:
            f.write(b'{"key": 12, "file_id": ["x"]}\n')
        again = dgtools.transcribe(folder, base_url=server.url, **kw)
    assert [r.status for r in again.results] == ["stored", "stored"]
    assert Store(store).index_problems() == ["index.jsonl line 3: key is 12, not a store key"]


# --------------------------------------------------------------------------- clean: dead writers' temp files

KILLED_WRITERS = """
import sys, time
sys.path.insert(0, {repo!r})
from dgtools.store import Store

store = Store({root!r})
writers = [store.writer(k) for k in {keys!r}]
for w in writers:
    w.write(b'{{"partial": ' + b' ' * 100000)
spool = store.spool_path({keys!r}[0])
spool.write_bytes(b'{{"spooled": ')
print("ready", flush=True)
time.sleep(60)
"""


@posix_only
def test_clean_removes_every_temp_of_a_sigkilled_writer(store: Store) -> None:
    keys = [make_key(f"w{i}") for i in range(5)]
    code = KILLED_WRITERS.format(repo=str(REPO), root=str(store.root), keys=keys)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert len(files_under(store.root / "tmp")) == 6
    with store.writer(make_key("live")) as live:  # this process's write in progress stays
        live.write(b"{")
        assert store.clean() == 6
        assert len(files_under(store.root / "tmp")) == 1
        live.write(b"}")
    assert files_under(store.root / "tmp") == []


@posix_only
def test_clean_removes_a_dead_writers_temp_when_its_pid_was_reused(store: Store) -> None:
    """In a container every run can get the same pid: a leftover named with this pid is not ours."""
    key = make_key()
    code = KILLED_WRITERS.format(repo=str(REPO), root=str(store.root), keys=[key])
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    # the dead writer's pid, reused: by this very process, and by another live process
    temps = files_under(store.root / "tmp")
    assert len(temps) == 2
    for temp, pid in zip(temps, (os.getpid(), os.getppid()), strict=True):
        host, old_pid, rest = temp.name[len(key) + 1 :].split(".", 2)
        assert old_pid.split("-")[0] == str(proc.pid)
        temp.rename(temp.with_name(f"{key}.{host}.{pid}{old_pid[len(str(proc.pid)) :]}.{rest}"))
    assert store.clean() == 2
    assert files_under(store.root / "tmp") == []


@posix_only
def test_clean_keeps_a_temp_its_live_writer_holds_whatever_its_name_says(store: Store) -> None:
    """A writer in another pid namespace (a container with this host name): its pid means nothing here."""
    from dgtools.store.durable import host_tag

    key = make_key()
    tmp = store.root / "tmp"
    tmp.mkdir(parents=True)
    # named as if written by this process long ago (another start time): judged by its name, it is stale
    temp = tmp / f"{key}.{host_tag()}.{os.getpid()}-1.00ff.part"
    code = textwrap.dedent(
        f"""
        import fcntl, os, sys, time
        fd = os.open({str(temp)!r}, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"{{")
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert store.clean() == 0 and temp.exists()  # its writer holds it open: alive
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert store.clean() == 1 and not temp.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


# --------------------------------------------------------------------------- secrets: no raw key in any object


def test_store_and_guard_pickle_without_the_secret(tmp_path: Path) -> None:
    import pickle

    from dgtools.store.secrets import SecretGuard

    store = Store(tmp_path, secrets=[HEX_KEY, SECRET])
    guard = SecretGuard([HEX_KEY])
    for obj in (store, guard, store.writer(make_key())):
        for text in (
            pickle.dumps(obj) if not hasattr(obj, "commit") else b"",
            repr(obj).encode(),
            str(obj).encode(),
        ):
            assert HEX_KEY.encode() not in text and SECRET.encode() not in text
            assert HEX_KEY.encode().hex().encode() not in text
    again = pickle.loads(pickle.dumps(store))
    with pytest.raises(ConfigError):
        again.write_bytes(make_key(), b'{"k": "' + HEX_KEY.encode() + b'"}')
    copy = pickle.loads(pickle.dumps(guard))
    assert copy.found(b"x" + HEX_KEY.encode()) and not copy.found(b"x" * 100)


def _leaky_variants(secret: str) -> dict[str, bytes]:
    raw = secret.encode()
    return {
        "raw": b'{"k":"' + raw + b'"}',
        "json-escaped": json.dumps({"k": secret}).encode(),
        "json-unicode": json.dumps({"k": secret}, ensure_ascii=False).encode(),
        "in-a-url": b'{"callback":"https://x.example/?token=' + raw + b'&x=1"}',
        "in-a-longer-run": b'{"h":"abc' + raw + b'def0123"}',
        "at-the-start": raw + b"tail",
        "at-the-end": b"head" + raw,
        "alone": raw,
        "twice-in-a-run": raw + raw,
    }


@pytest.mark.parametrize(
    "secret", [HEX_KEY, SECRET, 'pässwörd-"quoted"-and\\slash-1234'], ids=["hex", "token", "odd"]
)
def test_the_guard_finds_every_form_of_a_secret(tmp_path: Path, secret: str) -> None:
    store = Store(tmp_path, secrets=[secret])
    for i, (name, data) in enumerate(_leaky_variants(secret).items()):
        if name == "in-a-longer-run" and secret != HEX_KEY:
            continue
        with pytest.raises(ConfigError, match="never holds the key"):
            store.write_bytes(make_key(f"{name}{i}"), data)
        assert isinstance(store.write_many([(make_key(f"m{name}"), data)])[0], ConfigError), name
    escaped = json.dumps(secret)[1:-1].encode()
    with pytest.raises(ConfigError):
        store.write_bytes(make_key("embedded"), big_response()[:-3] + escaped + b'"}]')
    assert list(store.keys()) == []


@pytest.mark.parametrize("cut", [1, 7, 20, 39])
def test_the_guard_finds_a_key_inside_a_hex_run_split_across_chunks(tmp_path: Path, cut: int) -> None:
    store = Store(tmp_path, secrets=[HEX_KEY])
    data = b'{"sha":"' + b"ab" * 50 + HEX_KEY.encode() + b"cd" * 50 + b'"}'
    at = data.index(HEX_KEY.encode()) + cut
    with pytest.raises(ConfigError), store.writer(make_key()) as w:
        for chunk in (data[:at], data[at:]):
            w.write(chunk)
    assert list(store.keys()) == [] and files_under(tmp_path / "tmp") == []


@pytest.mark.parametrize("pad", [0, 1, 2, 3, 5, 7])
@pytest.mark.parametrize("where", ["start", "end", "end-of-a-run", "middle"])
def test_the_guard_finds_a_key_anywhere_in_a_large_answer(tmp_path: Path, pad: int, where: str) -> None:
    """Large data is sampled (every 4th byte): the key must be found at every offset, the last bytes too."""
    store = Store(tmp_path, secrets=[HEX_KEY, SECRET])
    body = big_response()[: 20000 + pad]
    for secret in (HEX_KEY, SECRET):
        raw = secret.encode()
        data = {
            "start": raw + body,
            "end": body + raw,
            "end-of-a-run": body + b"0123abcd" * 7 + raw,
            "middle": body[:9001] + raw + body[9001:],
        }[where]
        for shift in range(4):  # every alignment against the sampling grid
            leaky = b" " * shift + data
            with pytest.raises(ConfigError):
                store.write_bytes(make_key(f"{where}{pad}{shift}"), leaky)
    assert list(store.keys()) == []


@pytest.mark.parametrize("cut", [1, 17, 39])
def test_the_guard_finds_a_key_split_between_large_chunks(tmp_path: Path, cut: int) -> None:
    store = Store(tmp_path, secrets=[HEX_KEY])
    head, tail = big_response()[:70001], big_response()[:50003]
    raw = HEX_KEY.encode()
    with pytest.raises(ConfigError), store.writer(make_key()) as w:
        w.write(head + b"ab" + raw[:cut])
        w.write(raw[cut:] + b"cd" + tail)
    assert list(store.keys()) == [] and files_under(tmp_path / "tmp") == []


@pytest.mark.parametrize("length", [16, 19, 20, 40, 41, 80, 200])
def test_the_guard_agrees_with_a_plain_search_on_random_data(length: int) -> None:
    """Against ``secret in data`` on data full of runs of the secret's alphabet, at every sampling stride."""
    import random

    from dgtools.store.secrets import SecretGuard

    rng = random.Random(length)

    def hexes(n: int) -> str:
        return format(rng.getrandbits(4 * n), f"0{n}x")

    secret = hexes(length)
    guard = SecretGuard([secret])
    for trial in range(40):
        size = rng.choice([100, 3000, 5000, 20011])
        parts: list[str] = []
        while sum(map(len, parts)) < size:  # runs of hex of every length, some near-misses of the key
            if rng.random() < 0.1:
                cut = rng.randrange(1, length)
                parts.append(secret[:cut] if rng.random() < 0.5 else secret[cut:])
            else:
                parts.append(hexes(rng.choice([1, 5, 30, 90])))
            parts.append(rng.choice(['","', ":", " ", "x", "."]))
        data = "".join(parts)
        if trial % 2:
            at = rng.randrange(len(data) + 1)
            data = data[:at] + secret + data[at:]
        raw = data.encode()
        assert guard.found(raw) == (secret in data), (length, trial)
        cut = rng.randrange(len(raw) + 1)  # and across two chunks
        carry = guard.tail(b"", raw[:cut])
        assert (guard.found(raw[:cut]) or guard.found(raw[cut:], carry)) == (secret in data), (length, trial)


def test_the_guard_has_no_false_alarms_on_realistic_answers(tmp_path: Path) -> None:
    store = Store(tmp_path, secrets=[HEX_KEY, SECRET])
    almost = HEX_KEY[:-1] + ("0" if HEX_KEY[-1] != "0" else "1")
    items = [
        (make_key("big"), big_response()),
        (make_key("small"), response()),
        (make_key("hexes"), b'{"h":"' + ("0123456789abcdef" * 40).encode() + b'"}'),
        (make_key("almost"), b'{"h":"' + almost.encode() + b'","p":"' + HEX_KEY[:39].encode() + b'"}'),
        (make_key("upper"), b'{"h":"' + HEX_KEY.upper().encode() + b'"}'),
    ]
    assert store.write_many(items) == [store.path(k) for k, _ in items]


def test_a_short_secret_warns_once_and_is_not_matched(tmp_path: Path) -> None:
    with pytest.warns(dgtools.DGToolsWarning, match="40 characters") as caught:
        store = Store(tmp_path, secrets=["x", "short-key-12"])
    assert len(caught) == 1
    assert "short-key-12" not in str(caught[0].message)
    store.write_bytes(make_key(), b'{"x": "x", "short-key-12": 1}')  # no longer "echoes the API key"
    with warnings_as_errors():
        Store(tmp_path, secrets=[HEX_KEY, ""])  # a real key: no warning


@contextlib.contextmanager
def warnings_as_errors() -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --------------------------------------------------------------------------- spooled answers, free space


def test_write_many_moves_a_spooled_answer_into_place(store: Store) -> None:
    a, b = make_key("a"), make_key("b")
    spool = store.spool_path(a)
    assert spool.parent == store.root / "tmp" and spool.exists()
    spool.write_bytes(big_response())
    inode = spool.stat().st_ino
    out = store.write_many([(a, spool), (b, response())])
    assert out == [store.path(a), store.path(b)]
    assert store.read_bytes(a) == big_response()
    assert store.path(a).stat().st_ino == inode  # moved, not copied
    assert not spool.exists() and files_under(store.root / "tmp") == []
    assert store.clean() == 0


def test_a_spooled_answer_loses_to_a_stored_one_and_is_removed(store: Store) -> None:
    key = make_key()
    store.write_bytes(key, b'"first"')
    spool = store.spool_path(key)
    spool.write_bytes(b'"second"')
    assert store.write_many([(key, spool)]) == [store.path(key)]
    assert store.read_bytes(key) == b'"first"' and not spool.exists()


def test_a_spooled_answer_holding_the_key_across_read_chunks_is_refused_and_removed(tmp_path: Path) -> None:
    store = Store(tmp_path, secrets=[HEX_KEY])
    key = make_key()
    spool = store.spool_path(key)
    with open(spool, "wb") as f:
        f.write(b'{"pad":"' + b" " * ((1 << 20) - 20))  # the key straddles the first 1 MiB read
        f.write(b"abc" + HEX_KEY.encode() + b'def"}')
    (out,) = store.write_many([(key, spool)])
    assert isinstance(out, ConfigError) and HEX_KEY not in str(out)
    assert not spool.exists() and not store.has(key)


def test_a_spooled_answer_outside_tmp_is_refused_and_left_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    mine = tmp_path / "answer.json"
    mine.write_bytes(b"{}")
    bad_key_spool = store.spool_path(make_key("b"))
    out = store.write_many([(make_key("a"), mine), ("not-a-key", bad_key_spool)])
    assert isinstance(out[0], ConfigError) and "spool_path" in str(out[0])
    assert mine.read_bytes() == b"{}"  # not ours to delete
    assert isinstance(out[1], ConfigError) and not bad_key_spool.exists()  # ours: removed
    assert files_under(store.root / "tmp") == []


def test_store_writer_takes_a_spooled_answer(store: Store) -> None:
    import asyncio

    from dgtools.store import StoreWriter

    key = make_key()

    async def main() -> Path:
        writer = StoreWriter(store)
        spool = store.spool_path(key)
        spool.write_bytes(big_response())
        try:
            return await writer.put(key, spool, {"key": key, "file_id": "a.wav"})
        finally:
            await writer.aclose()

    assert asyncio.run(main()) == store.path(key)
    assert store.read_bytes(key) == big_response()
    assert [e["file_id"] for e in store.entries()] == ["a.wav"]
    assert files_under(store.root / "tmp") == []


def test_free_bytes(tmp_path: Path) -> None:
    import shutil

    store = Store(tmp_path / "not" / "yet")
    free = store.free_bytes()
    assert isinstance(free, int) and free >= 0
    assert abs(free - shutil.disk_usage(tmp_path).free) < 64 << 20


# --------------------------------------------------------------------------- write errors on a real small filesystem


@pytest.fixture
def small_fs(tmp_path: Path) -> Any:
    """A 2 MB tmpfs (Linux, as root); skipped with the reason where mounting is not allowed."""
    import shutil

    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a 2 MB tmpfs needs Linux and root (CAP_SYS_ADMIN); not available here")
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0777", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 2 MB tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_comes_back_per_item_and_leaves_nothing_partial(small_fs: Path) -> None:
    import errno

    store = Store(small_fs / "store", secrets=[HEX_KEY])
    body = big_response()
    items = [(make_key(f"full{i}"), body) for i in range(8)]
    out = store.write_many(items)
    stored = [k for (k, _), o in zip(items, out, strict=True) if isinstance(o, Path)]
    errors = [o for o in out if not isinstance(o, Path)]
    assert 1 <= len(stored) < len(items)
    assert errors and all(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in errors)
    assert sorted(stored) == list(store.keys())
    assert all(store.read_bytes(k) == body for k in stored)  # nothing partial under responses/
    assert files_under(store.root / "tmp") == []
    # spooling an answer on the full disk fails as it is written: the caller drops it, clean() would too
    spool = store.spool_path(make_key("spooled"))
    with pytest.raises(OSError) as info:
        spool.write_bytes(body)
    assert info.value.errno == errno.ENOSPC
    spool.unlink()
    assert files_under(store.root / "tmp") == []


def test_a_spooled_answer_that_cannot_be_linked_is_removed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    key = make_key()
    spool = store.spool_path(key)
    spool.write_bytes(response())

    def full(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", full)
    monkeypatch.setattr(os, "replace", full)
    (out,) = store.write_many([(key, spool)])
    assert isinstance(out, OSError) and out.errno == errno.ENOSPC
    assert not spool.exists() and not store.has(key)
    assert files_under(store.root / "tmp") == [] and files_under(store.root / "responses") == []


def test_a_full_disk_in_the_store_writer_and_the_index(small_fs: Path) -> None:
    import asyncio
    import errno

    from dgtools.store import IndexWriteError, StoreWriter

    store = Store(small_fs / "store")
    body = big_response()

    async def main() -> list[Path | BaseException]:
        writer = StoreWriter(store)
        try:
            return await asyncio.gather(
                *(writer.put(make_key(f"w{i}"), body, {"key": make_key(f"w{i}")}) for i in range(8)),
                return_exceptions=True,
            )
        finally:
            await writer.aclose()

    out = asyncio.run(main())
    failed = [o for o in out if isinstance(o, BaseException)]
    assert failed and all(isinstance(o, OSError) and o.errno == errno.ENOSPC for o in failed)
    # fill what is left, then an index line that does not fit: no partial line is left behind
    with contextlib.suppress(OSError), open(small_fs / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    size = (store.root / "index.jsonl").stat().st_size
    with pytest.raises(OSError) as info:
        store.record({"key": make_key("late"), "pad": "x" * 20000})
    assert info.value.errno == errno.ENOSPC
    assert (store.root / "index.jsonl").stat().st_size == size
    assert len(store.entries()) == len(out) - len(failed)

    async def one() -> Path:
        writer = StoreWriter(store)
        try:
            return await writer.put(make_key("w0"), body, {"key": make_key("w0"), "pad": "x" * 20000})
        finally:
            await writer.aclose()

    with pytest.raises(IndexWriteError) as index_info:
        asyncio.run(one())  # stored already; its index line cannot be written
    assert isinstance(index_info.value, OSError) and index_info.value.errno == errno.ENOSPC


def test_a_read_only_store_comes_back_per_item(small_fs: Path) -> None:
    import errno

    store = Store(small_fs / "store")
    store.write_bytes(make_key("before"), b"{}")
    store.record({"key": make_key("before")})
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
    out = store.write_many([(make_key("a"), b"{}"), (make_key("before"), b"[]"), (make_key("b"), b"{}")])
    assert isinstance(out[0], OSError) and out[0].errno == errno.EROFS
    assert out[1] == store.path(make_key("before"))  # already stored: the first write wins
    assert isinstance(out[2], OSError) and out[2].errno == errno.EROFS
    with pytest.raises(OSError) as info:
        store.record({"key": make_key("a")})
    assert info.value.errno == errno.EROFS
    with pytest.raises(OSError) as info:
        store.spool_path(make_key("a"))
    assert info.value.errno == errno.EROFS


def test_an_io_error_on_sync_comes_back_per_item(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    strict = Store(store.root, sync="fsync")
    real_fsync = os.fsync
    calls = {"n": 0}

    def failing(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing)
    keys = [make_key(s) for s in "abc"]
    out = strict.write_many([(k, b"{}") for k in keys])
    assert isinstance(out[1], OSError) and out[1].errno == errno.EIO
    assert out[0] == strict.path(keys[0]) and out[2] == strict.path(keys[2])
    assert not strict.has(keys[1]) and files_under(store.root / "tmp") == []
