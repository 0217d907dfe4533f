"""The generator contract (after cog's setup/predict): `setup()` loads once, `generate()` is pure in
spec + seed (+ source image), and reports progress / checks cancel through per-job hooks.

A generator receives a batch of compatible requests (equal `GenerationSpec.batch_key()`); it returns
one `Output` per request, in order. When *every* request of the batch is canceled it raises
`JobCanceled`; a partly canceled batch finishes and the worker drops the canceled outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image

from shared.domain.models import GenerationSpec


class JobHooks(Protocol):
    @property
    def remote_task_id(self) -> str | None:
        """A provider task id saved by an earlier attempt of this job (Wan), to resume instead of resubmit."""
        ...

    def progress(self, step: int, total: int) -> None:
        """Report step i of N (the hooks throttle writes; call as often as you like)."""
        ...

    def canceled(self) -> bool:
        """True once the job's cancel flag is set (reads are throttled by the hooks)."""
        ...

    def save_remote_task_id(self, task_id: str) -> None:
        """Persist a provider task id on the job *before* polling it."""
        ...


@dataclass
class GenRequest:
    spec: GenerationSpec
    hooks: JobHooks
    source: Image.Image | None = None  # SVD: the source variant's PNG, decoded


@dataclass
class Output:
    frames: list[Image.Image] = field(default_factory=list)  # one for images; all frames for video
    fps: int = 7
    video: bytes | None = None  # an already-encoded MP4 (Wan copies the provider's file)
    generator: str = ""


class Generator(Protocol):
    name: str

    def setup(self) -> None: ...

    def generate(self, requests: Sequence[GenRequest]) -> list[Output]: ...


@dataclass
class NullHooks:
    """Hooks for callers outside a job (benchmarks, warm-up)."""

    remote_task_id: str | None = None
    steps: list[tuple[int, int]] = field(default_factory=list)

    def progress(self, step: int, total: int) -> None:
        self.steps.append((step, total))

    def canceled(self) -> bool:
        return False

    def save_remote_task_id(self, task_id: str) -> None:
        self.remote_task_id = task_id
