"""The preview generator: a clearly labelled placeholder (the seed's "simulation mode").

Used when no model weights are configured, so the whole pipeline runs anywhere. Every image says
PREVIEW in large letters and shows the soul, the prompt and the seed; video kinds get a short clip of
the same card with a moving marker. It is not, and does not pretend to be, a model output.
"""

from __future__ import annotations

import colorsys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from gpu_jobs.generators.base import GenRequest, Output
from shared.domain.models import GenerationSpec
from shared.errors import JobCanceled

PREVIEW_MAX_SIDE = 512


def _size(spec: GenerationSpec) -> tuple[int, int]:
    scale = min(1.0, PREVIEW_MAX_SIDE / max(spec.width, spec.height))
    return max(64, int(spec.width * scale) // 2 * 2), max(64, int(spec.height * scale) // 2 * 2)


def _card(spec: GenerationSpec) -> Image.Image:
    width, height = _size(spec)
    hue = (spec.seed % 360) / 360
    r, g, b = (int(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.35, 0.85))
    image = Image.new("RGB", (width, height), (r, g, b))
    draw = ImageDraw.Draw(image)
    big = ImageFont.load_default(size=max(14, width // 10))
    small = ImageFont.load_default(size=max(10, width // 36))
    draw.rectangle([4, 4, width - 5, height - 5], outline=(20, 20, 20), width=3)
    draw.text((width // 2, height // 6), "PREVIEW", fill=(20, 20, 20), font=big, anchor="mm")
    lines = [f"placeholder - no model weights ({spec.kind.value})", f"soul: {spec.soul_id}", f"seed: {spec.seed}"]
    lines += textwrap.wrap(f"prompt: {spec.label or spec.prompt}", width=max(20, width // 9))[:6]
    y = height // 3
    for line in lines:
        draw.text((12, y), line, fill=(20, 20, 20), font=small)
        y += int(max(10, width // 36) * 1.4)
    return image


def _clip(card: Image.Image, frames: int) -> list[Image.Image]:
    out = []
    width, height = card.size
    for i in range(frames):
        frame = card.copy()
        x = int((width - 40) * i / max(1, frames - 1)) + 20
        ImageDraw.Draw(frame).ellipse([x - 14, height - 44, x + 14, height - 16], fill=(250, 250, 250))
        out.append(frame)
    return out


class PreviewGenerator:
    """Runs the spec's real number of steps, each laying down one more band of the card, and reports
    each (so progress reads "step 12/30", never "1/1"). `step_seconds` > 0 also paces the steps (progress
    and cancel then take as long to watch as a model's would; used by `soul dev` demos and the tests).
    While `hold_file` exists the running job waits between steps, so a test can keep the worker busy for
    exactly as long as it needs (SOUL_PREVIEW_HOLD_FILE)."""

    name = "preview"
    HOLD_POLL_SECONDS = 0.02

    def __init__(self, step_seconds: float = 0.0, hold_file: Path | None = None) -> None:
        self.step_seconds = step_seconds
        self.hold_file = hold_file

    def setup(self) -> None:
        """Nothing to load."""

    def generate(self, requests: Sequence[GenRequest]) -> list[Output]:
        if all(r.hooks.canceled() for r in requests):
            raise JobCanceled("canceled before generation")
        outputs = []
        for request in requests:
            spec = request.spec
            card = self._steps(request, requests)
            frames = _clip(card, spec.num_frames or 8) if spec.kind.is_video else [card]
            outputs.append(Output(frames=frames, fps=spec.fps, generator=self.name))
        return outputs

    def _hold(self, batch: Sequence[GenRequest]) -> None:
        while self.hold_file is not None and self.hold_file.exists():
            if all(r.hooks.canceled() for r in batch):
                raise JobCanceled("canceled while held")
            time.sleep(self.HOLD_POLL_SECONDS)

    def _steps(self, request: GenRequest, batch: Sequence[GenRequest]) -> Image.Image:
        """The card, built band by band over `spec.steps` steps; progress after each band."""
        spec = request.spec
        total = max(1, spec.steps)
        card = _card(spec)
        width, height = card.size
        canvas = Image.new("RGB", card.size, (255, 255, 255))
        request.hooks.progress(0, total)
        for step in range(1, total + 1):
            top, bottom = height * (step - 1) // total, height * step // total
            canvas.paste(card.crop((0, top, width, bottom)), (0, top))
            if self.step_seconds:
                time.sleep(self.step_seconds)
            self._hold(batch)
            if step < total and all(r.hooks.canceled() for r in batch):
                raise JobCanceled("canceled between steps")
            request.hooks.progress(step, total)
        return canvas
