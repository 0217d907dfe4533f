"""Where spans go (shared/tracing_setup.py, shared/adapters/gcp_trace.py): every SOUL_TRACE_EXPORTER
choice and OTEL_EXPORTER_OTLP_ENDPOINT, each against a real receiver (the log, a local OTLP/HTTP server,
a local Cloud Trace API answering the real client over REST)."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from shared import tracing
from shared.config import Settings
from shared.logging import JsonFormatter
from shared.tracing_setup import build_provider, setup
from tests.tracing_support import TRACE_ID, TRACEPARENT

pytestmark = pytest.mark.unit


class _Receiver:
    """A local HTTP server that keeps each POST (path, body) and answers `reply`."""

    def __init__(self, reply: bytes = b"", content_type: str = "application/x-protobuf") -> None:
        self.posts: list[tuple[str, bytes]] = []
        self.got = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.posts.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                receiver.got.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trace_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("soul.trace")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        tracing.reset()


def _settings(**values: Any) -> Settings:
    return Settings(google_cloud_project="test-project", **values)


def test_off_builds_no_provider() -> None:
    assert build_provider(_settings(soul_trace_exporter="off")) is None


def test_log_writes_one_parseable_line_per_ended_span(trace_log: io.StringIO) -> None:
    provider = build_provider(_settings(soul_trace_exporter="log"))
    tracing.install(provider, "test-project")
    with tracing.span("outer", {"soul.job_id": "j1"}, parent=tracing.extract({"traceparent": TRACEPARENT})):
        with tracing.span("inner"):
            pass
    assert provider is not None and provider.force_flush()  # a background thread writes them otherwise
    inner, outer = (json.loads(line) for line in trace_log.getvalue().splitlines())
    assert [inner["span"], outer["span"]] == ["inner", "outer"]  # in the order they ended
    assert inner["trace_id"] == outer["trace_id"] == TRACE_ID
    assert inner["parent_span_id"] == outer["span_id"] and outer["parent_span_id"] == "00f067aa0ba902b7"
    assert outer["attributes"] == {"soul.job_id": "j1"} and outer["duration_ms"] >= 0
    # The line is in its own span's group in Cloud Logging, not its parent's.
    assert inner["logging.googleapis.com/spanId"] == inner["span_id"]
    assert inner["logging.googleapis.com/trace"] == f"projects/test-project/traces/{TRACE_ID}"


def test_log_writes_nothing_below_info(trace_log: io.StringIO) -> None:
    provider = build_provider(_settings(soul_trace_exporter="log"))
    tracing.install(provider, "test-project")
    logging.getLogger("soul.trace").setLevel(logging.WARNING)
    with tracing.span("quiet"):
        pass
    assert provider is not None and provider.force_flush()
    assert trace_log.getvalue() == ""


def test_setup_builds_once() -> None:
    try:
        setup(_settings(soul_trace_exporter="log"))
        with tracing.span("first") as first:
            assert first.is_recording()
        setup(_settings(soul_trace_exporter="off"))  # a second composition root in the process: no change
        with tracing.span("second") as second:
            assert second.is_recording()
    finally:
        tracing.reset()


def test_an_otlp_endpoint_receives_the_spans(trace_log: io.StringIO) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    receiver = _Receiver()
    try:
        provider = build_provider(_settings(soul_trace_exporter="log", otel_exporter_otlp_endpoint=receiver.url))
        tracing.install(provider, "test-project")
        with tracing.span("sent", parent=tracing.extract({"traceparent": TRACEPARENT})):
            pass
        assert provider is not None and provider.force_flush()
        assert receiver.got.wait(10)
    finally:
        receiver.close()
    (path, body), *_ = receiver.posts
    assert path == "/v1/traces"  # <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces, as the specification says
    request = ExportTraceServiceRequest.FromString(body)
    (sent,) = [s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert sent.name == "sent" and sent.trace_id.hex() == TRACE_ID


def test_cloud_trace_writes_batches_to_the_trace_api() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.trace_v2 import TraceServiceClient

    from shared.adapters.gcp_trace import cloud_trace_exporter

    receiver = _Receiver(b"{}", "application/json")
    try:
        client = TraceServiceClient(
            transport="rest", client_options={"api_endpoint": receiver.url}, credentials=AnonymousCredentials()
        )
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(cloud_trace_exporter("test-project", client=client)))
        tracing.install(provider, "test-project")
        with tracing.span("written", {"soul.job_id": "j1"}, parent=tracing.extract({"traceparent": TRACEPARENT})):
            pass
        assert receiver.got.wait(10)
    finally:
        tracing.reset()
        receiver.close()
    (path, body), *_ = receiver.posts
    assert path.split("?")[0] == "/v2/projects/test-project/traces:batchWrite"
    (span,) = json.loads(body)["spans"]
    assert span["name"].startswith(f"projects/test-project/traces/{TRACE_ID}/spans/")
    assert span["displayName"]["value"] == "written"


def test_cloud_trace_without_credentials_logs_an_error_and_still_gives_spans_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trace_log: io.StringIO
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    provider = build_provider(_settings(soul_trace_exporter="cloud_trace"))
    (line,) = (json.loads(text) for text in trace_log.getvalue().splitlines())
    assert (line["severity"], line["message"], line["code"]) == ("ERROR", "spans are not exported", "trace_credentials")
    tracing.install(provider, "test-project")
    with tracing.span("kept"):
        assert tracing.log_fields()  # log lines still group by trace


def test_cloud_trace_is_what_the_cloud_setting_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SOUL_TRACE_EXPORTER=cloud_trace builds the Cloud Trace exporter from Application Default Credentials
    (a user credential file here: nothing is called until a batch is written)."""
    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps({"type": "authorized_user", "client_id": "i", "client_secret": "s", "refresh_token": "r"})
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    provider = build_provider(_settings(soul_trace_exporter="cloud_trace"))
    assert provider is not None
    try:
        tracing.install(provider, "test-project")
        with tracing.span("recorded") as current:
            assert current.is_recording()
    finally:
        tracing.install(None)  # no shutdown: it would try to write the batch to Google
