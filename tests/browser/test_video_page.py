"""The Wan video page in real Chromium without a DashScope key: both forms are off, saying so in plain
words (a request would only become a failed task; the variable to set is on the status page), while the
API, asked anyway, still answers with a task that fails with `not_configured`, shown once, in words, on
the runs view."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import SoulDev

pytestmark = pytest.mark.browser


def test_wan_forms_are_off_with_the_reason(page: Page, screenshot: Callable[[Page, str], Path]) -> None:
    page.goto("/wan-video")
    notice = page.locator("#wan-notice")
    # Plain words for a consumer; the variable an operator sets is on the status page (test_inputs.py).
    expect(notice).to_have_text(
        "Text-to-video is not available on this server yet, so these forms are off. Images and GIFs work (Images page)."
    )
    for name in ("Make video", "Make selfie video"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_disabled()
    expect(page.get_by_label("Cue", exact=True)).to_be_disabled()
    expect(page.locator("#wan-form")).to_have_attribute("aria-describedby", "wan-notice")
    expect(page.locator("#alerts .alert")).to_have_count(0)  # nothing failed: nothing to alert about
    screenshot(page, "off")


def test_wan_failure_from_the_api_is_shown_once_on_the_runs_view(page: Page, web: SoulDev, user_id: str) -> None:
    params = {"soul_id": "luna", "cue": "a bird flying in the sky", "user_id": user_id, "wait": 10}
    task = httpx.get(f"{web.url}/wan-video/", params=params, timeout=20).json()
    task = httpx.get(f"{web.url}/tasks/{task['task_id']}", params={"user_id": user_id, "wait": 10}, timeout=20).json()
    assert (task["kind"], task["status"], task["error"]["code"]) == ("wan", "failed", "not_configured")
    page.goto("/runs")
    row = page.locator(f".run[data-task='{task['task_id']}']")
    expect(row).to_have_attribute("data-status", "failed")
    # Said once, in a consumer's words; the variable to set is the operator's (/status, the logs).
    expect(row.locator(".run-state")).to_have_text("Failed: this kind of run is not set up on this server yet.")
    assert page.get_by_text("not set up on this server yet").count() == 1
    assert page.get_by_text("DASHSCOPE_API_KEY").count() == 0


def test_start_up_says_what_is_real_and_what_to_set(web: SoulDev) -> None:
    banner = web.log.read_text()
    assert "image  PLACEHOLDER: labelled preview cards, no model weights  ->  set SDXL_MODEL_PATH" in banner
    assert "video  PLACEHOLDER: labelled preview clips, no model weights  ->  set SVD_MODEL_PATH" in banner
    assert (
        "wan    OFF: no DashScope API key, Wan requests fail with not_configured  ->  set DASHSCOPE_API_KEY" in banner
    )
