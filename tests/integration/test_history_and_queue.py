"""One history and an honest queue (issue 27), on both backends (SQLite and the Firestore emulator):
a cache hit is the user's own run record (idempotent, marked served from the cache), a queued task
carries its real place in its lane's queue and a start time from measured runs, the animation estimate
is the same before and while it runs, and a shared run shows nothing of its owner but the output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.app import create_app
from functions.context import Context
from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from infra import seed
from shared import history
from shared.bootstrap import Backend, build_backend
from shared.records import WAITERS
from tests.conftest import drain, emulator_backend, make_settings

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "gcp"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        built = build_backend(make_settings(tmp_path / "data"))
        seed.load(built)
        yield built
        return
    built = emulator_backend(request.getfixturevalue("gcp_env"), tmp_path)
    seed.load(built)
    yield built


@pytest.fixture
def client(backend: Backend) -> FlaskClient:
    return create_app(Context.build(backend)).test_client()


@pytest.fixture
def worker(backend: Backend) -> Worker:
    return Worker(backend, Generators(backend.settings, backend.store).for_kind)


def _image(client: FlaskClient, user: str, cue: str) -> Any:
    answer = client.get("/image", query_string={"soul_id": "kai", "cue": cue, "user_id": user})
    assert answer.status_code in (200, 202), answer.get_json()
    return answer.get_json()


def _runs(client: FlaskClient, user: str) -> list[dict[str, Any]]:
    answer = client.get("/tasks", query_string={"user_id": user})
    assert answer.status_code == 200
    return list(answer.get_json()["tasks"])


def test_a_cache_hit_is_the_users_own_run_marked_as_such(client: FlaskClient, worker: Worker, backend: Backend) -> None:
    made = _image(client, "maker", "a red kite")
    drain(worker)
    assert client.get(made["status_url"], query_string={"user_id": "maker"}).get_json()["status"] == "succeeded"
    assert _runs(client, "hitter") == []

    hit = _image(client, "hitter", "a red kite")
    assert hit["cache_hit"] is True
    runs = _runs(client, "hitter")
    assert [(r["task_id"], r["status"], r["served_from_cache"]) for r in runs] == [(made["task_id"], "succeeded", True)]
    assert runs[0]["result"]["variant_id"] == hit["variant_id"] and runs[0]["requested_at"] is not None
    # The maker's own run is theirs, not marked as a cache hit; the hitter can open the run by its id.
    assert [r["served_from_cache"] for r in _runs(client, "maker")] == [False]
    opened = client.get(f"/tasks/{made['task_id']}", query_string={"user_id": "hitter"}).get_json()
    assert opened["served_from_cache"] is True and opened["result"]["variant_id"] == hit["variant_id"]

    # Written idempotently: the same record again changes nothing and adds no second line.
    variant = backend.store.get("variants", hit["variant_id"])
    from shared.domain.models import Variant

    again = history.record_cache_hit(
        backend.store, user_id="hitter", variant=Variant.model_validate(variant), now=backend.clock.now()
    )
    assert again is False
    assert len(backend.store.query(WAITERS, [("user_id", "==", "hitter")], limit=10)) == 1
    assert len(_runs(client, "hitter")) == 1


def test_queued_tasks_carry_their_real_place_and_a_measured_start(client: FlaskClient, worker: Worker) -> None:
    first = _image(client, "q1", "an owl at dusk")
    drain(worker)  # one measured run of this shape
    ran = client.get(first["status_url"], query_string={"user_id": "q1"}).get_json()["timing"]["run_seconds"]
    queued = [_image(client, f"q{i}", f"a fox number {i}") for i in (2, 3, 4)]
    places = []
    for i, accepted in zip((2, 3, 4), queued, strict=True):
        timing = client.get(accepted["status_url"], query_string={"user_id": f"q{i}"}).get_json()["timing"]
        places.append((timing["queue_position"], timing["running_in_lane"]))
        assert timing["estimate_seconds"] == pytest.approx(ran, abs=0.02)
        assert timing["start_in_seconds"] == pytest.approx((timing["queue_position"] - 1) * ran, abs=0.05)
        assert timing["basis"].startswith("median of 1 run measured here")
    assert places == [(1, 0), (2, 0), (3, 0)]
    # A running or finished task has no queue place.
    drain(worker)
    done = client.get(queued[0]["status_url"], query_string={"user_id": "q2"}).get_json()["timing"]
    assert done["queue_position"] is None and done["start_in_seconds"] is None


def test_one_animation_estimate_before_and_while_it_runs(client: FlaskClient, worker: Worker) -> None:
    made = _image(client, "a1", "a tall lighthouse")
    drain(worker)
    before = client.get("/video/estimate", query_string={"num_frames": 8}).get_json()
    body = {"variant_id": made_variant(client, made), "num_frames": 8, "user_id": "a1"}
    accepted = client.post("/video/generate", json=body).get_json()
    timing = client.get(accepted["status_url"], query_string={"user_id": "a1"}).get_json()["timing"]
    assert (timing["estimate_seconds"], before["basis"]) == (
        before["estimated_seconds"],
        timing["basis"].split("; ")[-1],
    )


def made_variant(client: FlaskClient, accepted: dict[str, Any]) -> str:
    return str(client.get(accepted["status_url"], query_string={"user_id": "a1"}).get_json()["variant_id"])


def test_a_shared_run_says_whose_it_is_and_leaks_nothing_else(client: FlaskClient, worker: Worker) -> None:
    owner = "owner-7f3a9c@example.com"
    made = _image(client, owner, "a green lantern")
    _image(client, owner, "a secret second cue")
    drain(worker)
    mine = client.get(f"/shared/tasks/{made['task_id']}", query_string={"user_id": owner}).get_json()
    assert (mine["yours"], mine["shared_by"]) == (True, "you")
    answer = client.get(f"/shared/tasks/{made['task_id']}", query_string={"user_id": "viewer"})
    assert answer.status_code == 200
    shared = answer.get_json()
    assert (shared["yours"], shared["shared_by"], shared["cue"]) == (False, "another user", "green lantern")
    assert shared["variant"]["urls"]["png"]
    text = answer.get_data(as_text=True)
    assert owner not in text and "owner-7f3a9c" not in text and "secret" not in text
    by_variant = client.get(f"/shared/variants/{shared['variant']['variant_id']}", query_string={"user_id": "v"})
    assert by_variant.status_code == 200 and owner not in by_variant.get_data(as_text=True)
    # Viewing it shows the viewer nothing of the owner's and adds nothing to their history.
    assert _runs(client, "viewer") == []
    assert client.get(f"/tasks/{made['task_id']}", query_string={"user_id": "viewer"}).status_code == 404
    # An unfinished, unknown or malformed link: the same 404 with its reason.
    pending = _image(client, owner, "a third cue")
    for path in (f"/shared/tasks/{pending['task_id']}", "/shared/tasks/nope", "/shared/variants/nope"):
        gone = client.get(path, query_string={"user_id": "viewer"})
        assert gone.status_code == 404 and "no finished run at this link" in gone.get_json()["error"]["message"]
    bad = client.get(f"/shared/tasks/{made['task_id']}", query_string={"user_id": "bad user!"})
    assert bad.status_code == 422
