"""Shared runs (docs/PLAYGROUND.md, "Shared links"): a run's link (`#task=` / `#variant=`) opened by
someone who is not its owner. Only a finished run with a visible variant is shown, and only what every
user of that prompt may be served anyway (the variant and its normalized cue); the owner is "another
user", never their id, and none of their other runs or settings are read. A task that does not exist,
has not finished or has no visible variant answers the same 404, so a link reveals nothing else."""

from __future__ import annotations

from pydantic import BaseModel

from functions.routes import Call, router, variant_out
from functions.schemas import UserQuery
from functions.schemas_runs import SharedRunOut
from shared import delivery
from shared.domain.models import JobStatus, Variant
from shared.errors import NotFound, Unauthenticated

GONE = "no finished run at this link: it is wrong, was never finished, or has expired"
YOURS = ["view", "download", "another variant", "cancel while it runs"]
THEIRS = ["view", "download", "make your own from the same cue (it becomes your run)"]


def _viewer(call: Call) -> str | None:
    """Who opens the link; a signed-out viewer (token mode) still sees a shared run."""
    try:
        return call.maybe_user(call.query.user_id)
    except Unauthenticated:
        return None


def _shared(call: Call, variant: Variant) -> SharedRunOut:
    if variant.status != "ready":  # hidden or removed after a report (docs/SAFETY.md)
        raise NotFound(GONE)
    viewer, backend = _viewer(call), call.ctx.backend
    now = backend.clock.now()
    yours = viewer is not None and delivery.served_to(backend.store, user_id=viewer, variant=variant, now=now)
    return SharedRunOut(
        task_id=variant.job_id,
        kind=variant.kind.value,
        soul_id=variant.soul_id,
        cue=variant.label,
        variant=variant_out(call.ctx, variant),  # signed now: the viewer gets fresh URLs on every open
        yours=yours,
        shared_by="you" if yours else "another user",
        can=YOURS if yours else THEIRS,
        url_ttl_seconds=backend.settings.soul_url_ttl_seconds,
    )


@router.add(
    "GET",
    "/shared/tasks/{task_id}",
    summary="A finished run as anyone with its link sees it (never the owner's id)",
    tag="tasks",
    query=UserQuery,
    responses={200: SharedRunOut},
)
def get_shared_task(call: Call) -> tuple[int, BaseModel]:
    records = call.ctx.generation.records
    try:
        job = records.job(call.path["task_id"])
        if job.status is not JobStatus.SUCCEEDED:
            raise NotFound(GONE)
        variant = records.variant(job.variant_id)
    except NotFound as err:
        raise NotFound(GONE) from err
    return 200, _shared(call, variant)


@router.add(
    "GET",
    "/shared/variants/{variant_id}",
    summary="A variant as anyone with its link sees it (never the owner's id)",
    tag="image",
    query=UserQuery,
    responses={200: SharedRunOut},
)
def get_shared_variant(call: Call) -> tuple[int, BaseModel]:
    try:
        variant = call.ctx.generation.records.variant(call.path["variant_id"])
    except NotFound as err:
        raise NotFound(GONE) from err
    return 200, _shared(call, variant)
