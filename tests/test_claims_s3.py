"""Tests of :mod:`dgtools.store.remote_claims`: claims on a store in S3, against moto's S3 server.

The behaviours of ``tests/test_claims.py`` that make sense on object storage: the first taker
wins (in one process and across two), a release or a close frees keys, a stale run's claims are
taken over (and the stale run finds out at its next heartbeat), a heartbeat keeps a run alive,
a killed run on this machine is taken over at once.  Each test gets its own prefix in one bucket
of one moto server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dgtools.exceptions import ConfigError
from dgtools.store import Owner, RemoteStore, Store
from dgtools.store.remote_claims import RemoteClaims

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

REPO = Path(__file__).resolve().parents[1]
DIGEST = "0123456789abcdef"
BUCKET = "dgtools-claims"
KEYS = [Store.key(hashlib.sha256(f"k{i}".encode()).hexdigest(), DIGEST) for i in range(200)]


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[dict[str, Any], Any]]:
    """moto's S3 server on 127.0.0.1 (a free port), one bucket: storage_options and a boto3 client."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        yield (
            {
                "key": "testing",
                "secret": "testing",
                "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
                "skip_instance_cache": True,
            },
            client,
        )
    finally:
        server.stop()


@pytest.fixture
def store(request: pytest.FixtureRequest, s3: tuple[dict[str, Any], Any]) -> RemoteStore:
    return RemoteStore(f"s3://{BUCKET}/{request.node.name}", storage_options=s3[0])


def objects(store: RemoteStore, client: Any) -> list[str]:
    """The object names under the store's ``claims/``, relative to it."""
    prefix = store.url.split(f"{BUCKET}/", 1)[1] + "/claims/"
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", []))


# --------------------------------------------------------------------------- one process


def test_first_taker_wins_release_frees_and_close_leaves_nothing(
    store: RemoteStore, s3: tuple[dict[str, Any], Any]
) -> None:
    first, second = RemoteClaims(store), RemoteClaims(store.url, storage_options=s3[0])
    mine = first.take(KEYS[:3])
    theirs = second.take(KEYS[1:4])
    assert mine == dict.fromkeys(KEYS[:3])
    assert theirs[KEYS[3]] is None
    for key in KEYS[1:3]:
        owner = theirs[key]
        assert isinstance(owner, Owner)
        assert (owner.run_id, owner.this_host) == (first.run_id, True)
        assert str(owner).startswith(f"run {first.run_id[:8]}… (pid ")
    assert first.held == frozenset(KEYS[:3]) and second.held == frozenset({KEYS[3]})
    assert second.owner(KEYS[1]) is not None and second.owner(KEYS[3]) is None
    assert first.take([KEYS[0]]) == {KEYS[0]: None}  # taking a key again: still this run's
    first.release(KEYS[1])
    first.release(KEYS[1])  # idempotent
    assert second.take([KEYS[1]]) == {KEYS[1]: None}
    assert objects(store, s3[1]) == sorted(
        [f"{k}.json" for k in KEYS[:4]] + [f"runs/{first.run_id}.json", f"runs/{second.run_id}.json"]
    )
    first.close()
    first.close()  # idempotent
    assert second.take([KEYS[0], KEYS[2]]) == {KEYS[0]: None, KEYS[2]: None}
    second.close()
    assert objects(store, s3[1]) == []
    with pytest.raises(RuntimeError, match="closed"):
        first.take([KEYS[0]])


def test_the_context_manager_releases_everything(store: RemoteStore, s3: tuple[dict[str, Any], Any]) -> None:
    with RemoteClaims(store) as claims:
        assert claims.take(KEYS[:40]) == dict.fromkeys(KEYS[:40])
        assert len(objects(store, s3[1])) == 41
    assert objects(store, s3[1]) == []
    assert claims.held == frozenset()


def test_bad_stores_keys_and_settings_are_refused(store: RemoteStore) -> None:
    with pytest.raises(ConfigError, match="conditional writes"):
        RemoteClaims("memory://claims/store")
    with pytest.raises(ConfigError, match="stale_after"):
        RemoteClaims(store, stale_after=0)
    with pytest.raises(ConfigError, match="run_id"):
        RemoteClaims(store, run_id="a/b")
    with RemoteClaims(store) as claims, pytest.raises(ConfigError):
        claims.take(["not-a-key"])


def test_a_pickled_claims_is_closed(store: RemoteStore) -> None:
    with RemoteClaims(store, run_id="pickled-run") as claims:
        claims.take(KEYS[:1])
        copy = pickle.loads(pickle.dumps(claims))
        assert copy.held == frozenset() and copy.run_id == "pickled-run"
        assert "closed" in repr(copy) and "held=1" in repr(claims)
        with pytest.raises(RuntimeError, match="closed"):
            copy.take(KEYS[:1])


def test_a_stale_run_is_taken_over_and_finds_out_at_its_next_heartbeat(
    store: RemoteStore, s3: tuple[dict[str, Any], Any]
) -> None:
    """A run that stops beating for longer than stale_after (on the server's clock) loses its keys."""
    hung = RemoteClaims(store, stale_after=60.0)  # how long *it* waits for others: mine stays alive to it
    assert hung.take(KEYS[:20]) == dict.fromkeys(KEYS[:20])
    with RemoteClaims(store, stale_after=60.0) as patient:  # a live run's claims are not taken
        assert all(o is not None and o.run_id == hung.run_id for o in patient.take(KEYS[:20]).values())
    mine = RemoteClaims(store, stale_after=1.0)
    time.sleep(2.5)  # the server's clock counts whole seconds: two ticks past the last beat
    assert mine.take(KEYS[:20]) == dict.fromkeys(KEYS[:20])
    assert f"runs/{hung.run_id}.json" not in objects(store, s3[1])  # the taker removed its heartbeat
    hung.heartbeat()  # its conditional rewrite fails: it was judged stale, it holds nothing now
    assert hung.held == frozenset()
    hung.release(KEYS[0])  # nothing to release: the claim is mine, and stays
    assert mine.take(KEYS[:1]) == {KEYS[0]: None} and f"{KEYS[0]}.json" in objects(store, s3[1])
    taken = hung.take(KEYS[:2])
    assert all(o is not None and o.run_id == mine.run_id for o in taken.values())
    mine.close()
    hung.close()
    assert objects(store, s3[1]) == []


def test_a_heartbeat_keeps_a_run_alive(store: RemoteStore) -> None:
    with RemoteClaims(store) as alive, RemoteClaims(store, stale_after=3.0) as other:
        alive.take(KEYS[:5])
        for _ in range(5):  # 4 s in all, longer than stale_after, beating every 0.8 s
            time.sleep(0.8)
            alive.heartbeat()
        got = other.take(KEYS[:5])
        assert all(o is not None and o.run_id == alive.run_id for o in got.values())


def test_a_claim_without_a_heartbeat_or_unreadable_is_free(
    store: RemoteStore, s3: tuple[dict[str, Any], Any]
) -> None:
    """Claims left by a run that closed partway, or garbage, hold nothing."""
    prefix = store.url.split(f"{BUCKET}/", 1)[1] + "/claims/"
    orphan = {"run_id": "gone-run", "pid": 1, "host": "0badc0de", "since": "2026-01-01T00:00:00.000Z"}
    s3[1].put_object(Bucket=BUCKET, Key=f"{prefix}{KEYS[0]}.json", Body=json.dumps(orphan).encode())
    s3[1].put_object(Bucket=BUCKET, Key=f"{prefix}{KEYS[1]}.json", Body=b"{not json")
    with RemoteClaims(store) as claims:
        assert claims.owner(KEYS[0]) is None
        assert claims.take(KEYS[:2]) == dict.fromkeys(KEYS[:2])
    assert objects(store, s3[1]) == []


# --------------------------------------------------------------------------- real processes

CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {repo!r})
    from dgtools.store.remote_claims import RemoteClaims

    url, options, keys = json.loads(sys.stdin.readline())
    claims = RemoteClaims(url, storage_options=options)
    claims.heartbeat()
    print("ready", flush=True)
    sys.stdin.readline()  # go
    got = {{}}
    for i in range(0, len(keys), 20):  # several takes, so that two children interleave
        got.update(claims.take(keys[i : i + 20]))
    mine = [k for k, owner in got.items() if owner is None]
    others = {{k: [o.run_id, o.pid] for k, o in got.items() if o is not None}}
    print(json.dumps({{"run_id": claims.run_id, "mine": mine, "others": others}}), flush=True)
    sys.stdin.readline()  # exit (or be killed)
    claims.close()
    """
)


class Child:
    """A process with its own RemoteClaims on the store: ready, then takes ``keys`` when told to go."""

    def __init__(self, store: RemoteStore, options: dict[str, Any], keys: list[str]) -> None:
        code = CHILD.format(repo=str(REPO))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.tell(json.dumps([store.url, options, keys]))

    def tell(self, line: str) -> None:
        self.stdin.write(line + "\n")
        self.stdin.flush()

    def ready(self) -> None:
        assert self.stdout.readline().strip() == "ready"

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.stdout.readline())
        return out

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)
        self.stdin.close()
        self.stdout.close()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    made: list[Child] = []
    yield made
    for c in made:
        c.close()


def test_two_processes_claim_each_key_exactly_once(
    store: RemoteStore, s3: tuple[dict[str, Any], Any], children: list[Child]
) -> None:
    children += [Child(store, s3[0], KEYS), Child(store, s3[0], list(reversed(KEYS)))]
    for c in children:
        c.ready()
    for c in children:
        c.tell("go")
    results = [c.result() for c in children]
    mine = [set(r["mine"]) for r in results]
    assert mine[0].isdisjoint(mine[1])
    assert mine[0] | mine[1] == set(KEYS)
    for r, other, child in zip(results, reversed(results), reversed(children), strict=True):
        assert set(r["others"]) == set(KEYS) - set(r["mine"])
        assert {tuple(v) for v in r["others"].values()} <= {(other["run_id"], child.proc.pid)}
    for c in children:
        c.tell("exit")
        assert c.proc.wait(timeout=60) == 0
    assert objects(store, s3[1]) == []


def test_a_killed_run_on_this_machine_is_taken_over_at_once(
    store: RemoteStore, s3: tuple[dict[str, Any], Any], children: list[Child]
) -> None:
    child = Child(store, s3[0], KEYS[:30])
    children.append(child)
    child.ready()
    child.tell("go")
    assert len(child.result()["mine"]) == 30
    with RemoteClaims(store) as mine:  # stale_after 120 s: only its gone pid frees its keys
        assert all(o is not None and o.pid == child.proc.pid for o in mine.take(KEYS[:30]).values())
        child.proc.send_signal(signal.SIGKILL)
        child.proc.wait(timeout=60)
        assert mine.take(KEYS[:30]) == dict.fromkeys(KEYS[:30])
    assert objects(store, s3[1]) == []
