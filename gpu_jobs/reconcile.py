"""The reconcile pass: nothing is lost on a crash.

- A job created but never published (the API died between the two) is published.
- A running job whose lease expired long ago and whose message is gone is published again.
- Objects under `variants/` with no variant record whose job is finished are orphans and deleted.
"""

from __future__ import annotations

import threading

from shared import lifecycle
from shared.bootstrap import Backend
from shared.domain.models import Job, JobMessage, JobStatus
from shared.errors import SoulError
from shared.logging import get_logger
from shared.records import JOBS, VARIANTS

log = get_logger("soul.reconcile")
GRACE_SECONDS = 30.0


class Reconciler:
    def __init__(self, backend: Backend, *, interval: float = 30.0, grace: float = GRACE_SECONDS) -> None:
        self.backend = backend
        self.interval = interval
        self.grace = grace

    def start(self, stop: threading.Event) -> threading.Thread:
        def loop() -> None:
            while not stop.wait(self.interval):
                try:
                    self.run_once()
                except SoulError as exc:
                    log.warning("reconcile pass failed", extra={"code": exc.code})

        thread = threading.Thread(target=loop, daemon=True, name="reconcile")
        thread.start()
        return thread

    def run_once(self) -> dict[str, int]:
        now = self.backend.clock.now()
        store = self.backend.store
        republished = 0
        for doc in store.query(JOBS, [("status", "==", JobStatus.QUEUED.value), ("published", "==", False)]):
            job = Job.model_validate(doc)
            if now - job.created_at >= self.grace:
                self._publish(job)
                republished += 1
        for doc in store.query(JOBS, [("status", "==", JobStatus.RUNNING.value)]):
            job = Job.model_validate(doc)
            if job.lease_expires_at and now - job.lease_expires_at >= self.grace:
                self._publish(job)
                republished += 1
        return {"republished": republished, "orphans_deleted": self.delete_orphans()}

    def _publish(self, job: Job) -> None:
        data = JobMessage(job_id=job.job_id, lane=job.lane).model_dump_json().encode()
        self.backend.queue.publish(job.lane, data)
        lifecycle.mark_published(self.backend.store, job.job_id)
        log.info("republished job", extra={"job_id": job.job_id, "pk": job.pk})

    def delete_orphans(self) -> int:
        """Objects of variants that will never be recorded (their job ended without them)."""
        deleted = 0
        for name in self.backend.blobs.list("variants/"):
            variant_id = name.split("/")[1]
            if self.backend.store.get(VARIANTS, variant_id) is not None:
                continue
            jobs = self.backend.store.query(JOBS, [("variant_id", "==", variant_id)], limit=1)
            if jobs and JobStatus(jobs[0]["status"]).terminal:
                self.backend.blobs.delete(name)
                deleted += 1
        return deleted
