"""Issue 29 item 5 as the review did it, in Chromium: a page served from another loopback port sends
`soul dev` an `<img>` GET that would start a Wan task and `no-cors` fetches (a `text/plain` JSON POST
and a GET) naming a victim's `user_id`. None of them may start anything."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser

from tests.conftest import SoulDev, free_port

pytestmark = pytest.mark.browser

VICTIM = "victim-of-forgery"

ATTACK = """<!doctype html><html><body>
<img id="wan" src="{api}/wan-video/?soul_id=nova&cue={cue}&user_id={victim}">
<script>
  const done = {{img: false, post: false, get: false}};
  const img = document.getElementById("wan");
  img.onload = img.onerror = () => {{ done.img = true; }};
  fetch("{api}/image/selfie", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
        body: JSON.stringify({{soul_id: "nova", city_key: "paris", user_id: "{victim}"}})}})
    .finally(() => {{ done.post = true; }});
  fetch("{api}/image?soul_id=nova&cue={cue}&user_id={victim}", {{mode: "no-cors"}})
    .finally(() => {{ done.get = true; }});
  window.attack = done;
</script></body></html>"""


@pytest.fixture
def attacker(web: SoulDev) -> Iterator[str]:
    """Another origin on this machine: a plain HTTP server on another loopback port serving the page."""
    page = ATTACK.format(api=web.url, cue=quote("a forged cue"), victim=VICTIM).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_page_on_another_port_starts_no_work(chromium: Browser, web: SoulDev, attacker: str) -> None:
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(attacker)
        # The page says when the browser has finished all three requests (loaded or failed).
        page.wait_for_function("() => window.attack && attack.img && attack.post && attack.get")
    finally:
        context.close()
    tasks = httpx.get(f"{web.url}/tasks", params={"user_id": VICTIM}, timeout=10).json()["tasks"]
    assert tasks == []  # before issue 29: a Wan task and an image task on the developer's account
    seen = httpx.get(f"{web.url}/image/user/{VICTIM}/seen", timeout=10).json()
    assert seen["variant_ids"] == []
