"""The API's routes (docs/ARCHITECTURE.md, HTTP API): parse → one service call → a response model. Nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from functions import schemas as s
from functions.context import Context
from functions.routing import Router
from functions.service import Outcome
from shared import delivery
from shared.domain.models import Job, SeenMarks, StyleProfile, Variant, Waiter
from shared.errors import NotFound
from shared.records import seen_collection

router = Router()
SEEN_DETAILS = 24  # the seen list carries this many of its newest variants in full (one batched read)


@dataclass
class Call:
    ctx: Context
    query: Any
    body: Any
    path: dict[str, str]
    authorization: str | None
    header_user: str | None
    outcome: str | None = None  # how a generation route served the call (functions/metrics_http.py)

    def user(self, claimed: str | None) -> str:
        return self.ctx.identity.user(self.authorization, self.header_user, claimed)

    def maybe_user(self, claimed: str | None) -> str | None:
        return self.ctx.identity.optional(self.authorization, self.header_user, claimed)


def served_to(call: Call, user_id: str, variant_id: str) -> None:
    """Ownership: a user animates only a variant they have been served: in their seen list, or the result
    of a job they still wait on (delivered on this read, as GET /tasks does, when the fan-out missed them)."""
    variant = call.ctx.generation.records.variant(variant_id)
    backend = call.ctx.backend
    if not delivery.served_to(backend.store, user_id=user_id, variant=variant, now=backend.clock.now()):
        raise NotFound(f"variant '{variant_id}' not found")


# -- conversions ---------------------------------------------------------------------------------
def variant_out(ctx: Context, v: Variant) -> s.VariantOut:
    # A hidden or removed variant (reports, docs/SAFETY.md) gets no URL, wherever it is listed.
    urls = {ext: ctx.urls.url(a.name) for ext, a in v.artifacts.items()} if v.status == "ready" else {}
    return s.VariantOut(
        variant_id=v.variant_id,
        pk_id=v.pk,
        kind=v.kind.value,
        soul_id=v.soul_id,
        seed=v.seed,
        generator=v.generator,
        created_at=v.created_at,
        urls=s.Urls(**urls),
        label=v.label,
        task_id=v.job_id,
        width=v.width,
        height=v.height,
    )


def spec_out(job: Job) -> s.SpecOut:
    return s.SpecOut(cue=job.spec.label, **job.spec.model_dump(exclude={"kind", "label", "generate_gif"}))


def timing_out(ctx: Context, job: Job) -> s.TimingOut:
    """Measured so far (a running job's run time grows), plus the estimate while it is not finished."""
    now = ctx.backend.clock.now()
    queued = (job.started_at or (now if not job.status.terminal else job.updated_at)) - job.created_at
    ran = None if job.started_at is None else (job.finished_at or now) - job.started_at
    out = s.TimingOut(queued_seconds=round(max(0.0, queued), 2), run_seconds=None if ran is None else round(ran, 2))
    ctx.tasks.timings.saw(job)  # a run that just finished moves the next estimate at once
    if not job.status.terminal:
        forecast = ctx.tasks.forecast(job)  # one estimate everywhere, with the queue place while queued
        out.estimate_seconds, out.basis = forecast.estimate.seconds, forecast.estimate.basis
        out.queue_position, out.running_in_lane = forecast.queue_position, forecast.running_in_lane
        out.start_in_seconds = forecast.start_in_seconds
    return out


def result_out(
    ctx: Context, v: Variant, *, cache_hit: bool, task_id: str | None = None, landmark: str | None = None
) -> s.ResultOut:
    out = variant_out(ctx, v)
    return s.ResultOut(
        cache_hit=cache_hit,
        variant_id=v.variant_id,
        pk_id=v.pk,
        variant=out,
        image_url=out.urls.png,
        mp4_url=out.urls.mp4,
        gif_url=out.urls.gif,
        task_id=task_id,
        landmark_key=landmark,
    )


def task_out(ctx: Context, job: Job, run: Waiter | None = None) -> s.TaskOut:
    """`run`: the caller's own record of the task (when they asked; served from the cache or not)."""
    result = None
    if job.status.value == "succeeded":
        result = variant_out(ctx, ctx.generation.records.variant(job.variant_id))
    error = s.ErrorBody(code=job.error.code, message=job.error.message) if job.error else None
    return s.TaskOut(
        task_id=job.job_id,
        kind=job.kind.value,
        lane=job.lane,
        status=job.status.value,
        progress=s.ProgressOut(**job.progress.model_dump()),
        pk_id=job.pk,
        attempts=job.attempts,
        cancel_requested=job.cancel_requested,
        created_at=job.created_at,
        updated_at=job.updated_at,
        error=error,
        result=result,
        variant_id=job.variant_id,
        spec=spec_out(job),
        started_at=job.started_at,
        finished_at=job.finished_at,
        timing=timing_out(ctx, job),
        requested_at=run.created_at if run is not None else None,
        served_from_cache=run is not None and run.served_from_cache,
    )


def style_out(style: StyleProfile) -> s.StyleOut:
    return s.StyleOut.model_validate(style.model_dump())


def respond(call: Call, outcome: Outcome, user_id: str, wait: float) -> tuple[int, BaseModel]:
    """200 with the variant on a hit (or when the job finishes within `wait`), else 202 with the task."""
    ctx, served = call.ctx, outcome.served
    call.outcome = outcome.how
    ctx.tasks.count_cache(served.variant is not None)
    if served.variant is not None:
        return 200, result_out(ctx, served.variant, cache_hit=True, landmark=outcome.landmark_key)
    job = served.job
    assert job is not None
    if wait > 0:
        job = ctx.tasks.wait(job.job_id, user_id, wait, refuse=False)  # queued already: never 429 here
        if job.status.value == "succeeded":
            variant = ctx.generation.records.variant(job.variant_id)
            return 200, result_out(ctx, variant, cache_hit=False, task_id=job.job_id, landmark=outcome.landmark_key)
    return 202, s.AcceptedOut(
        task_id=job.job_id,
        status=job.status.value,
        status_url=f"/tasks/{job.job_id}",
        pk_id=outcome.pk,
        landmark_key=outcome.landmark_key,
    )


ACCEPT: dict[int, type[BaseModel]] = {200: s.ResultOut, 202: s.AcceptedOut}


# -- images --------------------------------------------------------------------------------------
@router.add(
    "GET",
    "/image",
    summary="Styled image for a cue (cached variant or a new task)",
    tag="image",
    query=s.ImageQuery,
    responses=ACCEPT,
)
def get_image(call: Call) -> tuple[int, BaseModel]:
    q: s.ImageQuery = call.query
    user = call.user(q.user_id)
    return respond(call, call.ctx.generation.image(user, q.soul_id, q.cue, q.seed, q.options()), user, q.wait)


@router.add(
    "POST",
    "/image/selfie",
    summary="Selfie of a soul at a landmark of a city",
    tag="image",
    body=s.SelfieBody,
    responses=ACCEPT,
)
def post_selfie(call: Call) -> tuple[int, BaseModel]:
    b: s.SelfieBody = call.body
    user = call.user(b.user_id)
    return respond(call, call.ctx.generation.selfie(user, b.soul_id, b.city_key, b.mood, video=False), user, b.wait)


@router.add(
    "POST",
    "/image/mark-seen",
    summary="Mark a variant as seen by the user",
    tag="image",
    query=s.MarkSeenQuery,
    responses={200: s.MarkSeenOut},
)
def post_mark_seen(call: Call) -> tuple[int, BaseModel]:
    q: s.MarkSeenQuery = call.query
    user = call.user(q.user_id)
    variant = call.ctx.generation.mark_seen(user, q.variant_id)
    return 200, s.MarkSeenOut(user_id=user, variant_id=variant.variant_id, seen=True)


@router.add(
    "GET",
    "/image/variants/{pk_id}",
    summary="Ready variants of a prompt key served to the caller (all of them for an administrator)",
    tag="image",
    query=s.UserQuery,
    responses={200: s.VariantListOut},
)
def get_variants(call: Call) -> tuple[int, BaseModel]:
    pk = call.path["pk_id"]
    viewer = call.ctx.identity.viewer(call.authorization, call.header_user, call.query.user_id)
    variants = call.ctx.generation.variants(pk, viewer)
    return 200, s.VariantListOut(pk_id=pk, variants=[variant_out(call.ctx, v) for v in variants])


@router.add(
    "GET",
    "/image/user/{user_id}/seen",
    summary="Variants the user has been shown",
    tag="image",
    responses={200: s.SeenOut},
)
def get_seen(call: Call) -> tuple[int, BaseModel]:
    user = call.user(call.path["user_id"])
    records = call.ctx.generation.records
    ids = records.seen_ids(user)
    recent = [variant_out(call.ctx, v) for v in records.variants_by_id(ids[:SEEN_DETAILS])]
    return 200, s.SeenOut(user_id=user, variant_ids=ids, variants=recent)


@router.add(
    "GET",
    "/image/variant/{variant_id}",
    summary="A variant the user was shown, with the prompt sent, seed, settings and 'seen N of M'",
    tag="image",
    query=s.UserQuery,
    responses={200: s.VariantDetailOut},
)
def get_variant_detail(call: Call) -> tuple[int, BaseModel]:
    user = call.user(call.query.user_id)
    variant_id = call.path["variant_id"]
    served_to(call, user, variant_id)  # only what this user was shown (404 otherwise, as for animation)
    records = call.ctx.generation.records
    variant = records.variant(variant_id)
    marks = call.ctx.backend.store.get(seen_collection(user), variant.pk)
    seen = len(SeenMarks.model_validate(marks).variant_ids) if marks else 0
    return 200, s.VariantDetailOut(
        variant=variant_out(call.ctx, variant),
        task_id=variant.job_id,
        spec=spec_out(records.job(variant.job_id)),
        seen=seen,
        of=len(records.variants_for(variant.pk)),
    )


# -- video (SVD) ---------------------------------------------------------------------------------
@router.add(
    "GET",
    "/video/estimate",
    summary="Estimated time to animate an image",
    tag="video",
    query=s.EstimateQuery,
    responses={200: s.EstimateOut},
)
def get_estimate(call: Call) -> tuple[int, BaseModel]:
    frames = call.query.num_frames or call.ctx.backend.settings.svd_num_frames
    return 200, s.EstimateOut.model_validate(call.ctx.tasks.estimate(frames))


@router.add(
    "POST",
    "/video/generate",
    summary="Animate an image variant (SVD) into MP4 + GIF",
    tag="video",
    body=s.VideoBody,
    responses=ACCEPT,
)
def post_video(call: Call) -> tuple[int, BaseModel]:
    b: s.VideoBody = call.body
    user = call.user(b.user_id)
    served_to(call, user, b.variant_id)
    return respond(call, call.ctx.generation.video(user, b.variant_id, b.num_frames, b.generate_gif), user, b.wait)


@router.add(
    "POST",
    "/video/generate-from-variant",
    summary="Animate a variant (query-parameter form)",
    tag="video",
    query=s.VideoFromVariantQuery,
    responses=ACCEPT,
)
def post_video_from_variant(call: Call) -> tuple[int, BaseModel]:
    q: s.VideoFromVariantQuery = call.query
    user = call.user(q.user_id)
    served_to(call, user, q.variant_id)
    return respond(call, call.ctx.generation.video(user, q.variant_id, q.num_frames, q.generate_gif), user, q.wait)


# -- Wan text-to-video ---------------------------------------------------------------------------
@router.add(
    "GET",
    "/wan-video/",
    summary="Soul-style video from text (Wan), with GIF",
    tag="wan",
    query=s.WanQuery,
    responses=ACCEPT,
)
def get_wan(call: Call) -> tuple[int, BaseModel]:
    q: s.WanQuery = call.query
    user = call.user(q.user_id)
    return respond(call, call.ctx.generation.wan(user, q.soul_id, q.cue, q.seed), user, q.wait)


@router.add(
    "POST",
    "/wan-video/selfie",
    summary="Selfie video of a soul at a landmark (Wan)",
    tag="wan",
    body=s.SelfieBody,
    responses=ACCEPT,
)
def post_wan_selfie(call: Call) -> tuple[int, BaseModel]:
    b: s.SelfieBody = call.body
    user = call.user(b.user_id)
    return respond(call, call.ctx.generation.selfie(user, b.soul_id, b.city_key, b.mood, video=True), user, b.wait)


@router.add(
    "POST",
    "/wan-video/generate-direct",
    summary="Text-to-video from a raw prompt (uncached)",
    tag="wan",
    body=s.WanDirectBody,
    responses={202: s.AcceptedOut, 200: s.TaskOut},
)
def post_wan_direct(call: Call) -> tuple[int, BaseModel]:
    b: s.WanDirectBody = call.body
    user = call.user(b.user_id)
    job = call.ctx.generation.wan_direct(user, b.positive_prompt, b.negative_prompt, b.seed, b.generate_gif)
    call.outcome = "miss"  # uncached: always a new job
    if b.wait > 0:
        job = call.ctx.tasks.wait(job.job_id, user, b.wait, refuse=False)
        if job.status.terminal:
            return 200, task_out(call.ctx, job)
    return 202, s.AcceptedOut(
        task_id=job.job_id, status=job.status.value, status_url=f"/tasks/{job.job_id}", pk_id=job.pk
    )
