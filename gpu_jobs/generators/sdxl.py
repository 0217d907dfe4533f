"""The SDXL image generator: `StableDiffusionXLPipeline`, loaded once per process, many jobs per call.

Weights come from a local original-layout `.safetensors` (`from_single_file` with a local diffusers
config folder, offline) or a diffusers folder. A call takes a batch of compatible requests (equal
`GenerationSpec.batch_key()`) and runs them as one diffusers batch: each request gets its own
`torch.Generator` and its own prompt embeddings (an empty negative prompt is zeroed per request, as
SDXL does alone), so a batch item equals that request run alone up to float reordering noise.

Progress and cancel are checked after every denoising step (`callback_on_step_end`): the batch stops
with `JobCanceled` only when *every* request is canceled. Out of accelerator memory, the batch is
retried once split in halves; an OOM after that (or at batch 1) is a permanent `GenerationFailed`
with code `out_of_memory`.

Dtypes, memory formats and speed options come from a `RuntimePlan` (`gpu_jobs.runtime_plan`): on CUDA
an fp16 UNet and a bf16 VAE, so the generator decodes the latents itself, cast to the VAE's dtype
(diffusers casts them only on MPS). The batch size and the VAE's decode chunking come from the
device's memory (`memory_plan`); with a compiled UNet, batches are padded to the sizes warmed up in
`setup()` (the CFG-truncated half batch included), so no request triggers a compile.

The approximate options come with each spec (a style's opt-in, docs/GPU.md "Per-style options"): CFG
truncation (the earlier of the spec's and the deployment's cutoff), step caching (`gpu_jobs.step_cache`)
and FP8, which runs an FP8 twin of the UNet kept beside the exact one where the deployment enables FP8
(`SOUL_FP8`) on a GPU that has it; elsewhere an FP8 spec runs the exact UNet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gpu_jobs.compile_cache import ArtifactStore
from gpu_jobs.generators.base import GenRequest, NullHooks, Output
from gpu_jobs.generators.sdxl_parts import batch_row, cat_or_none, check_batch, decode_latents, load_sdxl
from gpu_jobs.runtime_plan import MemoryPlan, RuntimePlan, cfg_warmup_steps, memory_plan, padded_size
from gpu_jobs.step_cache import StepCache
from gpu_jobs.torch_compile import fp8_twin
from gpu_jobs.torch_runtime import (
    FaultHook,
    PipelineHost,
    SpeedOptions,
    StepClock,
    apply_plan,
    attention_context,
    limit_memory,
    release_memory,
    seeded_generators,
    synchronize,
)
from shared.domain.models import GenerationSpec, Kind
from shared.errors import GenerationFailed, JobCanceled

_CFG_TENSORS = ["prompt_embeds", "add_text_embeds", "add_time_ids"]


class _StepCallback:
    """`callback_on_step_end`: progress for each request, cancel when all are canceled, CFG cutoff."""

    def __init__(self, requests: Sequence[GenRequest], total: int, clock: StepClock, cfg_cutoff: float) -> None:
        self.requests, self.total, self.clock = requests, total, clock
        self.cfg_steps = math.ceil(total * cfg_cutoff) if cfg_cutoff < 1.0 else total

    def __call__(self, pipe: Any, step: int, _timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if step + 1 == self.total:
            synchronize(self.clock.device)
        self.clock.step()
        for request in self.requests:
            request.hooks.progress(step + 1, self.total)
        if all(r.hooks.canceled() for r in self.requests):
            raise JobCanceled(f"canceled at step {step + 1}/{self.total}")
        if step + 1 == self.cfg_steps < self.total and pipe.do_classifier_free_guidance:
            pipe._guidance_scale = 0.0  # the rest of the steps run the conditional half only
            kwargs = {k: kwargs[k].chunk(2)[-1] for k in _CFG_TENSORS}
        return kwargs


class SdxlGenerator(PipelineHost):
    name = "sdxl"

    def __init__(
        self,
        model_path: Path,
        *,
        config_dir: Path | None = None,
        device: str | None = None,
        dtype: str | None = None,
        force_cpu: bool = False,
        memory_fraction: float = 1.0,
        speed: SpeedOptions | None = None,
        warmup_shapes: Sequence[tuple[int, int, int]] = (),
        warmup_size: tuple[int, int] | None = None,
        max_batch: int = 4,
        plan: RuntimePlan | None = None,
        fault_hook: FaultHook | None = None,
        compile_cache: ArtifactStore | None = None,
    ) -> None:
        """`warmup_size`: (width, height) warmed at every padded batch size in `setup()` (compile happens
        there); `warmup_shapes`: extra (batch, width, height) runs; `max_batch`: the deployment's cap;
        `compile_cache`: where a compiled UNet's artifacts persist between starts."""
        self._init_host(model_path, device, dtype, force_cpu, memory_fraction, speed, fault_hook, plan, compile_cache)
        self.config_dir = config_dir
        self.warmup_shapes = tuple(warmup_shapes)
        self.warmup_size = warmup_size
        self.max_batch = max_batch
        self._memory: dict[tuple[int, int], MemoryPlan] = {}

    def setup(self) -> None:
        if self._pipe is not None:
            return
        limit_memory(self.device, self.memory_fraction)
        pipe = (
            self._preloaded if self._preloaded is not None else load_sdxl(self.model_path, self.config_dir, self.dtype)
        )
        self._preloaded = None
        pipe.set_progress_bar_config(disable=True)
        apply_plan(pipe, "unet", self.device, self.plan, self.speed, fp8_in_place=False)
        self._unets = {False: pipe.unet}
        if self.plan.fp8_unet:
            self._unets[True] = fp8_twin(pipe.unet, self.plan, self.speed)
        self._caches = {fp8: StepCache.for_unet(unet) for fp8, unet in self._unets.items()}
        self._pipe = pipe
        runs = self.warmup_runs()
        self._warm(runs, self.warmup_graphs(runs), lambda: self._warm_all(runs))

    def _warm_all(self, runs: Sequence[tuple[int, int, int]]) -> None:
        for batch, width, height in runs:
            self.warm_up(batch, width, height)

    def memory(self, width: int, height: int) -> MemoryPlan:
        """Batch size and VAE decode chunking for this size on this device (cached per size)."""
        if (width, height) not in self._memory:
            self._memory[width, height] = memory_plan("sdxl", self.device_info, fraction=self.memory_fraction,
                                                      width=width, height=height, max_batch=self.max_batch,
                                                      fp8_twin=self.plan.fp8_unet)  # fmt: skip
        return self._memory[width, height]

    def warmup_runs(self) -> list[tuple[int, int, int]]:
        """(batch, width, height) runs made in `setup()`: every padded size at the configured size."""
        runs = list(self.warmup_shapes)
        if self.warmup_size is not None:
            width, height = self.warmup_size
            runs += [(b, width, height) for b in self.memory(width, height).batch_sizes]
        return runs

    def warm_up(self, batch: int, width: int, height: int, steps: int | None = None) -> None:
        """Throw-away runs: every UNet, and the options the deployment enables (see `warmup_specs`)."""
        for spec in self.warmup_specs(width, height, steps):
            self.generate([GenRequest(spec=spec, hooks=NullHooks()) for _ in range(batch)])

    def _half_batch(self) -> bool:
        """Whether a request may run the CFG-truncated half batch here (deployment or style cutoff)."""
        return self.speed.cfg_cutoff < 1.0 or self.speed.style_cfg_cutoff

    def _step_cache(self) -> bool:
        return self.plan.compile_unet and self.speed.style_step_cache

    def warmup_specs(self, width: int, height: int, steps: int | None = None) -> list[GenerationSpec]:
        """One run per UNet (the FP8 twin too), crossing a CFG cutoff where one may act (so the half batch
        is compiled too); with a compiled UNet and step caching enabled also a step-cached run, whose
        skipped blocks make a second graph. Only what the deployment enables is warmed: every warmed
        graph costs a compile at a cold start (docs/GPU.md, "Warm-up")."""
        cutoff = min(0.5 if self.speed.style_cfg_cutoff else 1.0, self.speed.cfg_cutoff)  # what _run applies
        steps = steps or cfg_warmup_steps(cutoff)
        common = dict(kind=Kind.IMAGE, soul_id="warmup", prompt="warm-up", seed=0, width=width, height=height,
                      cfg_cutoff=cutoff)  # fmt: skip
        specs = [GenerationSpec(steps=steps, fp8=fp8, **common) for fp8 in self._unets]  # type: ignore[arg-type]
        if self._step_cache():
            cached = max(steps, 6)  # at cutoff 0.5 and interval 2: cached steps at the CFG and the half batch
            specs += [GenerationSpec(steps=cached, fp8=fp8, step_cache_interval=2, **common)  # type: ignore[arg-type]
                      for fp8 in self._unets]  # fmt: skip
        return specs

    def warmup_graphs(self, runs: Sequence[tuple[int, int, int]]) -> int:
        """Graphs the warm-up compiles: per UNet and size, the CFG batch (2b) and, where a cutoff may act,
        the half batch (b), twice with step caching (full and cached); what `reserve_graphs` is given."""
        shapes = {(2 * b, w, h) for b, w, h in runs} | (
            {(b, w, h) for b, w, h in runs} if self._half_batch() else set()
        )
        return len(self._unets) * len(shapes) * (2 if self._step_cache() else 1)

    def estimate_seconds(self, images: int = 1, steps: int = 30) -> float | None:
        t = self._timings.timing()
        if t is None:
            return None
        return t.fixed_seconds + images * (steps * t.seconds_per_step + t.seconds_per_frame)

    def generate(self, requests: Sequence[GenRequest]) -> list[Output]:
        if self._pipe is None:
            raise RuntimeError("SdxlGenerator.setup() was not called")
        check_batch(requests)
        if all(r.hooks.canceled() for r in requests):
            raise JobCanceled("canceled before generation")
        size = self.memory(requests[0].spec.width, requests[0].spec.height).batch
        outputs: list[Output] = []
        for start in range(0, len(requests), size):
            part = requests[start : start + size]
            try:
                outputs += self._run(part)
            except JobCanceled:
                if len(part) == len(requests):
                    raise
                outputs += [Output(generator=self.name) for _ in part]  # dropped by the worker
            except torch.OutOfMemoryError as exc:
                outputs += self._retry_split(part, exc)
        if all(not o.frames for o in outputs):
            raise JobCanceled("every request of the batch was canceled")
        return outputs

    def _retry_split(self, requests: Sequence[GenRequest], exc: BaseException) -> list[Output]:
        release_memory(self.device)
        spec = requests[0].spec
        what = f"{spec.width}x{spec.height}, {spec.steps} steps"
        if len(requests) == 1:
            raise GenerationFailed(f"out of accelerator memory at batch 1 ({what})", code="out_of_memory") from exc
        half = (len(requests) + 1) // 2
        outputs: list[Output] = []
        for part in (requests[:half], requests[half:]):
            try:
                outputs += self._run(part)
            except JobCanceled:
                outputs += [Output(generator=self.name) for _ in part]  # dropped by the worker
            except torch.OutOfMemoryError as again:
                release_memory(self.device)
                msg = f"out of accelerator memory at batch {len(part)} after a retry ({what})"
                raise GenerationFailed(msg, code="out_of_memory") from again
        return outputs

    def _run(self, requests: Sequence[GenRequest]) -> list[Output]:
        if all(r.hooks.canceled() for r in requests):
            raise JobCanceled("canceled before generation")
        if self._fault is not None:
            self._fault(len(requests))
        spec = requests[0].spec
        memory = self.memory(spec.width, spec.height)
        specs = [r.spec for r in requests]
        if self.plan.pad_batches:  # a compiled UNet sees only the warmed sizes; padding outputs are dropped
            specs += [specs[-1]] * (padded_size(len(specs), memory.batch_sizes) - len(specs))
        clock = StepClock(self.device)
        cutoff = min(spec.cfg_cutoff if self.speed.style_cfg_cutoff else 1.0, self.speed.cfg_cutoff)
        callback = _StepCallback(requests, spec.steps, clock, cutoff)
        fp8 = spec.fp8 and True in self._unets
        interval = spec.step_cache_interval if self.speed.style_step_cache else 1
        self._pipe.unet = self._unets[fp8]
        with torch.inference_mode(), attention_context(self.plan), self._caches[fp8].use(interval):
            embeds = self._encode(specs, spec.guidance_scale > 1)
            latents = self._pipe(
                **embeds, num_inference_steps=spec.steps, guidance_scale=spec.guidance_scale, width=spec.width,
                height=spec.height, generator=seeded_generators([s.seed for s in specs], self.device),
                output_type="latent", callback_on_step_end=callback, callback_on_step_end_tensor_inputs=_CFG_TENSORS,
            ).images  # fmt: skip
            images = decode_latents(self._pipe, latents[: len(requests)], memory)
        denoise, decode, total = clock.split()
        self._timings.record(items=len(requests), steps=spec.steps, frames=1, denoise_s=denoise, decode_s=decode,
                             total_s=total)  # fmt: skip
        return [
            Output(frames=[image], fps=r.spec.fps, generator=self.name)
            for image, r in zip(images, requests, strict=True)
        ]

    def _encode(self, specs: Sequence[GenerationSpec], cfg: bool) -> dict[str, torch.Tensor | None]:
        """Per-request embeddings, so batching never changes a request's conditioning: each distinct
        (prompt, negative) pair once (padding repeats the last), in one text-encoder call per group.
        Requests without a negative prompt form their own group, which SDXL zeroes
        (`force_zeros_for_empty_prompt`), as it would for each of them alone."""
        pairs = list(dict.fromkeys((s.prompt, s.negative_prompt) for s in specs))
        rows: dict[tuple[str, str], tuple[torch.Tensor | None, ...]] = {}
        for negative in (False, True):
            group = [pair for pair in pairs if bool(pair[1]) == negative]
            if group:
                out = self._pipe.encode_prompt(prompt=[p for p, _ in group], device=self.device,
                                               do_classifier_free_guidance=cfg,
                                               negative_prompt=[n for _, n in group] if negative else None)  # fmt: skip
                rows |= {pair: tuple(batch_row(t, i) for t in out) for i, pair in enumerate(group)}
        parts = [rows[s.prompt, s.negative_prompt] for s in specs]
        names = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")
        return {name: cat_or_none([p[i] for p in parts]) for i, name in enumerate(names)}
