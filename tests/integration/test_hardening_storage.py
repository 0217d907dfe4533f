"""Issue 16, probe 7: storage faults. The blob store failing (here: its directory replaced by a file,
which fails every write the way a read-only or full disk does, even for root) gives a clear reason,
shows on /ready, costs no second generation, and the task that finally succeeds carries no stale
error. A database file that is not usable stops `soul dev` with one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from functions.app import create_app
from functions.context import Context
from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from infra import seed
from shared.bootstrap import build_backend
from tests.conftest import ROOT, SoulDev, drain, free_port, make_settings

pytestmark = pytest.mark.integration


def _break(blobs: Path) -> None:
    blobs.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(blobs)
    blobs.write_text("not a directory")


def _mend(blobs: Path) -> None:
    blobs.unlink()
    blobs.mkdir()


def _poll(
    url: str, params: dict[str, str], until: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = httpx.get(url, params=params, timeout=5).json()
        if until(body):
            return body
        time.sleep(0.1)
    raise TimeoutError(f"{url}: condition not met; last {body}")


def test_blob_store_fault_is_reported_and_recovers(tmp_path: Path) -> None:
    env = {"SOUL_RETRY_BASE_SECONDS": "0.2", "SOUL_RETRY_CAP_SECONDS": "0.5", "SOUL_MAX_DELIVERY_ATTEMPTS": "50"}
    dev = SoulDev(tmp_path / "data", env)
    try:
        base, blobs = dev.url, tmp_path / "data" / "blobs"
        assert httpx.get(f"{base}/ready").json()["checks"]["blobs"] == "ok"
        _break(blobs)
        r = httpx.get(f"{base}/ready")
        assert r.status_code == 503 and r.json()["error"]["code"] == "storage_unavailable", r.text
        assert "blob store cannot be written (" in r.json()["error"]["message"]
        r = httpx.get(f"{base}/image", params={"soul_id": "nova", "cue": "a lighthouse", "user_id": "u1"})
        status_url, who = base + r.json()["status_url"], {"user_id": "u1"}
        failing = _poll(status_url, who, lambda b: b["error"] is not None)
        assert failing["error"]["code"] == "storage_unavailable"
        assert "blob store cannot be written" in failing["error"]["message"]
        assert "internal" not in failing["error"]["message"] and "/" not in failing["error"]["message"]
        _mend(blobs)
        done = _poll(status_url, who, lambda b: b["status"] in ("succeeded", "failed"))
        assert done["status"] == "succeeded" and done["error"] is None, done
        assert done["attempts"] >= 2
        assert httpx.get(f"{base}/ready").status_code == 200
    finally:
        dev.stop()


def test_a_failed_upload_keeps_the_generated_media(tmp_path: Path) -> None:
    backend = build_backend(make_settings(tmp_path / "data", soul_max_delivery_attempts=10))
    seed.load(backend)
    api = create_app(Context.build(backend)).test_client()
    worker = Worker(backend, Generators(backend.settings, backend.store).for_kind)
    r = api.get("/image", query_string={"soul_id": "nova", "cue": "a windmill", "user_id": "u1"})
    _break(backend.settings.blob_dir)
    assert worker.run_once("image") == 1  # generated, upload refused: retried later
    _mend(backend.settings.blob_dir)
    time.sleep(0.3)  # past the retry backoff (0.05-0.2 s here)
    drain(worker, ("image",))
    task = api.get(r.get_json()["status_url"], query_string={"user_id": "u1"}).get_json()
    assert task["status"] == "succeeded" and task["error"] is None
    assert worker.generations == 1  # the retry uploaded what the first attempt made


@pytest.mark.parametrize(
    "content",
    [b"this is not a database\n" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["not-sqlite", "corrupt"],
)
def test_an_unusable_database_file_is_one_line(tmp_path: Path, content: bytes) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "soul.sqlite3").write_bytes(content)
    env = {**os.environ, "SOUL_DATA_DIR": str(data), "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", "dev", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "soul.sqlite3" in lines[0] and "SOUL_DATA_DIR" in lines[0], done.stderr
