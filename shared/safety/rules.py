"""The local text moderator: a transparent rule classifier over category word lists (lexicon.py,
combos.py).

Why rules and not a library: the offline candidates in the package index either score one thing
(profanity / comment toxicity: alt-profanity-check, better-profanity) and so miss "a naked child" or
"cooking meth", or need torch plus weights fetched at run time (detoxify). A rule list names its
categories, runs in well under a millisecond with no download, and every decision can be traced to the
words that made it (docs/SAFETY.md has the measured rates). It is a first line, not a model of intent:
paraphrase evasion gets through, which is why production uses Cloud Natural Language
(SOUL_TEXT_MODERATION=cloud).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from shared.safety import combos, lexicon
from shared.safety.policy import Verdict

STRONG, WEAK = 1.0, 0.5
# Per-category score at or above which a cue is blocked: chosen on the tune half only
# (`soul bench safety --tune`); strict styles block at half of it (a weak term alone).
THRESHOLDS = {"minors": 1.0, "self_harm": 1.0, "violence": 1.0, "sexual": 1.0, "hate": 1.0, "drugs": 1.0}
PRIORITY = ("minors", "self_harm", "violence", "sexual", "hate", "drugs")  # ties: the gravest first
# Lists of combos.py all present in one cue add this much to a category.
COMBOS: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("violence", ("VIOLENT_ACTS", "VICTIMS"), STRONG),
    ("violence", ("BODY_PARTS", "INJURIES"), STRONG),
    ("self_harm", ("SELF_MARKERS", "SELF_ACTS"), STRONG),
    ("self_harm", ("WRISTS", "CUTS"), STRONG),
    ("hate", ("GROUPS", "DEPICTIONS", "DEHUMANIZING"), STRONG),
    ("drugs", ("DRUG_SLANG", "DRUG_ACTS"), STRONG),
)
_LISTS = sorted({name for _, names, _ in COMBOS for name in names} | {"MINORS"})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_NUMBERED = re.compile(r"(\d{1,2})(st|nd|rd|th|yo|yr|yrs|y)")  # "5th", "14yo": kept out of leetspeak
# fmt: off
_NUMBERS = (
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen",
    "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
)
# fmt: on
_N = r"(\d{1,2}|" + "|".join(_NUMBERS) + ")"
_AGES = (
    re.compile(rf"\b{_N} (?:year|yr)s? old\b"),
    re.compile(rf"\b(?:aged?|looks? about|looking about|looks? like) {_N}\b"),
)

Terms = dict[str, list[tuple[tuple[str, ...], bool]]]


def _word(word: str) -> list[str]:
    numbered = _NUMBERED.fullmatch(word)
    if numbered:
        age = numbered.group(2) in ("yo", "yr", "yrs", "y")
        return [numbered.group(1), "year", "old"] if age else [word]
    mixed = re.search(r"[a-z]", word) and re.search(r"[\d@$]", word)
    return [word.translate(_LEET) if mixed else word]


def tokens(text: str) -> list[str]:
    """NFKC, lower case, "14yo" spelled out, leetspeak in other mixed tokens undone, runs of single
    letters joined ("n.a.k.e.d")."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("-", " ")
    words = [w for raw in re.findall(r"[\w@$']+", text) for w in _word(raw)]
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        out.extend(["".join(run)] if len(run) >= 3 else run)
        run = []
        if word:
            out.append(word)
    return out


def ages(words: list[str]) -> list[int]:
    """Ages stated in the cue ("13 years old", "14yo", "aged 12", "looks about 10")."""
    text = " ".join(words)
    found = [age for pattern in _AGES for age in pattern.findall(text)]
    return [int(age) if age.isdigit() else _NUMBERS.index(age) + 1 for age in found]


def _compile(terms: Iterable[str]) -> Terms:
    """Terms indexed by their first word ("" for one-word prefix terms, checked against every word)."""
    index: Terms = {}
    for term in terms:
        phrase, prefix = tuple(term.rstrip("*").split()), term.endswith("*")
        key = "" if prefix and len(phrase) == 1 else phrase[0]
        index.setdefault(key, []).append((phrase, prefix))
    return index


def _find(words: list[str], terms: Terms) -> set[tuple[str, ...]]:
    found = set()
    for i, word in enumerate(words):
        for phrase, prefix in terms.get(word, []) + terms.get("", []):
            window = words[i : i + len(phrase)]
            if len(window) < len(phrase) or window[:-1] != list(phrase[:-1]):
                continue
            if window[-1] == phrase[-1] or (prefix and window[-1].startswith(phrase[-1])):
                found.add(phrase)
    return found


def _without(words: list[str], phrases: Terms) -> list[str]:
    out, i = [], 0
    while i < len(words):
        hit = next((len(p) for p, _ in phrases.get(words[i], []) if words[i : i + len(p)] == list(p)), 0)
        if hit:
            out.append("|")  # a barrier: words either side of a removed phrase never join into one
            i += hit
        else:
            out.append(words[i])
            i += 1
    return out


class RuleModerator:
    """The local default TextModerator: no network, no download, deterministic."""

    name = "rules"
    version = lexicon.LEXICON_VERSION
    remote = False

    def __init__(self, thresholds: dict[str, float] | None = None) -> None:
        self.thresholds = {**THRESHOLDS, **(thresholds or {})}
        self._strong = {c: _compile(t) for c, t in lexicon.STRONG.items()}
        self._weak = {c: _compile(t) for c, t in lexicon.WEAK.items()}
        self._benign = _compile(lexicon.BENIGN)
        self._lists = {name: _compile(getattr(combos, name)) for name in _LISTS}

    def scores(self, text: str) -> dict[str, float]:
        words = _without(tokens(text), self._benign)
        score = {c: STRONG * len(_find(words, t)) for c, t in self._strong.items()}
        for category, terms in self._weak.items():
            score[category] = score.get(category, 0.0) + WEAK * len(_find(words, terms))
        has = {name: bool(_find(words, terms)) for name, terms in self._lists.items()}
        if has["GROUPS"] and score["hate"] > 0:  # a hateful word aimed at a group
            score["hate"] += WEAK
        for category, names, weight in COMBOS:
            if all(has[name] for name in names):
                score[category] += weight
        if has["VIOLENT_ACTS"] and not has["VICTIMS"]:
            score["violence"] += WEAK
        minor = has["MINORS"] or any(age < 18 for age in ages(words))
        if minor and score["sexual"] > 0:
            score["minors"] += STRONG + score["sexual"]
        return {c: s for c, s in score.items() if s > 0}

    def moderate(self, text: str, strict: bool = False) -> Verdict:
        scores = self.scores(text)
        factor = 0.5 if strict else 1.0
        over = [c for c in PRIORITY if scores.get(c, 0.0) >= self.thresholds[c] * factor]
        if not over:
            return Verdict(True, scores=scores)
        return Verdict(False, category=max(over, key=lambda c: (scores[c], -PRIORITY.index(c))), scores=scores)
