"""Combination lists of the local text classifier (shared/safety/rules.py): words that say nothing
alone and something with a partner ("shooting" + "a man", "as" + "rats" + a group, "popping" + "molly").

rules.COMBOS names which two lists meet and what their meeting adds to a category; MINORS (or an age
under 18, rules.ages) next to any sexual term, weak ones included, makes the cue "minors". Same editing
rule as lexicon.py: tuned on the tune half and independent_a only, bump LEXICON_VERSION on any change.
"""

from __future__ import annotations

# fmt: off
MINORS = (
    "child", "children", "kid", "kids", "little girl", "little boy", "young girl", "young boy", "schoolgirl",
    "school girl", "schoolboy", "school boy", "teen", "teens", "teenage", "teenager", "teenagers", "underage",
    "minor", "minors", "preteen", "preteens", "tween", "toddler", "baby", "infant", "child bride", "cheerleader",
    "middle schooler", "middle school", "high schooler", "highschooler", "highschool", "high school",
    "grade school", "elementary school", "grader", "graders", "young teen", "barely legal",
    "boy scout", "girl scout",
)
VIOLENT_ACTS = (
    "killing", "kill", "kills", "killed", "murdering", "shooting", "shot", "stabbing", "stabbed", "beating",
    "beaten", "strangling", "choking", "kicking", "burning", "drowning", "aiming", "running over", "hanging",
    "skinning", "skinned", "gutting", "gutted", "smashing", "smashed", "bludgeon*", "slaughter*", "butcher*",
    "tearing", "ripping",
)
VICTIMS = (
    "man", "woman", "people", "person", "girl", "boy", "child", "kid", "kids", "baby", "dog", "puppy", "cat",
    "prisoner", "hostages", "victim", "victims", "soldier", "pedestrians", "homeless", "head", "crowd",
    "someone", "somebody", "guy", "his victim", "her victim", "civilians",
)
# Body part + injury: graphic harm to a body, whoever does it.
BODY_PARTS = (
    "head", "face", "skull", "eye", "eyes", "eyeball", "eyeballs", "guts", "organs", "brain", "brains",
    "throat", "limb", "limbs", "leg", "legs", "arm", "arms", "hand", "hands", "finger", "fingers", "fingernails",
    "toes", "teeth", "tongue", "ear", "ears", "jaw", "skin", "flesh", "bone", "bones", "spine", "neck", "torso",
    "stomach", "belly", "chest", "body", "bodies",
)
INJURIES = (
    "blown off", "ripped off", "torn off", "cut off", "chopped off", "hacked off", "sliced off", "bitten off",
    "ripped out", "torn out", "tearing out", "tore out", "ripping out", "split open", "sliced open", "cut open",
    "ripped open", "torn open", "cracked open", "smashed in", "bashed in", "caved in", "blown apart", "blown open",
    "slit", "slashed",
    "melting off", "melted off", "spilling out", "spilled out", "severed", "mangled", "skinned", "cut in half",
    "chopped up", "hacked up", "bullet holes", "stumps", "impaled",
)
SELF_MARKERS = (
    "herself", "himself", "myself", "yourself", "themselves", "her own", "his own", "my own", "their own",
    "to die", "on purpose", "end it", "to end",
)
SELF_ACTS = (
    "cutting", "burning", "slitting", "starving", "shooting", "drinking bleach", "jump", "jumping off", "hanging",
    "carving", "swallowing", "overdos*", "stepping in front", "in front of a train", "gun to", "pills", "razor",
    "blade", "wrists", "ledge", "noose", "scars", "cuts", "bottle of",
)
# Wrists or veins + a cut: self-harm however the sentence is built ("teen slitting her wrists").
WRISTS = ("wrist", "wrists", "veins", "forearm", "forearms")
CUTS = (
    "slit", "slits", "slitting", "slashing", "slashed", "cutting", "cut", "cuts", "carving", "razor", "blade",
    "scars",
)
GROUPS = (
    "jews", "jew", "jewish", "jewish people", "muslims", "muslim", "arabs", "arab", "gay", "gays", "gay people",
    "gay men", "lesbians", "homosexuals", "black people", "blacks", "african", "africans", "mexicans", "latinos",
    "hispanics", "transgender", "trans", "trans people", "women", "asians", "chinese", "immigrants", "migrants",
    "disabled", "refugees", "christians", "hindus", "sikhs", "roma", "gypsies", "palestinians", "israelis",
)
# Dehumanization: a group shown as vermin, animals, disease or monsters.
DEHUMANIZING = (
    "rats", "rat", "cockroaches", "cockroach", "roaches", "vermin", "parasites", "parasite", "lice", "maggots",
    "insects", "monkeys", "monkey", "apes", "ape", "gorillas", "pigs", "swine", "dogs", "animals", "beasts",
    "monsters", "demons", "subhuman", "diseased", "disease", "plague", "savages", "snakes", "rodents", "filthy",
    "filth", "invaders",
)
DEPICTIONS = ("as", "are", "like", "into", "were", "is a", "must be")
# Street names that are everyday words alone, and what is done with a drug.
DRUG_SLANG = (
    "molly", "acid", "blow", "crystal", "smack", "ecstasy", "xanax", "xans", "oxy", "oxys", "percs", "a fix",
    "powder", "pills", "coke", "crack",
)
DRUG_ACTS = (
    "popping", "popped", "snorting", "sniffing", "smoking", "injecting", "shooting", "cooking", "cooking up",
    "tripping", "rolling on", "hitting", "bumps", "bump", "dropping", "dealing", "selling", "pressing",
    "huffing", "tweaking", "high on", "getting high",
)
# fmt: on
