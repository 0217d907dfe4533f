"""Ports: the small Protocols Soul's services depend on. Adapters per backend implement them.

Their semantics are those of the Google Cloud services, so a local adapter cannot promise more than
production gives:
- DocumentStore ~ Firestore: documents in (sub)collections, create-if-absent, optimistic transactions
  whose function may run more than once and must do every read before any write, atomic increments,
  equality / range / array-contains queries, and single-document compare-and-set (a read that returns a
  version token, a write conditioned on it: Firestore's update-time precondition).
- JobQueue ~ Pub/Sub pull subscriptions: at-least-once, ack / nack / deadline extension, redelivery
  after the ack deadline, dead-lettering after `max_delivery_attempts`. `publish` puts the caller's
  trace context (shared/tracing.py `inject`: `traceparent`) in the message's attributes; each
  Delivery gives them back, so the consumer continues the trace.
- BlobStore ~ Cloud Storage: create-only writes (generation-match 0), short-lived signed URLs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

Doc = dict[str, Any]
Filter = tuple[str, str, Any]  # (field, op, value); op in ==, !=, <, <=, >, >=, in, array_contains
T = TypeVar("T")


class Tx(Protocol):
    """A transaction: all reads first, then writes; applied atomically at the end or not at all."""

    def get(self, collection: str, doc_id: str) -> Doc | None: ...
    def query(self, collection: str, filters: Sequence[Filter] = (), limit: int | None = None) -> list[Doc]: ...
    def create(self, collection: str, doc_id: str, data: Doc) -> None: ...
    def set(self, collection: str, doc_id: str, data: Doc) -> None: ...
    def update(self, collection: str, doc_id: str, fields: Doc) -> None: ...
    def delete(self, collection: str, doc_id: str) -> None: ...


class DocumentStore(Protocol):
    def get(self, collection: str, doc_id: str) -> Doc | None: ...
    def get_many(self, collection: str, doc_ids: Sequence[str]) -> list[Doc | None]: ...
    def query(
        self,
        collection: str,
        filters: Sequence[Filter] = (),
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Doc]: ...
    def count(self, collection: str, filters: Sequence[Filter] = ()) -> int: ...
    def create(self, collection: str, doc_id: str, data: Doc) -> bool:
        """Write `data` only if the document is absent; False if it already existed."""
        ...

    def set(self, collection: str, doc_id: str, data: Doc) -> None: ...
    def update(self, collection: str, doc_id: str, fields: Doc) -> None:
        """Merge top-level `fields`; NotFound if the document does not exist."""
        ...

    def delete(self, collection: str, doc_id: str) -> None: ...
    def increment(self, collection: str, doc_id: str, field: str, amount: int = 1) -> None: ...
    def transaction(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn` in a transaction, re-running it on contention; TransactionConflict past the limit."""
        ...

    def get_versioned(self, collection: str, doc_id: str) -> tuple[Doc | None, str]:
        """The document and an opaque version token for `write_if_unchanged` ("" when it is absent)."""
        ...

    def write_if_unchanged(self, collection: str, doc_id: str, fields: Doc, version: str) -> bool:
        """Compare-and-set on one document, in one round trip: version "" creates the document if it is
        still absent; any other version merges top-level `fields` if the document is still at that
        version. False (and nothing written) if it changed since it was read."""
        ...

    # Whether independent reads gain from being issued concurrently (each is a network round trip).
    concurrent_reads: bool


@dataclass(frozen=True)
class Delivery:
    ack_id: str
    data: bytes
    attempt: int  # 1 on first delivery
    message_id: str = ""
    attributes: dict[str, str] = field(default_factory=dict)  # the trace context (`traceparent`), if any


class JobQueue(Protocol):
    def publish(self, lane: str, data: bytes) -> str: ...
    def pull(self, lane: str, max_messages: int, timeout: float) -> list[Delivery]: ...
    def ack(self, lane: str, ack_ids: Sequence[str]) -> None: ...
    def nack(self, lane: str, ack_id: str, delay_seconds: float = 0.0) -> None: ...
    def extend(self, lane: str, ack_id: str, seconds: float) -> None: ...


class BlobStore(Protocol):
    def put(self, name: str, data: bytes, content_type: str) -> None:
        """Create-only: AlreadyExists if `name` is taken (GCS if_generation_match=0)."""
        ...

    def get(self, name: str) -> bytes: ...
    def exists(self, name: str) -> bool: ...
    def delete(self, name: str) -> None: ...
    def list(self, prefix: str = "", *, start_after: str = "", limit: int | None = None) -> list[str]:
        """Names under `prefix`, sorted; only those after `start_after`, at most `limit` of them."""
        ...

    def signed_url(self, name: str, ttl_seconds: int) -> str: ...


class WorkerLauncher(Protocol):
    """Makes sure a worker execution runs for a lane (Cloud Run job, or nothing locally)."""

    def launch(self, lane: str) -> None: ...


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class Embedder(Protocol):
    """Text → unit vectors (the semantic tier, docs/ARCHITECTURE.md, Prompt keys): a local static model or a managed
    API."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Any:
        """A float32 array of shape (len(texts), dim), each row L2-normalized."""
        ...


@dataclass(frozen=True)
class Neighbour:
    key: str  # the prompt key (pk)
    text: str  # its matching form
    score: float  # cosine similarity


class VectorIndex(Protocol):
    """Nearest prompt keys within one space (soul, kind, style version, params): Firestore find_nearest."""

    def add(self, space: str, key: str, text: str, vector: Sequence[float]) -> None:
        """Store or replace `key`'s vector (idempotent)."""
        ...

    def nearest(self, space: str, vector: Sequence[float], limit: int) -> list[Neighbour]: ...
    def has(self, space: str, key: str) -> bool: ...
