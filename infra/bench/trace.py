"""`soul bench trace`: how many GPU generations a realistic request trace needs, how many requests
were wrongly merged, and that nobody is shown a variant twice.

The intents come from the *held-out* half of tests/data/semantic_pairs.jsonl (never the half the
thresholds were tuned on): texts linked by a paraphrase or surface-form label form one intent (several
phrasings), and the two sides of a hard negative are different intents. `--requests` requests from
`--users` users follow a Zipf distribution over `--intents` intents; each request is one phrasing of
its intent with a random surface change (case, punctuation, "please"). The trace runs through Soul's
real service and lifecycle code (GenerationService, single-flight, unseen-variant selection) on a
fresh temporary SQLite backend per configuration: tier 1 only, tier 1 + tier-2 rules
(SOUL_SIMILARITY_TIER2), and tier 1 + embeddings (the default, "full"). Generation is simulated, and
says so: jobs are completed directly through `lifecycle.claim` / `lifecycle.complete` every `--latency`
requests, with a variant record and no pixels. "No cache" is one generation per request by definition.
A wrong merge is a prompt key that served requests of two different intents.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from functions.service import GenerationService
from infra import seed
from infra.bench import simulated
from shared import lifecycle
from shared.bootstrap import build_backend
from shared.config import Settings
from shared.domain.models import Job, WaiterState
from shared.records import WAITERS

SOULS = ("nova", "ember", "kai", "luna", "pixel")
PAIRS = Path(__file__).resolve().parents[2] / "tests" / "data" / "semantic_pairs.jsonl"


@dataclass(frozen=True)
class Intent:
    soul: str
    phrasings: tuple[str, ...]

    def form(self, rng: random.Random) -> str:
        """One request: a phrasing of the intent with a surface change."""
        text = rng.choice(self.phrasings)
        text = rng.choice([text, text, f"please {text}", text.capitalize(), text.upper()])
        return text + rng.choice(["", "", "!", ".", " ?"])


def heldout_intents(rng: random.Random) -> list[Intent]:
    """Intents of the held-out half: connected components of its same-meaning pairs."""
    pairs = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    held = [p for p in pairs if p["split"] == "heldout"]
    parent: dict[str, str] = {}

    def root(text: str) -> str:
        parent.setdefault(text, text)
        while parent[text] != text:
            text = parent[text]
        return text

    for p in held:
        a, b = root(p["a"]), root(p["b"])
        if p["label"] != "different":
            parent[a] = b
    groups: dict[str, list[str]] = {}
    for text in parent:
        groups.setdefault(root(text), []).append(text)
    if any(root(p["a"]) == root(p["b"]) for p in held if p["label"] == "different"):
        raise ValueError("a hard negative links two phrasings of one intent: the labels contradict")
    out = [Intent(rng.choice(SOULS), tuple(sorted(texts))) for texts in groups.values()]
    out.sort(key=lambda i: i.phrasings)
    rng.shuffle(out)
    return out


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


@dataclass
class Tally:
    generations: int = 0
    hits: int = 0
    deliveries: Counter[tuple[str, str]] = field(default_factory=Counter)
    intents_of_key: dict[str, set[Intent]] = field(default_factory=dict)

    @property
    def shown(self) -> int:
        return sum(self.deliveries.values())

    @property
    def repeats(self) -> int:
        return sum(n - 1 for n in self.deliveries.values())

    @property
    def wrong_merges(self) -> int:
        return sum(len(intents) - 1 for intents in self.intents_of_key.values())


def _complete(service: GenerationService, jobs: list[Job], tally: Tally) -> None:
    """The simulated GPU: each pending job gets a variant record (no pixels) and succeeds."""
    backend = service.backend
    for job in jobs:
        now = backend.clock.now()
        claimed = lifecycle.claim(backend.store, job.job_id, worker_id="trace-sim", now=now, lease_seconds=60)
        if claimed is None:
            continue
        variant = simulated.variant_for(claimed, now)
        done = lifecycle.complete(backend.store, claimed.job_id, variant, now=now)
        tally.generations += 1
        # Everyone attached to the job was told (a waiter document each, state `delivered`).
        told = backend.store.query(WAITERS, [("job_id", "==", done.job_id)], limit=lifecycle.FANOUT_MAX)
        for waiter in told:
            if waiter.get("state") == WaiterState.DELIVERED.value:
                tally.deliveries[(str(waiter["user_id"]), variant.variant_id)] += 1
    jobs.clear()


def run_trace(requests: list[tuple[str, Intent, str]], data_dir: Path, *, latency: int, **settings: bool) -> Tally:
    backend = build_backend(Settings(soul_data_dir=data_dir, log_level="WARNING", **settings))  # type: ignore[arg-type]
    seed.load(backend)
    service = GenerationService(backend)
    tally, pending = Tally(), list[Job]()
    for i, (user, intent, text) in enumerate(requests, 1):
        outcome = service.image(user, intent.soul, text)
        tally.intents_of_key.setdefault(outcome.pk, set()).add(intent)
        if outcome.served.variant is not None:
            tally.hits += 1
            tally.deliveries[(user, outcome.served.variant.variant_id)] += 1
        elif outcome.served.created and outcome.served.job is not None:
            pending.append(outcome.served.job)
        if i % latency == 0:
            _complete(service, pending, tally)
    _complete(service, pending, tally)
    return tally


def build_requests(args: argparse.Namespace) -> list[tuple[str, Intent, str]]:
    rng = random.Random(args.seed)
    pool = heldout_intents(rng)[: args.intents]
    users = [f"user-{i:05d}" for i in range(args.users)]
    chosen = rng.choices(pool, weights=zipf_weights(len(pool), args.zipf), k=args.requests)
    return [(rng.choice(users), intent, intent.form(rng)) for intent in chosen]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="soul bench trace", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--requests", type=int, default=10_000, help="requests in the trace")
    p.add_argument("--users", type=int, default=1_000, help="distinct users sending them")
    p.add_argument("--intents", type=int, default=600, help="distinct intents drawn from the held-out half")
    p.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent of intent popularity")
    p.add_argument("--latency", type=int, default=25, help="requests that arrive while one batch generates")
    p.add_argument("--seed", type=int, default=7, help="random seed of the trace")
    p.add_argument("--pregen", action="store_true", help="on-demand vs pre-generation instead (see --pregen --help)")
    p.add_argument("--data-dir", type=Path, default=None, help="where the temporary SQLite files go")
    return p


CONFIGS = {
    "tier 1 (exact key)": {"soul_similarity_tier2": False, "soul_semantic_cache": False},
    "tier 1 + tier 2 rules": {"soul_similarity_tier2": True, "soul_semantic_cache": False},
    "full (tier 1 + embeddings)": {"soul_similarity_tier2": False, "soul_semantic_cache": True},
}


def main(argv: list[str] | None = None) -> int:
    if argv is not None and "--pregen" in argv:  # `soul bench trace --pregen`: infra/bench/pregen.py
        from infra.bench import pregen

        return pregen.main([a for a in argv if a != "--pregen"])
    args = parser().parse_args(argv)
    requests = build_requests(args)
    tallies: dict[str, Tally] = {}
    with tempfile.TemporaryDirectory(dir=args.data_dir, prefix="soul-trace-") as tmp:
        for i, (name, settings) in enumerate(CONFIGS.items()):
            tallies[name] = run_trace(requests, Path(tmp) / str(i), latency=args.latency, **settings)
    n = len(requests)
    used = {i for _, i, _ in requests}
    print(
        f"trace: {n} requests, {args.users} users, {len(used)} held-out intents seen (Zipf s={args.zipf}), "
        f"{len({t for _, _, t in requests})} distinct cues, {sum(len(i.phrasings) > 1 for i in used)} intents "
        f"with paraphrases; generation simulated (jobs completed directly, one batch per {args.latency} requests)"
    )
    header = ("GPU generations", 16), ("vs no cache", 13), ("cache hits", 12), ("repeats", 9), ("wrong merges", 14)
    print(f"{'matching':<28}" + "".join(f"{title:>{width}}" for title, width in header))
    print(f"{'no cache':<28}{n:>16}{1.0:>13.3f}{0:>12}{'-':>9}{0:>14}")
    for name, t in tallies.items():
        print(f"{name:<28}{t.generations:>16}{t.generations / n:>13.3f}{t.hits:>12}{t.repeats:>9}{t.wrong_merges:>14}")
    full = tallies["full (tier 1 + embeddings)"]
    rate = full.repeats / full.shown if full.shown else 0.0
    print(f"per-user repeat rate (full): {rate:.4f} ({full.repeats} repeats in {full.shown} variants shown)")
    print(f"intents wrongly merged by tier 2: {tallies['tier 1 + tier 2 rules'].wrong_merges}")
    print(f"intents wrongly merged by the embeddings tier: {full.wrong_merges}")
    clean = all(t.repeats == 0 for t in tallies.values()) and full.wrong_merges == 0
    return 0 if clean and tallies["tier 1 + tier 2 rules"].wrong_merges == 0 else 1
