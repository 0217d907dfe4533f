"""Demand for pre-generation (docs/ARCHITECTURE.md, Pre-generation): a per-key running request rate and the refill
decision.

Pure and deterministic: the recorder (shared/pregen.py) feeds it what Soul already writes (requests
seen in process, the prompt key's variant count, each active user's seen list) and enqueues what it
decides. A key is *hot* when its exponentially decayed request count is at least `hot_count`; its
*headroom* is how many ready variants its most advanced active user has not seen, plus the pre-
generation jobs already on their way (each new variant is unseen by every user of the key). When a hot
key's headroom drops below `target_headroom`, the policy asks for the difference, at most
`max_outstanding` jobs in flight per key, most urgent keys first, within the GPU budget left today
(docs/ARCHITECTURE.md, pre-generation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LOW_SUFFIX = "-low"  # a lane's low-priority twin: "image" -> "image-low"
PREGEN_BASE_LANES = ("image", "video")  # GPU lanes only: Wan is a paid API call per variant
PREGEN_LANES = tuple(f"{lane}{LOW_SUFFIX}" for lane in PREGEN_BASE_LANES)
# GPU seconds charged to the daily budget per pre-generated variant, by lane (SDXL 1024² 30 steps in a
# batch of 4: ~1.2 s/img on an H100; SVD-XT 25 frames: ~17 s per clip), rounded up.
GPU_SECONDS_PER_JOB = {"image": 2.0, "video": 20.0}
DAY = 86400.0


def low_lane(lane: str) -> str:
    return f"{lane}{LOW_SUFFIX}"


def base_lane(lane: str) -> str:
    """The lane a low-priority lane shadows ("image-low" -> "image"); any other lane unchanged."""
    return lane.removesuffix(LOW_SUFFIX)


def is_low(lane: str) -> bool:
    return lane.endswith(LOW_SUFFIX)


def day_of(now: float) -> int:
    """The UTC day number the daily budget is counted in."""
    return int(now // DAY)


@dataclass
class DecayedRate:
    """A request count that halves every `half_life` seconds: ~ requests in the last 1.44 half-lives."""

    half_life: float
    value: float = 0.0
    at: float = 0.0

    def at_time(self, now: float) -> float:
        if now <= self.at:
            return self.value
        return self.value * math.pow(0.5, (now - self.at) / self.half_life)

    def bump(self, now: float, amount: float = 1.0) -> float:
        self.value = self.at_time(now) + amount
        self.at = max(self.at, now)
        return self.value


@dataclass(frozen=True)
class Policy:
    hot_count: float = 1.5  # decayed requests: a key asked once is cold, twice in a few minutes is hot
    half_life: float = 600.0  # seconds
    active_seconds: float = 600.0  # a user who asked for the key this recently may come back for more
    # Unseen variants ready (or on their way) for the most advanced active user. 1, tuned on trace seed 7
    # of `soul bench trace --pregen`: 2 answered 0.1 point more requests at once but wasted twice as much.
    target_headroom: int = 1
    max_outstanding: int = 3  # pre-generation jobs in flight per key
    # Distinct active users (each within their quota) a key needs before it is pre-generated: one user
    # asking again and again never makes GPU work for themselves (SOUL_PREGEN_MIN_USERS).
    min_users: int = 2

    def __post_init__(self) -> None:
        if self.target_headroom < 1 or self.max_outstanding < 1 or self.half_life <= 0 or self.min_users < 1:
            raise ValueError("target_headroom, max_outstanding and min_users must be >= 1, half_life > 0")


@dataclass(frozen=True)
class KeyState:
    """One prompt key as the recorder sees it at a flush."""

    pk: str
    lane: str  # the base lane its jobs run on
    rate: float  # decayed request count now
    unseen: tuple[int, ...]  # ready variants each active user has not seen yet
    outstanding: int = 0  # pre-generation jobs queued or running for it
    current_style: bool = True  # False: the style's version moved on since the key was asked for
    distinct_users: int = 0  # distinct users seen asking for it (each within their quota), counted up to min_users


@dataclass(frozen=True)
class Refill:
    pk: str
    lane: str
    count: int


def near_exhaustion(unseen: Iterable[int]) -> int:
    """Active users within one variant of having seen the whole pool."""
    return sum(1 for u in unseen if u <= 1)


def headroom(state: KeyState) -> int:
    return (min(state.unseen) if state.unseen else 0) + state.outstanding


def wanted(state: KeyState, policy: Policy) -> int:
    """Jobs this key needs now (0 for a cold key, a stale style, or enough headroom)."""
    if not state.current_style or state.rate < policy.hot_count or not state.unseen:
        return 0
    if max(state.distinct_users, len(state.unseen)) < policy.min_users:
        return 0  # one user asking again and again: no GPU work made ahead for them alone
    if state.lane not in GPU_SECONDS_PER_JOB or near_exhaustion(state.unseen) == 0:
        return 0
    gap = policy.target_headroom - headroom(state)
    return max(0, min(gap, policy.max_outstanding - state.outstanding))


def decide(states: Sequence[KeyState], budget_left: float, policy: Policy) -> list[Refill]:
    """What to enqueue, most urgent first (users about to run out, then request rate, then pk),
    stopping where the next job would overrun the GPU seconds left today."""
    urgent = sorted(states, key=lambda s: (-near_exhaustion(s.unseen), -s.rate, s.pk))
    out: list[Refill] = []
    for state in urgent:
        count = wanted(state, policy)
        cost = GPU_SECONDS_PER_JOB.get(state.lane, math.inf)
        affordable = int(budget_left // cost) if cost > 0 else count
        count = min(count, affordable)
        if count <= 0:
            continue
        budget_left -= count * cost
        out.append(Refill(state.pk, state.lane, count))
    return out
