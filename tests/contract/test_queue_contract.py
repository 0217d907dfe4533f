"""JobQueue contract: Pub/Sub pull semantics on SQLite and on the Pub/Sub emulator.

At-least-once delivery: a message comes back after a nack or an expired ack deadline with its
attempt count raised, an ack id from an earlier delivery changes nothing, and a message delivered
`max_delivery_attempts` (5) times without an ack is forwarded to the dead-letter lane.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.contract


def _one(queue: Any, lane: str, timeout: float = 5.0) -> Any:
    got = queue.pull(lane, 10, timeout)
    assert len(got) == 1, got
    return got[0]


def test_publish_pull_ack_per_lane(backend: Any) -> None:
    queue = backend.queue
    queue.publish("video", b"v1")
    queue.publish("image", b"i1")
    queue.publish("image", b"i2")
    got: list[Any] = []
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        got += queue.pull("image", 10, 1.0)
    assert sorted(d.data for d in got) == [b"i1", b"i2"]
    assert {d.attempt for d in got} == {1}
    assert len({d.message_id for d in got}) == 2
    queue.ack("image", [d.ack_id for d in got])
    assert [d.data for d in queue.pull("video", 10, 5.0)] == [b"v1"]
    assert queue.pull("image", 10, 0.5) == []  # acked: never again


def test_nack_redelivers_with_the_next_attempt(backend: Any) -> None:
    queue = backend.queue
    queue.publish("image", b"job")
    first = _one(queue, "image")
    queue.nack("image", first.ack_id)
    second = _one(queue, "image")
    assert (second.data, second.attempt) == (b"job", 2)
    assert second.message_id == first.message_id
    queue.nack("image", second.ack_id, delay_seconds=2)
    assert queue.pull("image", 10, 0.5) == []  # not before the delay
    third = _one(queue, "image", timeout=6.0)
    assert third.attempt == 3
    queue.ack("image", [third.ack_id])


def test_redelivery_after_the_ack_deadline(backend: Any) -> None:
    """The deadline is shortened to 1 s with `extend` (Pub/Sub's minimum subscription deadline is 10 s)."""
    queue = backend.queue
    queue.publish("wan", b"job")
    first = _one(queue, "wan")
    queue.extend("wan", first.ack_id, 1)
    start = time.monotonic()
    again = _one(queue, "wan", timeout=8.0)
    assert time.monotonic() - start >= 0.5
    assert (again.data, again.attempt) == (b"job", 2)
    queue.ack("wan", [again.ack_id])


def test_extend_keeps_a_message_invisible(backend: Any) -> None:
    queue = backend.queue
    queue.publish("image", b"long")
    first = _one(queue, "image")
    queue.extend("image", first.ack_id, 60)
    assert queue.pull("image", 10, 1.0) == []
    queue.ack("image", [first.ack_id])


def test_a_stale_ack_id_changes_nothing(backend: Any) -> None:
    queue = backend.queue
    queue.publish("image", b"job")
    first = _one(queue, "image")
    queue.nack("image", first.ack_id)
    second = _one(queue, "image")
    queue.ack("image", [first.ack_id])  # from the earlier delivery
    queue.nack("image", first.ack_id)
    queue.nack("image", second.ack_id)
    third = _one(queue, "image")  # still there: the stale ack did not remove it
    assert third.attempt == 3
    queue.ack("image", [third.ack_id])
    assert queue.pull("image", 10, 0.5) == []


def test_dead_letter_after_exactly_max_delivery_attempts(backend: Any) -> None:
    queue, max_attempts = backend.queue, backend.settings.soul_max_delivery_attempts
    queue.publish("image", b"poison")
    queue.publish("image", b"good")
    attempts: list[int] = []
    served: list[bytes] = []
    for _ in range(max_attempts + 1):
        for delivery in queue.pull("image", 10, 1.5):
            if delivery.data == b"good":
                served.append(delivery.data)
                queue.ack("image", [delivery.ack_id])
            else:
                attempts.append(delivery.attempt)
                queue.nack("image", delivery.ack_id)
    assert attempts == list(range(1, max_attempts + 1))
    assert served == [b"good"]  # the others are served meanwhile
    dead = _one(queue, "dead", timeout=5.0)
    assert (dead.data, dead.attempt) == (b"poison", 1)
    queue.ack("dead", [dead.ack_id])
    assert queue.pull("image", 10, 0.5) == []
    assert queue.pull("dead", 10, 0.5) == []
