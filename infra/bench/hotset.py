"""The request benchmark's fixtures: a hot set of ready variants, and a DocumentStore that counts its
round trips.

The hot set is made through Soul's own request path (GenerationService → serve_or_submit, a job per
miss) with the generation step simulated: each job is claimed and completed directly through
`shared.lifecycle` with a variant record naming a PNG artifact (the object itself is not written; a
signed URL does not need it). Publishing is a no-op here, so no worker launch or Pub/Sub topic is
involved in setting up.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from functions.service import GenerationService
from shared import lifecycle
from shared.bootstrap import Backend, InProcessLauncher
from shared.domain.models import Artifact, Kind, Variant
from shared.ports import Delivery, Doc, DocumentStore, Filter, Tx
from shared.records import VARIANT_LIFETIME_DAYS, VARIANTS

T = TypeVar("T")
SOUL = "nova"
CUES = [
    f"{who} {what}"
    for who in ("penguin", "cat", "fox", "owl")
    for what in ("surfing a wave", "reading a book", "eating pizza", "dancing in the rain")
]


class NullQueue:
    """Publishing goes nowhere: hot-set jobs are completed directly."""

    def publish(self, lane: str, data: bytes) -> str:
        return "bench"

    def pull(self, lane: str, max_messages: int, timeout: float) -> list[Delivery]:
        return []

    def ack(self, lane: str, ack_ids: Sequence[str]) -> None: ...
    def nack(self, lane: str, ack_id: str, delay_seconds: float = 0.0) -> None: ...
    def extend(self, lane: str, ack_id: str, seconds: float) -> None: ...


def seed_hot_set(backend: Backend, cues: Sequence[str], variants_per_cue: int) -> dict[str, str]:
    """`variants_per_cue` ready variants for each cue of soul `SOUL`; returns each cue's prompt key."""
    quiet = dataclasses.replace(backend, queue=NullQueue(), launcher=InProcessLauncher())
    service = GenerationService(quiet)
    keys: dict[str, str] = {}
    for cue in cues:
        for _ in range(variants_per_cue):
            outcome = service.image("bench-seeder", SOUL, cue)
            keys[cue] = outcome.pk
            served = outcome.served
            if served.job is None:
                continue
            now = backend.clock.now()
            job = lifecycle.claim(backend.store, served.job.job_id, worker_id="bench", now=now, lease_seconds=60)
            if job is None:
                continue
            variant = _variant(job.variant_id, job.pk, job.spec.seed, job.job_id, now, cue)
            lifecycle.complete(backend.store, job.job_id, variant, now=now)
    return keys


def add_other_variants(backend: Backend, n: int) -> None:
    """`n` variant records under 1 of n/10 other prompt keys each: the collection a hit searches is big."""
    now = backend.clock.now()
    for i in range(n):
        variant = _variant(f"other-{i:06d}", f"other-key-{i % max(1, n // 10):05d}", i, f"other-job-{i:06d}", now)
        backend.store.create(VARIANTS, variant.variant_id, variant.doc())


def _variant(variant_id: str, pk: str, seed: int, job_id: str, now: float, label: str = "other") -> Variant:
    """A ready image variant naming a PNG that is never written (a signed URL does not need it)."""
    png = Artifact(name=f"bench/{variant_id}.png", content_type="image/png", bytes=1, sha256="0" * 64)
    return Variant(
        variant_id=variant_id,
        pk=pk,
        kind=Kind.IMAGE,
        soul_id=SOUL,
        seed=seed,
        generator="bench-simulation",
        artifacts={"png": png},
        job_id=job_id,
        created_at=now,
        label=label,
        expire_at=now + VARIANT_LIFETIME_DAYS * 86400.0,
    )


class CountingTx:
    def __init__(self, tx: Tx, counts: Counter[str]) -> None:
        self._tx, self._counts = tx, counts

    def get(self, collection: str, doc_id: str) -> Doc | None:
        self._counts[f"tx.get {collection.split('/', maxsplit=1)[0]}"] += 1
        return self._tx.get(collection, doc_id)

    def query(self, collection: str, filters: Sequence[Filter] = (), limit: int | None = None) -> list[Doc]:
        self._counts[f"tx.query {collection}"] += 1
        return self._tx.query(collection, filters, limit)

    # Writes are buffered and sent with the commit: no round trip of their own.
    def create(self, collection: str, doc_id: str, data: Doc) -> None:
        self._tx.create(collection, doc_id, data)

    def set(self, collection: str, doc_id: str, data: Doc) -> None:
        self._tx.set(collection, doc_id, data)

    def update(self, collection: str, doc_id: str, fields: Doc) -> None:
        self._tx.update(collection, doc_id, fields)

    def delete(self, collection: str, doc_id: str) -> None:
        self._tx.delete(collection, doc_id)


class CountingStore:
    """Counts backend round trips: one per non-transactional call; begin + each read + commit per
    transaction (what Firestore's client sends; SQLite's BEGIN IMMEDIATE … COMMIT is the same shape)."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.counts: Counter[str] = Counter()

    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def concurrent_reads(self) -> bool:
        return self.inner.concurrent_reads

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            collection = str(args[0]).split("/")[0] if args else ""
            self.counts[f"{name} {collection}"] += 1
            return method(*args, **kwargs)

        return call

    def transaction(self, fn: Callable[[Any], T]) -> T:
        self.counts["tx.begin+commit"] += 2
        return self.inner.transaction(lambda tx: fn(CountingTx(tx, self.counts)))
