"""Who was served a variant of a big shared job (docs/ARCHITECTURE.md, Single-flight): completion tells
at most FANOUT_MAX waiters; every other waiter who has not left is still served the variant, delivered
when they first use it (animate, detail, mark-seen) just as when they read their task. Here FANOUT_MAX
is 2 (a constant of this test) and six users share one job, on the local backend (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from gpu_jobs.worker import Worker
from shared import delivery
from shared.bootstrap import Backend
from shared.domain.models import Waiter, WaiterState
from shared.records import WAITERS
from tests.conftest import drain

pytestmark = pytest.mark.integration

FANOUT_MAX = 2
USERS = [f"u{i}" for i in range(6)]


@pytest.fixture
def small_fanout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(delivery, "FANOUT_MAX", FANOUT_MAX)
    yield


def _states(backend: Backend, task_id: str) -> dict[str, WaiterState]:
    docs = backend.store.query(WAITERS, [("job_id", "==", task_id)], limit=50)
    return {w.user_id: w.state for w in map(Waiter.model_validate, docs)}


def _seen(client: FlaskClient, user: str) -> list[str]:
    return list(client.get(f"/image/user/{user}/seen").get_json()["variant_ids"])


def test_waiters_past_the_fanout_cap_are_served_on_first_use(
    small_fanout: None, client: FlaskClient, worker: Worker, backend: Backend
) -> None:
    ask = {"soul_id": "nova", "cue": "owl at dusk"}
    tasks = {client.get("/image", query_string={**ask, "user_id": u}).get_json()["task_id"] for u in USERS}
    (task_id,) = tasks  # one shared job
    leaver = USERS[-1]
    assert client.delete(f"/tasks/{task_id}", query_string={"user_id": leaver}).status_code == 200
    drain(worker)

    states = _states(backend, task_id)
    told = sorted(u for u, s in states.items() if s is WaiterState.DELIVERED)
    untold = sorted(u for u, s in states.items() if s is WaiterState.WAITING)
    assert len(told) == FANOUT_MAX and len(untold) == len(USERS) - 1 - FANOUT_MAX and states[leaver] is WaiterState.LEFT
    vid = client.get(f"/tasks/{task_id}", query_string={"user_id": told[0]}).get_json()["result"]["variant_id"]
    assert _seen(client, untold[0]) == [] and _seen(client, told[0]) == [vid]

    # An untold waiter animates the variant: accepted, and it is delivered to them on that read.
    r = client.post("/video/generate", json={"variant_id": vid, "num_frames": 6, "user_id": untold[0]})
    assert r.status_code == 202, r.get_json()
    assert _seen(client, untold[0]) == [vid] and _states(backend, task_id)[untold[0]] is WaiterState.DELIVERED
    # Another reads its detail first (the same check), a third animates with the query-parameter form.
    assert client.get(f"/image/variant/{vid}", query_string={"user_id": untold[1]}).status_code == 200
    assert _seen(client, untold[1]) == [vid]
    r = client.post("/video/generate-from-variant", query_string={"variant_id": vid, "user_id": untold[2]})
    assert r.status_code == 202 and _seen(client, untold[2]) == [vid]
    # A told waiter is accepted as before (seen list); the leaver and a stranger are not, and see nothing.
    assert client.get(f"/image/variant/{vid}", query_string={"user_id": told[1]}).status_code == 200
    for outsider in (leaver, "stranger"):
        r = client.post("/video/generate", json={"variant_id": vid, "num_frames": 6, "user_id": outsider})
        assert r.status_code == 404 and _seen(client, outsider) == []
    assert _states(backend, task_id)[leaver] is WaiterState.LEFT
