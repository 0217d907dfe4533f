"""Single-flight per prompt key without a contended document (docs/ARCHITECTURE.md, Records and Job lifecycle).

- `inflight/{pk}` names the key's live job (and carries it as created, ~1 KB, for the moment before
  the job document exists). The first request for a key wins it by create-if-absent (compare-and-set
  with version "": one round trip, exactly one winner, no transaction for the others to abort); the
  winner then writes its job and its own waiter document.
- Every other request attaches by writing its own `waiters/{job}_{user}` document: one small write
  per user, never a rewrite of the job or of an array that grows with the key's popularity.
- A marker whose job no longer captures requests (finished, being canceled, dead-lettered, silent for
  lease x attempts, or never written by a creator that died) is replaced by compare-and-set on the
  version that was read: the next request starts a new job, so a key never wedges.
- Completion does not touch waiters in its transaction: lifecycle.deliver_to_waiters tells them in
  batches afterwards, and any it did not reach learn the result when they read their task.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from shared.domain.jobs import captures_requests
from shared.domain.models import Job, JobStatus, PromptKey, Variant, Waiter, WaiterState
from shared.errors import Conflict, TransactionConflict
from shared.lifecycle import Admit, Served, request_cancel, serve_cached
from shared.ports import Doc, DocumentStore, Tx
from shared.records import INFLIGHT, JOB_LIFETIME_SECONDS, JOBS, PROMPT_KEYS, WAITERS, waiter_id

ATTEMPTS = 8  # rounds of read-marker / attach-or-replace before giving up (each lost only to a new job)
CREATOR_GRACE_SECONDS = 10.0  # a marker whose job was never written is abandoned after this


def _waiter(job: Job, user_id: str, now: float) -> Waiter:
    return Waiter(job_id=job.job_id, user_id=user_id, pk=job.pk, created_at=now, expire_at=job.expire_at)


def attach(store: DocumentStore, job: Job, user_id: str, now: float) -> None:
    """The user waits for `job` (again, if they had left it): one write to their own document."""
    store.set(WAITERS, waiter_id(job.job_id, user_id), _waiter(job, user_id, now).doc())


def _job_behind(store: DocumentStore, marker: Doc, now: float, trusted_for: float) -> Job | None:
    """The marker's job. A marker exists only while its job is unfinished and not being canceled
    (every move to a terminal state, and a cancel request, deletes it in the same transaction), so for
    a young marker the job as created, which it carries, is enough to attach to: no read of the job
    document (the one every attacher of a hot new key would make) and nothing to wait for while the
    creator is still writing it. An older marker's job is read for its liveness (lease, attempts); one
    whose job never appeared within CREATOR_GRACE_SECONDS is abandoned."""
    age = now - float(marker.get("created_at", 0.0))
    snapshot = marker.get("job")
    if age < trusted_for and isinstance(snapshot, dict):
        return Job.model_validate(snapshot)
    doc = store.get(JOBS, str(marker.get("job_id", "")))
    if doc is not None:
        return Job.model_validate(doc)
    return Job.model_validate(snapshot) if age < CREATOR_GRACE_SECONDS and isinstance(snapshot, dict) else None


def _create(store: DocumentStore, job: Job, key: PromptKey, user_id: str, now: float) -> None:
    """The winner's writes, all or nothing: the job, its creator's waiter document, the prompt key."""

    def run(tx: Tx) -> None:
        has_key = tx.get(PROMPT_KEYS, key.pk) is not None
        if not has_key:
            tx.create(PROMPT_KEYS, key.pk, key.doc())
        tx.create(JOBS, job.job_id, job.doc())
        tx.create(WAITERS, waiter_id(job.job_id, user_id), _waiter(job, user_id, now).doc())

    store.transaction(run)


def serve_or_submit(
    store: DocumentStore,
    *,
    user_id: str,
    candidate: Job,
    key: PromptKey,
    now: float,
    lease_seconds: float,
    max_attempts: int,
    allow_cached: bool = True,
    admit: Admit | None = None,
    cached: Callable[[], Variant | None] | None = None,
) -> Served:
    """The key's live job with this user attached, else `candidate` created as the key's new job.

    The cache was looked at just before, but the key's job may have finished since: its completion
    writes the variant and deletes the marker in one transaction, so a missing marker is read as "maybe
    just finished" and the cache is read once more before a second job is started for the key. That
    read is `cached` when given (a seeded request: that seed's variant, seen or not, shared/seeded.py),
    else an unseen variant of the key."""
    job = candidate.model_copy(update={"expire_at": now + JOB_LIFETIME_SECONDS})
    if cached is None:
        cached = lambda: serve_cached(store, user_id=user_id, pk=key.pk, now=now, admit=admit)  # noqa: E731
    for attempt in range(ATTEMPTS):
        marker, version = store.get_versioned(INFLIGHT, key.pk)
        if marker is None and attempt == 0 and allow_cached:
            hit = cached()
            if hit is not None:
                return Served(variant=hit)
        if marker is not None:
            current = _job_behind(store, marker, now, trusted_for=min(lease_seconds, CREATOR_GRACE_SECONDS))
            if current is not None and captures_requests(
                current, now, lease_seconds=lease_seconds, max_attempts=max_attempts
            ):
                attach(store, current, user_id, now)
                return Served(job=current)
            if current is not None and current.status is JobStatus.SUCCEEDED and allow_cached:
                hit = cached()
                if hit is not None:
                    return Served(variant=hit)
        fresh = {"job_id": job.job_id, "created_at": now, "expire_at": now + JOB_LIFETIME_SECONDS, "job": job.doc()}
        if store.write_if_unchanged(INFLIGHT, key.pk, fresh, version):
            _create(store, job, key, user_id, now)
            return Served(job=job, created=True)
    raise TransactionConflict(f"prompt key {key.pk} kept changing; try again")


def submit_direct(store: DocumentStore, job: Job, now: float) -> Job:
    """A job outside the cache (e.g. Wan generate-direct): created with its owner's waiter document."""
    job = job.model_copy(update={"expire_at": now + JOB_LIFETIME_SECONDS})

    def run(tx: Tx) -> None:
        tx.create(JOBS, job.job_id, job.doc())
        tx.create(WAITERS, waiter_id(job.job_id, job.owner), _waiter(job, job.owner, now).doc())

    store.transaction(run)
    return job


def waiting_others(store: DocumentStore, job_id: str, user_id: str) -> bool:
    """Whether someone other than `user_id` still waits for the job (reads at most two documents)."""
    docs = store.query(WAITERS, [("job_id", "==", job_id), ("state", "==", WaiterState.WAITING.value)], limit=2)
    return any(d.get("user_id") != user_id for d in docs)


def leave(store: DocumentStore, job_id: str, user_id: str, now: float) -> bool:
    """One user cancels a shared job for themselves. True: their waiter document says so and the job
    goes on for the others. False: nobody else waits, so the job itself was canceled. (When the last
    two leave at once, whoever looks last finds nobody waiting and cancels the job.)"""
    if not waiting_others(store, job_id, user_id):
        request_cancel(store, job_id, now=now)
        return False
    store.update(WAITERS, waiter_id(job_id, user_id), {"state": WaiterState.LEFT.value})
    if not waiting_others(store, job_id, user_id):
        with contextlib.suppress(Conflict):  # finished meanwhile, or canceled by the other last leaver
            request_cancel(store, job_id, now=now)
    return True
