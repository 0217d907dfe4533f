"""Traces across the queue (OpenTelemetry): one trace from the HTTP request to the worker's completion.

The api continues an incoming W3C `traceparent` (or starts a trace); the job's Pub/Sub message carries
the context in its attributes (`inject` at publish, `extract` in dispatch and the worker), so dispatch
and the worker continue the same trace. Spans are named `<deployable>.<step>` (docs/OPERATIONS.md, Traces, lists
them).

Export (SOUL_TRACE_EXPORTER): `cloud_trace` in the cloud (batched, shared/adapters/gcp_trace.py);
`log` locally: one JSON log line per ended span on the `soul.trace` logger; `off`: no provider, every
span a no-op. OTEL_EXPORTER_OTLP_ENDPOINT adds an OTLP/HTTP exporter (batched) whatever the choice.

What spans hold: ids (job, variant, prompt key), lanes, counts and error *types*. Never the cue or
prompt text (user text), a message body, an exception message or anything from Settings' secrets.

Composition: nothing is built at import. Each deployable's composition root calls
`shared.tracing_setup.setup(settings)` once (the exporters live there); tests `install()` a provider
with an in-memory exporter and `reset()` after. With no provider every span is a no-op.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

TRACER = "soul"
TRACEPARENT = "traceparent"
CLOUD_TRACE_FIELD = "logging.googleapis.com/trace"
CLOUD_SPAN_FIELD = "logging.googleapis.com/spanId"
CLOUD_SAMPLED_FIELD = "logging.googleapis.com/trace_sampled"
_propagator = TraceContextTextMapPropagator()
_NOOP: Tracer = trace.NoOpTracer()


@dataclass
class _State:
    provider: TracerProvider | None = None
    tracer: Tracer = _NOOP
    project: str = "soul-local"


_state = _State()
_lock = threading.Lock()


def install(provider: TracerProvider | None, project: str = "soul-local") -> None:
    """Use `provider` (None: no tracing) for this process; what tests call with an in-memory exporter."""
    with _lock:
        _install(provider, project)


def installed() -> bool:
    return _state.provider is not None


def _install(provider: TracerProvider | None, project: str) -> None:
    _state.provider = provider
    _state.tracer = provider.get_tracer(TRACER) if provider is not None else _NOOP
    _state.project = project


def reset() -> None:
    """Flush and forget the provider (tests; a later `setup` builds a new one)."""
    with _lock:
        if _state.provider is not None:
            _state.provider.shutdown()
        _install(None, "soul-local")


def flush() -> None:
    """Export every ended span now (a process about to exit: the worker when idle)."""
    if _state.provider is not None:
        _state.provider.force_flush()


# ---- spans --------------------------------------------------------------------------------------


@contextmanager
def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    parent: Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    links: Sequence[Context] = (),
) -> Iterator[trace.Span]:
    """A span, current inside the block. `parent`: a context from `extract` (else the current one).
    An exception marks the span failed with its type only (its message may hold user text)."""
    span_links = [Link(c) for c in (trace.get_current_span(ctx).get_span_context() for ctx in links) if c.is_valid]
    with _state.tracer.start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes=attributes,
        links=span_links,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            current.set_attribute("error.type", str(getattr(exc, "code", "") or type(exc).__name__))
            raise


def annotate(attributes: Mapping[str, Any]) -> None:
    """Add ids learnt inside a span (a parsed job's id) to the current span."""
    trace.get_current_span().set_attributes(attributes)


def set_status(http_status: int) -> None:
    """The current (server) span's HTTP status; a 5xx marks it failed."""
    current = trace.get_current_span()
    current.set_attribute("http.response.status_code", http_status)
    if http_status >= 500:
        current.set_status(Status(StatusCode.ERROR, str(http_status)))


# ---- propagation --------------------------------------------------------------------------------


def inject() -> dict[str, str]:
    """The current trace context as message attributes / headers (`traceparent`); {} outside a span."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        _propagator.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str] | None) -> Context:
    """A context continuing `carrier`'s `traceparent`; an empty context (a new trace) when it has none
    or a malformed one."""
    return _propagator.extract(dict(carrier or {}))


# ---- logs ---------------------------------------------------------------------------------------


def log_fields() -> dict[str, object]:
    """Cloud Logging's trace fields for the current span; {} outside one (or with tracing off)."""
    span_ctx = trace.get_current_span().get_span_context()
    if not span_ctx.is_valid:
        return {}
    return cloud_fields(span_ctx.trace_id, span_ctx.span_id, span_ctx.trace_flags.sampled)


def fields_for(ctx: Context) -> dict[str, object]:
    """Cloud Logging's trace fields for a line about work done in `ctx` but written outside its spans
    (a job's outcome, logged by the worker after its steps)."""
    span_ctx = trace.get_current_span(ctx).get_span_context()
    if not span_ctx.is_valid:
        return {}
    return cloud_fields(span_ctx.trace_id, span_ctx.span_id, span_ctx.trace_flags.sampled)


def cloud_fields(trace_id: int, span_id: int, sampled: bool) -> dict[str, object]:
    return {
        CLOUD_TRACE_FIELD: f"projects/{_state.project}/traces/{trace_id:032x}",
        CLOUD_SPAN_FIELD: f"{span_id:016x}",
        CLOUD_SAMPLED_FIELD: sampled,
    }


__all__ = [
    "CLOUD_SPAN_FIELD",
    "CLOUD_TRACE_FIELD",
    "TRACEPARENT",
    "Context",
    "SpanKind",
    "annotate",
    "cloud_fields",
    "extract",
    "fields_for",
    "flush",
    "inject",
    "install",
    "installed",
    "log_fields",
    "reset",
    "set_status",
    "span",
]
