"""The image page in real Chromium against `soul dev`: generate with live progress, Transform to GIF,
cancel (running and queued), and API errors rendered in words."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.conftest import SoulDev

pytestmark = pytest.mark.browser

# Ember's style has 30 steps; read text and bar at one instant so the check cannot race the job.
MIDWAY_BAR = """() => {
  const bar = document.querySelector('#image-job progress');
  const text = document.querySelector('#image-job [data-status]').textContent;
  const midway = !bar.hidden && bar.max === 30 && bar.value > 0 && bar.value < 30;
  return midway && text.startsWith(`Running: step ${bar.value}/30 `);
}"""


def media_loaded(page: Page, selector: str) -> bool:
    """The element's bytes were fetched and decoded (an <img> with pixels, a <video> with frames)."""
    return bool(
        page.eval_on_selector(
            selector,
            "el => el.tagName === 'VIDEO' ? el.readyState >= 1 && el.videoWidth > 0 && el.duration > 0"
            " : el.complete && el.naturalWidth > 0",
        )
    )


def wait_status(task_url: str, until: set[str], timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = str(httpx.get(task_url, timeout=5).json()["status"])
        if status in until:
            return status
        time.sleep(0.05)
    raise TimeoutError(f"{task_url} never reached {until}")


def generate(page: Page, soul: str, cue: str) -> None:
    page.goto("/")
    page.get_by_label("Soul", exact=True).first.select_option(soul)
    page.get_by_label("Cue").fill(cue)
    page.get_by_role("button", name="Generate").click()


def test_generate_shows_progress_then_image_then_gif(
    page: Page, web: SoulDev, user_id: str, screenshot: Callable[[Page, str], Path]
) -> None:
    generate(page, "ember", "penguin on an iceberg")
    status = page.locator("#image-job [data-status]")
    # The job's real step i/N, seen while it runs: text and bar agree on one step strictly inside (0, 30).
    page.wait_for_function(MIDWAY_BAR)
    screenshot(page, "running")

    figure = page.locator("#image-figure")
    expect(figure).to_be_visible()
    expect(status).to_have_text("Done: step 30/30.")
    expect(page.locator("#image-caption")).to_contain_text("penguin on iceberg")
    expect(page.locator("#image-caption")).to_contain_text("preview generator")
    page.wait_for_function("() => document.querySelector('#result-image').naturalWidth > 0")
    variant = figure.get_attribute("data-variant")
    assert variant
    # The history now lists what this user was shown, its thumbnail loaded from the variant's own URL.
    expect(page.locator(f"#seen-list li[data-variant='{variant}']")).to_contain_text("penguin on iceberg")
    page.wait_for_function("() => [...document.querySelectorAll('#seen-list img')].some(i => i.naturalWidth > 0)")

    page.get_by_label("Frames").fill("8")
    expect(page.locator("#gif-estimate")).to_contain_text("8 frames")
    page.get_by_role("button", name="Transform to GIF").click()
    video_status = page.locator("#video-job [data-status]")
    expect(page.locator("#video-out")).to_be_visible()
    expect(video_status).to_have_text(re.compile(r"^Done: step (\d+)/\1\.$"))
    page.wait_for_function("() => document.querySelector('#result-video').readyState >= 1")
    page.wait_for_function("() => document.querySelector('#result-gif').naturalWidth > 0")
    assert media_loaded(page, "#result-video")  # H.264 MP4 decoded by Chromium
    assert media_loaded(page, "#result-gif")
    screenshot(page, "gif")

    # End state on the server: the SVD task succeeded with both files, made from this image.
    video_variant = page.locator("#video-out").get_attribute("data-variant")
    seen = httpx.get(f"{web.url}/image/user/{user_id}/seen", timeout=5).json()["variant_ids"]
    assert {variant, video_variant} <= set(seen)
    gif = httpx.get(f"{web.url}{page.locator('#result-gif').get_attribute('src')}", timeout=5)
    assert gif.status_code == 200 and gif.content[:6] == b"GIF89a"
    assert Image.open(io.BytesIO(gif.content)).n_frames == 8  # the Frames field reached the worker


def test_cancel_a_running_job(page: Page, web: SoulDev, user_id: str, screenshot: Callable[[Page, str], Path]) -> None:
    generate(page, "ember", "owl reading a map")
    status = page.locator("#image-job [data-status]")
    expect(status).to_have_text(re.compile(r"Running: step \d+/30"))
    page.get_by_role("button", name="Cancel").click()
    expect(status).to_have_text(re.compile(r"^Canceled( at step \d+/30)?\.$"))
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(page.locator("#image-figure")).to_be_hidden()
    screenshot(page, "canceled")
    task_id = page.locator("#image-job").get_attribute("data-task")
    task = httpx.get(f"{web.url}/tasks/{task_id}", params={"user_id": user_id}, timeout=5).json()
    assert task["status"] == "canceled"
    assert task["progress"]["step"] < 30


def test_cancel_a_queued_job(page: Page, web: SoulDev, user_id: str) -> None:
    page.goto("/")
    expect(page.locator("#soul option")).not_to_have_count(0)
    # One image worker with two stages (gpu_jobs/pipeline.py, depth 2): another user's two jobs fill them, the
    # first generating (held by the hold file the test controls), the second claimed and waiting its turn, so
    # ours stays queued however fast the machine is. The second is sent only once the first is running, so the
    # two can never share one pull (which would leave the other stage free to claim ours).
    assert web.hold_file is not None
    web.hold_file.touch()
    try:
        tasks = []
        for i in (1, 2):
            params = {"soul_id": "kai", "cue": f"blocker {i}", "user_id": "other"}
            blocker = httpx.get(f"{web.url}/image", params=params, timeout=5)
            assert blocker.status_code == 202
            tasks.append(f"{web.url}/tasks/{blocker.json()['task_id']}")
            wait_status(tasks[-1], {"running"})
        page.get_by_label("Cue").fill("fox in the snow")
        page.get_by_role("button", name="Generate").click()
        status = page.locator("#image-job [data-status]")
        expect(status).to_have_text(re.compile("^Queued"))
        page.get_by_role("button", name="Cancel").click()
        expect(status).to_have_text("Canceled.")
    finally:
        web.hold_file.unlink(missing_ok=True)
    task_id = page.locator("#image-job").get_attribute("data-task")
    mine = httpx.get(f"{web.url}/tasks/{task_id}", params={"user_id": user_id}, timeout=5).json()
    assert (mine["status"], mine["attempts"]) == ("canceled", 0)  # never claimed: no generator work
    # The other user's jobs were not touched (and the worker is free again for the next test).
    assert [wait_status(t, {"succeeded", "failed", "canceled"}) for t in tasks] == ["succeeded", "succeeded"]


def test_api_errors_are_rendered_in_words(page: Page, screenshot: Callable[[Page, str], Path]) -> None:
    page.goto("/")
    expect(page.locator("#image-form")).to_have_attribute("data-limits", "ready")
    alert = page.get_by_role("alert")
    cue = page.get_by_label("Cue")
    # A cue of blanks would pass the browser's `required`: it is refused before sending, next to the field.
    cue.fill("   ")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#cue-error")).to_have_text("Write a cue of 1–300 characters. Spaces alone do not count.")
    expect(cue).to_have_attribute("aria-invalid", "true")
    expect(cue).to_be_focused()
    expect(page.locator("#image-job [data-status]")).to_have_text("Nothing generated yet.")  # nothing was sent
    # A cue the API refuses (no words left once normalized): its 422 names the field, said next to it once.
    cue.fill("!!!")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#cue-error")).to_have_text("Write a cue with at least one word, number or emoji.")
    expect(page.locator("#image-job [data-status]")).to_have_text("Not sent: see the message next to the field.")
    expect(page.locator("#alerts .alert")).to_have_count(0)

    # A city the server does not know (a stale place list): 404 with the API's own explanation, in the alert.
    expect(page.locator("#city option")).not_to_have_count(0)
    page.eval_on_selector("#city", "s => s.add(new Option('Atlantis', 'atlantis'))")
    page.get_by_label("City").select_option("atlantis")
    page.get_by_role("button", name="Take selfie").click()
    expect(alert).to_contain_text("Selfie: unknown city 'atlantis'")
    expect(alert).to_contain_text("(not_found)")
    screenshot(page, "error")
    page.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#alerts .alert")).to_have_count(0)


def test_user_id_is_remembered_and_scopes_the_history(page: Page, web: SoulDev) -> None:
    page.goto("/")
    field = page.get_by_label("User", exact=True)
    field.fill("alice@example.com")
    field.press("Tab")  # `change` fires on leaving the field
    expect(page.locator("#seen-summary")).to_have_text("alice@example.com has not seen any variant yet.")
    page.reload()
    expect(field).to_have_value("alice@example.com")
    # Another user's id that the API accepts, with history: the page shows that user's seen list.
    made = httpx.get(
        f"{web.url}/image", params={"soul_id": "kai", "cue": "a kite", "user_id": "bob", "wait": 20}, timeout=30
    )
    assert made.status_code == 200, made.text
    field.fill("bob")
    field.press("Tab")
    expect(page.locator("#seen-summary")).to_have_text("bob has seen 1 variant.")
    expect(page.locator(f"#seen-list li[data-variant='{made.json()['variant_id']}']")).to_contain_text("kite")
    field.fill("not valid!")
    field.press("Tab")
    expect(page.get_by_role("alert")).to_contain_text("User id: letters, digits and _ . @ : - only")
    expect(field).to_have_attribute("aria-invalid", "true")
