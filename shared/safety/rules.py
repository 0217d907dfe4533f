"""The local text moderator: a transparent rule classifier over category word lists (lexicon.py).

Why rules and not a library: the offline candidates in the package index either score one thing
(profanity / comment toxicity: alt-profanity-check, better-profanity) and so miss "a naked child" or
"cooking meth", or need torch plus weights fetched at run time (detoxify). A rule list names its
categories, runs in microseconds with no download, and every decision can be traced to the words that
made it (docs/SAFETY.md has the measured rates). It is a first line, not a model of intent: paraphrase
evasion gets through, which is why production uses Cloud Natural Language (SOUL_TEXT_MODERATION=cloud).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from shared.safety import lexicon
from shared.safety.policy import Verdict

STRONG, WEAK = 1.0, 0.5
# Per-category score at or above which a cue is blocked: chosen on the tune half only
# (`soul bench safety --tune`); strict styles block at half of it (a weak term alone).
THRESHOLDS = {"minors": 1.0, "self_harm": 1.0, "violence": 1.0, "sexual": 1.0, "hate": 1.0, "drugs": 1.0}
PRIORITY = ("minors", "self_harm", "violence", "sexual", "hate", "drugs")  # ties: the gravest first
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_AGE = re.compile(r"\b(\d{1,2}) ?(?:year|yr)s? ?old\b")


def tokens(text: str) -> list[str]:
    """NFKC, lower case, leetspeak in mixed tokens undone, runs of single letters joined ("n.a.k.e.d")."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("-", " ")
    raw = re.findall(r"[\w@$']+", text)
    words = [w.translate(_LEET) if re.search(r"[a-z]", w) and re.search(r"[\d@$]", w) else w for w in raw]
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


def _compile(terms: Iterable[str]) -> list[tuple[tuple[str, ...], bool]]:
    return [(tuple(t.rstrip("*").split()), t.endswith("*")) for t in terms]


def _find(words: list[str], terms: list[tuple[tuple[str, ...], bool]]) -> set[tuple[str, ...]]:
    found = set()
    for i in range(len(words)):
        for phrase, prefix in terms:
            n = len(phrase)
            window = words[i : i + n]
            if len(window) < n or window[:-1] != list(phrase[:-1]):
                continue
            last = window[-1]
            if last == phrase[-1] or (prefix and last.startswith(phrase[-1])):
                found.add(phrase)
    return found


def _without(words: list[str], phrases: list[tuple[tuple[str, ...], bool]]) -> list[str]:
    out, i = [], 0
    while i < len(words):
        hit = next((len(p) for p, _ in phrases if words[i : i + len(p)] == list(p)), 0)
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
        self._pairs = {
            name: _compile(getattr(lexicon, name))
            for name in ("MINORS", "VIOLENT_ACTS", "VICTIMS", "SELF_MARKERS", "SELF_ACTS", "GROUPS")
        }

    def scores(self, text: str) -> dict[str, float]:
        words = _without(tokens(text), self._benign)
        score = {c: STRONG * len(_find(words, t)) for c, t in self._strong.items()}
        for category, terms in self._weak.items():
            score[category] = score.get(category, 0.0) + WEAK * len(_find(words, terms))
        has = {name: bool(_find(words, terms)) for name, terms in self._pairs.items()}
        minor = has["MINORS"] or any(int(age) < 18 for age in _AGE.findall(" ".join(words)))
        if minor and score["sexual"] > 0:
            score["minors"] += STRONG + score["sexual"]
        if has["VIOLENT_ACTS"] and has["VICTIMS"]:
            score["violence"] += WEAK * 2
        elif has["VIOLENT_ACTS"]:
            score["violence"] += WEAK
        if has["SELF_MARKERS"] and has["SELF_ACTS"]:
            score["self_harm"] += WEAK * 2
        if has["GROUPS"] and score["hate"] > 0:
            score["hate"] += WEAK
        return {c: s for c, s in score.items() if s > 0}

    def moderate(self, text: str, strict: bool = False) -> Verdict:
        scores = self.scores(text)
        factor = 0.5 if strict else 1.0
        over = [c for c in PRIORITY if scores.get(c, 0.0) >= self.thresholds[c] * factor]
        if not over:
            return Verdict(True, scores=scores)
        return Verdict(False, category=max(over, key=lambda c: (scores[c], -PRIORITY.index(c))), scores=scores)
