"""The local text classifier's word lists (shared/safety/rules.py), per category.

STRONG terms block on their own; WEAK terms count half and block only together (two weak terms, or a
weak term with a combination rule of shared/safety/combos.py). Multi-word entries match as a run of
tokens; a trailing `*` matches any ending ("tortur*": torture, tortured, torturing). BENIGN phrases are
removed before scoring: they are where an unsafe word has an everyday meaning ("chicken breast").
The lists are families a moderator would know (slang and euphemisms for nudity and sex acts, hate
symbols and codes, drug street names, gore verbs), edited against the tune half of
tests/data_safety/safety_cues.jsonl and tests/data_safety/independent_a.jsonl only; bump LEXICON_VERSION
on any change so cached decisions are re-checked.
"""

from __future__ import annotations

LEXICON_VERSION = "rules-3"

# fmt: off
STRONG: dict[str, tuple[str, ...]] = {
    "sexual": (
        # nudity and its euphemisms
        "naked", "nude", "nudes", "nudity", "nekkid", "nakkid", "nakey", "unclothed", "buck naked", "in the buff",
        "topless", "bottomless", "no clothes", "without clothes", "wearing nothing", "clothes off", "her top off",
        "her shirt off", "exposing himself", "exposing herself",
        "her bra off", "boobs out", "tits out", "full frontal", "breasts exposed", "bare breasts", "exposed breasts",
        "exposed genitals", "flashing her", "upskirt", "undress*",
        # sex acts and explicit media
        "sex", "sexual", "having sex", "getting it on", "making love", "intercourse", "fucking", "fuck", "humping",
        "doggystyle", "doggy style", "blowjob", "blow job", "handjob", "hand job", "fellatio", "cunnilingus",
        "anal", "deepthroat*", "cum", "cumshot", "creampie", "orgasm*", "ejaculat*", "masturbat*", "jerking off",
        "jacking off", "fondling", "groping", "molest*", "orgy", "gangbang", "threesome", "porn", "porno",
        "pornographic", "pornography", "rule 34", "r34", "hentai", "ecchi", "yiff", "ahegao", "smut", "nsfw",
        "xxx", "erotic", "erotica", "lewd", "bdsm", "bondage", "dominatrix", "fetish", "onlyfans", "camgirl",
        "stripper", "striptease", "strip tease", "stripping", "spreading her legs", "legs spread", "boob job",
        # anatomy
        "genitals", "genital", "penis", "vagina", "vulva", "nipples", "nipple", "areola*", "tits", "titties",
        "erect", "erection", "cameltoe",
    ),
    "minors": (
        "child porn", "loli", "lolicon", "lolita", "shota", "shotacon", "jailbait", "pedo", "pedophile*",
        "paedophile*",
    ),
    "violence": (
        "behead*", "decapitat*", "disembowel*", "dismember*", "eviscerat*", "mutilat*", "gore", "gory", "gorey",
        "massacre", "tortur*", "lynch*", "rape", "raped", "raping", "flayed", "impaled", "burned alive",
        "burnt alive", "skinned alive", "burning someone alive", "burning him alive", "burning her alive",
        "firing squad", "mass shooting", "school shooter", "suicide bomber", "blood everywhere", "lots of blood",
        "pool of blood", "brain matter", "blood spraying", "blood spurting", "soaked in blood", "bloody stumps",
        "brains splattered",
        "slitting someone's throat", "cannibal", "human flesh", "gouging out", "gouged out", "guts spilling",
        "torn apart", "ripped apart", "blown apart", "gunshot wound*", "chopped to pieces", "bodies piled",
        "dead bodies",
    ),
    "self_harm": (
        "suicide", "suicidal", "kill yourself", "kill himself", "kill herself", "kill myself", "killing myself",
        "kms", "kys", "unalive*", "end it all", "end my life", "end his life", "end her life", "end their life",
        "ending my life", "take my own life", "take his own life", "take her own life", "took his own life",
        "took her own life", "want to die", "wanna die", "hang myself", "hanging himself", "hanging herself",
        "noose", "thinspiration", "thinspo", "bonespo", "meanspo", "pro anorexia", "pro ana", "pro mia",
        "self harm*", "selfharm*", "self inflicted", "sh scars", "sh cuts", "overdosing", "slit wrists",
        "cutting myself", "cutting herself", "cutting himself",
    ),
    "hate": (
        "swastika", "hakenkreuz", "nazi", "nazis", "kkk", "klan", "klansman", "klansmen", "ku klux", "heil",
        "1488", "14 88", "14 words", "fourteen words", "totenkopf", "ss runes", "ss bolts", "sonnenrad",
        "wolfsangel", "happy merchant", "white power", "white pride", "white genocide", "white supremacist",
        "white supremacy", "race war", "rahowa", "great replacement", "blood and soil", "aryan nation",
        "aryan brotherhood", "ethnic cleansing", "holocaust denial", "blackface", "burning cross", "anti semitic",
        "antisemitic", "isis", "hitler youth", "racist", "hook nosed",
        # slurs
        "kike", "kikes", "nigger", "niggers", "faggot", "faggots", "tranny", "trannies", "wetback", "wetbacks",
        "chink", "chinks", "raghead", "ragheads", "towelhead", "towelheads", "spic", "spics", "gook", "gooks",
        "beaner", "beaners",
    ),
    "drugs": (
        "meth", "methamphetamine", "heroin", "cocaine", "fentanyl", "crack pipe", "smoking crack", "crackhead",
        "shooting up", "junkie", "lines of coke", "snorting", "lsd", "mdma", "ketamine", "k hole", "dmt",
        "shrooms", "magic mushrooms", "psilocybin", "mescaline", "pcp", "angel dust", "tripping balls",
        "speedball", "purple drank", "freebasing", "crack den", "ecstasy pills",
    ),
}

WEAK: dict[str, tuple[str, ...]] = {
    "sexual": (
        "sexy", "busty", "lingerie", "seductive*", "sensual", "suggestive", "provocative*", "flirty", "breasts",
        "boobs",
        "thong", "g string", "panties", "barely clothed", "scantily clad", "skimpy", "showing skin", "exposed",
        "explicit", "making out", "kinky", "latex", "lap dance", "pole dance",
    ),
    "violence": (
        "blood", "bloody", "murder", "corpse", "dead", "death", "severed", "guts", "slashed", "terrorist",
        "hostages", "execution", "bomb", "explod*", "killer", "splatter", "gouging", "bodies", "dies", "chainsaw",
        "stab", "wounds", "brains", "stumps", "intestines", "entrails",
    ),
    "self_harm": (
        "cutting", "razor", "scars", "bleach", "starving", "end it", "hanged", "jump", "cuts", "bleeding",
    ),
    "hate": (
        "propaganda", "caricature", "mocking", "freaks", "inferior", "terrorists", "burning in hell", "kill all",
        "death to", "subhuman", "gassing", "glorified", "exterminat*", "genocide", "hitler", "third reich",
        "confederate flag", "ss officer", "waffen ss",
    ),
    "drugs": (
        "syringe", "needle", "injecting", "coke", "crack", "pills", "drugs", "drug", "addict", "dealer",
        "addicts", "tweaking", "stoned", "overdos*", "baggie",
    ),
}

# Everyday meanings of unsafe words: removed before scoring.
BENIGN = (
    "chicken breast", "breast cancer", "bloody mary", "killing time", "killing it", "shooting hoops",
    "shooting star", "shooting range", "photo shoot", "naked mole rat", "naked cake", "naked eye", "naked flame",
    "nude color", "nude lipstick", "bath bomb", "photo bomb", "bomb pop", "dead end", "dead leaves",
    "death valley", "drug store", "killer whale", "murder mystery", "blood orange", "blood drive", "blood pressure",
    "blood sugar", "fake blood", "shot of", "vaccine shot", "flu shot", "booster shot", "crack in", "coke and",
    "day of the dead", "cliffhanger", "execution of", "paper cut", "cutting vegetables", "cutting meat",
    "cutting a", "hanging plant", "hanging lanterns", "hanging gardens", "to die for", "al gore", "blow dry",
    "bleeding heart", "pot of", "dead tired", "suicide squad", "goddess isis", "temple of isis", "her own hair",
    "his own hair",
    "my own hair",
)
# fmt: on
