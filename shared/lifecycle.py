"""The job lifecycle as transactions on the DocumentStore, used by the API and the worker alike.

Invariants (DESIGN §5): a job document exists before its message is published; N identical misses
attach to one in-flight job (single-flight per prompt key); a worker claims a job under a lease
before working on it; the variant record is created once (first writer wins) and written after the
artifacts; status only moves forward; a user is never shown a variant twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.concurrency import overlapped
from shared.domain.jobs import claimable, transition
from shared.domain.models import Job, JobError, JobStatus, Progress, PromptKey, SeenMarks, Variant
from shared.domain.selection import pick_unseen
from shared.errors import Conflict, NotFound
from shared.ports import DocumentStore, Tx
from shared.records import INFLIGHT, JOBS, PROMPT_KEYS, VARIANTS, seen_collection


@dataclass(frozen=True)
class Served:
    """The outcome of a request: a cached variant (hit) or the job that will make one."""

    variant: Variant | None = None
    job: Job | None = None
    created: bool = False


def _job(tx: Tx, job_id: str) -> Job | None:
    doc = tx.get(JOBS, job_id)
    return Job.model_validate(doc) if doc else None


def _add_seen(tx: Tx, user_id: str, marks: SeenMarks | None, pk: str, variant_id: str, now: float) -> None:
    marks = marks or SeenMarks(pk=pk)
    if variant_id not in marks.variant_ids:
        marks.variant_ids.append(variant_id)
    marks.updated_at = now
    tx.set(seen_collection(user_id), pk, marks.doc())


def _seen(tx: Tx, user_id: str, pk: str) -> SeenMarks | None:
    doc = tx.get(seen_collection(user_id), pk)
    return SeenMarks.model_validate(doc) if doc else None


def _try_hit(tx: Tx, user_id: str, pk: str, now: float) -> Variant | None:
    variants = [Variant.model_validate(d) for d in tx.query(VARIANTS, [("pk", "==", pk)])]
    marks = _seen(tx, user_id, pk)
    hit = pick_unseen(variants, marks.variant_ids if marks else [])
    if hit is not None:
        _add_seen(tx, user_id, marks, pk, hit.variant_id, now)
    return hit


def serve_cached(store: DocumentStore, *, user_id: str, pk: str, now: float, attempts: int = 4) -> Variant | None:
    """The cache-hit path alone: an unseen ready variant marked seen (or None: every variant is seen).

    No transaction: the key's variants and the user's seen document are read at once, and the seen
    document is written back by compare-and-set: two sequential round trips on Firestore instead of
    a transaction's four (begin, query, get, commit). Variant records are immutable once written, so
    a list read a moment ago can only lack a newer variant; the miss path's transaction looks again.
    The seen document is the only thing written, and the compare-and-set means a concurrent request of
    the same user can never be shown the same variant: the loser re-reads and picks another. Past
    `attempts` lost races it falls back to one transaction.
    """
    seen = seen_collection(user_id)
    docs, (marks_doc, version) = overlapped(
        store, lambda: store.query(VARIANTS, [("pk", "==", pk)]), lambda: store.get_versioned(seen, pk)
    )
    variants = [Variant.model_validate(d) for d in docs]
    for _ in range(attempts):
        marks = SeenMarks.model_validate(marks_doc) if marks_doc else SeenMarks(pk=pk)
        hit = pick_unseen(variants, marks.variant_ids)
        if hit is None:
            return None
        marks.variant_ids.append(hit.variant_id)
        marks.updated_at = now
        if store.write_if_unchanged(seen, pk, marks.doc(), version):
            return hit
        marks_doc, version = store.get_versioned(seen, pk)
    return store.transaction(lambda tx: _try_hit(tx, user_id, pk, now))


def serve_or_submit(
    store: DocumentStore, *, user_id: str, candidate: Job, key: PromptKey, now: float, allow_cached: bool = True
) -> Served:
    """One transaction: an unseen ready variant (marked seen), else the in-flight job, else a new job."""

    def run(tx: Tx) -> Served:
        hit = _try_hit(tx, user_id, key.pk, now) if allow_cached else None
        if hit is not None:
            return Served(variant=hit)
        inflight = tx.get(INFLIGHT, key.pk)
        current = _job(tx, str(inflight["job_id"])) if inflight else None
        if current is not None and not current.status.terminal:
            if user_id not in current.waiting_user_ids:
                attached = {
                    "user_ids": current.user_ids if user_id in current.user_ids else [*current.user_ids, user_id],
                    "left_user_ids": [u for u in current.left_user_ids if u != user_id],  # back again
                }
                tx.update(JOBS, current.job_id, attached)
                current = current.model_copy(update=attached)
            return Served(job=current)
        has_key = tx.get(PROMPT_KEYS, key.pk) is not None
        if not has_key:
            tx.create(PROMPT_KEYS, key.pk, key.doc())
        tx.create(JOBS, candidate.job_id, candidate.doc())
        tx.set(INFLIGHT, key.pk, {"job_id": candidate.job_id, "created_at": now})
        return Served(job=candidate, created=True)

    return store.transaction(run)


def submit_direct(store: DocumentStore, job: Job) -> Job:
    """A job outside the cache (e.g. Wan generate-direct): created, never single-flighted."""
    store.transaction(lambda tx: tx.create(JOBS, job.job_id, job.doc()))
    return job


def mark_published(store: DocumentStore, job_id: str) -> None:
    store.update(JOBS, job_id, {"published": True})


def mark_seen(store: DocumentStore, *, user_id: str, variant: Variant, now: float) -> None:
    def run(tx: Tx) -> None:
        _add_seen(tx, user_id, _seen(tx, user_id, variant.pk), variant.pk, variant.variant_id, now)

    store.transaction(run)


def claim(store: DocumentStore, job_id: str, *, worker_id: str, now: float, lease_seconds: float) -> Job | None:
    """The job, now running under this worker's lease; None if it is finished or held by a live lease."""

    def run(tx: Tx) -> Job | None:
        job = _job(tx, job_id)
        if job is None or not claimable(job, now):
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
    """Variant ready (first writer wins), job succeeded, shown to its waiting users, in one transaction."""

    def run(tx: Tx) -> Job:
        job = _job(tx, job_id)
        if job is None:
            raise NotFound(f"job {job_id} vanished")
        if job.status.terminal:
            return job
        inflight = tx.get(INFLIGHT, job.pk)
        existing = tx.get(VARIANTS, variant.variant_id)
        key_doc = tx.get(PROMPT_KEYS, job.pk)
        marks = {uid: _seen(tx, uid, job.pk) for uid in job.waiting_user_ids}
        if existing is None:
            tx.create(VARIANTS, variant.variant_id, variant.doc())
            if key_doc is not None:
                tx.update(PROMPT_KEYS, job.pk, {"variant_count": int(key_doc.get("variant_count", 0)) + 1})
        for uid, seen in marks.items():
            _add_seen(tx, uid, seen, job.pk, variant.variant_id, now)
        _clear_inflight(tx, job, inflight)
        total = job.progress.total or 1
        done = transition(job, JobStatus.SUCCEEDED, now).model_copy(
            update={"progress": Progress(step=total, total=total)}
        )
        tx.set(JOBS, job_id, done.doc())
        return done

    return store.transaction(run)


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


def request_cancel(store: DocumentStore, job_id: str, *, now: float, user_id: str | None = None) -> Job:
    """Queued → canceled at once; running → flagged (the worker stops between steps); finished → Conflict.

    A job is shared by every user who asked for the same thing while it was in flight (single-flight).
    One of them canceling only takes that user off it while others still wait: their request goes on,
    and the leaver joins `left_user_ids` (still listed, seen as canceled, never shown the variant).
    The last user waiting cancels the job itself. `user_id` None (an operator) cancels it for everyone.
    """

    def run(tx: Tx) -> Job:
        job = _job(tx, job_id)
        if job is None:
            raise NotFound(f"task '{job_id}' not found")
        if job.status.terminal:
            raise Conflict(f"task '{job_id}' already {job.status.value}")
        others = [u for u in job.waiting_user_ids if u != user_id]
        if user_id is not None and user_id in job.waiting_user_ids and others:
            left = {"left_user_ids": [*job.left_user_ids, user_id], "updated_at": now}
            tx.update(JOBS, job_id, left)
            return job.model_copy(update=left)
        if job.status is JobStatus.QUEUED:
            inflight = tx.get(INFLIGHT, job.pk)
            _clear_inflight(tx, job, inflight)
            canceled = transition(job, JobStatus.CANCELED, now).model_copy(
                update={"cancel_requested": True, "error": JobError(code="canceled", message="canceled by the user")}
            )
            tx.set(JOBS, job_id, canceled.doc())
            return canceled
        flagged = job.model_copy(update={"cancel_requested": True, "updated_at": now})
        tx.set(JOBS, job_id, flagged.doc())
        return flagged

    return store.transaction(run)
