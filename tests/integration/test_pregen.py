"""Pre-generation end to end on the embedded backend (SQLite records + queue, the real worker loop):
the recorder's refills, the low-priority lane, the daily budget, cold keys and changed styles; and
the cloud launcher / dispatcher's handling of a low lane."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from functions.dispatch import parse
from functions.service import GenerationService
from gpu_jobs.generators.base import GenRequest, Output
from gpu_jobs.worker import Worker
from infra import seed
from shared import pregen, pregen_budget
from shared.adapters.gcp_run import CloudRunLauncher
from shared.bootstrap import Backend, build_backend
from shared.domain.demand import Policy
from shared.domain.models import JobMessage, JobStatus, Kind
from shared.records import JOBS, STYLES, Records
from tests.conftest import make_settings

pytestmark = pytest.mark.integration
CUE = "penguin surfing in the sea"


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


class RecordingGenerator:
    """Tiny images, and a hook that runs while the first batch is 'on the GPU'."""

    name = "recording"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []  # prompts per batch
        self.during_first: Any = None

    def setup(self) -> None:
        pass

    def generate(self, requests: Sequence[GenRequest]) -> list[Output]:
        self.batches.append([r.spec.prompt for r in requests])
        if len(self.batches) == 1 and self.during_first is not None:
            self.during_first()
        return [Output(frames=[Image.new("RGB", (8, 8), "white")], generator=self.name) for _ in requests]


def _backend(tmp_path: Path, budget: float, **extra: object) -> tuple[Backend, Clock]:
    clock = Clock()
    settings = make_settings(tmp_path / "data", soul_pregen_daily_gpu_seconds=budget, soul_batch_size=1, **extra)
    backend = build_backend(settings, clock)
    seed.load(backend)
    return backend, clock


def _service(backend: Backend) -> GenerationService:
    service = GenerationService(backend)
    service.pregen.flush_mode = "manual"  # flushes only where the test says
    service.pregen.policy = Policy(target_headroom=2)  # two jobs per refill: room for a user job between them
    return service


def _low_jobs(backend: Backend) -> list[dict[str, Any]]:
    return [d for d in backend.store.query(JOBS, [("lane", "==", "image-low")]) if d["owner"] == pregen.OWNER]


def _warm_key(backend: Backend, clock: Clock, service: GenerationService, worker: Worker) -> None:
    """ann misses and gets the key's first variant; bob is shown it from the cache: both have seen all."""
    assert service.image("ann", "nova", CUE).served.job is not None
    worker.run_once("image")
    clock.t += 30
    assert service.image("bob", "nova", CUE).served.variant is not None


def test_hot_key_is_refilled_on_the_low_lane_and_served_by_the_hit_path(tmp_path: Path) -> None:
    backend, clock = _backend(tmp_path, budget=1000.0)
    service, gen = _service(backend), RecordingGenerator()
    worker = Worker(backend, lambda kind: gen)
    _warm_key(backend, clock, service, worker)
    clock.t += pregen.FLUSH_SECONDS
    made = service.pregen.flush(clock.now())
    assert len(made) == service.pregen.policy.target_headroom == len(_low_jobs(backend))
    assert all(j.kind is Kind.IMAGE and j.lane == "image-low" and j.user_ids == [] for j in made)
    assert (
        len({j.spec.seed for j in made}) == 2
        and made[0].spec.prompt == Records(backend.store).job(made[0].job_id).spec.prompt
    )  # same spec, own seeds
    while worker.run_once("image"):
        pass
    assert pregen_budget.spent_seconds(backend.store, clock.now()) == 2 * 2.0
    hits = [service.image(u, "nova", CUE).served.variant for u in ("ann", "bob")]
    assert all(v is not None and v.job_id in {j.job_id for j in made} for v in hits)


def test_user_job_submitted_while_pregeneration_runs_is_next(tmp_path: Path) -> None:
    backend, clock = _backend(tmp_path, budget=1000.0)
    service, gen = _service(backend), RecordingGenerator()
    worker = Worker(backend, lambda kind: gen)
    _warm_key(backend, clock, service, worker)
    clock.t += pregen.FLUSH_SECONDS
    assert len(service.pregen.flush(clock.now())) == 2
    gen.batches.clear()
    user: list[Any] = []
    gen.during_first = lambda: user.append(service.image("cleo", "nova", "cat sleeping on the sofa").served.job)
    worker.run_once("image")  # one pre-generation batch; cleo's request arrives meanwhile
    worker.run_once("image")
    assert user[0] is not None and Records(backend.store).job(user[0].job_id).status is JobStatus.SUCCEEDED
    assert "cat sleeping" in gen.batches[1][0]  # the user's job ran next, before the second refill
    assert sorted(d["status"] for d in _low_jobs(backend)) == ["queued", "succeeded"]


def test_budget_stops_pregeneration(tmp_path: Path) -> None:
    backend, clock = _backend(tmp_path, budget=3.0)  # one image job (2 GPU seconds) fits, not two
    service, gen = _service(backend), RecordingGenerator()
    worker = Worker(backend, lambda kind: gen)
    _warm_key(backend, clock, service, worker)
    clock.t += pregen.FLUSH_SECONDS
    assert len(service.pregen.flush(clock.now())) == 1
    while worker.run_once("image"):
        pass
    for user in ("ann", "bob", "ann", "bob"):
        service.image(user, "nova", CUE)
        worker.run_once("image")
    clock.t += pregen.FLUSH_SECONDS
    assert service.pregen.flush(clock.now()) == [] and len(_low_jobs(backend)) == 1
    assert pregen_budget.budget_left(backend.store, 3.0, clock.now()) == pytest.approx(1.0)
    clock.t += 86400  # a new UTC day, a new budget
    assert pregen_budget.budget_left(backend.store, 3.0, clock.now()) == 3.0


def test_off_by_default_and_nothing_for_a_cold_key(tmp_path: Path) -> None:
    backend, clock = _backend(tmp_path, budget=0.0)
    service, gen = _service(backend), RecordingGenerator()
    worker = Worker(backend, lambda kind: gen)
    _warm_key(backend, clock, service, worker)
    clock.t += pregen.FLUSH_SECONDS
    assert service.pregen.flush(clock.now()) == [] and _low_jobs(backend) == []

    backend, clock = _backend(tmp_path / "on", budget=1000.0)
    service = _service(backend)
    worker = Worker(backend, lambda kind: gen)
    service.image("ann", "nova", CUE)  # asked once: cold
    worker.run_once("image")
    clock.t += pregen.FLUSH_SECONDS
    service.image("ann", "nova", "owl reading a book")  # another key, also once
    clock.t += pregen.FLUSH_SECONDS
    assert service.pregen.flush(clock.now()) == [] and _low_jobs(backend) == []


def test_nothing_pregenerated_for_a_key_whose_style_version_changed(tmp_path: Path) -> None:
    backend, clock = _backend(tmp_path, budget=1000.0)
    service, gen = _service(backend), RecordingGenerator()
    worker = Worker(backend, lambda kind: gen)
    _warm_key(backend, clock, service, worker)
    style = Records(backend.store).style("nova")
    backend.store.update(STYLES, "nova", {"version": style.version + 1})
    Records(backend.store).forget_style("nova")
    clock.t += pregen.FLUSH_SECONDS
    assert service.pregen.flush(clock.now()) == [] and _low_jobs(backend) == []


def _no_client() -> Any:
    raise AssertionError("no Cloud Run call may be made for pre-generation past the budget")


def test_cloud_launcher_starts_a_gpu_worker_for_pregeneration_only_within_budget(tmp_path: Path) -> None:
    backend, clock = _backend(tmp_path, budget=4.0, soul_dispatch_interval_seconds=0)
    launcher = CloudRunLauncher(backend.settings, backend.store, clock, client_factory=_no_client)
    assert launcher.lane_to_launch("image-low") == "image" and launcher.lane_to_launch("video-low") == "video"
    pregen_budget.charge(backend.store, 4.0, clock.now())
    assert launcher.lane_to_launch("image-low") is None
    assert launcher.lane_to_launch("image") == "image"  # user work launches whatever the budget
    launcher.launch("image-low")  # spent: returns before any Cloud Run call (_no_client would raise)
    off, _ = _backend(tmp_path / "off", budget=0.0)
    assert (
        CloudRunLauncher(off.settings, off.store, clock, client_factory=_no_client).lane_to_launch("image-low") is None
    )
    message = JobMessage(job_id="j1", lane="image-low").model_dump_json().encode()
    event = {"message": {"data": base64.b64encode(message).decode(), "attributes": {"lane": "image-low"}}}
    assert parse(event).lane == "image-low"
