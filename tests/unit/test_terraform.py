"""Offline checks of what Soul deploys: Terraform, Dockerfiles, the functions zip and cloudbuild.yaml.

No terraform binary and no network: the HCL is parsed with python-hcl2 and the resources' settings
that matter for correctness (GPU shape, dead-lettering, private bucket, least privilege, pinned
secrets) are asserted on the parsed blocks. Name consistency with the code lives in
test_deploy_consistency.py; checkov runs separately (infra/checkov.sh).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.rehearse_terraform import parsed

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
ENV = TERRAFORM / "envs" / "dev"
DOCKER = ROOT / "infra" / "docker"


def tf_files() -> list[Path]:
    return sorted(TERRAFORM.rglob("*.tf"))


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """Every `resource "<kind>" "<name>"` in the tree, keyed by '<module dir>/<name>'."""
    found: dict[str, dict[str, Any]] = {}
    for path in tf_files():
        for block in parsed(path).get("resource", []):
            for name, body in block.get(kind, {}).items():
                found[f"{path.parent.name}/{name}"] = body
    return found


def one(kind: str, name: str) -> dict[str, Any]:
    return resources(kind)[name]


def block(body: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested block (hcl2 gives a list of one dict)."""
    value = body[key]
    return value[0] if isinstance(value, list) else value  # type: ignore[no-any-return]


def env_module(name: str) -> dict[str, Any]:
    for mod in parsed(ENV / "main.tf")["module"]:
        if name in mod:
            return mod[name]  # type: ignore[no-any-return]
    raise KeyError(name)


# ---- the HCL itself ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_tf_file_parses(path: Path) -> None:
    assert isinstance(parsed(path), dict)


def test_there_are_modules_and_one_example_environment() -> None:
    modules = {p.name for p in (TERRAFORM / "modules").iterdir() if p.is_dir()}
    assert {"firestore", "storage", "pubsub", "functions", "worker_jobs", "secret", "service_accounts"} <= modules
    assert sorted(p.name for p in (TERRAFORM / "envs").iterdir() if p.is_dir()) == ["dev"]
    used = {Path(mod[next(iter(mod))]["source"]).name for mod in parsed(ENV / "main.tf")["module"]}
    assert used == modules, "every module is used by the example environment"


def test_variables_cover_project_region_and_image_tags_and_output_the_api_url() -> None:
    variables = {name for block_ in parsed(ENV / "variables.tf")["variable"] for name in block_}
    assert {"project_id", "region", "gpu_image_tag", "cpu_image_tag"} <= variables
    outputs = {name: body for block_ in parsed(ENV / "outputs.tf")["output"] for name, body in block_.items()}
    assert outputs["api_url"]["value"] == "${module.functions.api_url}"


def test_checkov_skips_carry_a_reason() -> None:
    for path in tf_files():
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_[A-Z]+_\d+:\S.{15,}", line), f"{path}: {line.strip()}"


# ---- resources that carry the design's guarantees -----------------------------------------------


def test_bucket_is_private_uniform_unversioned_and_expires_artifacts() -> None:
    bucket = one("google_storage_bucket", "storage/artifacts")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert block(bucket, "versioning")["enabled"] is False
    actions = [block(rule, "action")["type"] for rule in bucket["lifecycle_rule"]]
    assert "Delete" in actions
    grants = resources("google_storage_bucket_iam_member")
    allowed = {"roles/storage.objectViewer", "roles/storage.objectCreator", "roles/storage.objectUser"}
    assert {g["role"] for g in grants.values()} <= allowed
    assert env_module("artifacts")["deleters"] == ['${module.accounts.members["soul-reconcile"]}'], "only reconcile"


def test_gpu_job_has_an_l4_and_the_minimum_cpu_and_memory() -> None:
    job = one("google_cloud_run_v2_job", "worker_jobs/this")
    task = block(block(job, "template"), "template")
    assert task["timeout"] == "${var.task_timeout}"
    assert task["max_retries"] == "${var.max_retries}"
    assert "nvidia-l4" in str(task["dynamic"]), "GPU jobs select the L4"
    limits = str(block(task, "containers")["resources"])
    assert "nvidia.com/gpu" in limits
    gpu = env_module("worker_gpu")
    assert gpu["gpu"] is True and int(gpu["cpu"]) >= 4 and gpu["memory"] in {"16Gi", "24Gi", "32Gi"}
    assert int(gpu["max_retries"]) <= 10
    wan = env_module("worker_wan")
    assert wan.get("gpu", False) is False


def test_worker_commands_exit_when_idle_and_cover_the_lanes_once() -> None:
    """Parsed by the real CLI parser: a bare --exit-when-idle once made argparse exit 2 on every start."""
    from infra.cli import IDLE_FROM_SETTINGS, cmd_worker, parser
    from infra.rehearse_terraform import Deploy

    jobs = Deploy.load(project_id="p").jobs()
    lanes = []
    for name in ("soul-worker-gpu", "soul-worker-wan"):
        assert jobs[name]["command"] == ["soul"]
        args = parser().parse_args(jobs[name]["args"])
        assert args.fn is cmd_worker and args.exit_when_idle == IDLE_FROM_SETTINGS
        lanes += args.lanes.split(",")
    assert sorted(lanes) == ["image", "video", "wan"]


def test_reconcile_is_scheduled_within_the_lease() -> None:
    """A lost publish is republished within 2 x lease: the reconcile period is at most one lease."""
    from infra.cli import cmd_reconcile, parser
    from infra.rehearse_terraform import Deploy
    from shared.config import Settings

    deploy = Deploy.load(project_id="p")
    schedule = deploy.reconcile_schedule()
    assert schedule["period_seconds"] <= Settings().soul_lease_seconds
    job = deploy.jobs()[schedule["job"]]
    assert parser().parse_args(job["args"]).fn is cmd_reconcile
    scheduler = one("google_cloud_scheduler_job", "dev/reconcile")
    assert "soul-scheduler" in block(block(scheduler, "http_target"), "oauth_token")["service_account_email"]


def test_lane_subscriptions_dead_letter_with_backoff_and_exactly_once() -> None:
    sub = one("google_pubsub_subscription", "pubsub/lane")
    assert block(sub, "dead_letter_policy")["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    assert block(sub, "dead_letter_policy")["dead_letter_topic"] == "${google_pubsub_topic.dead_letter.id}"
    retry = block(sub, "retry_policy")
    assert retry["minimum_backoff"] and retry["maximum_backoff"]
    assert sub["enable_exactly_once_delivery"] is True
    assert sub["ack_deadline_seconds"] == "${var.ack_deadline_seconds}"
    assert re.fullmatch(r'attributes\.lane = \\?"\$\{each\.key\}\\?"', sub["filter"]), sub["filter"]


def test_pubsub_service_agent_can_dead_letter() -> None:
    topic_grants = resources("google_pubsub_topic_iam_member")
    sub_grants = resources("google_pubsub_subscription_iam_member")
    agent = "${local.pubsub_agent}"
    assert topic_grants["pubsub/agent_dead_letter_publisher"]["member"] == agent
    assert "dead_letter" in topic_grants["pubsub/agent_dead_letter_publisher"]["topic"]
    assert sub_grants["pubsub/agent_source_subscriber"]["member"] == agent
    assert sub_grants["pubsub/agent_source_subscriber"]["role"] == "roles/pubsub.subscriber"
    main = (TERRAFORM / "modules" / "pubsub" / "main.tf").read_text()
    assert "service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com" in main


def test_roles_are_least_privilege() -> None:
    project_roles = env_module("accounts")["project_roles"]
    granted = {role for roles in project_roles.values() for role in roles}
    assert not granted & {
        "roles/owner",
        "roles/editor",
        "roles/viewer",
        "roles/run.admin",
        "roles/iam.serviceAccountUser",
    }
    # serviceUsageConsumer: Natural Language / Vision calls (content safety) need serviceusage.services.use.
    # cloudtrace.agent (cloudtrace.traces.patch): every deployable writes its spans (SOUL_TRACE_EXPORTER).
    # monitoring.metricWriter: the deployables that record metrics write them (SOUL_METRICS_EXPORTER).
    assert project_roles["soul-api"] == [
        "roles/datastore.user",
        "roles/serviceusage.serviceUsageConsumer",
        "roles/cloudtrace.agent",
        "roles/monitoring.metricWriter",
    ]
    # The dispatcher writes dispatch/* and dispatch_stats/* (its launch slots and counters).
    assert project_roles["soul-dispatcher"] == [
        "roles/datastore.user",
        "roles/eventarc.eventReceiver",
        "roles/cloudtrace.agent",
        "roles/monitoring.metricWriter",
    ]
    for deployable in ("soul-worker-gpu", "soul-worker-wan", "soul-reconcile"):
        assert "roles/cloudtrace.agent" in project_roles[deployable], deployable
    # The secret: only the Wan worker reads it.
    assert env_module("dashscope_key")["accessors"] == ['${module.accounts.members["soul-worker-wan"]}']
    # The dispatcher runs jobs through a role with exactly the run-with-overrides permissions.
    role = one("google_project_iam_custom_role", "dev/job_launcher")
    assert set(role["permissions"]) == {
        "run.jobs.run",
        "run.jobs.runWithOverrides",
        "run.jobs.get",
        "run.executions.get",
        "run.executions.list",
        "run.operations.get",  # operation.done() on run_job's operation
    }
    # The api signs URLs as itself, and nobody else may.
    sign = one("google_service_account_iam_member", "dev/api_signs_as_itself")
    assert sign["role"] == "roles/iam.serviceAccountTokenCreator"
    assert "soul-api" in sign["service_account_id"] and "soul-api" in sign["member"]


def test_secret_versions_are_pinned() -> None:
    secret_env = parsed(ENV / "main.tf")["locals"][0]["wan_secret_env"]["DASHSCOPE_API_KEY"]
    assert secret_env["version"] == "${var.dashscope_secret_version}"
    variables = {
        k: v for b in parsed(TERRAFORM / "modules" / "worker_jobs" / "main.tf")["variable"] for k, v in b.items()
    }
    assert "validation" in variables["secret_env"], "the module refuses unpinned versions"
    assert "latest" not in (ENV / "terraform.tfvars.example").read_text()


def test_functions_are_gen2_python311_with_entry_points_that_exist() -> None:
    functions = resources("google_cloudfunctions2_function")
    main = ast.parse((ROOT / "functions" / "main.py").read_text())
    defined = {node.name for node in main.body if isinstance(node, ast.FunctionDef)}
    for name in ("api", "dispatch"):
        build = block(functions[f"functions/{name}"], "build_config")
        assert build["runtime"] == "python311"
        assert build["entry_point"] in defined
    trigger = block(functions["functions/dispatch"], "event_trigger")
    assert trigger["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"


# ---- images and the functions zip --------------------------------------------------------------


def _extras_closure(extras: set[str]) -> set[str]:
    """Requirement names `soul[<extras>]` installs (self-references like soul[functions] expanded)."""
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names: set[str] = set()
    todo = list(extras)
    while todo:
        for req in optional[todo.pop()]:
            match = re.match(r"soul\[([^\]]+)\]", req)
            if match:
                todo += match.group(1).split(",")
            else:
                names.add(re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].lower())
    return names


def test_functions_zip_installs_the_functions_extra_without_torch(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("functions_source", DOCKER / "functions_source.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.build(tmp_path / "src.zip")
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        lines = zf.read("requirements.txt").decode().splitlines()
        assert lines[-1] == ".[functions]" and all("==" in x or x.startswith("#") for x in lines[:-1]), "pinned"
    assert {"functions/main.py", "pyproject.toml", "README.md"} <= names
    assert not any(n.startswith(("gpu_jobs/", "tests/", ".venv/")) for n in names)
    assert not _extras_closure({"functions"}) & {"torch", "diffusers", "transformers", "accelerate"}
    first = (tmp_path / "src.zip").read_bytes()
    assert module.build(tmp_path / "again.zip").read_bytes() == first, "same tree, same zip: no spurious redeploy"


def _stage(dockerfile: str, target: str) -> str:
    text = (DOCKER / dockerfile).read_text()
    match = re.search(rf"^FROM .* AS {target}\n(.*?)(?=^FROM |\Z)", text, re.M | re.S)
    assert match, f"{dockerfile} has a stage {target}"
    return match.group(0)


def test_gpu_image_is_cuda_with_a_cuda_torch_and_offline_weights() -> None:
    stage = _stage("worker.Dockerfile", "gpu")
    text = (DOCKER / "worker.Dockerfile").read_text()
    assert re.search(r"ARG CUDA_IMAGE=nvidia/cuda:12\.\d+(\.\d+)?-", text), "CUDA 12.x base (the L4 driver is 12.x)"
    assert re.search(r"ARG TORCH_INDEX=https://download\.pytorch\.org/whl/cu12\d", text)
    assert 'pip install ".[gpu,worker]"' in stage
    assert "HF_HUB_OFFLINE=1" in stage, "weights are mounted or baked, never fetched"
    assert "torch.version.cuda" in stage


def test_cpu_image_carries_no_torch() -> None:
    stage = _stage("worker.Dockerfile", "cpu")
    extras = re.search(r'pip install "\.\[([^\]]+)\]"', stage)
    assert extras
    assert "torch" not in _extras_closure(set(extras.group(1).split(",")))


def test_worker_images_can_talk_to_google_cloud() -> None:
    """The workers run the gcp backend: their extras must bring the Firestore, Pub/Sub and GCS clients."""
    needed = {"google-cloud-firestore", "google-cloud-pubsub", "google-cloud-storage"}
    for target in ("gpu", "cpu"):
        extras = re.search(r'pip install "\.\[([^\]]+)\]"', _stage("worker.Dockerfile", target))
        assert extras
        missing = needed - _extras_closure(set(extras.group(1).split(",")))
        assert not missing, f"worker-{target} image lacks {sorted(missing)}"


# ---- cloudbuild ---------------------------------------------------------------------------------


def _cloudbuild() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())  # type: ignore[no-any-return]


def test_cloudbuild_installs_once_tests_builds_pushes_deploys_then_seeds() -> None:
    steps = _cloudbuild()["steps"]
    ids = [step["id"] for step in steps]
    commands = {step["id"]: " ".join(step.get("args", [])) for step in steps}
    assert ids[:2] == ["install", "test"] and ids[-2:] == ["deploy", "seed"]
    installs = [sid for sid, cmd in commands.items() if re.search(r"pip install|\.test-installed", cmd)]
    assert installs == ["install"], "one install step; parallel installs into one .venv race"
    assert "make test" in commands["test"]
    for target in ("gpu", "cpu"):
        assert f"--target {target}" in commands[f"build-worker-{target}"]
        assert commands[f"push-worker-{target}"].startswith("push ")
    assert "infra/docker/functions_source.py" in commands["functions-source"]
    assert "apply" in commands["deploy"] and "-chdir=terraform/envs/dev" in commands["deploy"]
    assert commands["seed"].endswith("soul seed") and "SOUL_BACKEND=gcp" in steps[-1]["env"]
    for step in steps:  # nothing hidden: each bash step is one short command line
        if step.get("entrypoint") == "bash":
            assert len(step["args"][-1]) < 120


# What the local run executes of cloudbuild.yaml, and how. Everything else needs docker, a registry,
# Terraform state or a deployed project and is not run here (CLOUD_ONLY).
CLOUD_ONLY = {
    "build-worker-gpu",
    "build-worker-cpu",
    "push-worker-gpu",
    "push-worker-cpu",
    "operator-vars",
    "terraform-init",
    "deploy",
}
# install: this machine's .venv was made by the same make target (`make setup-test`); rerunning it
# would reinstall nothing. test: the full gate is `make test` (minutes), so the local run makes the
# same step run only pytest on a selection that includes emulator tests, which must skip with the
# reason. seed: against a throwaway local store instead of the deployed project.
LOCAL_REWRITES = {
    "install": None,
    "test": (
        "make test",
        "make pytest PYTEST_ARGS='-q -p no:cacheprovider tests/contract/test_launcher_contract.py -rs'",
    ),
    "seed": (".venv/bin/soul seed", ".venv/bin/soul seed"),
}


HIDDEN = {"java", "gcloud", "gcloud-crc32c"}


def _hidden_emulators_path(shims: Path) -> str:
    """A PATH of links to every command on this PATH except Java and the Cloud SDK."""
    shims.mkdir()
    for part in [str(ROOT / ".venv" / "bin"), *os.environ.get("PATH", "").split(os.pathsep)]:
        for tool in Path(part).iterdir() if Path(part).is_dir() else []:
            link = shims / tool.name
            if tool.name not in HIDDEN and not link.exists() and not link.is_symlink():
                link.symlink_to(tool.resolve())
    return str(shims)


def test_cloudbuild_python_steps_run_in_order_here_without_emulators(tmp_path: Path) -> None:
    steps = _cloudbuild()["steps"]
    assert {s["id"] for s in steps} == CLOUD_ONLY | set(LOCAL_REWRITES) | {"functions-source"}
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env.update(
        PATH=_hidden_emulators_path(tmp_path / "bin"),
        CLOUDSDK_ROOT=str(tmp_path / "no-sdk"),
        SOUL_DATA_DIR=str(tmp_path),
    )
    ran = []
    for step in steps:
        sid = step["id"]
        if sid in CLOUD_ONLY or LOCAL_REWRITES.get(sid, ()) is None:
            continue
        args = [a.replace("build/functions-source.zip", str(tmp_path / "src.zip")) for a in step["args"]]
        if sid in LOCAL_REWRITES:
            old, new = LOCAL_REWRITES[sid]  # type: ignore[misc]
            assert old in args[-1], f"{sid}: cloudbuild.yaml changed; update LOCAL_REWRITES"
            args[-1] = args[-1].replace(old, new)
        argv = [step["entrypoint"], *args] if "entrypoint" in step else args
        step_env = dict(env, **dict(e.split("=", 1) for e in step.get("env", [])))
        if sid == "seed":
            step_env.update(SOUL_BACKEND="local", GOOGLE_CLOUD_PROJECT="soul-local")
        done = subprocess.run(argv, check=False, cwd=ROOT, env=step_env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, f"step {sid} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        ran.append(sid)
        if sid == "test":
            assert "SKIPPED" in done.stdout and "java not found on PATH" in done.stdout, done.stdout[-2000:]
    assert ran == ["test", "functions-source", "seed"]
    assert zipfile.is_zipfile(tmp_path / "src.zip")


def test_api_threads_cover_the_concurrency_and_long_polls_leave_threads_free() -> None:
    """A request the instance accepts always has a thread; long polls never take them all."""
    service = block(one("google_cloudfunctions2_function", "functions/api"), "service_config")
    concurrency = int(service["max_instance_request_concurrency"])
    api_env = parsed(ENV / "main.tf")["locals"][0]["api_env"]
    threads = int(api_env["THREADS"])
    assert threads >= concurrency
    assert 0 < int(api_env["SOUL_MAX_LONG_POLLS"]) < threads
    assert int(api_env["SOUL_MAX_LONG_POLLS_PER_USER"]) <= int(api_env["SOUL_MAX_LONG_POLLS"])
    # The longest wait (60 s, functions/schemas.py Wait) fits inside the request timeout.
    assert int(service["timeout_seconds"]) > 60
