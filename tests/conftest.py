"""Shared fixtures: a fresh local backend per test, the API's Flask test client, a worker, and a real
`soul dev` server on a free loopback port for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings

from functions.app import create_app
from functions.context import Context
from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from infra import emulators, seed
from shared.bootstrap import Backend, InProcessLauncher, build_backend
from shared.clock import SystemClock
from shared.config import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Hypothesis profiles. "ci" (the default when CI=true, as Cloud Build and `.ci/run` set it) is
# derandomized: the same examples on every run, so a gate failure is a real regression and reproduces
# anywhere. "random" explores fresh examples; run it by hand:
#   HYPOTHESIS_PROFILE=random .venv/bin/python -m pytest tests/unit   (or `make test-random`)
# Without either variable, hypothesis' own default (random, with its example database) applies.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
hypothesis_settings.register_profile("random", derandomize=False, deadline=None, max_examples=1000, print_blob=True)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI", "").lower() == "true" else "default")
)
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "soul_data_dir": data_dir,
        "soul_retry_base_seconds": 0.05,
        "soul_retry_cap_seconds": 0.2,
        "soul_lease_seconds": 30,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def backend(settings: Settings) -> Backend:
    backend = build_backend(settings)
    seed.load(backend)
    return backend


@pytest.fixture
def ctx(backend: Backend) -> Context:
    return Context.build(backend)


@pytest.fixture
def client(ctx: Context) -> FlaskClient:
    return create_app(ctx).test_client()


@pytest.fixture
def worker(backend: Backend) -> Worker:
    return Worker(backend, Generators(backend.settings, backend.store).for_kind)


def drain(worker: Worker, lanes: tuple[str, ...] = ("image", "video", "wan"), rounds: int = 20) -> int:
    """Run the worker until its lanes are empty; returns messages handled."""
    handled = 0
    for _ in range(rounds):
        got = sum(worker.run_once(lane) for lane in lanes)
        handled += got
        if not got:
            break
    return handled


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


class SoulDev:
    """`soul dev` in a subprocess (its own process group), on a free port, with its own data dir."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.hold_file: Path | None = None  # SOUL_PREVIEW_HOLD_FILE, when the caller set one
        self.log = data_dir.parent / "soul-dev.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        full_env = {**os.environ, "SOUL_DATA_DIR": str(data_dir), "LOG_LEVEL": "INFO", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "dev", "--port", str(self.port)],
            cwd=ROOT,
            env=full_env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_http(f"{self.url}/healthz")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


@pytest.fixture
def soul_dev(tmp_path: Path) -> Iterator[SoulDev]:
    server = SoulDev(tmp_path / "data", {"SOUL_PREVIEW_STEP_SECONDS": "0.02"})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcp_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The Firestore and Pub/Sub emulators and the local GCS server for the whole run: reused from the
    environment when it names them, else started here once (each start costs the JVMs' boot). Tests
    keep apart by resetting Firestore and naming their own topics and buckets."""
    try:
        with emulators.environment(tmp_path_factory.mktemp("emulator-logs")) as env:
            yield env
    except emulators.EmulatorsUnavailable as exc:
        if os.environ.get("SOUL_SKIP_EMULATORS") == "1":
            pytest.skip(f"emulators unavailable (SOUL_SKIP_EMULATORS=1): {exc}")
        pytest.fail(f"cannot start the emulators: {exc} (SOUL_SKIP_EMULATORS=1 skips)")


def emulator_settings(env: dict[str, str], data_dir: Path, **overrides: object) -> Settings:
    """Settings for a gcp backend on the emulators of `env` (gcp_env): Firestore emptied, and this
    test's own Pub/Sub topic, subscriptions, dead-letter topic and bucket, made here."""
    from shared.adapters.gcp_pubsub import ensure_topology

    project = env.get("GOOGLE_CLOUD_PROJECT", emulators.DEFAULT_PROJECT)
    emulators.reset_firestore(env["FIRESTORE_EMULATOR_HOST"], project)
    run = f"t{uuid.uuid4().hex[:10]}"
    names = {
        "pubsub_topic": f"{run}-jobs",
        "pubsub_subscription_prefix": f"{run}-jobs",
        "pubsub_dead_letter_topic": f"{run}-dead",
        "gcs_bucket_name": f"{run}-artifacts",
    }
    settings = make_settings(data_dir, soul_backend="gcp", google_cloud_project=project, **{**names, **overrides})
    ensure_topology(settings)
    return settings


def emulator_backend(env: dict[str, str], data_dir: Path, wrap_queue: Any = None, **overrides: object) -> Backend:
    """A gcp Backend on the emulators (see emulator_settings), jobs launched in process; `wrap_queue`
    wraps the Pub/Sub queue (a test that counts its calls)."""
    from shared.adapters.gcp_backend import build

    settings = emulator_settings(env, data_dir, **overrides)
    clock = SystemClock()
    store, queue, blobs, _ = build(settings, clock)
    blobs.ensure_bucket()  # type: ignore[attr-defined]
    return Backend(settings, store, wrap_queue(queue) if wrap_queue else queue, blobs, InProcessLauncher(), clock)
