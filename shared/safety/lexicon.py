"""The local text classifier's word lists (shared/safety/rules.py), per category.

STRONG terms block on their own; WEAK terms count half and block only together (two weak terms, or a
weak term of a combination rule below). Multi-word entries match as a run of tokens; a trailing `*`
matches any ending ("tortur*": torture, tortured, torturing). BENIGN phrases are removed before
scoring: they are where an unsafe word has an everyday meaning ("chicken breast", "shooting hoops").
Edited against the tune half of tests/data_safety/safety_cues.jsonl only; bump LEXICON_VERSION on any
change so cached decisions are re-checked.
"""

from __future__ import annotations

LEXICON_VERSION = "rules-1"

# fmt: off
STRONG: dict[str, tuple[str, ...]] = {
    "sexual": (
        "naked", "nude", "nudes", "nudity", "porn", "porno", "pornographic", "pornography", "sex", "sexual",
        "genitals", "genital", "penis", "vagina", "nipples", "topless", "erotic", "nsfw", "hentai", "xxx",
        "masturbat*", "orgy", "blowjob", "cum", "stripper", "striptease", "strip tease", "stripping", "making love",
        "threesome", "fetish", "bondage", "lewd", "onlyfans", "intercourse", "erect", "full frontal", "no clothes",
        "breasts exposed", "bare breasts", "spreading her legs", "boob job", "undress*",
    ),
    "minors": (
        "child porn", "loli", "lolita",
    ),
    "violence": (
        "behead*", "decapitat*", "disembowel*", "dismember*", "mutilat*", "gore", "gory", "massacre", "tortur*",
        "lynch*", "rape", "raped", "raping", "burned alive", "burnt alive", "skinned alive", "firing squad",
        "mass shooting", "school shooter", "suicide bomber", "blood everywhere", "brains splattered",
        "slitting someone's throat", "cannibal", "human flesh", "gouging out", "guts spilling", "torn apart",
        "bodies piled", "dead bodies",
    ),
    "self_harm": (
        "suicide", "suicidal", "kill yourself", "kill himself", "kill herself", "kill myself", "hanging himself",
        "hanging herself", "noose", "thinspiration", "thinspo", "pro anorexia", "pro ana", "self harm*",
        "selfharm*", "overdosing", "slit wrists", "cutting her wrists", "cutting his wrists", "end my life",
    ),
    "hate": (
        "swastika", "nazi", "kkk", "heil hitler", "white power", "white supremacist", "ethnic cleansing",
        "holocaust denial", "blackface", "burning cross", "anti semitic", "antisemitic", "isis", "hitler youth",
        "racist", "hook nosed",
    ),
    "drugs": (
        "meth", "methamphetamine", "heroin", "cocaine", "fentanyl", "crack pipe", "smoking crack", "shooting up",
        "junkie", "lines of coke", "snorting",
    ),
}

WEAK: dict[str, tuple[str, ...]] = {
    "sexual": (
        "sexy", "lingerie", "seductive*", "breasts", "boobs",
    ),
    "violence": (
        "blood", "bloody", "murder", "corpse", "dead", "death", "severed", "guts", "slashed", "terrorist",
        "hostages", "execution", "bomb", "explod*", "killer", "splatter", "gouging", "bodies", "dies", "chainsaw",
        "stab", "wounds", "brains",
    ),
    "self_harm": (
        "cutting", "razor", "scars", "bleach", "starving", "end it", "hanged", "jump", "cuts", "bleeding",
    ),
    "hate": (
        "propaganda", "caricature", "mocking", "vermin", "animals", "freaks", "inferior", "terrorists",
        "burning in hell", "kill all", "death to", "monkey", "subhuman", "gassing", "glorified",
    ),
    "drugs": (
        "syringe", "needle", "injecting", "coke", "crack", "pills", "drugs", "drug", "addict", "dealer",
    ),
}

# Combination rules: a member of these counts half toward its category only with a partner present.
MINORS = (
    "child", "children", "kid", "kids", "little girl", "little boy", "young girl", "young boy", "schoolgirl",
    "school girl", "schoolboy", "teen", "teens", "teenage", "teenager", "underage", "minor", "preteen", "toddler",
    "baby", "child bride", "cheerleader",
)
VIOLENT_ACTS = (
    "killing", "kill", "kills", "killed", "murdering", "shooting", "shot", "stabbing", "stabbed", "beating",
    "beaten", "strangling", "choking", "kicking", "burning", "drowning", "aiming", "running over", "hanging",
)
VICTIMS = (
    "man", "woman", "people", "person", "girl", "boy", "child", "kid", "kids", "baby", "dog", "puppy", "cat",
    "prisoner", "hostages", "victim", "victims", "soldier", "pedestrians", "homeless", "head", "crowd",
)
SELF_MARKERS = (
    "herself", "himself", "myself", "yourself", "her own", "his own", "my own", "to die",
)
SELF_ACTS = (
    "cutting", "burning", "slitting", "starving", "shooting", "drinking bleach", "jump", "hanging",
)
GROUPS = (
    "jews", "jew", "jewish", "muslims", "muslim", "gay", "gays", "black people", "blacks", "african", "mexicans",
    "transgender", "trans", "women", "asians", "immigrants", "disabled", "refugees",
)

# Everyday meanings of unsafe words: removed before scoring.
BENIGN = (
    "chicken breast", "breast cancer", "bloody mary", "killing time", "shooting hoops", "shooting star",
    "shooting range", "photo shoot", "naked mole rat", "nude color", "nude lipstick", "bath bomb", "photo bomb",
    "bomb pop", "dead end", "dead leaves", "death valley", "drug store", "killer whale", "murder mystery",
    "blood orange", "blood drive", "shot of", "crack in", "coke and", "day of the dead", "cliffhanger",
    "execution of", "paper cut", "cutting vegetables", "cutting meat", "cutting a", "hanging plant",
    "hanging lanterns", "hanging gardens",
)
# fmt: on
