"""Tier-1 prompt normalization and prompt keys (DESIGN §6).

A canonical form folds what does not change meaning (Unicode compatibility forms, case, whitespace,
punctuation, articles, politeness) and keeps everything that does: word order, negation words
("no", "without", "not"), numbers and attributes. The key is a fixed-length hash of exactly the
fields that decide what gets generated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
import unicodedata

from shared.domain.models import Kind
from shared.ids import digest

ARTICLES = frozenset({"a", "an", "the"})
FILLER = frozenset({"please", "pls", "plz", "kindly", "just"})
_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACE = re.compile(r"\s+")
PK_LENGTH = 32


def normalize(text: str) -> str:
    """The canonical form of a cue. Idempotent: normalize(normalize(x)) == normalize(x)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = unicodedata.normalize("NFKC", folded)
    # Keep decimal points and apostrophes inside words ("3.5", "don't") from splitting the token.
    folded = re.sub(r"(?<=\d)[.,](?=\d)", "", folded)
    folded = re.sub(r"(?<=\w)['’](?=\w)", "", folded)
    words = _SPACE.split(_PUNCT.sub(" ", folded).strip())
    kept = [w for w in words if w and w not in ARTICLES and w not in FILLER]
    return " ".join(kept)


def prompt_key(
    *, soul_id: str, kind: Kind, text: str, style_version: int, params: Mapping[str, object] | None = None
) -> tuple[str, str]:
    """(pk, params_digest) for a normalized text; `params` holds every other input that shapes output."""
    params_digest = digest(dict(params or {}), length=16)
    pk = digest("pk/v1", soul_id, kind.value, text, style_version, params_digest, length=PK_LENGTH)
    return pk, params_digest
