"""What the runs view and the detail view read from the API: a task's inputs, the prompt actually sent
(the soul's template applied), seed and settings, measured timings, and a variant's "seen N of M"."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from functions.context import Context
from gpu_jobs.worker import Worker
from tests.conftest import drain

pytestmark = pytest.mark.integration


def test_task_carries_prompt_seed_settings_and_timings(client: FlaskClient, worker: Worker, ctx: Context) -> None:
    style = ctx.styles.get("nova")
    accepted = client.get("/image", query_string={"soul_id": "nova", "cue": "Otter Surfing", "user_id": "r1"})
    task = client.get(accepted.get_json()["status_url"], query_string={"user_id": "r1"}).get_json()
    spec = task["spec"]
    assert spec["cue"] == "otter surfing"  # the normalized text: what every user of the key is shown
    assert spec["prompt"] == style.render("otter surfing") and spec["prompt"] != "otter surfing"
    assert spec["negative_prompt"] == style.negative_prompt
    assert (spec["steps"], spec["width"], spec["height"]) == (
        style.params.steps,
        style.params.width,
        style.params.height,
    )
    # Nothing of this shape has run yet: the estimate says so instead of inventing a number.
    assert task["timing"]["estimate_seconds"] is None
    assert task["timing"]["basis"].startswith("no measured run of image at")
    drain(worker)
    done = client.get(accepted.get_json()["status_url"], query_string={"user_id": "r1"}).get_json()
    assert done["result"]["seed"] == spec["seed"] and done["result"]["task_id"] == done["task_id"]
    assert done["timing"]["run_seconds"] >= 0 and done["finished_at"] >= done["started_at"]
    listed = client.get("/tasks", query_string={"user_id": "r1"}).get_json()["tasks"]
    assert [t["task_id"] for t in listed] == [done["task_id"]] and listed[0]["spec"] == spec

    # The next run of the same shape is estimated from the measured one (the table was built before
    # that run ended, and is not waited out: showing the finished run made it stale).
    second = client.get("/image", query_string={"soul_id": "nova", "cue": "otter skiing", "user_id": "r1"})
    queued = client.get(second.get_json()["status_url"], query_string={"user_id": "r1"}).get_json()
    assert queued["timing"]["estimate_seconds"] == pytest.approx(done["timing"]["run_seconds"], abs=0.02)
    assert "median of 1 run measured here (preview generator" in queued["timing"]["basis"]


def test_variant_detail_counts_seen_of_ready_and_is_private(client: FlaskClient, worker: Worker) -> None:
    ids = []
    for _ in range(2):
        client.get("/image", query_string={"soul_id": "kai", "cue": "a kite", "user_id": "d1"})
        drain(worker)
    ids = client.get("/image/user/d1/seen").get_json()["variant_ids"]
    assert len(ids) == 2
    hit = client.get("/image", query_string={"soul_id": "kai", "cue": "a kite", "user_id": "d2"}).get_json()
    detail = client.get(f"/image/variant/{hit['variant_id']}", query_string={"user_id": "d2"}).get_json()
    assert (detail["seen"], detail["of"]) == (1, 2)
    assert detail["spec"]["cue"] == "kite" and detail["spec"]["seed"] == detail["variant"]["seed"]
    assert detail["variant"]["urls"]["png"]
    # A user who was never shown it gets the same 404 as for a variant that does not exist.
    other = client.get(f"/image/variant/{ids[0]}", query_string={"user_id": "d3"})
    assert other.status_code == 404 and other.get_json()["error"]["code"] == "not_found"


def test_video_estimate_says_plainly_when_nothing_was_measured(client: FlaskClient) -> None:
    basis = client.get("/video/estimate", query_string={"num_frames": 8}).get_json()["basis"]
    assert basis.startswith("no run measured yet: a guess from SVD_ESTIMATED_SECONDS_PER_FRAME")


def test_video_estimate_moves_to_measured_runs(client: FlaskClient, worker: Worker) -> None:
    made = client.get("/image", query_string={"soul_id": "nova", "cue": "a drum", "user_id": "v1", "wait": 0})
    drain(worker)
    variant = client.get(made.get_json()["status_url"], query_string={"user_id": "v1"}).get_json()["result"]
    body = {"variant_id": variant["variant_id"], "num_frames": 4, "user_id": "v1"}
    task = client.post("/video/generate", json=body).get_json()
    drain(worker)
    done = client.get(f"/tasks/{task['task_id']}", query_string={"user_id": "v1"}).get_json()
    assert done["status"] == "succeeded"
    estimate = client.get("/video/estimate", query_string={"num_frames": 8}).get_json()
    assert estimate["basis"] == "measured here: 1 preview run"
    assert estimate["estimated_seconds"] == pytest.approx(2 * done["timing"]["run_seconds"], abs=0.05)
