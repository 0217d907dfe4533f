"""Token mode in real Chromium: the pages sign in with email and password against a loopback stand-in
for Identity Platform's REST API (tests/fakes/fake_identity_toolkit.py: signInWithPassword and the
Secure Token refresh, RS256 ID tokens from a local issuer whose JWKS `soul dev` trusts), then send
`Authorization: Bearer <ID token>` on every API call. The server tells the pages where to sign in
(/info's `sign_in`), so the page fixture's check that nothing leaves the server allows only the fake."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from tests.conftest import SoulDev
from tests.fakes.fake_identity_toolkit import FakeIdentityToolkit
from tests.fakes.id_tokens import PROJECT, LocalIssuer

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "ada@example.com", "correct horse battery"


@pytest.fixture(scope="module")
def toolkit() -> Iterator[FakeIdentityToolkit]:
    fake = FakeIdentityToolkit(LocalIssuer())
    fake.add_user(EMAIL, PASSWORD)
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, toolkit: FakeIdentityToolkit) -> Iterator[SoulDev]:
    """`soul dev` in token mode, trusting the fake's issuer and pointing the pages at the fake."""
    root = tmp_path_factory.mktemp("web-token")
    env = {
        "SOUL_PREVIEW_STEP_SECONDS": "0.01",
        "SOUL_AUTH_MODE": "token",
        "SOUL_SIGNING_KEY": "browser-test-signing-key-not-the-default",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "SOUL_JWKS_FILE": str(toolkit.issuer.write_jwks(root / "jwks.json")),
        "SOUL_FIREBASE_API_KEY": toolkit.api_key,
        "SOUL_IDENTITY_TOOLKIT_URL": toolkit.identity_toolkit_url,
        "SOUL_SECURE_TOKEN_URL": toolkit.secure_token_url,
    }
    server = SoulDev(root / "data", env)
    yield server
    server.stop()


@pytest.fixture
def also_allowed(toolkit: FakeIdentityToolkit) -> tuple[str, ...]:
    return (toolkit.origin,)


def sign_in(page: Page, password: str = PASSWORD) -> None:
    form = page.locator("#sign-in")
    expect(form).to_be_visible()
    form.get_by_label("Email").fill(EMAIL)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def test_signed_out_page_shows_the_sign_in_form_not_a_raw_401(
    page: Page, web: SoulDev, screenshot: Callable[[Page, str], Path]
) -> None:
    page.goto("/")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#signed-in-as")).to_have_text("Not signed in")
    expect(page.locator("#alerts .alert")).to_have_attribute("data-code", "sign_in_required")
    expect(page.locator("#alerts")).not_to_contain_text("401")
    # Public /info still answers: the footer's plain note is made from it (the auth mode is on /status).
    expect(page.locator("#generators")).to_contain_text("Placeholder mode:")
    # The server agrees it is token mode and says where to sign in; the CSP lets the page reach it.
    info = httpx.get(f"{web.url}/info", timeout=5).json()
    assert info["auth_mode"] == "token" and info["sign_in"]["project_id"] == PROJECT
    policy = httpx.get(f"{web.url}/", timeout=5).headers["Content-Security-Policy"]
    assert f"connect-src 'self' {info['sign_in']['identity_toolkit_url'].split('/identitytoolkit')[0]}" in policy

    sign_in(page, password="wrong")
    expect(page.locator("#sign-in-error")).to_have_text("Wrong email or password.")
    screenshot(page, "signed-out")


def test_sign_in_then_generate_sends_the_id_token(
    page: Page, web: SoulDev, toolkit: FakeIdentityToolkit, screenshot: Callable[[Page, str], Path]
) -> None:
    """Signing in reloads the page itself (signin.js); every call the reloaded page makes carries the
    token. The test follows that one reload instead of adding its own: a second reload fired while the
    first load's calls and token refresh were in flight is the one difference from the runs that passed
    when this test failed once in a clean-clone gate (the souls list never loaded), so the alert region
    and the counts are in the failure message should it happen again."""
    toolkit.sign_in_expires_in = 30  # under the pages' one-minute margin: the first API call refreshes
    sent: list[Request] = []
    page.goto("/")
    page.on("request", lambda r: sent.append(r) if r.url.startswith(web.url + "/") else None)
    # The requests of the document signin.js reloads into, and only those, are the signed-in page's.
    page.on("framenavigated", lambda frame: sent.clear() if frame == page.main_frame else None)
    with page.expect_navigation():
        sign_in(page)
    account = toolkit.accounts[EMAIL]
    expect(page.locator("#signed-in-as")).to_have_text(f"Signed in as {EMAIL}")
    expect(page.locator("#sign-in")).to_have_count(0)
    try:
        expect(page.locator("#soul option[value=ember]")).to_have_count(1)
    except AssertionError as err:
        alerts = page.locator("#alerts").inner_text()
        counts = f"sign-ins {toolkit.sign_ins}, refreshes {toolkit.refreshes}"
        raise AssertionError(f"the souls never loaded; alerts: {alerts!r}; {counts}") from err
    page.get_by_label("Soul", exact=True).first.select_option("ember")
    page.get_by_label("Cue").fill("lighthouse at dusk")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#image-job [data-status]")).to_have_text("Done: step 30/30.")
    page.wait_for_function("() => document.querySelector('#result-image').naturalWidth > 0")
    screenshot(page, "generated")

    assert toolkit.sign_ins == 1 and toolkit.refreshes >= 1  # the 30 s token was refreshed before use
    api = [r for r in sent if "/image/" in r.url or r.url.endswith(("/style", "/places"))]
    assert api and all(r.headers.get("authorization", "").startswith("Bearer ") for r in api)
    # End state on the server: the image is in the history of the account's subject (the token's `sub`).
    variant = page.locator("#image-figure").get_attribute("data-variant")
    bearer = {"Authorization": api[-1].headers["authorization"]}
    seen = httpx.get(f"{web.url}/image/user/{account.local_id}/seen", headers=bearer, timeout=5).json()
    assert variant in seen["variant_ids"]
