"""Tier-1 prompt normalization and prompt keys (docs/ARCHITECTURE.md, Prompt keys).

A canonical form folds what does not change meaning (Unicode compatibility forms, case, whitespace,
punctuation, articles, politeness) and keeps everything that does: word order, negation words
("no", "without", "not"), numbers, attributes, and symbols: an emoji or a sign (Unicode category S:
"🐧", "♥", "★", "$", "+") is a token of its own, because "🐧 on an iceberg" and "🐶 on an iceberg" are
different pictures. Only emoji presentation selectors, skin-tone-free joiners and punctuation (category
P) are dropped. The key is a fixed-length hash of exactly the fields that decide what gets generated.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from shared.domain.models import Kind
from shared.ids import digest

ARTICLES = frozenset({"a", "an", "the"})
FILLER = frozenset({"please", "pls", "plz", "kindly", "just"})
# Request framing at the very start ("can you draw me …", "i want …"): a way of asking, not the picture.
# Dropped only while words remain after it, so a cue that is nothing but a frame keeps its words.
FRAMES = tuple(
    tuple(f.split())
    for f in (
        *("can you", "could you", "would you", "will you", "can i get", "can i have", "could i get", "i want"),
        *("i wanna", "i would like", "id like", "i need", "give me", "show me", "make me", "draw me", "draw"),
        *("generate", "create", "render", "make", "can u", "could u", "hey", "hi", "hello", "picture of"),
        *("image of", "pic of"),
    )
)
# Courtesy at the very end, set off by punctuation ("…, thanks!"); without it, "a sign saying thanks"
# keeps its words.
_TRAILING = re.compile(r"(?<=\w)\s*[,;.!]+\s*(?:thanks|thank you|thx|ty)\W*$")
# A token is a number (decimals kept: "3.5" is not "35"), a word (inner apostrophes dropped: "don't"),
# or one other non-space character, kept only if it is a symbol (see `_is_symbol`).
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:['’][^\W_]+)*|[^\w\s]")
_APOSTROPHE = re.compile(r"['’]")
# Variation selectors (text/emoji presentation) and the zero-width joiner change how a symbol is drawn,
# not what it is: "❤️" is "❤". A ZWJ sequence ("👨‍🍳") becomes its parts, each a token.
_PRESENTATION = re.compile("[\ufe0e\ufe0f\u200d]")
PK_LENGTH = 32


def _is_symbol(token: str) -> bool:
    """A one-character token of Unicode category S (Sm, Sc, Sk, So): emoji, ♥, ★, $, +, °."""
    return len(token) == 1 and unicodedata.category(token).startswith("S")


def tokens(text: str) -> list[str]:
    """The tier-1 tokens of a cue: words, numbers and symbols, articles and filler dropped."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    folded = _TRAILING.sub("", _PRESENTATION.sub("", folded))
    out = []
    for raw in _TOKEN.findall(folded):
        token = _APOSTROPHE.sub("", raw)
        if token in ARTICLES or token in FILLER:
            continue
        if token[:1].isalnum() or _is_symbol(token):
            out.append(token)
    return out


def _unframed(words: list[str]) -> list[str]:
    while frame := next((f for f in FRAMES if len(words) > len(f) and tuple(words[: len(f)]) == f), None):
        words = words[len(frame) :]
    return words


def normalize(text: str) -> str:
    """The canonical form of a cue. Idempotent: normalize(normalize(x)) == normalize(x)."""
    return " ".join(_unframed(tokens(text)))


def prompt_key(
    *, soul_id: str, kind: Kind, text: str, style_version: int, params: Mapping[str, object] | None = None
) -> tuple[str, str]:
    """(pk, params_digest) for a normalized text; `params` holds every other input that shapes output."""
    params_digest = digest(dict(params or {}), length=16)
    pk = digest("pk/v1", soul_id, kind.value, text, style_version, params_digest, length=PK_LENGTH)
    return pk, params_digest
