"""DocumentStore on Cloud Firestore (or its emulator, via FIRESTORE_EMULATOR_HOST).

Collections may be subcollection paths ("users/u1/seen"). `create` uses Firestore's create
precondition, `update` is a top-level merge that fails on a missing document (field names are quoted,
so a dot in a key names one field, as in the SQLite store), `increment` is a server-side
`Increment`. Transactions re-run the function on contention: the client retries an aborted commit,
and this adapter also re-runs when a *read* is aborted (the emulator locks pessimistically and aborts a
waiting read after its lock timeout), with jittered backoff, up to `max_attempts` runs in all; past
that it raises TransactionConflict. Google exceptions never leave this module.

TTL: the top-level field `expire_at` (records.TTL_FIELD) is epoch seconds in Soul's code and a
Firestore timestamp on the wire (converted both ways here, filters included), because a TTL policy
only deletes documents whose field holds a timestamp.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath
from google.protobuf.timestamp_pb2 import Timestamp

from shared.errors import AlreadyExists, NotFound, TransactionConflict, Unavailable
from shared.ports import Doc, Filter

T = TypeVar("T")
_OPS = {"==", "!=", "<", "<=", ">", ">=", "in", "array_contains"}


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    """Translate Google API errors into Soul's error tree."""
    try:
        yield
    except gexc.AlreadyExists:
        raise AlreadyExists(f"{what} already exists") from None
    except gexc.NotFound:
        raise NotFound(f"{what} does not exist") from None
    except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError) as exc:
        raise Unavailable(f"firestore unavailable ({what}): {exc.message}") from exc


_TTL_FIELD = "expire_at"  # shared.records.TTL_FIELD (adapters do not import records)


def _stamp(value: Any) -> Any:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) and value else value


def _wire(data: Doc) -> Doc:
    """Soul's document as written: `expire_at` seconds become a timestamp (TTL policies need one)."""
    return {**data, _TTL_FIELD: _stamp(data[_TTL_FIELD])} if _TTL_FIELD in data else data


def _soul(data: Doc | None) -> Doc | None:
    """A read document as Soul's code sees it: `expire_at` back to epoch seconds."""
    if data is not None and isinstance(data.get(_TTL_FIELD), datetime):
        data[_TTL_FIELD] = data[_TTL_FIELD].timestamp()
    return data


def _docs(snaps: Any) -> list[Doc]:
    return [_soul(snap.to_dict()) or {} for snap in snaps]


def _quoted(fields: Doc) -> Doc:
    return {FieldPath(key).to_api_repr(): value for key, value in _wire(fields).items()}


def _filtered(query: Any, filters: Sequence[Filter]) -> Any:
    for name, op, value in filters:
        if op not in _OPS:
            raise ValueError(f"unsupported filter op {op!r}")
        query = query.where(filter=FieldFilter(name, op, _stamp(value) if name == _TTL_FIELD else value))
    return query


class FirestoreTx:
    """One attempt of a transaction: reads go through it, writes are buffered until commit."""

    def __init__(self, client: firestore.Client, transaction: firestore.Transaction) -> None:
        self._client = client
        self._tx = transaction
        self._wrote = False

    def _read(self) -> None:
        if self._wrote:
            raise RuntimeError("transaction reads must come before writes (Firestore rule)")

    def _ref(self, collection: str, doc_id: str) -> Any:
        self._wrote = True
        return self._client.collection(collection).document(doc_id)

    def get(self, collection: str, doc_id: str) -> Doc | None:
        self._read()
        snap = self._client.collection(collection).document(doc_id).get(transaction=self._tx)
        return _soul(snap.to_dict()) if snap.exists else None

    def query(self, collection: str, filters: Sequence[Filter] = (), limit: int | None = None) -> list[Doc]:
        self._read()
        query = _filtered(self._client.collection(collection), filters)
        if limit is not None:
            query = query.limit(limit)
        return _docs(query.get(transaction=self._tx))

    def create(self, collection: str, doc_id: str, data: Doc) -> None:
        self._tx.create(self._ref(collection, doc_id), _wire(data))

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        self._tx.set(self._ref(collection, doc_id), _wire(data))

    def update(self, collection: str, doc_id: str, fields: Doc) -> None:
        self._tx.update(self._ref(collection, doc_id), _quoted(fields))

    def delete(self, collection: str, doc_id: str) -> None:
        self._tx.delete(self._ref(collection, doc_id))


class FirestoreDocumentStore:
    def __init__(self, project: str, database: str = "(default)", *, max_attempts: int = 5) -> None:
        self._project = project
        self._database = database
        self._max_attempts = max_attempts

    @cached_property
    def client(self) -> firestore.Client:
        return firestore.Client(project=self._project, database=self._database)

    def _doc(self, collection: str, doc_id: str) -> Any:
        return self.client.collection(collection).document(doc_id)

    def get(self, collection: str, doc_id: str) -> Doc | None:
        with _mapped(f"{collection}/{doc_id}"):
            snap = self._doc(collection, doc_id).get()
        return _soul(snap.to_dict()) if snap.exists else None

    def get_many(self, collection: str, doc_ids: Sequence[str]) -> list[Doc | None]:
        refs = [self._doc(collection, doc_id) for doc_id in doc_ids]
        with _mapped(collection):
            found = {snap.id: _soul(snap.to_dict()) for snap in self.client.get_all(refs) if snap.exists}
        return [found.get(doc_id) for doc_id in doc_ids]

    def query(
        self,
        collection: str,
        filters: Sequence[Filter] = (),
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Doc]:
        query = _filtered(self.client.collection(collection), filters)
        if order_by:
            direction = firestore.Query.DESCENDING if descending else firestore.Query.ASCENDING
            query = query.order_by(order_by, direction=direction)
        if limit is not None:
            query = query.limit(limit)
        with _mapped(collection):
            return _docs(query.stream())

    def count(self, collection: str, filters: Sequence[Filter] = ()) -> int:
        query = _filtered(self.client.collection(collection), filters)
        with _mapped(collection):
            result = query.count().get()
        return int(result[0][0].value)

    def create(self, collection: str, doc_id: str, data: Doc) -> bool:
        try:
            with _mapped(f"{collection}/{doc_id}"):
                self._doc(collection, doc_id).create(_wire(data))
        except AlreadyExists:
            return False
        return True

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        with _mapped(f"{collection}/{doc_id}"):
            self._doc(collection, doc_id).set(_wire(data))

    def update(self, collection: str, doc_id: str, fields: Doc) -> None:
        with _mapped(f"{collection}/{doc_id}"):
            self._doc(collection, doc_id).update(_quoted(fields))

    def delete(self, collection: str, doc_id: str) -> None:
        with _mapped(f"{collection}/{doc_id}"):
            self._doc(collection, doc_id).delete()

    def increment(self, collection: str, doc_id: str, field: str, amount: int = 1) -> None:
        with _mapped(f"{collection}/{doc_id}"):
            self._doc(collection, doc_id).set({field: firestore.Increment(amount)}, merge=True)

    concurrent_reads = True  # each read is a network round trip

    def get_versioned(self, collection: str, doc_id: str) -> tuple[Doc | None, str]:
        with _mapped(f"{collection}/{doc_id}"):
            snap = self._doc(collection, doc_id).get()
        if not snap.exists:
            return None, ""
        return _soul(snap.to_dict()), snap.update_time.timestamp_pb().ToJsonString()

    def write_if_unchanged(self, collection: str, doc_id: str, fields: Doc, version: str) -> bool:
        ref = self._doc(collection, doc_id)
        try:
            with _mapped(f"{collection}/{doc_id}"):
                if not version:
                    ref.create(_wire(fields))
                else:
                    stamp = Timestamp()
                    stamp.FromJsonString(version)
                    ref.update(_quoted(fields), option=self.client.write_option(last_update_time=stamp))
        except (AlreadyExists, NotFound):
            return False  # created since it was read, or deleted since
        except gexc.FailedPrecondition:
            return False  # written since it was read
        return True

    def transaction(self, fn: Callable[[FirestoreTx], T]) -> T:
        """Run `fn` until a commit succeeds; each run gets a fresh Tx (fn may run more than once)."""
        for attempt in range(self._max_attempts):
            try:
                return self._attempt(fn)
            except gexc.Aborted:
                time.sleep(min(1.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
        raise TransactionConflict(f"transaction still contended after {self._max_attempts} attempts")

    def _attempt(self, fn: Callable[[FirestoreTx], T]) -> T:
        """One run of `fn` in its own transaction; google Aborted escapes so the caller re-runs it."""

        @firestore.transactional  # type: ignore[untyped-decorator]
        def run(transaction: firestore.Transaction) -> T:
            return fn(FirestoreTx(self.client, transaction))

        try:
            with _mapped("transaction write"):
                return run(self.client.transaction(max_attempts=1))  # type: ignore[no-any-return]
        except ValueError as exc:  # the client wraps an aborted commit in ValueError
            if isinstance(exc.__cause__, gexc.Aborted):
                raise exc.__cause__ from None
            raise
