"""Admin routes for semantic merges (docs/SEMANTIC.md, Audit and undo): list them, undo one.

`GET /admin/semantic/links` lists the keys the semantic tier joined to another key, lowest score first
(the likeliest wrong merges), with what differs; `POST /admin/semantic/links/{pk}/unlink` makes a key
generate its own variants from its next request on (shared/keylinks.py). Administrators only in token mode.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from functions.routes import Call, router
from functions.schemas import Strict
from shared import keylinks


class LinksQuery(Strict):
    limit: int = Field(default=100, ge=1, le=keylinks.AUDIT_READ)


class LinksOut(BaseModel):
    links: list[keylinks.Link]


@router.add(
    "GET",
    "/admin/semantic/links",
    summary="Semantic merges, lowest score first (administrators)",
    tag="admin",
    query=LinksQuery,
    responses={200: LinksOut},
)
def list_links(call: Call) -> tuple[int, BaseModel]:
    call.ctx.identity.admin(call.authorization)
    links = keylinks.audit(call.ctx.backend.store, limit=call.query.limit)
    return 200, LinksOut(links=links)


@router.add(
    "POST",
    "/admin/semantic/links/{pk}/unlink",
    summary="Undo a semantic merge: the key generates its own variants from its next request on (administrators)",
    tag="admin",
    responses={200: keylinks.Link},
)
def unlink(call: Call) -> tuple[int, BaseModel]:
    call.ctx.identity.admin(call.authorization)
    backend = call.ctx.backend
    by = call.maybe_user(None) or "admin"
    return 200, keylinks.unlink(backend.store, call.path["pk"], by=by, now=backend.clock.now())
