"""Task reads, waits, cancels and statistics; the video time estimate; cache hit counters.

Counters are sharded across documents (one random shard per increment) so no single document is a
write hot spot under load. Cache hits and misses are counted in memory and written at most once per
FLUSH_SECONDS per process (and before every stats read), not once per request: a write per hit would
be a second write on the hit path for a statistic. A process that dies loses at most that second.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

from functions.timings import Estimate, Timings
from functions.waits import LongPolls
from shared import lifecycle, singleflight
from shared.bootstrap import Backend
from shared.concurrency import overlapped
from shared.config import LANES
from shared.domain.models import Job, JobError, JobMessage, JobStatus, Kind, Waiter, WaiterState
from shared.errors import Conflict, NotFound
from shared.records import COUNTERS, JOBS, JOBS_SCANNED, TIMINGS, VARIANTS, Records

SHARDS = 8
Runs = list[tuple[Job, Waiter | None]]  # each job with the caller's own run record (None: an operator's read)
FLUSH_SECONDS = 1.0
PLACE_SECONDS = 1.0  # a queued task's place in line is counted again at most this often per process
PLACES_KEPT = 10_000
GIF_SECONDS_PER_FRAME = 0.05


def _canceled_for(job: Job) -> Job:
    """A shared job as a user who canceled it for themselves sees it: canceled, without the result."""
    message = "canceled by you; the job goes on for the other users who asked for the same thing"
    return job.model_copy(
        update={
            "status": JobStatus.CANCELED,
            "cancel_requested": True,
            "error": JobError(code="canceled", message=message),
        }
    )


def _as_seen_by(job: Job, waiter: Waiter | None) -> Job:
    """The job as its waiter sees it: canceled if they canceled this shared job for themselves."""
    return _canceled_for(job) if waiter is not None and waiter.state is WaiterState.LEFT else job


class TaskService:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.records = Records(backend.store)
        self.timings = Timings(self.records)  # measured run times (elapsed / time left on the pages)
        self._pending: Counter[str] = Counter()
        self._flushed_at = time.monotonic()
        self._count_lock = threading.Lock()
        self._places: dict[str, tuple[float, int, int]] = {}  # job id -> (when, ahead, running)
        settings = backend.settings
        self.long_polls = LongPolls(settings.soul_max_long_polls, settings.soul_max_long_polls_per_user)

    def _read(self, job_id: str, user_id: str | None) -> tuple[Job, Waiter | None]:
        """The job and the caller's waiter document (read together); NotFound unless they asked for it."""
        if user_id is None:
            return self.records.job(job_id), None
        job_doc, waiter = overlapped(
            self.backend.store,
            lambda: self.backend.store.get(JOBS, job_id),
            lambda: self.records.waiter(job_id, user_id),
        )
        if job_doc is None or waiter is None:
            raise NotFound(f"task '{job_id}' not found")  # never reveal another user's task
        return Job.model_validate(job_doc), waiter

    def get(self, job_id: str, user_id: str | None) -> Job:
        return self.get_run(job_id, user_id)[0]

    def get_run(self, job_id: str, user_id: str | None) -> tuple[Job, Waiter | None]:
        """The task as the caller sees it, with their own run record (None for an operator's read)."""
        job, waiter = self._read(job_id, user_id)
        if waiter is not None:
            # The waiter learns the result here: the variant joins their seen list (once).
            lifecycle.deliver(self.backend.store, job, waiter, self.backend.clock.now())
        return _as_seen_by(job, waiter), waiter

    def wait(self, job_id: str, user_id: str | None, seconds: float, *, refuse: bool = True) -> Job:
        """Polls until the job ends or `seconds` pass, holding one of the bounded long-poll slots
        (functions/waits.py); none free: 429 (refuse) or the job as it is now."""
        clock = self.backend.clock
        deadline = clock.now() + seconds
        job = self.get(job_id, user_id)
        if job.status.terminal or seconds <= 0:
            return job
        with self.long_polls.hold(user_id, refuse=refuse) as held:
            while held and not job.status.terminal and clock.now() < deadline:
                clock.sleep(min(0.1, deadline - clock.now()))
                job = self.get(job_id, user_id)
        return job

    def list(self, user_id: str | None, status: str | None, limit: int) -> list[Job]:
        return [job for job, _ in self.runs(user_id, status, limit)]

    def cancel(self, job_id: str, user_id: str | None) -> Job:
        """The task as the caller sees it afterwards: canceled for them, whether or not others still wait."""
        job, waiter = self._read(job_id, user_id)
        if waiter is not None and waiter.state is WaiterState.LEFT:
            return _canceled_for(job)  # already left it: canceling again changes nothing
        if job.status.terminal:
            raise Conflict(f"task '{job_id}' already {job.status.value}")
        now = self.backend.clock.now()
        if user_id is not None and singleflight.leave(self.backend.store, job_id, user_id, now):
            return _canceled_for(job)
        if user_id is None:
            return self._wake_for_cancel(lifecycle.request_cancel(self.backend.store, job_id, now=now), now)
        return self._wake_for_cancel(self.records.job(job_id), now)

    def _wake_for_cancel(self, job: Job, now: float) -> Job:
        """A canceled job with a provider task and no live lease (released after a transient fault)
        is published again now, so a worker cancels the provider's task at once, not after the retry
        delay (a duplicate message is harmless: the worker acks it)."""
        if job.cancel_requested and job.remote_task_id and not job.status.terminal and job.lease_expires_at <= now:
            message = JobMessage(job_id=job.job_id, lane=job.lane)
            self.backend.queue.publish(job.lane, message.model_dump_json().encode())
        return job

    def runs(self, user_id: str | None, status: str | None, limit: int) -> Runs:
        """The user's runs, newest first: the jobs they asked for and the hits served to them from the
        cache (shared/history.py), each with their run record; every user's jobs for an operator."""
        wanted = JobStatus(status) if status else None
        if user_id is None:
            return [(job, None) for job in self.records.jobs(status=wanted, limit=limit)]
        # The status lives on the shared job (and a leaver sees it canceled): with a status, the
        # user's newest JOBS_SCANNED tasks are looked through.
        found = self.records.user_jobs(user_id, limit=limit if wanted is None else max(limit, JOBS_SCANNED))
        views: Runs = [(_as_seen_by(j, w), w) for j, w in found]
        return [(v, w) for v, w in views if wanted is None or v.status is wanted][:limit]

    def forecast(self, job: Job) -> Forecast:
        """The one estimate every page shows (docs/PLAYGROUND.md, "One estimate"): how long a run of this
        shape takes, and for a queued job its place in its lane's queue and when it should start."""
        estimate = self._run_estimate(job)
        if job.status is not JobStatus.QUEUED:
            return Forecast(estimate)
        ahead, running = self._place(job)
        if estimate.seconds is None:
            return Forecast(estimate, ahead + 1, running)
        # Each worker slot takes a job at a time: those running finish first, then the queue ahead of
        # this job drains `slots` at a time, each run taking the measured median.
        slots = max(1, running)
        start_in = (math.ceil(running / slots) + ahead // slots) * estimate.seconds if running or ahead else 0.0
        return Forecast(estimate, ahead + 1, running, round(start_in, 2))

    def _place(self, job: Job) -> tuple[int, int]:
        """Queued jobs of its lane ahead of it, and jobs running there: two count queries, reused for
        PLACE_SECONDS per process (a page polls its queued task several times a second)."""
        now = time.monotonic()
        with self._count_lock:
            cached = self._places.get(job.job_id)
        if cached is not None and now - cached[0] < PLACE_SECONDS:
            return cached[1], cached[2]
        store = self.backend.store
        ahead = store.count(
            JOBS, [("lane", "==", job.lane), ("status", "==", "queued"), ("created_at", "<", job.created_at)]
        )
        running = store.count(JOBS, [("lane", "==", job.lane), ("status", "==", "running")])
        with self._count_lock:
            if len(self._places) >= PLACES_KEPT:
                self._places.clear()
            self._places[job.job_id] = (now, ahead, running)
        return ahead, running

    def _run_estimate(self, job: Job) -> Estimate:
        """An animation is estimated as GET /video/estimate says before it is sent, so the figures agree."""
        if job.kind is Kind.SVD:
            found = self.estimate(job.spec.num_frames)
            return Estimate(float(str(found["estimated_seconds"])), str(found["basis"]))
        return self.timings.for_job(job)

    def count_cache(self, hit: bool) -> None:
        with self._count_lock:
            self._pending["hits" if hit else "misses"] += 1
            due = time.monotonic() - self._flushed_at >= FLUSH_SECONDS
        if due:
            self.flush_counts()

    def flush_counts(self) -> None:
        with self._count_lock:
            pending, self._pending = self._pending, Counter()
            self._flushed_at = time.monotonic()
        shard = f"cache-{random.randrange(SHARDS)}"
        for field, amount in sorted(pending.items()):
            self.backend.store.increment(COUNTERS, shard, field, amount)

    def stats(self) -> dict[str, object]:
        self.flush_counts()
        store = self.backend.store
        by_status = {s.value: store.count(JOBS, [("status", "==", s.value)]) for s in JobStatus}
        by_lane = {lane: store.count(JOBS, [("lane", "==", lane), ("status", "==", "queued")]) for lane in LANES}
        shards = store.get_many(COUNTERS, [f"cache-{i}" for i in range(SHARDS)])
        hits = sum(int(d.get("hits", 0)) for d in shards if d)
        misses = sum(int(d.get("misses", 0)) for d in shards if d)
        rate = round(hits / (hits + misses), 4) if hits + misses else 0.0
        return {
            "jobs_by_status": by_status,
            "queued_by_lane": by_lane,
            "variants": store.count(VARIANTS),
            "cache": {"hits": hits, "misses": misses, "hit_rate": rate},
        }

    def estimate(self, num_frames: int) -> dict[str, object]:
        """Finished runs of exactly this shape first, then this deployment's measured seconds per frame,
        then the worker's model timing, and only then the configured figure."""
        settings = self.backend.settings
        shape = (Kind.SVD.value, settings.svd_image_width, settings.svd_image_height, settings.svd_steps, num_frames)
        exact = self.timings.for_shape(shape)
        measured = self.backend.store.get(TIMINGS, "svd")
        ran = self.timings.per_frame()
        gif_per_frame = GIF_SECONDS_PER_FRAME
        if exact.seconds is not None:
            (per_frame, basis), gif_per_frame = (exact.seconds / max(1, num_frames), exact.basis), 0.0
        elif ran is not None:  # this deployment's own finished runs come first: they are what the user gets
            (per_frame, basis), gif_per_frame = ran, 0.0  # a measured run already includes its encoding
        elif measured and float(measured.get("seconds_per_frame", 0)) > 0:
            per_frame = float(measured["seconds_per_frame"])
            where = f"{measured.get('generator', '?')} ({measured.get('device', '?')})"
            basis = f"measured on {where}, {measured.get('samples', 0)} runs"
        else:
            per_frame = settings.svd_estimated_seconds_per_frame
            basis = (
                "no run measured yet: a guess from SVD_ESTIMATED_SECONDS_PER_FRAME "
                f"({per_frame:g} s per frame), updated after the first run"
            )
        video = per_frame * num_frames
        gif = gif_per_frame * num_frames
        total = video + gif
        return {
            "estimated_seconds": round(total, 2),
            "estimated_minutes": round(total / 60, 2),
            "video_generation_seconds": round(video, 2),
            "gif_conversion_seconds": round(gif, 2),
            "num_frames": num_frames,
            "basis": basis,
        }


@dataclass(frozen=True)
class Forecast:
    estimate: Estimate  # the run's own duration (measured median) and its basis in words
    queue_position: int | None = None  # 1 = next in its lane (queued jobs only)
    running_in_lane: int | None = None
    start_in_seconds: float | None = None  # None: nothing measured to count with


def ensure_found(job: Job | None, job_id: str) -> Job:
    if job is None:
        raise NotFound(f"task '{job_id}' not found")
    return job
