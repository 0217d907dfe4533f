"""Typed records (Firestore documents / SQLite rows) and the messages between deployables.

Every boundary parses into these models once; nothing past the edge handles raw dicts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Kind(StrEnum):
    IMAGE = "image"
    SELFIE = "selfie"
    SVD = "svd"
    WAN = "wan"

    @property
    def lane(self) -> str:
        return {"image": "image", "selfie": "image", "svd": "video", "wan": "wan"}[self.value]

    @property
    def is_video(self) -> bool:
        return self in (Kind.SVD, Kind.WAN)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)

    def doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# Approximate speed options a style may opt into (docs/GPU.md, "Per-style options"). A value at its
# exact default is never serialized (`exclude_if`), so the params digest, the prompt keys and the
# stored documents of styles and jobs that do not opt in stay what they were before these fields
# existed, and a variant made with an approximation is never served for the exact spec.
class ApproximateOptions(BaseModel):
    """FP8 UNet, CFG truncation and step caching: faster, output not equal to the exact path's."""

    # fraction of steps run with CFG; 1 = every step
    cfg_cutoff: float = Field(default=1.0, gt=0, le=1, exclude_if=lambda v: v == 1.0)
    # FP8 UNet linears where the deployment and GPU have FP8 (capability >= 8.9); exact elsewhere
    fp8: bool = Field(default=False, strict=True, exclude_if=lambda v: not v)
    # the full UNet every N steps, its deep features reused in between; 1 = off
    step_cache_interval: int = Field(default=1, ge=1, le=8, exclude_if=lambda v: v == 1)

    def approximate_key(self) -> tuple[float, bool, int]:
        return (self.cfg_cutoff, self.fp8, self.step_cache_interval)

    def _check_approximate(self, steps: int, guidance_scale: float) -> None:
        """Loud, as diffusers' `check_inputs`: an option that cannot act is an error, not a no-op."""
        if self.cfg_cutoff < 1 and guidance_scale <= 1:
            raise ValueError(f"cfg_cutoff {self.cfg_cutoff} needs guidance_scale > 1 (no CFG to truncate)")
        if self.step_cache_interval > 1 and self.step_cache_interval >= steps:
            raise ValueError(f"step_cache_interval {self.step_cache_interval} must be below steps ({steps})")


class StyleParams(ApproximateOptions):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(default=30, ge=1, le=150)
    guidance_scale: float = Field(default=7.0, ge=0, le=30)
    width: int = Field(default=1024, ge=64, le=2048, multiple_of=8)
    height: int = Field(default=1024, ge=64, le=2048, multiple_of=8)

    @model_validator(mode="after")
    def _check(self) -> StyleParams:
        self._check_approximate(self.steps, self.guidance_scale)
        return self


class StyleProfile(Record):
    soul_id: str
    display_name: str = ""
    description: str = ""  # what the soul is, in a line, for the pickers (not part of any prompt)
    prompt_template: str = "{cue}"
    negative_prompt: str = ""
    params: StyleParams = Field(default_factory=StyleParams)
    version: int = 1
    archived: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0

    def render(self, cue: str) -> str:
        return self.prompt_template.replace("{cue}", cue)


class Landmark(BaseModel):
    key: str
    name: str
    description: str = ""


class City(Record):
    city_key: str
    name: str
    landmarks: list[Landmark]


class PromptKey(Record):
    pk: str
    soul_id: str
    kind: Kind
    text: str
    style_version: int
    params_digest: str
    created_at: float = 0.0


class Artifact(BaseModel):
    name: str
    content_type: str
    bytes: int
    sha256: str


class GenerationSpec(ApproximateOptions):
    """Everything a generator needs, pure data: the same spec and seed give the same output.

    The approximate options come from the style (exact by default); jobs that differ in them never
    share a batch."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    soul_id: str
    prompt: str
    negative_prompt: str = ""
    seed: int = Field(ge=0, le=2**31 - 1)
    width: int = Field(default=1024, ge=32, le=2048)
    height: int = Field(default=1024, ge=32, le=2048)
    steps: int = Field(default=30, ge=1, le=150)
    guidance_scale: float = Field(default=7.0, ge=0, le=30)
    num_frames: int = Field(default=0, ge=0, le=300)
    fps: int = Field(default=7, ge=1, le=60)
    source_variant_id: str | None = None
    generate_gif: bool = True
    label: str = ""

    def batch_key(self) -> tuple[Any, ...]:
        """Jobs with equal batch keys can run as one diffusers batch."""
        return (self.kind.lane, self.width, self.height, self.steps, self.guidance_scale, self.num_frames,
                *self.approximate_key())  # fmt: skip

    @model_validator(mode="after")
    def _check(self) -> GenerationSpec:
        self._check_approximate(self.steps, self.guidance_scale)
        return self


class Variant(Record):
    variant_id: str
    pk: str
    kind: Kind
    soul_id: str
    seed: int
    status: str = "ready"
    generator: str
    artifacts: dict[str, Artifact] = Field(default_factory=dict)
    job_id: str
    created_at: float
    width: int = 0
    height: int = 0
    label: str = ""
    pregen: bool = False  # made ahead of demand: its first viewer pays for it from their daily cap
    # Content safety (docs/SAFETY.md): the prompt policy its key was checked under (another one re-checks the
    # text before serving) and the output screener that passed it ("not-screened-locally" says nothing looked).
    safety_policy: str = ""
    screened_by: str = ""
    # When the record stops being served (and Firestore's TTL policy deletes it): the artifacts'
    # GCS lifecycle age, so a record never outlives its objects (docs/ARCHITECTURE.md, records).
    expire_at: float = 0.0


class JobError(BaseModel):
    code: str
    message: str
    retryable: bool = False


class Progress(BaseModel):
    step: int = 0
    total: int = 0


class Job(Record):
    job_id: str
    kind: Kind
    lane: str
    pk: str
    spec: GenerationSpec
    variant_id: str
    request: dict[str, Any] = Field(default_factory=dict)
    status: JobStatus = JobStatus.QUEUED
    progress: Progress = Field(default_factory=Progress)
    attempts: int = 0
    safety_retries: int = 0  # outputs blocked by screening and made again with another seed (gpu_jobs/screening.py)
    lease_owner: str | None = None
    lease_expires_at: float = 0.0
    cancel_requested: bool = False
    error: JobError | None = None
    owner: str
    # The creator only, never grown: who else waits is one `waiters` document per user (Waiter), so
    # no job document grows with the popularity of its key.
    user_ids: list[str] = Field(default_factory=list)
    published: bool = False
    remote_task_id: str | None = None
    created_at: float
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None
    expire_at: float = 0.0  # Firestore TTL: the record is deleted after this


class WaiterState(StrEnum):
    WAITING = "waiting"  # shown the variant when they read the finished task
    LEFT = "left"  # canceled for themselves: sees the task canceled, never shown its variant
    DELIVERED = "delivered"  # read the finished task: the variant is in their seen list


class Waiter(Record):
    """One document per (job, user): a user waiting for a single-flight job (`waiters/{job}_{user}`).

    Attaching is a write to this document alone; no document is shared by the users of a hot key."""

    job_id: str
    user_id: str
    pk: str
    state: WaiterState = WaiterState.WAITING
    created_at: float
    expire_at: float = 0.0
    # A request served from the cache: the user's own run record of the variant's job (shared/history.py).
    served_from_cache: bool = False


class SeenMarks(Record):
    """One document per (user, prompt key): the variants that user was shown. Never shared."""

    pk: str
    variant_ids: list[str] = Field(default_factory=list)
    updated_at: float = 0.0


class JobMessage(BaseModel):
    """The Pub/Sub payload: a versioned reference to a job document, never the job itself."""

    model_config = ConfigDict(extra="forbid")

    v: int = 1
    job_id: str = Field(min_length=1, max_length=64)
    lane: str
