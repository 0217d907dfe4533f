"""The simulated GPU's output, shared by the benchmarks that replay requests without pixels (trace,
pre-generation, viral): a ready variant record for a claimed job, naming a PNG that is never written
(the hit path and signed URLs do not read it). Says what it is: generator `bench-simulation`."""

from __future__ import annotations

from shared.domain.models import Artifact, Job, Variant

GENERATOR = "bench-simulation"


def variant_for(job: Job, now: float) -> Variant:
    png = Artifact(name=f"bench/{job.variant_id}.png", content_type="image/png", bytes=1, sha256="0" * 64)
    return Variant(
        variant_id=job.variant_id,
        pk=job.pk,
        kind=job.kind,
        soul_id=job.spec.soul_id,
        seed=job.spec.seed,
        generator=GENERATOR,
        artifacts={"png": png},
        job_id=job.job_id,
        created_at=now,
        label=job.spec.label,
    )
