"""Issue 16, probe 8 (Wan), over real HTTP: `soul dev` against the fake DashScope server on loopback.
A cancel reaches the provider while its task is PENDING even when no worker holds the job (released
after a provider fault, waiting out a long Retry-After); the downloader refuses a redirect to the same
host on another port."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import SoulDev
from tests.fakes.fake_dashscope import FakeDashScope, HttpFailure, TaskScript

pytestmark = pytest.mark.integration
KEY = "sk-hardening-wan-5a1e"


def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _env(fake: FakeDashScope) -> dict[str, str]:
    return {"WAN_API_BASE_URL": fake.base_url, "DASHSCOPE_API_KEY": KEY, "WAN_ALLOWED_HOSTS": "127.0.0.1"}


def test_cancel_reaches_the_provider_while_the_job_waits_to_retry(tmp_path: Path) -> None:
    with FakeDashScope(api_key=KEY) as fake:
        fake.default_script = TaskScript(statuses=["PENDING"])
        fake.fail("poll", HttpFailure(429, code="Throttling.RateQuota", retry_after="300"))  # requeued for 300 s
        server = SoulDev(tmp_path / "data", _env(fake))
        try:
            r = httpx.get(f"{server.url}/wan-video/", params={"soul_id": "nova", "cue": "a heron", "user_id": "u1"})
            assert r.status_code == 202, r.text
            status_url, who = server.url + r.json()["status_url"], {"user_id": "u1"}
            _until(lambda: httpx.get(status_url, params=who).json()["error"] is not None)  # released, waiting
            assert fake.calls["submit"] == 1 and fake.calls["cancel"] == 0
            canceled = httpx.delete(status_url, params=who)
            assert canceled.status_code == 200, canceled.text
            _until(lambda: fake.calls["cancel"] >= 1, timeout=15)  # now, not after the 300 s
            _until(lambda: httpx.get(status_url, params=who).json()["status"] == "canceled")
            assert fake.calls["submit"] == 1
        finally:
            server.stop()


def test_download_redirect_to_another_port_of_the_host_is_refused(tmp_path: Path) -> None:
    with FakeDashScope(api_key=KEY) as fake, FakeDashScope(api_key=KEY) as other:
        other_port = other.origin.rsplit(":", 1)[1]
        fake.redirects["/files/moved.mp4"] = f"http://127.0.0.1:{other_port}/files/video.mp4"
        fake.default_script = TaskScript(video_url=fake.url("/files/moved.mp4"))
        server = SoulDev(tmp_path / "data", _env(fake))
        try:
            r = httpx.get(f"{server.url}/wan-video/", params={"soul_id": "nova", "cue": "an owl", "user_id": "u1"})
            status_url, who = server.url + r.json()["status_url"], {"user_id": "u1"}
            _until(lambda: httpx.get(status_url, params=who).json()["status"] in ("failed", "succeeded"))
            task = httpx.get(status_url, params=who).json()
            assert task["status"] == "failed" and "refused redirect" in task["error"]["message"], task
            assert other.calls["download"] == 0 and fake.calls["download"] == 1
        finally:
            server.stop()
