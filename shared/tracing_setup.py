"""Where ended spans go: the tracer provider each deployable's composition root builds from Settings
with `setup` (the span and propagation API is shared/tracing.py).

- `log` (local default): `LogSpanExporter`, one JSON line per ended span through shared/logging on the
  `soul.trace` logger (name, trace id, span id, parent span id, kind, start, duration, status, the
  span's attributes), written as each span ends, in that order. The lines go straight to the JSON
  handlers (shared/logging.py `write_entries`): a LogRecord and a formatter pass per span cost about
  120 us, this about 25 us. A background thread (BatchSpanProcessor) measured no better here: on two
  busy cores it contends with the requests for the GIL.
- `cloud_trace` (Terraform sets it): Cloud Trace's exporter behind a BatchSpanProcessor (a background
  thread; the request path only queues the span). Without Application Default Credentials it logs one
  error and exports nothing: telemetry never stops a deployable from serving.
- `off`: no provider at all.
- OTEL_EXPORTER_OTLP_ENDPOINT (any choice but off): also an OTLP/HTTP exporter, batched, to
  `<endpoint>/v1/traces` as the OpenTelemetry specification defines the variable.

Sampling: parent-based: a trace whose incoming `traceparent` says "not sampled" records nothing (its log
lines still carry the trace id); one started here is always sampled.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

from shared import tracing
from shared.errors import NotConfigured
from shared.logging import get_logger, write_entries

if TYPE_CHECKING:
    from shared.config import Settings

log = get_logger("soul.trace")
_lock = threading.Lock()


def setup(settings: Settings, service: str = "soul") -> None:
    """This process's provider, built once (idempotent: a later call changes nothing)."""
    with _lock:
        if not tracing.installed():
            tracing.install(build_provider(settings, service), settings.google_cloud_project)


def build_provider(settings: Settings, service: str = "soul") -> TracerProvider | None:
    """The provider `setup` installs; None when SOUL_TRACE_EXPORTER is off."""
    choice = settings.soul_trace_exporter
    if choice == "off":
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service}), sampler=ParentBased(ALWAYS_ON))
    if choice == "log":
        provider.add_span_processor(SimpleSpanProcessor(LogSpanExporter()))
    else:
        from shared.adapters.gcp_trace import cloud_trace_exporter

        try:
            provider.add_span_processor(BatchSpanProcessor(cloud_trace_exporter(settings.google_cloud_project)))
        except NotConfigured as exc:  # spans keep their ids (log lines still group by trace), exported nowhere
            log.error("spans are not exported", extra={"code": exc.code, "reason": exc.message})
    if settings.otel_exporter_otlp_endpoint:
        provider.add_span_processor(BatchSpanProcessor(otlp_exporter(settings.otel_exporter_otlp_endpoint)))
    return provider


def otlp_exporter(endpoint: str) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:  # the `local` extra installs it; the deployed images do not need it
        raise NotConfigured(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp-proto-http is not installed"
            " (pip install 'soul[local]')",
            code="otlp_exporter_missing",
        ) from exc
    return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=10)


class LogSpanExporter(SpanExporter):
    """Each ended span as one `soul.trace` log line (parseable JSON; nothing written below INFO)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not log.isEnabledFor(20):  # logging.INFO: the formatting below is the exporter's whole cost
            return SpanExportResult.SUCCESS
        lines: list[dict[str, object]] = []
        for span in spans:
            ctx = span.get_span_context()
            if ctx is None:
                continue
            start, end = span.start_time or 0, span.end_time or 0
            fields: dict[str, object] = {
                "message": "span",
                "time": datetime.fromtimestamp(end / 1e9, UTC).isoformat(),
                "span": span.name,
                "trace_id": f"{ctx.trace_id:032x}",
                "span_id": f"{ctx.span_id:016x}",
                "parent_span_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
                "span_kind": span.kind.name.lower(),
                "start_ns": start,
                "duration_ms": round((end - start) / 1e6, 3),
                "status": span.status.status_code.name.lower(),
                "attributes": dict(span.attributes or {}),
                **tracing.cloud_fields(ctx.trace_id, ctx.span_id, ctx.trace_flags.sampled),
            }
            if span.links:
                fields["links"] = [f"{link.context.trace_id:032x}" for link in span.links]
            lines.append(fields)
        write_entries(log, lines)  # one write per batch: a LogRecord per span cost more than the span
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing held: every line is written as its span ends."""
