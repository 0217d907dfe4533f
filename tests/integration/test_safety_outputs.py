"""Output screening in the worker (issue 22 §2), over HTTP on SQLite and the emulators: a blocked output is
never stored or served and fails its job with content_blocked after counted, reseeded retries; a key whose
output was blocked is never pre-generated again; a crash between screening and publishing, or a screener
that is down, never lets an unscreened output through. Cloud Vision is the real client against
infra/google_safety_double.py (red = unsafe)."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from functions.app import create_app
from functions.context import Context
from functions.service import GenerationService
from gpu_jobs import screening
from gpu_jobs.worker import Worker
from infra.google_safety_double import FakeGoogleSafety
from shared import pregen
from shared.bootstrap import Backend
from shared.domain.demand import Policy
from shared.records import AUDIT, BLOCKED_KEYS, JOBS, VARIANTS
from shared.safety.build import image_screener
from shared.safety.policy import Verdict
from tests.conftest import drain
from tests.integration.safety_support import Colours, is_red, make_backend

pytestmark = pytest.mark.integration


@pytest.fixture
def vision() -> Iterator[FakeGoogleSafety]:
    with FakeGoogleSafety() as server:
        yield server


def _ask(client: object, cue: str, user: str = "u1") -> str:
    r = client.get("/image", query_string={"soul_id": "nova", "cue": cue, "user_id": user})  # type: ignore[attr-defined]
    assert r.status_code == 202, r.get_json()
    return str(r.get_json()["task_id"])


@pytest.mark.parametrize("kind", ["local", "gcp"])
def test_blocked_output_is_never_stored_or_served(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, vision: FakeGoogleSafety
) -> None:
    backend = make_backend(
        kind, tmp_path, request, soul_output_screening="cloud", soul_vision_endpoint=vision.url, soul_batch_size=2
    )
    client = create_app(Context.build(backend)).test_client()
    colours = Colours(red_always=["ruby"], red_once=["garnet"])
    worker = Worker(backend, lambda k: colours)
    ruby, garnet = _ask(client, "ruby penguin"), _ask(client, "garnet penguin")
    drain(worker)

    task = client.get(f"/tasks/{ruby}", query_string={"user_id": "u1"}).get_json()
    assert task["status"] == "failed" and task["error"]["code"] == "content_blocked"
    assert "sexual content" in task["error"]["message"] and task["result"] is None
    job = backend.store.get(JOBS, ruby)
    assert job is not None and job["safety_retries"] == 1  # one reseeded try, counted
    assert backend.blobs.list(f"variants/{job['variant_id']}") == []  # nothing stored under its names
    assert backend.store.get(VARIANTS, job["variant_id"]) is None
    assert backend.store.get(BLOCKED_KEYS, job["pk"])["by"] == "output"  # type: ignore[index]
    audits = [a for a in backend.store.query(AUDIT, [], limit=10) if a["action"] == "output_blocked"]
    assert sorted(a["attempt"] for a in audits if a["job_id"] == ruby) == [0, 1]
    again = client.get("/image", query_string={"soul_id": "nova", "cue": "ruby penguin", "user_id": "u2"})
    assert again.status_code == 202  # a user may still ask: a new, screened try (only pre-generation stops)

    task = client.get(f"/tasks/{garnet}", query_string={"user_id": "u1"}).get_json()
    assert task["status"] == "succeeded"  # red first, blue after one reseed
    variant = backend.store.get(VARIANTS, task["result"]["variant_id"])
    assert variant is not None and variant["screened_by"] == "cloud-vision"
    seeds = [seed for prompt, seed in colours.calls if "garnet" in prompt]
    assert len(seeds) == 2 and seeds[0] != seeds[1] and variant["seed"] == seeds[1]
    url = task["result"]["urls"]["png"]
    if url.startswith("http"):  # fake-gcs-server's signed URL
        with urllib.request.urlopen(url, timeout=10) as resp:
            data = resp.read()
    else:
        data = client.get(url).data
    assert not is_red(data)


class BlockAfter:
    """A fake screener: allows the first `allowed` outputs, blocks every later one."""

    name, screens = "block-after", True

    def __init__(self, allowed: int) -> None:
        self.allowed, self.seen = allowed, 0

    def screen(self, images: Sequence[bytes], strict: bool = False) -> Verdict:
        self.seen += 1
        return Verdict(self.seen <= self.allowed, "" if self.seen <= self.allowed else "violence")


def test_a_key_whose_output_was_blocked_is_never_pregenerated_again(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = make_backend("local", tmp_path, request, soul_pregen_daily_gpu_seconds=1000.0, soul_batch_size=1)
    service = GenerationService(backend)
    service.pregen.flush_mode, service.pregen.policy = "manual", Policy(target_headroom=2)
    screen = screening.OutputScreen(backend.store, backend.clock, BlockAfter(1), retries=0, frames=2)
    worker = Worker(backend, lambda k: Colours(), screen=screen)
    cue = "penguin surfing in the sea"
    assert service.image("ann", "nova", cue).served.job is not None
    drain(worker, ("image",))
    assert service.image("bob", "nova", cue).served.variant is not None  # both have seen all: the key is hot
    made = service.pregen.flush(backend.clock.now() + pregen.FLUSH_SECONDS)
    assert made, "the hot key was refilled ahead of demand"
    while worker.run_once("image"):
        pass
    assert {backend.store.get(JOBS, j.job_id)["error"]["code"] for j in made} == {"content_blocked"}  # type: ignore[index]
    assert backend.store.get(BLOCKED_KEYS, made[0].pk) is not None
    assert service.pregen.flush(backend.clock.now() + 10 * pregen.FLUSH_SECONDS) == []


class FlakyBlobs:
    """The real blob store, but the first upload dies as a crashed process would (not a SoulError)."""

    def __init__(self, inner: object) -> None:
        self.inner, self.crashed = inner, False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def put(self, name: str, data: bytes, content_type: str) -> None:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("process died between screening and upload")
        self.inner.put(name, data, content_type)  # type: ignore[attr-defined]


def test_crash_between_screening_and_publishing_serves_nothing_unscreened(
    tmp_path: Path, request: pytest.FixtureRequest, vision: FakeGoogleSafety
) -> None:
    backend = make_backend(
        "local",
        tmp_path,
        request,
        soul_output_screening="cloud",
        soul_vision_endpoint=vision.url,
        soul_retry_base_seconds=0.0,  # a retried message is visible again at once: no waiting in the test
        soul_retry_cap_seconds=0.0,
    )
    client = create_app(Context.build(backend)).test_client()
    task = _ask(client, "ruby fox")
    crashing = Backend(
        backend.settings, backend.store, backend.queue, FlakyBlobs(backend.blobs), backend.launcher, backend.clock
    )
    first = Worker(
        crashing,
        lambda k: Colours(red_once=["ruby"]),
        screen=screening.OutputScreen(backend.store, backend.clock, BlockAfter(10), retries=0, frames=2),
    )  # this one passes everything...
    first.run_once("image")
    job = backend.store.get(JOBS, task)
    assert (
        job is not None and job["status"] != "succeeded" and backend.blobs.list(f"variants/{job['variant_id']}") == []
    )
    vision.fail_next = 1  # ...the next worker's screener is down once: retried, nothing uploaded meanwhile
    second = Worker(backend, lambda k: Colours(red_always=["ruby"]))
    drain(second)
    job = backend.store.get(JOBS, task)
    assert job is not None and job["status"] == "failed" and job["error"]["code"] == "content_blocked"
    assert (
        backend.blobs.list(f"variants/{job['variant_id']}") == []
        and backend.store.get(VARIANTS, job["variant_id"]) is None
    )


def test_local_default_says_outputs_are_not_screened(caplog: pytest.LogCaptureFixture, settings: object) -> None:
    with caplog.at_level(logging.WARNING):
        screener = image_screener(settings)  # type: ignore[arg-type]
    assert screener is not None and screener.screens is False
    assert "NOT screened locally" in caplog.text
    assert screener.screen([b"x"]).screened is False
