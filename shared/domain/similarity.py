"""Tier-2 prompt matching (docs/ARCHITECTURE.md, Prompt keys): a coarser canonical form of a tier-1 normalized cue.

Near-duplicates of one intent ("birds flying in the sky", "a bird flies in the sky", "picture of a bird
flying in the sky") map to the same *tier-2 form*, so the prompt key is a pure function of it: no extra
lookup, and the key still includes soul, kind, style version and params, so matches never cross souls
or kinds. What it folds: inflection (rule-based lemmas plus a small irregular table), a small table of
true synonyms, auxiliaries ("is", "are"), number words (to digits), contracted negation ("dont" →
"not"), "with no" → "without", and request framing at the start ("picture of", "show me"). What it
keeps, by construction: word order (so roles stay: "cat chasing dog" ≠ "dog chasing cat"), every
negation word, every number, every colour and every other attribute word — it rewrites tokens one by
one and only drops words on a short, closed list. Off by default (SOUL_SIMILARITY_TIER2); the measured
merge / false-merge rates are in tests/unit/test_similarity.py. Pure stdlib: fits a Cloud Function.
"""

from __future__ import annotations

from functools import lru_cache

VERSION = "t2/v1"

# Words that carry no intent of their own once articles are gone (tier 1 drops articles and filler).
_DROP = frozenset({"is", "are", "am", "was", "were", "be", "being", "been", "its", "some", "do", "does", "did"})

_RELATIVES = frozenset({"who", "that", "which"})

# Contracted negations as tier 1 leaves them (apostrophes removed): all become "not".
_NEGATIONS = {
    "dont": "not",
    "doesnt": "not",
    "didnt": "not",
    "isnt": "not",
    "arent": "not",
    "wasnt": "not",
    "werent": "not",
    "cant": "not",
    "cannot": "not",
    "wont": "not",
    "havent": "not",
    "hasnt": "not",
    "never": "not",
}

_NUMBERS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "twenty": "20",
    "hundred": "100",
    "dozen": "12",
    "pair": "2",
}

# True synonyms and spelling variants only: a kitten is not a cat, a cap is not a hat.
_SYNONYMS = {
    "couch": "sofa",
    "automobile": "car",
    "bicycle": "bike",
    "aeroplane": "airplane",
    "plane": "airplane",
    "ocean": "sea",
    "woods": "forest",
    "bunny": "rabbit",
    "kid": "child",
    "children": "child",
    "kids": "child",
    "television": "tv",
    "gray": "grey",
    "colour": "color",
    "colourful": "colorful",
    "colours": "color",
    "colored": "color",
    "coloured": "color",
    "doughnut": "donut",
    "film": "movie",
    "large": "big",
    "little": "small",
    "photograph": "photo",
    "picture": "photo",
    "pic": "photo",
    "image": "photo",
    "seated": "sit",
    "sat": "sit",
    "center": "centre",
    "theater": "theatre",
}

# Inflected forms the suffix rules get wrong, and plural-looking words that are their own lemma.
_IRREGULAR = {
    "mice": "mouse",
    "geese": "goose",
    "men": "man",
    "women": "woman",
    "feet": "foot",
    "teeth": "tooth",
    "people": "person",
    "wolves": "wolf",
    "leaves": "leaf",
    "knives": "knife",
    "wives": "wife",
    "lives": "life",
    "shelves": "shelf",
    "halves": "half",
    "calves": "calf",
    "elves": "elf",
    "loaves": "loaf",
    "scarves": "scarf",
    "flew": "fly",
    "flown": "fly",
    "ran": "run",
    "swam": "swim",
    "ate": "eat",
    "eaten": "eat",
    "rode": "ride",
    "ridden": "ride",
    "sang": "sing",
    "sung": "sing",
    "drank": "drink",
    "drunk": "drink",
    "held": "hold",
    "wore": "wear",
    "worn": "wear",
    "slept": "sleep",
    "stood": "stand",
    "lying": "lie",
    "dying": "die",
    "tying": "tie",
    "has": "have",
    "having": "have",
    "goes": "go",
    "going": "go",
    "went": "go",
    "does": "do",
    "dancing": "dance",
    "dances": "dance",
    "breathing": "breathe",
    "breathes": "breathe",
    "shoes": "shoe",
    "toes": "toe",
    "earrings": "earring",
    "paintings": "painting",
    "drawings": "drawing",
    "buildings": "building",
    "stockings": "stocking",
    "toppings": "topping",
}
_KEEP = frozenset(
    {
        # Plural-looking words whose "singular" means something else, and words that end in s.
        *("glasses", "sunglasses", "shorts", "pants", "jeans", "trousers", "clothes", "scissors", "goggles"),
        *("news", "always", "series", "species", "overalls", "headphones", "stairs", "upstairs", "outdoors"),
        *("this", "his", "hers", "yes", "bus", "gas", "plus", "lens", "iris", "paris", "texas", "christmas"),
        *("chess", "dress", "grass", "glass", "class", "moss", "boss", "kiss", "cross", "cactus", "octopus"),
        *("lotus", "walrus", "platypus", "circus", "canvas", "atlas", "tennis", "indoors", "downstairs"),
        # Nouns in -ing whose stem is another word (earring ≠ ear, frosting ≠ frost, painting ≠ paint).
        *("ceiling", "building", "morning", "evening", "nothing", "something", "everything", "anything"),
        *("earring", "herring", "frosting", "clothing", "pudding", "wedding", "bedding", "stocking", "filling"),
        *("topping", "icing", "lightning", "painting", "drawing", "railing", "awning", "landing", "during"),
        *("sibling", "darling", "dumpling", "seedling", "duckling", "sapling", "viking", "ring", "king"),
        *("boring", "amazing", "interesting", "exciting", "charming", "stunning", "tiring", "willing"),
    }
)
_VOWELS = frozenset("aeiou")
_DOUBLE_OK = frozenset({"ll", "ss", "zz", "ff"})

# Request framing at the very start of a cue ("picture of", "show me", "i want"). "drawing of" and
# "painting of" are not framing: a medium is an attribute.
_FRAMES = (
    ("photo", "of"),
    ("show", "me"),
    ("give", "me"),
    ("make", "me"),
    ("i", "want"),
    ("i", "would", "like"),
    ("id", "like"),
    ("can", "you"),
    ("could", "you"),
    ("generate",),
    ("create",),
    ("render",),
)


def _is_word(token: str) -> bool:
    return token.isalpha()


def _restore_e(stem: str) -> str:
    """`rid` → `ride`, `skat` → `skate`: a short consonant-vowel-consonant stem lost a final e."""
    short_cvc = len(stem) >= 3 and stem[-1] not in _VOWELS | {"w", "x", "y"} and stem[-2] in _VOWELS
    if short_cvc and stem[-3] not in _VOWELS and sum(c in _VOWELS for c in stem) == 1:
        return stem + "e"
    if stem.endswith(("v", "c", "z")) or stem.endswith(("bl", "tl", "dl", "gl", "pl", "kl", "cl")):
        return stem + "e"
    return stem


def _undouble(stem: str) -> str:
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-2:] not in _DOUBLE_OK and stem[-1] not in _VOWELS:
        return stem[:-1]
    return stem


def _verb_stem(word: str, suffix: str) -> str | None:
    stem = word[: -len(suffix)]
    if len(stem) < 2 or not any(c in _VOWELS | {"y"} for c in stem):
        return None
    undoubled = _undouble(stem)
    if undoubled != stem:
        return undoubled
    return _restore_e(stem)


def lemma(word: str) -> str:
    """A rule-based lemma: plural nouns and verb forms fold to one stem. Consistency matters more than
    dictionary accuracy (both forms must land on the same string); a rule that could merge two
    different words is guarded by `_KEEP`. Applied to a fixed point, so lemma(lemma(w)) == lemma(w):
    one rule's output can itself be inflected ("paintings" → "painting" → "paint", "aaaings")."""
    for _ in range(8):  # every rule shortens a word or leaves it alone; the bound is belt and braces
        folded = _lemma_step(word)
        if folded == word:
            break
        word = folded
    return word


def _lemma_step(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word in _KEEP or not _is_word(word) or len(word) <= 3:
        return word
    if word.endswith("ing") and len(word) > 5:
        return _verb_stem(word, "ing") or word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes", "oes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "ous", "ics")):
        return word[:-1]
    return word


def _frame_len(tokens: list[str]) -> int:
    for frame in _FRAMES:
        if len(tokens) > len(frame) and tuple(tokens[: len(frame)]) == frame:
            return len(frame)
    return 0


def _strip_frames(tokens: list[str]) -> list[str]:
    while (n := _frame_len(tokens)) > 0:
        tokens = tokens[n:]
    return tokens


def _token(word: str) -> str:
    word = _NEGATIONS.get(word, word)
    word = _NUMBERS.get(word, word)
    word = _SYNONYMS.get(word, word)
    word = lemma(word)
    return _SYNONYMS.get(word, word)


def _fold_with_no(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for token in tokens:
        if token in ("no", "not") and out and out[-1] == "with":
            out[-1] = "without"
            continue
        out.append(token)
    return out


def _drop_relatives(words: list[str]) -> list[str]:
    """ "cat who is sleeping" → "cat is sleeping": a relative pronoun before an auxiliary adds nothing."""
    return [w for i, w in enumerate(words) if not (w in _RELATIVES and words[i + 1 : i + 2] and words[i + 1] in _DROP)]


@lru_cache(maxsize=4096)
def canonical(normalized: str) -> str:
    """The tier-2 form of a tier-1 normalized cue (idempotent). Empty input stays empty."""
    tokens = [_token(w) for w in _drop_relatives(normalized.split())]
    tokens = _strip_frames(_fold_with_no([t for t in tokens if t not in _DROP]))
    return " ".join(tokens) if tokens else normalized
