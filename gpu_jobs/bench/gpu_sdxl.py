"""SDXL rows of the GPU benchmark (`gpu_jobs.bench.gpu`): stock, then Soul with each speed option.

Rows, in order (a device run that hits its time limit keeps the rows printed so far):
  stock              diffusers as documented: prompt encoded in the call, fp16, VAE upcast to fp32
  stock_compile      stock with its UNet compiled: the control for Soul's compiled rows
  soul               the exact production plan, eager (bf16 VAE, channels_last, fused QKV, SDPA order)
  soul_cfg           + CFG truncation (approximate)
  soul_cache         + step caching: full UNet every N steps (approximate; a style's step_cache_interval)
  soul_compile       + compiled UNet, batches padded to the sizes warmed in setup()
  soul_compile_cfg   + CFG truncation (approximate)
  soul_compile_cache + step caching (approximate)
  soul_fp8_cfg       + torchao FP8 UNet linears (approximate; CUDA capability ≥ 8.9 and torchao)
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from PIL import Image

from gpu_jobs.bench import models
from gpu_jobs.bench.gpu_common import (
    TOKENIZER_DIR,
    Applied,
    Plan,
    Timed,
    compiled_unet,
    emit,
    peak_gib,
    quality,
    row_dict,
    skipped,
    timed,
    to_pil,
)
from gpu_jobs.generators.base import GenRequest, NullHooks
from gpu_jobs.generators.sdxl import SdxlGenerator
from gpu_jobs.runtime_plan import DeviceInfo, RuntimePlan, SpeedOptions, plan_for
from shared.domain.models import GenerationSpec, Kind
from shared.errors import GenerationFailed

PROMPT = "a penguin wearing a red scarf, studio photo"
GUIDANCE = 7.0
Images = dict[int, list[Image.Image]]
Options = dict[str, Any]


def stock_call(pipe: Any, plan: Plan, batch: int) -> tuple[list[Image.Image], bool]:
    gens = [torch.Generator(plan.device).manual_seed(i) for i in range(batch)]
    arrays = pipe(prompt=[PROMPT] * batch, num_inference_steps=plan.steps, width=plan.width, height=plan.height,
                  guidance_scale=GUIDANCE, generator=gens, output_type="np").images  # fmt: skip
    return [to_pil(a) for a in arrays], bool(np.isfinite(arrays).all())


def soul_call(gen: SdxlGenerator, plan: Plan, batch: int, options: Options) -> tuple[list[Image.Image], bool]:
    """`options`: the spec's approximate options (what a style opts into), e.g. `step_cache_interval`."""
    common = dict(kind=Kind.IMAGE, soul_id="bench", prompt=PROMPT, width=plan.width, height=plan.height,
                  steps=plan.steps, guidance_scale=GUIDANCE, **options)  # fmt: skip
    specs = [GenerationSpec(seed=i, **common) for i in range(batch)]  # type: ignore[arg-type]
    try:
        outputs = gen.generate([GenRequest(s, NullHooks()) for s in specs])
    except GenerationFailed as exc:
        if exc.code != "non_finite_output":
            raise
        return [Image.new("RGB", (plan.width, plan.height))] * batch, False
    return [o.frames[0] for o in outputs], True


class SdxlBench:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.pipe = models.sdxl_pipeline(full=plan.full, device=plan.device, dtype=plan.dtype,
                                         tokenizer_dir=TOKENIZER_DIR)  # fmt: skip
        self.stock: dict[int, float] = {}
        self.stock_images: Images = {}
        self.stock_compiled: dict[int, float] = {}
        self.exact: Images = {}  # Soul's exact row: what the approximate rows are compared with

    def run_stock(self, label: str) -> dict[int, float]:
        medians: dict[int, float] = {}
        peak_gib(self.plan.device)
        for batch in self.plan.batches:
            t = timed(self.plan, lambda b=batch: stock_call(self.pipe, self.plan, b))  # type: ignore[misc]
            images, finite = t.result
            row = row_dict(self.plan, f"sdxl_{label}_b{batch}", t, batch, finite)
            if label == "stock":
                self.stock_images[batch] = images
            else:
                row |= {"ratio_stock_over_this": self.stock[batch] / t.median_s}
                row |= quality(images, self.stock_images[batch])
            medians[batch] = t.median_s
            emit(**row)
        return medians

    def run_soul(self, label: str, gen: SdxlGenerator, approximate: bool, options: Options | None = None) -> None:
        started = _now()
        gen.setup()
        emit(what=f"sdxl_{label}_setup", s=round(_now() - started, 2), plan=_describe(gen.plan),
             warmed=gen.warmup_runs(), speed=gen.speed)  # fmt: skip
        peak_gib(self.plan.device)
        for batch in self.plan.batches:
            call = lambda b=batch: soul_call(gen, self.plan, b, options or {})  # type: ignore[misc]  # noqa: E731
            t: Timed = timed(self.plan, call, warmed=True)
            images, finite = t.result
            row = row_dict(self.plan, f"sdxl_{label}_b{batch}", t, batch, finite)
            row |= {"ratio_stock_over_this": self.stock[batch] / t.median_s, "approximate": approximate}
            if batch in self.stock_compiled:
                row["ratio_stock_compile_over_this"] = self.stock_compiled[batch] / t.median_s
            row |= quality(images, self.stock_images[batch])
            if approximate and batch in self.exact:
                row |= quality(images, self.exact[batch], prefix="vs_exact_")
            elif not approximate and batch not in self.exact:  # the first exact row is the reference
                self.exact[batch] = images
            mem = gen.memory(self.plan.width, self.plan.height)
            predicted = round(mem.predicted_peak / 2**30, 2)
            emit(**row, target_s=_target(self.plan, approximate), planned_batch=mem.batch,
                 planned_decode_items=mem.decode_items, predicted_peak_gib=predicted)  # fmt: skip

    def soul(self, plan: RuntimePlan | None, speed: SpeedOptions) -> SdxlGenerator:
        """Warmed at the benchmark's batch sizes only (the device check: batch 4, one compile)."""
        shapes = [(b, self.plan.width, self.plan.height) for b in self.plan.batches]
        return SdxlGenerator.from_pipeline(self.pipe, device=str(self.plan.device), plan=plan, speed=speed,
                                           warmup_shapes=shapes, max_batch=max(self.plan.batches))  # fmt: skip


def bench_sdxl(plan: Plan) -> None:
    bench = SdxlBench(plan)
    bench.stock = bench.run_stock("stock")
    rows, cut = plan.rows, plan.cfg_cutoff
    if "stock_compile" in rows and plan.cuda:  # before Soul's rows change the pipeline
        eager = compiled_unet(bench.pipe, plan)
        bench.stock_compiled = bench.run_stock("stock_compile")
        bench.pipe.unet = eager
    elif "stock_compile" in rows:
        skipped("sdxl_stock_compile", "needs CUDA")
    speed = SpeedOptions(compile_mode=plan.compile_mode, compile_cache_dir=plan.compile_cache)
    applied = Applied(plan_for("sdxl", DeviceInfo.probe(plan.device), speed))
    cache = {"step_cache_interval": plan.step_cache_interval}
    for name, compile, cutoff, options in (
        ("soul", False, 1.0, {}), ("soul_cfg", False, cut, {}), ("soul_cache", False, 1.0, cache),
        ("soul_compile", True, 1.0, {}), ("soul_compile_cfg", True, cut, {}), ("soul_compile_cache", True, 1.0, cache),
    ):  # fmt: skip
        if name not in rows:
            continue
        if compile and not plan.cuda:
            skipped(f"sdxl_{name}", "needs CUDA")
            continue
        # Each row warms only what it runs: a compiled exact row is one graph per batch size.
        row_speed = replace(speed, compile=compile, cfg_cutoff=cutoff, style_cfg_cutoff=False,
                            style_step_cache=bool(options))  # fmt: skip
        gen = bench.soul(applied.plan(compile=compile), row_speed)
        bench.run_soul(name, gen, approximate=cutoff < 1.0 or bool(options), options=options)
    if "soul_fp8_cfg" in rows:
        _fp8(bench, applied, replace(speed, compile=True, cfg_cutoff=cut, fp8=True, style_step_cache=False))


def _fp8(bench: SdxlBench, applied: Applied, speed: SpeedOptions) -> None:
    if not bench.plan.cuda or torch.cuda.get_device_capability(bench.plan.device) < (8, 9):
        skipped("sdxl_soul_fp8_cfg", "FP8 needs CUDA compute capability 8.9")
        return
    try:  # the generator keeps the exact UNet and builds its FP8 twin (what a style with fp8 runs)
        gen = bench.soul(applied.plan(compile=True, fp8=True), speed)
        bench.run_soul("soul_fp8_cfg", gen, approximate=True, options={"fp8": True})
    except Exception as exc:  # noqa: BLE001  # torchao missing or a kernel it lacks on this build: a row that says why
        skipped("sdxl_soul_fp8_cfg", f"{type(exc).__name__}: {exc}"[:300])


def _target(plan: Plan, approximate: bool) -> float | None:
    return (0.6 if approximate else 1.0) if plan.full else None


def _describe(plan: RuntimePlan) -> dict[str, Any]:
    return {k: str(v) for k, v in plan.__dict__.items()}


def _now() -> float:
    return time.perf_counter()
