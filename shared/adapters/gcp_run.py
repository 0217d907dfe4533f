"""WorkerLauncher on Cloud Run jobs: start a worker execution for a lane, at most once per interval.

Cloud Run jobs cannot take Pub/Sub pushes, so the dispatcher calls `JobsClient.run_job` with
overrides (one task, container args `worker_args([lane])`). Cloud Run *replaces* the container's args
with an override's args (it does not append), so the override is the whole argv after the `soul`
entry point, the same shape Terraform gives each job (tests/unit/test_deploy_consistency.py parses
both with the real CLI parser). Lanes image and video run on the GPU job, wan on
the CPU job. Rate limit: a launch first creates the document `dispatch/<lane>-<bucket>` where
`bucket = floor(now / interval)`; create-if-absent means that of any number of concurrent dispatchers
exactly one launches per lane per interval. If `run_job` then fails the slot is deleted again, so the
retried event can launch. Successful launches are counted in `dispatch_stats/<lane>.launches`.
A PermissionDenied from Firestore or Cloud Run is a deploy error (a missing role), never retried:
it becomes NotConfigured, which the dispatcher logs and drops (docs/ARCHITECTURE.md, "Dispatch").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property

from google.api_core import exceptions as gexc
from google.cloud import run_v2

from shared.config import Settings
from shared.domain.demand import base_lane, is_low, low_lane
from shared.errors import InvalidInput, NotConfigured, Unavailable
from shared.ports import Clock, DocumentStore
from shared.pregen_budget import budget_left
from shared.records import DISPATCH, DISPATCH_SLOT_LIFETIME_SECONDS, DISPATCH_STATS, JOBS, TTL_FIELD

_TRANSIENT = (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.TooManyRequests, gexc.DeadlineExceeded)
# Forbidden / Unauthorized / BadRequest: over REST (the rehearsal's transport) the client raises by HTTP
# status, the parents of gRPC's PermissionDenied / Unauthenticated / InvalidArgument.
_MISCONFIGURED = (gexc.NotFound, gexc.Forbidden, gexc.Unauthorized, gexc.BadRequest)
_DENIED = (gexc.Forbidden, gexc.Unauthorized)


def worker_args(lanes: Sequence[str]) -> list[str]:
    """The worker's argv after the `soul` entry point: Terraform's job args and every launch override."""
    return ["worker", "--lanes", ",".join(lanes), "--exit-when-idle"]


@contextmanager
def _deploy_errors(what: str) -> Iterator[None]:
    """A denied Firestore call is a missing IAM role: permanent, so Eventarc does not retry for a day."""
    try:
        yield
    except _DENIED as exc:
        raise NotConfigured(f"{what} denied (check the dispatcher's IAM roles): {exc.message}") from exc


class CloudRunLauncher:
    def __init__(
        self,
        settings: Settings,
        store: DocumentStore,
        clock: Clock,
        client_factory: Callable[[], run_v2.JobsClient] | None = None,
        executions_factory: Callable[[], run_v2.ExecutionsClient] | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._factory = client_factory or self._default_client
        self._executions_factory = executions_factory or self._default_executions
        self._jobs = {"image": settings.cloud_run_job_gpu, "video": settings.cloud_run_job_gpu}
        self._jobs["wan"] = settings.cloud_run_job_wan

    @cached_property
    def client(self) -> run_v2.JobsClient:
        return self._factory()

    @cached_property
    def executions(self) -> run_v2.ExecutionsClient:
        return self._executions_factory()

    def _default_client(self) -> run_v2.JobsClient:
        """The production client, or one on CLOUD_RUN_API_ENDPOINT (the rehearsal's Cloud Run double)."""
        endpoint = self._settings.cloud_run_api_endpoint
        if not endpoint:
            return run_v2.JobsClient()
        from google.auth.credentials import AnonymousCredentials

        options = {"api_endpoint": endpoint}
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return run_v2.JobsClient(transport="rest", client_options=options, credentials=anonymous)

    def _default_executions(self) -> run_v2.ExecutionsClient:
        endpoint = self._settings.cloud_run_api_endpoint
        if not endpoint:
            return run_v2.ExecutionsClient()
        from google.auth.credentials import AnonymousCredentials

        options = {"api_endpoint": endpoint}
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return run_v2.ExecutionsClient(transport="rest", client_options=options, credentials=anonymous)

    def job_name(self, lane: str) -> str:
        if lane not in self._jobs:
            raise InvalidInput(f"no worker job for lane {lane!r}; lanes are {sorted(self._jobs)}")
        s = self._settings
        return f"projects/{s.google_cloud_project}/locations/{s.cloud_run_region}/jobs/{self._jobs[lane]}"

    def request(self, lane: str) -> run_v2.RunJobRequest:
        container = run_v2.RunJobRequest.Overrides.ContainerOverride(args=worker_args([lane]))
        overrides = run_v2.RunJobRequest.Overrides(container_overrides=[container], task_count=1)
        return run_v2.RunJobRequest(name=self.job_name(lane), overrides=overrides)

    def launch(self, lane: str) -> None:
        """Start one execution for `lane` unless one was started in the current interval.

        A low lane (pre-generation) starts its GPU lane's worker only while today's budget lasts."""
        launching = self.lane_to_launch(lane)
        if launching is None:
            return
        low, lane = is_low(lane), launching
        request = self.request(lane)
        with _deploy_errors(f"claiming the dispatch slot of {lane}"):
            slot = self._claim_slot(lane)
        if slot is None and self._settings.soul_dispatch_interval_seconds > 0:
            return
        try:
            wanted = self.wanted(lane, with_low=low)
            for _ in range(wanted):
                self._run(request, lane)
        except _TRANSIENT as exc:
            self._release(slot)
            raise Unavailable(f"run_job {request.name} failed: {exc}") from exc
        except Unavailable:
            self._release(slot)  # the redelivered event may launch in this interval
            raise
        except _MISCONFIGURED as exc:
            self._release(slot)
            raise NotConfigured(f"run_job {request.name} refused: {exc}") from exc
        if wanted:
            with _deploy_errors(f"counting the launch of {lane}"):
                self._store.increment(DISPATCH_STATS, lane, "launches", wanted)

    def wanted(self, lane: str, *, with_low: bool = False) -> int:
        """Executions to start for `lane` now: one per batch of its queued jobs, less the executions
        already running it, within the job's quota (SOUL_MAX_GPU_EXECUTIONS for the GPU job, one for
        Wan, whose worker runs its own concurrent tasks). A backlog the quota leaves with no execution
        raises Unavailable, so the event is redelivered until one runs (docs/ARCHITECTURE.md, Dispatch).
        `with_low`: a pre-generation event (its budget checked): the lane's low twin counts too."""
        with _deploy_errors(f"counting the queued jobs of {lane}"):
            queued = self._store.count(JOBS, [("lane", "==", lane), ("status", "==", "queued")])
            if with_low:
                queued += self._store.count(JOBS, [("lane", "==", low_lane(lane)), ("status", "==", "queued")])
        if queued == 0:
            return 0
        running = self.running(self.job_name(lane))
        gpu = self._jobs[lane] == self._settings.cloud_run_job_gpu
        cap = self._settings.soul_max_gpu_executions if gpu else 1
        mine = running.get(lane, 0)
        start = min(math.ceil(queued / self._settings.soul_batch_size) - mine, cap - sum(running.values()))
        if start <= 0 and mine == 0:
            raise Unavailable(f"{queued} queued on {lane} and the {self._jobs[lane]} quota ({cap}) is in use")
        return max(0, start)

    def running(self, job: str) -> dict[str, int]:
        """Running executions of `job`, by the lane in their (overridden) container args."""
        found: dict[str, int] = {}
        for execution in self.executions.list_executions(parent=job):
            if execution.completion_time or not (execution.running_count or not execution.start_time):
                continue
            containers = execution.template.containers
            args = list(containers[0].args) if containers else []
            lane = args[args.index("--lanes") + 1] if "--lanes" in args[:-1] else ""
            found[lane] = found.get(lane, 0) + 1
        return found

    def _run(self, request: run_v2.RunJobRequest, lane: str) -> None:
        """Start one execution and look at its operation: a refusal the API reports in the operation
        (rather than as an HTTP error) is counted in dispatch_stats and raised as such."""
        operation = self.client.run_job(request=request)
        refused = operation.exception() if operation.done() else None  # type: ignore[no-untyped-call]
        if refused is not None:
            with _deploy_errors("counting a refused launch"):
                self._store.increment(DISPATCH_STATS, lane, "refusals")
            raise Unavailable(f"run_job {request.name}: the execution was refused: {refused}")

    def lane_to_launch(self, lane: str) -> str | None:
        """The lane whose worker an event asks for: a low lane's GPU lane while the day's pre-generation
        budget lasts, else None (no GPU execution starts for pre-generation alone past the budget)."""
        if not is_low(lane):
            return lane
        if budget_left(self._store, self._settings.soul_pregen_daily_gpu_seconds, self._clock.now()) <= 0:
            return None
        return base_lane(lane)

    def launches(self, lane: str) -> int:
        doc = self._store.get(DISPATCH_STATS, lane) or {}
        return int(doc.get("launches", 0))

    def _claim_slot(self, lane: str) -> str | None:
        interval = self._settings.soul_dispatch_interval_seconds
        if interval <= 0:
            return None
        now = self._clock.now()
        slot = f"{lane}-{int(now // interval)}"
        fields = {"lane": lane, "at": now, TTL_FIELD: now + interval + DISPATCH_SLOT_LIFETIME_SECONDS}  # TTL: slots go
        return slot if self._store.create(DISPATCH, slot, fields) else None

    def _release(self, slot: str | None) -> None:
        if slot is not None:
            with _deploy_errors("releasing a dispatch slot"):
                self._store.delete(DISPATCH, slot)
