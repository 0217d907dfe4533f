"""The worker loop: pull → claim (lease) → generate (batched) → encode → upload → variant → ack.

At-least-once delivery is made safe here: a message for a finished job is acked and does nothing, a
job held under another worker's live lease is handed back for later, and a crashed attempt's uploads
are reused. Permanent errors fail the job with a reason and ack; transient ones give the lease back
and nack with capped, jittered backoff; on the last delivery the job fails and the message goes on
to the dead-letter lane.

Traces (shared/tracing.py): each message's `traceparent` attribute is the parent of its job's spans,
`worker.claim`, `worker.generate` (one per batch: the first job's trace, the others linked, every job
id an attribute), `worker.encode`, `worker.upload` and `worker.complete` (the completion transaction);
a job's outcome lines (succeeded, failed, retrying) carry its trace for Cloud Logging too.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PIL import Image
from pydantic import ValidationError

from gpu_jobs import artifacts, failpoints, screening
from gpu_jobs.generators.base import Generator, GenRequest, Output
from gpu_jobs.hooks import StoreHooks
from gpu_jobs.media import decode_png
from gpu_jobs.pipeline import Stages
from shared import lifecycle, pregen, tracing
from shared import metrics as soul_metrics
from shared.bootstrap import Backend
from shared.domain.jobs import backoff_seconds
from shared.domain.models import Artifact, Job, JobError, JobMessage, JobStatus, Kind
from shared.errors import Conflict, ContentBlocked, JobCanceled, PermanentError, RetryableError, SoulError
from shared.ids import new_id
from shared.logging import get_logger
from shared.ports import Delivery, DocumentStore, Tx
from shared.records import TIMINGS, Records

log = get_logger("soul.worker")
GeneratorFor = Callable[[Kind], Generator]
PULL_SECONDS = 3.0  # one round of pulls over the worker's lanes waits at most this long when idle
KEEP_FAILED_UPLOADS = 8  # encoded results kept for a retry after a failed upload (a few MB each)


@dataclass
class Claimed:
    job: Job
    delivery: Delivery
    hooks: StoreHooks
    trace: tracing.Context = field(default_factory=tracing.Context)  # the message's: its spans' parent


class Worker:
    def __init__(
        self,
        backend: Backend,
        generator_for: GeneratorFor,
        *,
        worker_id: str | None = None,
        screen: screening.OutputScreen | None = None,
        metrics: soul_metrics.Metrics | None = None,
    ) -> None:
        self.backend = backend
        self.metrics = metrics or soul_metrics.current()  # jobs, generation seconds, fill, spend (docs/OPERATIONS.md)
        # Content safety: every output is screened before it is uploaded (gpu_jobs/screening.py).
        self.screen = screen or screening.from_settings(backend.store, backend.clock, backend.settings)
        self.generator_for = generator_for
        self.worker_id = worker_id or f"worker-{new_id()}"
        self.settings = backend.settings
        self.records = Records(backend.store)
        self.generations = 0  # generator calls made by this worker (tests assert on it)
        self._lock = threading.Lock()
        # Encoded media whose upload failed (blob store read-only or full), by variant id: the retry
        # uploads these instead of paying for the generation again. Bounded; lost with the process.
        self._kept: OrderedDict[str, tuple[dict[str, bytes], str]] = OrderedDict()
        self._stages = Stages()  # inline; run() overlaps two pulls (gpu_jobs/pipeline.py)

    # -- the loop -------------------------------------------------------------------------------
    def run(self, lanes: Sequence[str], stop: threading.Event, *, exit_when_idle: float = 0.0) -> None:
        self._stages = Stages(depth=2)  # batch N's encode/upload overlaps batch N+1's generation
        try:
            self._loop(lanes, stop, exit_when_idle)
        finally:
            self._stages.drain()
            self._stages = Stages()

    def _loop(self, lanes: Sequence[str], stop: threading.Event, exit_when_idle: float) -> None:
        idle_since = self.backend.clock.now()
        while not stop.is_set():
            # Pulls wait seconds, not a poll's fraction of one: the shorter a pull's deadline, the more
            # often a response is abandoned in flight and its messages sit leased to nobody.
            worked = any([self.run_once(lane, timeout=PULL_SECONDS / len(lanes)) for lane in lanes])
            now = self.backend.clock.now()
            if worked:
                idle_since = now
            elif exit_when_idle and now - idle_since >= exit_when_idle:
                log.info("idle; exiting", extra={"worker": self.worker_id})
                return

    def run_once(self, lane: str, timeout: float = 0.0) -> int:
        # Wan requests are remote and sequential: batching them would only delay the first.
        batch = 1 if lane == "wan" else self.settings.soul_batch_size
        # Pre-generation (docs/ARCHITECTURE.md, Pre-generation): the lane's low-priority twin only when the lane has
        # nothing waiting.
        low = pregen.enabled(self.settings)
        with self._stages.slot() as submit:  # a free stage first, so nothing pulled waits unheld
            lane, deliveries = pregen.pull_next(self.backend.queue, lane, batch, timeout, low=low)
            if deliveries:
                submit(lambda: self.handle(lane, deliveries))
        return len(deliveries)

    def handle(self, lane: str, deliveries: Sequence[Delivery]) -> None:
        claimed = [c for c in (self._claim_traced(lane, d) for d in deliveries) if c is not None]
        groups: dict[tuple[object, ...], list[Claimed]] = defaultdict(list)
        for item in claimed:
            groups[(item.job.kind, *item.job.spec.batch_key())].append(item)
        # Every claimed job's lease and message deadline are extended until the whole pull is handled,
        # not only the group on the GPU: the groups waiting their turn are held too.
        beat = _Heartbeat(self, lane, list(claimed))
        beat.start()
        try:
            for group in groups.values():
                self._process(lane, group)
        finally:
            beat.stop()

    # -- claiming -------------------------------------------------------------------------------
    def _claim_traced(self, lane: str, delivery: Delivery) -> Claimed | None:
        parent = tracing.extract(delivery.attributes)
        attributes = {"soul.lane": lane, "soul.attempt": delivery.attempt}
        with tracing.span("worker.claim", attributes, parent=parent, kind=tracing.SpanKind.CONSUMER):
            claimed = self._claim(lane, delivery)
            tracing.annotate({"soul.claimed": claimed is not None})
            if claimed is not None:
                tracing.annotate({"soul.job_id": claimed.job.job_id, "soul.pk": claimed.job.pk})
                claimed.trace = parent
        return claimed

    def _claim(self, lane: str, delivery: Delivery) -> Claimed | None:
        queue, clock = self.backend.queue, self.backend.clock
        try:
            message = JobMessage.model_validate_json(delivery.data)
        except ValidationError:
            log.warning("unparseable message; leaving it to dead-lettering", extra={"attempt": delivery.attempt})
            queue.nack(lane, delivery.ack_id)
            return None
        now = clock.now()
        job = lifecycle.claim(
            self.backend.store,
            message.job_id,
            worker_id=self.worker_id,
            now=now,
            lease_seconds=self.settings.soul_lease_seconds,
        )
        if job is not None:
            failpoints.hit("after_claim")
            queue.extend(lane, delivery.ack_id, self.settings.soul_lease_seconds)
            return Claimed(job, delivery, StoreHooks(self.backend.store, job, clock))
        current = self.backend.store.get("jobs", message.job_id)
        if current is not None and current.get("status") == JobStatus.RUNNING:
            # Another worker holds a live lease (a canceled job too: its worker stops it, or the claim
            # after the lease cancels it): look again once it would have expired.
            wait = float(current.get("lease_expires_at", now)) - now + 1.0
            queue.nack(lane, delivery.ack_id, delay_seconds=min(max(wait, 1.0), 600.0))
        else:
            self._cancel_abandoned(current)
            queue.ack(lane, [delivery.ack_id])  # finished, canceled or unknown: a duplicate
        return None

    def _cancel_abandoned(self, doc: dict[str, object] | None) -> None:
        """A job canceled while no worker held it may still have a paid task at the provider (Wan,
        released after a transient fault): ask the provider to cancel it too."""
        if doc is None or doc.get("status") != JobStatus.CANCELED.value or not doc.get("remote_task_id"):
            return
        try:
            cancel = getattr(self.generator_for(Kind(str(doc.get("kind")))), "cancel_remote_task", None)
        except (SoulError, ValueError):
            return
        if cancel is not None:
            cancel(str(doc["remote_task_id"]))

    # -- processing -----------------------------------------------------------------------------
    def _process(self, lane: str, group: list[Claimed]) -> None:
        try:
            self._generate_and_store(group)
            failpoints.hit("after_record")
            for item in group:
                self.backend.queue.ack(lane, [item.delivery.ack_id])
        except SoulError as exc:
            self._on_batch_error(lane, group, exc)
        except Exception as exc:  # the worker's edge: an unknown fault is transient
            log.error("unexpected worker error", exc_info=True, extra={"jobs": [c.job.job_id for c in group]})
            self._on_batch_error(lane, group, RetryableError(f"internal error ({type(exc).__name__})", code="internal"))

    def _on_batch_error(self, lane: str, group: list[Claimed], exc: SoulError) -> None:
        """One bad job must not sink its batchmates: a failed batch is retried one job at a time, so
        the error lands only on the job that causes it (a whole-batch cancel is the exception)."""
        if len(group) > 1 and not isinstance(exc, JobCanceled):
            log.warning("batch failed; isolating its jobs", extra={"code": exc.code, "batch": len(group)})
            for item in group:
                self._process(lane, [item])
            return
        self._on_error(lane, group, exc)

    def _generate_and_store(self, group: list[Claimed]) -> None:
        todo = []
        for item in group:
            found = artifacts.existing(self.backend.blobs, item.job)
            if found is not None:  # an earlier attempt uploaded everything: finish without the GPU
                self._complete(item, found, "recovered")
            elif (kept := self._take_kept(item.job.variant_id)) is not None:
                self._store(item, *kept)  # generated by an earlier attempt whose upload failed
            else:
                todo.append(item)
        if not todo:
            return
        generator = self.generator_for(todo[0].job.kind)
        started = time.monotonic()
        outputs = self._run_generator(generator, todo)
        self._measured(todo, generator.name, time.monotonic() - started)
        if todo[0].job.kind is Kind.SVD:
            frames = sum(max(1, c.job.spec.num_frames) for c in todo)
            record_timing(
                self.backend.store, generator, (time.monotonic() - started) / frames, self.backend.clock.now()
            )
        for item, output in zip(todo, outputs, strict=True):
            if item.hooks.refresh_cancel():
                self._finish(item, JobStatus.CANCELED, JobError(code="canceled", message="canceled by the user"))
                continue
            if (passed := self._screened(generator, item, output)) is not None:
                self._store(item, self._encode(item, passed), passed.generator or generator.name)

    def _measured(self, todo: list[Claimed], generator: str, seconds: float) -> None:
        job = todo[0].job
        video = sum(c.job.spec.num_frames / max(1, c.job.spec.fps) for c in todo) if job.kind is Kind.WAN else 0.0
        batch = 1 if job.kind is Kind.WAN else self.settings.soul_batch_size
        call = soul_metrics.GeneratorCall(job.lane, job.kind.value, generator, seconds, len(todo), batch, video)
        self.metrics.generated(call)
        made_ahead = sum(1 for c in todo if c.job.owner == pregen.OWNER)
        if made_ahead:
            self.metrics.pregen_spent(job.lane, seconds * made_ahead / len(todo))

    def _screened(self, generator: Generator, item: Claimed, output: Output) -> Output | None:
        """Screened before anything is uploaded; a blocked output may be remade with another seed."""

        def redo(job: Job) -> Output:
            return self._run_generator(generator, [Claimed(job, item.delivery, item.hooks, item.trace)])[0]

        try:
            item.job, passed = self.screen.passed(item.job, output, redo)
        except ContentBlocked as exc:
            self._finish(item, JobStatus.FAILED, JobError(code=exc.code, message=exc.message))
            return None
        return passed

    def _encode(self, item: Claimed, output: Output) -> dict[str, bytes]:
        with tracing.span("worker.encode", {"soul.job_id": item.job.job_id}, parent=item.trace):
            return artifacts.encode(item.job, output)

    def _take_kept(self, variant_id: str) -> tuple[dict[str, bytes], str] | None:
        with self._lock:  # run() stores batch N while batch N+1 starts: two threads reach _kept
            return self._kept.pop(variant_id, None)

    def _store(self, item: Claimed, encoded: dict[str, bytes], generator: str) -> None:
        try:
            with tracing.span("worker.upload", {"soul.job_id": item.job.job_id}, parent=item.trace):
                uploaded = artifacts.upload(self.backend.blobs, item.job, encoded)
        except SoulError:
            with self._lock:
                self._kept[item.job.variant_id] = (encoded, generator)
                while len(self._kept) > KEEP_FAILED_UPLOADS:
                    self._kept.popitem(last=False)
            raise
        failpoints.hit("after_upload")
        self._complete(item, uploaded, generator)

    def _run_generator(self, generator: Generator, todo: list[Claimed]) -> list[Output]:
        requests = [GenRequest(spec=c.job.spec, hooks=c.hooks, source=self._source(c.job)) for c in todo]
        with self._lock:
            self.generations += 1
        # Out-of-memory is the generator's to handle (SDXL retries once with the batch split, then fails
        # the batch permanently with code out_of_memory), since only it knows what a smaller batch is.
        # The accelerator is held for generate() alone; its hooks only record (a side thread writes).
        ids = [c.job.job_id for c in todo]
        attributes = {"soul.job_ids": ids, "soul.batch": len(ids), "soul.generator": generator.name}
        links = [c.trace for c in todo[1:]]
        with (
            tracing.span("worker.generate", attributes, parent=todo[0].trace, links=links),
            self._stages.generating(requests, remote=todo[0].job.kind is Kind.WAN) as relayed,
        ):
            return generator.generate(relayed)

    def _source(self, job: Job) -> Image.Image | None:
        if job.kind is not Kind.SVD or not job.spec.source_variant_id:
            return None
        variant = self.records.variant(job.spec.source_variant_id)
        return decode_png(self.backend.blobs.get(variant.artifacts["png"].name))

    def _complete(self, item: Claimed, found: dict[str, Artifact], generator: str) -> None:
        now = self.backend.clock.now()
        variant = artifacts.variant_for(item.job, found, generator, now, screened_by=self.screen.name)
        with tracing.span("worker.complete", {"soul.job_id": item.job.job_id}, parent=item.trace):
            lifecycle.complete(self.backend.store, item.job.job_id, variant, now=now)
        self.metrics.job(item.job.lane, item.job.kind.value, "succeeded")
        if item.job.owner == pregen.OWNER:
            self.metrics.pregen_variant("made")
        extra = {"job_id": item.job.job_id, "pk": item.job.pk, "generator": generator, **tracing.fields_for(item.trace)}
        log.info("job succeeded", extra=extra)

    def _finish(self, item: Claimed, status: JobStatus, error: JobError | None) -> None:
        lifecycle.finish(self.backend.store, item.job.job_id, status, now=self.backend.clock.now(), error=error)
        self.metrics.job(item.job.lane, item.job.kind.value, status.value, error.code if error else "")

    # -- errors ---------------------------------------------------------------------------------
    def _on_error(self, lane: str, group: list[Claimed], exc: SoulError) -> None:
        queue = self.backend.queue
        for item in group:
            error = JobError(code=exc.code, message=exc.message, retryable=exc.retryable)
            extra = {"job_id": item.job.job_id, "pk": item.job.pk, "code": exc.code, **tracing.fields_for(item.trace)}
            if isinstance(exc, JobCanceled):
                self._finish(item, JobStatus.CANCELED, error)
                queue.ack(lane, [item.delivery.ack_id])
            elif isinstance(exc, PermanentError):
                log.warning("job failed", extra=extra)
                self._finish(item, JobStatus.FAILED, error)
                queue.ack(lane, [item.delivery.ack_id])
            elif item.delivery.attempt >= self.settings.soul_max_delivery_attempts:
                log.error("job gave up after retries", extra=extra)
                error = error.model_copy(
                    update={"message": f"gave up after {item.delivery.attempt} attempts: {exc.message}"}
                )
                self._finish(item, JobStatus.FAILED, error)
                queue.nack(lane, item.delivery.ack_id)  # on to the dead-letter lane
                self.metrics.dead_letter(lane)
            else:
                self._retry_later(lane, item, error, exc)

    def _retry_later(self, lane: str, item: Claimed, error: JobError, exc: SoulError) -> None:
        now = self.backend.clock.now()
        lifecycle.release(self.backend.store, item.job.job_id, worker_id=self.worker_id, error=error, now=now)
        delay = backoff_seconds(
            item.delivery.attempt,
            self.settings.soul_retry_base_seconds,
            self.settings.soul_retry_cap_seconds,
            random.random(),
        )
        if isinstance(exc, RetryableError) and exc.retry_after:
            delay = max(delay, exc.retry_after)
        extra = {"job_id": item.job.job_id, "delay": round(delay, 2), **tracing.fields_for(item.trace)}
        log.warning("transient error; retrying", extra=extra)
        self.metrics.job(item.job.lane, item.job.kind.value, "retried", exc.code)
        self.backend.queue.nack(lane, item.delivery.ack_id, delay_seconds=delay)


def record_timing(store: DocumentStore, generator: Generator, seconds_per_frame: float, now: float) -> None:
    """Fold one measured SVD run into `timings/svd` (moving average) for `/video/estimate`."""
    device = str(getattr(generator, "device", "cpu"))

    def run(tx: Tx) -> None:
        doc = tx.get(TIMINGS, "svd") or {}
        same = doc.get("generator") == generator.name and doc.get("device") == device
        old, samples = float(doc.get("seconds_per_frame", 0.0)), int(doc.get("samples", 0)) if same else 0
        value = seconds_per_frame if samples == 0 else 0.7 * old + 0.3 * seconds_per_frame
        tx.set(
            TIMINGS,
            "svd",
            {
                "generator": generator.name,
                "device": device,
                "seconds_per_frame": value,
                "samples": samples + 1,
                "measured_at": now,
            },
        )

    store.transaction(run)


class _Heartbeat:
    """Extends job leases and message deadlines while a batch runs; lets a cancel flag through."""

    def __init__(self, worker: Worker, lane: str, group: list[Claimed]) -> None:
        self._worker, self._lane, self._group = worker, lane, group
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="heartbeat")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        lease = self._worker.settings.soul_lease_seconds
        backend = self._worker.backend
        while not self._stop.wait(lease / 3):
            for item in list(self._group):
                try:
                    lifecycle.heartbeat(
                        backend.store,
                        item.job.job_id,
                        worker_id=self._worker.worker_id,
                        now=backend.clock.now(),
                        lease_seconds=lease,
                    )
                    backend.queue.extend(self._lane, item.delivery.ack_id, lease)
                except Conflict:
                    self._group.remove(item)  # finished (or taken over): nothing of it is held any more
                except SoulError as exc:
                    log.warning("heartbeat failed", extra={"job_id": item.job.job_id, "code": exc.code})
