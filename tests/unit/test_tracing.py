"""Traces across the queue (shared/tracing.py): the api continues or starts a trace, the job's message
carries it, the worker and dispatch continue it; log lines in a span carry Cloud Logging's fields; no
user text in a span."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from functions.dispatch import handle
from gpu_jobs.worker import Worker
from shared import tracing
from shared.bootstrap import Backend
from shared.domain.models import JobMessage
from shared.errors import InvalidInput
from shared.logging import JsonFormatter
from tests.conftest import drain
from tests.tracing_support import PARENT_ID, TRACE_ID, TRACEPARENT, finished, parent_hex, span_hex, spans, trace_hex

pytestmark = pytest.mark.unit
__all__ = ["spans"]  # the fixture, imported for its side of pytest's lookup

CUE = "a penguin reading tea leaves"


def _miss(client: FlaskClient, headers: dict[str, str] | None = None, cue: str = CUE) -> Any:
    query = {"soul_id": "nova", "cue": cue, "user_id": "u1"}
    response = client.get("/image", query_string=query, headers=headers or {})
    assert response.status_code in (200, 202), response.get_data(as_text=True)
    return response.get_json()


def _named(exporter: InMemorySpanExporter) -> dict[str, Any]:
    return {s.name: s for s in finished(exporter)}


def test_the_api_continues_an_incoming_traceparent_and_the_message_carries_it(
    client: FlaskClient, backend: Backend, spans: InMemorySpanExporter
) -> None:
    _miss(client, {"traceparent": TRACEPARENT})
    named = _named(spans)
    server = named["GET /image"]
    assert (trace_hex(server), parent_hex(server)) == (TRACE_ID, PARENT_ID)
    for step in ("api.cache_read", "api.singleflight", "api.publish"):
        assert trace_hex(named[step]) == TRACE_ID, step
    assert parent_hex(named["api.publish"]) == span_hex(server)
    assert named["api.cache_read"].attributes["soul.hit"] is False
    (delivery,) = backend.queue.pull("image", 10, 1.0)
    # The message carries the publish span's context: the consumers' spans are its children.
    assert delivery.attributes["traceparent"] == f"00-{TRACE_ID}-{span_hex(named['api.publish'])}-01"
    assert delivery.attributes["lane"] == "image"


@pytest.mark.parametrize("header", [None, "00-not-a-trace-0000000000000000-01", f"00-{'0' * 32}-{PARENT_ID}-01"])
def test_the_api_starts_a_trace_when_none_or_a_malformed_one_comes_in(
    client: FlaskClient, spans: InMemorySpanExporter, header: str | None
) -> None:
    _miss(client, {"traceparent": header} if header else {})
    server = _named(spans)["GET /image"]
    assert server.parent is None and trace_hex(server) not in (TRACE_ID, "0" * 32)


def test_the_worker_continues_the_trace_through_every_step(
    client: FlaskClient, worker: Worker, spans: InMemorySpanExporter
) -> None:
    job_id = _miss(client, {"traceparent": TRACEPARENT})["task_id"]
    assert drain(worker, ("image",)) == 1
    named = _named(spans)
    publish = span_hex(named["api.publish"])
    steps = ["worker.claim", "worker.generate", "worker.encode", "worker.upload", "worker.complete"]
    for step in steps:
        assert (trace_hex(named[step]), parent_hex(named[step])) == (TRACE_ID, publish), step
    starts = [named[step].start_time for step in steps]
    assert starts == sorted(starts)
    assert list(named["worker.generate"].attributes["soul.job_ids"]) == [job_id]
    assert named["worker.claim"].attributes["soul.job_id"] == job_id


def test_a_jobs_outcome_line_carries_its_trace(
    client: FlaskClient, worker: Worker, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = _miss(client, {"traceparent": TRACEPARENT})["task_id"]
    with caplog.at_level(logging.INFO, logger="soul.worker"):
        assert drain(worker, ("image",)) == 1
    (done,) = [r for r in caplog.records if r.getMessage() == "job succeeded"]
    assert done.job_id == job_id
    assert getattr(done, tracing.CLOUD_TRACE_FIELD) == f"projects/test-project/traces/{TRACE_ID}"


def test_a_batch_is_one_generate_span_linked_to_every_job_trace(
    client: FlaskClient, worker: Worker, spans: InMemorySpanExporter
) -> None:
    first = _miss(client, {"traceparent": TRACEPARENT})["task_id"]
    second = _miss(client, {}, cue="an owl in a library")["task_id"]
    assert drain(worker, ("image",)) == 2
    generate = [s for s in finished(spans) if s.name == "worker.generate"]
    assert len(generate) == 1
    assert sorted(generate[0].attributes["soul.job_ids"]) == sorted([first, second])
    traces = {trace_hex(s) for s in finished(spans) if s.name == "api.publish"}
    linked = {f"{link.context.trace_id:032x}" for link in generate[0].links}
    assert {trace_hex(generate[0])} | linked == traces


def test_a_semantic_join_has_its_span_and_a_second_cache_read(tmp_path: Any, spans: InMemorySpanExporter) -> None:
    """The semantic tier on a tier-1 miss: `api.semantic` names the key joined, the joined key's cache read
    follows, in the request's trace."""
    from functions.app import create_app
    from functions.context import Context
    from gpu_jobs.bootstrap import Generators
    from infra import seed
    from shared.bootstrap import build_backend
    from tests.conftest import make_settings

    backend = build_backend(make_settings(tmp_path / "data", soul_semantic_cache=True))
    seed.load(backend)
    client = create_app(Context.build(backend)).test_client()
    _miss(client, cue="a fox sleeping under an oak tree at night")
    drain(Worker(backend, Generators(backend.settings, backend.store).for_kind), ("image",))
    spans.clear()
    query = {"soul_id": "nova", "cue": "At night, a fox asleep beneath an oak tree!", "user_id": "u2"}
    hit = client.get("/image", query_string=query, headers={"traceparent": TRACEPARENT})
    assert hit.status_code == 200, hit.get_data(as_text=True)
    steps = [s for s in finished(spans) if trace_hex(s) == TRACE_ID]
    assert [s.name for s in steps] == ["GET /image", "api.cache_read", "api.semantic", "api.cache_read"]
    first, semantic, joined = steps[1:]
    assert first.attributes["soul.hit"] is False
    assert semantic.attributes["soul.joined_pk"] == joined.attributes["soul.pk"] != first.attributes["soul.pk"]


class _Launcher:
    def __init__(self) -> None:
        self.lanes: list[str] = []

    def launch(self, lane: str) -> None:
        self.lanes.append(lane)


def _event(attributes: dict[str, str]) -> dict[str, Any]:
    data = base64.b64encode(JobMessage(job_id="j1", lane="image").model_dump_json().encode()).decode()
    return {"message": {"data": data, "attributes": attributes}}


def test_dispatch_continues_the_message_trace(spans: InMemorySpanExporter) -> None:
    launcher = _Launcher()
    assert handle(_event({"lane": "image", "traceparent": TRACEPARENT}), lambda: launcher) == "image"
    named = _named(spans)
    event, launch = named["dispatch.event"], named["dispatch.launch"]
    assert (trace_hex(event), parent_hex(event)) == (TRACE_ID, PARENT_ID)
    assert (trace_hex(launch), parent_hex(launch)) == (TRACE_ID, span_hex(event))
    assert event.attributes["soul.job_id"] == "j1" and launcher.lanes == ["image"]


def test_dispatch_without_a_trace_context_starts_one(spans: InMemorySpanExporter) -> None:
    assert handle(_event({"lane": "image"}), _Launcher) == "image"
    assert _named(spans)["dispatch.event"].parent is None


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("soul.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


def test_a_log_line_inside_a_span_carries_cloud_loggings_trace_fields(
    spans: InMemorySpanExporter, log_lines: io.StringIO
) -> None:
    logger = logging.getLogger("soul.test")
    logger.info("outside")
    with tracing.span("step", parent=tracing.extract({"traceparent": TRACEPARENT})) as current:
        logger.info("inside", extra={"job_id": "j1"})
    outside, inside = (json.loads(line) for line in log_lines.getvalue().splitlines())
    assert tracing.CLOUD_TRACE_FIELD not in outside and tracing.CLOUD_SPAN_FIELD not in outside
    assert inside[tracing.CLOUD_TRACE_FIELD] == f"projects/test-project/traces/{TRACE_ID}"
    assert inside[tracing.CLOUD_SPAN_FIELD] == f"{current.get_span_context().span_id:016x}"
    assert inside["logging.googleapis.com/trace_sampled"] is True and inside["job_id"] == "j1"


def test_no_user_text_or_secret_in_any_span(
    client: FlaskClient, worker: Worker, backend: Backend, spans: InMemorySpanExporter
) -> None:
    """Spans hold ids, lanes and counts: never the cue (user text), the prompt, a header or a secret."""
    secret = backend.settings.soul_signing_key.get_secret_value()
    _miss(client, {"traceparent": TRACEPARENT, "Authorization": "Bearer some-token-value"})
    drain(worker, ("image",))
    refused = client.get("/image", query_string={"soul_id": "nova", "cue": "!!!", "user_id": "u1"})
    assert refused.status_code == 422
    values = [
        str(value)
        for span in finished(spans)
        for value in [*(span.attributes or {}).values(), span.name, span.status.description or ""]
    ]
    assert values
    for forbidden in ("penguin", "tea leaves", "some-token-value", secret, "u1"):
        assert not [v for v in values if forbidden in v], forbidden


def test_a_failed_span_keeps_the_error_type_not_its_message(spans: InMemorySpanExporter) -> None:
    with pytest.raises(InvalidInput), tracing.span("step"):
        raise InvalidInput("the cue 'my private words' is refused")
    (span,) = finished(spans)
    assert span.status.description == "InvalidInput" and span.attributes["error.type"] == "invalid_input"
    assert not span.events  # no recorded exception (its message and traceback)


def test_with_no_provider_nothing_is_recorded_and_an_incoming_context_passes_through_unchanged() -> None:
    tracing.reset()
    with tracing.span("step") as current:
        assert not current.is_recording() and tracing.inject() == {} and tracing.log_fields() == {}
    with tracing.span("step", parent=tracing.extract({"traceparent": TRACEPARENT})):
        assert tracing.inject() == {"traceparent": TRACEPARENT}  # the caller's own span, not a new one
