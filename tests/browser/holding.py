"""Holding the local image worker in a known state for browser tests, whatever the machine's speed.

The preview generator waits between steps while SOUL_PREVIEW_HOLD_FILE exists (gpu_jobs/generators/
preview.py). The one image worker has two stages (gpu_jobs/pipeline.py): another user's two jobs fill
them — the first generating (held), the second claimed and waiting its turn — so every job sent after
them stays queued until the hold is let go. The second is sent only once the first runs, so the two
never share one pull. Leaving the block lets go and waits until the blockers have finished, so the
worker is free for the next test. Work the pages start on their own (a sample image of each soul, made
once per server) is finished first, so it cannot sit in the queue ahead of the blockers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.conftest import SoulDev

TERMINAL = {"succeeded", "failed", "canceled"}


def wait_status(task_url: str, until: set[str], timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = str(httpx.get(task_url, timeout=5).json()["status"])
        if status in until:
            return status
        time.sleep(0.05)
    raise TimeoutError(f"{task_url} never reached {until}")


def send(web: SoulDev, user: str, cue: str, soul: str = "kai") -> dict[str, str]:
    answer = httpx.get(f"{web.url}/image", params={"soul_id": soul, "cue": cue, "user_id": user}, timeout=5)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def settle(web: SoulDev, timeout: float = 60.0) -> None:
    """Every soul's sample made (the image page asks for them: GET /style/{id}/sample)."""
    souls = [s["soul_id"] for s in httpx.get(f"{web.url}/style", timeout=5).json()["styles"]]
    deadline = time.monotonic() + timeout
    for soul in souls:
        while time.monotonic() < deadline:
            answer = httpx.get(f"{web.url}/style/{soul}/sample", timeout=5)
            if answer.status_code != 200 or answer.json().get("status") != "making":
                break
            time.sleep(0.1)


@contextmanager
def held_worker(web: SoulDev, queued_before: int = 0) -> Iterator[list[str]]:
    """The image worker busy with two blockers; `queued_before` more of the other user's jobs wait in the
    queue ahead of anything the test sends. Yields the blockers' task URLs."""
    assert web.hold_file is not None
    settle(web)
    tag = uuid.uuid4().hex[:8]
    web.hold_file.touch()
    urls: list[str] = []
    try:
        for i in (1, 2):
            urls.append(web.url + send(web, "holder", f"held {tag} number {i}")["status_url"])
            wait_status(urls[-1], {"running"})
        for i in range(queued_before):
            urls.append(web.url + send(web, "holder", f"waiting {tag} number {i}")["status_url"])
        yield urls
    finally:
        web.hold_file.unlink(missing_ok=True)
        for url in urls:
            wait_status(url, TERMINAL)
