"""Content-safety routes (docs/SAFETY.md): users report what they were shown; administrators review.

`POST /variants/{variant_id}/report` is accepted only from a user the variant was served to (others get
404, as for an unknown variant). The admin routes are administrators-only in token mode.
"""

from __future__ import annotations

from pydantic import BaseModel

from functions import schemas_safety as s
from functions.routes import Call, router, served_to
from functions.schemas import Urls
from shared.records import VARIANTS
from shared.safety.reports import Reports


def _reports(call: Call) -> Reports:
    backend = call.ctx.backend
    return Reports(backend.store, backend.clock, backend.blobs, to_hide=backend.settings.soul_reports_to_hide)


def _admin(call: Call, claimed: str | None) -> str:
    call.ctx.identity.admin(call.authorization)
    return call.maybe_user(claimed) or "admin"


@router.add(
    "POST",
    "/variants/{variant_id}/report",
    summary="Report a variant you were shown (it is never shown to you again)",
    tag="safety",
    body=s.ReportBody,
    responses={200: s.ReportOut},
)
def post_report(call: Call) -> tuple[int, BaseModel]:
    b: s.ReportBody = call.body
    user = call.user(b.user_id)
    variant_id = call.path["variant_id"]
    served_to(call, user, variant_id)  # 404 for a variant this user was never served
    variant = call.ctx.generation.records.variant(variant_id)
    outcome = _reports(call).report(user, variant, b.reason, b.note)
    return 200, s.ReportOut(variant_id=variant_id, reporters=outcome.reporters, hidden=outcome.hidden)


@router.add(
    "GET",
    "/admin/reports",
    summary="Reported variants, most recently reported first (administrators)",
    tag="safety",
    query=s.ReportsQuery,
    responses={200: s.ReportsOut},
)
def get_reports(call: Call) -> tuple[int, BaseModel]:
    q: s.ReportsQuery = call.query
    _admin(call, None)
    entries = _reports(call).queue(q.limit, q.before)
    docs = call.ctx.backend.store.get_many(VARIANTS, [e["variant_id"] for e in entries])
    out = []
    for entry, doc in zip(entries, docs, strict=True):
        urls = Urls()
        if doc is not None and doc.get("status") != "removed":  # hidden ones stay visible to the reviewer
            urls = Urls(**{ext: call.ctx.urls.url(a["name"]) for ext, a in doc.get("artifacts", {}).items()})
        out.append(
            s.ReportEntryOut(
                variant_id=entry["variant_id"],
                pk_id=str(entry.get("pk", "")),
                label=str(entry.get("label", "")),
                status=str(entry.get("status", "open")),
                variant_status=str((doc or {}).get("status", "gone")),
                reporters=int(entry.get("reporters", 0)),
                reasons=entry["reasons"],
                last_at=float(entry.get("last_at", 0.0)),
                decided_by=entry.get("decided_by"),
                urls=urls,
            )
        )
    more = len(entries) == q.limit
    return 200, s.ReportsOut(reports=out, next_before=out[-1].last_at if more and out else None)


@router.add(
    "POST",
    "/admin/variants/{variant_id}/remove",
    summary="Delete a variant's artifacts, mark it removed, optionally block its prompt key (administrators)",
    tag="safety",
    body=s.DecisionBody,
    responses={200: s.DecisionOut},
)
def post_remove(call: Call) -> tuple[int, BaseModel]:
    b: s.DecisionBody = call.body
    admin = _admin(call, b.user_id)
    variant = _reports(call).remove(admin, call.path["variant_id"], block_key=b.block_key, note=b.note)
    return 200, s.DecisionOut(variant_id=variant.variant_id, status="removed", key_blocked=b.block_key)


@router.add(
    "POST",
    "/admin/variants/{variant_id}/restore",
    summary="Serve a hidden variant again and unblock its key (administrators)",
    tag="safety",
    body=s.DecisionBody,
    responses={200: s.DecisionOut},
)
def post_restore(call: Call) -> tuple[int, BaseModel]:
    b: s.DecisionBody = call.body
    admin = _admin(call, b.user_id)
    variant = _reports(call).restore(admin, call.path["variant_id"], note=b.note)
    return 200, s.DecisionOut(variant_id=variant.variant_id, status=variant.status)
