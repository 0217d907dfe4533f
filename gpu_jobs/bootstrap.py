"""The worker's composition root: generators chosen from settings and built lazily, once per process.

No SDXL / SVD weights configured → the preview generator (labelled placeholders); no DashScope key →
Wan jobs fail with a clear "not configured" error, never a fake success.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gpu_jobs.generators.base import Generator, GenRequest, Output
from gpu_jobs.generators.preview import PreviewGenerator
from shared.config import Settings
from shared.domain.models import Kind
from shared.errors import NotConfigured


class WanNotConfigured:
    name = "wan"

    def setup(self) -> None:
        """Nothing to load."""

    def generate(self, requests: Any) -> list[Output]:
        raise NotConfigured("Wan text-to-video is not configured: set DASHSCOPE_API_KEY")


class Generators:
    """Builds each generator on first use; `setup()` runs once, under a lock."""

    def __init__(self, settings: Settings, overrides: dict[str, Generator] | None = None) -> None:
        self.settings = settings
        self._built: dict[str, Generator] = dict(overrides or {})
        self._lock = threading.Lock()

    def for_kind(self, kind: Kind) -> Generator:
        slot = {"image": "image", "selfie": "image", "svd": "video", "wan": "wan"}[kind.value]
        with self._lock:
            if slot not in self._built:
                generator = self._factory(slot)()
                generator.setup()
                self._built[slot] = generator
            return self._built[slot]

    def _factory(self, slot: str) -> Callable[[], Generator]:
        s = self.settings
        if slot == "image" and s.sdxl_model_path:
            return self._sdxl
        if slot == "video" and s.svd_model_path:
            return self._svd
        if slot == "wan":
            return self._wan if s.dashscope_api_key else WanNotConfigured
        return self._preview

    def _preview(self) -> Generator:
        return PreviewGenerator(self.settings.soul_preview_step_seconds)

    def _sdxl(self) -> Generator:
        from gpu_jobs.generators.sdxl import build_from_settings

        return build_from_settings(self.settings)

    def _svd(self) -> Generator:
        from gpu_jobs.generators.svd import build_from_settings

        return build_from_settings(self.settings)

    def _wan(self) -> Generator:
        from gpu_jobs.generators.wan import build_from_settings

        return build_from_settings(self.settings)


__all__ = ["GenRequest", "Generators"]
