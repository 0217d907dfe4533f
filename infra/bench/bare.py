"""The bare backend operations one cache hit needs, done directly with the client (no Soul code).

Two peers:
- `*_op`: the textbook shape, one transaction: query the prompt key's variants, read the user's seen
  document, pick an unseen variant, write the seen document back (begin, query, get, commit).
- `*_cas_op`: the shape Soul's hit path uses: the variant query and the seen-document read issued
  together, then one conditional write of the seen document (create if absent, else an update-time
  precondition), re-read and retried if it lost a race. Soul measured against this peer shows what
  Soul's own code costs on top of the same backend work.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

Op = Callable[[str, str], str]  # (user_id, pk) -> the variant id shown


def _pick(variants: list[Any], seen: list[str]) -> str:
    return next(str(v["variant_id"]) for v in variants if v["variant_id"] not in seen)


def _sqlite_connections(path: Path) -> Callable[[], sqlite3.Connection]:
    """One connection per thread, WAL, as the local adapter opens them; the same index on `pk`."""
    local = threading.local()

    def conn() -> sqlite3.Connection:
        if getattr(local, "conn", None) is None:
            c = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            local.conn = c
        return local.conn  # type: ignore[no-any-return]

    return conn


# The expression index named, as the adapter does: SQLite's planner would otherwise scan all variants.
# The same page as Soul's hit path: the key's oldest 16 variants that have not expired
# (docs/ARCHITECTURE.md, Records).
_VARIANTS_SQL = (
    "SELECT data FROM docs INDEXED BY docs_pk WHERE collection = 'variants' AND json_extract(data, '$.pk') = ?"
    " AND json_extract(data, '$.expire_at') > ? ORDER BY json_extract(data, '$.expire_at') LIMIT 16"
)
_MARGIN = 7 * 86400.0  # shared.domain.selection.SERVE_MARGIN_SECONDS


def _horizon() -> float:
    return time.time() + _MARGIN


def _variants_query(client: Any, pk: str) -> Any:
    from datetime import UTC, datetime

    from google.cloud.firestore_v1.base_query import FieldFilter

    horizon = datetime.fromtimestamp(_horizon(), UTC)
    query = client.collection("variants").where(filter=FieldFilter("pk", "==", pk))
    return query.where(filter=FieldFilter("expire_at", ">", horizon)).order_by("expire_at").limit(16)


_SEEN_SQL = "SELECT data FROM docs WHERE collection = ? AND id = ?"


def sqlite_op(path: Path) -> Op:
    conn = _sqlite_connections(path)

    def op(user_id: str, pk: str) -> str:
        c = conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            rows = c.execute(_VARIANTS_SQL, (pk, _horizon())).fetchall()
            seen_coll = f"users/{user_id}/seen"
            row = c.execute(_SEEN_SQL, (seen_coll, pk)).fetchone()
            seen: dict[str, Any] = json.loads(row[0]) if row else {"pk": pk, "variant_ids": []}
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

    client = firestore.Client(project=project)

    @firestore.transactional  # type: ignore[misc]
    def run(tx: Any, user_id: str, pk: str) -> str:
        variants = [s.to_dict() for s in _variants_query(client, pk).get(transaction=tx)]
        ref = client.collection(f"users/{user_id}/seen").document(pk)
        snap = ref.get(transaction=tx)
        seen: dict[str, Any] = (snap.to_dict() or {}) if snap.exists else {"pk": pk, "variant_ids": []}
        chosen = _pick(variants, seen["variant_ids"])
        tx.set(ref, {**seen, "variant_ids": [*seen["variant_ids"], chosen]})
        return chosen

    def op(user_id: str, pk: str) -> str:
        return str(run(client.transaction(), user_id, pk))

    return op


def sqlite_cas_op(path: Path) -> Op:
    """Reads outside a transaction, then a compare-and-set of the seen row (its content digest)."""
    conn = _sqlite_connections(path)

    def op(user_id: str, pk: str) -> str:
        c, seen_coll = conn(), f"users/{user_id}/seen"
        variants = [json.loads(r[0]) for r in c.execute(_VARIANTS_SQL, (pk, _horizon())).fetchall()]
        while True:
            row = c.execute(_SEEN_SQL, (seen_coll, pk)).fetchone()
            seen: dict[str, Any] = json.loads(row[0]) if row else {"pk": pk, "variant_ids": []}
            chosen = _pick(variants, seen["variant_ids"])
            seen["variant_ids"].append(chosen)
            c.execute("BEGIN IMMEDIATE")
            now = c.execute(_SEEN_SQL, (seen_coll, pk)).fetchone()
            if (now[0] if now else None) == (row[0] if row else None):
                c.execute(
                    "INSERT OR REPLACE INTO docs (collection, id, data) VALUES (?, ?, ?)",
                    (seen_coll, pk, json.dumps(seen)),
                )
                c.execute("COMMIT")
                return chosen
            c.execute("ROLLBACK")

    return op


def firestore_cas_op(project: str) -> Op:
    """The variant query and the seen read issued together, then create / update-time-conditioned update."""
    from google.api_core import exceptions as gexc
    from google.cloud import firestore

    client = firestore.Client(project=project)
    pool = ThreadPoolExecutor(max_workers=8)

    def op(user_id: str, pk: str) -> str:
        ref = client.collection(f"users/{user_id}/seen").document(pk)
        query = _variants_query(client, pk)
        later = pool.submit(ref.get)
        variants = [s.to_dict() for s in query.get()]
        snap = later.result()
        while True:
            seen: dict[str, Any] = (snap.to_dict() or {}) if snap.exists else {"pk": pk, "variant_ids": []}
            chosen = _pick(variants, seen["variant_ids"])
            try:
                if snap.exists:
                    option = client.write_option(last_update_time=snap.update_time)
                    ref.update({"variant_ids": [*seen["variant_ids"], chosen]}, option=option)
                else:
                    ref.create({**seen, "variant_ids": [chosen]})
                return chosen
            except (gexc.FailedPrecondition, gexc.AlreadyExists):
                snap = ref.get()

    return op
