"""Routes for tasks, styles, places and health (docs/ARCHITECTURE.md, HTTP API)."""

from __future__ import annotations

from pydantic import BaseModel

from functions import routes_runs  # noqa: F401 - registers the shared-run routes on the router
from functions import schemas as s
from functions.routes import Call, router, style_out, task_out
from shared.errors import Unavailable


# -- tasks ---------------------------------------------------------------------------------------
@router.add(
    "GET",
    "/tasks/stats/summary",
    summary="Queue depth per lane, jobs by status, cache hit rate",
    tag="tasks",
    responses={200: s.StatsOut},
)
def get_stats(call: Call) -> tuple[int, BaseModel]:
    call.ctx.identity.admin(call.authorization)  # deployment-wide figures: administrators only
    return 200, s.StatsOut.model_validate(call.ctx.tasks.stats())


@router.add(
    "GET",
    "/tasks/{task_id}",
    summary="A task's status, progress and result",
    tag="tasks",
    query=s.TaskQuery,
    responses={200: s.TaskOut},
)
def get_task(call: Call) -> tuple[int, BaseModel]:
    q: s.TaskQuery = call.query
    user = call.maybe_user(q.user_id)
    tasks, task_id = call.ctx.tasks, call.path["task_id"]
    if not q.wait:
        return 200, task_out(call.ctx, *tasks.get_run(task_id, user))
    job = tasks.wait(task_id, user, q.wait)
    return 200, task_out(call.ctx, job, tasks.records.waiter(task_id, user) if user else None)


@router.add(
    "DELETE",
    "/tasks/{task_id}",
    summary="Cancel a queued or running task (only for the caller while other users share it)",
    tag="tasks",
    query=s.UserQuery,
    responses={200: s.TaskOut},
)
def delete_task(call: Call) -> tuple[int, BaseModel]:
    user = call.maybe_user(call.query.user_id)
    return 200, task_out(call.ctx, call.ctx.tasks.cancel(call.path["task_id"], user))


@router.add(
    "GET",
    "/tasks",
    summary="List tasks (newest first)",
    tag="tasks",
    query=s.TasksQuery,
    responses={200: s.TaskListOut},
)
def list_tasks(call: Call) -> tuple[int, BaseModel]:
    q: s.TasksQuery = call.query
    runs = call.ctx.tasks.runs(call.maybe_user(q.user_id), q.status, q.limit)
    return 200, s.TaskListOut(tasks=[task_out(call.ctx, job, run) for job, run in runs])


# -- styles --------------------------------------------------------------------------------------
@router.add(
    "POST",
    "/style",
    summary="Create or update a style profile",
    tag="style",
    body=s.StyleBody,
    responses={200: s.StyleOut},
)
def post_style(call: Call) -> tuple[int, BaseModel]:
    b: s.StyleBody = call.body
    call.ctx.identity.admin(call.authorization)
    style = call.ctx.styles.upsert(
        b.soul_id, b.display_name, b.prompt_template, b.negative_prompt, b.params, b.description
    )
    return 200, style_out(style)


@router.add("GET", "/style", summary="List style profiles", tag="style", responses={200: s.StyleListOut})
def list_styles(call: Call) -> tuple[int, BaseModel]:
    return 200, s.StyleListOut(styles=[style_out(x) for x in call.ctx.styles.list()])


@router.add("GET", "/style/{soul_id}", summary="A style profile", tag="style", responses={200: s.StyleOut})
def get_style(call: Call) -> tuple[int, BaseModel]:
    return 200, style_out(call.ctx.styles.get(call.path["soul_id"]))


@router.add(
    "DELETE",
    "/style/{soul_id}",
    summary="Delete a style (archived if it has variants)",
    tag="style",
    responses={200: s.StatusOut},
)
def delete_style(call: Call) -> tuple[int, BaseModel]:
    call.ctx.identity.admin(call.authorization)
    return 200, s.StatusOut(status=call.ctx.styles.delete(call.path["soul_id"]))


# -- places, health ------------------------------------------------------------------------------
@router.add("GET", "/places", summary="Cities and landmarks for selfies", tag="image", responses={200: s.PlacesOut})
def list_places(call: Call) -> tuple[int, BaseModel]:
    cities = call.ctx.generation.records.cities()
    return 200, s.PlacesOut(cities=[s.CityOut.model_validate(c.model_dump()) for c in cities])


@router.add("GET", "/healthz", summary="Liveness", tag="health", responses={200: s.StatusOut})
def healthz(call: Call) -> tuple[int, BaseModel]:
    return 200, s.StatusOut(status="ok")


@router.add(
    "GET",
    "/ready",
    summary="Readiness: the record store answers and the blob store takes writes",
    tag="health",
    responses={200: s.StatusOut, 503: s.StatusOut},
)
def ready(call: Call) -> tuple[int, BaseModel]:
    call.ctx.backend.store.get("styles", "__ready__")
    if not call.ctx.generation.records.styles():
        raise Unavailable("no style profiles loaded yet (run `soul seed`)", code="not_ready")
    checks = {"store": "ok", "styles": "ok"}
    check_blobs = getattr(call.ctx.backend.blobs, "check", None)  # the directory store; GCS is not probed
    if check_blobs is not None:
        check_blobs()  # StorageUnavailable: 503 with the reason (read-only, full)
        checks["blobs"] = "ok"
    return 200, s.StatusOut(status="ready", checks=checks)


@router.add(
    "GET",
    "/info",
    summary="What this deployment runs, and what is real today",
    tag="health",
    responses={200: s.InfoOut},
)
def info(call: Call) -> tuple[int, BaseModel]:
    return 200, s.InfoOut.model_validate(call.ctx.info())
