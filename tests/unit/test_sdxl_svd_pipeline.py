"""The GPU never waits on the record store or the encoder (gpu_jobs/pipeline.py), shown on the CPU.

A fake generator that sleeps like a GPU batch and a blob store that sleeps like an upload give a
timeline: batch N+1's generation must start while batch N is still uploading, generations never
overlap each other, and the denoising loop's progress calls never touch the (slow) record store.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from PIL import Image

from gpu_jobs.generators.base import GenRequest, Output
from gpu_jobs.pipeline import HookRelay, RecordingHooks, Stages
from gpu_jobs.worker import Worker
from shared.bootstrap import Backend
from shared.clock import SystemClock
from shared.domain.models import GenerationSpec, Job, JobMessage, JobStatus, Kind
from shared.ids import new_id
from shared.records import JOBS

pytestmark = pytest.mark.unit
GENERATE_S, UPLOAD_S, STEPS = 0.3, 0.15, 4


class SlowGpu:
    """Sleeps like a batch on the GPU, reports every step, and records when it ran."""

    name = "slow-gpu"

    def __init__(self) -> None:
        self.runs: list[tuple[float, float]] = []
        self.progress_call_s: list[float] = []
        self.hook_types: set[type] = set()

    def setup(self) -> None:
        """Nothing to load."""

    def generate(self, requests: Sequence[GenRequest]) -> list[Output]:
        start = time.monotonic()
        for step in range(1, STEPS + 1):
            time.sleep(GENERATE_S / STEPS)
            for r in requests:
                self.hook_types.add(type(r.hooks))
                t0 = time.perf_counter()
                r.hooks.progress(step, STEPS)
                r.hooks.canceled()
                self.progress_call_s.append(time.perf_counter() - t0)
        self.runs.append((start, time.monotonic()))
        return [Output(frames=[Image.new("RGB", (32, 32), (9, 9, 9))], generator=self.name) for _ in requests]


class SlowBlobs:
    """The real blob store, with uploads that take UPLOAD_S and are recorded."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.puts: list[tuple[float, float]] = []

    def put(self, name: str, data: bytes, content_type: str) -> None:
        start = time.monotonic()
        time.sleep(UPLOAD_S)
        self.inner.put(name, data, content_type)
        self.puts.append((start, time.monotonic()))

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)


def enqueue(backend: Backend, seed: int) -> str:
    now = time.time()
    spec = GenerationSpec(kind=Kind.IMAGE, soul_id="penguin", prompt=f"p{seed}", seed=seed, width=32, height=32,
                          steps=STEPS, generate_gif=False)  # fmt: skip
    job = Job(job_id=new_id(), kind=Kind.IMAGE, lane="image", pk=f"pk{seed}", spec=spec, variant_id=new_id(),
              owner="u", created_at=now, updated_at=now, expire_at=now + 3600)  # fmt: skip
    backend.store.create(JOBS, job.job_id, job.doc())
    backend.queue.publish("image", JobMessage(job_id=job.job_id, lane="image").model_dump_json().encode())
    return job.job_id


def test_upload_of_batch_n_overlaps_generation_of_batch_n_plus_1(backend: Backend) -> None:
    blobs = SlowBlobs(backend.blobs)
    settings = backend.settings.model_copy(update={"soul_batch_size": 1})  # one job per pull: 3 batches
    backend = dataclasses.replace(backend, blobs=blobs, settings=settings, clock=SystemClock())
    gpu = SlowGpu()
    jobs = [enqueue(backend, seed) for seed in range(3)]
    worker = Worker(backend, lambda _kind: gpu)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(["image"], stop), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(
        (backend.store.get(JOBS, j) or {}).get("status") == JobStatus.SUCCEEDED for j in jobs
    ):
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=15)
    assert all(backend.store.get(JOBS, j)["status"] == JobStatus.SUCCEEDED for j in jobs)  # type: ignore[index]
    runs = sorted(gpu.runs)
    assert len(runs) == 3
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(runs))  # one at a time
    # Some upload of an earlier batch is still running after the next batch started generating.
    overlapped = [(p, r) for p in blobs.puts for r in runs if r[0] < p[1] and p[0] < r[1] and p[0] >= runs[0][1]]
    assert overlapped, (runs, blobs.puts)
    # The generator saw record-only hooks: every progress/cancel call returned at once.
    assert gpu.hook_types == {RecordingHooks} and max(gpu.progress_call_s) < 0.04  # a store call sleeps 0.05 s
    progress = backend.store.get(JOBS, jobs[-1])["progress"]  # type: ignore[index]
    assert (progress["step"], progress["total"]) == (STEPS, STEPS)  # relayed to the store in the end


class SlowHooks:
    """Job hooks whose writes and reads take 50 ms each, like a distant record store."""

    remote_task_id = None

    def __init__(self) -> None:
        self.steps: list[tuple[int, int]] = []
        self.cancel = False

    def progress(self, step: int, total: int) -> None:
        time.sleep(0.05)
        self.steps.append((step, total))

    def canceled(self) -> bool:
        time.sleep(0.05)
        return self.cancel

    def save_remote_task_id(self, task_id: str) -> None:
        self.remote_task_id = task_id  # type: ignore[assignment]


def test_relay_forwards_every_step_in_order_and_brings_the_cancel_flag() -> None:
    inner = SlowHooks()
    with HookRelay([inner], interval=0.02) as [hooks]:
        started = time.perf_counter()
        for step in range(1, 11):
            hooks.progress(step, 10)
        assert time.perf_counter() - started < 0.25  # recording never waits on the store (10 writes: 0.5 s)
        assert not hooks.canceled()
        inner.cancel = True
        deadline = time.monotonic() + 2
        while not hooks.canceled() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hooks.canceled()
    assert inner.steps == [(s, 10) for s in range(1, 11)]


def test_a_failed_background_stage_fails_the_loop() -> None:
    stages = Stages(depth=2)

    def boom() -> None:
        raise RuntimeError("store down")

    with stages.slot() as submit:
        submit(boom)
    with pytest.raises(RuntimeError, match="store down"):
        stages.drain()
