"""The trace context rides the message (shared/tracing.py), on SQLite and on the Pub/Sub emulator: a
message published inside a span is delivered, and redelivered, with that span's `traceparent` among its
attributes beside its lane; one published outside any span carries none."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import tracing
from tests.tracing_support import TRACE_ID, TRACEPARENT, spans

pytestmark = pytest.mark.contract
__all__ = ["spans"]


def _one(queue: Any, lane: str, timeout: float = 5.0) -> Any:
    got = queue.pull(lane, 10, timeout)
    assert len(got) == 1, got
    return got[0]


def test_the_publishers_trace_context_is_in_the_delivered_attributes(backend: Any, spans: InMemorySpanExporter) -> None:
    queue = backend.queue
    with tracing.span("publish", parent=tracing.extract({"traceparent": TRACEPARENT})) as current:
        queue.publish("image", b"traced")
    span_id = f"{current.get_span_context().span_id:016x}"
    first = _one(queue, "image")
    assert first.attributes["traceparent"] == f"00-{TRACE_ID}-{span_id}-01"
    assert first.attributes["lane"] == "image"
    queue.nack("image", first.ack_id)
    again = _one(queue, "image")  # a redelivery is the same message: the same context
    assert (again.attempt, again.attributes["traceparent"]) == (2, first.attributes["traceparent"])
    queue.ack("image", [again.ack_id])
    parent = tracing.extract(again.attributes)
    with tracing.span("consume", parent=parent) as consumer:
        assert f"{consumer.get_span_context().trace_id:032x}" == TRACE_ID


def test_a_message_published_outside_any_span_carries_no_context(backend: Any, spans: InMemorySpanExporter) -> None:
    backend.queue.publish("image", b"untraced")
    delivery = _one(backend.queue, "image")
    assert "traceparent" not in delivery.attributes and delivery.attributes["lane"] == "image"
    assert tracing.extract(delivery.attributes) == tracing.Context()
