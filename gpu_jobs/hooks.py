"""Per-job hooks handed to generators: throttled progress writes and cancel reads, remote task ids."""

from __future__ import annotations

from gpu_jobs import failpoints
from shared import lifecycle
from shared.domain.models import Job
from shared.ports import Clock, DocumentStore
from shared.records import JOBS

PROGRESS_INTERVAL = 0.5  # ≤ 2 writes/s per job (docs/ARCHITECTURE.md, Job lifecycle)
CANCEL_INTERVAL = 0.5


class StoreHooks:
    def __init__(self, store: DocumentStore, job: Job, clock: Clock) -> None:
        self._store = store
        self._job_id = job.job_id
        self._clock = clock
        self._remote = job.remote_task_id
        self._last_write = 0.0
        self._last_read = 0.0
        self._canceled = job.cancel_requested
        self.steps_seen = 0

    @property
    def remote_task_id(self) -> str | None:
        return self._remote

    def progress(self, step: int, total: int) -> None:
        self.steps_seen += 1
        if total > 1 and step == total // 2:
            failpoints.hit("mid_generation")
        now = self._clock.now()
        if step < total and now - self._last_write < PROGRESS_INTERVAL:
            return
        self._last_write = now
        lifecycle.report_progress(self._store, self._job_id, step=step, total=total, now=now)

    def canceled(self) -> bool:
        now = self._clock.now()
        if not self._canceled and now - self._last_read >= CANCEL_INTERVAL:
            self._last_read = now
            doc = self._store.get(JOBS, self._job_id)
            self._canceled = bool(doc and doc.get("cancel_requested"))
        return self._canceled

    def refresh_cancel(self) -> bool:
        """An unthrottled read, used once generation is over."""
        self._last_read = 0.0
        return self.canceled()

    def save_remote_task_id(self, task_id: str) -> None:
        self._remote = task_id
        lifecycle.save_remote_task(self._store, self._job_id, task_id, self._clock.now())
