"""Embedder on Vertex AI text embeddings (the managed option of the semantic tier, docs/ARCHITECTURE.md, Prompt keys).

`POST {endpoint}/v1/projects/{project}/locations/{region}/publishers/google/models/{model}:predict`
with `{"instances": [{"content": text, "task_type": "SEMANTIC_SIMILARITY"}], "parameters":
{"outputDimensionality": dim}}`; the answer is `{"predictions": [{"embeddings": {"values": [...],
"statistics": {...}}}]}`. Authorised with an OAuth access token from the metadata server (Cloud Run's
service account) unless one is given. The standard library's HTTP client is used because `shared`
stays free of HTTP frameworks (pyproject import-linter). Vectors are L2-normalized here, so the
thresholds mean the same as with the static model; they must be re-tuned for a different model
(`soul bench semantic --tune` with this embedder).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from shared.errors import Unavailable

if TYPE_CHECKING:
    from shared.config import Settings

_METADATA_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"


def metadata_token() -> str:
    request = urllib.request.Request(_METADATA_URL, headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310  # nosec B310: fixed http URL
        return str(json.loads(response.read())["access_token"])


class VertexEmbedder:
    def __init__(
        self,
        endpoint: str,
        project: str,
        region: str,
        model: str,
        *,
        dim: int = 256,
        token: Callable[[], str] = metadata_token,
        timeout: float = 5.0,
    ) -> None:
        if not endpoint.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("the embedding endpoint must be https (or a local test server)")
        self.url = (
            f"{endpoint.rstrip('/')}/v1/projects/{project}/locations/{region}/publishers/google/models/{model}:predict"
        )
        self.model_id = f"vertex:{model}:{dim}"
        self.dim = dim
        self._token = token
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> VertexEmbedder:
        region = settings.cloud_run_region
        endpoint = settings.soul_embedding_endpoint or f"https://{region}-aiplatform.googleapis.com"
        return cls(endpoint, settings.google_cloud_project, region, settings.soul_embedding_model)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        body = {
            "instances": [{"content": t, "task_type": "SEMANTIC_SIMILARITY"} for t in texts],
            "parameters": {"outputDimensionality": self.dim},
        }
        request = urllib.request.Request(  # noqa: S310  # scheme checked in __init__
            self.url,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._token()}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310  # nosec B310
                predictions = json.loads(response.read())["predictions"]
        except (OSError, KeyError, ValueError) as exc:
            raise Unavailable(f"embedding API failed: {type(exc).__name__}") from exc
        out = np.asarray([p["embeddings"]["values"] for p in predictions], dtype=np.float32)
        if out.shape != (len(texts), self.dim):
            raise Unavailable(f"embedding API returned shape {out.shape}, expected {(len(texts), self.dim)}")
        unit: npt.NDArray[np.float32] = (out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)).astype(
            np.float32
        )
        return unit
