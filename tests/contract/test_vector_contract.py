"""VectorIndex contract (issue 17): the SQLite exact scan and Firestore find_nearest (on the emulator)
rank the same keys the same way, keep spaces apart, replace a key idempotently and report cosine."""

from __future__ import annotations

import numpy as np
import pytest

from shared.ports import VectorIndex
from tests.contract.conftest import Adapters

pytestmark = pytest.mark.contract
DIM = 16


def _index(backend: Adapters) -> VectorIndex:
    if backend.name == "gcp":
        from shared.adapters.gcp_vectors import FirestoreVectorIndex

        return FirestoreVectorIndex(backend.settings.google_cloud_project)
    from shared.adapters.sqlite_vectors import SqliteVectorIndex

    return SqliteVectorIndex(backend.settings.soul_data_dir / "vectors.sqlite3", DIM)


def _unit(seed: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(DIM)
    return [float(x) for x in v / np.linalg.norm(v)]


def test_nearest_ranks_by_cosine_within_a_space(backend: Adapters) -> None:
    index = _index(backend)
    for i in range(12):
        index.add("space-a", f"k{i}", f"text {i}", _unit(i))
    index.add("space-b", "elsewhere", "other space", _unit(5))
    found = index.nearest("space-a", _unit(5), 4)
    assert found[0].key == "k5"
    assert found[0].text == "text 5" and found[0].score == pytest.approx(1.0, abs=1e-4)
    expected = sorted(range(12), key=lambda i: -float(np.dot(_unit(i), _unit(5))))[:4]
    assert [n.key for n in found] == [f"k{i}" for i in expected]
    assert [n.score for n in found] == pytest.approx([float(np.dot(_unit(i), _unit(5))) for i in expected], abs=1e-4)
    assert "elsewhere" not in {n.key for n in index.nearest("space-a", _unit(5), 20)}


def test_add_is_idempotent_and_has_sees_it(backend: Adapters) -> None:
    index = _index(backend)
    assert index.nearest("space-c", _unit(1), 3) == []
    index.add("space-c", "k1", "one", _unit(1))
    index.add("space-c", "k1", "one", _unit(1))
    assert [n.key for n in index.nearest("space-c", _unit(1), 3)] == ["k1"]
    assert index.has("space-c", "k1") and not index.has("space-a", "k1")
