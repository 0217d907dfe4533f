"""Request and response models of the HTTP API: parsed once at the edge, strict, with limits.

Unknown fields are rejected (a caller sending `image_path` learns that paths are not accepted).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.domain.models import StyleParams

Slug = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:-]*$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# Blanks around a cue are trimmed first, so a cue of only spaces is empty (422), never a prompt; one over the
# limit is refused (422), never cut. The pages read these limits from GET /limits.
Cue = Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]
Seed = Annotated[
    int,
    Field(
        ge=0, le=2_147_483_647, description="Exactly this seed's output: the same request with it gives the same image"
    ),
]
Mood = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z][A-Za-z -]*$")]
Wait = Annotated[float, Field(ge=0, le=60, description="Seconds to wait for the result before answering 202")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _style_option(name: str) -> Any:
    """The style's own field's limits (StyleParams), as an optional request field: written once."""
    limits: dict[str, Any] = {}
    for constraint in StyleParams.model_fields[name].metadata:
        limits.update(dataclasses.asdict(constraint))  # annotated_types.Ge(ge=1) -> {"ge": 1}
    return Field(default=None, **limits)


# -- requests ------------------------------------------------------------------------------------
class CueQuery(Strict):
    soul_id: Slug
    cue: Cue
    seed: Seed | None = None
    user_id: UserId | None = None
    wait: Wait = 0.0


class ImageQuery(CueQuery):
    """A cue for a soul. Without `seed`: a variant this user has not seen. With it: exactly that seed's
    output (docs/ARCHITECTURE.md, Seeds). The options override the soul's own (GET /style) for this request."""

    steps: int | None = _style_option("steps")
    guidance_scale: float | None = _style_option("guidance_scale")
    width: int | None = _style_option("width")
    height: int | None = _style_option("height")

    def options(self) -> dict[str, Any]:
        return self.model_dump(include=set(OPTIONS), exclude_none=True)


OPTIONS = ("steps", "guidance_scale", "width", "height")


class SelfieBody(Strict):
    soul_id: Slug
    city_key: Slug
    mood: Mood = "happy"
    user_id: UserId | None = None
    wait: Wait = 0.0


class MarkSeenQuery(Strict):
    variant_id: Id
    user_id: UserId | None = None


class UserQuery(Strict):
    user_id: UserId | None = None


class EstimateQuery(Strict):
    num_frames: int | None = Field(default=None, ge=2, le=50)


class VideoBody(Strict):
    variant_id: Id = Field(description="The image variant to animate (paths are never accepted)")
    num_frames: int | None = Field(default=None, ge=2, le=50)
    generate_gif: bool = True
    user_id: UserId | None = None
    wait: Wait = 0.0


class VideoFromVariantQuery(VideoBody):
    pass


class WanQuery(CueQuery):
    pass


class WanDirectBody(Strict):
    positive_prompt: Cue
    negative_prompt: Annotated[str, StringConstraints(max_length=300)] = ""
    seed: int | None = Field(default=None, ge=0, le=2_147_483_647)
    generate_gif: bool = True
    user_id: UserId | None = None
    wait: Wait = 0.0


class TasksQuery(Strict):
    user_id: UserId | None = None
    status: Literal["queued", "running", "succeeded", "failed", "canceled"] | None = None
    limit: int = Field(default=50, ge=1, le=200)


class TaskQuery(Strict):
    user_id: UserId | None = None
    wait: Wait = 0.0


class StyleBody(Strict):
    soul_id: Slug
    display_name: Annotated[str, StringConstraints(max_length=80)] = ""
    description: Annotated[str, StringConstraints(max_length=300)] = ""
    prompt_template: Annotated[str, StringConstraints(min_length=5, max_length=600, pattern=r"\{cue\}")]
    negative_prompt: Annotated[str, StringConstraints(max_length=600)] = ""
    params: StyleParams = Field(default_factory=StyleParams)


# -- responses -----------------------------------------------------------------------------------
class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = Field(default=None, description="The request field at fault, when one is")


class ErrorOut(BaseModel):
    error: ErrorBody


class Urls(BaseModel):
    png: str | None = None
    mp4: str | None = None
    gif: str | None = None


class VariantOut(BaseModel):
    variant_id: str
    pk_id: str
    kind: str
    soul_id: str
    seed: int
    generator: str
    created_at: float
    urls: Urls
    label: str = ""
    task_id: str | None = None
    width: int = 0
    height: int = 0


class ResultOut(BaseModel):
    """A ready result (200): the variant, its short-lived URLs, and whether it came from the cache."""

    cache_hit: bool
    variant_id: str
    pk_id: str
    variant: VariantOut
    image_url: str | None = None
    mp4_url: str | None = None
    gif_url: str | None = None
    task_id: str | None = None
    landmark_key: str | None = None


class ProgressOut(BaseModel):
    step: int
    total: int


class SpecOut(BaseModel):
    """What the generator was given: the prompt actually sent (the soul's template applied), seed, settings."""

    soul_id: str
    cue: str = Field(description="The caller's words (cue, selfie line, or the source image's label)")
    prompt: str
    negative_prompt: str
    seed: int
    width: int
    height: int
    steps: int
    guidance_scale: float
    num_frames: int
    fps: int
    source_variant_id: str | None = None


class TimingOut(BaseModel):
    """Measured durations; `estimate_seconds` is null when no run of this shape was measured yet."""

    queued_seconds: float | None = None
    run_seconds: float | None = None
    estimate_seconds: float | None = None
    basis: str = ""
    # While queued: its place in its lane's queue (1 = next) and when it should start, from the real
    # queue and measured runs (functions/tasks.py, forecast); null when not queued or nothing measured.
    queue_position: int | None = None
    running_in_lane: int | None = None
    start_in_seconds: float | None = None


class TaskOut(BaseModel):
    task_id: str
    kind: str
    lane: str
    status: str
    progress: ProgressOut
    pk_id: str
    attempts: int
    cancel_requested: bool
    created_at: float
    updated_at: float
    error: ErrorBody | None = None
    result: VariantOut | None = None
    variant_id: str | None = None
    spec: SpecOut | None = None
    started_at: float | None = None
    finished_at: float | None = None
    timing: TimingOut | None = None
    # The caller's own run record (shared/history.py): when they asked, and whether it was a cache hit.
    requested_at: float | None = None
    served_from_cache: bool = False


class VariantDetailOut(BaseModel):
    """One variant with what made it, and how many of its prompt key's variants this user has seen."""

    variant: VariantOut
    task_id: str
    spec: SpecOut
    seen: int = Field(description="Variants of this prompt key the user has been shown")
    of: int = Field(description="Ready variants of this prompt key")


class AcceptedOut(BaseModel):
    """A miss (202): the task making the variant and where to poll it."""

    cache_hit: bool = False
    task_id: str
    status: str
    status_url: str
    pk_id: str
    landmark_key: str | None = None


class TaskListOut(BaseModel):
    tasks: list[TaskOut]


class StatsOut(BaseModel):
    jobs_by_status: dict[str, int]
    queued_by_lane: dict[str, int]
    variants: int
    cache: dict[str, Any]


class StyleOut(BaseModel):
    soul_id: str
    display_name: str
    description: str = ""
    prompt_template: str
    negative_prompt: str
    params: StyleParams
    version: int
    archived: bool


class StyleListOut(BaseModel):
    styles: list[StyleOut]


class VariantListOut(BaseModel):
    pk_id: str
    variants: list[VariantOut]


class SeenOut(BaseModel):
    """The user's history, most recently seen first: every id, and the newest `SEEN_DETAILS` in full."""

    user_id: str
    variant_ids: list[str]
    variants: list[VariantOut] = Field(
        default_factory=list, description="The most recently seen variants (up to 24), with short-lived URLs"
    )


class MarkSeenOut(BaseModel):
    user_id: str
    variant_id: str
    seen: bool


class EstimateOut(BaseModel):
    estimated_seconds: float
    estimated_minutes: float
    video_generation_seconds: float
    gif_conversion_seconds: float
    num_frames: int
    basis: str


class LandmarkOut(BaseModel):
    key: str
    name: str


class CityOut(BaseModel):
    city_key: str
    name: str
    landmarks: list[LandmarkOut]


class PlacesOut(BaseModel):
    cities: list[CityOut]


class StatusOut(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


class LaneOut(BaseModel):
    model: str | None  # "sdxl", "svd", the Wan model, "preview", "none"; null: no worker reported yet
    real: bool | None
    missing: bool | None = None  # weights path set but empty: the lane's jobs fail with model_unavailable


class SignInOut(BaseModel):
    """What the pages need to sign in (token mode): public values only, the web API key included."""

    api_key: str
    auth_domain: str
    project_id: str
    identity_toolkit_url: str
    secure_token_url: str


class InfoOut(BaseModel):
    name: str
    version: str
    backend: str
    auth_mode: str
    sign_in: SignInOut | None = None  # token mode only: the pages' email/password sign-in
    generators: dict[str, str]
    lanes: dict[str, LaneOut]
    real_today: list[str]
    coming_later: list[str]


class LimitOut(BaseModel):
    """One request field's limits, as the API enforces them (from its request model)."""

    type: str
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    multiple_of: float | None = None


class LimitsOut(BaseModel):
    """The limits of the cue requests' fields, for forms that check before sending."""

    image: dict[str, LimitOut]
    wan: dict[str, LimitOut]


class SampleOut(BaseModel):
    """A soul's sample: an image this deployment made of it (a labelled preview when `generator` is one)."""

    soul_id: str
    cue: str
    status: str = Field(description="'ready' (with `image_url`) or 'making' (ask again shortly)")
    generator: str | None = None
    image_url: str | None = None
    variant_id: str | None = None
