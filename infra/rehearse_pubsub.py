"""Pub/Sub for the rehearsal: the topology terraform/modules/pubsub declares, and Eventarc's delivery.

`create_topology` creates, on the emulator, the topic, each lane's subscription with its filter, ack
deadline and dead-letter policy (as `Deploy.pubsub()` read them from the HCL), and the dead-letter
topic and subscription. `EventarcRelay` is what an Eventarc Pub/Sub trigger is: a push subscription
on the topic whose deliveries reach the function as a CloudEvent in binary content mode (`ce-*`
headers, the push body `{message, subscription}` as data); the function's status is the push's ack
(2xx) or nack (anything else: redelivered with backoff).

Like Eventarc, each delivery carries `Authorization: Bearer <ID token>` of the trigger's service
account (here signed by the rehearsal's local issuer), and a 429 or 5xx is retried with capped
exponential backoff (`Backoff`; the sleep is injected) before the push is nacked. The dispatch function
does not verify the token, nor does the deployed one: Cloud Run's invoker check (roles/run.invoker
on dispatch, granted to the trigger's account) does that before the request reaches the code.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.cloud import pubsub_v1  # type: ignore[attr-defined]

EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
Send = Callable[[urllib.request.Request], int]  # one POST: the function's HTTP status


@dataclass(frozen=True)
class Backoff:
    """Retries of one delivery on 429/5xx: `first` s doubling up to `cap` s, `attempts` in all. The
    rehearsal's defaults stay inside the push subscription's 60 s ack deadline (1+2+4+8 s); Eventarc's
    own backoff is longer (Pub/Sub push: 10 s to 600 s), then the nack's redelivery takes over."""

    first: float = 1.0
    cap: float = 8.0
    attempts: int = 5

    def delays(self) -> list[float]:
        return [min(self.cap, self.first * 2**n) for n in range(self.attempts - 1)]


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _send(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 503


def create_topology(project: str, pubsub: dict[str, Any]) -> None:
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(project, pubsub["topic"])
    dead_topic = publisher.topic_path(project, pubsub["dead_letter_topic"])
    for name in (topic, dead_topic):
        publisher.create_topic(name=name)
    for lane in pubsub["lanes"]:
        subscriber.create_subscription(
            request={
                "name": subscriber.subscription_path(project, lane["name"]),
                "topic": topic,
                "filter": lane["filter"],
                "ack_deadline_seconds": lane["ack_deadline_seconds"],
                "dead_letter_policy": {
                    "dead_letter_topic": dead_topic,
                    "max_delivery_attempts": lane["max_delivery_attempts"],
                },
            }
        )
    subscriber.create_subscription(
        request={
            "name": subscriber.subscription_path(project, pubsub["dead_letter_subscription"]),
            "topic": dead_topic,
            "ack_deadline_seconds": pubsub["dead_letter_ack_deadline_seconds"],
        }
    )


class EventarcRelay:
    """Pub/Sub push → CloudEvent POST to the function, like an Eventarc trigger."""

    def __init__(
        self,
        project: str,
        topic: str,
        target: str,
        id_token: Callable[[str], str],
        *,
        backoff: Backoff = Backoff(),
        send: Send = _send,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.project, self.topic, self.target, self.id_token = project, topic, target, id_token
        self.backoff, self.send, self.sleep = backoff, send, sleep
        self.deliveries: list[int] = []  # the function's status per attempt
        self._server: ThreadingHTTPServer | None = None

    def serve(self) -> str:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True, name="eventarc").start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def subscribe(self, endpoint: str) -> None:
        subscriber = pubsub_v1.SubscriberClient()
        subscriber.create_subscription(
            request={
                "name": subscriber.subscription_path(self.project, f"eventarc-{self.topic}-dispatch"),
                "topic": f"projects/{self.project}/topics/{self.topic}",
                "push_config": {"push_endpoint": endpoint},
                "ack_deadline_seconds": 60,
            }
        )

    def forward(self, body: bytes) -> int:
        push = json.loads(body)
        message = push.get("message", {})
        headers = {
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": str(message.get("messageId") or message.get("message_id") or "0"),
            "ce-source": f"//pubsub.googleapis.com/projects/{self.project}/topics/{self.topic}",
            "ce-type": EVENT_TYPE,
            "ce-time": str(message.get("publishTime") or message.get("publish_time") or ""),
        }
        for delay in self.backoff.delays():
            status = self._post(body, headers)
            if not retryable(status):
                return status
            self.sleep(delay)
        return self._post(body, headers)

    def _post(self, body: bytes, headers: dict[str, str]) -> int:
        """One attempt, with a fresh ID token for the function's URL (its audience), as Eventarc sends."""
        signed = {**headers, "Authorization": f"Bearer {self.id_token(self.target)}"}
        status = self.send(urllib.request.Request(self.target, data=body, headers=signed, method="POST"))  # noqa: S310
        self.deliveries.append(status)
        return status

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler(relay: EventarcRelay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status = relay.forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(204 if 200 <= status < 300 else status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
