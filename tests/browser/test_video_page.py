"""The Wan video page in real Chromium: both flows reach the server, and without a DashScope key the
task's `not_configured` failure is shown in words (alert, task status, and the up-front notice)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import SoulDev

pytestmark = pytest.mark.browser

NOT_CONFIGURED = "Wan text-to-video is not configured: set DASHSCOPE_API_KEY"


def test_wan_cue_failure_is_explained(
    page: Page, web: SoulDev, user_id: str, screenshot: Callable[[Page, str], Path]
) -> None:
    page.goto("/wan-video")
    expect(page.locator("#wan-notice")).to_contain_text("not configured")
    page.get_by_label("Soul").first.select_option("luna")
    page.get_by_label("Cue", exact=True).fill("a bird flying in the sky")
    page.get_by_role("button", name="Make video", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(f"Video failed: {NOT_CONFIGURED}")
    expect(alert).to_contain_text("(not_configured)")
    expect(page.locator("#wan-job [data-status]")).to_have_text(f"Failed: {NOT_CONFIGURED}")
    expect(page.locator("#wan-out")).to_be_hidden()
    screenshot(page, "not-configured")
    task_id = page.locator("#wan-job").get_attribute("data-task")
    task = httpx.get(f"{web.url}/tasks/{task_id}", params={"user_id": user_id}, timeout=5).json()
    assert (task["kind"], task["status"], task["error"]["code"]) == ("wan", "failed", "not_configured")


def test_wan_selfie_video_reaches_the_api(page: Page, web: SoulDev, user_id: str) -> None:
    page.goto("/wan-video")
    expect(page.locator("#wan-city option")).not_to_have_count(0)
    page.get_by_label("City").select_option("paris")
    expect(page.locator("#wan-city-hint")).to_contain_text("Eiffel")
    page.get_by_label("Mood").fill("excited")
    page.get_by_role("button", name="Make selfie video").click()
    expect(page.get_by_role("alert")).to_contain_text("Selfie video failed: Wan text-to-video is not configured")
    expect(page.get_by_role("alert")).to_contain_text("(not_configured)")
    task_id = page.locator("#wan-job").get_attribute("data-task")
    task = httpx.get(f"{web.url}/tasks/{task_id}", params={"user_id": user_id}, timeout=5).json()
    assert task["kind"] == "wan" and task["status"] == "failed"
