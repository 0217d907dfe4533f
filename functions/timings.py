"""Measured run times, for the pages' "elapsed / time left" and the video estimate.

Nothing here is configured or guessed: a figure is the median of recent succeeded runs with the same
shape (kind, generator, size, steps, frames), read from the jobs themselves (started_at → finished_at).
When no run of that shape has finished yet, the answer says so instead of inventing a number. The table
is rebuilt every TTL_SECONDS per process (one indexed query and one batched read: a page polling its
task must not cost a read of every sample), and at once when this process shows a finished run the
table does not have yet, so the estimate moves as soon as a run ends.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

from shared.domain.models import Job, JobStatus, Kind
from shared.records import Records

TTL_SECONDS = 30.0
SAMPLE_JOBS = 100  # newest succeeded jobs read per rebuild (one indexed query + one batched read)

Shape = tuple[str, int, int, int, int]  # kind, width, height, steps, frames


@dataclass(frozen=True)
class Measured:
    generator: str
    samples: int
    run_seconds: float  # median, claim to finish
    queued_seconds: float  # median, created to claim
    newest: float  # finished_at of the newest sample (the generator in use today wins ties)


@dataclass(frozen=True)
class Estimate:
    seconds: float | None
    basis: str


def shape_of(job: Job) -> Shape:
    s = job.spec
    return (job.kind.value, s.width, s.height, s.steps, s.num_frames)


def describe(shape: Shape) -> str:
    kind, width, height, steps, frames = shape
    what = f"{kind} at {width}×{height}, {steps} step{'s' if steps != 1 else ''}"
    return f"{what}, {frames} frames" if frames else what


class Timings:
    def __init__(self, records: Records) -> None:
        self.records = records
        self._lock = threading.Lock()
        self._built = -TTL_SECONDS
        self._table: dict[Shape, Measured] = {}
        self._sampled: set[str] = set()
        self._oldest = 0.0  # created_at of the oldest sampled job when the sample is full

    def table(self) -> dict[Shape, Measured]:
        now = time.monotonic()
        with self._lock:
            if now - self._built < TTL_SECONDS:
                return self._table
        table = self._build()
        with self._lock:
            self._table, self._built = table, time.monotonic()
        return table

    def saw(self, job: Job) -> None:
        """A succeeded run that a rebuild would sample but the table lacks makes the table stale."""
        if job.status is not JobStatus.SUCCEEDED or job.started_at is None or job.finished_at is None:
            return
        with self._lock:
            if job.job_id not in self._sampled and job.created_at >= self._oldest:
                self._built = -TTL_SECONDS

    def _build(self) -> dict[Shape, Measured]:
        newest = self.records.jobs(status=JobStatus.SUCCEEDED, limit=SAMPLE_JOBS)
        runs = [
            (j, j.started_at, j.finished_at) for j in newest if j.started_at is not None and j.finished_at is not None
        ]
        with self._lock:
            self._sampled = {j.job_id for j in newest}
            self._oldest = newest[-1].created_at if len(newest) == SAMPLE_JOBS else 0.0
        variants = self.records.variants_by_id([j.variant_id for j, _, _ in runs])
        generators = {v.variant_id: v.generator for v in variants}
        groups: dict[tuple[Shape, str], list[tuple[float, float, float]]] = {}
        for job, started, finished in runs:
            key = (shape_of(job), generators.get(job.variant_id, "?"))
            groups.setdefault(key, []).append((job.created_at, started, finished))
        table: dict[Shape, Measured] = {}
        for (shape, generator), times in groups.items():
            measured = Measured(
                generator=generator,
                samples=len(times),
                run_seconds=statistics.median(f - s for _, s, f in times),
                queued_seconds=statistics.median(s - c for c, s, _ in times),
                newest=max(f for _, _, f in times),
            )
            if shape not in table or measured.newest > table[shape].newest:
                table[shape] = measured
        return table

    def for_job(self, job: Job) -> Estimate:
        return self.for_shape(shape_of(job))

    def for_shape(self, shape: Shape) -> Estimate:
        found = self.table().get(shape)
        if found is None:
            return Estimate(None, f"no measured run of {describe(shape)} yet")
        runs = f"{found.samples} run{'s' if found.samples != 1 else ''}"
        return Estimate(
            round(found.run_seconds, 2),
            f"median of {runs} measured here ({found.generator} generator, {describe(shape)})",
        )

    def per_frame(self, kind: Kind = Kind.SVD) -> tuple[float, str] | None:
        """Seconds per output frame of the newest measured generator for `kind`, over all frame counts."""
        rows = [(s, m) for s, m in self.table().items() if s[0] == kind.value and s[4] > 0]
        if not rows:
            return None
        generator = max(rows, key=lambda r: r[1].newest)[1].generator
        mine = [(s, m) for s, m in rows if m.generator == generator]
        per = statistics.median(m.run_seconds / s[4] for s, m in mine)
        samples = sum(m.samples for _, m in mine)
        return per, f"measured here: {samples} {generator} run{'s' if samples != 1 else ''}"
