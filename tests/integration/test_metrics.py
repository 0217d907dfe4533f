"""Metrics through the API's test client and a worker on the local backend (issue 26 parts 2 and 4): `/metrics`
parses as Prometheus text, and a hit, a miss and a blocked request each move their own counter by exactly
one and no other request counter; the worker's job, generation and spend figures, and the queue gauges
read from the SQLite queue at scrape time."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from functions.app import create_app
from functions.context import Context
from functions.service import GenerationService
from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from infra import seed
from shared import pregen, prices
from shared.bootstrap import Backend, build_backend
from shared.domain.demand import Policy
from shared.errors import RetryableError
from shared.metrics import Metrics, build
from tests.conftest import drain, make_settings
from tests.fakes.id_tokens import PROJECT, LocalIssuer
from tests.integration import test_pregen as pregen_support

pytestmark = pytest.mark.integration
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def stack(tmp_path: Path) -> tuple[FlaskClient, Worker, Backend]:
    backend = build_backend(make_settings(tmp_path / "data"))
    seed.load(backend)
    metrics: Metrics = build(backend.settings)  # this test's own: no other test's requests in it
    client = create_app(Context.build(backend, metrics=metrics)).test_client()
    worker = Worker(backend, Generators(backend.settings, backend.store).for_kind, metrics=metrics)
    return client, worker, backend


def scrape(client: FlaskClient) -> Samples:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.get_data(as_text=True))
        for s in family.samples
    }


def requests_moved(before: Samples, after: Samples) -> dict[tuple[str, str], float]:
    """Every soul_requests_total series that changed, by (route, outcome), and by how much."""
    moved = {}
    for (name, labels), value in after.items():
        if name == "soul_requests_total" and value != before.get((name, labels), 0.0):
            found = dict(labels)
            moved[(found["route"], found["outcome"])] = value - before.get((name, labels), 0.0)
    return moved


def image(client: FlaskClient, cue: str, user: str) -> int:
    return client.get("/image", query_string={"soul_id": "nova", "cue": cue, "user_id": user}).status_code


def test_hit_miss_and_blocked_each_move_their_counter_by_one(stack: tuple[FlaskClient, Worker, Backend]) -> None:
    client, worker, _ = stack
    before = scrape(client)
    assert image(client, "penguin", "u1") == 202
    middle = scrape(client)
    assert requests_moved(before, middle) == {("/image", "miss"): 1.0, ("/metrics", "ok"): 1.0}

    drain(worker)
    before = scrape(client)
    assert image(client, "penguin", "u2") == 200
    after = scrape(client)
    assert requests_moved(before, after) == {("/image", "hit"): 1.0, ("/metrics", "ok"): 1.0}
    latency = ("soul_request_duration_seconds_count", frozenset({("route", "/image"), ("outcome", "hit")}))
    assert after[latency] - before.get(latency, 0.0) == 1.0

    before = scrape(client)
    assert image(client, "a naked child", "u3") == 422
    after = scrape(client)
    assert requests_moved(before, after) == {("/image", "blocked"): 1.0, ("/metrics", "ok"): 1.0}


def test_attach_and_rejected_are_their_own_outcomes(stack: tuple[FlaskClient, Worker, Backend]) -> None:
    client, _, _ = stack
    assert image(client, "owl", "u1") == 202
    before = scrape(client)
    assert image(client, "owl", "u2") == 202  # the same key's job is still queued: u2 waits on it
    assert client.get("/tasks/nope", query_string={"user_id": "u2"}).status_code == 404
    moved = requests_moved(before, scrape(client))
    assert moved == {("/image", "attach"): 1.0, ("/tasks/<task_id>", "rejected"): 1.0, ("/metrics", "ok"): 1.0}


def test_worker_figures_and_queue_gauges(stack: tuple[FlaskClient, Worker, Backend]) -> None:
    client, worker, _ = stack
    for cue in ("cat", "dog"):
        assert image(client, cue, "u1") == 202
    queued = scrape(client)
    assert queued[("soul_queue_depth", frozenset({("lane", "image")}))] == 2.0
    assert queued[("soul_queue_depth", frozenset({("lane", "video")}))] == 0.0
    assert queued[("soul_queue_oldest_age_seconds", frozenset({("lane", "image")}))] >= 0.0

    drain(worker)
    done = scrape(client)
    assert done[("soul_queue_depth", frozenset({("lane", "image")}))] == 0.0
    succeeded = frozenset({("lane", "image"), ("kind", "image"), ("outcome", "succeeded"), ("code", "")})
    assert done[("soul_jobs_total", succeeded)] == 2.0
    per_variant = frozenset({("kind", "image"), ("generator", "preview")})
    assert done[("soul_generation_seconds_count", per_variant)] == 2.0
    fills = [v for (n, labels), v in done.items() if n == "soul_batch_fill_count" and ("lane", "image") in labels]
    assert sum(fills) >= 1.0  # one generator call per batch: two jobs, one or two calls
    spend = done[("soul_cost_usd_total", frozenset({("item", "cloud_run_l4_instance"), ("kind", "image")}))]
    assert spend > 0.0


def test_a_hit_costs_its_record_operations_at_list_price(stack: tuple[FlaskClient, Worker, Backend]) -> None:
    client, worker, _ = stack
    assert image(client, "heron", "u1") == 202
    drain(worker)
    before = scrape(client)
    assert image(client, "heron", "u2") == 200
    after = scrape(client)
    for item in ("firestore_read", "firestore_write"):
        key = ("soul_cost_usd_total", frozenset({("item", item), ("kind", "request")}))
        operations = (after[key] - before.get(key, 0.0)) / prices.PRICES[item].usd
        # a hit reads the key's variants and the user's seen marks and writes the mark (plus /metrics: none)
        assert round(operations) >= 1 and abs(operations - round(operations)) < 1e-6, (item, operations)


def test_a_paraphrase_joined_to_a_made_key_is_a_semantic_merge(tmp_path: Path) -> None:
    backend = build_backend(make_settings(tmp_path / "data", soul_semantic_cache=True))
    seed.load(backend)
    metrics = build(backend.settings)
    client = create_app(Context.build(backend, metrics=metrics)).test_client()
    assert image(client, "a fox sleeping under an oak tree at night", "u1") == 202
    drain(Worker(backend, Generators(backend.settings, backend.store).for_kind, metrics=metrics))
    before = scrape(client)
    assert image(client, "At night, a fox asleep beneath an oak tree!", "u2") == 200
    assert requests_moved(before, scrape(client)) == {("/image", "semantic_merge"): 1.0, ("/metrics", "ok"): 1.0}


class Flaky:
    """A generator whose every call fails with a transient error."""

    name = "flaky"

    def setup(self) -> None:
        pass

    def generate(self, requests: object) -> list[object]:
        raise RetryableError("the accelerator went away", code="device_lost")


def test_a_job_that_keeps_failing_is_retried_then_dead_lettered(tmp_path: Path) -> None:
    backend = build_backend(make_settings(tmp_path / "data", soul_max_delivery_attempts=2, soul_retry_base_seconds=0))
    seed.load(backend)
    metrics = build(backend.settings)
    client = create_app(Context.build(backend, metrics=metrics)).test_client()
    worker = Worker(backend, lambda kind: Flaky(), metrics=metrics)  # type: ignore[arg-type,return-value]
    assert image(client, "storm", "u1") == 202
    assert worker.run_once("image") == 1  # attempt 1: retried (the retry delay is 0: visible again at once)
    assert worker.run_once("image") == 1  # attempt 2 = the last: failed, on to the dead-letter lane
    after = scrape(client)
    labels = {("lane", "image"), ("kind", "image"), ("code", "device_lost")}
    assert after[("soul_jobs_total", frozenset({*labels, ("outcome", "retried")}))] == 1.0
    assert after[("soul_jobs_total", frozenset({*labels, ("outcome", "failed")}))] == 1.0
    assert after[("soul_dead_letters_total", frozenset({("lane", "image")}))] == 1.0


def test_in_token_mode_only_an_administrator_reads_metrics(tmp_path: Path) -> None:
    issuer = LocalIssuer()
    settings = make_settings(
        tmp_path / "data",
        soul_auth_mode="token",
        soul_jwks_file=issuer.write_jwks(tmp_path / "jwks.json"),
        google_cloud_project=PROJECT,
        soul_signing_key="metrics-test-signing-key",
        soul_admin_subjects="root",
    )
    backend = build_backend(settings)
    client = create_app(Context.build(backend, metrics=build(settings))).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=issuer.bearer("alice")).status_code == 403
    admin = client.get("/metrics", headers=issuer.bearer("root"))
    assert admin.status_code == 200 and b'soul_requests_total{outcome="rejected",route="/metrics"} 2.0' in admin.data


def test_pregeneration_spend_made_and_first_served(tmp_path: Path) -> None:
    """Two variants made ahead on the low lane; served counts each the first time anyone is shown it."""
    backend, clock = pregen_support._backend(tmp_path, budget=1000.0)
    metrics = build(backend.settings)
    service = GenerationService(backend, metrics=metrics)
    service.pregen.flush_mode = "manual"
    service.pregen.policy = Policy(target_headroom=2)
    worker = Worker(backend, lambda kind: pregen_support.RecordingGenerator(), metrics=metrics)  # type: ignore[arg-type,return-value]
    pregen_support._warm_key(backend, clock, service, worker)
    clock.t += pregen.FLUSH_SECONDS
    assert len(service.pregen.flush(clock.now())) == 2
    while worker.run_once("image"):
        pass
    text = (metrics.prometheus_text() or b"").decode()
    assert 'soul_pregen_variants_total{event="made"} 2.0' in text
    assert 'soul_pregen_variants_total{event="served"}' not in text  # nobody has been shown one yet
    assert 'soul_pregen_seconds_total{lane="image-low"}' in text
    shown = [service.image(user, "nova", pregen_support.CUE).served.variant for user in ("ann", "bob")]
    first_served = len({v.variant_id for v in shown if v is not None})  # each charged once, to its first viewer
    assert first_served >= 1
    text = (metrics.prometheus_text() or b"").decode()
    assert f'soul_pregen_variants_total{{event="served"}} {float(first_served)}' in text
