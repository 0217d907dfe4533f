"""Single-flight on a viral key, on each adapter set (scaled-down versions of `soul bench viral`):
one job for a crowd of first requests, waiters as one small document each, completion that touches no
waiter, every waiter reading its result, and a key that never wedges behind a dead job."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared import lifecycle, singleflight
from shared.domain.models import GenerationSpec, Job, JobError, JobStatus, Kind, PromptKey, Variant, Waiter
from shared.ids import new_id
from shared.records import INFLIGHT, JOBS, VARIANTS, WAITERS, seen_collection, waiter_id

pytestmark = pytest.mark.contract

LEASE, ATTEMPTS = 10.0, 5


def key(pk: str = "pk-viral") -> PromptKey:
    return PromptKey(pk=pk, soul_id="nova", kind=Kind.IMAGE, text="penguin", style_version=1, params_digest="d")


def candidate(user: str, pk: str = "pk-viral", now: float = 100.0) -> Job:
    spec = GenerationSpec(kind=Kind.IMAGE, soul_id="nova", prompt="penguin", seed=1)
    return Job(
        job_id=new_id(), kind=Kind.IMAGE, lane="image", pk=pk, spec=spec, variant_id=new_id(), owner=user,
        user_ids=[user], created_at=now, updated_at=now,
    )  # fmt: skip


def request(store: Any, user: str, now: float = 100.0, pk: str = "pk-viral") -> lifecycle.Served:
    return singleflight.serve_or_submit(
        store, user_id=user, candidate=candidate(user, pk, now), key=key(pk), now=now,
        lease_seconds=LEASE, max_attempts=ATTEMPTS,
    )  # fmt: skip


def crowd(n: int, workers: int, fn: Callable[[int], Any]) -> list[Any]:
    go = threading.Barrier(min(n, workers))

    def run(i: int) -> Any:
        if i < workers:
            go.wait()
        return fn(i)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, range(n)))


def finish_job(store: Any, job: Job, now: float) -> Variant:
    claimed = lifecycle.claim(store, job.job_id, worker_id="w", now=now, lease_seconds=LEASE)
    assert claimed is not None
    variant = Variant(
        variant_id=job.variant_id, pk=job.pk, kind=Kind.IMAGE, soul_id="nova", seed=1, generator="contract",
        job_id=job.job_id, created_at=now,
    )  # fmt: skip
    lifecycle.complete(store, job.job_id, variant, now=now)
    return Variant.model_validate(store.get(VARIANTS, variant.variant_id))


def biggest_doc(store: Any, collection: str, filters: list[Any]) -> int:
    return max(len(json.dumps(d)) for d in store.query(collection, filters, limit=1000))


def test_a_crowd_of_first_requests_makes_one_job_and_every_waiter_gets_the_variant(backend: Any) -> None:
    store = backend.store
    served = crowd(40, 16, lambda i: request(store, f"user{i}"))
    assert sum(s.created for s in served) == 1
    assert len({s.job.job_id for s in served}) == 1
    job = next(s.job for s in served if s.created)
    assert store.count(JOBS) == 1 and store.count(WAITERS, [("job_id", "==", job.job_id)]) == 40
    assert biggest_doc(store, JOBS, []) < 10_000

    variant = finish_job(store, job, 101.0)
    assert store.get(INFLIGHT, job.pk) is None
    for i in range(40):  # each waiter reads its task: the variant joins their seen list
        waiter = Waiter.model_validate(store.get(WAITERS, waiter_id(job.job_id, f"user{i}")))
        lifecycle.deliver(store, Job.model_validate(store.get(JOBS, job.job_id)), waiter, 102.0)
        assert store.get(seen_collection(f"user{i}"), job.pk)["variant_ids"] == [variant.variant_id]
    assert lifecycle.serve_cached(store, user_id="user3", pk=job.pk, now=103.0) is None  # never shown twice
    assert lifecycle.serve_cached(store, user_id="newcomer", pk=job.pk, now=103.0) == variant


def test_waiters_attached_in_batches_stay_small_documents(backend: Any) -> None:
    store = backend.store
    job = request(store, "creator").job
    assert job is not None
    crowd(150, 8, lambda i: request(store, f"w{i}"))
    assert store.count(WAITERS, [("job_id", "==", job.job_id)]) == 151
    finish_job(store, job, 101.0)
    done = Job.model_validate(store.get(JOBS, job.job_id))
    assert done.status is JobStatus.SUCCEEDED and done.user_ids == ["creator"]
    assert max(biggest_doc(store, c, []) for c in (JOBS, WAITERS)) < 10_000


def test_a_job_that_no_longer_captures_requests_is_replaced(backend: Any) -> None:
    store = backend.store
    failed = request(store, "a").job
    assert failed is not None
    lifecycle.finish(store, failed.job_id, JobStatus.FAILED, now=101.0, error=JobError(code="x", message="dead"))
    fresh = request(store, "b", now=102.0)
    assert fresh.created and fresh.job is not None and fresh.job.job_id != failed.job_id

    silent = fresh.job  # never published, never claimed: silent past lease x attempts
    assert request(store, "c", now=102.0 + LEASE * ATTEMPTS - 1).job == silent
    later = request(store, "d", now=102.0 + LEASE * ATTEMPTS + 1)
    assert later.created and later.job is not None and later.job.job_id != silent.job_id

    # A creator that died between winning the key and writing its job: abandoned after a grace.
    store.set(INFLIGHT, "pk-orphan", {"job_id": "never-written", "created_at": 100.0, "expire_at": 1e10})
    orphan = request(store, "e", now=100.0 + singleflight.CREATOR_GRACE_SECONDS + 1, pk="pk-orphan")
    assert orphan.created and orphan.job is not None and orphan.job.job_id != "never-written"


def test_a_user_leaving_a_shared_job_and_the_last_one_canceling_it(backend: Any) -> None:
    store = backend.store
    job = request(store, "a").job
    assert job is not None
    request(store, "b")
    assert singleflight.leave(store, job.job_id, "a", 101.0) is True  # b still waits
    assert Job.model_validate(store.get(JOBS, job.job_id)).status is JobStatus.QUEUED
    assert singleflight.leave(store, job.job_id, "b", 102.0) is False  # the last one: the job itself
    assert Job.model_validate(store.get(JOBS, job.job_id)).status is JobStatus.CANCELED
    assert store.get(INFLIGHT, job.pk) is None


def test_distinct_users_on_a_hot_key_lose_no_seen_update(backend: Any) -> None:
    store = backend.store
    job = request(store, "creator").job
    assert job is not None
    variant = finish_job(store, job, 101.0)
    hits = crowd(120, 4, lambda i: lifecycle.serve_cached(store, user_id=f"fan{i}", pk=job.pk, now=102.0))
    assert all(h == variant for h in hits)
    seen = [store.get(seen_collection(f"fan{i}"), job.pk) or {} for i in range(120)]
    assert [i for i, doc in enumerate(seen) if doc.get("variant_ids") != [variant.variant_id]] == []
    assert store.count(VARIANTS) == 1


def test_a_request_that_read_the_cache_before_completion_is_served_not_given_a_second_job(backend: Any) -> None:
    """The window of issue 23, forced: user2's cache read came before the job finished (there was nothing to
    serve), its marker read after (the marker is gone). Without the second look at the cache, user2 would
    start a second job for the same key."""
    store = backend.store
    first = request(store, "user1")
    assert first.created and first.job is not None
    assert lifecycle.serve_cached(store, user_id="user2", pk="pk-viral", now=100.5) is None  # user2's cache read
    variant = finish_job(store, first.job, 101.0)  # the job completes in between
    assert store.get(INFLIGHT, "pk-viral") is None
    late = request(store, "user2", now=101.5)  # user2's marker read and submit, after completion
    assert not late.created and late.variant is not None and late.variant.variant_id == variant.variant_id
    assert store.count(JOBS) == 1
    # A user who has seen every variant still gets a new job: the second look only serves what is unseen.
    again = request(store, "user2", now=102.0)
    assert again.created and store.count(JOBS) == 2
