"""Tier-1 prompt normalization and prompt keys (docs/ARCHITECTURE.md, Prompt keys).

A canonical form folds what does not change meaning (Unicode compatibility forms, case, whitespace,
punctuation, articles, politeness) and keeps everything that does: word order, negation words
("no", "without", "not"), numbers and attributes. The key is a fixed-length hash of exactly the
fields that decide what gets generated.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from shared.domain.models import Kind
from shared.ids import digest

ARTICLES = frozenset({"a", "an", "the"})
FILLER = frozenset({"please", "pls", "plz", "kindly", "just"})
# A token is a number (decimals kept: "3.5" is not "35") or a word (inner apostrophes dropped: "don't").
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:['’][^\W_]+)*")
_APOSTROPHE = re.compile(r"['’]")
PK_LENGTH = 32


def normalize(text: str) -> str:
    """The canonical form of a cue. Idempotent: normalize(normalize(x)) == normalize(x)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    tokens = (_APOSTROPHE.sub("", t) for t in _TOKEN.findall(folded))
    return " ".join(t for t in tokens if t not in ARTICLES and t not in FILLER)


def prompt_key(
    *, soul_id: str, kind: Kind, text: str, style_version: int, params: Mapping[str, object] | None = None
) -> tuple[str, str]:
    """(pk, params_digest) for a normalized text; `params` holds every other input that shapes output."""
    params_digest = digest(dict(params or {}), length=16)
    pk = digest("pk/v1", soul_id, kind.value, text, style_version, params_digest, length=PK_LENGTH)
    return pk, params_digest
