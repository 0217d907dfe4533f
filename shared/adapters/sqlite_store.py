"""DocumentStore on SQLite: documents as JSON rows keyed by (collection, id).

Transactions mirror Firestore's rules (reads before writes, create fails on an existing document,
all-or-nothing) so code that passes here behaves the same on Firestore.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from shared.adapters.sqlite_db import SqliteDb
from shared.errors import AlreadyExists, NotFound
from shared.ports import Doc, Filter

T = TypeVar("T")
_OPS = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _field(name: str) -> str:
    if not name.replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"bad field name {name!r}")
    return f"json_extract(data, '$.{name}')"


def _bind(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def _type_of(name: str, value: Any) -> str:
    """SQL matching the JSON type of `value`: Firestore compares values within one type only."""
    kind = f"json_type(data, '$.{name}')"
    if isinstance(value, bool):
        return f"{kind} = '{'true' if value else 'false'}'"
    if isinstance(value, int | float):
        return f"{kind} IN ('integer', 'real')"
    if isinstance(value, str):
        return f"{kind} = 'text'"
    return "1"


def _clause(name: str, op: str, value: Any) -> tuple[str, list[Any]]:
    field = _field(name)
    if op == "array_contains":
        return f"EXISTS (SELECT 1 FROM json_each(data, '$.{name}') WHERE value = ?)", [value]
    if op == "in":
        marks = ",".join("?" for _ in value)
        return f"{field} IN ({marks})", [_bind(v) for v in value]
    if value is None and op in ("==", "!="):
        # `== None` matches an explicit null only; `!= None` any present non-null value.
        return f"json_type(data, '$.{name}') {'=' if op == '==' else '!='} 'null'", []
    if op == "!=":
        # Firestore: the field must exist and be non-null; a value of another type is "not equal".
        return f"{field} IS NOT NULL AND NOT ({_type_of(name, value)} AND {field} = ?)", [_bind(value)]
    return f"{_type_of(name, value)} AND {field} {_OPS[op]} ?", [_bind(value)]


def _where(collection: str, filters: Sequence[Filter]) -> tuple[str, list[Any]]:
    clauses, params = ["collection = ?"], [collection]
    for name, op, value in filters:
        sql, args = _clause(name, op, value)
        clauses.append(f"({sql})")
        params.extend(args)
    return " AND ".join(clauses), params


# Expression indexes (sqlite_db._SCHEMA). SQLite's planner prefers the primary key's `collection = ?`
# prefix over them, which scans every document of the collection (every variant, to find one key's
# eight); an equality filter on an indexed field names its index (waiters are found by job or user).
_INDEXES = {"pk": "docs_pk", "status": "docs_status", "job_id": "docs_job_id", "user_id": "docs_user_id"}


def _source(filters: Sequence[Filter]) -> str:
    for name, op, value in filters:
        if op == "==" and name in _INDEXES and isinstance(value, str):
            return f"docs INDEXED BY {_INDEXES[name]}"
    return "docs"


def _select(
    conn: sqlite3.Connection,
    collection: str,
    filters: Sequence[Filter],
    order_by: str | None = None,
    descending: bool = False,
    limit: int | None = None,
) -> list[Doc]:
    where, params = _where(collection, filters)
    direction = "DESC" if descending else "ASC"
    if order_by:
        # As Firestore: documents without the field are left out; ties are broken by document id.
        where += f" AND json_type(data, '$.{order_by}') IS NOT NULL"
        order = f"{_field(order_by)} {direction}, id {direction}"
    else:
        order = "id ASC"
    sql = f"SELECT data FROM {_source(filters)} WHERE {where} ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [json.loads(row[0]) for row in conn.execute(sql, params)]


def _stored(conn: sqlite3.Connection, collection: str, doc_id: str) -> str | None:
    """The document's stored JSON text, or None."""
    row = conn.execute("SELECT data FROM docs WHERE collection = ? AND id = ?", (collection, doc_id)).fetchone()
    return str(row[0]) if row else None


def _get(conn: sqlite3.Connection, collection: str, doc_id: str) -> Doc | None:
    stored = _stored(conn, collection, doc_id)
    return json.loads(stored) if stored is not None else None


def _version(stored: str) -> str:
    """A document's version token: the digest of its stored form. Content-addressed, so a document
    rewritten to identical content keeps its version, which is harmless for compare-and-set: a write
    computed from that content is still correct."""
    return hashlib.blake2b(stored.encode(), digest_size=16).hexdigest()


def _put(conn: sqlite3.Connection, collection: str, doc_id: str, data: Doc) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO docs (collection, id, data) VALUES (?, ?, ?)",
        (collection, doc_id, json.dumps(data, separators=(",", ":"))),
    )


class SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._writes: list[tuple[str, str, str, Doc]] = []

    def _read(self) -> None:
        if self._writes:
            raise RuntimeError("transaction reads must come before writes (Firestore rule)")

    def get(self, collection: str, doc_id: str) -> Doc | None:
        self._read()
        return _get(self._conn, collection, doc_id)

    def query(self, collection: str, filters: Sequence[Filter] = (), limit: int | None = None) -> list[Doc]:
        self._read()
        return _select(self._conn, collection, filters, limit=limit)

    def create(self, collection: str, doc_id: str, data: Doc) -> None:
        self._writes.append(("create", collection, doc_id, data))

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        self._writes.append(("set", collection, doc_id, data))

    def update(self, collection: str, doc_id: str, fields: Doc) -> None:
        self._writes.append(("update", collection, doc_id, fields))

    def delete(self, collection: str, doc_id: str) -> None:
        self._writes.append(("delete", collection, doc_id, {}))

    def commit(self) -> None:
        for op, collection, doc_id, data in self._writes:
            _apply(self._conn, op, collection, doc_id, data)


def _apply(conn: sqlite3.Connection, op: str, collection: str, doc_id: str, data: Doc) -> None:
    if op == "delete":
        conn.execute("DELETE FROM docs WHERE collection = ? AND id = ?", (collection, doc_id))
        return
    current = _get(conn, collection, doc_id)
    if op == "create" and current is not None:
        raise AlreadyExists(f"{collection}/{doc_id} already exists")
    if op == "update":
        if current is None:
            raise NotFound(f"{collection}/{doc_id} does not exist")
        data = {**current, **data}
    _put(conn, collection, doc_id, data)


class SqliteDocumentStore:
    def __init__(self, db: SqliteDb) -> None:
        self._db = db

    def get(self, collection: str, doc_id: str) -> Doc | None:
        return _get(self._db.conn(), collection, doc_id)

    def get_many(self, collection: str, doc_ids: Sequence[str]) -> list[Doc | None]:
        conn = self._db.conn()
        return [_get(conn, collection, doc_id) for doc_id in doc_ids]

    def query(
        self,
        collection: str,
        filters: Sequence[Filter] = (),
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Doc]:
        return _select(self._db.conn(), collection, filters, order_by, descending, limit)

    def count(self, collection: str, filters: Sequence[Filter] = ()) -> int:
        where, params = _where(collection, filters)
        row = self._db.conn().execute(f"SELECT COUNT(*) FROM {_source(filters)} WHERE {where}", params).fetchone()
        return int(row[0])

    def create(self, collection: str, doc_id: str, data: Doc) -> bool:
        with self._db.write() as conn:
            if _get(conn, collection, doc_id) is not None:
                return False
            _put(conn, collection, doc_id, data)
            return True

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        with self._db.write() as conn:
            _put(conn, collection, doc_id, data)

    def update(self, collection: str, doc_id: str, fields: Doc) -> None:
        with self._db.write() as conn:
            _apply(conn, "update", collection, doc_id, fields)

    def delete(self, collection: str, doc_id: str) -> None:
        with self._db.write() as conn:
            _apply(conn, "delete", collection, doc_id, {})

    def increment(self, collection: str, doc_id: str, field: str, amount: int = 1) -> None:
        with self._db.write() as conn:
            current = _get(conn, collection, doc_id) or {}
            current[field] = int(current.get(field, 0)) + amount
            _put(conn, collection, doc_id, current)

    concurrent_reads = False  # in-process: a thread hand-off costs more than the read

    def get_versioned(self, collection: str, doc_id: str) -> tuple[Doc | None, str]:
        stored = _stored(self._db.conn(), collection, doc_id)
        return (json.loads(stored), _version(stored)) if stored is not None else (None, "")

    def write_if_unchanged(self, collection: str, doc_id: str, fields: Doc, version: str) -> bool:
        with self._db.write() as conn:
            stored = _stored(conn, collection, doc_id)
            if (_version(stored) if stored is not None else "") != version:
                return False
            _put(conn, collection, doc_id, {**json.loads(stored), **fields} if stored is not None else fields)
            return True

    def transaction(self, fn: Callable[[SqliteTx], T]) -> T:
        with self._db.write() as conn:
            tx = SqliteTx(conn)
            result = fn(tx)
            tx.commit()
            return result
