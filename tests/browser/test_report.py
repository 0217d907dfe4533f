"""Report buttons and the review page in real Chromium (issue 22 §3): a result on the images page and a
finished run in the detail dialog carry a Report button whose form posts the report; the review page
lists it and removes it."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import SoulDev

pytestmark = pytest.mark.browser


def test_report_from_the_run_detail_then_review_and_remove(
    page_factory: Callable[..., Page], web: SoulDev, user_id: str
) -> None:
    made = httpx.get(
        f"{web.url}/image",
        params={"soul_id": "nova", "cue": f"fox juggling {user_id}", "user_id": user_id, "wait": 30},
        timeout=40,
    ).json()
    page = page_factory()
    page.goto(f"/runs#task={made['task_id']}")
    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    detail.get_by_role("button", name="Report this result as offensive or unsafe").click()
    form = page.locator("#report")
    expect(form).to_be_visible()
    form.get_by_label("What is wrong with it?").select_option("violence")
    form.get_by_role("button", name="Send report").click()
    expect(form.locator("[data-report-say]")).to_contain_text("Thank you")

    page.goto("/ui/admin.html")
    entry = page.locator(f"[data-reported='{made['variant_id']}']")
    expect(entry).to_contain_text("violence ×1")
    entry.get_by_role("button", name="Remove", exact=True).click()
    expect(entry).to_contain_text("Done: removed")
