"""Vetoes for the semantic tier (docs/ARCHITECTURE.md, Prompt keys): rules that keep two cues apart however close their
embeddings.

A static embedding is a bag of words: "cat chasing dog" and "dog chasing cat" are the same vector, and
"red hat" is close to "blue hat". So an embedding match is only a *candidate*; it becomes a merge when
every guard here passes. Each guard compares one kind of meaning that word vectors blur:

- negation: the multiset of negation words (after tier-2 folding: "with no" → "without", "dont" → "not");
- numbers: the multiset of numbers (tier 2 turns number words into digits);
- closed classes (colours, sizes, age, spatial relations, time of day, season, weather, materials,
  moods): the multiset of each class's *groups*, where a group holds words that mean the same
  ("under" = "beneath"); spatial words that introduce a time ("at night", "in winter") do not count;
- attribute binding: which noun each class word describes ("red hat, blue scarf" ≠ "blue hat, red scarf");
- role order: two aligned words with an aligned relation between them keep their order, unless exactly
  one side is passive ("by"): "a cat chasing a dog" ≠ "a dog chasing a cat" = "a dog chased by a cat";
- alignment: every content word on either side has a counterpart on the other, the same word or one
  whose word vector is at least `word_threshold` close (synonyms such as "jogging" / "running" pass,
  near-synonyms such as "kitten" / "cat" must not).

Pure functions over tier-2 tokens (shared/domain/similarity.py); the word similarity is injected, so
this module needs no model. The thresholds are chosen on the tune half of tests/data/semantic_pairs.jsonl
only (infra/bench/semantic.py); see docs/ARCHITECTURE.md for where the tier sits on the miss path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from shared.domain import structure
from shared.domain.guard_words import CLASSES, NEGATIONS, STOP
from shared.domain.similarity import canonical

_GROUP = {word: (cls, group) for cls, words in CLASSES.items() for word, group in words.items()}
_TEMPORAL = frozenset(w for cls in ("time", "season", "weather") for w in CLASSES[cls])
_ATTRIBUTES = frozenset({"colour", "size", "age", "material", "mood"})


@dataclass(frozen=True)
class Verdict:
    merge: bool
    reason: str = ""


def tokens(text: str) -> list[str]:
    """Tier-2 tokens of a tier-1 normalized cue."""
    return canonical(text).split()


def _class_groups(toks: list[str]) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for i, tok in enumerate(toks):
        if tok not in _GROUP:
            continue
        cls, group = _GROUP[tok]
        if cls == "spatial" and not _counts_as_place(toks, i):
            continue
        out[(cls, group)] += 1
    return out


def _next_content(toks: list[str], i: int) -> str | None:
    return next((t for t in toks[i + 1 : i + 4] if t not in STOP), None)


def _counts_as_place(toks: list[str], i: int) -> bool:
    """ "in winter", "at night", "in front of", "in a red hat": the word introduces no place of its own."""
    following = _next_content(toks, i)
    if following is None:
        return True
    if following in _TEMPORAL:
        return False
    cls = _GROUP.get(following, ("", ""))[0]
    if cls == "spatial":
        return False
    return not (toks[i] == "in" and cls in _ATTRIBUTES)


def _bindings(toks: list[str]) -> Counter[tuple[str, str]]:
    """(attribute group, the noun it describes): the next content word, else the previous one."""
    out: Counter[tuple[str, str]] = Counter()
    content = [(i, t) for i, t in enumerate(toks) if t not in STOP and t not in _GROUP]
    for i, tok in enumerate(toks):
        if _GROUP.get(tok, ("", ""))[0] not in _ATTRIBUTES:
            continue
        after = [t for j, t in content if j > i]
        before = [t for j, t in content if j < i]
        noun = after[0] if after else (before[-1] if before else "")
        out[(_GROUP[tok][1], noun)] += 1
    return out


WordSim = Callable[[str, str], float]


def _content(toks: list[str]) -> list[str]:
    return [t for t in toks if t not in STOP and t not in _GROUP and t not in NEGATIONS and not t.isdigit()]


def _same_word(a: str, b: str) -> bool:
    """Equal, or one is the other's regular past participle ("chased" / "chase", "followed" / "follow"):
    tier 2 folds "-ing" and "-s" but not "-ed", which passive voice needs."""
    if a == b:
        return True
    return any(x.endswith("ed") and len(x) > 4 and y in (x[:-1], x[:-2], x[:-3]) for x, y in ((a, b), (b, a)))


def _align(a: list[str], b: list[str], sim: WordSim, threshold: float) -> dict[int, int] | None:
    """Each content position of `a` → its best counterpart in `b`; None if one has none good enough."""
    out: dict[int, int] = {}
    pool = [j for j, t in enumerate(b) if t not in STOP and t not in _GROUP]
    for i, tok in enumerate(a):
        if tok in STOP or tok in _GROUP or tok in NEGATIONS or tok.isdigit():
            continue
        exact = [j for j in pool if _same_word(tok, b[j])]
        if exact:
            out[i] = exact[0]
            continue
        scored = [(sim(tok, b[j]), j) for j in pool]
        best = max(scored, default=(0.0, -1))
        if best[0] < threshold:
            return None
        out[i] = best[1]
    return out


def _roles_kept(a: list[str], b: list[str], mapping: dict[int, int]) -> bool:
    positions = sorted(mapping)
    for x_i, x in enumerate(positions):
        for y in positions[x_i + 1 :]:
            bx, by = mapping[x], mapping[y]
            if bx == by:
                continue
            lo, hi = min(bx, by), max(bx, by)
            linked = any(lo < mapping[m] < hi for m in positions if x < m < y)
            if not linked:
                continue
            passive_a = a[y - 1] == "by"
            passive_b = b[hi - 1] == "by"
            if (bx < by) != (passive_a == passive_b):
                return False
    return True


def _structural(a1: list[str], b1: list[str], a: list[str], b: list[str]) -> str:
    """The first structural veto (shared/domain/structure.py) on tier-1 (a1, b1) and tier-2 (a, b) tokens."""
    if structure.symbols_differ(a1, b1):
        return "symbol"
    if structure.numbers_differ(a1, b1):
        return "number"
    if structure.affix_negation(a1, b1):
        return "affix_negation"
    if structure.count_differs(a1, b1):
        return "count"
    if structure.state_differs(a1, b1):
        return "state"
    content = {t for t in (*a, *b) if t not in STOP and t not in _GROUP and t not in NEGATIONS and not t.isdigit()}
    if structure.relations_differ(a, b, content):
        return "relation"
    return ""


def verdict(a_text: str, b_text: str, sim: WordSim, word_threshold: float) -> Verdict:
    """Whether two tier-1 normalized cues may share a prompt key, given that their embeddings are close."""
    a, b = tokens(a_text), tokens(b_text)
    if a_text == b_text:
        return Verdict(True)
    if reason := _structural(a_text.split(), b_text.split(), a, b):
        return Verdict(False, reason)
    if Counter(t for t in a if t in NEGATIONS) != Counter(t for t in b if t in NEGATIONS):
        return Verdict(False, "negation")
    if Counter(t for t in a if t.isdigit()) != Counter(t for t in b if t.isdigit()):
        return Verdict(False, "number")
    if _class_groups(a) != _class_groups(b):
        return Verdict(False, "class")
    if _bindings(a) != _bindings(b):
        return Verdict(False, "binding")
    forward = _align(a, b, sim, word_threshold)
    if forward is None or _align(b, a, sim, word_threshold) is None:
        return Verdict(False, "unaligned")
    if not _roles_kept(a, b, forward):
        return Verdict(False, "roles")
    return Verdict(True)
