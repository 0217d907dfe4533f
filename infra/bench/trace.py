"""`soul bench trace`: how many GPU generations a realistic request trace needs, and that nobody is
shown a variant twice.

A synthetic trace: `--requests` requests from `--users` users over a Zipf distribution of intents; each
intent (a soul + a cue) is asked for under several surface forms — case, punctuation, articles, and
word variants (plural subject, "surfing" / "surfs" / "is surfing", synonyms, "picture of" framing).
The trace runs through Soul's real service and lifecycle code (GenerationService → serve_or_submit,
single-flight, unseen-variant selection) on a fresh temporary SQLite backend, twice: tier-1 keys
only, then tier 1 + tier 2 (SOUL_SIMILARITY_TIER2). Generation itself is simulated, and says so:
jobs are completed directly through `lifecycle.claim` / `lifecycle.complete` every `--latency`
requests (the GPU's delay, during which identical misses single-flight onto one job), with a variant
record and no pixels. "No cache" is one generation per request by definition.
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from functions.service import GenerationService
from infra import seed
from shared import lifecycle
from shared.bootstrap import build_backend
from shared.config import Settings
from shared.domain.models import Job, Variant
from shared.domain.prompts import normalize
from shared.domain.similarity import canonical

SOULS = ("nova", "ember", "kai", "luna", "pixel")
# (singular, plural) subjects; (progressive, simple present) actions; places with true synonyms.
SUBJECTS = [
    ("penguin", "penguins"),
    ("cat", "cats"),
    ("fox", "foxes"),
    ("owl", "owls"),
    ("dog", "dogs"),
    ("robot", "robots"),
    ("bear", "bears"),
    ("rabbit", "bunnies"),
    ("otter", "otters"),
    ("dragon", "dragons"),
]
ACTIONS = [
    ("surfing", "surfs"),
    ("sleeping", "sleeps"),
    ("dancing", "dances"),
    ("reading a book", "reads a book"),
    ("eating pizza", "eats pizza"),
    ("riding a bike", "rides a bicycle"),
    ("playing guitar", "plays guitar"),
    ("flying a kite", "flies a kite"),
]
PLACES = [
    ("on the sofa", "on a couch"),
    ("in the sea", "in the ocean"),
    ("in the forest", "in the woods"),
    ("on the moon", "on the moon"),
    ("in the rain", "in the rain"),
    ("in a big city", "in a large city"),
]


@dataclass(frozen=True)
class Intent:
    soul: str
    subject: tuple[str, str]
    action: tuple[str, str]
    place: tuple[str, str]

    def form(self, rng: random.Random) -> str:
        """One surface form: same intent, different words and spelling."""
        plural = rng.random() < 0.25
        subject = self.subject[1] if plural else self.subject[0]
        progressive, present = self.action
        verb = rng.choice([progressive, progressive, f"{'are' if plural else 'is'} {progressive}", present])
        if plural and verb == present:
            verb = progressive
        place = rng.choice(self.place)
        article = "" if plural else rng.choice(["", "a ", "the "])
        text = f"{article}{subject} {verb} {place}"
        text = rng.choice([text, text, f"picture of {text}", f"please {text}"])
        text = rng.choice([text, text.capitalize(), text.upper(), text.title()])
        return text + rng.choice(["", "", "!", ".", "!!", " ?"])


def intents(count: int, rng: random.Random) -> list[Intent]:
    every = [Intent(*combo) for combo in itertools.product(SOULS, SUBJECTS, ACTIONS, PLACES)]
    rng.shuffle(every)
    return every[:count]


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


@dataclass
class Tally:
    generations: int = 0
    hits: int = 0
    deliveries: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def shown(self) -> int:
        return sum(self.deliveries.values())

    @property
    def repeats(self) -> int:
        return sum(n - 1 for n in self.deliveries.values())


def _complete(service: GenerationService, jobs: list[Job], tally: Tally) -> None:
    """The simulated GPU: each pending job gets a variant record (no pixels) and succeeds."""
    backend = service.backend
    for job in jobs:
        now = backend.clock.now()
        claimed = lifecycle.claim(backend.store, job.job_id, worker_id="trace-sim", now=now, lease_seconds=60)
        if claimed is None:
            continue
        variant = Variant(
            variant_id=claimed.variant_id,
            pk=claimed.pk,
            kind=claimed.kind,
            soul_id=claimed.spec.soul_id,
            seed=claimed.spec.seed,
            generator="trace-simulation",
            job_id=claimed.job_id,
            created_at=now,
            label=claimed.spec.label,
        )
        done = lifecycle.complete(backend.store, claimed.job_id, variant, now=now)
        tally.generations += 1
        for uid in done.user_ids:
            tally.deliveries[(uid, variant.variant_id)] += 1
    jobs.clear()


def run_trace(requests: list[tuple[str, Intent, str]], data_dir: Path, *, tier2: bool, latency: int) -> Tally:
    settings = Settings(soul_data_dir=data_dir, soul_similarity_tier2=tier2, log_level="WARNING")
    backend = build_backend(settings)
    seed.load(backend)
    service = GenerationService(backend)
    tally, pending = Tally(), list[Job]()
    for i, (user, intent, text) in enumerate(requests, 1):
        served = service.image(user, intent.soul, text).served
        if served.variant is not None:
            tally.hits += 1
            tally.deliveries[(user, served.variant.variant_id)] += 1
        elif served.created and served.job is not None:
            pending.append(served.job)
        if i % latency == 0:
            _complete(service, pending, tally)
    _complete(service, pending, tally)
    return tally


def build_requests(args: argparse.Namespace) -> tuple[list[tuple[str, Intent, str]], list[Intent]]:
    rng = random.Random(args.seed)
    pool = intents(args.intents, rng)
    weights = zipf_weights(len(pool), args.zipf)
    users = [f"user-{i:05d}" for i in range(args.users)]
    chosen = rng.choices(pool, weights=weights, k=args.requests)
    return [(rng.choice(users), intent, intent.form(rng)) for intent in chosen], pool


def parser() -> argparse.ArgumentParser:
    # The whole module docstring, as written: its first line alone stops mid-sentence.
    p = argparse.ArgumentParser(
        prog="soul bench trace", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--requests", type=int, default=10_000, help="requests in the trace")
    p.add_argument("--users", type=int, default=1_000, help="distinct users sending them")
    p.add_argument("--intents", type=int, default=600, help=f"distinct intents (at most {len(SOULS) * 480})")
    p.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent of intent popularity")
    p.add_argument("--latency", type=int, default=25, help="requests that arrive while one batch generates")
    p.add_argument("--seed", type=int, default=7, help="random seed of the trace (same seed, same trace)")
    p.add_argument("--data-dir", type=Path, default=None, help="where the temporary SQLite files go")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    requests, _ = build_requests(args)
    forms = {text for _, _, text in requests}
    keyed = {(i.soul, canonical(normalize(t))) for _, i, t in requests}
    intent_of_key: dict[tuple[str, str], set[Intent]] = {}
    for _, intent, text in requests:
        intent_of_key.setdefault((intent.soul, canonical(normalize(text))), set()).add(intent)
    wrong = sum(len(v) - 1 for v in intent_of_key.values())
    with tempfile.TemporaryDirectory(dir=args.data_dir, prefix="soul-trace-") as tmp:
        tier1 = run_trace(requests, Path(tmp) / "tier1", tier2=False, latency=args.latency)
        full = run_trace(requests, Path(tmp) / "full", tier2=True, latency=args.latency)
    n = len(requests)
    used = len({i for _, i, _ in requests})
    print(
        f"trace: {n} requests, {args.users} users, {used} intents seen (Zipf s={args.zipf}), "
        f"{len(forms)} distinct surface forms, {len(keyed)} tier-2 keys; generation simulated "
        f"(jobs completed directly, one batch per {args.latency} requests)"
    )
    print(f"{'matching':<24}{'GPU generations':>16}{'vs no cache':>13}{'cache hits':>12}{'repeats':>9}")
    print(f"{'no cache':<24}{n:>16}{1.0:>13.3f}{0:>12}{'-':>9}")
    for name, tally in (("tier 1 (exact key)", tier1), ("full (tier 1 + tier 2)", full)):
        print(f"{name:<24}{tally.generations:>16}{tally.generations / n:>13.3f}{tally.hits:>12}{tally.repeats:>9}")
    for name, tally in (("tier 1", tier1), ("full", full)):
        rate = tally.repeats / tally.shown if tally.shown else 0.0
        print(f"per-user repeat rate ({name}): {rate:.4f} ({tally.repeats} repeats in {tally.shown} variants shown)")
    print(f"intents wrongly merged by tier 2: {wrong}")
    return 0 if tier1.repeats == full.repeats == 0 and wrong == 0 else 1
