"""Issue 5 end to end: `soul dev` with WAN_API_BASE_URL pointed at the local fake DashScope server
produces a real MP4 + GIF through the whole pipeline (API → queue → worker → Wan → blobs → variant)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import imageio_ffmpeg
import pytest

from tests.conftest import SoulDev
from tests.fakes.fake_dashscope import FakeDashScope

pytestmark = pytest.mark.e2e


def test_wan_video_through_soul_dev(tmp_path: Path) -> None:
    with FakeDashScope(api_key="sk-e2e-canary-123456") as fake:
        env = {
            "WAN_API_BASE_URL": fake.base_url,
            "DASHSCOPE_API_KEY": "sk-e2e-canary-123456",
            "WAN_ALLOWED_HOSTS": "127.0.0.1",
        }
        server = SoulDev(tmp_path / "data", env)
        try:
            r = httpx.get(
                f"{server.url}/wan-video/", params={"soul_id": "nova", "cue": "bird flying in the sky", "user_id": "u1"}
            )
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 60
            while True:
                task = httpx.get(server.url + r.json()["status_url"], params={"user_id": "u1"}).json()
                if task["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert task["status"] == "succeeded", task
            mp4 = httpx.get(server.url + task["result"]["urls"]["mp4"]).content
            gif = httpx.get(server.url + task["result"]["urls"]["gif"]).content
            assert gif[:6] in (b"GIF89a", b"GIF87a")
            probe = tmp_path / "wan.mp4"
            probe.write_bytes(mp4)
            info = subprocess.run(
                [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(probe)],
                check=False,
                capture_output=True,
                text=True,
            ).stderr
            assert "Video: h264" in info
            assert fake.calls["submit"] == 1
            hit = httpx.get(
                f"{server.url}/wan-video/",
                params={"soul_id": "nova", "cue": "Bird flying in the sky!", "user_id": "u2"},
            )
            assert hit.status_code == 200 and hit.json()["cache_hit"] is True and hit.json()["gif_url"]
        finally:
            server.stop()
        assert "sk-e2e-canary-123456" not in server.log.read_text()
