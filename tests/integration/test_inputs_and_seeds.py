"""Inputs through the API (issue 27): a cue over the limit or of blanks is refused in plain words naming the
field, never cut; the limits the pages read come from the request model; an explicit seed asks for exactly
that seed's output (served even if seen, else made once per key and seed), the preview output is a
deterministic function of it; the request options reach the job; each soul has a sample made here."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from functions import schemas as s
from functions.app import create_app
from functions.context import Context
from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from infra import seed as seed_data
from shared.bootstrap import Backend, build_backend
from shared.records import JOBS, VARIANTS
from tests.conftest import drain, make_settings

pytestmark = pytest.mark.integration


def ask(client: FlaskClient, user: str, **query: object) -> tuple[int, dict]:
    r = client.get("/image", query_string={"soul_id": "nova", "user_id": user, **query})
    return r.status_code, r.get_json()


def made(client: FlaskClient, worker: Worker, user: str, **query: object) -> dict:
    """The variant the request ends with (a hit, or its task run to the end)."""
    status, body = ask(client, user, **query)
    if status == 200:
        return body["variant"]
    drain(worker)
    task = client.get(body["status_url"], query_string={"user_id": user}).get_json()
    assert task["status"] == "succeeded", task
    return task["result"]


def png(client: FlaskClient, variant: dict) -> bytes:
    r = client.get(variant["urls"]["png"])
    assert r.status_code == 200 and r.data[:8] == b"\x89PNG\r\n\x1a\n"
    return r.data


# -- refusals in words ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query,field,words",
    [
        ({"cue": "x" * 5000}, "cue", "Write a cue of 1–300 characters. This one has 5,000."),
        ({"cue": "   "}, "cue", "Write a cue of 1–300 characters. Spaces alone do not count."),
        ({"cue": "!!!"}, "cue", "Write a cue with at least one word, number or emoji."),
        ({"cue": "owl", "seed": "-1"}, "seed", "Seed must be a whole number from 0 to 2,147,483,647."),
        ({"cue": "owl", "steps": "0"}, "steps", "Steps must be a whole number from 1 to 150."),
        ({"cue": "owl", "width": "100"}, "width", "Width must be a multiple of 8 from 64 to 2,048."),
        ({"cue": "owl", "guidance_scale": "31"}, "guidance_scale", "Guidance must be a number from 0 to 30."),
        ({"cue": "owl", "image_path": "/etc/passwd"}, "image_path", "'image_path' is not something this request"),
    ],
)
def test_bad_input_is_refused_in_words_naming_the_field(
    client: FlaskClient, backend: Backend, query: dict, field: str, words: str
) -> None:
    status, body = ask(client, "u1", **query)
    assert status == 422, body
    assert body["error"]["code"] == "invalid_input" and body["error"]["field"] == field
    assert body["error"]["message"].startswith(words), body
    assert backend.store.count(JOBS) == 0  # refused, not cut to fit


def test_the_limits_the_pages_read_are_the_request_models(client: FlaskClient) -> None:
    limits = client.get("/limits").get_json()
    schema = s.ImageQuery.model_json_schema()["properties"]
    assert limits["image"]["cue"]["max_length"] == schema["cue"]["maxLength"] == 300
    assert limits["image"]["cue"]["min_length"] == 1
    assert limits["image"]["seed"]["maximum"] == 2_147_483_647
    assert (limits["image"]["steps"]["minimum"], limits["image"]["steps"]["maximum"]) == (1, 150)
    assert limits["image"]["width"]["multiple_of"] == 8
    assert set(limits["wan"]) == {"cue", "seed"}  # Wan takes no steps, guidance or size


def test_settings_the_soul_cannot_run_are_refused_in_its_words(client: FlaskClient, backend: Backend) -> None:
    style = {"soul_id": "quick", "prompt_template": "{cue}, quick", "params": {"steps": 8, "step_cache_interval": 4}}
    assert client.post("/style", json=style).status_code == 200
    r = client.get("/image", query_string={"soul_id": "quick", "cue": "owl", "steps": 3, "user_id": "u1"})
    assert r.status_code == 422
    assert r.get_json()["error"] == {
        "code": "invalid_input",
        "message": "These settings do not work with this soul: step_cache_interval 4 must be below steps (3).",
        "field": "steps",
    }
    assert backend.store.count(JOBS) == 0


# -- seeds -----------------------------------------------------------------------------------------
def other_deployment(tmp_path: Path) -> tuple[FlaskClient, Worker]:
    backend = build_backend(make_settings(tmp_path / "other"))
    seed_data.load(backend)
    worker = Worker(backend, Generators(backend.settings, backend.store).for_kind)
    return create_app(Context.build(backend)).test_client(), worker


def test_a_seed_gives_the_same_bytes_and_another_seed_others(
    client: FlaskClient, worker: Worker, tmp_path: Path
) -> None:
    first = made(client, worker, "u1", cue="owl on a branch", seed=42)
    assert first["seed"] == 42
    # Generated again from nothing (another deployment, so no cache): byte for byte the same image.
    other_client, other_worker = other_deployment(tmp_path)
    again = made(other_client, other_worker, "u9", cue="owl on a branch", seed=42)
    assert png(other_client, again) == png(client, first)
    different = made(client, worker, "u1", cue="owl on a branch", seed=43)
    assert different["seed"] == 43 and png(client, different) != png(client, first)


def test_a_seed_is_served_even_when_seen_and_made_once(client: FlaskClient, worker: Worker, backend: Backend) -> None:
    status, one = ask(client, "u1", cue="fox", seed=7)
    status2, two = ask(client, "u2", cue="a fox!", seed=7)  # same key and seed while the first is queued
    assert status == status2 == 202 and one["task_id"] == two["task_id"]  # single-flight on key + seed
    status3, unseeded = ask(client, "u3", cue="fox")  # no seed: never attached to the seeded job
    assert status3 == 202 and unseeded["task_id"] != one["task_id"]
    drain(worker)
    first = client.get(one["status_url"], query_string={"user_id": "u1"}).get_json()["result"]
    for user in ("u1", "u1", "u2"):  # u1 has seen it and asks again: they asked for exactly this one
        status, hit = ask(client, user, cue="fox", seed=7)
        assert status == 200 and hit["variant_id"] == first["variant_id"]
    assert backend.store.count(JOBS) == 2  # the seeded one and the unseeded one, nothing more


def test_concurrent_requests_for_one_seed_make_one_job(client: FlaskClient, worker: Worker, backend: Backend) -> None:
    barrier = threading.Barrier(12)

    def call(i: int) -> tuple[int, dict]:
        barrier.wait()
        # the same seed for everyone, and the same seed as an explicit request of u0 who saw it: one job
        return ask(client, f"user{i}", cue="kite over the bay", seed=99)

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(call, range(12)))
    assert {status for status, _ in results} == {202}
    assert len({body["task_id"] for _, body in results}) == 1
    drain(worker)
    assert backend.store.count(JOBS) == 1 and backend.store.count(VARIANTS) == 1
    assert backend.store.query(VARIANTS)[0]["seed"] == 99


def test_wan_takes_a_seed_to_the_job(client: FlaskClient) -> None:
    r = client.get("/wan-video/", query_string={"soul_id": "luna", "cue": "owl at night", "seed": 12, "user_id": "u1"})
    assert r.status_code == 202, r.get_json()
    task = client.get(r.get_json()["status_url"], query_string={"user_id": "u1"}).get_json()
    assert task["spec"]["seed"] == 12
    refused = client.get("/wan-video/", query_string={"soul_id": "luna", "cue": "owl", "steps": 3, "user_id": "u1"})
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "steps"  # Wan has no steps


def test_a_seed_reproduces_a_run_made_without_one(client: FlaskClient, worker: Worker) -> None:
    """Re-run / Copy as curl send the run's seed: the same variant comes back, not a new one."""
    original = made(client, worker, "u1", cue="heron in the rain")
    status, again = ask(client, "u1", cue="heron in the rain", seed=original["seed"])
    assert status == 200 and again["variant_id"] == original["variant_id"]
    assert worker.generations == 1


def test_options_reach_the_job_and_make_their_own_key(client: FlaskClient, worker: Worker) -> None:
    status, plain = ask(client, "u1", cue="otter")
    status2, tuned = ask(client, "u1", cue="otter", steps=4, guidance_scale=3.5, width=512, height=384, seed=5)
    assert status == status2 == 202 and tuned["pk_id"] != plain["pk_id"]
    spec = client.get(tuned["status_url"], query_string={"user_id": "u1"}).get_json()["spec"]
    assert (spec["steps"], spec["guidance_scale"], spec["width"], spec["height"], spec["seed"]) == (4, 3.5, 512, 384, 5)
    drain(worker)


# -- soul samples ----------------------------------------------------------------------------------
def test_each_soul_has_a_sample_made_here_and_labelled(client: FlaskClient, worker: Worker) -> None:
    first = client.get("/style/kai/sample").get_json()
    assert first["status"] == "making" and first["image_url"] is None
    drain(worker)
    ready = client.get("/style/kai/sample").get_json()
    assert ready["status"] == "ready" and ready["generator"] == "preview"  # the page labels it a preview
    assert client.get(ready["image_url"]).data[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/style/kai/sample").get_json()["variant_id"] == ready["variant_id"]  # made once
    assert worker.generations == 1
    assert client.get("/style").get_json()["styles"][0]["description"]
