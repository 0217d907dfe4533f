"""Alerts, SLOs, dashboard and budget as code (issue 26 part 3), read from the HCL (python-hcl2, no terraform).

Each alert the issue names exists and watches a real metric type with the right resource: Pub/Sub's own
subscription metrics for the dead letters and each lane's oldest job, Cloud Run's request count for the
api's 5xx ratio and its job executions for GPU failures. Soul's own metrics are named in Terraform as
workload.googleapis.com/<instrument>: every such name, label and label value must be one the code
exports (shared/metrics.py), so renaming an instrument fails here instead of silencing an alert. Every
alert links to a runbook section of docs/OPERATIONS.md that exists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from infra.rehearse_terraform import blocks, parsed, resources
from shared import prices
from shared.config import LANES, Settings
from shared.metrics import BY_NAME, CATALOGUE, JOB_OUTCOMES, REQUEST_OUTCOMES, SECONDS_BUCKETS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "terraform" / "modules" / "monitoring"
ENV = ROOT / "terraform" / "envs" / "dev"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
CUSTOM = re.compile(r'metric\.type = "\$\{local\.workload\}/(\w+)"')
LABEL = re.compile(r'metric\.labels\.(\w+) = (?:"([^"]*)"|one_of\(([^)]*)\))')
LABEL_VALUES = {"outcome": {*REQUEST_OUTCOMES, *JOB_OUTCOMES, "asked", "refused"}, "kind": {"image", "selfie", "svd"}}


def clean(text: str) -> str:
    return text.replace('\\"', '"')


def module_resources(kind: str) -> dict[str, Any]:
    """`kind` resources across the module's files."""
    return {name: body for path in sorted(MODULE.glob("*.tf")) for name, body in resources(path, kind).items()}


def policies() -> dict[str, Any]:
    return module_resources("google_monitoring_alert_policy")


def filters(policy: dict[str, Any]) -> list[str]:
    return [clean(c["condition_threshold"][0]["filter"]) for c in policy["conditions"]]


def monitoring_module() -> dict[str, Any]:
    return blocks(ENV / "main.tf", "module")["monitoring"]  # type: ignore[no-any-return]


def every_filter() -> list[str]:
    """Every filter string in the module: alert conditions, SLOs, dashboard tiles."""
    found = [f for p in policies().values() for f in filters(p)]
    found += [
        clean(c["denominator_filter"]) for p in policies().values() for c in _thresholds(p) if "denominator_filter" in c
    ]
    for slo in module_resources("google_monitoring_slo").values():
        sli = slo["request_based_sli"][0]
        for cut in sli.get("distribution_cut", []):
            found.append(clean(cut["distribution_filter"]))
        for ratio in sli.get("good_total_ratio", []):
            found += [clean(v) for v in ratio.values()]
    dashboard = parsed(MODULE / "dashboard.tf")["locals"][0]
    found += [clean(tile[1]) for tile in dashboard["tiles"]]
    found += [clean(f) for tile in dashboard["ratio_tiles"] for f in tile[1:]]
    return found


def _thresholds(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [c["condition_threshold"][0] for c in policy["conditions"]]


def test_dead_letter_backlog_watches_the_dead_letter_subscription() -> None:
    (backlog, forwarded) = filters(policies()["dead_letters"])
    assert 'metric.type = "pubsub.googleapis.com/subscription/num_undelivered_messages"' in backlog
    assert 'resource.labels.subscription_id = "${var.dead_letter_subscription}"' in backlog
    assert 'metric.type = "pubsub.googleapis.com/subscription/dead_letter_message_count"' in forwarded
    # the subscription named is the one modules/pubsub makes on the dead-letter topic
    made = resources(ROOT / "terraform/modules/pubsub/main.tf", "google_pubsub_subscription")["dead_letter"]["name"]
    assert made == "${var.dead_letter_topic}-sub"
    assert monitoring_module()["dead_letter_subscription"] == "${local.names.dead_letter_topic}-sub"
    assert _thresholds(policies()["dead_letters"])[0]["threshold_value"] == 0


def test_oldest_job_age_has_a_target_for_every_lane_on_its_subscription() -> None:
    policy = policies()["oldest_job_age"]
    assert policy["for_each"] == "${var.lane_age_targets}"
    (age,) = filters(policy)
    assert 'metric.type = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"' in age
    assert 'resource.labels.subscription_id = "${var.subscription_prefix}-${each.key}"' in age
    assert Settings().subscription("image") == f"{Settings().pubsub_subscription_prefix}-image"
    targets = blocks(ENV / "variables.tf", "variable")["lane_age_targets"]["default"]
    assert set(targets) == set(LANES) and all(t > 0 for t in targets.values())


def test_api_5xx_ratio_divides_cloud_runs_5xx_by_all_requests_of_the_api() -> None:
    (condition,) = _thresholds(policies()["api_5xx_ratio"])
    service = 'resource.labels.service_name = "${var.api_service}"'
    assert 'metric.type = "run.googleapis.com/request_count"' in clean(condition["filter"])
    assert 'metric.labels.response_code_class = "5xx"' in clean(condition["filter"]) and service in clean(
        condition["filter"]
    )
    assert "response_code_class" not in clean(condition["denominator_filter"]) and service in clean(
        condition["denominator_filter"]
    )
    api = resources(ROOT / "terraform/modules/functions/main.tf", "google_cloudfunctions2_function")["api"]
    assert (
        monitoring_module()["api_service"] == api["name"]
    )  # a gen2 function serves as the Cloud Run service of its name


def test_launch_refusals_and_gpu_failures() -> None:
    (refused,) = filters(policies()["launch_refusals"])
    assert 'metric.labels.outcome = "refused"' in refused and "/soul_launches" in refused
    ours, executions = filters(policies()["gpu_job_failures"])
    assert "/soul_jobs" in ours and 'metric.labels.outcome = "failed"' in ours
    assert 'metric.type = "run.googleapis.com/job/completed_execution_count"' in executions
    assert 'resource.labels.job_name = "${var.gpu_job}"' in executions
    assert monitoring_module()["gpu_job"] == "${module.worker_gpu.name}"


def test_daily_spend_alert_and_a_billing_budget_on_the_notification_channel() -> None:
    (spend,) = _thresholds(policies()["daily_spend"])
    assert "/soul_cost_usd" in clean(spend["filter"]) and spend["threshold_value"] == "${var.daily_budget_usd}"
    assert spend["aggregations"][0]["alignment_period"] == "86400s"
    budget = module_resources("google_billing_budget")["soul"]
    assert budget["all_updates_rule"][0]["monitoring_notification_channels"] == "${local.channels}"
    channels = parsed(MODULE / "main.tf")["locals"][0]["channels"]
    assert "var.notification_channel" in channels
    assert monitoring_module()["notification_channel"] == "${var.notification_channel}"
    assert all(p["notification_channels"] == "${local.channels}" for p in policies().values())


def test_slos_for_hit_latency_and_job_success_on_a_custom_service() -> None:
    slos = module_resources("google_monitoring_slo")
    assert {s["service"] for s in slos.values()} == {"${google_monitoring_custom_service.soul.service_id}"}
    cut = slos["hit_latency"]["request_based_sli"][0]["distribution_cut"][0]
    assert 'metric.labels.outcome = "hit"' in clean(cut["distribution_filter"])
    assert monitoring_module()["hit_latency_seconds"] in SECONDS_BUCKETS  # the cut falls on a bucket bound
    ratio = slos["job_success"]["request_based_sli"][0]["good_total_ratio"][0]
    assert 'outcome = "succeeded"' in clean(ratio["good_service_filter"])
    assert 'outcome = "failed"' in clean(ratio["bad_service_filter"])


def test_custom_metric_names_labels_and_values_are_the_ones_the_code_exports() -> None:
    """Drift: an instrument renamed in shared/metrics.py, or a label it lost, fails here."""
    named = set()
    for text in every_filter():
        for name in CUSTOM.findall(text):
            assert name in BY_NAME, f"{name} is not an instrument of shared/metrics.py: {text}"
            named.add(name)
            for label, value, choices in LABEL.findall(text):
                assert label in BY_NAME[name].labels, f"{name} has no label {label}"
                values = {value} if value else {v.strip().strip('"') for v in choices.split(",")}
                assert values <= LABEL_VALUES.get(label, values), f"{name}: {label} never takes {values}"
    # the dashboard shows every instrument but the local queue gauges (Pub/Sub's own metrics stand in)
    assert named == {i.name for i in CATALOGUE} - {"soul_queue_depth", "soul_queue_oldest_age"}


def test_every_alert_links_a_runbook_section_that_exists() -> None:
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for name, policy in policies().items():
        anchor = re.search(r"docs/OPERATIONS\.md#([\w-]+)", policy["documentation"][0]["content"])
        assert anchor and anchor.group(1) in headings, f"{name}: no runbook section {anchor}"


def test_deployables_that_record_metrics_may_write_them() -> None:
    roles = blocks(ENV / "main.tf", "module")["accounts"]["project_roles"]
    writers = {account for account, granted in roles.items() if "roles/monitoring.metricWriter" in granted}
    assert writers == {"soul-api", "soul-dispatcher", "soul-worker-gpu", "soul-worker-wan"}
    services = blocks(ROOT / "terraform/modules/project_services/main.tf", "variable")["services"]["default"]
    assert {"monitoring.googleapis.com", "billingbudgets.googleapis.com"} <= set(services)


def test_cost_table_instance_shapes_are_the_worker_jobs_terraform_declares() -> None:
    mods = blocks(ENV / "main.tf", "module")
    for mod, shape in (("worker_gpu", prices.GPU_WORKER), ("worker_wan", prices.WAN_WORKER)):
        assert float(mods[mod]["cpu"]) == shape["vcpu"]
        assert float(mods[mod]["memory"].removesuffix("Gi")) == shape["gib"]
    assert all(p.source and p.usd > 0 for p in prices.PRICES.values())
