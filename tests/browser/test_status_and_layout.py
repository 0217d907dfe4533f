"""The status view's numbers come from /tasks/stats/summary and refresh on their own; the image form
works from the keyboard alone; the pages fit a phone's width."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import SoulDev

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def test_status_view_auto_refreshes_with_the_api_numbers(page: Page, web: SoulDev) -> None:
    page.goto("/status")
    hit_rate = page.locator("[data-stats] td[data-key='hit rate']")
    expect(hit_rate).to_have_text(re.compile(r"\d+\.\d%"))
    stamp = page.locator("[data-stats-updated]").text_content()
    # A miss (made and waited for), then a cache hit for a second user: the hit rate moves.
    params = {"soul_id": "nova", "cue": "status check", "wait": 20}
    assert httpx.get(f"{web.url}/image", params={**params, "user_id": "s1"}, timeout=30).status_code == 200
    hit = httpx.get(f"{web.url}/image", params={**params, "user_id": "s2"}, timeout=30).json()
    assert hit["cache_hit"] is True
    # No click: the view refreshes itself (every 2 s) and shows the same figures as the API. Earlier
    # tests' jobs and the batched hit counters may still move the figures, so each try compares the
    # page with the API read at that moment.
    deadline = time.monotonic() + 12
    while True:
        stats = httpx.get(f"{web.url}/tasks/stats/summary", timeout=5).json()
        want = {
            "hit rate": f"{stats['cache']['hit_rate'] * 100:.1f}%",
            "hits": str(stats["cache"]["hits"]),
            **{lane: str(queued) for lane, queued in stats["queued_by_lane"].items()},
        }
        shown = {key: page.locator(f"[data-stats] td[data-key='{key}']").text_content() for key in want}
        if shown == want or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    assert shown == want
    assert page.locator("[data-stats-updated]").text_content() != stamp


def test_keyboard_only_generate(page: Page, screenshot: Callable[[Page, str], Path]) -> None:
    page.goto("/")
    expect(page.locator("#soul option")).not_to_have_count(0)
    order = []
    for _ in range(9):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    # Skip link, the six page links, the user id, then the form: a sensible order, nothing unreachable.
    pages = ["Images", "Video", "Runs", "Gallery", "Status", "API docs"]
    assert order == ["Skip to content", *pages, "user-id", "soul"]
    page.keyboard.type("k")  # type-ahead in the focused <select>: Kai
    expect(page.locator("#soul")).to_have_value("kai")
    page.keyboard.press("Tab")
    page.keyboard.type("otter juggling shells")
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#image-figure")).to_be_visible()
    expect(page.locator("#image-caption")).to_contain_text("otter juggling shells")
    # The result stays operable by keyboard: focus reaches Frames, then Transform to GIF.
    page.focus("#cue")
    for _ in range(15):  # past Advanced, Generate, the selfie form and the image's links
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "frames":
            break
    page.keyboard.type("4")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "to-gif"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    page.keyboard.press("Enter")
    expect(page.locator("#video-job [data-status]")).to_have_text(re.compile(r"^Done: step (\d+)/\1\.$"))
    screenshot(page, "done")


PAGES = ["/", "/wan-video", "/status", "/runs", "/gallery"]


@pytest.mark.parametrize("path", PAGES, ids=["images", "video", "status", "runs", "gallery"])
def test_pages_fit_a_phone(
    path: str, page_factory: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    page = page_factory(**PHONE)
    page.goto(path)
    # The page's scripts ran: the footer says what makes the pictures (the operator's view on /status only).
    expect(page.locator("#generators")).to_contain_text("Generators:" if path == "/status" else "Placeholder mode:")
    header = page.locator("header.top").bounding_box()
    assert header and header["height"] <= 100, f"the header takes {header} of a 812 px screen"
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll on a 375 px screen: {widths}"
    if path == "/":
        forms, result = (page.locator(sel).bounding_box() for sel in (".forms", ".result"))
        assert forms and result and result["y"] > forms["y"] + forms["height"] - 1  # one column
    screenshot(page, "phone")
