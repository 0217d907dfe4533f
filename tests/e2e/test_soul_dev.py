"""End to end over real HTTP: `soul dev` in its own process, curl-like calls; a worker process
killed with SIGKILL mid-job and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from infra import seed
from shared.bootstrap import build_backend
from shared.records import JOBS, VARIANTS
from tests.conftest import ROOT, SoulDev, make_settings

pytestmark = pytest.mark.e2e


def poll(url: str, params: dict[str, str], until: set[str], timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(url, params=params, timeout=5).json()
        if body["status"] in until:
            return body
        time.sleep(0.1)
    raise TimeoutError(f"{url} never reached {until}")


def test_soul_dev_end_to_end(soul_dev: SoulDev) -> None:
    base = soul_dev.url
    r = httpx.get(f"{base}/image", params={"soul_id": "nova", "cue": "A Penguin!!", "user_id": "u1"})
    assert r.status_code == 202, r.text
    task = poll(base + r.json()["status_url"], {"user_id": "u1"}, {"succeeded", "failed"})
    assert task["status"] == "succeeded", task
    png = httpx.get(base + task["result"]["urls"]["png"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    hit = httpx.get(f"{base}/image", params={"soul_id": "nova", "cue": "penguin", "user_id": "u2"})
    assert hit.status_code == 200 and hit.json()["cache_hit"] is True
    assert hit.json()["variant_id"] == task["result"]["variant_id"]
    tampered = base + task["result"]["urls"]["png"].replace("sig=", "sig=0")
    assert httpx.get(tampered).status_code == 404
    redirect = httpx.get(f"{base}/media/{task['result']['variant_id']}.png", follow_redirects=True)
    assert redirect.status_code == 200 and redirect.content[:4] == b"\x89PNG"
    for path in ("/", "/wan-video", "/docs/", "/openapi.json", "/info", "/ready"):
        assert httpx.get(base + path).status_code == 200, path
    info = httpx.get(f"{base}/info").json()
    assert "preview" in info["generators"]["image"] and "not configured" in info["generators"]["wan"]
    stats = httpx.get(f"{base}/tasks/stats/summary").json()
    assert stats["jobs_by_status"]["succeeded"] == 1 and stats["cache"]["hits"] == 1


def _worker(data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SOUL_DATA_DIR": str(data_dir),
        "SOUL_PREVIEW_STEP_SECONDS": "0.2",
        "SOUL_LEASE_SECONDS": "6",
        "SOUL_ACK_DEADLINE_SECONDS": "10",
        "LOG_LEVEL": "INFO",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "worker", "--lanes", "image"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_sigkill_mid_job_finishes_once(tmp_path: Path) -> None:
    from functions.context import Context

    data = tmp_path / "data"
    backend = build_backend(make_settings(data, soul_lease_seconds=6))
    seed.load(backend)
    job = Context.build(backend).generation.image("u1", "nova", "penguin in the snow").served.job
    assert job is not None
    first = _worker(data, tmp_path / "w1.log")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            doc = backend.store.get(JOBS, job.job_id) or {}
            if doc.get("status") == "running" and doc["progress"]["step"] >= 3:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the worker never got going")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        assert backend.store.get(JOBS, job.job_id)["status"] == "running"  # type: ignore[index]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    second = _worker(data, tmp_path / "w2.log")
    try:
        deadline = time.monotonic() + 60
        while (backend.store.get(JOBS, job.job_id) or {}).get("status") != "succeeded":
            assert time.monotonic() < deadline, (tmp_path / "w2.log").read_text()[-2000:]
            time.sleep(0.1)
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
    final = backend.store.get(JOBS, job.job_id)
    assert final is not None and final["attempts"] == 2
    assert backend.store.count(VARIANTS) == 1
    assert backend.blobs.list() == [f"variants/{job.variant_id}/image.png"]
