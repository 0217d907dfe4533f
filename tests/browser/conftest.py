"""Browser-test fixtures: one `soul dev` server and one headless Debian Chromium per session (driven by
Playwright for Python through `executable_path`, so no browser download), a fresh context per test
with its own user id, and screenshots saved under test-artifacts/browser/."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import ARTIFACTS, SoulDev

CHROMIUM = Path(os.environ.get("SOUL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = ARTIFACTS / "browser"
# The preview generator sleeps this long per diffusion step, so a 30-step image takes about 1.5 s: long
# enough to watch (and cancel) a running job, short enough for the suite to stay well under a minute.
STEP_SECONDS = "0.05"


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoulDev]:
    """`soul dev` on a free loopback port (its log lands beside the data dir). Wan has no key here,
    so its tasks fail with `not_configured`."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DASHSCOPE_API_KEY", raising=False)
        root = tmp_path_factory.mktemp("web")
        env = {"SOUL_PREVIEW_STEP_SECONDS": STEP_SECONDS, "SOUL_PREVIEW_HOLD_FILE": str(root / "hold")}
        server = SoulDev(root / "data", env)
        server.hold_file = root / "hold"  # a test creates it to hold the running preview job, removes it to let go
    try:
        make_soul_samples(server)
        yield server
    finally:
        server.stop()


def make_soul_samples(server: SoulDev, timeout: float = 120.0) -> None:
    """The image page's soul cards ask for each soul's sample (GET /style/{id}/sample), which makes it once
    with the server's own generator: made here, before any test, so no test's job ever waits behind them."""
    souls = [s["soul_id"] for s in httpx.get(f"{server.url}/style", timeout=10).json()["styles"]]
    deadline = time.monotonic() + timeout
    while souls:
        souls = [
            s for s in souls if httpx.get(f"{server.url}/style/{s}/sample", timeout=10).json()["status"] != "ready"
        ]
        if souls and time.monotonic() > deadline:
            raise TimeoutError(f"soul samples not made within {timeout} s: {souls}")
        if souls:
            time.sleep(0.2)  # polling the server's state (the samples are jobs in its own worker)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests drive Debian's chromium (no Playwright download). "
            "Install it with `apt-get install -y chromium` (infra/setup-test-machine.sh does), "
            "or point SOUL_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _context(chromium: Browser, web: SoulDev, user: str, **options: object) -> BrowserContext:
    context = chromium.new_context(base_url=web.url, **options)  # type: ignore[arg-type]
    # Each test is its own user (the page keeps the id in localStorage), so "unseen" and history are
    # per test even though the server is shared.
    context.add_init_script(
        f"if (!localStorage.getItem('soul.user_id')) localStorage.setItem('soul.user_id', '{user}');"
    )
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def user_id(request: pytest.FixtureRequest) -> str:
    return "t-" + re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:100]


@pytest.fixture
def also_allowed() -> tuple[str, ...]:
    """Origins besides the server under test that pages may call: none, unless a test's own loopback
    fake is one (the sign-in tests' Identity Toolkit stand-in)."""
    return ()


@pytest.fixture
def page_factory(
    chromium: Browser, web: SoulDev, user_id: str, also_allowed: tuple[str, ...]
) -> Iterator[Callable[..., Page]]:
    """New pages (default 1280×900, or any context option such as a phone viewport). A JavaScript
    exception, or a request to anywhere but the server under test (the pages must work offline: no
    CDN, no external font), fails the test."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    outside: list[str] = []

    def check(url: str) -> None:
        if not url.startswith((web.url + "/", "data:", "blob:", *(origin + "/" for origin in also_allowed))):
            outside.append(url)

    def make(**options: object) -> Page:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = _context(chromium, web, user_id, **options)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda req: check(req.url))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not outside, f"requests left the server under test: {outside}"


@pytest.fixture
def page(page_factory: Callable[..., Page]) -> Page:
    return page_factory()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    SHOTS.mkdir(parents=True, exist_ok=True)

    def save(page: Page, name: str) -> Path:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{request.node.name}-{name}")
        path = SHOTS / f"{stem}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
