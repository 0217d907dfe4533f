"""The refill policy (shared/domain/demand.py): pure decisions on small deterministic traces."""

from __future__ import annotations

import pytest

from shared.domain.demand import (
    GPU_SECONDS_PER_JOB,
    DecayedRate,
    KeyState,
    Policy,
    Refill,
    base_lane,
    decide,
    headroom,
    is_low,
    low_lane,
    near_exhaustion,
    wanted,
)

# One active user is enough here (these tests are about headroom, rate and budget); the default asks
# for two distinct users (test_one_user_alone_never_makes_a_key_pregenerated).
POLICY = Policy(hot_count=1.5, half_life=600.0, target_headroom=2, max_outstanding=3, min_users=1)
BIG = 1e9


def test_decayed_rate_halves_each_half_life_and_counts_bursts() -> None:
    rate = DecayedRate(half_life=600.0)
    assert rate.bump(0.0) == 1.0
    assert rate.at_time(600.0) == pytest.approx(0.5)
    rate.bump(600.0)
    assert rate.at_time(600.0) == pytest.approx(1.5)
    assert rate.at_time(0.0) == pytest.approx(1.5)  # a late reading never inflates it


def test_lanes_have_low_twins() -> None:
    assert low_lane("image") == "image-low" and base_lane("image-low") == "image" and is_low("video-low")
    assert base_lane("wan") == "wan" and not is_low("image")


def test_a_key_asked_once_is_cold_and_gets_nothing() -> None:
    rate = DecayedRate(600.0)
    cold = KeyState("k", "image", rate.bump(0.0), unseen=(0,))
    assert wanted(cold, POLICY) == 0
    assert decide([cold], BIG, POLICY) == []


def test_a_key_whose_style_changed_gets_nothing() -> None:
    stale = KeyState("k", "image", 10.0, unseen=(0, 0, 1), current_style=False)
    assert decide([stale], BIG, POLICY) == []


def test_no_refill_while_every_active_user_has_headroom() -> None:
    roomy = KeyState("k", "image", 10.0, unseen=(2, 5, 3))
    assert near_exhaustion(roomy.unseen) == 0 and decide([roomy], BIG, POLICY) == []


def test_refill_tops_up_to_the_target_minus_jobs_already_on_their_way() -> None:
    assert decide([KeyState("k", "image", 3.0, unseen=(0, 4))], BIG, POLICY) == [Refill("k", "image", 2)]
    on_way = KeyState("k", "image", 3.0, unseen=(1, 4), outstanding=0)
    assert headroom(on_way) == 1 and wanted(on_way, POLICY) == 1
    assert wanted(KeyState("k", "image", 3.0, unseen=(0,), outstanding=2), POLICY) == 0
    capped = Policy(target_headroom=9, max_outstanding=3, min_users=1)
    assert wanted(KeyState("k", "image", 3.0, unseen=(0,), outstanding=1), capped) == 2


def test_wan_is_never_pregenerated() -> None:
    assert decide([KeyState("k", "wan", 50.0, unseen=(0,))], BIG, POLICY) == []


def test_budget_stops_refills_most_urgent_first() -> None:
    per_job = GPU_SECONDS_PER_JOB["image"]
    keys = [
        KeyState("quiet", "image", 2.0, unseen=(0,)),
        KeyState("crowd", "image", 2.0, unseen=(0, 1, 0, 1)),
        KeyState("busy", "image", 40.0, unseen=(1,)),
    ]
    assert decide(keys, 3 * per_job, POLICY) == [Refill("crowd", "image", 2), Refill("busy", "image", 1)]
    assert decide(keys, per_job - 0.01, POLICY) == []
    assert decide(keys, 0.0, POLICY) == []


def test_policy_on_a_small_trace() -> None:
    """Two users take turns on one hot key, each shown one more variant per request (as the hit path
    does), while another key was asked for once; the GPU finishes each refill before the next request."""
    rate = DecayedRate(600.0)
    ready = 1  # the first request's own job made one variant
    seen = {"ann": 0, "bob": 0}
    asked: list[int] = []
    for t, user in [(0.0, "ann"), (30.0, "bob"), (60.0, "ann"), (90.0, "bob"), (120.0, "ann"), (150.0, "ann")]:
        rate.bump(t)
        seen[user] = min(ready, seen[user] + 1)
        states = [
            KeyState("hot", "image", rate.at_time(t), tuple(ready - s for s in seen.values())),
            KeyState("once", "image", 1.0, (0,)),
        ]
        refills = decide(states, BIG, POLICY)
        assert all(r.pk == "hot" for r in refills)
        got = sum(r.count for r in refills)
        asked.append(got)
        ready += got
    # t=0 cold (one request); t=30 hot and both users saw everything: 2; t=60 ann one short: 1;
    # t=90 both users have 2 unseen: 0; t=120 and t=150 ann is one short again: 1 each.
    assert asked == [0, 2, 1, 0, 1, 1]
    assert ready == 6 and max(seen.values()) == 4  # ahead of the most advanced user by the target


def test_one_user_alone_never_makes_a_key_pregenerated() -> None:
    """Issue 29 item 1: demand from one user (however often they ask) is not enough; two distinct are."""
    default = Policy(target_headroom=2)
    assert default.min_users == 2
    assert wanted(KeyState("k", "image", 50.0, unseen=(0,)), default) == 0
    assert wanted(KeyState("k", "image", 50.0, unseen=(0, 0)), default) == 2
    assert decide([KeyState("k", "image", 50.0, unseen=(0,))], BIG, default) == []
    # Two distinct users asked (one of them no longer active): the key qualifies.
    assert wanted(KeyState("k", "image", 50.0, unseen=(0,), distinct_users=2), default) == 2
