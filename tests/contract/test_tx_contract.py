"""Transaction contract: all-or-nothing, reads before writes, create conflicts, no lost updates."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from shared.errors import AlreadyExists, NotFound

pytestmark = pytest.mark.contract


class Boom(Exception):
    pass


def test_a_failing_function_writes_nothing(backend: Any) -> None:
    store = backend.store
    store.set("jobs", "j", {"status": "queued"})

    def fn(tx: Any) -> None:
        tx.get("jobs", "j")
        tx.update("jobs", "j", {"status": "running"})
        tx.create("variants", "v", {"pk": "p"})
        raise Boom

    with pytest.raises(Boom):
        store.transaction(fn)
    assert store.get("jobs", "j") == {"status": "queued"}
    assert store.get("variants", "v") is None


def test_commit_applies_every_write_and_returns_the_result(backend: Any) -> None:
    store = backend.store
    store.set("jobs", "j", {"status": "queued", "n": 1})
    store.set("old", "o", {"x": 1})

    def fn(tx: Any) -> str:
        job = tx.get("jobs", "j")
        queued = tx.query("jobs", [("status", "==", "queued")], limit=5)
        tx.update("jobs", "j", {"status": "running", "n": job["n"] + len(queued)})
        tx.create("variants", "v", {"pk": "p"})
        tx.set("seen", "s", {"ids": ["v"]})
        tx.delete("old", "o")
        return "done"

    assert store.transaction(fn) == "done"
    assert store.get("jobs", "j") == {"status": "running", "n": 2}
    assert store.get("variants", "v") == {"pk": "p"}
    assert store.get("seen", "s") == {"ids": ["v"]}
    assert store.get("old", "o") is None


def test_reads_must_come_before_writes(backend: Any) -> None:
    store = backend.store

    def fn(tx: Any) -> None:
        tx.set("jobs", "a", {"x": 1})
        tx.get("jobs", "b")

    with pytest.raises(RuntimeError, match="reads must come before writes"):
        store.transaction(fn)
    assert store.get("jobs", "a") is None


def test_create_on_an_existing_document_fails_the_whole_transaction(backend: Any) -> None:
    store = backend.store
    store.set("variants", "v", {"pk": "first"})

    def fn(tx: Any) -> None:
        tx.set("jobs", "j", {"status": "succeeded"})
        tx.create("variants", "v", {"pk": "second"})

    with pytest.raises(AlreadyExists):
        store.transaction(fn)
    assert store.get("variants", "v") == {"pk": "first"}
    assert store.get("jobs", "j") is None


def test_update_of_a_missing_document_fails_the_transaction(backend: Any) -> None:
    store = backend.store

    def fn(tx: Any) -> None:
        tx.set("jobs", "other", {"x": 1})
        tx.update("jobs", "missing", {"status": "running"})

    with pytest.raises(NotFound):
        store.transaction(fn)
    assert store.get("jobs", "other") is None


def _in_threads(fn: Callable[[int], None], n: int = 4) -> list[BaseException]:
    """`fn(i)` for i in range(n), each in its own thread; the exceptions they raised."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            fn(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_concurrent_read_modify_write_loses_no_update(backend: Any) -> None:
    """4 threads each add 1 to one counter in a transaction: the function re-runs on contention."""
    store = backend.store
    store.set("counters", "hot", {"n": 0, "writers": []})
    runs: list[int] = []

    def bump(i: int) -> None:
        def fn(tx: Any) -> None:
            runs.append(i)
            doc = tx.get("counters", "hot")
            time.sleep(0.05)  # widen the race window
            tx.update("counters", "hot", {"n": doc["n"] + 1, "writers": [*doc["writers"], i]})

        store.transaction(fn)

    assert _in_threads(bump) == []
    doc = store.get("counters", "hot")
    assert doc["n"] == 4
    assert sorted(doc["writers"]) == [0, 1, 2, 3]
    assert len(runs) >= 4


def test_first_creator_wins_under_concurrency(backend: Any) -> None:
    """Single-flight shape: 4 threads try to create the same in-flight record; exactly one wins."""
    store = backend.store
    wins: list[int] = []

    def claim(i: int) -> None:
        def fn(tx: Any) -> bool:
            if tx.get("inflight", "pk") is not None:
                return False
            tx.create("inflight", "pk", {"job_id": f"j{i}"})
            return True

        try:
            if store.transaction(fn):
                wins.append(i)
        except AlreadyExists:
            pass

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(wins) == 1
    assert store.get("inflight", "pk") == {"job_id": f"j{wins[0]}"}


def test_write_if_unchanged_is_compare_and_set(backend: Any) -> None:
    store = backend.store
    assert store.get_versioned("seen", "s") == (None, "")
    assert store.write_if_unchanged("seen", "s", {"ids": ["a"], "pk": "p"}, "") is True
    assert store.write_if_unchanged("seen", "s", {"ids": ["b"]}, "") is False  # no longer absent
    doc, version = store.get_versioned("seen", "s")
    assert doc == {"ids": ["a"], "pk": "p"} and version
    assert store.write_if_unchanged("seen", "s", {"ids": ["a", "c"]}, version) is True
    assert store.get("seen", "s") == {"ids": ["a", "c"], "pk": "p"}  # top-level merge
    assert store.write_if_unchanged("seen", "s", {"ids": ["stale"]}, version) is False  # changed since read
    assert store.get("seen", "s") == {"ids": ["a", "c"], "pk": "p"}
    store.delete("seen", "s")
    assert store.write_if_unchanged("seen", "s", {"ids": ["gone"]}, version) is False  # deleted since read
    assert store.get("seen", "s") is None


def test_compare_and_set_loop_loses_no_update(backend: Any) -> None:
    """4 threads each append their number with a read → compare-and-set retry loop: none is lost."""
    store = backend.store

    def append(i: int) -> None:
        for _ in range(50):
            doc, version = store.get_versioned("counters", "cas")
            time.sleep(0.02)  # widen the race window
            if store.write_if_unchanged("counters", "cas", {"ids": [*(doc or {}).get("ids", []), i]}, version):
                return
        raise AssertionError(f"writer {i} never won")

    assert _in_threads(append) == []
    assert sorted(store.get("counters", "cas")["ids"]) == [0, 1, 2, 3]
