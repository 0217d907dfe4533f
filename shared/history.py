"""The user's run history (GET /tasks, docs/PLAYGROUND.md "One history"): one waiter document per job the
user asked for. A request served from the cache makes no job, so it is recorded as the user's own waiter
document of the job that made the variant, already delivered and marked `served_from_cache`.

Written create-if-absent under the waiter's deterministic id (`waiters/{job}_{user}`): a retried or
repeated write is the same document, and a user who already waits on (or left) that job keeps their own
record. It is written after the hit's transaction: a crash in between loses the history line, never the
seen mark (the gallery still has the variant). The record lives as long as a job's waiters do."""

from __future__ import annotations

from shared.domain.models import Variant, Waiter, WaiterState
from shared.ports import DocumentStore
from shared.records import JOB_LIFETIME_SECONDS, WAITERS, waiter_id


def record_cache_hit(store: DocumentStore, *, user_id: str, variant: Variant, now: float) -> bool:
    """The user was served `variant` from the cache: their run record for it (False: one existed)."""
    waiter = Waiter(
        job_id=variant.job_id,
        user_id=user_id,
        pk=variant.pk,
        state=WaiterState.DELIVERED,
        created_at=now,
        expire_at=now + JOB_LIFETIME_SECONDS,
        served_from_cache=True,
    )
    return store.create(WAITERS, waiter_id(variant.job_id, user_id), waiter.doc())
