"""The OpenTelemetry SDK behind shared/metrics.py: one MeterProvider per process, two exporters.

- Prometheus text, always: a PrometheusMetricReader on a registry of this provider's own (never the
  prometheus_client global one, so each Metrics is independent), rendered on demand for /metrics.
- Cloud Monitoring, when SOUL_METRICS_EXPORTER=cloud_monitoring: a periodic reader pushing every
  EXPORT_SECONDS to `workload.googleapis.com/<instrument>`, each process's series told apart by the
  exporter's unique identifier label (many instances write the same metric). A Cloud Run job flushes
  before it exits (Metrics.flush).
If the Cloud Monitoring client cannot be built (no credentials), the process serves anyway and says so
once: metrics are never a reason to refuse a request.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.logging import get_logger

log = get_logger("soul.metrics")
EXPORT_SECONDS = 60  # Cloud Monitoring accepts one point per series per 5 s at most; a minute is its norm


@dataclass(frozen=True)
class Exporters:
    meter: Any  # opentelemetry.metrics.Meter
    text: Callable[[], bytes]  # the Prometheus exposition, rendered now
    flush: Callable[[], None]


def exporters(settings: Settings, monitoring_client: Any | None = None) -> Exporters:
    """`monitoring_client`: a MetricServiceClient (tests pass a fake); None builds Google's own."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=True)
    readers: list[Any] = [PrometheusMetricReader(disable_target_info=True, scope_info_enabled=False, registry=registry)]
    resource = Resource.create({"service.name": "soul"})
    if settings.soul_metrics_exporter == "cloud_monitoring":
        pushed = _cloud_reader(settings, monitoring_client)
        if pushed is not None:
            readers.append(pushed[0])
            resource = resource.merge(pushed[1])
    provider = MeterProvider(metric_readers=readers, resource=resource)
    return Exporters(provider.get_meter("soul"), lambda: generate_latest(registry), lambda: _flush(provider))


def _cloud_reader(settings: Settings, client: Any | None) -> tuple[Any, Any] | None:
    from opentelemetry.exporter.cloud_monitoring import CloudMonitoringMetricsExporter
    from opentelemetry.resourcedetector.gcp_resource_detector import GoogleCloudResourceDetector
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    try:
        exporter = CloudMonitoringMetricsExporter(
            project_id=settings.google_cloud_project, client=client, add_unique_identifier=True
        )
    except Exception as exc:  # noqa: BLE001 - google.auth's errors vary; serving must go on without export
        log.error("metrics: Cloud Monitoring export unavailable", extra={"reason": f"{type(exc).__name__}: {exc}"})
        return None
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=EXPORT_SECONDS * 1000)
    # The metadata server answers only on Google Cloud: elsewhere (the rehearsal, tests) no probe is made.
    on_cloud_run = any(os.environ.get(name) for name in ("K_SERVICE", "CLOUD_RUN_JOB"))
    return reader, GoogleCloudResourceDetector(raise_on_error=False).detect() if on_cloud_run else Resource.get_empty()


def _flush(provider: Any) -> None:
    provider.force_flush(timeout_millis=10_000)
