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
    store.record({"file_id": "réunion/été.wav"})
    assert store.entries()[0]["file_id"] == "réunion/été.wav"
    with pytest.raises(TypeError, match="JSON values"):
        store.record({"file_id": object()})
    assert len(store.entries()) == 1


def test_concurrent_records_from_threads_do_not_interleave(store: Store) -> None:
    n_threads, n_lines = 8, 200
    padding = "x" * 3000  # lines longer than a pipe buffer's atomic size

    def work(t: int) -> None:
        for i in range(n_lines):
            store.record({"thread": t, "i": i, "pad": padding})

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
            store.record({{"proc": int(sys.argv[1]), "i": i, "pad": "y" * 2000}})
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)]) for n in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 4
    entries = store.entries()
    assert len(entries) == 400
    assert len((store.root / "index.jsonl").read_bytes().splitlines()) == 400


def test_torn_last_line_is_skipped_and_the_next_record_survives(store: Store) -> None:
    store.record({"key": "a"})
    store.record({"key": "b"})
    with open(store.root / "index.jsonl", "ab") as f:
        f.write(b'{"key": "c", "file_id": "cal')  # a crash mid-append
    assert [e["key"] for e in store.entries()] == ["a", "b"]
    store.record({"key": "d"})
    assert [e["key"] for e in store.entries()] == ["a", "b", "d"]


def test_entries_skips_blank_and_non_object_lines(store: Store) -> None:
    store.root.mkdir(parents=True)
    (store.root / "index.jsonl").write_bytes(b'{"key": "a"}\n\n[1, 2]\n\xff\xfe\n{"key": "b"}\n')
    assert [e["key"] for e in store.entries()] == ["a", "b"]


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
    secret = 'se/cr"et\\ké'
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
    store.record({"key": "a"})
    store.record_many([{"key": "b", "file_id": "b.wav"}, {"key": "c", "at": "2025-01-01T00:00:00Z"}])
    store.record_many([])
    assert [e["key"] for e in store.entries()] == ["a", "b", "c"]
    assert store.entries()[1]["at"].endswith("Z") and store.entries()[2]["at"] == "2025-01-01T00:00:00Z"
    assert len((store.root / "index.jsonl").read_bytes().splitlines()) == 3


def test_record_many_is_all_or_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path, secrets=[SECRET])
    with pytest.raises(ConfigError) as info:
        store.record_many([{"key": "a"}, {"key": "b", "options": f"api_key={SECRET}"}])
    assert SECRET not in str(info.value)
    with pytest.raises(TypeError, match="JSON values"):
        store.record_many([{"key": "a"}, {"key": object()}])
    assert store.entries() == []


def test_record_many_after_a_torn_line(store: Store) -> None:
    store.record_many([{"key": "a"}, {"key": "b"}])
    with open(store.root / "index.jsonl", "ab") as f:
        f.write(b'{"key": "c", "file_id": "cal')  # a crash mid-append
    store.record_many([{"key": "d"}, {"key": "e"}])
    assert [e["key"] for e in store.entries()] == ["a", "b", "d", "e"]
    store.record({"key": "f"})
    assert [e["key"] for e in store.entries()] == ["a", "b", "d", "e", "f"]
