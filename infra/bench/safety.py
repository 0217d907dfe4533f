"""`soul bench safety`: the local prompt moderator on the labelled cues, tuned on the tune half only.

Data: tests/data_safety/safety_cues.jsonl (made by tests/data_safety/make_safety_cues.py): unsafe cues
across six categories and benign cues that share words with them, split once by a hash of the text.
`--tune` picks each category's threshold on the tune half (most unsafe cues blocked with no benign cue
blocked; on ties the highest threshold, which blocks the fewest everyday cues on unseen text) and
prints them beside shared.safety.rules.THRESHOLDS. Targets (held out): >= 95% of unsafe cues blocked,
<= 2% of benign cues blocked, p99 <= 20 ms per check on a miss. The peer in the same run is a bare word
list (any listed word anywhere blocks), which is what the rules add context to.
Two sets written by separate writers given only the policy's definitions: independent_a.jsonl, whose
misses the word lists were edited against ("tuned on"), and independent_b.jsonl, never tuned on and
reported only as aggregate rows when the file exists. `--misses` lists wrong decisions on the sets tuned
on only (tune half, independent_a): the held-out half and independent_b stay unread cue by cue.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

from shared.clock import SystemClock
from shared.safety import lexicon
from shared.safety.gate import PromptGate
from shared.safety.rules import THRESHOLDS, RuleModerator, tokens

DATA = Path(__file__).resolve().parents[2] / "tests" / "data_safety" / "safety_cues.jsonl"
INDEPENDENT_A = DATA.with_name("independent_a.jsonl")
INDEPENDENT_B = DATA.with_name("independent_b.jsonl")
GRID = (0.5, 1.0, 1.5, 2.0)


def load(path: Path = DATA) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def splits(rows: list[dict[str, str]], independent_b: Path = INDEPENDENT_B) -> list[tuple[str, list[dict[str, str]]]]:
    """The tune and held-out halves, independent A (tuned on), then independent B (never tuned on) if
    it exists."""
    halves = [(split, [r for r in rows if r["split"] == split]) for split in ("tune", "heldout")]
    named = [*halves, ("indep_a", load(INDEPENDENT_A))]
    return [*named, ("indep_b", load(independent_b))] if independent_b.exists() else named


def word_list_blocks(text: str) -> bool:
    """The peer: any strong or weak word of any category anywhere in the cue."""
    words = " ".join(tokens(text))
    terms = [t.rstrip("*") for group in (*lexicon.STRONG.values(), *lexicon.WEAK.values()) for t in group]
    return any(f" {t}" in f" {words}" for t in terms)


def rates(rows: list[dict[str, str]], blocks: object) -> tuple[int, int, int, int]:
    unsafe = [r for r in rows if r["label"] == "unsafe"]
    benign = [r for r in rows if r["label"] == "benign"]
    hit = sum(bool(blocks(r["text"])) for r in unsafe)  # type: ignore[operator]
    false = sum(bool(blocks(r["text"])) for r in benign)  # type: ignore[operator]
    return hit, len(unsafe), false, len(benign)


def tune(rows: list[dict[str, str]]) -> dict[str, float]:
    scorer = RuleModerator()
    scored = [(r, scorer.scores(r["text"])) for r in rows if r["split"] == "tune"]
    chosen = {}
    for category in THRESHOLDS:

        def outcome(t: float, c: str = category) -> tuple[int, int]:
            caught = sum(1 for r, s in scored if r["label"] == "unsafe" and s.get(c, 0) >= t)
            false = sum(1 for r, s in scored if r["label"] == "benign" and s.get(c, 0) >= t)
            return caught, false

        best = max(GRID, key=lambda t: (outcome(t)[1] == 0, outcome(t)[0], t))
        chosen[category] = best
    return chosen


def latency(rows: list[dict[str, str]], rounds: int) -> tuple[float, float, float, float]:
    """p50/p99 ms of the classifier alone and of PromptGate.check on SQLite (audit write when blocked),
    every text a miss (each round's texts are new to the cache)."""
    from shared.adapters.sqlite_db import SqliteDb
    from shared.adapters.sqlite_store import SqliteDocumentStore
    from shared.errors import ContentBlocked

    moderator, bare, full = RuleModerator(), [], []
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteDocumentStore(SqliteDb(Path(tmp) / "bench.sqlite3"))
        gate = PromptGate(store, SystemClock(), moderator, policy_version="bench")
        for n in range(rounds):
            for r in rows:
                text = f"{r['text']} {n}"
                t0 = time.perf_counter()
                moderator.moderate(text)
                bare.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                with contextlib.suppress(ContentBlocked):
                    gate.check("bench", text, soul_id="nova", kind="image")
                full.append(time.perf_counter() - t0)

    def pct(xs: list[float], p: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))] * 1000

    return pct(bare, 0.5), pct(bare, 0.99), pct(full, 0.5), pct(full, 0.99)


LEGEND = {"tune": "tuned on", "heldout": "", "indep_a": "tuned on", "indep_b": "never tuned on"}


def main(argv: list[str] | None = None, independent_b: Path = INDEPENDENT_B) -> int:
    ap = argparse.ArgumentParser(prog="soul bench safety", description=__doc__.split("\n")[0])
    ap.add_argument("--tune", action="store_true", help="choose thresholds on the tune half and print them")
    ap.add_argument("--rounds", type=int, default=5, help="latency: passes over the cues (default: %(default)s)")
    ap.add_argument("--misses", action="store_true", help="list the cues decided wrongly on tune and indep_a")
    args = ap.parse_args(argv)
    rows = load()
    if args.tune:
        chosen = tune(rows)
        print(f"thresholds chosen on tune: {chosen}")
        print(f"thresholds in the code:    {THRESHOLDS}  ({'same' if chosen == THRESHOLDS else 'DIFFERENT'})")
    moderator = RuleModerator()
    print(f"{len(rows)} cues from {DATA.name}; local moderator {moderator.name}:{moderator.version}")
    head = f"{'set':8} {'rules: unsafe blocked':>24} {'benign blocked':>16}"
    print(f"{head} {'word list: unsafe':>19} {'benign':>10}")
    sets = splits(rows, independent_b)
    for name, part in sets:
        hit, n_unsafe, false, n_benign = rates(part, lambda t: not moderator.moderate(t).allowed)
        p_hit, _, p_false, _ = rates(part, word_list_blocks)
        print(
            f"{name:8} {hit:>6}/{n_unsafe:<4} = {100 * hit / n_unsafe:5.1f}%   {false:>3}/{n_benign:<3} = "
            f"{100 * false / n_benign:4.1f}%   {100 * p_hit / n_unsafe:14.1f}%   {100 * p_false / n_benign:8.1f}%"
            f"  {LEGEND[name]}".rstrip()
        )
    for name, part in sets[1:3]:  # per category: the held-out half and independent A
        for category in THRESHOLDS:
            cues = [r for r in part if r["category"] == category]
            caught = sum(not moderator.moderate(r["text"]).allowed for r in cues)
            print(f"  {name:8} {category:10} {caught}/{len(cues)} blocked")
    if args.misses:
        for name, part in (sets[0], sets[2]):  # only the sets tuned on
            for r in part:
                verdict = moderator.moderate(r["text"])
                if (r["label"] == "unsafe") == verdict.allowed:
                    print(f"  wrong ({name}): [{r['label']}] {r['text']!r} -> {verdict.category or 'allowed'}")
    b50, b99, g50, g99 = latency(rows, args.rounds)
    print(f"latency per check on a miss: classifier p50 {b50:.3f} ms, p99 {b99:.3f} ms")
    print(f"PromptGate.check on SQLite (audit record when blocked): p50 {g50:.3f} ms, p99 {g99:.3f} ms (target <= 20)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
