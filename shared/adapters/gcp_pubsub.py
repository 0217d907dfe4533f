"""JobQueue on Cloud Pub/Sub (or its emulator, via PUBSUB_EMULATOR_HOST).

One topic (`settings.pubsub_topic`); each message carries its lane in the `lane` attribute and the
publisher's trace context in `traceparent` (shared/tracing.py; absent outside a span). Each lane
has a pull subscription `settings.subscription(lane)` filtered on that attribute, with a dead-letter
policy (`max_delivery_attempts`) forwarding to `settings.pubsub_dead_letter_topic`, whose
subscription `<dead topic>-sub` is read as lane "dead".

Foreign lanes: the emulator does not apply subscription filters, so a lane's subscription also gets
every other lane's messages. Each subscription holds its own copy of every message, so `pull` acks a
message whose `lane` attribute is not its own at once and does not return it; the copy in the right
subscription is untouched. In production the filter means this never happens. The dead-letter lane
takes every message whatever its attribute.

`Delivery.attempt` is Pub/Sub's `delivery_attempt` (set when a dead-letter policy exists; 1 when
absent, as on the dead-letter subscription). `nack(delay)` sets the ack deadline to `delay` seconds
(0 = redeliver now); `extend` sets it to `seconds` from now. Ack deadlines are 0-600 s.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from functools import cached_property

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from shared import tracing
from shared.config import LANES, Settings
from shared.domain.demand import PREGEN_LANES
from shared.errors import Unavailable
from shared.ports import Delivery

DEAD_LETTER_LANE = "dead"
_TRANSIENT = (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.Unknown)
# The shortest pull RPC deadline. A pull the client abandons while the server is answering leaves its
# messages leased to nobody until their ack deadline (a delay and a spent delivery attempt), so a
# long-running consumer should pull with a wait of seconds (the worker does), not poll.
MIN_PULL_DEADLINE = 0.5


def dead_letter_subscription(settings: Settings) -> str:
    return f"{settings.pubsub_dead_letter_topic}-sub"


def _seconds(value: float) -> int:
    return max(0, min(600, math.ceil(value)))


class PubSubJobQueue:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._project = settings.google_cloud_project

    @cached_property
    def publisher(self) -> pubsub_v1.PublisherClient:
        return pubsub_v1.PublisherClient()

    @cached_property
    def subscriber(self) -> pubsub_v1.SubscriberClient:
        return pubsub_v1.SubscriberClient()

    def _subscription(self, lane: str) -> str:
        name = (
            dead_letter_subscription(self._settings) if lane == DEAD_LETTER_LANE else self._settings.subscription(lane)
        )
        return f"projects/{self._project}/subscriptions/{name}"

    def publish(self, lane: str, data: bytes) -> str:
        topic = self.publisher.topic_path(self._project, self._settings.pubsub_topic)
        try:
            attributes = {**tracing.inject(), "lane": lane}
            message_id: str = self.publisher.publish(topic, data, **attributes).result(timeout=30)
        except (*_TRANSIENT, gexc.DeadlineExceeded, TimeoutError) as exc:
            raise Unavailable(f"publish to {topic} failed: {exc}") from exc
        return message_id

    def pull(self, lane: str, max_messages: int, timeout: float) -> list[Delivery]:
        """Up to `max_messages` deliveries for `lane`, waiting at most about `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            got = self._pull_once(lane, max_messages, max(MIN_PULL_DEADLINE, min(left, 10.0)))
            if got or time.monotonic() >= deadline:
                return got
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _pull_once(self, lane: str, max_messages: int, rpc_timeout: float) -> list[Delivery]:
        try:
            response = self.subscriber.pull(
                subscription=self._subscription(lane), max_messages=max_messages, timeout=rpc_timeout
            )
        except gexc.DeadlineExceeded:
            return []
        except _TRANSIENT as exc:
            raise Unavailable(f"pull from {lane} failed: {exc}") from exc
        foreign: list[str] = []
        out: list[Delivery] = []
        for received in response.received_messages:
            message = received.message
            if lane != DEAD_LETTER_LANE and message.attributes.get("lane") != lane:
                foreign.append(received.ack_id)
                continue
            attempt = received.delivery_attempt or 1
            attributes = dict(message.attributes)
            out.append(Delivery(received.ack_id, bytes(message.data), attempt, message.message_id, attributes))
        if foreign:
            self.ack(lane, foreign)
        return out

    def ack(self, lane: str, ack_ids: Sequence[str]) -> None:
        if not ack_ids:
            return
        # A stale or unknown ack id (the message was redelivered or acked since) changes nothing.
        with contextlib.suppress(gexc.InvalidArgument):
            self.subscriber.acknowledge(subscription=self._subscription(lane), ack_ids=list(ack_ids))

    def nack(self, lane: str, ack_id: str, delay_seconds: float = 0.0) -> None:
        self._modify(lane, ack_id, _seconds(delay_seconds))

    def extend(self, lane: str, ack_id: str, seconds: float) -> None:
        self._modify(lane, ack_id, _seconds(seconds))

    def _modify(self, lane: str, ack_id: str, seconds: int) -> None:
        with contextlib.suppress(gexc.InvalidArgument):  # stale ack id, as for ack
            self.subscriber.modify_ack_deadline(
                subscription=self._subscription(lane), ack_ids=[ack_id], ack_deadline_seconds=seconds
            )


def ensure_topology(settings: Settings, lanes: Sequence[str] = LANES + PREGEN_LANES) -> None:
    """Create the topic, the dead-letter topic + subscription and one subscription per lane (idempotent)."""
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    project = settings.google_cloud_project
    topic = publisher.topic_path(project, settings.pubsub_topic)
    dead_topic = publisher.topic_path(project, settings.pubsub_dead_letter_topic)
    for name in (topic, dead_topic):
        with contextlib.suppress(gexc.AlreadyExists):
            publisher.create_topic(name=name)
    policy = pubsub_v1.types.DeadLetterPolicy(
        dead_letter_topic=dead_topic, max_delivery_attempts=settings.soul_max_delivery_attempts
    )
    subscriptions = [(dead_letter_subscription(settings), dead_topic, None, "")]
    subscriptions += [(settings.subscription(lane), topic, policy, f'attributes.lane = "{lane}"') for lane in lanes]
    for name, source, dead_letter, filter_ in subscriptions:
        request = {
            "name": subscriber.subscription_path(project, name),
            "topic": source,
            "ack_deadline_seconds": settings.soul_ack_deadline_seconds,
            "filter": filter_,
        }
        if dead_letter is not None:
            request["dead_letter_policy"] = dead_letter
        with contextlib.suppress(gexc.AlreadyExists):
            subscriber.create_subscription(request=request)
