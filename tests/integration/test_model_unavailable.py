"""A GPU worker whose weights path is set but empty (issue 24): Terraform always sets
SDXL_MODEL_PATH=/models/sdxl and SVD_MODEL_PATH=/models/svd, and an empty models bucket mounts as
an empty folder. The worker must start (loading at start-up crashed it, and Cloud Run retried the
task into a crash loop on an L4) and fail each job on those lanes with `model_unavailable`."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from shared.bootstrap import Backend
from tests.conftest import drain


def test_empty_weight_folders_fail_jobs_with_model_unavailable(
    client: FlaskClient, backend: Backend, tmp_path: Path
) -> None:
    (tmp_path / "models" / "sdxl").mkdir(parents=True)  # the mount is there, the weights are not
    paths = {"sdxl_model_path": tmp_path / "models" / "sdxl", "svd_model_path": tmp_path / "models" / "svd"}
    generators = Generators(backend.settings.model_copy(update=paths), backend.store)
    generators.warm(["image", "video"])  # the worker's start-up: no exception, so no crash loop
    worker = Worker(backend, generators.for_kind)
    miss = client.get("/image", query_string={"soul_id": "nova", "cue": "penguin", "user_id": "u1"})
    assert miss.status_code == 202
    assert drain(worker) == 1
    task = client.get(miss.get_json()["status_url"], query_string={"user_id": "u1"}).get_json()
    assert (task["status"], task["error"]["code"]) == ("failed", "model_unavailable")
    assert "SDXL_MODEL_PATH" in task["error"]["message"] and "models bucket" in task["error"]["message"]
    assert task["error"].get("retryable") in (None, False)
