"""The reconcile pass: nothing is lost on a crash.

- A job created but never published (the API died between the two) is published.
- A running job whose lease expired long ago and whose message is gone is published again; one
  whose cancel was requested is canceled instead (its worker died before it could stop).
- A lane with queued jobs gets a launch request: a job published while the lane's worker was exiting
  on idle is taken by no running execution, and its dispatch event is spent. The launcher starts an
  execution only when the running ones do not cover the backlog (and at most once per lane per
  interval), so a busy lane costs nothing here.
- Messages on the dead-letter lane (Pub/Sub's dead-letter subscription, SQLite's dead rows) are
  drained: their jobs fail with the reason, so no key waits on a job nobody will run.
- Objects under `variants/` with no variant record whose job is finished are orphans and deleted.
  Each pass looks at the next BATCH objects after where the last pass stopped (a cursor in Firestore,
  back to the start at the end of the bucket), reading their variants in one batch: the bucket is
  covered over several passes instead of listed and read whole every two minutes.
Every query is bounded (BATCH); a backlog larger than that is worked through by the next passes.
In the cloud a Cloud Scheduler job runs `soul reconcile` (docs/ARCHITECTURE.md); `soul dev` runs it
in a thread.
"""

from __future__ import annotations

import threading

from pydantic import ValidationError

from shared import lifecycle
from shared.bootstrap import Backend
from shared.config import LANES
from shared.domain.models import Job, JobError, JobMessage, JobStatus
from shared.errors import NotFound, SoulError
from shared.logging import get_logger
from shared.records import JOBS, RECONCILE, VARIANTS

log = get_logger("soul.reconcile")
GRACE_SECONDS = 30.0
BATCH = 200
DEAD_LANE = "dead"  # the JobQueue adapters' dead-letter lane


class Reconciler:
    def __init__(
        self, backend: Backend, *, interval: float = 30.0, grace: float = GRACE_SECONDS, orphan_batch: int = BATCH
    ) -> None:
        self.backend = backend
        self.interval = interval
        self.grace = grace
        self.orphan_batch = orphan_batch

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
        republished = canceled = 0
        unpublished = store.query(
            JOBS, [("status", "==", JobStatus.QUEUED.value), ("published", "==", False)], limit=BATCH
        )
        for doc in unpublished:
            job = Job.model_validate(doc)
            if now - job.created_at >= self.grace:
                self._publish(job)
                republished += 1
        abandoned = store.query(
            JOBS,
            [("status", "==", JobStatus.RUNNING.value), ("lease_expires_at", "<=", now - self.grace)],
            limit=BATCH,
        )
        for doc in abandoned:
            job = Job.model_validate(doc)
            if not job.lease_expires_at:
                continue  # given back after a transient error: its message comes back by itself
            if job.cancel_requested:
                error = JobError(code="canceled", message="canceled by the user")
                lifecycle.finish(store, job.job_id, JobStatus.CANCELED, now=now, error=error)
                canceled += 1
            else:
                self._publish(job)
                republished += 1
        return {
            "republished": republished,
            "canceled": canceled,
            "relaunch_asked": len(self.relaunch()),
            "dead_lettered": self.drain_dead_letters(),
            "orphans_deleted": self.delete_orphans(),
        }

    def relaunch(self) -> list[str]:
        """Ask the launcher for every lane with queued jobs; a refusal is logged, the next pass asks again."""
        asked = []
        for lane in LANES:
            queued = self.backend.store.count(JOBS, [("lane", "==", lane), ("status", "==", JobStatus.QUEUED.value)])
            if not queued:
                continue
            try:
                self.backend.launcher.launch(lane)
            except SoulError as exc:
                log.warning("relaunch refused", extra={"lane": lane, "code": exc.code})
                continue
            asked.append(lane)
        return asked

    def drain_dead_letters(self) -> int:
        """Fail the job of every dead-lettered message with the reason, then ack it (bounded per pass)."""
        queue, failed = self.backend.queue, 0
        for delivery in queue.pull(DEAD_LANE, 100, 0.5):
            try:
                job_id = JobMessage.model_validate_json(delivery.data).job_id
                reason = JobError(
                    code="dead_lettered",
                    message="the job's message kept failing and was dead-lettered",
                    retryable=True,
                )
                ended = lifecycle.finish(
                    self.backend.store, job_id, JobStatus.FAILED, now=self.backend.clock.now(), error=reason
                )
                failed += ended.error == reason
            except (ValidationError, NotFound):
                log.warning("dead letter without a job; dropped", extra={"message_id": delivery.message_id})
            queue.ack(DEAD_LANE, [delivery.ack_id])
        return failed

    def _publish(self, job: Job) -> None:
        data = JobMessage(job_id=job.job_id, lane=job.lane).model_dump_json().encode()
        self.backend.queue.publish(job.lane, data)
        lifecycle.mark_published(self.backend.store, job.job_id)
        log.info("republished job", extra={"job_id": job.job_id, "pk": job.pk})

    def delete_orphans(self) -> int:
        """Objects of variants that will never be recorded (their job ended without them), among the
        next `orphan_batch` objects after the cursor."""
        store, blobs = self.backend.store, self.backend.blobs
        after = str((store.get(RECONCILE, "orphans") or {}).get("after", ""))
        names = blobs.list("variants/", start_after=after, limit=self.orphan_batch)
        ids = sorted({name.split("/")[1] for name in names})
        docs = store.get_many(VARIANTS, ids) if ids else []
        recorded = {vid for vid, doc in zip(ids, docs, strict=True) if doc is not None}
        deleted = 0
        for name in names:
            variant_id = name.split("/")[1]
            if variant_id in recorded:
                continue
            jobs = store.query(JOBS, [("variant_id", "==", variant_id)], limit=1)
            if jobs and JobStatus(jobs[0]["status"]).terminal:
                blobs.delete(name)
                deleted += 1
        store.set(RECONCILE, "orphans", {"after": names[-1] if len(names) == self.orphan_batch else ""})
        return deleted
