"""The production rehearsal, black box: `soul rehearse` in its own process group, a client over HTTP.

One scenario (a miss waited to its variant, a hit by another user, a queued video job canceled) is
played against the rehearsal and against `soul dev` (same ID tokens: both in token mode) and must
give the same answers. In the rehearsal the job went API -> Pub/Sub -> Eventarc push -> dispatch ->
Cloud Run API double -> `soul worker` process -> GCS -> Firestore; the test checks each hop's trace.
Then IAM from the code: what each process recorded (SOUL_ACCESS_LOG) against the roles Terraform
grants its service account. Skipped, with the reason, only where Java or the Cloud SDK is missing
(SOUL_SKIP_EMULATORS=1, as in Cloud Build). The functions venv is cached in
.soul-data/rehearse-venvs: the first run on a machine installs it (about 80 s more).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra import emulators
from tests.conftest import ROOT, SoulDev

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]
Auth = Callable[[str], dict[str, str]]


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    try:
        emulators.check_available()
    except emulators.EmulatorsUnavailable as exc:
        if os.environ.get("SOUL_SKIP_EMULATORS") == "1":
            pytest.skip(f"rehearsal needs the emulators (SOUL_SKIP_EMULATORS=1): {exc}")
        pytest.fail(f"cannot rehearse: {exc} (SOUL_SKIP_EMULATORS=1 skips)")
    clone = _fresh_clone(tmp_path_factory.mktemp("clone"))
    state = clone / ".soul-data" / "rehearse"  # the default --state, relative to where it runs
    port = emulators.free_port()
    out = clone / "stdout.log"
    # The README's command from a fresh clone: the default, relative --state and --cache.
    argv = [sys.executable, "-m", "infra.cli", "rehearse", "--port", str(port)]
    proc = subprocess.Popen(argv, cwd=clone, stdout=out.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        info = _started(proc, out)
        yield {"url": f"http://127.0.0.1:{port}", "state": state, "proc": proc, **info}
    finally:
        _interrupt_twice(proc, out)
    left = [p.name for p in (state / "logs").glob("*.log") if _alive_in(p)]
    assert not left, f"processes left running after Ctrl-C and a SIGTERM during the shutdown: {left}"


def _fresh_clone(where: Path) -> Path:
    """This working tree as `git clone` gives it (tracked and new files, nothing ignored), so the code
    under test is the working tree's. Its default --cache is linked to this checkout's venv cache: the
    path stays relative, the 80 s install is not paid again."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / name).is_file():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, where / name)
    (ROOT / ".soul-data" / "rehearse-venvs").mkdir(parents=True, exist_ok=True)
    (where / ".soul-data").mkdir()
    (where / ".soul-data" / "rehearse-venvs").symlink_to(ROOT / ".soul-data" / "rehearse-venvs")
    return where


def _interrupt_twice(proc: subprocess.Popen[bytes], out: Path) -> None:
    """Ctrl-C, then a supervisor's SIGTERM once the shutdown has begun: everything must still stop."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + 60
    while "soul rehearse: stopping" not in out.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, out.read_text()[-3000:]


def _alive_in(log: Path) -> bool:
    """Whether a process still holds this log open (every process the rehearsal starts writes one)."""
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == str(log) for fd in fd_dir.iterdir()):
                return True
    return False


def _started(proc: subprocess.Popen[bytes], out: Path, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in out.read_text().splitlines():
            if line.startswith('{"cloud_run"'):
                return json.loads(line)  # type: ignore[no-any-return]
        assert proc.poll() is None, out.read_text()[-3000:]
        time.sleep(0.3)
    raise TimeoutError(out.read_text()[-3000:])


def _auth(state: Path) -> Auth:
    from infra.rehearse import token

    return lambda user: {"Authorization": f"Bearer {token(state, user)}"}


def _poll(base: str, task_id: str, headers: dict[str, str], until: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{base}/tasks/{task_id}", headers=headers, timeout=10).json()
        if body.get("status") in until:
            return body  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise TimeoutError(f"task {task_id} never reached {until}")


def scenario(base: str, auth: Auth) -> list[Any]:
    """The client's transcript, without ids, times or URLs (those differ between any two runs)."""
    said: list[Any] = []
    miss = httpx.get(f"{base}/image", params={"soul_id": "nova", "cue": "A Penguin!!"}, headers=auth("u1"), timeout=30)
    said.append(("miss", miss.status_code, miss.json().get("cache_hit"), miss.json().get("status")))
    task = _poll(base, miss.json()["task_id"], auth("u1"), {"succeeded", "failed"})
    result = task["result"]
    said.append(("task", task["status"], task["kind"], result["kind"], result["generator"], sorted(result["urls"])))
    url = result["urls"]["png"]
    png = httpx.get(base + url if url.startswith("/") else url, timeout=10)  # soul dev signs relative URLs
    said.append(("png", png.status_code, png.content[:4]))
    hit = httpx.get(f"{base}/image", params={"soul_id": "nova", "cue": "penguin"}, headers=auth("u2"), timeout=30)
    said.append(("hit", hit.status_code, hit.json()["cache_hit"], hit.json()["variant_id"] == result["variant_id"]))
    # Content safety: local rules under soul dev, Natural Language moderateText (its double) in the rehearsal.
    unsafe = httpx.get(f"{base}/image", params={"soul_id": "nova", "cue": "a naked penguin"}, headers=auth("u2"))
    said.append(("blocked", unsafe.status_code, unsafe.json()["error"]["code"]))
    video = httpx.post(
        f"{base}/video/generate-from-variant", params={"variant_id": result["variant_id"]}, headers=auth("u1")
    )
    said.append(("video", video.status_code, video.json().get("status")))
    cancel = httpx.delete(f"{base}/tasks/{video.json()['task_id']}", headers=auth("u1"), timeout=10)
    # soul dev's worker threads may claim the video job before the DELETE lands (then the cancel is
    # a request, honoured between steps); the rehearsal's worker is a process still starting.
    said.append(("cancel", cancel.status_code))
    said.append(("cancel-saw", cancel.json().get("status")))
    final = _poll(base, video.json()["task_id"], auth("u1"), {"canceled", "succeeded", "failed"})
    said.append(("canceled", final["status"]))
    return said


def test_rehearsal_serves_what_soul_dev_serves_through_the_deployed_path(
    rehearsal: dict[str, Any], tmp_path: Path
) -> None:
    auth = _auth(rehearsal["state"])
    rehearsed = scenario(rehearsal["url"], auth)
    assert rehearsed[1][1] == "succeeded" and rehearsed[-1] == ("canceled", "canceled"), rehearsed
    assert ("cancel-saw", "canceled") in rehearsed, "the canceled job was still queued: canceled at once"
    env = {"SOUL_AUTH_MODE": "token", "SOUL_JWKS_FILE": str(rehearsal["state"] / "jwks.json")}
    env["SOUL_SIGNING_KEY"] = "rehearsal-comparison-key-0123456789abcdef"
    # Preview steps of 0.1 s: a job soul dev has already claimed still sees the cancel between steps.
    env["SOUL_PREVIEW_STEP_SECONDS"] = "0.1"
    dev = SoulDev(tmp_path / "data", {**env, "GOOGLE_CLOUD_PROJECT": "soul-local"})
    try:
        developed = scenario(dev.url, auth)
        assert [x for x in developed if x[0] != "cancel-saw"] == [x for x in rehearsed if x[0] != "cancel-saw"]
    finally:
        dev.stop()
    logs = rehearsal["state"] / "logs"
    # The path: the api published, Eventarc delivered, dispatch launched through the double, the
    # worker process (started by the double with Terraform's argv) pulled, uploaded and recorded.
    assert _uses(logs, "api") >= {("pubsub", "publish", "soul-jobs"), ("firestore", "write", "(default)/jobs")}
    assert ("run", "runWithOverrides", _job("soul-worker-gpu")) in _uses(logs, "dispatch")
    worker = _uses(logs, "soul-worker-gpu")
    assert ("storage", "create", "soul-local-soul-artifacts") in worker
    assert ("pubsub", "consume", "projects/soul-local/subscriptions/soul-jobs-image") in worker
    executions = httpx.get(f"{_as(rehearsal, OPERATOR)}/v2/{_job('soul-worker-gpu')}/executions").json()["executions"]
    assert executions and all(e["taskCount"] == 1 for e in executions)


def test_the_gpu_worker_with_an_empty_models_mount_fails_video_jobs_model_unavailable(
    rehearsal: dict[str, Any],
) -> None:
    """SVD_MODEL_PATH stays Terraform's /models/svd, in an empty folder (an empty models bucket's mount):
    the worker starts and the job fails permanently with model_unavailable, as on a first deploy."""
    auth, base = _auth(rehearsal["state"]), rehearsal["url"]
    miss = httpx.get(f"{base}/image", params={"soul_id": "nova", "cue": "a lighthouse"}, headers=auth("u3"), timeout=30)
    image = _poll(base, miss.json()["task_id"], auth("u3"), {"succeeded", "failed"})
    assert image["status"] == "succeeded", image
    params = {"variant_id": image["result"]["variant_id"], "num_frames": 8}
    video = httpx.post(f"{base}/video/generate-from-variant", params=params, headers=auth("u3"), timeout=30).json()
    task = _until_done(rehearsal, video["task_id"], auth("u3"))
    assert (task["status"], task["error"]["code"]) == ("failed", "model_unavailable"), task
    assert "SVD_MODEL_PATH" in task["error"]["message"]


TRACE_ID = "5a0c1e2d3b4f56789abcdef012345678"  # the caller's trace: every deployable must continue it
CALLER_SPAN = "1122334455667788"
API_SPANS = ["GET /image", "api.cache_read", "api.singleflight", "api.publish"]
DISPATCH_SPANS = ["dispatch.event", "dispatch.launch"]
WORKER_SPANS = ["worker.claim", "worker.generate", "worker.encode", "worker.upload", "worker.complete"]


def test_one_request_is_one_trace_through_the_api_dispatch_and_the_worker(rehearsal: dict[str, Any]) -> None:
    """A request with a known `traceparent`: its trace id is in the api's, dispatch's and the worker's logs
    (their span lines, SOUL_TRACE_EXPORTER=log in the rehearsal), each step's span in order, parented
    across the queue on the publish span; the api's own log line carries Cloud Logging's trace field."""
    auth, base = _auth(rehearsal["state"]), rehearsal["url"]
    headers = {**auth("u4"), "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"}
    miss = httpx.get(f"{base}/image", params={"soul_id": "nova", "cue": "a heron at dawn"}, headers=headers, timeout=30)
    assert miss.status_code in (200, 202) and miss.json()["cache_hit"] is False, miss.text
    task = _until_done(rehearsal, miss.json()["task_id"], auth("u4"))
    assert task["status"] == "succeeded", task
    logs = rehearsal["state"] / "logs"
    spans = _until_spans(logs, {"api": API_SPANS, "dispatch": DISPATCH_SPANS, "soul-worker-gpu-*": WORKER_SPANS})
    by_name = {s["span"]: s for s in spans}
    assert by_name["GET /image"]["parent_span_id"] == CALLER_SPAN
    publish = by_name["api.publish"]
    # Across the queue: dispatch's event and the worker's steps are children of the publish span.
    for name in ["dispatch.event", *WORKER_SPANS]:
        assert by_name[name]["parent_span_id"] == publish["span_id"], name
    assert by_name["dispatch.launch"]["parent_span_id"] == by_name["dispatch.event"]["span_id"]
    assert by_name["worker.generate"]["attributes"]["soul.job_ids"] == [miss.json()["task_id"]]
    for earlier, later in [*itertools.pairwise(API_SPANS), *itertools.pairwise(WORKER_SPANS)]:
        assert by_name[earlier]["start_ns"] <= by_name[later]["start_ns"], (earlier, later)
    assert publish["start_ns"] <= by_name["dispatch.event"]["start_ns"]
    assert publish["start_ns"] <= by_name["worker.claim"]["start_ns"]
    queued = [line for line in _lines(logs / "api.log") if line.get("message") == "job queued"]
    trace_field = f"projects/soul-local/traces/{TRACE_ID}"
    assert any(line.get("logging.googleapis.com/trace") == trace_field for line in queued), queued[-3:]


def _lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for text in path.read_text(errors="replace").splitlines():
        if text.startswith("{"):
            with contextlib.suppress(ValueError):
                out.append(json.loads(text))
    return out


def _until_spans(logs: Path, wanted: dict[str, list[str]], timeout: float = 60) -> list[dict[str, Any]]:
    """The trace's span lines once every process's log holds the spans `wanted` of it (a span's line is
    written as it ends, which may be just after the state the client saw)."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, list[dict[str, Any]]] = {}
        for pattern in wanted:
            lines = [line for path in logs.glob(f"{pattern}.log") for line in _lines(path)]
            found[pattern] = [line for line in lines if line.get("trace_id") == TRACE_ID and "span" in line]
        missing = {p: set(names) - {s["span"] for s in found[p]} for p, names in wanted.items()}
        if not any(missing.values()):
            return [span for spans in found.values() for span in spans]
        assert time.monotonic() < deadline, f"spans of trace {TRACE_ID} missing from the logs: {missing}"
        time.sleep(0.2)


def _until_done(rehearsal: dict[str, Any], task_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """Poll a task; while it is queued, do what Cloud Scheduler does every period (run reconcile, which
    launches for queued work): the scenario's canceled video may hold the lane's dispatch slot for
    this interval, so the job's own event may have launched nothing."""
    schedule = _schedule(rehearsal)
    for _ in range(12):
        with contextlib.suppress(TimeoutError):
            return _poll(rehearsal["url"], task_id, headers, {"succeeded", "failed", "canceled"}, timeout=10)
        assert httpx.post(schedule, timeout=10).status_code == 200
    raise TimeoutError(f"task {task_id} still not done")


def _schedule(rehearsal: dict[str, Any]) -> str:
    from infra.rehearse_terraform import Deploy

    schedule = Deploy.load(project_id="soul-local").reconcile_schedule()
    return str(schedule["uri"]).replace("https://run.googleapis.com", _as(rehearsal, schedule["service_account"]))


def _job(name: str) -> str:
    return f"projects/soul-local/locations/us-central1/jobs/{name}"


DISPATCHER = "soul-dispatcher@soul-local.iam.gserviceaccount.com"
OPERATOR = "operator@rehearsal.invalid"  # infra/rehearse.py: the one who applied Terraform, watching


def _as(rehearsal: dict[str, Any], account: str) -> str:
    """The Cloud Run double's endpoint for a caller running as `account` (infra/cloudrun_double.py)."""
    return f"{rehearsal['cloud_run']}/as/{account}"


def _uses(logs: Path, name: str) -> set[tuple[str, str, str]]:
    path = logs / f"access-{name}.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return {(u["api"], u["op"], u["resource"]) for u in map(json.loads, lines)}


def test_the_cloud_run_double_answers_bad_requests_as_the_real_api(rehearsal: dict[str, Any]) -> None:
    from google.api_core import exceptions as gexc
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    def as_account(account: str) -> run_v2.JobsClient:
        options = {"api_endpoint": _as(rehearsal, account)}
        return run_v2.JobsClient(transport="rest", client_options=options, credentials=AnonymousCredentials())

    # IAM first, as Cloud Run: the dispatcher holds no role on an unknown job, the api none on any.
    with pytest.raises(gexc.Forbidden):  # over REST: by HTTP status, 403 PERMISSION_DENIED
        as_account(DISPATCHER).run_job(name=_job("no-such-job"))
    with pytest.raises(gexc.Forbidden):
        as_account("soul-api@soul-local.iam.gserviceaccount.com").run_job(name=_job("soul-worker-gpu"))
    client = as_account(DISPATCHER)
    bad = run_v2.RunJobRequest.Overrides(
        container_overrides=[run_v2.RunJobRequest.Overrides.ContainerOverride(name="sidecar", args=["x"])]
    )
    with pytest.raises(gexc.BadRequest) as refused:  # over REST the client raises by HTTP status: 400
        client.run_job(request=run_v2.RunJobRequest(name=_job("soul-worker-gpu"), overrides=bad))
    assert refused.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"
    negative = run_v2.RunJobRequest.Overrides(task_count=-1)
    with pytest.raises(gexc.BadRequest):
        client.run_job(request=run_v2.RunJobRequest(name=_job("soul-worker-gpu"), overrides=negative))


# ---- IAM from the code --------------------------------------------------------------------------

# What each recorded use needs: (roles that grant it, the resource the grant must be on).
STORAGE_READ = {"roles/storage.objectViewer", "roles/storage.objectUser"}
NEEDS: dict[tuple[str, str], tuple[set[str], str]] = {
    ("firestore", "read"): ({"roles/datastore.user"}, "project"),
    ("firestore", "write"): ({"roles/datastore.user"}, "project"),
    ("firestore", "transaction"): ({"roles/datastore.user"}, "project"),
    ("pubsub", "publish"): ({"roles/pubsub.publisher"}, "topic/{}"),
    ("pubsub", "consume"): ({"roles/pubsub.subscriber"}, "subscription/{}"),
    ("storage", "read"): (STORAGE_READ, "bucket/{}"),
    ("storage", "create"): ({"roles/storage.objectCreator", "roles/storage.objectUser"}, "bucket/{}"),
    ("storage", "delete"): ({"roles/storage.objectUser"}, "bucket/{}"),
    ("iam", "signBlob"): ({"roles/iam.serviceAccountTokenCreator"}, "sa/{}"),
    ("run", "runWithOverrides"): ({"custom:job_launcher"}, "job/{}"),
    # Content safety: these APIs have no resource-level permission; calling one uses the project's service.
    ("language", "moderateText"): ({"roles/serviceusage.serviceUsageConsumer"}, "project"),
    ("vision", "annotate"): ({"roles/serviceusage.serviceUsageConsumer"}, "project"),
}
# Grants the platform uses on the account's behalf, not the code: nothing to record them.
PLATFORM = {
    "roles/eventarc.eventReceiver": "the Eventarc trigger's identity receives the events",
    "roles/run.invoker": "Eventarc pushes to dispatch / Cloud Scheduler starts the reconcile job as it",
    "roles/secretmanager.secretAccessor": "Cloud Run injects DASHSCOPE_API_KEY into the Wan job",
    "bucket/soul-local-soul-models": "Cloud Run mounts the models bucket into the GPU job",
    "roles/cloudbuild.builds.builder": "Cloud Build builds the functions as soul-build (here: a local venv)",
}
# Grants whose use the rehearsal replaces, and where that path is exercised instead.
REPLACED = {
    "roles/cloudtrace.agent": "spans go to each process's log here (SOUL_TRACE_EXPORTER=log, infra/rehearse.py);"
    " the Cloud Trace exporter writes to a local Cloud Trace API in tests/unit/test_tracing_export.py",
    "roles/monitoring.metricWriter": "metrics stay in each process here (SOUL_METRICS_EXPORTER=prometheus,"
    " infra/rehearse.py); the Cloud Monitoring exporter writes to a fake client in tests/unit/test_metrics_export.py",
}
# Grants the scenario does not reach, each with where the path is exercised instead.
NOT_EXERCISED = {
    "soul-worker-wan": "no Wan job in the scenario (no DashScope fake in the rehearsal)",
    "soul-dispatcher job/soul-worker-wan": "no Wan job in the scenario: the wan lane is never launched",
    "soul-worker-gpu subscription/soul-jobs-video": "the video job is canceled while queued: the launcher, which"
    " follows the backlog, may start no video execution for it",
    "soul-reconcile roles/pubsub.publisher": "republishes only lost jobs: tests/integration/test_gcp_reliability.py",
    "soul-reconcile roles/pubsub.subscriber": "drains the dead letters only when there are some",
    "soul-reconcile roles/storage.objectUser": "deletes only orphans (reads are exercised)",
    "soul-reconcile custom:job_launcher": "launches only for a lane with queued jobs: none after the scenario"
    " (tests/contract/test_reconcile_relaunch_contract.py)",
}


def _short(resource: str) -> str:
    return resource.rsplit("/", 1)[-1]


def test_every_google_api_use_has_its_role_and_every_role_a_use(rehearsal: dict[str, Any]) -> None:
    from infra.rehearse_terraform import Deploy, grants

    deploy = Deploy.load(project_id="soul-local")
    assert httpx.post(_schedule(rehearsal), timeout=10).status_code == 200  # what Cloud Scheduler does every period
    _wait_executions_done(_as(rehearsal, OPERATOR), "soul-reconcile")
    granted = grants(deploy)
    accounts = {"api": deploy.functions()["api"]["service_account"]}
    accounts["dispatch"] = deploy.functions()["dispatch"]["service_account"]
    accounts |= {name: job["service_account"] for name, job in deploy.jobs().items()}
    used: set[tuple[str, str, str]] = set()
    for process, account in accounts.items():
        for api, op, resource in _uses(rehearsal["state"] / "logs", process):
            roles, where = NEEDS[(api, op)]
            cover = {(account, r, where.format(_short(resource))) for r in roles} & granted
            assert cover, f"{process} ({account}) calls {api} {op} on {resource}: Terraform grants no role for it"
            used |= cover
    used |= _cloud_run_calls_covered(rehearsal["state"] / "logs", deploy, granted)
    for account, role, resource in granted - used:
        name = account.split("@")[0]
        if role in PLATFORM or resource in PLATFORM or role in REPLACED:
            continue
        if {name, f"{name} {role}", f"{name} {resource}"} & set(NOT_EXERCISED):
            continue
        if name == "soul-scheduler":
            continue  # Cloud Scheduler's own identity: only roles/run.invoker on the reconcile job
        pytest.fail(f"{account} has {role} on {resource}, which no code in the rehearsal used")


def _cloud_run_calls_covered(logs: Path, deploy: Any, granted: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """Every Cloud Run call the double checked (run, list executions, get operation), by caller: each
    must be covered by a role Terraform grants that caller on the job; the grants that cover them."""
    from infra.rehearse_terraform import role_permissions

    permissions = role_permissions(deploy)
    calls = {(c["principal"], c["op"], c["resource"]) for c in map(json.loads, (logs / "access-cloudrun.jsonl").open())}
    assert {op for _, op, _ in calls} >= {"run.jobs.runWithOverrides", "run.operations.get", "run.executions.list"}
    used: set[tuple[str, str, str]] = set()
    for caller, permission, job in calls:
        if caller.startswith("soul-api@") or job == "job/no-such-job" or caller == OPERATOR:
            continue  # the refusals the bad-requests test asks for, and this test watching executions
        cover = {
            (a, r, j) for a, r, j in granted if (a, j) == (caller, job) and permission in permissions.get(r, set())
        }
        assert cover, f"{caller} calls Cloud Run {permission} on {job}: Terraform grants no role for it"
        used |= cover
    return used


def _wait_executions_done(cloud_run: str, job: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executions = httpx.get(f"{cloud_run}/v2/{_job(job)}/executions").json()["executions"]
        if executions and all(e["runningCount"] == 0 for e in executions):
            assert all(e["failedCount"] == 0 for e in executions), executions
            return
        time.sleep(0.5)
    raise TimeoutError(f"{job} executions still running")
