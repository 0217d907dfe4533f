"""Reliability of the whole pipeline on the gcp backend against the emulators (issue 3 §5), plus the
Pub/Sub CloudEvent dispatcher.

The API (Flask test client) and real `Worker`s run on Firestore, Pub/Sub and fake-gcs-server with
the preview generator. A counting wrapper around the real queue records deliveries and acks, so the
tests can tell duplicates really reached the workers. Timings: leases are 5 s (the minimum), retries
0.05-0.2 s; Pub/Sub rounds a nack delay up to whole seconds.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions import dispatch
from functions.app import create_app
from functions.context import Context
from gpu_jobs.bootstrap import Generators
from gpu_jobs.generators.base import GenRequest, Output
from gpu_jobs.worker import Worker
from infra import seed
from shared import lifecycle
from shared.bootstrap import Backend
from shared.domain.models import JobMessage, Kind
from shared.errors import NotConfigured, Unavailable
from shared.ports import Delivery
from shared.records import JOBS, VARIANTS
from tests.conftest import emulator_backend

pytestmark = pytest.mark.integration
MAX_ATTEMPTS = 5


class CountingQueue:
    """The real queue, recording what it delivered and acked (for assertions, not behaviour)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.delivered: list[tuple[str, Delivery]] = []
        self.acked: set[str] = set()
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def publish(self, lane: str, data: bytes) -> str:
        return str(self.inner.publish(lane, data))

    def pull(self, lane: str, max_messages: int, timeout: float) -> list[Delivery]:
        got: list[Delivery] = self.inner.pull(lane, max_messages, timeout)
        with self._lock:
            self.delivered += [(lane, d) for d in got]
            self._ids.update({d.ack_id: d.message_id for d in got})
        return got

    def ack(self, lane: str, ack_ids: Sequence[str]) -> None:
        self.inner.ack(lane, ack_ids)
        with self._lock:
            self.acked.update(self._ids[a] for a in ack_ids if a in self._ids)

    def nack(self, lane: str, ack_id: str, delay_seconds: float = 0.0) -> None:
        self.inner.nack(lane, ack_id, delay_seconds)

    def extend(self, lane: str, ack_id: str, seconds: float) -> None:
        self.inner.extend(lane, ack_id, seconds)


@pytest.fixture
def gcp(gcp_env: dict[str, str], tmp_path: Path) -> Backend:
    backend = emulator_backend(
        gcp_env,
        tmp_path,
        wrap_queue=CountingQueue,
        soul_max_delivery_attempts=MAX_ATTEMPTS,
        soul_lease_seconds=5,
    )
    seed.load(backend)
    return backend


@pytest.fixture
def client(gcp: Backend) -> FlaskClient:
    return create_app(Context.build(gcp)).test_client()


def _miss(client: FlaskClient, user: str, cue: str = "penguin") -> dict[str, Any]:
    r = client.get("/image", query_string={"soul_id": "nova", "cue": cue, "user_id": user})
    assert r.status_code == 202, r.get_json()
    body: dict[str, Any] = r.get_json()
    return body


def _run_workers(workers: list[Worker], until: Any, timeout: float = 30.0) -> float:
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(["image"], stop)) for w in workers]
    start = time.monotonic()
    for t in threads:
        t.start()
    while not until() and time.monotonic() - start < timeout:
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    return time.monotonic() - start


def test_triple_publish_to_four_workers_makes_one_generation(gcp: Backend, client: FlaskClient) -> None:
    body = _miss(client, "u1")
    job_id = body["task_id"]
    message = JobMessage(job_id=job_id, lane="image").model_dump_json().encode()
    gcp.queue.publish("image", message)
    gcp.queue.publish("image", message)  # 3 copies of the job's message in all
    workers = [Worker(gcp, Generators(gcp.settings).for_kind, worker_id=f"w{i}") for i in range(4)]
    queue: Any = gcp.queue
    took = _run_workers(workers, lambda: len(queue.acked) >= 3)
    print(f"\n3 publishes x 4 workers: {len(queue.delivered)} deliveries, {len(queue.acked)} acked in {took:.1f} s")
    assert len(queue.acked) == 3
    assert sum(w.generations for w in workers) == 1
    assert gcp.store.count(VARIANTS) == 1
    variant = gcp.store.query(VARIANTS)[0]
    assert gcp.blobs.list() == sorted(a["name"] for a in variant["artifacts"].values())
    assert _status(gcp, job_id) == "succeeded"


class PoisonOr:
    """The preview generator, except that cues containing 'poison' always fail transiently."""

    name = "poison-or-preview"

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def setup(self) -> None:
        self.inner.setup()

    def generate(self, requests: Sequence[GenRequest]) -> list[Output]:
        if any("poison" in r.spec.prompt for r in requests):
            raise Unavailable("provider keeps failing")
        result: list[Output] = self.inner.generate(requests)
        return result


def _status(backend: Backend, job_id: str) -> str:
    doc = backend.store.get(JOBS, job_id) or {}
    return str(doc.get("status", ""))


def test_poison_message_is_dead_lettered_while_others_are_served(gcp: Backend, client: FlaskClient) -> None:
    """The emulator (like the SQLite queue) forwards to the dead-letter topic when the lane is next
    pulled after the last failed delivery, so the worker keeps running until the message is there."""
    generators = Generators(gcp.settings)
    worker = Worker(gcp, lambda kind: PoisonOr(generators.for_kind(kind)), worker_id="w-poison")
    poison = _miss(client, "u1", "poison apple")["task_id"]
    good = [_miss(client, f"u{i}", f"good cue {i}")["task_id"] for i in range(3)]
    dead: list[Delivery] = []

    def settled() -> bool:
        if _status(gcp, poison) == "failed":
            dead.extend(gcp.queue.pull("dead", 10, 0.2))
        return bool(dead) and all(_status(gcp, j) == "succeeded" for j in good)

    took = _run_workers([worker], settled, timeout=40)
    queue: Any = gcp.queue
    mine = [
        d for lane, d in queue.delivered if lane == "image" and JobMessage.model_validate_json(d.data).job_id == poison
    ]
    attempts = [d.attempt for d in mine]
    print(f"\npoison: attempts {attempts}, dead-lettered {len(dead)}, {1 + len(good)} jobs settled in {took:.1f} s")
    assert attempts == list(range(1, MAX_ATTEMPTS + 1))
    assert [JobMessage.model_validate_json(d.data).job_id for d in dead] == [poison]
    failed = gcp.store.get(JOBS, poison)
    assert failed is not None and failed["status"] == "failed"
    assert f"gave up after {MAX_ATTEMPTS} attempts" in failed["error"]["message"]
    assert [_status(gcp, j) for j in good] == ["succeeded"] * 3


def test_an_expired_lease_is_taken_over(gcp: Backend, client: FlaskClient) -> None:
    job_id = _miss(client, "u1")["task_id"]
    dead = lifecycle.claim(gcp.store, job_id, worker_id="crashed", now=gcp.clock.now(), lease_seconds=5)
    assert dead is not None  # a worker claimed it, then died without ack or heartbeat
    worker = Worker(gcp, Generators(gcp.settings).for_kind, worker_id="survivor")
    took = _run_workers([worker], lambda: _status(gcp, job_id) == "succeeded")
    print(f"\nlease takeover after {took:.1f} s")
    job = gcp.store.get(JOBS, job_id)
    assert job is not None and job["status"] == "succeeded"
    assert job["attempts"] == 2  # the crashed worker's claim, then the survivor's
    assert worker.generations == 1


def test_fifty_concurrent_hits_and_mark_seen_on_one_hot_key(gcp: Backend, client: FlaskClient) -> None:
    worker = Worker(gcp, Generators(gcp.settings).for_kind, worker_id="w-hot")
    for _ in range(3):  # u0 sees each variant, so each miss makes one more: 3 variants of one key
        _miss(client, "u0")
        _run_workers([worker], lambda: not gcp.store.count(JOBS, [("status", "==", "queued")]), timeout=20)
    variants = [v["variant_id"] for v in gcp.store.query(VARIANTS)]
    assert len(variants) == 3

    def call(i: int) -> tuple[str, int, str]:
        user = f"hot{i // 2}"
        if i % 2:
            r = client.post("/image/mark-seen", query_string={"variant_id": variants[i % 3], "user_id": user})
            return user, r.status_code, variants[i % 3]
        r = client.get("/image", query_string={"soul_id": "nova", "cue": "penguin", "user_id": user})
        return user, r.status_code, (r.get_json() or {}).get("variant_id", "")

    start = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(call, range(50)))
    took = time.monotonic() - start
    statuses = [status for _, status, _ in results]
    expected: dict[str, set[str]] = {}
    for user, status, vid in results:
        if status == 200 and vid:
            expected.setdefault(user, set()).add(vid)
    lost = [
        u
        for u, vids in expected.items()
        if not vids <= set(client.get(f"/image/user/{u}/seen").get_json()["variant_ids"])
    ]
    print(f"\n50 concurrent hits/mark-seen: {took:.1f} s, statuses {sorted(set(statuses))}, lost updates {len(lost)}")
    assert not [s for s in statuses if s >= 500]
    assert {s for i, s in enumerate(statuses) if i % 2 == 0} == {200}  # every request is a hit
    # mark-seen answers 404 for a variant the user was never served (hardening: ownership)
    assert {s for i, s in enumerate(statuses) if i % 2} <= {200, 404}
    assert lost == []


def test_selfies_rotate_landmarks_and_hit_the_cache_on_firestore(gcp: Backend, client: FlaskClient) -> None:
    """The selfie path's overlapped reads (city ‖ the user's landmark history) on the emulator."""
    worker = Worker(gcp, Generators(gcp.settings).for_kind, worker_id="w-selfie")
    body = {"soul_id": "nova", "city_key": "paris", "mood": "happy", "user_id": "s1"}
    landmarks = [client.post("/image/selfie", json=body).get_json()["landmark_key"] for _ in range(3)]
    assert len(set(landmarks)) == 3  # least recently used first: three different landmarks
    _run_workers([worker], lambda: not gcp.store.count(JOBS, [("status", "==", "queued")]), timeout=30)
    hit = client.post("/image/selfie", json={**body, "user_id": "s2"})  # another user, first landmark: cached
    assert hit.status_code == 200 and hit.get_json()["cache_hit"] is True
    assert hit.get_json()["landmark_key"] == landmarks[0]
    r = client.post("/image/selfie", json={**body, "city_key": "atlantis"})
    assert r.status_code == 404 and "/places" in r.get_json()["error"]["message"]


# -- the dispatcher --------------------------------------------------------------------------------
def _event(job_id: str = "job-1", lane: str = "image", attr_lane: str | None = None) -> dict[str, Any]:
    """The data of a Pub/Sub CloudEvent (google.cloud.pubsub.topic.v1.messagePublished)."""
    payload = base64.b64encode(json.dumps({"v": 1, "job_id": job_id, "lane": lane}).encode()).decode()
    message = {"data": payload, "attributes": {"lane": attr_lane or lane}, "messageId": "1"}
    return {"message": message, "subscription": "projects/p/subscriptions/eventarc-sub"}


class Launcher:
    def __init__(self, error: Exception | None = None) -> None:
        self.lanes: list[str] = []
        self.error = error

    def launch(self, lane: str) -> None:
        if self.error:
            raise self.error
        self.lanes.append(lane)


def test_dispatcher_launches_for_the_message_lane() -> None:
    launcher = Launcher()
    assert dispatch.handle(_event(lane="wan"), lambda: launcher) == "wan"
    assert dispatch.handle(_event(lane="video"), lambda: launcher) == "video"
    assert launcher.lanes == ["wan", "video"]


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"message": {"data": "not base64!"}},
        {"message": {"data": base64.b64encode(b'{"job_id": "x"}').decode()}},
        _event(lane="gpu"),
        _event(lane="image", attr_lane="wan"),
    ],
)
def test_dispatcher_drops_malformed_events_without_building_a_launcher(data: Any) -> None:
    def no_launcher() -> Any:
        raise AssertionError("a malformed event must not build the launcher")

    assert dispatch.handle(data, no_launcher) is None


def test_dispatcher_retries_transient_and_drops_refused_launches() -> None:
    with pytest.raises(Unavailable):  # raised: functions-framework answers 500, Pub/Sub redelivers
        dispatch.handle(_event(), lambda: Launcher(Unavailable("run_job 503")))
    assert dispatch.handle(_event(), lambda: Launcher(NotConfigured("no such job"))) is None


def test_dispatcher_entry_point_through_functions_framework() -> None:
    """The decorated `dispatch` in functions/main.py, driven as Eventarc would (binary CloudEvent)."""
    import functions_framework

    source = Path(__file__).resolve().parents[2] / "functions" / "main.py"
    if "def dispatch" not in source.read_text():
        pytest.fail("functions/main.py has no `dispatch` entry point (it should call functions.dispatch.handle)")
    app = functions_framework.create_app(target="dispatch", source=str(source), signature_type="cloudevent")
    headers = {
        "ce-id": "1",
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/soul-jobs",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "Content-Type": "application/json",
    }
    r = app.test_client().post("/", headers=headers, json={"message": {"data": "bm90IGpzb24="}})
    assert r.status_code == 200  # malformed: dropped, not retried
    assert Kind.IMAGE.lane == "image"
