"""What would stop the first `terraform apply` in a new project, or be wrong on its first day (issue 24),
checked offline on the deploy files (no terraform providers can be downloaded here: python-hcl2 reads
the HCL, as in test_terraform.py). docs/DEPLOY.md, "First apply in a new project", has the steps a
file cannot check.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from infra.rehearse_terraform import parsed

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
ENV = TERRAFORM / "envs" / "dev"


def _blocks(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for block in parsed(path).get(kind, []) for name, body in block.items()}


def _resources(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for block in parsed(path).get("resource", []) for name, body in block.get(kind, {}).items()}


def _first(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body[key]
    return value[0] if isinstance(value, list) else value  # type: ignore[no-any-return]


def _module(name: str) -> dict[str, Any]:
    return _blocks(ENV / "main.tf", "module")[name]


def test_compute_api_is_enabled() -> None:
    services = _blocks(TERRAFORM / "modules" / "project_services" / "main.tf", "variable")["services"]["default"]
    assert "compute.googleapis.com" in services


def test_functions_build_as_their_own_account_with_the_builder_role() -> None:
    path = TERRAFORM / "modules" / "functions" / "main.tf"
    for name, function in _resources(path, "google_cloudfunctions2_function").items():
        assert _first(function, "build_config")["service_account"] == "${var.build_service_account}", name
    assert _module("functions")["build_service_account"] == '${module.accounts.ids["soul-build"]}'
    accounts = _module("accounts")
    assert "soul-build" in accounts["accounts"]
    assert accounts["project_roles"]["soul-build"] == ["roles/cloudbuild.builds.builder"]


def test_service_agents_exist_and_iam_has_seen_them_before_the_trigger_and_the_agent_grants() -> None:
    path = TERRAFORM / "modules" / "service_agents" / "main.tf"
    identity = _resources(path, "google_project_service_identity")["this"]
    assert identity["provider"] in {"google-beta", "${google-beta}"}, "google_project_service_identity is beta-only"
    services = _blocks(path, "variable")["services"]["default"]
    assert {"eventarc.googleapis.com", "pubsub.googleapis.com"} <= set(services)
    wait = _resources(path, "time_sleep")["propagation"]
    assert "google_project_service_identity.this" in str(wait["depends_on"])
    assert wait["create_duration"] == "${var.propagation}"
    assert re.fullmatch(r"\d+s", _blocks(path, "variable")["propagation"]["default"])
    output = _blocks(path, "output")["members"]
    assert output["depends_on"] == ["${time_sleep.propagation}"], "members only after the wait"
    # The Eventarc trigger lives in the functions module, the Pub/Sub agent's grants in the pubsub one.
    for user in ("functions", "pubsub"):
        assert "${module.service_agents}" in _module(user)["depends_on"], user
    assert "${module.services}" in _module("service_agents")["depends_on"]
    required = parsed(ENV / "versions.tf")["terraform"][0]["required_providers"][0]
    assert {"google", "google-beta", "time"} <= set(required)
    assert "google-beta" in _blocks(ENV / "versions.tf", "provider")


def test_the_launcher_role_can_read_the_run_operation_it_polls() -> None:
    launcher = (ROOT / "shared" / "adapters" / "gcp_run.py").read_text()
    assert "operation.done()" in launcher, "the launcher polls run_job's operation (GetOperation)"
    role = _resources(ENV / "main.tf", "google_project_iam_custom_role")["job_launcher"]
    assert "run.operations.get" in role["permissions"]


# ---- Cloud Build applies the operator's settings ------------------------------------------------

BUILD_OWNS = {"project_id", "region", "gpu_image_tag", "cpu_image_tag"}  # the build's project, region, commit


def _cloudbuild() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())  # type: ignore[no-any-return]


def test_cloud_build_applies_the_operators_tfvars_and_pins_nothing_itself() -> None:
    build = _cloudbuild()
    steps = {step["id"]: step for step in build["steps"]}
    passed = {re.match(r"-var=(\w+)=", a).group(1) for a in steps["deploy"]["args"] if a.startswith("-var=")}  # type: ignore[union-attr]
    assert passed <= BUILD_OWNS, f"operator settings passed by the build revert on every deploy: {passed - BUILD_OWNS}"
    assert not any("-var-file" in a for a in steps["deploy"]["args"]), "terraform.tfvars is loaded by name"
    assert not any("DASHSCOPE" in name or "SECRET" in name for name in build["substitutions"]), "no pinned secret"
    fetch = steps["operator-vars"]
    assert fetch["args"][-1] == "terraform/envs/dev/terraform.tfvars"
    assert fetch["args"][-2].startswith("gs://${_TF_STATE_BUCKET}/")
    assert "operator-vars" in steps["terraform-init"]["waitFor"] and steps["deploy"]["waitFor"] == ["terraform-init"]


def test_the_example_tfvars_names_every_variable_and_sets_the_required_ones() -> None:
    variables = _blocks(ENV / "variables.tf", "variable")
    example = (ENV / "terraform.tfvars.example").read_text()
    named = set(re.findall(r"^#? ?(\w+)\s+=", example, re.M))
    assert set(variables) <= named, f"not in terraform.tfvars.example: {sorted(set(variables) - named)}"
    set_ = set(re.findall(r"^(\w+)\s+=", example, re.M))
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= set_, f"required but commented out: {sorted(required - set_)}"


# ---- the functions' dependencies are pinned -----------------------------------------------------


def _functions_requirements() -> list[Any]:
    """pyproject's requirements of `.[functions]`, self-references (soul[gcp], ...) expanded."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found, todo, seen = [Requirement(r) for r in project["dependencies"]], ["functions"], set()
    while todo:
        extra = todo.pop()
        seen.add(extra)
        for raw in project["optional-dependencies"][extra]:
            req = Requirement(raw)
            if req.name == "soul":
                todo += [e for e in req.extras if e not in seen]
            else:
                found.append(req)
    return found


def test_the_functions_zip_installs_exact_versions_that_satisfy_pyproject() -> None:
    from packaging.utils import canonicalize_name

    from infra.docker.functions_source import LOCK, requirements

    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    for req in _functions_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned: python infra/docker/functions_source.py --lock"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} breaks '{req}'"
    assert not {"torch", "diffusers", "transformers"} & set(pins)
    assert requirements().splitlines()[-1] == ".[functions]"


def test_big_images_are_cleaned_up_and_the_deploy_waits_for_the_state_lock() -> None:
    repo = _resources(ENV / "main.tf", "google_artifact_registry_repository")["images"]
    assert repo["cleanup_policy_dry_run"] is False
    policies = {p["id"]: p for p in repo["cleanup_policies"]}
    assert _first(policies["keep-recent"], "most_recent_versions")["keep_count"] >= 2, "the deployed one + a rollback"
    assert {p["action"] for p in policies.values()} == {"KEEP", "DELETE"}
    deploy = next(s for s in _cloudbuild()["steps"] if s["id"] == "deploy")
    assert any(a.startswith("-lock-timeout=") for a in deploy["args"])
