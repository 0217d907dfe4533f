"""The job lifecycle as transactions on the DocumentStore, used by the API and the worker alike.

Invariants (docs/ARCHITECTURE.md, Job lifecycle): a job document exists before its message is published; N identical
misses
attach to one in-flight job (single-flight per prompt key, shared/singleflight.py); a worker claims a
job under a lease before working on it; the variant record is created once (first writer wins) and
written after the artifacts; status only moves forward; a user is never shown a variant twice.

Nothing here touches a document per waiting user in one transaction: completing a job writes the job,
the variant, the prompt key and the in-flight marker; its waiters are told afterwards in bounded
batches, and the rest learn the result when they read their task (shared/delivery.py), so a key with
10,000 waiters completes like a key with one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.concurrency import overlapped

# The `X as X` names are re-exported (explicit for mypy): the API, benchmarks and tests name them lifecycle.*.
from shared.delivery import FANOUT_MAX as FANOUT_MAX  # noqa: PLC0414
from shared.delivery import deliver as deliver  # noqa: PLC0414
from shared.delivery import deliver_to_waiters, marks_of
from shared.delivery import mark_seen as mark_seen  # noqa: PLC0414
from shared.domain.jobs import claimable, transition
from shared.domain.models import Job, JobError, JobStatus, Progress, Variant
from shared.domain.selection import SERVE_MARGIN_SECONDS, pick_unseen, remember
from shared.errors import Conflict, NotFound
from shared.ports import DocumentStore, Tx
from shared.records import (
    INFLIGHT,
    JOBS,
    PROMPT_KEYS,
    VARIANT_LIFETIME_DAYS,
    VARIANTS,
    seen_collection,
)

Admit = Callable[[Variant], None]  # runs on the picked hit before it is marked seen; raises to refuse it
HIT_PAGE = 16  # variants of a key read per hit: the oldest servable ones (more only for users who saw them)


@dataclass(frozen=True)
class Served:
    """The outcome of a request: a cached variant (hit) or the job that will make one."""

    variant: Variant | None = None
    job: Job | None = None
    created: bool = False


def _job(tx: Tx, job_id: str) -> Job | None:
    doc = tx.get(JOBS, job_id)
    return Job.model_validate(doc) if doc else None


def _servable_page(store: DocumentStore, pk: str, now: float, limit: int) -> list[Variant]:
    """The key's oldest `limit` variants whose objects outlive a URL signed now (expired ones never)."""
    docs = store.query(
        VARIANTS, [("pk", "==", pk), ("expire_at", ">", now + SERVE_MARGIN_SECONDS)], order_by="expire_at", limit=limit
    )
    return [Variant.model_validate(d) for d in docs]


def _try_hit(tx: Tx, user_id: str, pk: str, now: float, gated: bool, admitted: str | None) -> Variant | None:
    marks = marks_of(tx.get(seen_collection(user_id), pk), pk)
    limit = len(marks.variant_ids) + HIT_PAGE
    docs = tx.query(VARIANTS, [("pk", "==", pk), ("expire_at", ">", now + SERVE_MARGIN_SECONDS)], limit=limit)
    hit = pick_unseen([Variant.model_validate(d) for d in docs], marks.variant_ids, now)
    if hit is not None:
        if gated and hit.pregen and hit.variant_id != admitted:
            return None  # not the variant admitted before the transaction: the miss path charges the quota
        tx.set(seen_collection(user_id), pk, remember(marks, hit.variant_id, now).doc())
    return hit


def serve_cached(
    store: DocumentStore, *, user_id: str, pk: str, now: float, attempts: int = 4, admit: Admit | None = None
) -> Variant | None:
    """The cache-hit path alone: an unseen servable variant marked seen (or None: every variant is seen).

    No transaction: a bounded page of the key's variants (HIT_PAGE, oldest first) and the user's seen
    document are read at once, and the seen document is written back by compare-and-set: two
    sequential round trips on Firestore. Only a user who has seen a whole page reads one more page, as
    long as their (bounded) seen list plus HIT_PAGE. Variant records are immutable once written, so a
    list read a moment ago can only lack a newer variant; the miss path looks again. The compare-and-
    set means a concurrent request of the same user can never be shown the same variant: the loser
    re-reads and picks another. Past `attempts` lost races it falls back to one transaction. `admit`
    may refuse the picked variant (a pre-generated one its first viewer cannot pay for) by raising.
    """
    seen = seen_collection(user_id)
    variants, (marks_doc, version) = overlapped(
        store, lambda: _servable_page(store, pk, now, HIT_PAGE), lambda: store.get_versioned(seen, pk)
    )
    widened = False
    for _ in range(attempts):
        marks = marks_of(marks_doc, pk)
        hit = pick_unseen(variants, marks.variant_ids, now)
        if hit is None and not widened and len(variants) >= HIT_PAGE:
            widened = True  # every variant of the first page seen: look as far as the seen list reaches
            variants = _servable_page(store, pk, now, len(marks.variant_ids) + HIT_PAGE)
            hit = pick_unseen(variants, marks.variant_ids, now)
        if hit is None:
            return None
        if admit is not None:
            admit(hit)
        if store.write_if_unchanged(seen, pk, remember(marks, hit.variant_id, now).doc(), version):
            return hit
        marks_doc, version = store.get_versioned(seen, pk)
    # `admit` writes (and may charge the quota): it runs before the transaction, on what the last read
    # would pick, and the transaction serves that variant or one needing no admission.
    admitted = None
    if admit is not None and (hit := pick_unseen(variants, marks_of(marks_doc, pk).variant_ids, now)) is not None:
        admit(hit)
        admitted = hit.variant_id
    return store.transaction(lambda tx: _try_hit(tx, user_id, pk, now, admit is not None, admitted))


def mark_published(store: DocumentStore, job_id: str) -> None:
    store.update(JOBS, job_id, {"published": True})


def claim(store: DocumentStore, job_id: str, *, worker_id: str, now: float, lease_seconds: float) -> Job | None:
    """The job, now running under this worker's lease; None if it is finished or held by a live lease.

    A job whose cancel was requested and that no live lease holds (queued, or its worker died) is
    canceled here, so its message is acked with the job finished rather than left running forever."""

    def run(tx: Tx) -> Job | None:
        job = _job(tx, job_id)
        if job is None or job.status.terminal:
            return None
        if job.cancel_requested and (job.status is JobStatus.QUEUED or job.lease_expires_at <= now):
            _clear_inflight(tx, job, tx.get(INFLIGHT, job.pk))
            error = JobError(code="canceled", message="canceled by the user")
            tx.set(JOBS, job_id, transition(job, JobStatus.CANCELED, now).model_copy(update={"error": error}).doc())
            return None
        if not claimable(job, now):
            return None
        running = transition(job, JobStatus.RUNNING, now).model_copy(
            update={
                "lease_owner": worker_id,
                "lease_expires_at": now + lease_seconds,
                "attempts": job.attempts + 1,
                "started_at": job.started_at or now,
            }
        )
        tx.set(JOBS, job_id, running.doc())
        return running

    return store.transaction(run)


def heartbeat(store: DocumentStore, job_id: str, *, worker_id: str, now: float, lease_seconds: float) -> bool:
    """Extend the lease; returns the job's cancel flag. Conflict if the lease was lost."""

    def run(tx: Tx) -> bool:
        job = _job(tx, job_id)
        if job is None or job.lease_owner != worker_id or job.status is not JobStatus.RUNNING:
            raise Conflict(f"lease on job {job_id} lost")
        tx.update(JOBS, job_id, {"lease_expires_at": now + lease_seconds, "updated_at": now})
        return job.cancel_requested

    return store.transaction(run)


def report_progress(store: DocumentStore, job_id: str, *, step: int, total: int, now: float) -> None:
    store.update(JOBS, job_id, {"progress": {"step": step, "total": total}, "updated_at": now})


def save_remote_task(store: DocumentStore, job_id: str, task_id: str, now: float) -> None:
    store.update(JOBS, job_id, {"remote_task_id": task_id, "updated_at": now})


def _clear_inflight(tx: Tx, job: Job, inflight: dict[str, object] | None) -> None:
    if inflight is not None and inflight.get("job_id") == job.job_id:
        tx.delete(INFLIGHT, job.pk)


def complete(store: DocumentStore, job_id: str, variant: Variant, *, now: float) -> Job:
    """Variant ready (first writer wins, living as long as its objects), job succeeded, in one
    transaction of a fixed size: the waiters learn the result when they read the task."""
    if not variant.expire_at:
        variant = variant.model_copy(update={"expire_at": variant.created_at + VARIANT_LIFETIME_DAYS * 86400.0})

    def run(tx: Tx) -> Job:
        job = _job(tx, job_id)
        if job is None:
            raise NotFound(f"job {job_id} vanished")
        if job.status.terminal:
            return job
        inflight = tx.get(INFLIGHT, job.pk)
        existing = tx.get(VARIANTS, variant.variant_id)
        key_doc = tx.get(PROMPT_KEYS, job.pk)
        if existing is None:
            tx.create(VARIANTS, variant.variant_id, variant.doc())
            if key_doc is not None:
                tx.update(PROMPT_KEYS, job.pk, {"variant_count": int(key_doc.get("variant_count", 0)) + 1})
        _clear_inflight(tx, job, inflight)
        total = job.progress.total or 1
        done = transition(job, JobStatus.SUCCEEDED, now).model_copy(
            update={"progress": Progress(step=total, total=total)}
        )
        tx.set(JOBS, job_id, done.doc())
        return done

    done = store.transaction(run)
    deliver_to_waiters(store, done, now)
    return done


def finish(store: DocumentStore, job_id: str, status: JobStatus, *, now: float, error: JobError | None = None) -> Job:
    """Fail or cancel a job (idempotent on terminal jobs)."""

    def run(tx: Tx) -> Job:
        job = _job(tx, job_id)
        if job is None:
            raise NotFound(f"job {job_id} vanished")
        if job.status.terminal:
            return job
        inflight = tx.get(INFLIGHT, job.pk)
        _clear_inflight(tx, job, inflight)
        ended = transition(job, status, now).model_copy(update={"error": error})
        tx.set(JOBS, job_id, ended.doc())
        return ended

    return store.transaction(run)


def release(store: DocumentStore, job_id: str, *, worker_id: str, error: JobError, now: float) -> None:
    """Give a running job back after a transient error: lease cleared, reason kept, status unchanged."""

    def run(tx: Tx) -> None:
        job = _job(tx, job_id)
        if job is not None and job.lease_owner == worker_id and job.status is JobStatus.RUNNING:
            tx.update(
                JOBS,
                job_id,
                {"lease_owner": None, "lease_expires_at": 0.0, "error": error.model_dump(), "updated_at": now},
            )

    store.transaction(run)


def request_cancel(store: DocumentStore, job_id: str, *, now: float) -> Job:
    """Cancel the job for everyone: queued → canceled at once; running → flagged (the worker stops
    between steps, or the next claim of an abandoned job cancels it); finished → Conflict.

    One user of a shared job leaving it while others wait is singleflight.leave."""

    def run(tx: Tx) -> Job:
        job = _job(tx, job_id)
        if job is None:
            raise NotFound(f"task '{job_id}' not found")
        if job.status.terminal:
            raise Conflict(f"task '{job_id}' already {job.status.value}")
        if job.status is JobStatus.QUEUED:
            inflight = tx.get(INFLIGHT, job.pk)
            _clear_inflight(tx, job, inflight)
            canceled = transition(job, JobStatus.CANCELED, now).model_copy(
                update={"cancel_requested": True, "error": JobError(code="canceled", message="canceled by the user")}
            )
            tx.set(JOBS, job_id, canceled.doc())
            return canceled
        inflight = tx.get(INFLIGHT, job.pk)
        _clear_inflight(tx, job, inflight)  # a job being canceled captures no new requests
        flagged = job.model_copy(update={"cancel_requested": True, "updated_at": now})
        tx.set(JOBS, job_id, flagged.doc())
        return flagged

    return store.transaction(run)
