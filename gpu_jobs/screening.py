"""Output screening in the worker (docs/SAFETY.md): every output is judged before it is uploaded.

Images are screened whole; videos (SVD frames, Wan's downloaded MP4) by `frames` frames sampled evenly.
Nothing is uploaded before its verdict, so a blocked output never exists under a variant's object
names and is never served. A blocked output is regenerated with another seed up to `retries` times
(not for Wan, whose provider task is resumed, not redone); the attempts are counted on the job
(`safety_retries`). Past them the job fails with `content_blocked`, one audit record per block is
written, and the key is marked in `blocked_keys` so pre-generation never makes it again.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from gpu_jobs import media
from gpu_jobs.generators.base import Output
from shared.domain.models import Job, Kind
from shared.errors import ContentBlocked
from shared.ids import new_id, seed_from
from shared.logging import get_logger
from shared.ports import Clock, DocumentStore
from shared.records import AUDIT, BLOCKED_KEYS, JOBS
from shared.safety.policy import ImageScreener, Verdict

log = get_logger("soul.worker")
THUMB = 768  # frames are screened at this size at most (SafeSearch needs no more; the upload is smaller)


def sample(frames: list[Image.Image], count: int) -> list[Image.Image]:
    if len(frames) <= count:
        return frames
    step = (len(frames) - 1) / max(1, count - 1)
    return [frames[round(i * step)] for i in range(count)]


def frames_of(job: Job, output: Output, count: int) -> list[bytes]:
    frames = output.frames
    if not frames and output.video is not None:
        frames, _ = media.decode_video(output.video)
    picked = sample(frames, 1 if not job.kind.is_video else count)
    out = []
    for frame in picked:
        small = frame.copy()
        small.thumbnail((THUMB, THUMB))
        out.append(media.encode_png(small))
    return out


class OutputScreen:
    def __init__(
        self,
        store: DocumentStore,
        clock: Clock,
        screener: ImageScreener | None,
        *,
        retries: int,
        frames: int,
        strict_souls: frozenset[str] = frozenset(),
    ) -> None:
        self.store, self.clock, self.screener = store, clock, screener
        self.retries, self.frames, self.strict_souls = retries, frames, strict_souls
        self.screened = 0  # outputs judged (tests and logs read it)

    @property
    def name(self) -> str:
        return self.screener.name if self.screener is not None else "off"

    def judge(self, job: Job, output: Output) -> Verdict:
        if self.screener is None or not self.screener.screens:  # nothing looks: do not decode or encode frames
            return Verdict(True, screened=False)
        self.screened += 1
        return self.screener.screen(frames_of(job, output, self.frames), strict=job.spec.soul_id in self.strict_souls)

    def passed(self, job: Job, output: Output, regenerate: Callable[[Job], Output]) -> tuple[Job, Output]:
        """The job (reseeded if it had to be) and an output that passed; ContentBlocked past the retries."""
        retries = 0 if job.kind is Kind.WAN else self.retries
        for attempt in range(retries + 1):
            verdict = self.judge(job, output)
            if verdict.allowed:
                return job, output
            self._audit(job, verdict, attempt)
            if attempt == retries:
                self._block_key(job, verdict)
                raise ContentBlocked(f"the output was blocked by content safety: {verdict.words}")
            spec = job.spec.model_copy(update={"seed": seed_from(job.pk, job.variant_id, "reseed", attempt + 1)})
            job = job.model_copy(update={"spec": spec, "safety_retries": attempt + 1})
            self.store.update(JOBS, job.job_id, {"spec": spec.model_dump(mode="json"), "safety_retries": attempt + 1})
            log.warning("output blocked; reseeding", extra={"job_id": job.job_id, "pk": job.pk, "attempt": attempt + 1})
            output = regenerate(job)
        raise AssertionError("unreachable")

    def _audit(self, job: Job, verdict: Verdict, attempt: int) -> None:
        doc = {
            "action": "output_blocked",
            "job_id": job.job_id,
            "pk": job.pk,
            "kind": job.kind.value,
            "soul_id": job.spec.soul_id,
            "category": verdict.category,
            "scores": verdict.scores,
            "seed": job.spec.seed,
            "attempt": attempt,
            "screener": self.name,
            "at": self.clock.now(),
        }
        self.store.create(AUDIT, new_id(), doc)

    def _block_key(self, job: Job, verdict: Verdict) -> None:
        """Pre-generation never makes this key again; users asking for it still get a screened try."""
        doc = {"pk": job.pk, "by": "output", "category": verdict.category, "at": self.clock.now()}
        self.store.create(BLOCKED_KEYS, job.pk, doc)
        log.warning("output blocked", extra={"job_id": job.job_id, "pk": job.pk, "category": verdict.category})


def from_settings(store: DocumentStore, clock: Clock, settings: object) -> OutputScreen:
    from shared.config import Settings
    from shared.safety.build import image_screener, strict_souls

    assert isinstance(settings, Settings)
    return OutputScreen(
        store,
        clock,
        image_screener(settings),
        retries=settings.soul_output_screen_retries,
        frames=settings.soul_video_screen_frames,
        strict_souls=strict_souls(settings),
    )
