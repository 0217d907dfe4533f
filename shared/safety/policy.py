"""Ports and verdicts of content safety (docs/SAFETY.md).

A `TextModerator` scores a prompt per category; an `ImageScreener` judges images (PNG/JPEG bytes).
Both return a `Verdict`: allowed or not, and the category in words when not. Adapters: the local rule
classifier (shared/safety/rules.py), Cloud Natural Language moderateText and Cloud Vision SafeSearch
(shared/adapters/gcp_language.py, gcp_vision.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Categories in words: what a blocked caller is told (never the matched term).
CATEGORY_WORDS = {
    "sexual": "sexual content",
    "minors": "sexual content involving minors",
    "violence": "graphic violence",
    "self_harm": "self-harm or suicide",
    "hate": "hate or extremism",
    "drugs": "illegal drug use",
    "adult": "sexual content",
    "racy": "sexually suggestive content",
    "medical": "graphic medical content",
    "spoof": "spoofed content",
}


def in_words(category: str) -> str:
    """The category as a person reads it; a provider's own category names pass through lower-cased."""
    return CATEGORY_WORDS.get(category, category.replace("_", " ").lower())


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    category: str = ""  # the deciding category when blocked
    scores: dict[str, float] = field(default_factory=dict)
    screened: bool = True  # False: nothing looked (the local image default says so at start-up)

    @property
    def words(self) -> str:
        return in_words(self.category)


ALLOWED = Verdict(True)


class TextModerator(Protocol):
    name: str
    version: str  # part of the decision cache key: a new version re-checks every text
    remote: bool  # a network call per check: decisions are also cached in the record store

    def moderate(self, text: str, strict: bool = False) -> Verdict: ...


class ImageScreener(Protocol):
    name: str
    screens: bool  # False: the local default, which says at start-up that outputs are not screened

    def screen(self, images: Sequence[bytes], strict: bool = False) -> Verdict: ...
