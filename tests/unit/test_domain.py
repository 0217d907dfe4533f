"""The job state machine, unseen-variant selection, landmark choice, backoff."""

from __future__ import annotations

import pytest

from shared.domain.jobs import backoff_seconds, can_transition, claimable, transition
from shared.domain.models import City, GenerationSpec, Job, JobStatus, Kind, Landmark, Variant
from shared.domain.places import choose_landmark
from shared.domain.selection import pick_unseen
from shared.errors import Conflict

pytestmark = pytest.mark.unit


def job(status: JobStatus = JobStatus.QUEUED, **kw: object) -> Job:
    spec = GenerationSpec(kind=Kind.IMAGE, soul_id="nova", prompt="p", seed=1)
    return Job(
        job_id="j",
        kind=Kind.IMAGE,
        lane="image",
        pk="pk",
        spec=spec,
        variant_id="v",
        owner="u",
        status=status,
        created_at=0,
        updated_at=0,
        **kw,
    )  # type: ignore[arg-type]


def test_status_only_moves_forward() -> None:
    assert can_transition(JobStatus.QUEUED, JobStatus.RUNNING)
    assert can_transition(JobStatus.RUNNING, JobStatus.SUCCEEDED)
    for terminal in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED):
        for other in JobStatus:
            assert not can_transition(terminal, other)
    assert not can_transition(JobStatus.RUNNING, JobStatus.QUEUED)
    with pytest.raises(Conflict):
        transition(job(JobStatus.SUCCEEDED), JobStatus.RUNNING, 1.0)


def test_claimable_when_queued_or_lease_expired() -> None:
    assert claimable(job(), now=10)
    assert not claimable(job(JobStatus.RUNNING, lease_expires_at=20), now=10)
    assert claimable(job(JobStatus.RUNNING, lease_expires_at=5), now=10)
    assert not claimable(job(cancel_requested=True), now=10)
    assert not claimable(job(JobStatus.SUCCEEDED), now=10)


def variant(vid: str, created: float, status: str = "ready") -> Variant:
    return Variant(
        variant_id=vid,
        pk="pk",
        kind=Kind.IMAGE,
        soul_id="nova",
        seed=1,
        status=status,
        generator="preview",
        job_id="j",
        created_at=created,
    )


def test_pick_unseen_oldest_first_never_seen() -> None:
    vs = [variant("b", 2), variant("a", 1), variant("c", 3, status="pending")]
    assert pick_unseen(vs, []).variant_id == "a"  # type: ignore[union-attr]
    assert pick_unseen(vs, ["a"]).variant_id == "b"  # type: ignore[union-attr]
    assert pick_unseen(vs, ["a", "b"]) is None


def test_landmark_least_recently_used() -> None:
    city = City(city_key="x", name="X", landmarks=[Landmark(key=k, name=k) for k in ("l1", "l2", "l3")])
    assert choose_landmark(city, {}).key == "l1"
    assert choose_landmark(city, {"l1": 5.0}).key == "l2"
    assert choose_landmark(city, {"l1": 5.0, "l2": 3.0, "l3": 4.0}).key == "l2"


def test_backoff_is_capped_and_grows() -> None:
    assert backoff_seconds(1, 1.0, 10.0, 0.0) == 0.5
    assert backoff_seconds(3, 1.0, 10.0, 0.999) < 4.0
    assert backoff_seconds(20, 1.0, 10.0, 0.999) <= 10.0
