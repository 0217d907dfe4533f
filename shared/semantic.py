"""The semantic tier of prompt matching (docs/ARCHITECTURE.md, Prompt keys): on a tier-1 miss, join the nearest
existing key.

`SemanticMatcher.decide(key)` embeds the key's matching text, asks the vector index for the nearest
keys in the same *space* (soul, kind, style version, params digest: a match never crosses those), and
returns the first candidate whose cosine is at least `threshold` and that every guard accepts
(shared/domain/guards.py, shared/domain/structure.py). The key's own entry always wins, so a cue that
already has a key keeps it and no variant already served becomes unreachable. Deciding writes nothing:
a key is remembered (`remember`, its embedding stored for later cues) only once a job is created under
it, so refused or merged requests never grow the index or become merge targets. Keys created before
the tier existed gain their embedding with `soul migrate`. Decisions are recorded per request key
(shared/keylinks.py) with `policy`, so they can be audited, undone, and re-decided when it changes.

The thresholds below were chosen on the tune halves of the evaluation sets only;
`soul bench semantic` prints every held-out set's figures. The tier is off by default (shared/config.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from shared.domain import guards
from shared.domain.models import PromptKey
from shared.ids import digest
from shared.logging import get_logger
from shared.ports import Embedder, Neighbour, VectorIndex

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.ports import DocumentStore

log = get_logger("soul.semantic")

THRESHOLD = 0.70  # cosine of the cue embeddings (tuned on the tune halves: `soul bench semantic --tune`)
WORD_THRESHOLD = 0.60  # cosine of two differing content words (tuned likewise)
CANDIDATES = 5
# The rules' version: bump it when guards or structure change what merges (recorded links re-decide).
POLICY_VERSION = "sem/v2"


def space_of(key: PromptKey) -> str:
    """Everything but the text that decides what gets generated: matches stay inside one space."""
    return digest("space/v1", key.soul_id, key.kind.value, key.style_version, key.params_digest, length=32)


class Judge:
    """Pairwise decision: cosine ≥ threshold and no guard vetoes. Shared by the matcher and the benchmark."""

    def __init__(self, embedder: Embedder, threshold: float = THRESHOLD, word_threshold: float = WORD_THRESHOLD):
        self.embedder = embedder
        self.threshold = threshold
        self.word_threshold = word_threshold
        self.word_vector = lru_cache(maxsize=65536)(self._word_vector)

    def _word_vector(self, word: str) -> np.ndarray:  # type: ignore[type-arg]
        return np.asarray(self.embedder.embed([word])[0], dtype=np.float32)

    def word_sim(self, a: str, b: str) -> float:
        return float(self.word_vector(a) @ self.word_vector(b))

    def accepts(self, a_text: str, b_text: str, score: float) -> guards.Verdict:
        if score < self.threshold:
            return guards.Verdict(False, "threshold")
        return guards.verdict(a_text, b_text, self.word_sim, self.word_threshold)


@dataclass(frozen=True)
class Resolution:
    key: PromptKey
    joined: Neighbour | None = None  # the existing key the request joined, if it is not its own


class SemanticMatcher:
    def __init__(self, judge: Judge, index: VectorIndex, key_for: Callable[[PromptKey, str], PromptKey]) -> None:
        self.judge = judge
        self.index = index
        self.key_for = key_for  # the same key with another matching text (recomputes pk)

    @property
    def policy(self) -> str:
        """What a recorded decision was made under: a change re-decides recorded links lazily."""
        j = self.judge
        return f"{POLICY_VERSION}:{j.embedder.model_id}:{j.threshold:g}:{j.word_threshold:g}"

    def decide(self, key: PromptKey) -> Resolution:
        """The existing key `key` joins, or `key` itself. Reads only: nothing is written."""
        vector = self.judge.embedder.embed([key.text])[0]
        found = self.index.nearest(space_of(key), [float(x) for x in vector], CANDIDATES)
        if any(n.key == key.pk for n in found):
            return Resolution(key)
        for candidate in found:
            if self.judge.accepts(key.text, candidate.text, candidate.score).merge:
                joined = self.key_for(key, candidate.text)
                if joined.pk == candidate.key:
                    return Resolution(joined, candidate)
        return Resolution(key)

    def remember(self, key: PromptKey) -> None:
        """Store the key's embedding so later cues may join it (called once a job exists under it)."""
        vector = self.judge.embedder.embed([key.text])[0]
        self.index.add(space_of(key), key.pk, key.text, [float(x) for x in vector])


def build(settings: Settings, store: DocumentStore | None = None) -> SemanticMatcher | None:
    """The matcher the settings ask for, or None when the tier is off."""
    if not settings.soul_semantic_cache:
        return None
    return matcher(settings, store)


def matcher(settings: Settings, store: DocumentStore | None = None) -> SemanticMatcher:
    """The matcher for these settings, whether or not the tier is switched on (migration uses it)."""
    from shared.domain.prompts import PK_LENGTH

    def key_for(key: PromptKey, text: str) -> PromptKey:
        # The same formula as shared.domain.prompts.prompt_key, from the key's stored params digest.
        pk = digest("pk/v1", key.soul_id, key.kind.value, text, key.style_version, key.params_digest, length=PK_LENGTH)
        return key.model_copy(update={"pk": pk, "text": text})

    embedder = build_embedder(settings)
    judge = Judge(embedder, settings.soul_semantic_threshold, settings.soul_semantic_word_threshold)
    return SemanticMatcher(judge, build_index(settings, embedder.dim, store), key_for)


def build_embedder(settings: Settings) -> Embedder:
    if settings.soul_embedding_provider == "vertex":
        from shared.adapters.vertex_embed import VertexEmbedder

        return VertexEmbedder.from_settings(settings)
    return _static_embedder()


@lru_cache(maxsize=1)
def _static_embedder() -> Embedder:
    """One per process: the table is read-only, so every service and test in the process shares it."""
    from shared.adapters.static_embed import StaticEmbedder

    embedder = StaticEmbedder()
    embedder.load()  # at the instance's start (about 0.5 s: verify + load), never on a user's first miss
    return embedder


def build_index(settings: Settings, dim: int, store: DocumentStore | None) -> VectorIndex:
    if settings.soul_backend == "gcp":
        from shared.adapters.gcp_vectors import FirestoreVectorIndex

        return FirestoreVectorIndex.from_settings(settings)
    from shared.adapters.sqlite_vectors import SqliteVectorIndex

    return SqliteVectorIndex(settings.soul_data_dir / "vectors.sqlite3", dim)


@dataclass(frozen=True)
class Migrated:
    keys: int  # prompt keys read
    embedded: int  # keys that gained an embedding now
    skipped: int  # keys the tier never matches (animations, direct Wan prompts)


def migrate(settings: Settings, store: DocumentStore, batch: int = 256) -> Migrated:
    """Give every existing prompt key its embedding (idempotent). Without it keys gain one lazily, on
    their next tier-1 miss; until then a paraphrase of an old key creates a new key, which is still
    correct, only not cheaper. Nothing is rewritten: every served variant stays where it was."""
    from shared.domain.models import Kind
    from shared.records import PROMPT_KEYS

    tier = matcher(settings, store)
    keys = [PromptKey.model_validate(doc) for doc in store.query(PROMPT_KEYS)]
    todo = [k for k in keys if k.kind is not Kind.SVD and k.soul_id != "direct"]
    todo = [k for k in todo if not tier.index.has(space_of(k), k.pk)]
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        vectors = tier.judge.embedder.embed([k.text for k in chunk])
        for key, vector in zip(chunk, vectors, strict=True):
            tier.index.add(space_of(key), key.pk, key.text, [float(x) for x in vector])
    skipped = sum(1 for k in keys if k.kind is Kind.SVD or k.soul_id == "direct")
    return Migrated(len(keys), len(todo), skipped)
