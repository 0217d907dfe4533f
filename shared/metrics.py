"""Metrics (docs/OPERATIONS.md, Metrics): the instruments Soul records and the one object that records them.

Every deployable records through `Metrics`, built on the OpenTelemetry metrics API; the exporters are
chosen by SOUL_METRICS_EXPORTER in shared/adapters/otel_metrics.py: a Prometheus text reader (what
`soul dev` serves at /metrics) always, plus Cloud Monitoring (`workload.googleapis.com/<name>`) in the
cloud. `CATALOGUE` is the single list of names: Terraform's dashboard and alerts are checked against it
(tests/unit/test_monitoring.py), so a renamed instrument fails a test instead of silencing an alert.

Queue depth and the oldest message's age are read from the queue at scrape time (`watch_queue`), only
where the queue can say (the local SQLite queue): in the cloud Pub/Sub's own subscription metrics are
the source, and the alerts use them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from shared import prices
from shared.config import LANES, Settings
from shared.domain.demand import PREGEN_LANES

InstrumentKind = Literal["counter", "histogram", "gauge"]
# Outcomes of a generation request (docs/OPERATIONS.md): every other route answers ok / rejected / error.
REQUEST_OUTCOMES = ("hit", "semantic_merge", "attach", "miss", "blocked", "error", "ok", "rejected")
JOB_OUTCOMES = ("succeeded", "failed", "canceled", "retried")
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
FILL_BUCKETS = (0.25, 0.5, 0.75, 1.0)
# Lanes whose backlog is reported: the user lanes, pre-generation's low twins, and the local queue's
# dead-letter lane (shared/adapters/sqlite_queue.py DEAD_LETTER_LANE).
WATCHED_LANES = (*LANES, *PREGEN_LANES, "dead")


@dataclass(frozen=True)
class Instrument:
    name: str  # the OpenTelemetry name; Cloud Monitoring type workload.googleapis.com/<name>
    kind: InstrumentKind
    unit: str
    description: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


CATALOGUE: tuple[Instrument, ...] = (
    Instrument("soul_requests", "counter", "1", "API requests by route and outcome", ("route", "outcome")),
    Instrument("soul_request_duration", "histogram", "s", "API request latency", ("route", "outcome"), SECONDS_BUCKETS),
    Instrument("soul_queue_depth", "gauge", "1", "Messages not yet acked, per lane (local queue)", ("lane",)),
    Instrument("soul_queue_oldest_age", "gauge", "s", "Age of the oldest unacked message (local queue)", ("lane",)),
    Instrument("soul_jobs", "counter", "1", "Jobs ended or retried, by outcome", ("lane", "kind", "outcome", "code")),
    Instrument(
        "soul_generation_seconds",
        "histogram",
        "s",
        "Accelerator (or provider) seconds per variant",
        ("kind", "generator"),
        SECONDS_BUCKETS,
    ),
    Instrument("soul_batch_fill", "histogram", "1", "Jobs per generator call / batch size", ("lane",), FILL_BUCKETS),
    Instrument("soul_launches", "counter", "1", "Worker launches asked for, and refusals", ("lane", "outcome")),
    Instrument("soul_dead_letters", "counter", "1", "Messages sent on to the dead-letter lane", ("lane",)),
    Instrument("soul_pregen_seconds", "counter", "s", "Generation seconds spent pre-generating", ("lane",)),
    Instrument("soul_pregen_variants", "counter", "1", "Pre-generated variants made and first served", ("event",)),
    Instrument(
        "soul_cost_usd", "counter", "{USD}", "Estimated spend at list prices (shared/prices.py)", ("item", "kind")
    ),
)
BY_NAME = {i.name: i for i in CATALOGUE}


@dataclass(frozen=True)
class GeneratorCall:
    lane: str
    kind: str
    generator: str
    seconds: float  # wall time of the call
    variants: int
    batch_size: int  # the lane's configured batch (fill = variants / batch_size)
    video_seconds: float = 0.0  # seconds of video made (Wan is billed by them)


class Backlog(Protocol):
    """A queue that can say what waits on a lane: (messages not acked, age of the oldest in seconds)."""

    def backlog(self, lane: str) -> tuple[int, float | None]: ...


class Metrics:
    """Typed recording methods over the catalogue's instruments. `text` renders the Prometheus exposition
    (None: this process serves none); `flush` pushes what is pending (a job's last export before it exits)."""

    def __init__(
        self,
        meter: Meter,
        *,
        text: Callable[[], bytes] | None = None,
        flush: Callable[[], None] = lambda: None,
    ) -> None:
        self._text, self._flush = text, flush
        self._queue: tuple[Backlog, tuple[str, ...]] | None = None
        self._lock = threading.Lock()
        self._instruments: dict[str, Any] = {}
        for spec in CATALOGUE:
            if spec.kind == "counter":
                self._instruments[spec.name] = meter.create_counter(spec.name, spec.unit, spec.description)
            elif spec.kind == "histogram":
                made = meter.create_histogram(
                    spec.name, spec.unit, spec.description, explicit_bucket_boundaries_advisory=list(spec.buckets)
                )
                self._instruments[spec.name] = made
        for spec, read in ((BY_NAME["soul_queue_depth"], self._depths), (BY_NAME["soul_queue_oldest_age"], self._ages)):
            meter.create_observable_gauge(spec.name, [read], spec.unit, description=spec.description)

    # -- requests (functions/app.py) -------------------------------------------------------------
    def request(self, route: str, outcome: str, seconds: float) -> None:
        labels = {"route": route, "outcome": outcome}
        self._instruments["soul_requests"].add(1, labels)
        self._instruments["soul_request_duration"].record(seconds, labels)

    # -- jobs (gpu_jobs/worker.py) ----------------------------------------------------------------
    def job(self, lane: str, kind: str, outcome: str, code: str = "") -> None:
        self._instruments["soul_jobs"].add(1, {"lane": lane, "kind": kind, "outcome": outcome, "code": code})

    def generated(self, call: GeneratorCall) -> None:
        """One generator call: its seconds split evenly over its variants, its fill, its estimated spend."""
        per_variant = call.seconds / max(1, call.variants)
        for _ in range(call.variants):
            self._instruments["soul_generation_seconds"].record(
                per_variant, {"kind": call.kind, "generator": call.generator}
            )
        self._instruments["soul_batch_fill"].record(call.variants / max(1, call.batch_size), {"lane": call.lane})
        for item, usd in prices.generation(call.lane, call.seconds, call.video_seconds).items():
            self.cost(item, call.kind, usd)

    def pregen_spent(self, lane: str, seconds: float) -> None:
        """Generation seconds a pre-generation job took (the budget charges an estimate up front)."""
        self._instruments["soul_pregen_seconds"].add(seconds, {"lane": lane})

    def pregen_variant(self, event: Literal["made", "served"]) -> None:
        """A pre-generated variant made, or served for the first time: made - served is what waits unused."""
        self._instruments["soul_pregen_variants"].add(1, {"event": event})

    def dead_letter(self, lane: str) -> None:
        self._instruments["soul_dead_letters"].add(1, {"lane": lane})

    # -- dispatch (functions/dispatch.py) ---------------------------------------------------------
    def launch(self, lane: str, outcome: Literal["asked", "refused"]) -> None:
        self._instruments["soul_launches"].add(1, {"lane": lane, "outcome": outcome})

    # -- spend --------------------------------------------------------------------------------------
    def cost(self, item: str, kind: str, usd: float) -> None:
        if usd > 0:
            self._instruments["soul_cost_usd"].add(usd, {"item": item, "kind": kind})

    # -- queue gauges, read at collection time ------------------------------------------------------
    def watch_queue(self, queue: object, lanes: Sequence[str]) -> None:
        """Report depth and oldest age of `lanes` from `queue` at each scrape, if it can say (`Backlog`)."""
        if callable(getattr(queue, "backlog", None)):
            with self._lock:
                self._queue = (queue, tuple(lanes))  # type: ignore[assignment]

    def _backlogs(self) -> list[tuple[str, int, float | None]]:
        with self._lock:
            watched = self._queue
        if watched is None:
            return []
        queue, lanes = watched
        return [(lane, *queue.backlog(lane)) for lane in lanes]

    def _depths(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(depth, {"lane": lane}) for lane, depth, _ in self._backlogs()]

    def _ages(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(age or 0.0, {"lane": lane}) for lane, _, age in self._backlogs()]

    # -- export ---------------------------------------------------------------------------------------
    def prometheus_text(self) -> bytes | None:
        return self._text() if self._text is not None else None

    def flush(self) -> None:
        self._flush()


def build(settings: Settings, monitoring_client: Any | None = None) -> Metrics:
    """A Metrics of its own over the exporters SOUL_METRICS_EXPORTER asks for (shared/adapters/otel_metrics.py)."""
    from shared.adapters.otel_metrics import exporters

    made = exporters(settings, monitoring_client)
    return Metrics(made.meter, text=made.text, flush=made.flush)


_lock = threading.Lock()
_current: Metrics | None = None


def current() -> Metrics:
    """The process's metrics, built on first use from its settings (the composition roots' default)."""
    global _current  # noqa: PLW0603 - one meter provider per process, like the clients
    with _lock:
        if _current is None:
            from shared.config import get_settings

            _current = build(get_settings())
        return _current
