"""Cloud Trace: the span exporter of the deployed services (SOUL_TRACE_EXPORTER=cloud_trace).

The official `opentelemetry-exporter-gcp-trace` exporter, writing with `BatchWriteSpans` to the project
the service runs in (the caller needs `cloudtrace.traces.patch`: roles/cloudtrace.agent, which
Terraform grants each deployable's account). Its gRPC client is built with the provider (the composition
root's first use, never at import) from Application Default Credentials; tests pass a client on a local
endpoint.
"""

from __future__ import annotations

from typing import Any

from google.auth.exceptions import DefaultCredentialsError
from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter
from opentelemetry.sdk.trace.export import SpanExporter

from shared.errors import NotConfigured


def cloud_trace_exporter(project: str, client: Any = None) -> SpanExporter:
    """Cloud Trace's exporter for `project` (its default client, Google's endpoint, unless `client`);
    NotConfigured without Application Default Credentials."""
    try:
        exporter: SpanExporter = CloudTraceSpanExporter(project_id=project, client=client)  # type: ignore[no-untyped-call]
    except DefaultCredentialsError as exc:
        raise NotConfigured(
            f"Cloud Trace needs Application Default Credentials: {exc}", code="trace_credentials"
        ) from exc
    return exporter
