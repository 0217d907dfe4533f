"""The Cloud Natural Language and Cloud Vision adapters through the official clients, against a local
server speaking their REST wire protocol (infra/google_safety_double.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from infra.google_safety_double import FakeGoogleSafety
from shared.adapters.gcp_language import CloudTextModerator
from shared.adapters.gcp_vision import CloudImageScreener
from shared.clock import SystemClock
from shared.errors import ContentBlocked, Unavailable
from shared.records import MODERATION
from shared.safety.gate import PromptGate

pytestmark = pytest.mark.integration
WORDS = {"gore": ("Violent", 0.93, 0.8), "kiss": ("Sexual", 0.55, 0.1)}


@pytest.fixture
def fake() -> Iterator[FakeGoogleSafety]:
    with FakeGoogleSafety(WORDS) as server:
        yield server


def png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buf, format="PNG")
    return buf.getvalue()


def test_moderate_text_blocks_per_category_threshold_and_severity(fake: FakeGoogleSafety) -> None:
    moderator = CloudTextModerator({"Violent": 0.7, "Sexual": 0.6}, min_severity=0.2, endpoint=fake.url)
    blocked = moderator.moderate("a penguin covered in gore")
    assert not blocked.allowed and blocked.category == "Violent" and blocked.scores["Violent"] == 0.93
    assert moderator.moderate("a penguin on ice").allowed
    assert moderator.moderate("a kiss").allowed  # 0.55 < 0.6
    assert CloudTextModerator({"Sexual": 0.6}, endpoint=fake.url).moderate("a kiss", strict=True).allowed is False
    assert CloudTextModerator({"Violent": 0.7}, min_severity=0.9, endpoint=fake.url).moderate("gore").allowed
    sent = fake.text_requests[0]
    # the REST transport sends enums as numbers (the API takes names or numbers)
    assert sent["document"]["content"] == "a penguin covered in gore" and sent["document"]["type"] in ("PLAIN_TEXT", 1)
    assert sent["modelVersion"] in ("MODEL_VERSION_2", 2)


def test_remote_decisions_are_cached_in_the_store_across_processes(fake: FakeGoogleSafety, backend: object) -> None:
    store = backend.store  # type: ignore[attr-defined]
    moderator = CloudTextModerator({"Violent": 0.7}, endpoint=fake.url)
    first = PromptGate(store, SystemClock(), moderator, policy_version="1")
    with pytest.raises(ContentBlocked, match="violent"):
        first.check("u1", "Gore  penguin", soul_id="nova", kind="image")
    first.check("u1", "penguin", soul_id="nova", kind="image")
    assert len(fake.text_requests) == 2 and len(store.query(MODERATION, [], limit=5)) == 2
    again = PromptGate(store, SystemClock(), moderator, policy_version="1")  # another process, same store
    with pytest.raises(ContentBlocked):
        again.check("u2", "gore penguin", soul_id="nova", kind="image")
    assert len(fake.text_requests) == 2
    PromptGate(store, SystemClock(), moderator, policy_version="2").decide("penguin")  # a new policy asks again
    assert len(fake.text_requests) == 3


def test_an_overloaded_api_is_retryable(fake: FakeGoogleSafety) -> None:
    fake.fail_next = 10
    with pytest.raises(Unavailable):
        CloudTextModerator({"Violent": 0.7}, endpoint=fake.url).moderate("penguin")
    with pytest.raises(Unavailable):
        CloudImageScreener({"adult": "LIKELY"}, endpoint=fake.url).screen([png((0, 0, 255))])


def test_safe_search_blocks_by_likelihood_over_all_frames(fake: FakeGoogleSafety) -> None:
    screener = CloudImageScreener({"adult": "LIKELY", "racy": "VERY_LIKELY"}, endpoint=fake.url)
    assert screener.screen([png((0, 0, 255)), png((0, 255, 0))]).allowed
    verdict = screener.screen([png((0, 0, 255)), png((230, 10, 10))])  # one bad frame blocks the clip
    assert not verdict.allowed and verdict.category == "adult" and verdict.words == "sexual content"
    assert len(fake.image_requests[-1]["requests"]) == 2  # one call per output
    racy_only = CloudImageScreener({"racy": "VERY_LIKELY"}, endpoint=fake.url)
    assert racy_only.screen([png((230, 10, 10))]).allowed  # racy is LIKELY: below VERY_LIKELY
    assert not racy_only.screen([png((230, 10, 10))], strict=True).allowed  # strict: one step lower
    with pytest.raises(ValueError, match="unknown"):
        CloudImageScreener({"adult": "PROBABLY"})
