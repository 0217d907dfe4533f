"""DocumentStore contract: SQLite and Firestore (emulator) behave the same through the port."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from shared.errors import NotFound

pytestmark = pytest.mark.contract


def _threads(n: int, target: Any) -> list[BaseException]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_create_is_create_if_absent(backend: Any) -> None:
    store = backend.store
    assert store.create("jobs", "j1", {"status": "queued", "n": 1}) is True
    assert store.create("jobs", "j1", {"status": "running"}) is False
    assert store.get("jobs", "j1") == {"status": "queued", "n": 1}


def test_get_set_get_many_delete(backend: Any) -> None:
    store = backend.store
    assert store.get("jobs", "missing") is None
    store.set("jobs", "a", {"x": 1, "nested": {"k": [1, 2]}, "none": None, "f": 1.5, "b": True})
    store.set("jobs", "b", {"x": 2})
    store.set("jobs", "b", {"y": 3})  # set replaces the whole document
    assert store.get("jobs", "a") == {"x": 1, "nested": {"k": [1, 2]}, "none": None, "f": 1.5, "b": True}
    assert store.get_many("jobs", ["b", "missing", "a"]) == [{"y": 3}, None, store.get("jobs", "a")]
    store.delete("jobs", "a")
    store.delete("jobs", "a")  # deleting a missing document is not an error
    assert store.get("jobs", "a") is None


def test_update_merges_top_level_and_needs_the_document(backend: Any) -> None:
    store = backend.store
    store.set("jobs", "j", {"status": "queued", "error": {"code": "x", "message": "m"}, "keep": 1})
    store.update("jobs", "j", {"status": "running", "error": {"code": "y"}, "progress.step": 3})
    assert store.get("jobs", "j") == {"status": "running", "error": {"code": "y"}, "keep": 1, "progress.step": 3}
    with pytest.raises(NotFound):
        store.update("jobs", "nope", {"status": "running"})
    assert store.get("jobs", "nope") is None


def test_increment_creates_and_is_atomic(backend: Any) -> None:
    store = backend.store
    store.increment("stats", "s", "launches")
    store.increment("stats", "s", "launches", 2)
    assert store.get("stats", "s") == {"launches": 3}
    errors = _threads(4, lambda: [store.increment("stats", "s", "launches") for _ in range(5)])
    assert errors == []
    assert store.get("stats", "s") == {"launches": 23}


@pytest.fixture
def people(backend: Any) -> Any:
    rows = {
        "a": {"name": "a", "age": 30, "tags": ["x", "y"], "city": "paris"},
        "b": {"name": "b", "age": 20, "tags": ["y"], "city": "rome"},
        "c": {"name": "c", "age": 40, "tags": [], "city": "paris"},
        "d": {"name": "d", "age": 30, "tags": ["x"], "city": None},
        "e": {"name": "e", "tags": ["z"]},  # no age, no city
        "f": {"name": "f", "age": "old", "flag": 1},  # a string age; an integer flag
        "g": {"name": "g", "age": 25.5, "flag": True},
    }
    for doc_id, row in rows.items():
        backend.store.set("people", doc_id, row)
    return backend.store


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (("age", "==", 30), "ad"),
        (("age", "!=", 30), "bcfg"),  # != skips documents without the field, keeps other types
        (("age", "<", 30), "bg"),  # range filters compare within one type: "old" is never < 30
        (("age", "<=", 30), "abdg"),
        (("age", ">", 30), "c"),
        (("age", ">=", 30), "acd"),
        (("age", ">", "a"), "f"),
        (("city", "in", ["paris", "rome"]), "abc"),
        (("tags", "array_contains", "x"), "ad"),
        (("city", "==", None), "d"),  # an explicit null, not a missing field
        (("flag", "==", True), "g"),  # a boolean is not the integer 1
        (("flag", "==", 1), "f"),
        (("flag", "!=", True), "f"),
    ],
)
def test_query_each_operator(people: Any, flt: tuple[str, str, Any], expected: str) -> None:
    names = sorted(doc["name"] for doc in people.query("people", [flt]))
    assert "".join(names) == expected
    assert people.count("people", [flt]) == len(expected)


def test_query_order_limit_and_compound_filters(people: Any) -> None:
    asc = [d["name"] for d in people.query("people", order_by="age")]
    assert asc == ["b", "g", "a", "d", "c", "f"]  # missing field excluded; numbers before text; ties by id
    desc = [d["name"] for d in people.query("people", order_by="age", descending=True, limit=4)]
    assert desc == ["f", "c", "d", "a"]
    both = people.query("people", [("city", "==", "paris"), ("age", ">=", 30)], order_by="age")
    assert [d["name"] for d in both] == ["a", "c"]
    assert len(people.query("people", limit=2)) == 2
    assert [d["name"] for d in people.query("people")] == list("abcdefg")  # by document id
    assert people.count("people") == 7


def test_subcollections_are_separate(backend: Any) -> None:
    store = backend.store
    store.set("users/u1/seen", "pk1", {"variant_ids": ["v1"]})
    store.set("users/u2/seen", "pk1", {"variant_ids": ["v2"]})
    assert store.get("users/u1/seen", "pk1") == {"variant_ids": ["v1"]}
    assert store.query("users/u2/seen") == [{"variant_ids": ["v2"]}]
    assert store.query("users") == []
    assert store.count("users/u1/seen") == 1
