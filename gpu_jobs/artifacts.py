"""From generator output to stored artifacts and a variant record.

Object names are deterministic per variant (`variants/{variant_id}/…`) and uploads are create-only,
so a retry after a partial write reuses what is there; `existing_variant` lets the worker skip
generation entirely when a crashed attempt already uploaded everything.
"""

from __future__ import annotations

import hashlib

from gpu_jobs import media
from gpu_jobs.generators.base import Output
from shared.domain.models import Artifact, Job, Variant
from shared.errors import AlreadyExists, GenerationFailed
from shared.ports import BlobStore

CONTENT_TYPES = {"png": "image/png", "mp4": "video/mp4", "gif": "image/gif"}


def object_name(variant_id: str, ext: str) -> str:
    return f"variants/{variant_id}/{ {'png': 'image', 'mp4': 'video', 'gif': 'anim'}[ext] }.{ext}"


def expected_exts(job: Job) -> list[str]:
    if not job.kind.is_video:
        return ["png"]
    return ["mp4", "gif"] if job.spec.generate_gif else ["mp4"]


def encode(job: Job, output: Output) -> dict[str, bytes]:
    if not job.kind.is_video:
        if not output.frames:
            raise GenerationFailed("generator returned no image")
        return {"png": media.encode_png(output.frames[0])}
    if output.video is not None:
        video = output.video
        frames, fps = media.decode_video(video) if job.spec.generate_gif else ([], float(output.fps))
    else:
        if not output.frames:
            raise GenerationFailed("generator returned no frames")
        frames, fps = output.frames, float(output.fps)
        video = media.encode_mp4(frames, output.fps)
    encoded = {"mp4": video}
    if job.spec.generate_gif:
        encoded["gif"] = media.encode_gif(frames, max(1, round(fps)))
    return encoded


def _artifact(name: str, data: bytes, ext: str) -> Artifact:
    return Artifact(
        name=name, content_type=CONTENT_TYPES[ext], bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
    )


def upload(blobs: BlobStore, job: Job, encoded: dict[str, bytes]) -> dict[str, Artifact]:
    """Create-only uploads; an object left by an earlier attempt wins and is recorded as it is."""
    artifacts = {}
    for ext, data in encoded.items():
        name = object_name(job.variant_id, ext)
        stored = data
        try:
            blobs.put(name, data, CONTENT_TYPES[ext])
        except AlreadyExists:
            stored = blobs.get(name)
        artifacts[ext] = _artifact(name, stored, ext)
    return artifacts


def existing(blobs: BlobStore, job: Job) -> dict[str, Artifact] | None:
    """All of the job's artifacts, if an earlier attempt already uploaded every one."""
    names = {ext: object_name(job.variant_id, ext) for ext in expected_exts(job)}
    if not all(blobs.exists(n) for n in names.values()):
        return None
    return {ext: _artifact(name, blobs.get(name), ext) for ext, name in names.items()}


def variant_for(job: Job, artifacts: dict[str, Artifact], generator: str, now: float, screened_by: str = "") -> Variant:
    return Variant(
        variant_id=job.variant_id,
        pk=job.pk,
        kind=job.kind,
        soul_id=job.spec.soul_id,
        seed=job.spec.seed,
        generator=generator,
        artifacts=artifacts,
        job_id=job.job_id,
        created_at=now,
        width=job.spec.width,
        height=job.spec.height,
        label=job.spec.label,
        safety_policy=str(job.request.get("safety_policy", "")),
        screened_by=screened_by,
        pregen=bool(job.request.get("pregen")),
    )
