"""The status page's metrics section (issue 26 part 2) shows the figures `/metrics` serves: requests by
outcome, jobs, launches, the queue per lane and the estimated spend, refreshed on its own."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SoulDev

pytestmark = pytest.mark.browser


def totals(url: str) -> dict[str, str]:
    """What the page should show for the counters it sums, from /metrics at this moment."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    by: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, s.labels.get("outcome", ""))
            by[key] = by.get(key, 0.0) + s.value
    shown = {o: by.get(("soul_requests_total", o), 0.0) for o in ("hit", "miss", "blocked", "attach")}
    shown["succeeded"] = by.get(("soul_jobs_total", "succeeded"), 0.0)
    return {name: f"{value:g}" for name, value in shown.items()}


def test_status_page_shows_the_metrics_it_scrapes(page: Page, web: SoulDev) -> None:
    page.goto("/status")
    section = page.locator("[data-metrics]")
    expect(section.locator("td[data-metric='hit']")).to_have_text(re.compile(r"^\d+$"))
    params = {"soul_id": "nova", "cue": "metrics on the status page", "wait": 20}
    assert httpx.get(f"{web.url}/image", params={**params, "user_id": "m1"}, timeout=30).status_code == 200
    assert httpx.get(f"{web.url}/image", params={**params, "user_id": "m2"}, timeout=30).json()["cache_hit"]
    blocked = httpx.get(f"{web.url}/image", params={**params, "cue": "a naked child", "user_id": "m3"}, timeout=30)
    assert blocked.status_code == 422
    # No click: the section refreshes itself. Other tests share this server, so each try compares the page
    # with /metrics read at that moment.
    deadline = time.monotonic() + 12
    while True:
        want = totals(web.url)
        shown = {key: section.locator(f"td[data-metric='{key}']").text_content() for key in want}
        if shown == want or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    assert shown == want
    assert all(int(want[k]) >= 1 for k in ("hit", "miss", "blocked", "succeeded"))  # the workers record into it too
    expect(section.locator("td[data-metric='image']")).to_have_text(re.compile(r"^\d+, \d+ s$"))
    expect(section.locator("td[data-metric='estimated spend']")).to_have_text(re.compile(r"^\$\d+\.\d{6}$"))
