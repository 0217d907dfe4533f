"""The Flask app behind the `api` function: request parsing, error mapping, idempotency, static files.

Every error leaves as JSON `{error: {code, message}}` with the right status; no traceback, file path
or secret ever reaches a response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, Response, g, redirect, request, send_from_directory
from flask_swagger_ui import get_swaggerui_blueprint
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from functions import body as bodies
from functions import (
    plain_errors,
    routes_admin,  # noqa: F401 - registers the admin routes on the router
    routes_inputs,  # noqa: F401 - registers the limits and soul-sample routes
    routes_safety,  # noqa: F401 - registers the report and review routes
    routes_semantic,  # noqa: F401 - registers the semantic-merge admin routes
    web_guard,
)
from functions.body import ClosingResponse
from functions.context import VERSION, Context
from functions.idempotency import Idempotency
from functions.metrics_http import install as install_metrics
from functions.routes import Call, router
from functions.routing import Route, openapi
from shared import tracing
from shared.errors import BadRequest, InvalidInput, NotFound, PayloadTooLarge, SoulError
from shared.logging import get_logger, redact

log = get_logger("soul.api")
WEB = Path(__file__).parent / "web"
PATH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}")  # ids, keys, slugs: never a path or `..`
MEDIA_TYPES = {".png": "image/png", ".mp4": "video/mp4", ".gif": "image/gif"}
MAX_JSON_DEPTH = 32  # no request body needs more; deeper ones are refused before anything walks them
SURROGATE = re.compile("[\ud800-\udfff]")  # "\ud800" in JSON decodes to a lone surrogate: not UTF-8
QUERY_PARTS = re.compile(rb"[&;=]")


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, field: str | None = None
) -> Response:
    error = {"code": code, "message": redact(message)} | ({"field": field} if field else {})
    body = json.dumps({"error": error})
    return ClosingResponse(body, status=status, mimetype="application/json", headers=headers)


def json_response(status: int, model: BaseModel) -> Response:
    return ClosingResponse(redact(model.model_dump_json()), status=status, mimetype="application/json")


def _parse_body(route: Route, raw: bytes) -> Any:
    if route.body is None:
        return None
    try:
        data = json.loads(raw) if raw else None
    except RecursionError:
        raise BadRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON (UTF-8)") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    _check_json(data, 0)
    return route.body.model_validate(data)


def _check_json(value: Any, depth: int) -> None:
    """Refuse bodies nested past MAX_JSON_DEPTH (400) and strings that are not valid UTF-8 (422)."""
    if depth > MAX_JSON_DEPTH:
        raise BadRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        if SURROGATE.search(value):
            raise InvalidInput("request body text must be valid UTF-8 (lone surrogates are not accepted)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, depth)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


def _check_query() -> None:
    """Every query name and value must percent-decode to valid UTF-8: werkzeug keeps an undecodable
    `%ED%A0%80` as literal text, which would otherwise become part of a cue or a label."""
    for part in QUERY_PARTS.split(request.query_string):
        try:
            unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("query parameters must be valid UTF-8") from None


def _parse_query(route: Route) -> Any:
    _check_query()
    args = request.args.to_dict(flat=True)
    if route.query is None:
        return None
    return route.query.model_validate(args)


def _view(route: Route, ctx: Context) -> Callable[..., Response]:
    idem = Idempotency(ctx.backend.store, ctx.backend.clock)

    def view(**path: str) -> Response:
        # Everything that needs no body is checked before a byte of it is read (docs/THREATS.md, slow
        # bodies): its size, its type, the origin, the caller. Then the body, within a deadline.
        settings = ctx.backend.settings
        limit = settings.soul_max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"request body over {limit} bytes")
        web_guard.check_route(route, request, settings)
        if route.tag != "health":  # token mode: only health answers an unverified caller
            ctx.identity.require_caller(request.headers.get("Authorization"))
        raw = b""
        if route.body is not None:
            raw = bodies.read(request.environ, limit=limit, timeout=settings.soul_body_timeout_seconds)
            g.soul_body_read = True
        try:
            call = Call(
                ctx,
                _parse_query(route),
                _parse_body(route, raw),
                path,
                request.headers.get("Authorization"),
                request.headers.get("X-User-Id"),
            )
        except ValidationError as exc:
            field, message = plain_errors.explain(exc, (route.query, route.body))
            return error_response(422, "invalid_input", message, field=field)
        if not all(PATH_ID.fullmatch(value) for value in path.values()):
            raise NotFound("no such resource")
        key = request.headers.get("Idempotency-Key") if route.method == "POST" else None
        if key:
            # The caller is part of the record's identity: one user's key is never another's (no replay,
            # no 422 for a key someone else used).
            fingerprint = [route.path, path, request.args.to_dict(), raw.decode("utf-8", "replace")]
            return idem.run(key, _caller(call), fingerprint, lambda: _invoke(route, call))
        return _invoke(route, call)

    view.__name__ = route.handler.__name__
    return view


def _caller(call: Call) -> str:
    """Who sends the request: the token's subject, or in dev mode the user it names (body, query, header)."""
    claimed = getattr(call.body, "user_id", None) or getattr(call.query, "user_id", None)
    try:
        return call.maybe_user(claimed) or ""
    except SoulError:
        return ""  # unauthenticated: the route itself refuses the call


def _invoke(route: Route, call: Call) -> Response:
    # The per-user quota is charged by the service on a miss, before anything is enqueued.
    status, model = route.handler(call)
    g.soul_outcome = call.outcome  # hit, semantic_merge, attach, miss (functions/metrics_http.py)
    return json_response(status, model)


def _errors(app: Flask) -> None:
    @app.errorhandler(SoulError)
    def soul_error(exc: SoulError) -> Response:
        g.soul_error = exc  # the request metrics tell a content-safety refusal from other errors
        headers = {}
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            headers["Retry-After"] = str(max(1, round(retry_after)))
        if exc.http_status >= 500:
            log.warning("request failed", extra={"code": exc.code, "path": request.path})
        return error_response(exc.http_status, exc.code, exc.message, headers, getattr(exc, "field", None))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name or "error")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.error("unhandled error", exc_info=True, extra={"path": request.path})
        return error_response(500, "internal", "internal error")


def _static(app: Flask, ctx: Context) -> None:
    blobs = ctx.backend.blobs

    @app.get("/artifacts/<path:name>")
    def artifact(name: str) -> Response:
        verify = getattr(blobs, "verify", None)
        try:
            expires = int(request.args.get("expires", "0"))
        except ValueError:
            expires = 0
        if verify is None or not verify(name, expires, request.args.get("sig", "")):
            raise NotFound("artifact link is invalid or expired")
        data = blobs.get(name)
        mimetype = MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")
        return Response(data, mimetype=mimetype, headers={"Cache-Control": "private, max-age=300"})

    @app.get("/media/<variant_id>")
    @app.get("/generated/<variant_id>")
    def variant_file(variant_id: str) -> Any:
        """`<variant_id>.png|.mp4|.gif` redirects to a short-lived signed URL. (The seed's `/static/...`
        prefix is taken by functions-framework's own static folder, so Soul serves these paths.)"""
        authorization = request.headers.get("Authorization")
        ctx.identity.require_caller(authorization)
        stem, _, ext = variant_id.rpartition(".")
        variant = ctx.generation.records.variant(stem or variant_id)
        # The rule of variant details and animation: only whom it was served to (an administrator, or dev
        # mode naming no user, sees every variant); anyone else gets the 404 of an unknown variant.
        viewer = ctx.identity.viewer(authorization, request.headers.get("X-User-Id"), request.args.get("user_id"))
        if viewer is not None and not ctx.generation.served(viewer, variant):
            raise NotFound(f"variant '{stem or variant_id}' not found")
        art = variant.artifacts.get(ext or "png")
        if art is None or variant.status != "ready":  # hidden or removed (docs/SAFETY.md): never served
            raise NotFound(f"variant has no {ext or 'png'} artifact")
        return redirect(ctx.urls.url(art.name), code=302)

    @app.get("/")
    def index() -> Response:
        return send_from_directory(WEB, "index.html")

    @app.get("/wan-video")
    def wan_page() -> Response:
        return send_from_directory(WEB, "wan_video.html")

    @app.get("/status")
    def status_page() -> Response:
        return send_from_directory(WEB, "status.html")

    @app.get("/runs")
    def runs_page() -> Response:
        return send_from_directory(WEB, "runs.html")

    @app.get("/gallery")
    def gallery_page() -> Response:
        return send_from_directory(WEB, "gallery.html")

    @app.get("/ui/<path:name>")
    def ui(name: str) -> Response:
        return send_from_directory(WEB, name)


def _browser(app: Flask, ctx: Context) -> None:
    """Host and CORS preflight before routing; security headers after; and a response to a request whose
    body was never read closes its connection (functions/body.py)."""
    settings = ctx.backend.settings

    @app.before_request
    def host_and_preflight() -> Response | None:
        web_guard.check_host(request, settings)
        return web_guard.preflight(request, settings)

    @app.after_request
    def headers(response: Response) -> Response:
        if isinstance(response, ClosingResponse) and bodies.has_body(request.environ) and not g.get("soul_body_read"):
            response.close_after()
            bodies.abandon(request.environ)
        return web_guard.secure(response, request, settings)


def _tracing(app: Flask) -> None:
    """One server span per request, continuing the caller's `traceparent` (else a new trace), current
    for everything the request does: its log lines carry the trace, its job's message the context.
    Named by method and route (never the query: a cue is user text)."""

    @app.before_request
    def start_span() -> None:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        attributes = {"http.request.method": request.method, "http.route": route}
        stack = ExitStack()
        parent = tracing.extract({tracing.TRACEPARENT: request.headers.get(tracing.TRACEPARENT, "")})
        stack.enter_context(
            tracing.span(f"{request.method} {route}", attributes, parent=parent, kind=tracing.SpanKind.SERVER)
        )
        g.soul_trace = stack

    @app.after_request
    def status(response: Response) -> Response:
        tracing.set_status(response.status_code)
        return response

    @app.teardown_request
    def end_span(exc: BaseException | None) -> None:
        stack = g.pop("soul_trace", None)
        if stack is not None:
            stack.close()


def create_app(ctx: Context) -> Flask:
    app = Flask("soul", static_folder=None)
    _tracing(app)  # first: the span covers the host check and the preflight too
    app.response_class = ClosingResponse
    app.config["MAX_CONTENT_LENGTH"] = ctx.backend.settings.soul_max_body_bytes
    for route in router.routes:
        app.add_url_rule(
            route.flask_path, endpoint=route.handler.__name__, view_func=_view(route, ctx), methods=[route.method]
        )
    spec = openapi(router, "Soul API", VERSION)
    app.add_url_rule("/openapi.json", "openapi", lambda: Response(json.dumps(spec), mimetype="application/json"))
    app.register_blueprint(get_swaggerui_blueprint("/docs", "/openapi.json", config={"app_name": "Soul API"}))
    _static(app, ctx)
    _errors(app)
    _browser(app, ctx)
    install_metrics(app, ctx)
    return app
