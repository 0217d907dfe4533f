"""Cloud Functions entry points (functions-framework). Thin: hand the request to the app."""

from __future__ import annotations

import threading

import functions_framework
from cloudevents.http import CloudEvent
from flask import Flask, Request, Response

from functions.app import create_app
from functions.context import default
from functions.dispatch import handle
from shared.bootstrap import build_backend
from shared.config import get_settings
from shared.logging import configure
from shared.ports import WorkerLauncher
from shared.tracing_setup import setup as setup_tracing

_lock = threading.Lock()
_app: Flask | None = None
_launcher: WorkerLauncher | None = None


def _flask() -> Flask:
    global _app  # noqa: PLW0603 - built on first request, cached per process
    with _lock:
        if _app is None:
            _app = create_app(default())
        return _app


def _dispatch_launcher() -> WorkerLauncher:
    """The dispatcher needs only the launcher (and its store): not the API's context, quota or auth."""
    global _launcher  # noqa: PLW0603 - built on first event, cached per process
    with _lock:
        if _launcher is None:
            _launcher = build_backend(get_settings()).launcher
        return _launcher


@functions_framework.http
def api(request: Request) -> Response:
    """The HTTP API: every route of docs/ARCHITECTURE.md, "HTTP API"."""
    app = _flask()
    with app.request_context(request.environ):
        return app.full_dispatch_request()


@functions_framework.cloud_event
def dispatch(event: CloudEvent) -> None:
    """Pub/Sub → make sure a worker execution runs for the message's lane (raises to be retried)."""
    _dispatch_logs()
    handle(event.data, _dispatch_launcher)


def _dispatch_logs() -> None:
    """Logs and traces first (idempotent): the event's span starts before the launcher is built."""
    settings = get_settings()
    configure(settings.log_level)
    setup_tracing(settings, "soul-dispatch")
