"""The SVD image→video generator: `StableVideoDiffusionPipeline` from a local diffusers folder.

The source is the variant's PNG, decoded by the worker (`GenRequest.source`), never a path from a
request. Frames, fps, motion bucket, noise augmentation, guidance range and decode chunk come from
the constructor (the deployment's config); a spec's non-zero `num_frames` overrides the frame count.
Requests of a batch run one clip at a time: one 25-frame clip with CFG is already a 50-image UNet
batch that fills an H100, so batching clips buys nothing and costs memory; canceled requests are
skipped before their clip starts. Progress and cancel are checked after every step; an OOM is a
permanent `GenerationFailed` (code `out_of_memory`): there is no smaller batch than one clip.

Dtypes and speed options come from a `RuntimePlan` (`gpu_jobs.runtime_plan`): never channels_last
(the UNet and temporal VAE hold Conv3d weights), the VAE in the UNet's dtype, and the latents cast to
the VAE's dtype at decode, which the generator does itself in chunks sized to the device's memory.
A spec's approximate options apply as for SDXL: CFG truncation (the earlier of the spec's and the
deployment's cutoff) and step caching (`gpu_jobs.step_cache`); FP8 stays a deployment setting here
(`SOUL_FP8` quantizes the one UNet), as no style reaches an SVD spec.

Each clip's denoise and decode time feed a per-model, per-device `Timing`, which
`estimate_seconds(num_frames)` turns into the answer for `/video/estimate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from gpu_jobs.compile_cache import ArtifactStore
from gpu_jobs.generators.base import GenRequest, NullHooks, Output
from gpu_jobs.runtime_plan import RuntimePlan, cfg_warmup_steps, memory_plan
from gpu_jobs.step_cache import StepCache
from gpu_jobs.torch_compile import forward_chunking
from gpu_jobs.torch_runtime import (
    CfgTruncation,
    FaultHook,
    PipelineHost,
    SpeedOptions,
    StepClock,
    apply_plan,
    attention_context,
    check_finite,
    limit_memory,
    release_memory,
    seeded_generators,
    synchronize,
)
from shared.domain.models import GenerationSpec, Kind
from shared.errors import GenerationFailed, InvalidInput, JobCanceled, NotConfigured


def load_svd(model_path: Path, dtype: torch.dtype) -> Any:
    from diffusers import StableVideoDiffusionPipeline

    if not (model_path / "model_index.json").is_file():
        raise NotConfigured(f"no SVD diffusers folder at {model_path}")
    return StableVideoDiffusionPipeline.from_pretrained(  # type: ignore[no-untyped-call]
        str(model_path), local_files_only=True, torch_dtype=dtype
    )


class _StepCallback:
    """Progress and cancel after every step; CFG truncation from `cfg_cutoff` of the steps on."""

    def __init__(self, request: GenRequest, total: int, clock: StepClock, cfg: CfgTruncation, cutoff: float) -> None:
        self.request, self.total, self.clock, self.cfg = request, total, clock, cfg
        self.cfg_steps = math.ceil(total * cutoff) if cutoff < 1.0 else total

    def __call__(self, _pipe: Any, step: int, _timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if step + 1 == self.total:
            synchronize(self.clock.device)
        self.clock.step()
        self.request.hooks.progress(step + 1, self.total)
        if self.request.hooks.canceled():
            raise JobCanceled(f"canceled at step {step + 1}/{self.total}")
        self.cfg.active = step + 1 >= self.cfg_steps and step + 1 < self.total
        return kwargs


class SvdGenerator(PipelineHost):
    name = "svd"

    def __init__(
        self,
        model_path: Path,
        *,
        device: str | None = None,
        dtype: str | None = None,
        force_cpu: bool = False,
        memory_fraction: float = 1.0,
        num_frames: int = 25,
        fps: int = 7,
        motion_bucket_id: int = 127,
        noise_aug_strength: float = 0.02,
        decode_chunk_size: int = 8,
        min_guidance_scale: float = 1.0,
        max_guidance_scale: float = 3.0,
        speed: SpeedOptions | None = None,
        warmup_shapes: Sequence[tuple[int, int]] = (),
        plan: RuntimePlan | None = None,
        fault_hook: FaultHook | None = None,
        compile_cache: ArtifactStore | None = None,
    ) -> None:
        """`warmup_shapes`: (width, height) clips made in `setup()` (compile and first timings);
        `compile_cache`: where a compiled UNet's artifacts persist between starts."""
        if num_frames < 1 or fps < 1 or decode_chunk_size < 1 or not 0 <= motion_bucket_id <= 255:
            raise ValueError("num_frames, fps, decode_chunk_size ≥ 1 and motion_bucket_id in 0..255")
        self._init_host(model_path, device, dtype, force_cpu, memory_fraction, speed, fault_hook, plan, compile_cache)
        self.num_frames, self.fps, self.motion_bucket_id = num_frames, fps, motion_bucket_id
        self.noise_aug_strength, self.decode_chunk_size = noise_aug_strength, decode_chunk_size
        self.guidance = (min_guidance_scale, max_guidance_scale)
        self.warmup_shapes = tuple(warmup_shapes)

    def setup(self) -> None:
        if self._pipe is not None:
            return
        limit_memory(self.device, self.memory_fraction)
        pipe = self._preloaded if self._preloaded is not None else load_svd(self.model_path, self.dtype)
        self._preloaded = None
        pipe.set_progress_bar_config(disable=True)
        apply_plan(pipe, "unet", self.device, self.plan, self.speed)
        self._cfg = CfgTruncation(pipe.unet)
        self._cache = StepCache.for_unet(pipe.unet)
        self._pipe = pipe
        shapes = list(self.warmup_shapes)
        self._warm(shapes, self.warmup_graphs(len(shapes)), lambda: self._warm_all(shapes))

    def _warm_all(self, shapes: Sequence[tuple[int, int]]) -> None:
        for width, height in shapes:
            self.warm_up(width, height)

    def warm_up(self, width: int, height: int, steps: int | None = None) -> None:
        """Throw-away clips: their steps cross a CFG cutoff where one may act (so the half batch is compiled
        too); with a compiled UNet and step caching enabled also a step-cached clip (its second graph)."""
        for spec in self.warmup_specs(width, height, steps):
            source = Image.new("RGB", (width, height), (128, 128, 128))
            self.generate([GenRequest(spec=spec, hooks=NullHooks(), source=source)])

    def _half_batch(self) -> bool:
        return self.speed.cfg_cutoff < 1.0 or self.speed.style_cfg_cutoff

    def _step_cache(self) -> bool:
        return self.plan.compile_unet and self.speed.style_step_cache

    def warmup_specs(self, width: int, height: int, steps: int | None = None) -> list[GenerationSpec]:
        cutoff = min(0.5 if self.speed.style_cfg_cutoff else 1.0, self.speed.cfg_cutoff)  # what _run applies
        steps = steps or cfg_warmup_steps(cutoff)
        common = dict(kind=Kind.SVD, soul_id="warmup", prompt="warm-up", seed=0, width=width, height=height,
                      num_frames=self.num_frames, fps=self.fps, cfg_cutoff=cutoff)  # fmt: skip
        specs = [GenerationSpec(steps=steps, **common)]  # type: ignore[arg-type]
        if self._step_cache():
            specs.append(GenerationSpec(steps=max(steps, 6), step_cache_interval=2, **common))  # type: ignore[arg-type]
        return specs

    def warmup_graphs(self, sizes: int) -> int:
        """Graphs per warmed size: the CFG batch, the half batch where a cutoff may act, ×2 with step caching."""
        return sizes * (2 if self._half_batch() else 1) * (2 if self._step_cache() else 1)

    def estimate_seconds(self, num_frames: int | None = None, steps: int = 25) -> float | None:
        """Seconds for one clip, scaled from the measured clips (UNet cost grows ~linearly in frames)."""
        t = self._timings.timing()
        if t is None:
            return None
        frames = num_frames or self.num_frames
        return t.fixed_seconds + steps * t.seconds_per_step * frames / self.num_frames + frames * t.seconds_per_frame

    def generate(self, requests: Sequence[GenRequest]) -> list[Output]:
        if self._pipe is None:
            raise RuntimeError("SvdGenerator.setup() was not called")
        _check_batch(requests)
        outputs: list[Output] = []
        for request in requests:
            try:
                outputs.append(self._run(request))
            except JobCanceled:
                outputs.append(Output(fps=self.fps, generator=self.name))  # dropped by the worker
        if all(not o.frames for o in outputs):
            raise JobCanceled("every request of the batch was canceled")
        return outputs

    def _run(self, request: GenRequest) -> Output:
        if request.hooks.canceled():
            raise JobCanceled("canceled before generation")
        spec, frames = request.spec, request.spec.num_frames or self.num_frames
        clock = StepClock(self.device)
        memory = memory_plan(
            "svd",
            self.device_info,
            fraction=self.memory_fraction,
            width=spec.width,
            height=spec.height,
            max_batch=1,
            max_decode=min(self.decode_chunk_size, frames),
        )
        try:
            if self._fault is not None:
                self._fault(1)
            cutoff = min(spec.cfg_cutoff if self.speed.style_cfg_cutoff else 1.0, self.speed.cfg_cutoff)
            cache = self._cache.use(spec.step_cache_interval if self.speed.style_step_cache else 1)
            forward_chunking(self._pipe.unet, memory.forward_chunking)
            with torch.inference_mode(), attention_context(self.plan), cache:
                latents = self._pipe(
                    image=_source(request, spec), height=spec.height, width=spec.width, num_frames=frames,
                    num_inference_steps=spec.steps, min_guidance_scale=self.guidance[0],
                    max_guidance_scale=self.guidance[1], fps=self.fps, motion_bucket_id=self.motion_bucket_id,
                    noise_aug_strength=self.noise_aug_strength, output_type="latent",
                    generator=seeded_generators([spec.seed], self.device)[0],
                    callback_on_step_end=_StepCallback(request, spec.steps, clock, self._cfg, cutoff),
                ).frames  # fmt: skip
                video = decode_clip(self._pipe, latents, frames, memory.decode_items)
        except torch.OutOfMemoryError as exc:
            release_memory(self.device)
            msg = f"out of accelerator memory for one {frames}-frame {spec.width}x{spec.height} clip"
            raise GenerationFailed(msg, code="out_of_memory") from exc
        finally:
            self._cfg.active = False
        denoise, decode, total = clock.split()
        self._timings.record(items=1, steps=spec.steps, frames=frames, denoise_s=denoise, decode_s=decode,
                             total_s=total)  # fmt: skip
        return Output(frames=list(video), fps=self.fps, generator=self.name)


def decode_clip(pipe: Any, latents: torch.Tensor, frames: int, chunk: int) -> list[Image.Image]:
    """SVD's decode step, with the latents in the VAE's dtype (diffusers does not cast them) and
    `chunk` frames per temporal-VAE call (sized to the device's memory)."""
    video = pipe.decode_latents(latents.to(pipe.vae.dtype), frames, chunk)
    check_finite(video, "SVD's VAE")
    clip: list[Image.Image] = pipe.video_processor.postprocess_video(video=video, output_type="pil")[0]
    return clip


def _source(request: GenRequest, spec: GenerationSpec) -> Image.Image:
    if request.source is None:
        raise InvalidInput("SVD needs a source image (the variant's PNG)")
    return request.source.convert("RGB").resize((spec.width, spec.height), Image.Resampling.LANCZOS)


def _check_batch(requests: Sequence[GenRequest]) -> None:
    if not requests:
        raise ValueError("generate() needs at least one request")
    first = requests[0].spec
    if any(r.spec.batch_key() != first.batch_key() for r in requests):
        raise ValueError("a batch must share one GenerationSpec.batch_key()")
    if first.kind is not Kind.SVD:
        raise InvalidInput(f"SVD makes image→video clips, not {first.kind.value}")
    if first.width % 8 or first.height % 8:
        raise InvalidInput(f"SVD needs width and height divisible by 8, got {first.width}x{first.height}")
