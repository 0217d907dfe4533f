"""Structural vetoes for the semantic tier (docs/ARCHITECTURE.md, Prompt keys): checks that generalize, not word lists.

shared/domain/guards.py compares closed classes of words (colours, sizes, ...). The checks here look at
the *form* of the tokens that differ between two cues, so they hold for words no list names:

- number-like: a token with a digit ("1920s", "3rd", "2020"), a number or ordinal word, a decade word
  ("twenties"), a quantifier ("several", "dozens") or a Roman numeral ("xii") — any such token without
  an identical counterpart vetoes. Ranges ("3-5") are two numbers after tier 1.
- symbols: emoji and signs (tier 1 keeps them as tokens) must be the same multiset.
- affix negation: a token that is its counterpart plus a negating prefix ("unlit" / "lit", "non stick")
  or whose stem carries "-less" ("sleeveless" / "sleeved", "cloudless" / "cloudy").
- grammatical number: a noun that is singular on one side and plural on the other ("a cat on a fence"
  / "cats on a fence") — tier 2's lemmas fold the count away, so it is compared on tier-1 tokens.
- state: a participle in -ed/-en that is not passive ("a melted snowman") against -ing ("a melting
  snowman") is a different moment.
- relational order: a relation (a preposition, "of", "with") with the same two words on both sides
  but its arguments swapped or the relation changed ("a hat on a penguin" / "a penguin on a hat").
  Symmetric relations ("near", "next to", "beside", "and") may swap.

Every check errs towards a veto: a missed merge costs GPU seconds, a wrong merge shows every later user
the wrong picture. Pure functions; the vocabulary below is general English grammar, not evaluation data.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from shared.domain.guard_words import CLASSES
from shared.domain.similarity import lemma

_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINALS = ("first", "second", "third", "fifth", "eighth", "ninth", "twelfth", "once", "twice", "thrice")
_SCALES = ("hundred", "thousand", "million", "billion", "dozen", "dozens", "score", "half", "quarter")
_QUANTIFIERS = (
    *("single", "double", "triple", "quadruple", "twin", "twins", "triplets", "pair", "couple", "trio", "duo"),
    *("few", "several", "many", "multiple", "numerous", "countless", "lone", "solo", "both", "lots", "all"),
    *("nineteen", "hundreds", "thousands", "millions", "dozen", "every", "each", "only", "alone", "bunch"),
)


def _number_words() -> frozenset[str]:
    words = {*_UNITS, *_TEENS, "nineteen", *_TENS, *_ORDINALS, *_SCALES, *_QUANTIFIERS}
    words |= {w + "th" for w in (*_UNITS[4:], *_TEENS[1:], "nineteen", "hundred", "thousand", "million")}
    words |= {w[:-1] + "ieth" for w in _TENS} | {w[:-1] + "ies" for w in _TENS} | {w + "s" for w in _TENS}
    words |= {"fourth", "sixth", "seventh", "tenth", "eleventh", "thirteenth", "fifteenth", "nineteenth"}
    return frozenset(words)


NUMBER_WORDS = _number_words()
_CARDINAL = {w: i for i, w in enumerate((*_UNITS, *_TEENS, "nineteen"))} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_CARDINAL |= {"pair": 2, "dozen": 12, "hundred": 100, "thousand": 1000}
_ORDINAL = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8}
_ORDINAL |= {"ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12}
_ROMAN = re.compile(r"^m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")
_NEG_PREFIXES = ("un", "non", "dis", "in", "im", "il", "ir", "de", "anti", "a")
_PASSIVE_END = ("ed", "en")
IRREGULAR_PLURALS = frozenset(
    {"men", "women", "mice", "geese", "feet", "teeth", "people", "children", "oxen", "dice", "lice", "kids"}
)
RELATIONS = frozenset({"of", "with", "on", "onto", "upon", "atop", "under", "beneath", "underneath", "below"})
SYMMETRIC = frozenset({"near", "next", "beside", "alongside", "and", "between", "among", "together"})
# Spatial words and their meaning group ("under" = "beneath"), from guards' closed classes.
_SPATIAL = {w: g for w, g in CLASSES["spatial"].items() if w not in SYMMETRIC} | {"of": "of", "with": "with"}


def number_like(token: str) -> bool:
    if any(c.isdigit() for c in token) or token in NUMBER_WORDS:
        return True
    return len(token) >= 2 and _ROMAN.match(token) is not None


def is_symbol(token: str) -> bool:
    return len(token) == 1 and unicodedata.category(token).startswith("S")


def _differing(a: Sequence[str], b: Sequence[str]) -> tuple[Counter[str], Counter[str]]:
    ca, cb = Counter(a), Counter(b)
    return ca - cb, cb - ca


def _value(token: str) -> str:
    """One spelling per number: "three" → "3", "third" → "3rd", "pair" → "2"; others stay as they are."""
    if token in _CARDINAL:
        return str(_CARDINAL[token])
    if token in _ORDINAL:
        return f"{_ORDINAL[token]}th"
    if token[:-2].isdigit() and token[-2:] in ("st", "nd", "rd", "th"):
        return f"{int(token[:-2])}th"
    return token


def numbers_differ(a: Sequence[str], b: Sequence[str]) -> bool:
    """Any number-like token without an identical counterpart (after one spelling per number)."""
    only_a, only_b = _differing([_value(t) for t in a], [_value(t) for t in b])
    return any(number_like(t) for t in (*only_a, *only_b))


def symbols_differ(a: Sequence[str], b: Sequence[str]) -> bool:
    return Counter(t for t in a if is_symbol(t)) != Counter(t for t in b if is_symbol(t))


def _stem(word: str) -> str:
    for suffix in ("less", "ness", "ful", "ed", "y", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _negates(x: str, y: str) -> bool:
    """x is y with a negating affix: unlit/lit, nonstick/stick, sleeveless/sleeved, cloudless/cloudy."""
    if x.endswith("less") and len(x) > 6 and _stem(y).startswith(x[:-4][: max(3, len(x) - 6)]):
        return True
    for prefix in _NEG_PREFIXES:
        rest = x[len(prefix) :]
        if x.startswith(prefix) and len(rest) >= 3 and (rest == y or _stem(rest) == _stem(y)):
            return True
    return False


def affix_negation(a: Sequence[str], b: Sequence[str]) -> bool:
    only_a, only_b = _differing(a, b)
    if any(t.endswith("less") and len(t) > 6 for t in (*only_a, *only_b)):
        return True  # "-less" says "without": it never has a counterpart that is not itself
    return any(_negates(x, y) or _negates(y, x) for x in only_a for y in only_b)


def _plural(token: str) -> bool:
    if token in IRREGULAR_PLURALS:
        return True
    return token.endswith("s") and not token.endswith("ss") and lemma(token) != token


_SUBJECTS = frozenset({"it", "he", "she", "who", "that", "which", "this"})


def _number_of(tokens: Sequence[str]) -> dict[str, set[bool]]:
    out: dict[str, set[bool]] = {}
    for i, token in enumerate(tokens):
        if i > 0 and tokens[i - 1] in _SUBJECTS:
            continue  # "while it rains": a verb's -s, not a plural
        if token.isalpha():
            out.setdefault(_singular(token), set()).add(_plural(token))
    return out


def _singular(token: str) -> str:
    irregular = {"men": "man", "women": "woman", "mice": "mouse", "geese": "goose", "feet": "foot"}
    irregular |= {"teeth": "tooth", "people": "person", "children": "child", "kids": "kid", "oxen": "ox"}
    return irregular.get(token, lemma(token))


def _modifier(tokens: Sequence[str], word: str) -> str | None:
    """The noun after `word` when `word` modifies it ("rose garden" → garden), else None."""
    for i, token in enumerate(tokens[:-1]):
        if _singular(token) == word and not _plural(token) and tokens[i + 1].isalpha():
            return tokens[i + 1]
    return None


def _compound(singular_side: Sequence[str], plural_side: Sequence[str], word: str) -> bool:
    """ "rose garden" / "garden of roses", "flower shop" / "shop selling flowers": a noun modifier is
    singular in English, so it is the same thing as the plural after its head on the other side."""
    head = _modifier(singular_side, word)
    if head is None or head not in plural_side:
        return False
    at = plural_side.index(head)
    return any(_singular(t) == word and _plural(t) for t in plural_side[at + 1 :])


def count_differs(a: Sequence[str], b: Sequence[str]) -> bool:
    """A word singular on one side only and plural on the other only (tier-1 tokens)."""
    na, nb = _number_of(a), _number_of(b)
    for word in na.keys() & nb.keys():
        if na[word] == nb[word] or len(na[word]) != 1 or len(nb[word]) != 1:
            continue
        singular, plural = (a, b) if na[word] == {False} else (b, a)
        if not _compound(singular, plural, word):
            return True
    return False


def _participles(tokens: Sequence[str]) -> set[str]:
    """Stems of non-passive past participles ("melted snowman"; not "chased by")."""
    out: set[str] = set()
    for i, token in enumerate(tokens):
        passive = tokens[i + 1 : i + 2] == ["by"]
        if token.endswith(_PASSIVE_END) and len(token) > 4 and not passive:
            out.update(lemma(token[:cut] + "ing") for cut in (-1, -2))  # "melted" → melt, "popped" → pop
    return out


def state_differs(a: Sequence[str], b: Sequence[str]) -> bool:
    """ "melting" on one side, "melted" on the other: before and after are different pictures."""
    only_a, only_b = _differing(a, b)
    ing_a = {lemma(t) for t in only_a if t.endswith("ing")}
    ing_b = {lemma(t) for t in only_b if t.endswith("ing")}
    return bool(ing_a & _participles(list(b))) or bool(ing_b & _participles(list(a)))


def _is_relation(token: str) -> bool:
    return token in RELATIONS or token in _SPATIAL or token in SYMMETRIC


def _run_name(run: Sequence[str]) -> str:
    """ "in front of" → front, "on top of" → on, "next to" → near: the run's most specific word."""
    specific = [t for t in run if t not in ("in", "on", "of", "at", "to")] or list(run)
    word = specific[0]
    return "symmetric" if word in SYMMETRIC else _SPATIAL.get(word, word)


def relations(tokens: Sequence[str], content: frozenset[str] | set[str]) -> dict[frozenset[str], tuple[str, str]]:
    """{{head, object}: (relation, head)} for each run of relation words between two content words."""
    out: dict[frozenset[str], tuple[str, str]] = {}
    i = 0
    while i < len(tokens):
        if not _is_relation(tokens[i]):
            i += 1
            continue
        end = i
        while end < len(tokens) and (_is_relation(tokens[end]) or tokens[end] == "to"):
            end += 1
        name = _run_name(tokens[i:end])
        head = next((t for t in reversed(tokens[:i]) if t in content), None)
        obj = _object(tokens, end - 1, content)
        if head is not None and obj is not None and head != obj and name != "symmetric":
            out[frozenset((head, obj))] = (name, head)
        i = end
    return out


def _object(tokens: Sequence[str], i: int, content: frozenset[str] | set[str]) -> str | None:
    """The first content word within four tokens after the relation (articles are already gone)."""
    return next((t for t in tokens[i + 1 : i + 5] if t in content), None)


def relations_differ(a: Sequence[str], b: Sequence[str], content: set[str]) -> bool:
    """The same two words related on both sides, but swapped or by another relation."""
    ra, rb = relations(a, content), relations(b, content)
    return any(ra[pair] != rb[pair] for pair in ra.keys() & rb.keys())
