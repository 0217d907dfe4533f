"""Embedder on WordLlama's static token embeddings (the embedded default of the semantic tier, docs/ARCHITECTURE.md,
Prompt keys).

Why this model: it runs offline with no download at run time (the `wordllama` wheel, MIT, ships its
256-dimensional weights, 16 MB in float16, and its tokenizer), needs only numpy, safetensors and
tokenizers (no torch, so it fits the functions' dependency set), loads in well under a second and
embeds a cue in tens of microseconds: a token lookup and a mean, as `WordLlamaInference.embed` does.
Static embeddings are a bag of words ("cat chasing dog" = "dog chasing cat"), which is why matches are
vetoed by rules (shared/domain/guards.py) and never trusted on their own.

The package's code is not imported (it configures logging and can reach a model hub): only its two data
files are read, located without executing the package, and the weights are checked against a pinned
sha256 so an upgraded or tampered wheel fails loudly instead of silently changing every match.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt

from shared.errors import Unavailable

PACKAGE = "wordllama"
WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
# wordllama==0.4.0.post1 (pyproject.toml pins it).
WEIGHTS_SHA256 = "64b47a2dc493cb8e85944076601189739852d7b64e0e1eedcb1937a251cd9fd5"
MODEL_ID = "wordllama-l2-supercat-256@64b47a2d"


def _package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("the semantic cache needs the 'wordllama' package (pip install 'soul[semantic]')")
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class StaticEmbedder:
    """Mean of the cue's token vectors, L2-normalized (so a dot product is the cosine)."""

    model_id = MODEL_ID
    dim = 256

    def __init__(self, root: Path | None = None, *, verify: bool = True) -> None:
        self._root = root
        self._verify = verify

    @cached_property
    def _table(self) -> npt.NDArray[np.float32]:
        from safetensors.numpy import load_file

        path = (self._root or _package_dir()) / WEIGHTS
        if self._verify and _sha256(path) != WEIGHTS_SHA256:
            raise Unavailable(f"embedding weights at {path} do not match the pinned sha256")
        table = load_file(str(path))["embedding.weight"]
        return np.ascontiguousarray(table, dtype=np.float32)

    @cached_property
    def _tokenizer(self):  # type: ignore[no-untyped-def]  # tokenizers ships no type hints for mypy strict
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str((self._root or _package_dir()) / TOKENIZER))

    def load(self) -> None:
        """Load weights and tokenizer now (a worker's or function's start), not on a user's first miss."""
        _ = self._table, self._tokenizer

    def token_vectors(self, text: str) -> npt.NDArray[np.float32]:
        ids: list[int] = self._tokenizer.encode(text, add_special_tokens=False).ids
        rows: npt.NDArray[np.float32] = self._table[np.asarray(ids or [0], dtype=np.int64)]
        return rows

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self.token_vectors(text).mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: npt.NDArray[np.float32] = (out / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit
