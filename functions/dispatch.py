"""The dispatcher: a Pub/Sub-triggered CloudEvent function that makes sure a worker runs for a lane.

Cloud Run jobs cannot receive Pub/Sub pushes, so every message on `soul-jobs` also reaches this
function (an Eventarc trigger on the topic), which asks the WorkerLauncher to start an execution for
the message's lane; the launcher allows at most one launch per lane per interval and counts them.
The message itself stays in the lane's pull subscription for the worker.

Retry contract (functions-framework): a malformed event or an unknown lane is logged and dropped
(return), since a retry cannot fix it; a transient launch failure raises, so the event is redelivered;
a refused launch (job missing, no permission) is logged and dropped: the next message retries it.
Entry point: `functions.main.dispatch` calls `handle(event.data, launcher)` with a launcher built
from settings alone (no API context). Traces: the event's span (`dispatch.event`) continues the
publisher's trace from the message's `traceparent` attribute; `dispatch.launch` covers the launch.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from shared import metrics as soul_metrics
from shared import tracing
from shared.config import LANES
from shared.domain.demand import base_lane
from shared.domain.models import JobMessage
from shared.errors import PermanentError
from shared.logging import get_logger
from shared.ports import WorkerLauncher

log = get_logger("soul.dispatch")


class BadEvent(ValueError):
    """The event is not a Pub/Sub message carrying a Soul job reference."""


def parse(data: Mapping[str, Any] | None) -> JobMessage:
    """The job reference inside a Pub/Sub CloudEvent's data (`message.data` is base64 JSON)."""
    message = (data or {}).get("message")
    if not isinstance(message, Mapping):
        raise BadEvent("no Pub/Sub message in the event")
    try:
        payload = base64.b64decode(message.get("data") or "", validate=True)
        job = JobMessage.model_validate_json(payload)
    except (binascii.Error, ValidationError) as exc:
        raise BadEvent(f"not a job message: {exc}") from None
    lane = (message.get("attributes") or {}).get("lane", job.lane)
    if lane != job.lane or base_lane(lane) not in LANES:  # a low lane ("image-low"): pre-generation
        raise BadEvent(f"lane attribute {lane!r} does not match the job's lane {job.lane!r}")
    return job


def handle(
    data: Mapping[str, Any] | None,
    launcher: Callable[[], WorkerLauncher],
    metrics: soul_metrics.Metrics | None = None,
) -> str | None:
    """`_handle` inside the event's span, which continues the trace of the request that published the job."""
    parent = tracing.extract(_attributes(data))
    with tracing.span("dispatch.event", parent=parent, kind=tracing.SpanKind.CONSUMER):
        return _handle(data, launcher, metrics)


def _attributes(data: Mapping[str, Any] | None) -> dict[str, str]:
    """The Pub/Sub message's attributes (its trace context), whatever else the event holds."""
    message = (data or {}).get("message")
    attributes = message.get("attributes") if isinstance(message, Mapping) else None
    if not isinstance(attributes, Mapping):
        return {}
    return {str(k): v for k, v in attributes.items() if isinstance(v, str)}


def _handle(
    data: Mapping[str, Any] | None,
    launcher: Callable[[], WorkerLauncher],
    metrics: soul_metrics.Metrics | None = None,
) -> str | None:
    """Launch a worker for the event's lane; returns the lane, or None when the event was dropped.

    `launcher` is called only for a well-formed event, so a malformed one never builds a client.
    Retryable errors from the launcher propagate (the platform redelivers the event).
    """
    try:
        job = parse(data)
    except BadEvent as exc:
        log.warning("dropping event", extra={"reason": str(exc)})
        return None
    tracing.annotate({"soul.job_id": job.job_id, "soul.lane": job.lane})
    metrics = metrics or soul_metrics.current()
    try:
        with tracing.span("dispatch.launch", {"soul.lane": job.lane}):
            launcher().launch(job.lane)
    except PermanentError as exc:
        log.error("worker launch refused", extra={"lane": job.lane, "job_id": job.job_id, "code": exc.code})
        metrics.launch(job.lane, "refused")
        return None
    metrics.launch(job.lane, "asked")
    return job.lane
