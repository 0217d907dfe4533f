"""JSON logs that Cloud Logging parses: one object per line with `severity` and `message`.

Context such as `job_id` and `pk` goes in `extra=`; secrets never do (redaction of known secret
values is applied to every record as a last line of defence). A line written inside a span carries
Cloud Logging's `logging.googleapis.com/trace` and `logging.googleapis.com/spanId` (shared/tracing.py),
so Cloud Logging groups a request's lines from every deployable under its trace.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shared import tracing

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Never let `value` reach a log line."""
    if value and len(value) >= 6:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, "[REDACTED]")
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            **tracing.log_fields(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: a traceback can carry request data or secrets.
            entry["error_type"] = record.exc_info[0].__name__
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


def write_entries(logger: logging.Logger, entries: Sequence[dict[str, Any]]) -> None:
    """`entries` as INFO lines of `logger`, in the shape JsonFormatter gives (each entry may set its own
    `time`), written to every JSON stream handler the logger reaches, as `logger.info` would, but without
    a LogRecord per line: for lines in bulk (span lines, shared/tracing_setup.py). Redacted the same."""
    if not entries or not logger.isEnabledFor(logging.INFO):
        return
    now = datetime.now(UTC).isoformat()
    head = {"severity": "INFO", "logger": logger.name, "time": now}
    text = redact("".join(json.dumps({**head, **e}, default=str, ensure_ascii=False) + "\n" for e in entries))
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if _json_stream(handler) and handler.level <= logging.INFO:
                handler.acquire()
                try:
                    handler.stream.write(text)  # type: ignore[attr-defined]
                    handler.flush()
                finally:
                    handler.release()
        current = current.parent if current.propagate else None


def _json_stream(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and isinstance(handler.formatter, JsonFormatter)


def configure(level: str = "INFO") -> None:
    """Route the root logger to stderr as JSON lines (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level.upper())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level.upper())
    for chatty in ("httpx", "httpcore", "urllib3", "werkzeug", "waitress"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
