"""WorkerLauncher on Cloud Run jobs: start a worker execution for a lane, at most once per interval.

Cloud Run jobs cannot take Pub/Sub pushes, so the dispatcher calls `JobsClient.run_job` with
overrides (container args `--lanes <lane>`, one task). Lanes image and video run on the GPU job, wan on
the CPU job. Rate limit: a launch first creates the document `dispatch/<lane>-<bucket>` where
`bucket = floor(now / interval)`; create-if-absent means that of any number of concurrent dispatchers
exactly one launches per lane per interval. If `run_job` then fails the slot is deleted again, so the
retried event can launch. Successful launches are counted in `dispatch_stats/<lane>.launches`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from google.api_core import exceptions as gexc
from google.cloud import run_v2

from shared.config import Settings
from shared.errors import InvalidInput, NotConfigured, Unavailable
from shared.ports import Clock, DocumentStore
from shared.records import DISPATCH, DISPATCH_STATS

_TRANSIENT = (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.TooManyRequests, gexc.DeadlineExceeded)
_MISCONFIGURED = (gexc.NotFound, gexc.PermissionDenied, gexc.Unauthenticated, gexc.InvalidArgument)


class CloudRunLauncher:
    def __init__(
        self,
        settings: Settings,
        store: DocumentStore,
        clock: Clock,
        client_factory: Callable[[], run_v2.JobsClient] = run_v2.JobsClient,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._factory = client_factory
        self._jobs = {"image": settings.cloud_run_job_gpu, "video": settings.cloud_run_job_gpu}
        self._jobs["wan"] = settings.cloud_run_job_wan

    @cached_property
    def client(self) -> run_v2.JobsClient:
        return self._factory()

    def job_name(self, lane: str) -> str:
        if lane not in self._jobs:
            raise InvalidInput(f"no worker job for lane {lane!r}; lanes are {sorted(self._jobs)}")
        s = self._settings
        return f"projects/{s.google_cloud_project}/locations/{s.cloud_run_region}/jobs/{self._jobs[lane]}"

    def request(self, lane: str) -> run_v2.RunJobRequest:
        container = run_v2.RunJobRequest.Overrides.ContainerOverride(args=["--lanes", lane])
        overrides = run_v2.RunJobRequest.Overrides(container_overrides=[container], task_count=1)
        return run_v2.RunJobRequest(name=self.job_name(lane), overrides=overrides)

    def launch(self, lane: str) -> None:
        """Start one execution for `lane` unless one was started in the current interval."""
        request = self.request(lane)
        slot = self._claim_slot(lane)
        if slot is None and self._settings.soul_dispatch_interval_seconds > 0:
            return
        try:
            self.client.run_job(request=request)
        except _TRANSIENT as exc:
            self._release(slot)
            raise Unavailable(f"run_job {request.name} failed: {exc}") from exc
        except _MISCONFIGURED as exc:
            self._release(slot)
            raise NotConfigured(f"run_job {request.name} refused: {exc}") from exc
        self._store.increment(DISPATCH_STATS, lane, "launches")

    def launches(self, lane: str) -> int:
        doc = self._store.get(DISPATCH_STATS, lane) or {}
        return int(doc.get("launches", 0))

    def _claim_slot(self, lane: str) -> str | None:
        interval = self._settings.soul_dispatch_interval_seconds
        if interval <= 0:
            return None
        now = self._clock.now()
        slot = f"{lane}-{int(now // interval)}"
        return slot if self._store.create(DISPATCH, slot, {"lane": lane, "at": now}) else None

    def _release(self, slot: str | None) -> None:
        if slot is not None:
            self._store.delete(DISPATCH, slot)
