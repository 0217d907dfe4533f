"""Generate tests/data/semantic_pairs.jsonl: labelled prompt pairs for the embedding tier (issue 17).

`python tests/data/make_semantic_pairs.py` rewrites the file deterministically (seeded). Each pair comes
from one *intent* (a scene built from a subject, an action, a place and options); the split into
`tune` and `heldout` is made once, by the scene's subject, so held-out pairs are about subjects the
tuning never saw. Labels: `same` (a paraphrase: word order, synonyms, prepositions, noun compounds,
voice, framing, clauses), `surface` (case, punctuation, articles, politeness: tier 1 must merge all of
them) and `different` (hard negatives: negation, role swap, counts, colours, sizes, spatial relations,
attribute swaps, near-synonyms that are not synonyms, a changed action, time or weather).

The vocabulary here is the generator's own (its synonym lists are not the matcher's): the matcher must
find paraphrases through its embedding model, not through a table copied from this file.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).with_name("semantic_pairs.jsonl")

# (singular, plural); animals and people that can act on each other.
SUBJECTS = [
    ("cat", "cats"),
    ("dog", "dogs"),
    ("fox", "foxes"),
    ("owl", "owls"),
    ("bear", "bears"),
    ("horse", "horses"),
    ("penguin", "penguins"),
    ("robot", "robots"),
    ("wolf", "wolves"),
    ("deer", "deer"),
    ("rabbit", "rabbits"),
    ("tiger", "tigers"),
    ("monkey", "monkeys"),
    ("elephant", "elephants"),
    ("girl", "girls"),
    ("boy", "boys"),
    ("woman", "women"),
    ("man", "men"),
    ("squirrel", "squirrels"),
    ("duck", "ducks"),
    ("goat", "goats"),
    ("astronaut", "astronauts"),
    ("knight", "knights"),
    ("dragon", "dragons"),
    ("panda", "pandas"),
    ("lion", "lions"),
    ("giraffe", "giraffes"),
    ("koala", "koalas"),
    ("sailor", "sailors"),
    ("chef", "chefs"),
    ("turtle", "turtles"),
    ("hedgehog", "hedgehogs"),
    ("parrot", "parrots"),
    ("otter", "otters"),
    ("wizard", "wizards"),
    ("farmer", "farmers"),
    ("zebra", "zebras"),
    ("raccoon", "raccoons"),
    ("pirate", "pirates"),
    ("ballerina", "ballerinas"),
]
# Intransitive actions: (progressive, simple present, a paraphrase of the progressive).
ACTIONS = [
    ("sleeping", "sleeps", "asleep"),
    ("running", "runs", "jogging"),
    ("jumping", "jumps", "leaping"),
    ("sitting", "sits", "seated"),
    ("resting", "rests", "relaxing"),
    ("walking", "walks", "strolling"),
    ("dancing", "dances", "doing a dance"),
    ("standing", "stands", "standing up"),
    ("swimming", "swims", "taking a swim"),
    ("reading a book", "reads a book", "reading a novel"),
    ("eating an apple", "eats an apple", "munching an apple"),
    ("playing the guitar", "plays the guitar", "strumming a guitar"),
    ("yelling", "yells", "shouting"),
    ("smiling", "smiles", "grinning"),
    ("crying", "cries", "weeping"),
    ("looking at the stars", "looks at the stars", "gazing at the stars"),
    ("riding a bicycle", "rides a bicycle", "cycling"),
]
# (preposition phrase, paraphrased preposition phrase, alternative spatial phrase for negatives)
PLACES = [
    ("under an oak tree", "beneath an oak tree", "on top of an oak tree"),
    ("on a sofa", "on a couch", "under a sofa"),
    ("in a forest", "in the woods", "outside a forest"),
    ("on a beach", "on the seashore", "far from a beach"),
    ("next to a lake", "beside a lake", "across a lake"),
    ("in front of a castle", "before a castle", "behind a castle"),
    ("on a rooftop", "on the roof of a building", "inside a building"),
    ("in a kitchen", "inside a kitchen", "outside a kitchen"),
    ("near a waterfall", "close to a waterfall", "behind a waterfall"),
    ("in a field of sunflowers", "in a sunflower field", "next to a field of sunflowers"),
    ("at a train station", "at a railway station", "on top of a train"),
    ("inside a cave", "in a cave", "above a cave"),
    ("on a bridge", "on top of a bridge", "below a bridge"),
    ("in a library", "inside a library", "in front of a library"),
    ("by the fireplace", "next to the fireplace", "above the fireplace"),
    ("in the desert", "in a desert", "at the edge of the desert"),
]
TIMES = [
    ("at night", "during the night", "in the daytime"),
    ("at sunset", "at dusk", "at sunrise"),
    ("in winter", "during winter", "in summer"),
    ("in the rain", "while it rains", "in the snow"),
]
COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "pink", "black", "white", "brown"]
SIZES = [("big", "tiny"), ("huge", "small"), ("tall", "short"), ("giant", "little"), ("large", "miniature")]
WEARABLES = ["hat", "scarf", "jacket", "backpack", "umbrella", "pair of boots", "bow tie", "crown", "cape", "helmet"]
# Near-synonyms that are not synonyms: a generator asked for one should not show the other.
NEAR = [
    ("cat", "kitten"),
    ("dog", "puppy"),
    ("horse", "pony"),
    ("rabbit", "hare"),
    ("frog", "toad"),
    ("crow", "raven"),
    ("cup", "mug"),
    ("jacket", "coat"),
    ("boat", "ship"),
    ("lake", "pond"),
    ("hill", "mountain"),
    ("violin", "cello"),
    ("sunset", "sunrise"),
    ("sofa", "armchair"),
    ("forest", "jungle"),
    ("wolf", "fox"),
    ("lion", "tiger"),
    ("village", "city"),
    ("river", "stream"),
    ("pie", "cake"),
    ("boot", "sneaker"),
    ("sea", "lake"),
    ("tea", "coffee"),
    ("bread", "toast"),
]
# Transitive verbs: (progressive, past participle).
TRANSITIVE = [
    ("chasing", "chased"),
    ("hugging", "hugged"),
    ("following", "followed"),
    ("pushing", "pushed"),
    ("feeding", "fed"),
    ("watching", "watched"),
    ("painting", "painted"),
    ("carrying", "carried"),
    ("tickling", "tickled"),
    ("teaching", "taught"),
]
# (of-phrase, noun compound): the same thing named two ways.
COMPOUNDS = [
    ("a skyline of a city", "a city skyline"),
    ("a bowl of soup", "a soup bowl"),
    ("a garden of roses", "a rose garden"),
    ("a hat made of straw", "a straw hat"),
    ("a cup of tea", "a teacup"),
    ("a house made of wood", "a wooden house"),
    ("a field of wheat", "a wheat field"),
    ("a market of fish", "a fish market"),
    ("a shop selling flowers", "a flower shop"),
    ("a path through the forest", "a forest path"),
    ("a lamp on the street", "a street lamp"),
    ("a boat for fishing", "a fishing boat"),
]
FRAMES = [
    "a photo of {}",
    "an image of {}",
    "a picture showing {}",
    "show me {}",
    "i would like to see {}",
    "generate {}",
    "can you make {}",
    "{}, photo",
    "create an image of {}",
    "render {}",
]


@dataclass(frozen=True)
class Scene:
    subject: tuple[str, str]
    action: tuple[str, str, str]
    place: tuple[str, str, str]
    time: tuple[str, str, str] | None
    colour: str
    wearable: str

    def base(self, *, action: str | None = None, place: str | None = None, time: str | None = None) -> str:
        words = [f"a {self.subject[0]}", action or self.action[0], place or self.place[0]]
        if self.time:
            words.append(time or self.time[0])
        return " ".join(words)


def _pair(a: str, b: str, label: str, category: str, scene: Scene) -> dict[str, str]:
    return {"a": a, "b": b, "label": label, "category": category, "intent": scene.subject[0]}


def paraphrases(s: Scene, rng: random.Random) -> list[dict[str, str]]:
    base = s.base()
    time = f" {s.time[0]}" if s.time else ""
    out = [
        _pair(base, f"{s.place[0]}{time}, a {s.subject[0]} {s.action[0]}", "same", "word_order", s),
        _pair(base, s.base(place=s.place[1]), "same", "preposition", s),
        _pair(base, s.base(action=s.action[2]), "same", "synonym", s),
        _pair(base, rng.choice(FRAMES).format(base), "same", "framing", s),
        _pair(base, f"a {s.subject[0]} that is {s.action[0]} {s.place[0]}{time}", "same", "clause", s),
        _pair(
            f"a {s.subject[0]} wearing a {s.colour} {s.wearable} {s.place[0]}",
            f"a {s.subject[0]} in a {s.colour} {s.wearable} {s.place[1]}",
            "same",
            "synonym",
            s,
        ),
    ]
    if s.time:
        out.append(_pair(base, s.base(time=s.time[1]), "same", "preposition", s))
    other = rng.choice([x for x in SUBJECTS if x != s.subject])[0]
    verb, participle = rng.choice(TRANSITIVE)
    out.append(
        _pair(
            f"a {s.subject[0]} {verb} a {other} {s.place[0]}",
            f"a {other} being {participle} by a {s.subject[0]} {s.place[0]}",
            "same",
            "voice",
            s,
        )
    )
    of, compound = rng.choice(COMPOUNDS)
    out.append(
        _pair(
            f"a {s.subject[0]} looking at {of}", f"a {s.subject[0]} looking at {compound}", "same", "noun_compound", s
        )
    )
    return out


def surfaces(s: Scene, rng: random.Random) -> list[dict[str, str]]:
    base = s.base()
    forms = [
        base.upper(),
        base.title() + "!",
        f"please, {base}.",
        f"The {base[2:]}...",
        f"  {base}  ?!",
        base.replace(" ", "  ") + " please",
    ]
    return [_pair(base, form, "surface", "surface", s) for form in rng.sample(forms, 3)]


def negatives(s: Scene, rng: random.Random) -> list[dict[str, str]]:
    base, subj = s.base(), s.subject[0]
    other = rng.choice([x for x in SUBJECTS if x != s.subject])[0]
    verb, participle = rng.choice(TRANSITIVE)
    colour2 = rng.choice([c for c in COLOURS if c != s.colour])
    small, big = rng.choice(SIZES)
    n1, n2 = rng.sample([["two", "2"], ["three", "3"], ["four"], ["five", "5"], ["six"], ["7", "seven"]], 2)
    n1, n2 = rng.choice(n1), rng.choice(n2)
    near_a, near_b = rng.choice(NEAR)
    wear2 = rng.choice([w for w in WEARABLES if w != s.wearable])
    out = [
        _pair(
            f"a {subj} with a {s.wearable} {s.place[0]}",
            f"a {subj} without a {s.wearable} {s.place[0]}",
            "different",
            "negation",
            s,
        ),
        _pair(f"a {subj} wearing a {s.wearable}", f"a {subj} not wearing a {s.wearable}", "different", "negation", s),
        _pair(f"a {subj} {verb} a {other}", f"a {other} {verb} a {subj}", "different", "role_swap", s),
        _pair(f"a {subj} {verb} a {other}", f"a {subj} being {participle} by a {other}", "different", "role_swap", s),
        _pair(
            f"{n1} {s.subject[1]} {s.action[0]} {s.place[0]}",
            f"{n2} {s.subject[1]} {s.action[0]} {s.place[0]}",
            "different",
            "count",
            s,
        ),
        _pair(f"a {s.colour} {subj} {s.place[0]}", f"a {colour2} {subj} {s.place[0]}", "different", "colour", s),
        _pair(
            f"a {subj} with a {s.colour} {s.wearable}",
            f"a {subj} with a {colour2} {s.wearable}",
            "different",
            "colour",
            s,
        ),
        _pair(f"a {small} {subj} {s.action[0]}", f"a {big} {subj} {s.action[0]}", "different", "size", s),
        _pair(base, s.base(place=s.place[2]), "different", "spatial", s),
        _pair(
            f"a {subj} with a {s.colour} {s.wearable} and a {colour2} {wear2}",
            f"a {subj} with a {colour2} {s.wearable} and a {s.colour} {wear2}",
            "different",
            "attribute_swap",
            s,
        ),
        _pair(
            f"a {subj} {s.action[0]} next to a {near_a}",
            f"a {subj} {s.action[0]} next to a {near_b}",
            "different",
            "near_synonym",
            s,
        ),
        _pair(base, s.base(action=rng.choice([a for a in ACTIONS if a != s.action])[0]), "different", "action", s),
    ]
    if s.time:
        out.append(_pair(base, s.base(time=s.time[2]), "different", "time_weather", s))
    return out


def scenes(rng: random.Random) -> list[Scene]:
    out = []
    for subject in SUBJECTS:
        for _ in range(3):
            time = rng.choice([*TIMES, None])
            out.append(
                Scene(
                    subject, rng.choice(ACTIONS), rng.choice(PLACES), time, rng.choice(COLOURS), rng.choice(WEARABLES)
                )
            )
    return out


def split_of(intent: str) -> str:
    """Once and for all, by subject: a stable hash, so adding subjects never moves an old one."""
    return "tune" if hashlib.sha256(intent.encode()).digest()[0] % 2 == 0 else "heldout"


def generate(seed: int = 17) -> list[dict[str, str]]:
    rng = random.Random(seed)
    makers: list[Callable[[Scene, random.Random], list[dict[str, str]]]] = [paraphrases, surfaces, negatives]
    pairs = [pair for scene in scenes(rng) for make in makers for pair in make(scene, rng)]
    for pair in pairs:
        pair["split"] = split_of(pair["intent"])
    return pairs


def main() -> None:
    pairs = generate()
    OUT.write_text("".join(json.dumps(p, sort_keys=True) + "\n" for p in pairs))
    print(f"wrote {len(pairs)} pairs to {OUT}")


if __name__ == "__main__":
    main()
