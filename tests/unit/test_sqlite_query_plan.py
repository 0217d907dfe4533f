"""The embedded store's hot queries search their expression index instead of scanning a collection:
SQLite's planner, left alone, takes the primary key's `collection = ?` prefix and reads every variant
to find one prompt key's few."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.sqlite_db import SqliteDb
from shared.adapters.sqlite_store import SqliteDocumentStore

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ([("pk", "==", "k1")], "docs_pk"),
        ([("status", "==", "queued")], "docs_status"),
        ([("job_id", "==", "j1"), ("state", "==", "waiting")], "docs_job_id"),
        ([("user_id", "==", "u1")], "docs_user_id"),
    ],
)
def test_equality_on_an_indexed_field_searches_its_index(tmp_path: Path, filters: list, index: str) -> None:
    db = SqliteDb(tmp_path / "s.sqlite3")
    store = SqliteDocumentStore(db)
    for i in range(50):
        doc = {"pk": f"k{i % 5}", "status": "queued" if i % 2 else "done", "state": "waiting" if i % 2 else "left"}
        store.set("variants", f"v{i}", {**doc, "job_id": f"j{i % 5}", "user_id": f"u{i % 5}"})
    statements: list[str] = []
    conn = db.conn()
    conn.set_trace_callback(statements.append)
    found = store.query("variants", filters)
    count = store.count("variants", filters)
    conn.set_trace_callback(None)
    assert len(found) == count and count in (5, 10, 25)
    for sql in statements:
        plan = " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
