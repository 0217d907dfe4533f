"""The Cloud Run double applies RunJobRequest overrides as Cloud Run does, and refuses what it refuses.

Pure checks of `apply_overrides` (no processes, no emulators); the rehearsal e2e test drives the same
double through the real google-cloud-run client.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.cloudrun_double import ApiError, CloudRunDouble, JobSpec, apply_overrides

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


# ---- IAM and the reported lag: the double in process, tasks as fakes whose exit the test decides ----

DISPATCHER = "soul-dispatcher@soul-test.iam.gserviceaccount.com"
API = "soul-api@soul-test.iam.gserviceaccount.com"
GPU = "projects/soul-test/locations/us-central1/jobs/gpu"
LAUNCHER = {"run.jobs.run", "run.jobs.runWithOverrides", "run.executions.list", "run.operations.get"}
OVERRIDES = {"overrides": {"containerOverrides": [{"args": ["worker", "--lanes", "image"]}]}}


class Task:
    """A task process as the double sees it: running until the test sets its exit code."""

    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


class Clock:
    """The double's injected clock: the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _PortClock:
    def now(self) -> float:
        return 1000.0


def _double(allowed: set[tuple[str, str, str]], *, lag: float = 0.0, clock: Clock | None = None) -> CloudRunDouble:
    tasks: list[Task] = []

    def spawn(argv: list[str], env: dict[str, str], log: str) -> Any:
        tasks.append(Task())
        return tasks[-1]

    double = CloudRunDouble(
        "soul-test", "us-central1", {"gpu": JOB}, spawn, allowed=allowed, lag=lag, clock=clock or Clock()
    )
    double.tasks = tasks  # type: ignore[attr-defined]
    return double


GRANTS = {(DISPATCHER, p, "job/gpu") for p in LAUNCHER}


def _denied(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(ApiError) as refused:
        call()
    return refused.value.code, refused.value.status


def test_each_call_needs_its_permission_on_the_job_operations_included() -> None:
    double = _double(GRANTS - {(DISPATCHER, "run.operations.get", "job/gpu")})
    op = double.run("soul-test", "us-central1", "gpu", OVERRIDES, DISPATCHER)
    assert double.list_executions("gpu", DISPATCHER)["executions"]
    assert _denied(lambda: double.operation(op["name"], DISPATCHER)) == (403, "PERMISSION_DENIED")
    assert _denied(lambda: double.run("soul-test", "us-central1", "gpu", {}, API)) == (403, "PERMISSION_DENIED")
    assert _denied(lambda: double.list_executions("gpu", None)) == (401, "UNAUTHENTICATED")
    # Denied before the lookup, as the real API: an unknown job is not told apart from a forbidden one.
    assert _denied(lambda: double.run("soul-test", "us-central1", "nope", {}, DISPATCHER)) == (403, "PERMISSION_DENIED")
    assert (DISPATCHER, "run.operations.get", "job/gpu") in double.calls


def test_overrides_need_run_with_overrides_and_a_plain_run_needs_run() -> None:
    double = _double({(API, "run.jobs.run", "job/gpu")})  # roles/run.invoker: no overrides
    assert double.run("soul-test", "us-central1", "gpu", {}, API)["name"]
    assert _denied(lambda: double.run("soul-test", "us-central1", "gpu", OVERRIDES, API)) == (403, "PERMISSION_DENIED")


def test_a_finished_execution_is_reported_running_for_the_lag() -> None:
    clock = Clock()
    double = _double(GRANTS, lag=5.0, clock=clock)
    op = double.run("soul-test", "us-central1", "gpu", OVERRIDES, DISPATCHER)
    double.tasks[0].code = 0  # type: ignore[attr-defined]
    assert double.operation(op["name"], DISPATCHER)["done"] is False  # the double sees the exit now
    clock.now += 4.9
    assert double.operation(op["name"], DISPATCHER)["done"] is False
    (listed,) = double.list_executions("gpu", DISPATCHER)["executions"]
    assert (listed["runningCount"], listed["succeededCount"], "completionTime" in listed) == (1, 0, False)
    clock.now += 0.1
    assert double.operation(op["name"], DISPATCHER)["done"] is True
    (listed,) = double.list_executions("gpu", DISPATCHER)["executions"]
    assert (listed["runningCount"], listed["succeededCount"], "completionTime" in listed) == (0, 1, True)


def test_the_real_client_is_refused_as_by_cloud_run_and_launches_as_its_account() -> None:
    from google.api_core import exceptions as gexc
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    double = _double(GRANTS)
    double.serve()

    def client(endpoint: str) -> run_v2.JobsClient:
        options = {"api_endpoint": endpoint}
        return run_v2.JobsClient(transport="rest", client_options=options, credentials=AnonymousCredentials())

    try:
        override = run_v2.RunJobRequest.Overrides.ContainerOverride(args=["worker", "--lanes", "image"])
        request = run_v2.RunJobRequest(
            name=GPU, overrides=run_v2.RunJobRequest.Overrides(container_overrides=[override])
        )
        operation = client(double.endpoint(DISPATCHER)).run_job(request=request)
        assert operation.done() is False  # GetOperation as the dispatcher: allowed, the task still runs
        with pytest.raises(gexc.Forbidden) as refused:  # over REST: by HTTP status, 403
            client(double.endpoint(API)).run_job(request=request)
        assert refused.value.response.json()["error"]["status"] == "PERMISSION_DENIED"
        # No caller: 401 (the real client would refresh its credentials; anonymous ones cannot).
        anonymous = httpx.post(f"{double.url}/v2/{GPU}:run", json={}, timeout=10)
        assert (anonymous.status_code, anonymous.json()["error"]["status"]) == (401, "UNAUTHENTICATED")
    finally:
        double.close()


def test_a_launcher_without_the_role_is_a_logged_refusal(backend: Any) -> None:
    """Over REST a 403 is `Forbidden`, not gRPC's PermissionDenied: the launcher still treats it as a
    deploy error (NotConfigured: logged and dropped, never retried) and frees its slot."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    from shared.adapters.gcp_run import CloudRunLauncher
    from shared.errors import NotConfigured
    from shared.records import JOBS

    double = _double(GRANTS)
    double.serve()
    update = {"google_cloud_project": "soul-test", "cloud_run_region": "us-central1", "cloud_run_job_gpu": "gpu"}
    settings = backend.settings.model_copy(update={**update, "soul_dispatch_interval_seconds": 30.0})
    options = {"api_endpoint": double.endpoint(API)}
    jobs = lambda: run_v2.JobsClient(transport="rest", client_options=options, credentials=AnonymousCredentials())  # noqa: E731
    runs = lambda: run_v2.ExecutionsClient(transport="rest", client_options=options, credentials=AnonymousCredentials())  # noqa: E731
    launcher = CloudRunLauncher(settings, backend.store, _PortClock(), client_factory=jobs, executions_factory=runs)
    backend.store.create(JOBS, "j1", {"job_id": "j1", "lane": "image", "status": "queued"})
    try:
        with pytest.raises(NotConfigured, match="refused"):
            launcher.launch("image")
    finally:
        double.close()
    assert double.calls == {(API, "run.executions.list", "job/gpu")} and not double.executions


def test_each_distinct_call_is_written_once_to_the_access_log(tmp_path: Path) -> None:
    log = tmp_path / "access-cloudrun.jsonl"
    double = CloudRunDouble("soul-test", "us-central1", {"gpu": JOB}, lambda *a: Task(), allowed=GRANTS, access_log=log)  # type: ignore[arg-type,return-value]
    for _ in range(3):
        double.list_executions("gpu", DISPATCHER)
    with pytest.raises(ApiError):
        double.list_executions("gpu", API)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(x["principal"], x["op"], x["resource"]) for x in lines] == [
        (DISPATCHER, "run.executions.list", "job/gpu"),
        (API, "run.executions.list", "job/gpu"),  # refused calls are recorded too
    ]
