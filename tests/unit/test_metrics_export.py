"""The Cloud Monitoring side of shared/adapters/otel_metrics.py, on a hand-written fake of Google's
MetricServiceClient: what the real exporter writes is workload.googleapis.com/<instrument> with the
instrument's labels (the names Terraform's alerts use), and a process whose exporter cannot be built
(no credentials) still serves its Prometheus text. And the dispatcher's launches and refusals."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from functions.dispatch import handle
from shared.config import Settings
from shared.domain.models import JobMessage
from shared.errors import PermanentError
from shared.metrics import BY_NAME, GeneratorCall, build

pytestmark = pytest.mark.unit


class FakeMetricService:
    """The three calls CloudMonitoringMetricsExporter makes, recorded."""

    def __init__(self) -> None:
        self.descriptors: dict[str, Any] = {}
        self.series: list[Any] = []

    def common_project_path(self, project: str) -> str:
        return f"projects/{project}"

    def create_metric_descriptor(self, request: Any) -> Any:
        self.descriptors[request.metric_descriptor.type] = request.metric_descriptor
        return request.metric_descriptor

    def create_time_series(self, request: Any) -> None:
        self.series.extend(request.time_series)


def test_instruments_reach_cloud_monitoring_under_the_catalogue_names() -> None:
    fake = FakeMetricService()
    metrics = build(Settings(soul_metrics_exporter="cloud_monitoring", google_cloud_project="p"), fake)
    metrics.request("/image", "hit", 0.02)
    metrics.launch("image", "refused")
    metrics.generated(GeneratorCall("image", "image", "sdxl", 4.0, 2, 4))
    metrics.flush()
    assert set(fake.descriptors) == {
        f"workload.googleapis.com/{name}"
        for name in (
            *("soul_requests", "soul_request_duration", "soul_launches"),
            *("soul_generation_seconds", "soul_batch_fill", "soul_cost_usd"),
        )
    }
    by_type = {s.metric.type.removeprefix("workload.googleapis.com/"): s for s in fake.series}
    for name, series in by_type.items():
        labels = set(series.metric.labels) - {"opentelemetry_id"}  # one per process: many instances write
        assert labels == set(BY_NAME[name].labels), name
        assert series.metric.labels["opentelemetry_id"]
    assert dict(by_type["soul_launches"].metric.labels) | {"opentelemetry_id": ""} == {
        "lane": "image",
        "outcome": "refused",
        "opentelemetry_id": "",
    }
    assert by_type["soul_requests"].points[0].value.int64_value == 1
    assert by_type["soul_request_duration"].points[0].value.distribution_value.count == 1


def test_without_credentials_the_process_keeps_its_prometheus_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    metrics = build(Settings(soul_metrics_exporter="cloud_monitoring", google_cloud_project="p"))
    metrics.request("/image", "miss", 0.01)
    metrics.flush()
    text = metrics.prometheus_text()
    assert text is not None and b'soul_requests_total{outcome="miss",route="/image"} 1.0' in text


class Refusing:
    def launch(self, lane: str) -> None:
        raise PermanentError(f"no job for {lane}", code="not_found")


class Launching:
    def launch(self, lane: str) -> None:
        pass


def test_dispatch_counts_launches_and_refusals() -> None:
    metrics = build(Settings())
    data = base64.b64encode(JobMessage(job_id="j1", lane="video").model_dump_json().encode()).decode()
    event = {"message": {"data": data, "attributes": {"lane": "video"}}}
    assert handle(event, Launching, metrics) == "video"
    assert handle(event, Launching, metrics) == "video"
    assert handle(event, Refusing, metrics) is None  # dropped: a retry cannot fix a refusal
    assert handle({"message": {"data": "not base64!"}}, Launching, metrics) is None  # malformed: not a launch
    text = (metrics.prometheus_text() or b"").decode()
    assert 'soul_launches_total{lane="video",outcome="asked"} 2.0' in text
    assert 'soul_launches_total{lane="video",outcome="refused"} 1.0' in text
