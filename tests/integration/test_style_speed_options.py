"""Per-style approximate speed options (docs/GPU.md, "Per-style options") through the API: validated
when a style is posted, carried into the job's spec, part of the prompt key and the batch key, and
absent from everything a style without them produces (its keys are what they were before)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.bootstrap import Backend
from shared.domain.models import GenerationSpec, Kind, StyleParams
from shared.domain.prompts import prompt_key
from shared.records import JOBS

pytestmark = pytest.mark.integration
TEMPLATE = "{cue}, a test style"


def post_style(client: FlaskClient, soul: str, **params: object) -> tuple[int, dict[str, Any]]:
    r = client.post("/style", json={"soul_id": soul, "prompt_template": TEMPLATE, "params": params})
    return r.status_code, r.get_json()


@pytest.mark.parametrize(
    "params",
    [
        {"cfg_cutoff": 0}, {"cfg_cutoff": 1.5}, {"cfg_cutoff": 0.5, "guidance_scale": 1.0},
        {"step_cache_interval": 0}, {"step_cache_interval": 9}, {"step_cache_interval": 4, "steps": 4},
        {"fp8": "yes"}, {"step_cache": 2},
    ],
)  # fmt: skip
def test_bad_options_are_a_422(client: FlaskClient, params: dict[str, object]) -> None:
    status, body = post_style(client, "fast", **params)
    assert status == 422 and body["error"]["code"] == "invalid_input", body


def test_exact_styles_keep_their_digest_and_documents() -> None:
    # What the params digest hashed before the options existed: the four size/step fields.
    before = {"steps": 30, "guidance_scale": 7.0, "width": 1024, "height": 1024}
    key = dict(soul_id="nova", kind=Kind.IMAGE, text="penguin", style_version=1)
    assert prompt_key(**key, params=StyleParams().model_dump()) == prompt_key(**key, params=before)  # type: ignore[arg-type]
    explicit = StyleParams(cfg_cutoff=1.0, fp8=False, step_cache_interval=1)
    assert explicit.model_dump() == before and explicit == StyleParams()
    spec = GenerationSpec(kind=Kind.IMAGE, soul_id="nova", prompt="p", seed=1)
    assert not {"cfg_cutoff", "fp8", "step_cache_interval"} & set(spec.model_dump(mode="json"))


def test_options_reach_the_spec_the_key_and_the_batch_key(client: FlaskClient, backend: Backend) -> None:
    assert post_style(client, "exact")[0] == 200
    status, fast = post_style(client, "fast", cfg_cutoff=0.6, step_cache_interval=3, fp8=True)
    assert status == 200
    assert fast["params"] == {"cfg_cutoff": 0.6, "fp8": True, "step_cache_interval": 3, "steps": 30,
                                   "guidance_scale": 7.0, "width": 1024, "height": 1024}  # fmt: skip
    pks = {}
    for soul in ("exact", "fast"):
        r = client.get("/image", query_string={"soul_id": soul, "cue": "penguin", "user_id": "u1"})
        assert r.status_code == 202
        pks[soul] = r.get_json()["pk_id"]
    jobs = {doc["pk"]: GenerationSpec.model_validate(doc["spec"]) for doc in backend.store.query(JOBS, [])}
    exact, fast_spec = jobs[pks["exact"]], jobs[pks["fast"]]
    assert (exact.cfg_cutoff, exact.fp8, exact.step_cache_interval) == (1.0, False, 1)
    assert (fast_spec.cfg_cutoff, fast_spec.fp8, fast_spec.step_cache_interval) == (0.6, True, 3)
    assert exact.batch_key() != fast_spec.batch_key()  # never one diffusers batch
    same = exact.model_copy(update={"soul_id": "fast", "prompt": fast_spec.prompt})
    assert same.batch_key() == exact.batch_key()  # the options alone split them


def test_the_worker_never_batches_jobs_with_different_options(client: FlaskClient, backend: Backend) -> None:
    from gpu_jobs.bootstrap import Generators
    from gpu_jobs.generators.base import GenRequest, Output
    from gpu_jobs.worker import Worker
    from tests.conftest import drain

    preview = Generators(backend.settings, backend.store)
    calls: list[list[tuple[str, int]]] = []

    class Recording:
        name = "recording"

        def setup(self) -> None: ...

        def generate(self, requests: list[GenRequest]) -> list[Output]:
            calls.append([(r.spec.soul_id, r.spec.step_cache_interval) for r in requests])
            return preview.for_kind(requests[0].spec.kind).generate(requests)

    assert post_style(client, "exact")[0] == 200 and post_style(client, "fast", step_cache_interval=2)[0] == 200
    for soul in ("exact", "fast", "exact", "fast"):
        cue = f"otter {len(calls)} {soul} {backend.store.count(JOBS)}"
        assert client.get("/image", query_string={"soul_id": soul, "cue": cue, "user_id": "u1"}).status_code == 202
    drain(Worker(backend, lambda kind: Recording()))
    assert sorted(calls) == [[("exact", 1), ("exact", 1)], [("fast", 2), ("fast", 2)]]
