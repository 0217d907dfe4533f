"""The worker's composition root: generators chosen from settings and built lazily, once per process.

No SDXL / SVD weights configured → the preview generator (labelled placeholders); no DashScope key →
Wan jobs fail with a clear "not configured" error, never a fake success. A weights path that is set but
holds no weights (Terraform always sets /models/...; an empty models bucket mounts as an empty folder)
fails that model's jobs with `model_unavailable` instead of crashing the worker at start, which on
Cloud Run would crash-loop an L4 through every task retry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_jobs.generators.base import Generator, GenRequest, Output
from gpu_jobs.generators.preview import PreviewGenerator
from shared.config import Settings
from shared.domain.models import Kind
from shared.errors import NotConfigured
from shared.lanes import has_weights  # one rule for the worker and for what /info says it runs
from shared.logging import get_logger
from shared.ports import DocumentStore

if TYPE_CHECKING:
    from gpu_jobs.compile_cache import ArtifactStore
    from gpu_jobs.torch_runtime import SpeedOptions


log = get_logger("soul.worker")


class WanNotConfigured:
    name = "wan"

    def setup(self) -> None:
        """Nothing to load."""

    def generate(self, requests: Any) -> list[Output]:
        raise NotConfigured("Wan text-to-video is not configured: set DASHSCOPE_API_KEY")


class WeightsMissing:
    """Stands in for a model whose weights are not where the settings say: every job fails, clearly."""

    def __init__(self, name: str, path: Path, setting: str) -> None:
        self.name, self.path, self.setting = name, path, setting

    def setup(self) -> None:
        log.error(
            "%s weights missing at %s (%s): its jobs fail with model_unavailable", self.name, self.path, self.setting
        )

    def generate(self, requests: Any) -> list[Output]:
        raise NotConfigured(  # no path here: job errors reach users (the log has it)
            f"{self.name} weights are missing ({self.setting} holds no model): upload the diffusers folder "
            "to the models bucket (docs/DEPLOY.md)",
            code="model_unavailable",
        )


class Generators:
    """Builds each generator on first use; `setup()` runs once, under a lock."""

    def __init__(
        self, settings: Settings, store: DocumentStore | None = None, overrides: dict[str, Generator] | None = None
    ) -> None:
        self.settings = settings
        self.store = store
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
            return self._sdxl if has_weights(s.sdxl_model_path) else self._missing("SDXL", s.sdxl_model_path)
        if slot == "video" and s.svd_model_path:
            return self._svd if has_weights(s.svd_model_path) else self._missing("SVD", s.svd_model_path)
        if slot == "wan":
            return self._wan if s.dashscope_api_key else WanNotConfigured
        return self._preview

    @staticmethod
    def _missing(name: str, path: Path) -> Callable[[], Generator]:
        return lambda: WeightsMissing(name, path, f"{name}_MODEL_PATH")

    def _preview(self) -> Generator:
        return PreviewGenerator(self.settings.soul_preview_step_seconds, self.settings.soul_preview_hold_file)

    def _sdxl(self) -> Generator:
        from gpu_jobs.generators.sdxl import SdxlGenerator

        s = self.settings
        assert s.sdxl_model_path is not None
        return SdxlGenerator(
            s.sdxl_model_path,
            config_dir=s.sdxl_config_dir,
            force_cpu=s.force_cpu,
            memory_fraction=s.device_memory_fraction,
            speed=self._speed(),
            max_batch=s.soul_batch_size,  # a cap: the generator fits its batch to the device's memory
            warmup_size=(s.sdxl_width, s.sdxl_height) if s.soul_warmup else None,  # every padded batch size
            compile_cache=self._compile_cache(),
        )

    def _svd(self) -> Generator:
        from gpu_jobs.generators.svd import SvdGenerator

        s = self.settings
        assert s.svd_model_path is not None
        return SvdGenerator(
            s.svd_model_path,
            num_frames=s.svd_num_frames,
            fps=s.svd_fps,
            motion_bucket_id=s.svd_motion_bucket_id,
            decode_chunk_size=s.svd_decode_chunk_size,
            force_cpu=s.force_cpu,
            memory_fraction=s.device_memory_fraction,
            speed=self._speed(),
            warmup_shapes=[(s.svd_image_width, s.svd_image_height)] if s.soul_warmup else [],
            compile_cache=self._compile_cache(),
        )

    def _speed(self) -> SpeedOptions:
        from gpu_jobs import torch_runtime

        s = self.settings
        return torch_runtime.SpeedOptions(
            compile=s.soul_torch_compile,
            compile_cache_dir=s.soul_compile_cache_dir,
            cfg_cutoff=s.soul_cfg_cutoff,
            compile_vae=s.soul_compile_vae,
            fp8=s.soul_fp8,
            style_cfg_cutoff=s.soul_style_cfg_cutoff,
            style_step_cache=s.soul_style_step_cache,
        )

    def _compile_cache(self) -> ArtifactStore | None:
        """Where compiled UNets persist between starts: the models bucket (gcp), else a local directory
        under SOUL_COMPILE_CACHE_DIR; None (compile at every start) when neither is set."""
        from gpu_jobs import compile_cache

        s = self.settings
        if not s.soul_torch_compile:
            return None
        if s.soul_models_bucket:
            from shared.adapters.gcp_storage import GcsBlobStore

            return compile_cache.BlobArtifactStore(GcsBlobStore(s.google_cloud_project, s.soul_models_bucket))
        if s.soul_compile_cache_dir is not None:
            return compile_cache.DirectoryArtifactStore(s.soul_compile_cache_dir / "artifacts")
        return None

    def warm(self, lanes: list[str]) -> None:
        """Load (and compile) every generator these lanes use, before the first job arrives."""
        kinds = {"image": Kind.IMAGE, "video": Kind.SVD, "wan": Kind.WAN}
        for lane in lanes:
            self.for_kind(kinds[lane])

    def _wan(self) -> Generator:
        from gpu_jobs.generators.wan import WanGenerator

        s = self.settings
        if self.store is None:
            raise NotConfigured("the Wan generator needs the record store for account limits")
        return WanGenerator(
            store=self.store,
            api_key=s.dashscope_api_key,
            base_url=s.wan_api_base_url,
            model=s.wan_model,
            size=s.wan_size,
            duration=s.wan_duration,
            prompt_extend=s.wan_prompt_extend,
            watermark=s.wan_watermark,
            allowed_hosts=s.wan_allowed_hosts,
            max_concurrent=s.wan_max_concurrent_tasks,
        )


__all__ = ["GenRequest", "Generators"]
