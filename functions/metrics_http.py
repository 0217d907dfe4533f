"""The API's side of metrics (docs/OPERATIONS.md, Metrics): every request counted by route and outcome, its
latency recorded, and `/metrics` in the Prometheus text format.

A generation route's outcome is how the service served it (hit, semantic_merge, attach, miss; set on
`g.soul_outcome` by functions/app.py); a request refused by content safety is `blocked`; any other
answer is `ok` (< 400), `rejected` (4xx) or `error` (5xx). The route label is the route's template
(`/tasks/<task_id>`), never the raw path, so the label set stays bounded; a path no route matches is
`unmatched`.

`/metrics` is open in dev mode (`soul dev`); in token mode only an administrator reads it (it tells
the deployment's traffic), and in the cloud Cloud Monitoring is where the figures go.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from functions.context import Context
from shared.errors import ContentBlocked, NotFound

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def outcome(status: int) -> str:
    """The request's outcome label (shared/metrics.py REQUEST_OUTCOMES)."""
    if isinstance(g.get("soul_error"), ContentBlocked):
        return "blocked"
    if status >= 500:
        return "error"
    if status >= 400:
        return "rejected"
    return str(g.get("soul_outcome") or "ok")


def install(app: Flask, ctx: Context) -> None:
    metrics = ctx.metrics

    @app.before_request
    def started() -> None:
        g.soul_started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        seconds = time.perf_counter() - g.get("soul_started", time.perf_counter())
        metrics.request(route, outcome(response.status_code), seconds)
        return response

    @app.get("/metrics")
    def prometheus() -> Response:
        if ctx.backend.settings.soul_auth_mode == "token":
            ctx.identity.admin(request.headers.get("Authorization"))
        text = metrics.prometheus_text()
        if text is None:
            raise NotFound("this process serves no metrics")
        return Response(text, mimetype=None, content_type=PROMETHEUS_TEXT, headers={"Cache-Control": "no-store"})
