"""`soul reconcile` on each adapter set: nothing wedges. A dead-lettered job fails with the reason (so
its key takes new requests), a job whose publish was lost is published, and a running job whose
cancel was requested and whose worker died is canceled (a claim would do the same, never an ack)."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_jobs.reconcile import Reconciler
from shared import lifecycle
from shared.bootstrap import Backend, InProcessLauncher
from shared.clock import SystemClock
from shared.domain.models import Job, JobMessage, JobStatus
from shared.records import INFLIGHT, JOBS
from tests.contract.test_singleflight_contract import request

pytestmark = pytest.mark.contract


def _backend(adapters: Any) -> Backend:
    return Backend(
        adapters.settings, adapters.store, adapters.queue, adapters.blobs, InProcessLauncher(), SystemClock()
    )


def _job(store: Any, job_id: str) -> Job:
    return Job.model_validate(store.get(JOBS, job_id))


def test_dead_letters_fail_their_jobs_and_free_the_key(backend: Any) -> None:
    store, queue = backend.store, backend.queue
    job = request(store, "a").job
    assert job is not None
    queue.publish("image", JobMessage(job_id=job.job_id, lane="image").model_dump_json().encode())
    for _ in range(backend.settings.soul_max_delivery_attempts + 1):  # a worker that always crashes
        for delivery in queue.pull("image", 10, 1.5):
            queue.nack("image", delivery.ack_id)
    counts = Reconciler(_backend(backend), grace=1e9).run_once()
    for _ in range(3):  # the emulator forwards dead letters asynchronously
        if counts["dead_lettered"]:
            break
        counts = Reconciler(_backend(backend), grace=1e9).run_once()
    assert counts["dead_lettered"] == 1
    failed = _job(store, job.job_id)
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert failed.error.code == "dead_lettered"
    assert store.get(INFLIGHT, job.pk) is None
    fresh = request(store, "b", now=101.0)
    assert fresh.created and fresh.job is not None and fresh.job.job_id != job.job_id


def test_a_lost_publish_is_published_and_an_abandoned_cancel_is_finished(backend: Any) -> None:
    store, queue = backend.store, backend.queue
    lost = request(store, "a", pk="pk-lost").job  # created, never published
    assert lost is not None
    held = request(store, "b", pk="pk-held").job
    assert held is not None
    assert lifecycle.claim(store, held.job_id, worker_id="dead", now=1.0, lease_seconds=1.0) is not None
    lifecycle.request_cancel(store, held.job_id, now=1.5)  # flagged; its worker dies before seeing it
    assert _job(store, held.job_id).status is JobStatus.RUNNING

    counts = Reconciler(_backend(backend), grace=0.0).run_once()
    assert (counts["republished"], counts["canceled"]) == (1, 1)
    assert _job(store, held.job_id).status is JobStatus.CANCELED
    assert _job(store, lost.job_id).published
    got = queue.pull("image", 10, 5.0)
    assert [JobMessage.model_validate_json(d.data).job_id for d in got] == [lost.job_id]
    queue.ack("image", [d.ack_id for d in got])


def test_a_claim_cancels_a_canceled_job_its_dead_worker_left_running(backend: Any) -> None:
    store = backend.store
    job = request(store, "a").job
    assert job is not None
    assert lifecycle.claim(store, job.job_id, worker_id="dead", now=1.0, lease_seconds=1.0) is not None
    lifecycle.request_cancel(store, job.job_id, now=1.5)
    assert lifecycle.claim(store, job.job_id, worker_id="w2", now=1.8, lease_seconds=10.0) is None  # live lease
    assert _job(store, job.job_id).status is JobStatus.RUNNING
    assert lifecycle.claim(store, job.job_id, worker_id="w2", now=5.0, lease_seconds=10.0) is None
    assert _job(store, job.job_id).status is JobStatus.CANCELED
