"""A DocumentStore that prices its own operations (docs/OPERATIONS.md, Cost): every call is passed to the
store it wraps and counted as Firestore bills it, into `soul_cost_usd{item="firestore_read"|"firestore_write"}`.

Billing as Firestore counts it: a get is one read (found or not), a query one read per document returned
(at least one), a count one read per 1,000 index entries (at least one), every write, delete and
increment one write (deletes are priced as writes: a slight overestimate). Reads inside a transaction
count too; a transaction re-run on contention is counted each time, as it is billed. Only the API
wraps its store: the workers' record operations are a small part of a job's cost beside its GPU time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from shared import prices
from shared.metrics import Metrics
from shared.ports import Doc, DocumentStore, Filter, Tx

T = TypeVar("T")
KIND = "request"  # the API's record operations, whatever the request


class _Meter:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def reads(self, n: int) -> None:
        self._metrics.cost("firestore_read", KIND, prices.usd("firestore_read", max(1, n)))

    def write(self) -> None:
        self._metrics.cost("firestore_write", KIND, prices.usd("firestore_write", 1))


class _MeteredTx:
    def __init__(self, tx: Tx, meter: _Meter) -> None:
        self._tx, self._meter = tx, meter

    def get(self, collection: str, doc_id: str) -> Doc | None:
        self._meter.reads(1)
        return self._tx.get(collection, doc_id)

    def query(self, collection: str, filters: Sequence[Filter] = (), limit: int | None = None) -> list[Doc]:
        found = self._tx.query(collection, filters, limit)
        self._meter.reads(len(found))
        return found

    def create(self, collection: str, doc_id: str, data: Doc) -> None:
        self._meter.write()
        self._tx.create(collection, doc_id, data)

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        self._meter.write()
        self._tx.set(collection, doc_id, data)

    def update(self, collection: str, doc_id: str, fields: Doc) -> None:
        self._meter.write()
        self._tx.update(collection, doc_id, fields)

    def delete(self, collection: str, doc_id: str) -> None:
        self._meter.write()
        self._tx.delete(collection, doc_id)


class MeteredStore:
    """`store`'s behaviour unchanged; its operations priced. Anything else is the wrapped store's own."""

    def __init__(self, store: DocumentStore, metrics: Metrics) -> None:
        self._store, self._meter = store, _Meter(metrics)
        self.concurrent_reads = store.concurrent_reads

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)  # adapter extras (e.g. the SQLite file), never priced

    def get(self, collection: str, doc_id: str) -> Doc | None:
        self._meter.reads(1)
        return self._store.get(collection, doc_id)

    def get_many(self, collection: str, doc_ids: Sequence[str]) -> list[Doc | None]:
        if doc_ids:
            self._meter.reads(len(doc_ids))
        return self._store.get_many(collection, doc_ids)

    def query(
        self,
        collection: str,
        filters: Sequence[Filter] = (),
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Doc]:
        found = self._store.query(collection, filters, order_by, descending, limit)
        self._meter.reads(len(found))
        return found

    def count(self, collection: str, filters: Sequence[Filter] = ()) -> int:
        n = self._store.count(collection, filters)
        self._meter.reads(math.ceil(n / 1000))
        return n

    def create(self, collection: str, doc_id: str, data: Doc) -> bool:
        self._meter.write()
        return self._store.create(collection, doc_id, data)

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        self._meter.write()
        self._store.set(collection, doc_id, data)

    def update(self, collection: str, doc_id: str, fields: Doc) -> None:
        self._meter.write()
        self._store.update(collection, doc_id, fields)

    def delete(self, collection: str, doc_id: str) -> None:
        self._meter.write()
        self._store.delete(collection, doc_id)

    def increment(self, collection: str, doc_id: str, field: str, amount: int = 1) -> None:
        self._meter.write()
        self._store.increment(collection, doc_id, field, amount)

    def transaction(self, fn: Callable[[Tx], T]) -> T:
        return self._store.transaction(lambda tx: fn(_MeteredTx(tx, self._meter)))

    def get_versioned(self, collection: str, doc_id: str) -> tuple[Doc | None, str]:
        self._meter.reads(1)
        return self._store.get_versioned(collection, doc_id)

    def write_if_unchanged(self, collection: str, doc_id: str, fields: Doc, version: str) -> bool:
        self._meter.write()
        return self._store.write_if_unchanged(collection, doc_id, fields, version)
