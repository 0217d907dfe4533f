"""SIGKILL the worker at each point of a job (issue 3 §5, issue 2), on the local backend and on the
emulators: after the claim, mid-generation, after the upload, after the record write but before the
ack. A second worker must finish every job, with at most one extra generation and, after a reconcile
pass, no orphan object."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from functions.context import Context
from gpu_jobs.reconcile import Reconciler
from infra import seed
from shared.bootstrap import Backend, build_backend
from shared.config import Settings
from shared.records import JOBS, VARIANTS
from tests.conftest import ROOT, emulator_settings, make_settings

pytestmark = pytest.mark.integration
POINTS = ["after_claim", "mid_generation", "after_upload", "after_record"]
ENV_FIELDS = (
    "soul_backend",
    "soul_data_dir",
    "google_cloud_project",
    "pubsub_topic",
    "pubsub_subscription_prefix",
    "pubsub_dead_letter_topic",
    "gcs_bucket_name",
    "soul_lease_seconds",
    "soul_ack_deadline_seconds",
)


def _backend(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Backend, dict[str, str]]:
    common = {"soul_lease_seconds": 5, "soul_ack_deadline_seconds": 10}
    if kind == "local":
        settings = make_settings(tmp_path / "data", **common)
        env: dict[str, str] = {}
    else:
        env = request.getfixturevalue("gcp_env")
        os.environ.update(env)
        settings = emulator_settings(env, tmp_path / "data", **common)
    backend = build_backend(settings)
    getattr(backend.blobs, "ensure_bucket", lambda: None)()
    seed.load(backend)
    return backend, {**env, **_as_env(settings)}


def _as_env(settings: Settings) -> dict[str, str]:
    return {name.upper(): str(getattr(settings, name)) for name in ENV_FIELDS}


def _worker(env: dict[str, str], log: Path, failpoint: str = "") -> subprocess.Popen[bytes]:
    full = {**os.environ, **env, "SOUL_FAILPOINTS": failpoint, "SOUL_PREVIEW_STEP_SECONDS": "0.05", "LOG_LEVEL": "INFO"}
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "worker", "--lanes", "image"],
        cwd=ROOT,
        env=full,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("kind", ["local", "gcp"])
def test_sigkill_at_each_point_finishes_once(
    kind: str, point: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend, env = _backend(kind, tmp_path, request)
    job = Context.build(backend).generation.image("u1", "ember", f"lantern {point}").served.job
    assert job is not None
    log = tmp_path / "worker.log"
    first = _worker(env, log, point)
    assert first.wait(timeout=60) == -9, log.read_text()[-2000:]  # it died at the failpoint
    second = _worker(env, log)
    try:
        deadline = time.monotonic() + 60
        while (backend.store.get(JOBS, job.job_id) or {}).get("status") != "succeeded":
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
    finally:
        os.killpg(second.pid, 9)
        second.wait()
    final = backend.store.get(JOBS, job.job_id)
    assert final is not None
    variants = backend.store.query(VARIANTS)
    assert len(variants) == 1
    # Generations: the killed attempt (unless it died before generating) plus at most one more.
    extra = {"after_claim": 1, "mid_generation": 1, "after_upload": 0, "after_record": 0}[point]
    assert final["attempts"] <= 1 + extra + (point == "after_upload")
    if point == "after_upload":
        assert variants[0]["generator"] == "recovered"  # the retry reused the uploads, no new generation
    Reconciler(backend, grace=0).delete_orphans()
    assert backend.blobs.list("variants/") == [f"variants/{job.variant_id}/image.png"]
