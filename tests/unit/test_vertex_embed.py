"""The managed embedding option (Vertex AI text embeddings) against a local server speaking its API.

The server checks what Vertex checks (path, bearer token, JSON body with `instances[].content` and
`parameters.outputDimensionality`) and answers in Vertex's shape (`predictions[].embeddings.values`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from shared.adapters.vertex_embed import VertexEmbedder
from shared.config import Settings
from shared.errors import Unavailable
from shared.semantic import build_embedder

pytestmark = pytest.mark.unit
PATH = "/v1/projects/soul-test/locations/us-central1/publishers/google/models/text-embedding-005:predict"


class FakeVertex(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []  # noqa: RUF012  # one class per test server
    fail = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers["Authorization"], "body": body})
        if self.path != PATH or self.headers["Authorization"] != "Bearer t0ken" or type(self).fail:
            self._send(400 if not type(self).fail else 503, {"error": {"code": 400, "message": "bad request"}})
            return
        dim = body["parameters"]["outputDimensionality"]
        predictions = []
        for instance in body["instances"]:
            rng = np.random.default_rng(len(instance["content"]))
            values = (rng.standard_normal(dim) * 3).tolist()  # not normalized: the adapter must do it
            predictions.append({"embeddings": {"values": values, "statistics": {"token_count": 3, "truncated": False}}})
        self._send(200, {"predictions": predictions, "metadata": {"billableCharacterCount": 10}})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def server() -> Iterator[str]:
    FakeVertex.seen, FakeVertex.fail = [], False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeVertex)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _embedder(url: str) -> VertexEmbedder:
    return VertexEmbedder(url, "soul-test", "us-central1", "text-embedding-005", token=lambda: "t0ken")


def test_embeds_through_the_predict_api_and_normalizes(server: str) -> None:
    vectors = _embedder(server).embed(["a cat", "a deer asleep beneath an oak"])
    assert vectors.shape == (2, 256)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    (call,) = FakeVertex.seen
    assert call["body"]["instances"][1] == {
        "content": "a deer asleep beneath an oak",
        "task_type": "SEMANTIC_SIMILARITY",
    }
    assert call["body"]["parameters"] == {"outputDimensionality": 256}


def test_api_errors_become_unavailable_without_leaking_the_body(server: str) -> None:
    FakeVertex.fail = True
    with pytest.raises(Unavailable) as err:
        _embedder(server).embed(["a cat"])
    assert "bad request" not in str(err.value)


def test_settings_choose_the_vertex_provider(server: str) -> None:
    settings = Settings(
        soul_embedding_provider="vertex", soul_embedding_endpoint=server, google_cloud_project="soul-test"
    )
    embedder = build_embedder(settings)
    assert isinstance(embedder, VertexEmbedder)
    assert embedder.url == server + PATH


def test_plain_http_is_refused_outside_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        VertexEmbedder("http://example.com", "p", "r", "m")
