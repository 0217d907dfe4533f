"""The bare backend operations one cache hit needs, done directly with the client (no Soul code):
in one transaction, query the prompt key's variants, read the user's seen document, pick an unseen
variant and write the seen document back. The floor Soul's hit path is compared against."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

Op = Callable[[str, str], str]  # (user_id, pk) -> the variant id shown


def _pick(variants: list[dict[str, Any]], seen: list[str]) -> str:
    return next(str(v["variant_id"]) for v in variants if v["variant_id"] not in seen)


def sqlite_op(path: Path) -> Op:
    """One connection per thread, WAL, as the local adapter opens them; the same index on `pk`."""
    local = threading.local()

    def conn() -> sqlite3.Connection:
        if getattr(local, "conn", None) is None:
            c = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            local.conn = c
        return local.conn  # type: ignore[no-any-return]

    def op(user_id: str, pk: str) -> str:
        c = conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            rows = c.execute(
                "SELECT data FROM docs WHERE collection = 'variants' AND json_extract(data, '$.pk') = ?", (pk,)
            ).fetchall()
            seen_coll = f"users/{user_id}/seen"
            row = c.execute("SELECT data FROM docs WHERE collection = ? AND id = ?", (seen_coll, pk)).fetchone()
            seen = json.loads(row[0]) if row else {"pk": pk, "variant_ids": []}
            chosen = _pick([json.loads(r[0]) for r in rows], seen["variant_ids"])
            seen["variant_ids"].append(chosen)
            c.execute(
                "INSERT OR REPLACE INTO docs (collection, id, data) VALUES (?, ?, ?)", (seen_coll, pk, json.dumps(seen))
            )
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
        return chosen

    return op


def firestore_op(project: str) -> Op:
    """The google-cloud-firestore client (FIRESTORE_EMULATOR_HOST honoured), one transaction per hit."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    client = firestore.Client(project=project)

    @firestore.transactional  # type: ignore[misc]
    def run(tx: Any, user_id: str, pk: str) -> str:
        query = client.collection("variants").where(filter=FieldFilter("pk", "==", pk))
        variants = [s.to_dict() for s in query.get(transaction=tx)]
        ref = client.collection(f"users/{user_id}/seen").document(pk)
        snap = ref.get(transaction=tx)
        seen = snap.to_dict() if snap.exists else {"pk": pk, "variant_ids": []}
        chosen = _pick(variants, seen["variant_ids"])
        tx.set(ref, {**seen, "variant_ids": [*seen["variant_ids"], chosen]})
        return chosen

    def op(user_id: str, pk: str) -> str:
        return str(run(client.transaction(), user_id, pk))

    return op
