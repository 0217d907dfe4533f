"""A local server speaking the REST wire protocol of Cloud Natural Language `documents:moderateText`
(v2) and Cloud Vision `images:annotate` (v1), for the official clients (`transport="rest"`): the tests'
fake and the rehearsal's double (SOUL_LANGUAGE_ENDPOINT / SOUL_VISION_ENDPOINT point at it).

Text: each configured word found in the document's content yields its category with the configured
confidence and severity; everything else scores low on "Toxic". Images: SafeSearch reads the mean
colour: red (the tests' stand-in for unsafe) is adult VERY_LIKELY, anything else VERY_UNLIKELY.
`fail_next` makes the next calls answer 503, as the API does when overloaded. Requests are recorded.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

LIKELY_SET = {"adult": "VERY_LIKELY", "racy": "LIKELY", "violence": "UNLIKELY", "medical": "UNLIKELY"}
CLEAN_SET = {"adult": "VERY_UNLIKELY", "racy": "VERY_UNLIKELY", "violence": "VERY_UNLIKELY", "medical": "UNLIKELY"}


# The rehearsal's words: what Cloud Natural Language would flag in its scenario's cues (none of them).
REHEARSAL_WORDS = {"gore": ("Violent", 0.93, 0.8), "naked": ("Sexual", 0.95, 0.9)}


class FakeGoogleSafety:
    def __init__(self, words: dict[str, tuple[str, float, float]] | None = None) -> None:
        self.words = words or {}  # word -> (category, confidence, severity)
        self.text_requests: list[dict[str, Any]] = []
        self.image_requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGoogleSafety:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever: only when it runs
            self._server.shutdown()
        self._server.server_close()

    # -- the two methods --------------------------------------------------------------------------
    def moderate(self, body: dict[str, Any]) -> dict[str, Any]:
        self.text_requests.append(body)
        content = body["document"]["content"].lower()
        categories = [{"name": "Toxic", "confidence": 0.05, "severity": 0.0}]
        for word, (name, confidence, severity) in self.words.items():
            if word in content:
                categories.append({"name": name, "confidence": confidence, "severity": severity})
        return {"moderationCategories": categories, "languageCode": "en", "languageSupported": True}

    def annotate(self, body: dict[str, Any]) -> dict[str, Any]:
        self.image_requests.append(body)
        responses = []
        for one in body["requests"]:
            assert [f["type"] for f in one["features"]] in (["SAFE_SEARCH_DETECTION"], [6]), one["features"]
            image = Image.open(io.BytesIO(base64.b64decode(one["image"]["content"]))).convert("RGB")
            r, g, b = image.resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
            red = r > 150 and g < 80 and b < 80
            responses.append({"safeSearchAnnotation": {**(LIKELY_SET if red else CLEAN_SET), "spoof": "UNLIKELY"}})
        return {"responses": responses}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if fake.fail_next > 0:
                    fake.fail_next -= 1
                    self._send(503, {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}})
                elif self.path.startswith("/v2/documents:moderateText"):
                    self._send(200, fake.moderate(body))
                elif self.path.startswith("/v1/images:annotate"):
                    self._send(200, fake.annotate(body))
                else:
                    self._send(404, {"error": {"code": 404, "message": f"no {self.path}", "status": "NOT_FOUND"}})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
