"""A small route table over Flask: each route declares its query / body / response models, so the
same declarations validate requests and produce `/openapi.json`.

Handlers receive parsed models and return `(status, model)`; they never see raw dicts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions.schemas import ErrorOut

Handler = Callable[..., tuple[int, BaseModel]]


@dataclass
class Route:
    method: str
    path: str  # OpenAPI style: /tasks/{task_id}
    handler: Handler
    summary: str
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel]] = field(default_factory=dict)

    @property
    def flask_path(self) -> str:
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        responses: dict[int, type[BaseModel]],
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler, summary, tag, query, body, responses))
            return handler

        return register


def _errors(route: Route) -> dict[str, Any]:
    codes = {
        "400": "Malformed request",
        "401": "Missing or invalid ID token (token mode)",
        "403": "Not the caller's to read or change; dev mode: a cross-site request or a Host that is not served",
        "404": "Not found",
        "422": "Invalid input",
        "429": "Quota exceeded",
        "500": "Internal error",
        "503": "Unavailable",
    }
    if route.method in ("POST", "DELETE"):
        codes["409"] = "Conflict"
    if route.body is not None:
        codes["408"] = "Body did not arrive within SOUL_BODY_TIMEOUT_SECONDS"
        codes["413"] = "Body too large"
        codes["415"] = "Body is not application/json"
    ref = {"$ref": "#/components/schemas/ErrorOut"}
    return {
        code: {"description": text, "content": {"application/json": {"schema": ref}}} for code, text in codes.items()
    }


def _query_params(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = schemas[model.__name__]
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def openapi(router: Router, title: str, version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorOut}
    for r in router.routes:
        models.update(m for m in (r.query, r.body, *r.responses.values()) if m is not None)
    _, defs = models_json_schema(
        [
            (
                m,
                "validation"
                if m in {r.query for r in router.routes} | {r.body for r in router.routes}
                else "serialization",
            )
            for m in sorted(models, key=lambda m: m.__name__)
        ],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = defs.get("$defs", {})
    paths: dict[str, Any] = {}
    for r in router.routes:
        op: dict[str, Any] = {"summary": r.summary, "tags": [r.tag], "operationId": r.handler.__name__}
        params = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
            for p in r.path_params
        ]
        if r.query is not None:
            params += _query_params(r.query, schemas)
        if params:
            op["parameters"] = params
        if r.body is not None:
            ref = {"$ref": f"#/components/schemas/{r.body.__name__}"}
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
        op["responses"] = {
            str(code): {
                "description": model.__doc__.strip().split("\n")[0] if model.__doc__ else model.__name__,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
            }
            for code, model in r.responses.items()
        } | _errors(r)
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    }
