"""Who is shown what, outside the hit path (docs/ARCHITECTURE.md, Single-flight): the seen list written
by compare-and-set, the waiters of a finished job told in bounded batches after its transaction
(FANOUT_MAX at most: the rest learn the result when they read their task or first use the variant),
and the ownership check behind animate, detail and mark-seen (`served_to`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shared.concurrency import overlapped
from shared.domain.models import Job, JobStatus, SeenMarks, Variant, Waiter, WaiterState
from shared.domain.selection import remember
from shared.ports import Doc, DocumentStore, Tx
from shared.records import JOBS, WAITERS, seen_collection, waiter_id


def marks_of(doc: Doc | None, pk: str) -> SeenMarks:
    return SeenMarks.model_validate(doc) if doc else SeenMarks(pk=pk)


def remember_seen(store: DocumentStore, *, user_id: str, pk: str, variant_id: str, now: float) -> None:
    """Add one variant to the user's seen list for its key (compare-and-set; a transaction past 4 races)."""
    for _ in range(4):
        doc, version = store.get_versioned(seen_collection(user_id), pk)
        marks = remember(marks_of(doc, pk), variant_id, now)
        if store.write_if_unchanged(seen_collection(user_id), pk, marks.doc(), version):
            return

    def run(tx: Tx) -> None:
        marks = remember(marks_of(tx.get(seen_collection(user_id), pk), pk), variant_id, now)
        tx.set(seen_collection(user_id), pk, marks.doc())

    store.transaction(run)


FANOUT_BATCH = 100  # waiters told per query after a job succeeds
FANOUT_MAX = 2000  # past this many, the rest learn the result when they read their task


def deliver(store: DocumentStore, job: Job, waiter: Waiter, now: float) -> None:
    """A waiting user is shown the finished job's variant: it joins their seen list, once."""
    if job.status is not JobStatus.SUCCEEDED or waiter.state is not WaiterState.WAITING:
        return
    remember_seen(store, user_id=waiter.user_id, pk=job.pk, variant_id=job.variant_id, now=now)
    store.update(WAITERS, waiter_id(job.job_id, waiter.user_id), {"state": WaiterState.DELIVERED.value})


def deliver_to_waiters(store: DocumentStore, job: Job, now: float) -> int:
    """After the job succeeded, outside its transaction: its waiters are shown the variant, a batch at
    a time (each delivered waiter leaves the `waiting` query), at most FANOUT_MAX of them. A crash
    midway loses nothing: whoever was not told learns it on reading the task (deliver)."""
    told = 0
    while told < FANOUT_MAX:
        docs = store.query(
            WAITERS,
            [("job_id", "==", job.job_id), ("state", "==", WaiterState.WAITING.value)],
            limit=min(FANOUT_BATCH, FANOUT_MAX - told),
        )
        if not docs:
            break
        waiters = [Waiter.model_validate(d) for d in docs]
        if store.concurrent_reads:  # network round trips: tell a batch 8 at a time
            with ThreadPoolExecutor(max_workers=8, thread_name_prefix="soul-fanout") as pool:
                list(pool.map(lambda w: deliver(store, job, w, now), waiters))
        else:
            for waiter in waiters:
                deliver(store, job, waiter, now)
        told += len(docs)
    return told


def served_to(store: DocumentStore, *, user_id: str, variant: Variant, now: float) -> bool:
    """Whether the user was served `variant` (may animate or mark it): it is in their seen list, or it is
    the result of a job they wait on and have not left. A waiter the bounded fan-out did not reach
    (past FANOUT_MAX) is delivered here, as on reading their task, so the variant is in their seen list
    before they use it; a user who left the job is never shown its variant."""
    marks, found = overlapped(
        store,
        lambda: store.get(seen_collection(user_id), variant.pk),
        lambda: store.get(WAITERS, waiter_id(variant.job_id, user_id)),
    )
    if marks is not None and variant.variant_id in marks_of(marks, variant.pk).variant_ids:
        return True
    waiter = Waiter.model_validate(found) if found else None
    if waiter is None or waiter.state is WaiterState.LEFT:
        return False
    if waiter.state is WaiterState.DELIVERED:  # told already (the seen list keeps its newest marks only)
        return True
    job = _job_doc(store, variant.job_id)
    if job is None or job.status is not JobStatus.SUCCEEDED or job.variant_id != variant.variant_id:
        return False
    deliver(store, job, waiter, now)
    return True


def served_among(store: DocumentStore, *, user_id: str, pk: str, variants: list[Variant], now: float) -> list[Variant]:
    """Those of one key's `variants` served to the user, by the rule of `served_to`, in two batched reads
    (their seen list for the key, and their waiter documents of the variants' jobs) plus one check per
    variant whose waiter is still waiting (rare: a fan-out past FANOUT_MAX)."""
    seen = set(marks_of(store.get(seen_collection(user_id), pk), pk).variant_ids)
    rest = [v for v in variants if v.variant_id not in seen]
    waiters = store.get_many(WAITERS, [waiter_id(v.job_id, user_id) for v in rest]) if rest else []
    maybe = {v.variant_id for v, w in zip(rest, waiters, strict=True) if w is not None}
    return [
        v
        for v in variants
        if v.variant_id in seen or (v.variant_id in maybe and served_to(store, user_id=user_id, variant=v, now=now))
    ]


def _job_doc(store: DocumentStore, job_id: str) -> Job | None:
    doc = store.get(JOBS, job_id)
    return Job.model_validate(doc) if doc else None


def mark_seen(store: DocumentStore, *, user_id: str, variant: Variant, now: float) -> None:
    remember_seen(store, user_id=user_id, pk=variant.pk, variant_id=variant.variant_id, now=now)
