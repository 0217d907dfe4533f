"""Scratch records expire (docs/ARCHITECTURE.md, Records): every writer of a collection in
`records.TTL_COLLECTIONS` writes `expire_at`, on both document stores, with a lifetime that outlasts the
record's use (an Idempotency-Key's pending window, a quota's day, a dispatch interval, a permit's
second, a budget's day) and ends within days. On Firestore the adapter writes it as a timestamp and
reads it back as epoch seconds, so the same assertions hold there."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Response

from functions.idempotency import PENDING_SECONDS, Idempotency
from functions.quota import Limits, StoreQuota
from functions.service import GenerationService
from gpu_jobs.wan_limits import WanAccountLimits
from infra import seed
from shared import pregen_budget, records
from shared.adapters.gcp_run import CloudRunLauncher
from shared.ids import digest
from tests.contract.test_reconcile_contract import _backend

pytestmark = pytest.mark.contract

DAY = 86400.0
WEEK = 7 * DAY


class Clock:
    def __init__(self, now: float = 1_750_000_000.25) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def _expire_at(store: Any, collection: str, doc_id: str) -> float:
    doc = store.get(collection, doc_id)
    assert doc is not None, f"{collection}/{doc_id} was not written"
    assert collection in records.TTL_COLLECTIONS
    return float(doc[records.TTL_FIELD])


def test_idempotency_records_expire_a_day_after_each_write(backend: Any) -> None:
    clock = Clock()
    idem = Idempotency(backend.store, clock)
    doc_id = digest("idempotency", "u1", "key-1")
    pending: list[float] = []

    def handler() -> Response:
        pending.append(_expire_at(backend.store, records.IDEMPOTENCY, doc_id) - clock.now())
        clock.sleep(3.0)
        return Response(json.dumps({"ok": True}), status=202, mimetype="application/json")

    idem.run("key-1", "u1", ["POST", "/image"], handler)
    assert PENDING_SECONDS < pending[0] <= WEEK  # a pending record outlives the window a retry may wait
    done = _expire_at(backend.store, records.IDEMPOTENCY, doc_id) - clock.now()
    assert done == records.IDEMPOTENCY_LIFETIME_SECONDS and DAY <= done <= WEEK
    replay = idem.run("key-1", "u1", ["POST", "/image"], handler)  # the record still replays until then
    assert replay.headers["Idempotent-Replayed"] == "true" and len(pending) == 1


def test_quota_counters_outlive_their_day_window_and_are_pushed_on(backend: Any) -> None:
    clock = Clock()
    quota = StoreQuota(backend.store, Limits(per_minute=100, per_day=1000), clock)
    quota.take("u1")
    first = _expire_at(backend.store, records.QUOTAS, "u1")
    assert DAY < first - clock.now() <= WEEK  # never deleted while its day window still counts
    clock.sleep(3600.0)
    quota.take("u1")
    assert _expire_at(backend.store, records.QUOTAS, "u1") == first + 3600.0
    assert backend.store.get(records.QUOTAS, "u1")["day_count"] == 2


def test_dispatch_slots_expire_once_their_interval_is_long_past(backend: Any) -> None:
    clock = Clock()
    interval = 30.0
    settings = backend.settings.model_copy(update={"soul_dispatch_interval_seconds": interval})
    launcher = CloudRunLauncher(settings, backend.store, clock)  # its Cloud Run clients are never built here
    slot = launcher._claim_slot("image")
    assert slot is not None
    left = _expire_at(backend.store, records.DISPATCH, slot) - clock.now()
    assert interval < left <= 2 * DAY


def test_wan_submit_permits_expire_after_their_second(backend: Any) -> None:
    clock = Clock()
    limits = WanAccountLimits(backend.store, clock, submits_per_second=2)
    assert limits.try_submit_permit() and limits.try_submit_permit() and not limits.try_submit_permit()
    second = int(clock.now())
    for k in range(2):
        left = _expire_at(backend.store, records.WAN_SUBMIT_PERMITS, f"{second}-{k}") - second
        assert 1.0 < left <= DAY


def test_pregen_budget_counters_expire_after_their_day_and_cache_counters_do_not(backend: Any) -> None:
    clock = Clock()
    pregen_budget.charge(backend.store, 12.5, clock.now())
    budget_doc = f"pregen-{int(clock.now() // DAY)}"
    left = _expire_at(backend.store, records.COUNTERS, budget_doc) - clock.now()
    assert DAY < left <= WEEK
    assert pregen_budget.spent_seconds(backend.store, clock.now()) == 12.5
    backend.store.increment(records.COUNTERS, "cache-0", "hits")  # how functions/tasks.py counts hits
    assert records.TTL_FIELD not in (backend.store.get(records.COUNTERS, "cache-0") or {})


def test_selfie_landmark_history_expires_after_its_last_use(backend: Any) -> None:
    service = GenerationService(_backend(backend))
    seed.load(service.backend)
    city = json.loads((seed.HERE / "places.json").read_text())[0]["city_key"]
    before = service.backend.clock.now()
    outcome = service.selfie("traveller", "nova", city, "happy", video=False)
    history = backend.store.get(records.PLACES, f"traveller:nova:{city}")
    assert history is not None and outcome.landmark_key in history  # the landmark choice still reads it
    left = _expire_at(backend.store, records.PLACES, f"traveller:nova:{city}") - before
    assert records.PLACES_LIFETIME_SECONDS <= left <= records.PLACES_LIFETIME_SECONDS + 60
