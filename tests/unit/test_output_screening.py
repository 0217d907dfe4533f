"""Output screening's frame sampling (gpu_jobs/screening.py): images whole, videos and Wan's MP4 by
sampled frames, and the reseeded retries counted (issue 22 §2)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest
from PIL import Image

from gpu_jobs import media, screening
from gpu_jobs.generators.base import Output
from shared.clock import SystemClock
from shared.domain.models import GenerationSpec, Job, Kind
from shared.errors import ContentBlocked
from shared.safety.policy import Verdict

pytestmark = pytest.mark.unit


def _job(kind: Kind) -> Job:
    spec = GenerationSpec(kind=kind, soul_id="nova", prompt="p", seed=1, width=32, height=32, num_frames=8, fps=8)
    fields = {"job_id": "j1", "kind": kind, "lane": kind.lane, "pk": "pk1", "spec": spec, "variant_id": "v1"}
    return Job(**fields, owner="u1", created_at=0, updated_at=0)  # type: ignore[arg-type]


def _colours(data: Sequence[bytes]) -> list[tuple[int, int, int]]:
    return [Image.open(io.BytesIO(d)).convert("RGB").getpixel((4, 4)) for d in data]  # type: ignore[misc]


def test_a_video_is_screened_by_evenly_sampled_frames_and_an_mp4_is_decoded() -> None:
    frames = [Image.new("RGB", (32, 32), (i * 30, 0, 0)) for i in range(8)]
    picked = screening.frames_of(_job(Kind.SVD), Output(frames=frames, fps=8), 4)
    assert [c[0] for c in _colours(picked)] == [0, 60, 150, 210]  # frames 0, 2, 5, 7
    mp4 = media.encode_mp4([Image.new("RGB", (32, 32), (250, 250, 250))] * 8, 8)
    decoded = screening.frames_of(_job(Kind.WAN), Output(video=mp4), 3)  # Wan's downloaded file
    assert len(decoded) == 3 and all(c[0] > 200 for c in _colours(decoded))
    assert len(screening.frames_of(_job(Kind.IMAGE), Output(frames=frames[:1]), 4)) == 1


class Always:
    name, screens = "always", True

    def __init__(self, allowed: bool) -> None:
        self.allowed, self.calls = allowed, 0

    def screen(self, images: Sequence[bytes], strict: bool = False) -> Verdict:
        self.calls += 1
        return Verdict(self.allowed, "" if self.allowed else "violence")


class Store:
    """Just enough of a DocumentStore for the screen's writes (a fake, recorded)."""

    def __init__(self) -> None:
        self.created: list[tuple[str, str]] = []
        self.updated: list[dict[str, object]] = []

    def create(self, collection: str, doc_id: str, data: dict[str, object]) -> bool:
        self.created.append((collection, doc_id))
        return True

    def update(self, collection: str, doc_id: str, fields: dict[str, object]) -> None:
        self.updated.append(fields)


def test_wan_is_never_reseeded_and_retries_are_bounded() -> None:
    frame = Output(frames=[Image.new("RGB", (16, 16), "red")] * 2, fps=8)
    store = Store()
    screen = screening.OutputScreen(store, SystemClock(), Always(False), retries=2, frames=2)  # type: ignore[arg-type]
    redone: list[int] = []
    with pytest.raises(ContentBlocked, match="graphic violence"):
        screen.passed(_job(Kind.IMAGE), frame, lambda job: redone.append(job.spec.seed) or frame)
    assert len(redone) == 2 and len(set(redone)) == 2 and [u["safety_retries"] for u in store.updated] == [1, 2]
    with pytest.raises(ContentBlocked):
        screen.passed(_job(Kind.WAN), frame, lambda job: redone.append(job.spec.seed) or frame)
    assert len(redone) == 2  # a Wan output is not remade: its provider task would only be resumed
