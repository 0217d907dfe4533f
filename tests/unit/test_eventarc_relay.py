"""The rehearsal's Eventarc relay: each push reaches dispatch with the trigger account's ID token, and a
429 or 5xx is retried with capped exponential backoff before the push is nacked.

The POST and the sleep are injected: the test decides each status, nothing waits.
"""

from __future__ import annotations

import json
import urllib.request

import jwt
import pytest

from infra.rehearse_pubsub import Backoff, EventarcRelay
from tests.fakes.id_tokens import LocalIssuer

pytestmark = pytest.mark.unit

TARGET = "http://127.0.0.1:9/"
ACCOUNT = "soul-dispatcher@soul-test.iam.gserviceaccount.com"
DEFAULT = Backoff()  # 1, 2, 4, 8 s
PUSH = json.dumps({"message": {"messageId": "7", "data": "e30="}, "subscription": "s"}).encode()


class Dispatch:
    """The function as the relay sees it: the statuses it answers, in order, and what it received."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.received: list[urllib.request.Request] = []

    def __call__(self, request: urllib.request.Request) -> int:
        self.received.append(request)
        return self.statuses.pop(0)


def _relay(dispatch: Dispatch, slept: list[float], issuer: LocalIssuer, backoff: Backoff = DEFAULT) -> EventarcRelay:
    def id_token(audience: str) -> str:
        return issuer.token(ACCOUNT, aud=audience, email=ACCOUNT)

    return EventarcRelay("soul-test", "soul-jobs", TARGET, id_token, backoff=backoff, send=dispatch, sleep=slept.append)


def test_5xx_and_429_are_retried_with_doubling_delays_then_acked() -> None:
    dispatch, issuer, slept = Dispatch(503, 429, 500, 204), LocalIssuer(), list[float]()
    assert _relay(dispatch, slept, issuer).forward(PUSH) == 204
    assert slept == [1.0, 2.0, 4.0]
    tokens = [str(r.get_header("Authorization")).removeprefix("Bearer ") for r in dispatch.received]
    claims = jwt.decode(tokens[-1], issuer.private_key.public_key(), algorithms=["RS256"], audience=TARGET)
    assert claims["email"] == ACCOUNT  # the trigger's account, for the function's URL
    assert dispatch.received[-1].get_header("Ce-type") == "google.cloud.pubsub.topic.v1.messagePublished"


def test_the_delay_is_capped_and_the_last_status_nacks_the_push() -> None:
    dispatch, slept = Dispatch(*[503] * 6), list[float]()
    relay = _relay(dispatch, slept, LocalIssuer(), Backoff(first=1.0, cap=3.0, attempts=6))
    assert relay.forward(PUSH) == 503  # the emulator redelivers it later
    assert slept == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert relay.deliveries == [503] * 6


@pytest.mark.parametrize("status", [200, 204, 400, 404])
def test_success_and_other_client_errors_are_not_retried(status: int) -> None:
    dispatch, slept = Dispatch(status), list[float]()
    assert _relay(dispatch, slept, LocalIssuer()).forward(PUSH) == status
    assert slept == []
