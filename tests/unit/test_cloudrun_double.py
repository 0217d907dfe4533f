"""The Cloud Run double applies RunJobRequest overrides as Cloud Run does, and refuses what it refuses.

Pure checks of `apply_overrides` (no processes, no emulators); the rehearsal e2e test drives the same
double through the real google-cloud-run client.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.cloudrun_double import ApiError, JobSpec, apply_overrides

pytestmark = pytest.mark.unit

JOB = JobSpec(["soul"], ["worker", "--lanes", "image,video", "--exit-when-idle"], {"A": "1", "B": "2"})


def test_override_args_replace_the_container_args_and_env_merges_by_name() -> None:
    env = [{"name": "B", "value": "9"}, {"name": "C", "value": "3"}]
    override = {"args": ["worker", "--lanes", "video"], "env": env}
    body = {"overrides": {"containerOverrides": [override], "taskCount": 2}}
    args, merged, tasks = apply_overrides(JOB, body)
    assert args == ["worker", "--lanes", "video"]  # replaced, not appended
    assert merged == {"A": "1", "B": "9", "C": "3"}
    assert tasks == 2


def test_no_override_keeps_the_job_and_clear_args_empties_them() -> None:
    assert apply_overrides(JOB, {}) == (JOB.args, JOB.env, 1)
    assert apply_overrides(JOB, {"overrides": {"containerOverrides": [{"args": []}]}})[0] == JOB.args
    assert apply_overrides(JOB, {"overrides": {"containerOverrides": [{"clearArgs": True}]}})[0] == []
    assert apply_overrides(JOB, {"overrides": {"taskCount": 0}})[2] == 1  # proto3 0 = unset


@pytest.mark.parametrize(
    "body",
    [
        {"overides": {}},
        {"overrides": {"taskCount": -1}},
        {"overrides": {"taskCount": "2"}},
        {"overrides": {"containerOverrides": [{"name": "sidecar"}]}},
        {"overrides": {"containerOverrides": [{}, {}]}},
        {"overrides": {"containerOverrides": [{"args": "worker"}]}},
        {"overrides": {"containerOverrides": [{"env": [{"name": "1BAD", "value": "x"}]}]}},
        {"overrides": {"timeout": "ten minutes"}},
    ],
)
def test_malformed_overrides_are_invalid_argument(body: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as refused:
        apply_overrides(JOB, body)
    assert (refused.value.code, refused.value.status) == (400, "INVALID_ARGUMENT")
