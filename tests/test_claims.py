"""Tests of :mod:`dgtools.store.claims`: two runs on one store never send the same key at once.

The contention tests use real processes (each with its own :class:`Claims` on one store folder);
"another host" is simulated by a run whose host tag is not this machine's, written by hand in the
documented layout: its heartbeat ``claims/runs/<run_id>.json``, its key list
``claims/runs/<run_id>.keys`` ("+<key>" and "-<key>" lines) and its registration (a "+<run_id>"
line in ``claims/lock``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dgtools.exceptions import ConfigError
from dgtools.store import Claims, Owner, Store

REPO = Path(__file__).resolve().parents[1]
DIGEST = "0123456789abcdef"
posix_only = pytest.mark.skipif(os.name == "nt", reason="SIGKILL and pid checks are POSIX")
FOREIGN_HOST = "0badc0de"  # no machine's host tag in these tests (this one's is checked below)


def make_key(seed: str) -> str:
    return Store.key(hashlib.sha256(seed.encode()).hexdigest(), DIGEST)


KEYS = [make_key(f"k{i}") for i in range(200)]

CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {repo!r})
    from dgtools.store import Claims, Store

    with open(sys.argv[1]) as f:
        keys = json.load(f)
    chunk = int(sys.argv[2])
    claims = Claims(Store({root!r}), run_id=sys.argv[3] if len(sys.argv) > 3 else None)
    claims.heartbeat()
    print("ready", flush=True)
    sys.stdin.readline()  # go
    got = {{}}
    for i in range(0, len(keys), chunk):  # several takes, so that two children interleave
        got.update(claims.take(keys[i : i + chunk]))
    mine = [k for k, owner in got.items() if owner is None]
    others = {{k: [o.run_id, o.pid, o.this_host] for k, o in got.items() if o is not None}}
    print(json.dumps({{"run_id": claims.run_id, "mine": mine, "others": others}}), flush=True)
    if sys.stdin.readline().strip() == "release":  # release every key, one by one, and stay alive
        for key in mine:
            claims.release(key)
        print(json.dumps(sorted(claims.held)), flush=True)
        sys.stdin.readline()  # exit (or be killed)
    claims.close()
    """
)


class Child:
    """A process with its own Claims on the store: ready, then takes ``keys`` (``chunk`` at a time) when told to go."""

    def __init__(self, root: Path, keys: list[str], run_id: str | None = None, *, chunk: int = 1000) -> None:
        keys_file = (
            root.parent / f"keys-{os.urandom(4).hex()}.json"
        )  # a file: 10,000 keys exceed one argv string
        keys_file.write_text(json.dumps(keys))
        code = CHILD.format(repo=str(REPO), root=str(root))
        argv = [sys.executable, "-c", code, str(keys_file), str(chunk)] + ([run_id] if run_id else [])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout

    def ready(self) -> None:
        assert self.stdout.readline().strip() == "ready"

    def tell(self, word: str) -> None:
        self.stdin.write(word + "\n")
        self.stdin.flush()

    def go(self) -> None:
        self.tell("go")

    def result(self) -> dict[str, object]:
        out: dict[str, object] = json.loads(self.stdout.readline())
        return out

    def release_all(self) -> list[str]:
        """Release every key it holds, one by one; returns what it still holds (nothing)."""
        self.tell("release")
        held: list[str] = json.loads(self.stdout.readline())
        return held

    def finish(self) -> int:
        self.tell("exit")
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.stdin.close()
        self.stdout.close()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    made: list[Child] = []
    yield made
    for c in made:
        c.close()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def runs_dir(store: Store) -> Path:
    return store.root / "claims" / "runs"


def write_foreign_run(
    store: Store,
    run_id: str,
    lines: list[str],
    *,
    heartbeat_age: float,
    pid: int,
    heartbeat: str | None = None,
) -> None:
    """A run on another machine, in the documented layout, holding ``lines`` ("+key", "-key"), this stale."""
    runs = runs_dir(store)
    runs.mkdir(parents=True, exist_ok=True)
    info = {"run_id": run_id, "pid": pid, "host": FOREIGN_HOST, "since": "2026-01-01T00:00:00.000Z"}
    run_file = runs / f"{run_id}.json"
    run_file.write_text(json.dumps(info) if heartbeat is None else heartbeat)
    (runs / f"{run_id}.keys").write_text("".join(f"{line}\n" for line in lines))
    with open(store.root / "claims" / "lock", "a") as registry:
        registry.write(f"+{run_id}\n")
    then = time.time() - heartbeat_age
    os.utime(run_file, (then, then))


def listed(store: Store, run_id: str) -> set[str]:
    """The keys a run's list holds (its "+" lines not released by a later "-")."""
    keys: set[str] = set()
    for line in (runs_dir(store) / f"{run_id}.keys").read_text().splitlines():
        if line[:1] == "+":
            keys.add(line[1:])
        elif line[:1] == "-":
            keys.discard(line[1:])
    return keys


def registered(store: Store) -> set[str]:
    """The runs the lock file registers."""
    runs: set[str] = set()
    for line in (store.root / "claims" / "lock").read_text().splitlines():
        (runs.add if line[:1] == "+" else runs.discard)(line[1:])
    return runs


def left_over(store: Store) -> tuple[list[str], list[str]]:
    """What is left under ``claims/``: its files, and the files of ``claims/runs/``."""
    claims_dir = store.root / "claims"
    return sorted(p.name for p in claims_dir.iterdir() if p.is_file()), sorted(
        os.listdir(claims_dir / "runs")
    )


# --------------------------------------------------------------------------- one process


def test_take_release_and_close(store: Store) -> None:
    a, b = Claims(store), Claims(store)
    assert a.run_id != b.run_id
    assert a.take(KEYS[:3]) == dict.fromkeys(KEYS[:3])
    assert a.take(KEYS[:1]) == {KEYS[0]: None}  # taking again what this run holds is harmless
    assert a.held == frozenset(KEYS[:3])
    got = b.take(KEYS[:4])
    assert got[KEYS[3]] is None
    for key in KEYS[:3]:
        owner = got[key]
        assert isinstance(owner, Owner)
        assert (owner.run_id, owner.pid, owner.this_host) == (a.run_id, os.getpid(), True)
        assert b.owner(key) == owner
    assert a.owner(KEYS[0]) is None  # its own claim is nobody else's
    assert a.owner(KEYS[3]) is not None and a.owner(make_key("free")) is None
    a.release(KEYS[0])
    a.release(KEYS[0])  # idempotent
    assert b.owner(KEYS[0]) is None
    assert b.take([KEYS[0]]) == {KEYS[0]: None}
    a.close()
    assert b.take(KEYS[1:3]) == dict.fromkeys(KEYS[1:3])
    b.close()
    b.close()  # idempotent
    assert left_over(store) == (["lock"], [])  # both runs' heartbeats and key lists gone
    assert registered(store) == set()


def test_context_manager_releases_everything(store: Store) -> None:
    with Claims(store) as a:
        a.take(KEYS[:5])
        a.heartbeat()
    with Claims(store) as b:
        assert b.take(KEYS[:5]) == dict.fromkeys(KEYS[:5])
    with pytest.raises(RuntimeError, match="closed"):
        a.take(KEYS[:1])


def test_owner_str_says_who_where_and_since(store: Store) -> None:
    a, b = Claims(store), Claims(store)
    a.take(KEYS[:1])
    owner = b.take(KEYS[:1])[KEYS[0]]
    assert isinstance(owner, Owner)
    text = str(owner)
    assert text.startswith(f"run {a.run_id[:8]}")
    assert f"pid {os.getpid()} on this machine" in text and f"since {owner.since}" in text
    assert owner.since.endswith("Z")
    write_foreign_run(store, "f" * 32, [f"+{KEYS[1]}"], heartbeat_age=1.0, pid=4242)
    foreign = b.owner(KEYS[1])
    assert foreign is not None and not foreign.this_host and foreign.host == FOREIGN_HOST
    assert f"pid 4242 on host {FOREIGN_HOST}" in str(foreign)
    a.close()
    b.close()


def test_bad_keys_and_settings_are_refused(store: Store) -> None:
    with pytest.raises(ConfigError, match="not a store key"):
        Claims(store).take(["../../etc/passwd"])
    with pytest.raises(ConfigError, match="stale_after"):
        Claims(store, stale_after=0)
    with pytest.raises(ConfigError, match="run_id"):
        Claims(store, run_id="../x")


def test_a_fresh_foreign_claim_is_respected_and_a_stale_one_taken_over(store: Store) -> None:
    """Another machine's run: its pid cannot be checked here, only its heartbeat."""
    write_foreign_run(store, "a" * 32, [f"+{KEYS[0]}"], heartbeat_age=5.0, pid=os.getpid())
    write_foreign_run(store, "b" * 32, [f"+{KEYS[1]}"], heartbeat_age=3600.0, pid=os.getpid())
    with Claims(store) as mine:
        got = mine.take(KEYS[:2])
        owner = got[KEYS[0]]
        assert isinstance(owner, Owner) and owner.run_id == "a" * 32 and not owner.this_host
        assert got[KEYS[1]] is None  # its heartbeat is an hour old: stale, although "its" pid runs
        assert mine.owner(KEYS[1]) is None
        assert listed(store, mine.run_id) == set(KEYS[:2]) - {KEYS[0]}
        assert not (runs_dir(store) / f"{'b' * 32}.keys").exists()  # the stale run's files are gone
        assert not (runs_dir(store) / f"{'b' * 32}.json").exists()
        assert registered(store) == {"a" * 32, mine.run_id}


def test_a_live_local_pid_with_a_stale_heartbeat_is_taken_over(store: Store) -> None:
    """A claim of this machine whose pid runs (a reused pid, a hung run) but whose heartbeat stopped."""
    with Claims(store, stale_after=60.0) as hung:
        hung.take(KEYS[:1])
        run_file = runs_dir(store) / f"{hung.run_id}.json"
        then = time.time() - 120.0
        os.utime(run_file, (then, then))
        with Claims(store, stale_after=60.0) as other:
            assert other.take(KEYS[:1]) == {KEYS[0]: None}
            stolen = hung.owner(KEYS[0])  # before it knows: the key is in the other run's list now
            assert stolen is not None and stolen.run_id == other.run_id
            hung.heartbeat()  # it wakes up: live again, but the claim is no longer its own
            assert hung.held == frozenset()  # it knows: its list was removed when it was taken over
            hung.release(KEYS[0])  # which must not remove the other run's claim
            assert listed(store, other.run_id) == {KEYS[0]}
            owner = hung.owner(KEYS[0])
            assert owner is not None and owner.run_id == other.run_id
            assert hung.take(KEYS[:1])[KEYS[0]] == owner


def test_a_foreign_list_is_read_as_it_grows(store: Store) -> None:
    """Releases count, a torn last line waits for its newline, and a list made anew is read from its start."""
    run_id = "c" * 32
    write_foreign_run(
        store, run_id, [f"+{KEYS[0]}", f"+{KEYS[1]}", f"-{KEYS[0]}"], heartbeat_age=1.0, pid=4242
    )
    keys = runs_dir(store) / f"{run_id}.keys"
    with Claims(store) as mine:
        held = mine.owner(KEYS[1])
        assert mine.owner(KEYS[0]) is None and held is not None and held.run_id == run_id
        with open(keys, "a") as f:
            f.write(f"+{KEYS[2]}")  # being written: no newline yet
        assert mine.owner(KEYS[2]) is None
        with open(keys, "a") as f:
            f.write(f"\n-{KEYS[1]}\n")
        held = mine.owner(KEYS[2])
        assert held is not None and held.run_id == run_id and mine.owner(KEYS[1]) is None
        keys.unlink()  # the run's list made anew, longer than the old one, under the same name
        keys.write_text("".join(f"+{key}\n" for key in KEYS[3:10]))
        assert mine.owner(KEYS[2]) is None
        got = mine.take(KEYS[:10])
        assert [k for k, o in got.items() if o is None] == KEYS[:3]
        assert {o.run_id for o in got.values() if o is not None} == {run_id}


def test_an_unreadable_heartbeat_is_a_run_starting_until_stale(store: Store) -> None:
    write_foreign_run(store, "d" * 32, [f"+{KEYS[0]}"], heartbeat_age=1.0, pid=1, heartbeat="{half written")
    write_foreign_run(store, "e" * 32, [f"+{KEYS[1]}"], heartbeat_age=3600.0, pid=1, heartbeat="[]")
    with Claims(store) as mine:
        got = mine.take(KEYS[:2])
        starting = got[KEYS[0]]
        assert isinstance(starting, Owner) and str(starting).startswith("another run (starting, since ")
        assert got[KEYS[1]] is None
        assert sorted(os.listdir(runs_dir(store))) == sorted(
            [f"{'d' * 32}.json", f"{'d' * 32}.keys", f"{mine.run_id}.json", f"{mine.run_id}.keys"]
        )


def test_the_registry_of_runs_stays_small(store: Store) -> None:
    """Runs that came and went are dropped from the lock file's registry once it grows large."""
    (store.root / "claims").mkdir(parents=True)
    gone = "".join(f"+run{i}\n-run{i}\n" for i in range(5000))
    (store.root / "claims" / "lock").write_text(gone + "+ghost\n")  # ghost: registered, with no files
    assert len(gone) > 64 * 1024  # well over the 4 KiB at which it may be compacted
    with Claims(store) as a:
        a.take(KEYS[:1])
        assert registered(store) == {a.run_id}  # the first heartbeat swept the ghost away
        assert (store.root / "claims" / "lock").stat().st_size < 1024
    assert registered(store) == set()


def test_heartbeat_keeps_a_run_alive(store: Store) -> None:
    with Claims(store, stale_after=60.0) as a, Claims(store, stale_after=60.0) as b:
        a.take(KEYS[:1])
        run_file = runs_dir(store) / f"{a.run_id}.json"
        then = time.time() - 120.0
        os.utime(run_file, (then, then))
        a.heartbeat()  # refreshed: live again
        assert b.take(KEYS[:1])[KEYS[0]] is not None


def test_owners_pickle_and_claims_say_their_run(store: Store) -> None:
    with Claims(store) as a:
        a.take(KEYS[:1])
        owner = Claims(store).owner(KEYS[0])
        assert owner is not None
        assert pickle.loads(pickle.dumps(owner)) == owner
        assert a.run_id in repr(a)
        copy = pickle.loads(pickle.dumps(a))  # e.g. inside a pickled Run: a closed copy, holding nothing
        assert copy.run_id == a.run_id and copy.held == frozenset() and "closed" in repr(copy)
        with pytest.raises(RuntimeError, match="closed"):
            copy.take(KEYS[:1])
        assert a.held == frozenset(KEYS[:1])  # the original is untouched


def test_threads_of_one_process_each_get_disjoint_keys(store: Store) -> None:
    runs = [Claims(store) for _ in range(6)]
    got: list[dict[str, Owner | None]] = [{} for _ in runs]
    barrier = threading.Barrier(len(runs))

    def work(i: int) -> None:
        barrier.wait()
        got[i] = runs[i].take(KEYS if i % 2 else list(reversed(KEYS)))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(runs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mine = [{k for k, o in g.items() if o is None} for g in got]
    assert sum(len(m) for m in mine) == len(KEYS)
    assert set().union(*mine) == set(KEYS)
    for r in runs:
        r.close()


# --------------------------------------------------------------------------- real processes


@posix_only
def test_two_processes_claim_each_key_exactly_once(store: Store, children: list[Child]) -> None:
    store.root.mkdir(parents=True)
    children += [Child(store.root, KEYS), Child(store.root, list(reversed(KEYS)))]
    for c in children:
        c.ready()
    for c in children:
        c.go()
    results = [c.result() for c in children]
    mine = [set(r["mine"]) for r in results]  # type: ignore[call-overload]
    assert mine[0].isdisjoint(mine[1])
    assert mine[0] | mine[1] == set(KEYS)
    for r, other in zip(results, reversed(results), strict=True):
        others = r["others"]
        assert isinstance(others, dict)
        assert set(others) == set(KEYS) - set(r["mine"])  # type: ignore[call-overload]
        for run_id, pid, this_host in others.values():
            assert (run_id, this_host) == (other["run_id"], True)
            assert pid == children[results.index(other)].proc.pid
    assert [c.finish() for c in children] == [0, 0]
    assert left_over(store) == (["lock"], [])


@posix_only
def test_a_killed_run_is_taken_over_at_once(store: Store, children: list[Child]) -> None:
    store.root.mkdir(parents=True)
    child = Child(store.root, KEYS[:50])
    children.append(child)
    child.ready()
    child.go()
    result = child.result()
    assert len(result["mine"]) == 50  # type: ignore[arg-type]
    with Claims(store) as mine:
        got = mine.take(KEYS[:50])
        assert all(o is not None and o.pid == child.proc.pid for o in got.values())
        child.kill()  # SIGKILL: no close(), its key list and heartbeat file stay on disk
        dead = str(result["run_id"])
        assert listed(store, dead) == set(KEYS[:50])
        assert mine.take(KEYS[:50]) == dict.fromkeys(KEYS[:50])  # its pid is gone: no waiting
        assert listed(store, mine.run_id) == set(KEYS[:50])
        assert left_over(store)[1] == sorted([f"{mine.run_id}.json", f"{mine.run_id}.keys"])
        assert dead not in registered(store)


@posix_only
def test_racing_take_overs_leave_one_owner_per_key(store: Store, children: list[Child]) -> None:
    """Three processes take over the same dead run's claims at once: each key goes to exactly one."""
    store.root.mkdir(parents=True)
    dead = Child(store.root, KEYS[:100])
    racers = [Child(store.root, KEYS[:100] if i % 2 else list(reversed(KEYS[:100]))) for i in range(3)]
    children += [dead, *racers]
    for c in children:
        c.ready()  # all started before the owner claims: none sweeps its claims at its start
    dead.go()
    assert len(dead.result()["mine"]) == 100  # type: ignore[arg-type]
    dead.kill()
    for c in racers:
        c.go()
    results = [c.result() for c in racers]
    mine = [set(r["mine"]) for r in results]  # type: ignore[call-overload]
    assert sum(len(m) for m in mine) == 100
    assert set().union(*mine) == set(KEYS[:100])
    for c in racers:
        assert c.finish() == 0
    assert left_over(store) == (["lock"], [])  # the dead run's files too
    assert registered(store) == set()


@posix_only
def test_two_processes_take_and_release_ten_thousand_keys(store: Store, children: list[Child]) -> None:
    """Taken 500 at a time by two processes: every key claimed exactly once, then all released."""
    store.root.mkdir(parents=True)
    keys = [make_key(f"many{i}") for i in range(10_000)]
    children += [Child(store.root, keys, chunk=500), Child(store.root, list(reversed(keys)), chunk=500)]
    for c in children:
        c.ready()
    for c in children:
        c.go()
    results = [c.result() for c in children]
    mine = [set(r["mine"]) for r in results]  # type: ignore[call-overload]
    assert mine[0].isdisjoint(mine[1]) and mine[0] | mine[1] == set(keys)
    for r, other in zip(results, reversed(results), strict=True):
        others = r["others"]
        assert isinstance(others, dict) and set(others) == set(keys) - set(r["mine"])  # type: ignore[call-overload]
        assert {run_id for run_id, _, _ in others.values()} <= {other["run_id"]}  # none if it took all first
    run_ids = [str(r["run_id"]) for r in results]
    lines = [line for rid in run_ids for line in (runs_dir(store) / f"{rid}.keys").read_text().splitlines()]
    assert sorted(line[1:] for line in lines if line[:1] == "+") == sorted(
        keys
    )  # each listed once, by one run
    assert [listed(store, rid) for rid in run_ids] == mine
    assert [c.release_all() for c in children] == [[], []]
    assert [listed(store, rid) for rid in run_ids] == [set(), set()]
    with Claims(store) as late:  # both still run: their releases, not their exits, free the keys
        assert late.take(keys) == dict.fromkeys(keys)
    assert [c.finish() for c in children] == [0, 0]
    assert left_over(store) == (["lock"], [])
