"""The cache-hit path (`lifecycle.serve_cached`) on each adapter set: reads overlapped, then a
compare-and-set of the user's seen document. Racing requests of one user never get the same variant."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from shared import lifecycle
from shared.domain.models import Artifact, Kind, Variant
from shared.records import VARIANTS, seen_collection

pytestmark = pytest.mark.contract

PK = "pk-hot"


def _seed(store: Any, n: int) -> list[str]:
    ids = [f"v{i}" for i in range(n)]
    for i, vid in enumerate(ids):
        png = Artifact(name=f"x/{vid}.png", content_type="image/png", bytes=1, sha256="0" * 64)
        variant = Variant(
            variant_id=vid,
            pk=PK,
            kind=Kind.IMAGE,
            soul_id="nova",
            seed=i,
            generator="contract",
            artifacts={"png": png},
            job_id=f"j{i}",
            created_at=float(i),
            label="penguin",
            expire_at=1e10 + i,
        )
        store.create(VARIANTS, vid, variant.doc())
    return ids


def test_racing_hits_of_one_user_each_get_a_different_variant(backend: Any) -> None:
    store = backend.store
    ids = _seed(store, 5)
    served: list[str | None] = []
    lock = threading.Lock()
    go = threading.Barrier(12)

    def hit() -> None:
        go.wait()
        variant = lifecycle.serve_cached(store, user_id="racer", pk=PK, now=1.0)
        with lock:
            served.append(variant.variant_id if variant else None)

    threads = [threading.Thread(target=hit) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    shown = [vid for vid in served if vid is not None]
    assert len(served) == 12
    assert sorted(shown) == ids  # every variant once, none twice
    assert served.count(None) == 7  # the rest: all seen, a miss
    assert sorted(store.get(seen_collection("racer"), PK)["variant_ids"]) == ids


class LosesEveryRace:
    """The store, except that every compare-and-set loses: the hit path must fall back to a transaction."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cas_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def write_if_unchanged(self, collection: str, doc_id: str, fields: Any, version: str) -> bool:
        self.cas_calls += 1
        return False


def test_a_hit_that_keeps_losing_races_falls_back_to_a_transaction(backend: Any) -> None:
    ids = _seed(backend.store, 2)
    store = LosesEveryRace(backend.store)
    first = lifecycle.serve_cached(store, user_id="u", pk=PK, now=1.0, attempts=3)
    second = lifecycle.serve_cached(store, user_id="u", pk=PK, now=2.0, attempts=3)
    assert first is not None and second is not None
    assert sorted([first.variant_id, second.variant_id]) == ids
    assert store.cas_calls == 6
    assert lifecycle.serve_cached(store, user_id="u", pk=PK, now=3.0) is None
