"""SVD-XT rows of the GPU benchmark (`gpu_jobs.bench.gpu`): one 25-frame 1024×576 clip per call.

Rows, in run order: stock (diffusers as documented, fp16), stock_compile (control), soul (exact plan,
eager), soul_cfg (CFG truncation, approximate), soul_cache (step caching, approximate), soul_compile,
soul_compile_cfg and soul_compile_cache (approximate).
PSNR/SSIM are printed for every frame against stock's clip for the same seed; approximate rows also
against Soul's first exact clip.
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
    Applied,
    Plan,
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
from gpu_jobs.generators.svd import SvdGenerator
from gpu_jobs.runtime_plan import DeviceInfo, RuntimePlan, SpeedOptions, plan_for
from shared.domain.models import GenerationSpec, Kind
from shared.errors import GenerationFailed

FPS, CHUNK, MOTION, NOISE = 7, 8, 127, 0.02
Clip = list[Image.Image]


def source_image(plan: Plan) -> Image.Image:
    ramp = np.linspace(0, 255, plan.height * plan.width * 3).reshape(plan.height, plan.width, 3)
    return Image.fromarray(ramp.astype(np.uint8))


def stock_call(pipe: Any, plan: Plan, source: Image.Image) -> tuple[Clip, bool]:
    frames = pipe(image=source, height=plan.height, width=plan.width, num_frames=plan.frames,
                  num_inference_steps=plan.steps, decode_chunk_size=CHUNK, motion_bucket_id=MOTION, fps=FPS,
                  noise_aug_strength=NOISE, generator=torch.Generator(plan.device).manual_seed(0),
                  output_type="np").frames[0]  # fmt: skip
    return [to_pil(f) for f in frames], bool(np.isfinite(frames).all())


def soul_call(gen: SvdGenerator, plan: Plan, source: Image.Image, cache: int = 1) -> tuple[Clip, bool]:
    spec = GenerationSpec(kind=Kind.SVD, soul_id="bench", prompt="", seed=0, width=plan.width, height=plan.height,
                          steps=plan.steps, num_frames=plan.frames, fps=FPS, step_cache_interval=cache)  # fmt: skip
    try:
        [out] = gen.generate([GenRequest(spec, NullHooks(), source)])
    except GenerationFailed as exc:
        if exc.code != "non_finite_output":
            raise
        return [Image.new("RGB", (plan.width, plan.height))] * plan.frames, False
    return out.frames, True


class SvdBench:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.pipe = models.svd_pipeline(full=plan.full, device=plan.device, dtype=plan.dtype)
        self.source = source_image(plan)
        self.stock_s = 0.0
        self.stock_clip: Clip = []
        self.exact: Clip = []
        self.compiled_s: float | None = None

    def run_stock(self, label: str) -> float:
        peak_gib(self.plan.device)
        t = timed(self.plan, lambda: stock_call(self.pipe, self.plan, self.source))
        clip, finite = t.result
        row = row_dict(self.plan, f"svd_{label}", t, 1, finite) | {"frames": self.plan.frames}
        if label == "stock":
            self.stock_clip = clip
        else:
            row |= {"ratio_stock_over_this": self.stock_s / t.median_s} | quality(clip, self.stock_clip)
        emit(**row)
        return t.median_s

    def run_soul(self, label: str, plan: RuntimePlan, speed: SpeedOptions, approximate: bool, cache: int = 1) -> None:
        gen = SvdGenerator.from_pipeline(self.pipe, device=str(self.plan.device), num_frames=self.plan.frames,
                                         fps=FPS, decode_chunk_size=CHUNK, motion_bucket_id=MOTION, plan=plan,
                                         speed=speed, warmup_shapes=[(self.plan.width, self.plan.height)])  # fmt: skip
        started = time.perf_counter()
        gen.setup()
        emit(what=f"svd_{label}_setup", s=round(time.perf_counter() - started, 2), speed=speed)
        peak_gib(self.plan.device)
        t = timed(self.plan, lambda: soul_call(gen, self.plan, self.source, cache), warmed=True)
        clip, finite = t.result
        row = row_dict(self.plan, f"svd_{label}", t, 1, finite) | {"frames": self.plan.frames}
        row |= {"ratio_stock_over_this": self.stock_s / t.median_s, "approximate": approximate}
        if self.compiled_s is not None:
            row["ratio_stock_compile_over_this"] = self.compiled_s / t.median_s
        row |= quality(clip, self.stock_clip)
        if approximate and self.exact:
            row |= quality(clip, self.exact, prefix="vs_exact_")
        elif not approximate and not self.exact:  # the first exact row is the reference
            self.exact = clip
        emit(**row, estimate_s=gen.estimate_seconds(self.plan.frames, self.plan.steps),
             target_s=8.0 if self.plan.full and not approximate else None)  # fmt: skip


def bench_svd(plan: Plan) -> None:
    bench = SvdBench(plan)
    bench.stock_s = bench.run_stock("stock")
    rows, cut = plan.rows, plan.cfg_cutoff
    if "stock_compile" in rows and plan.cuda:  # before Soul's rows change the pipeline
        eager = compiled_unet(bench.pipe, plan)
        bench.compiled_s = bench.run_stock("stock_compile")
        bench.pipe.unet = eager
    elif "stock_compile" in rows:
        skipped("svd_stock_compile", "needs CUDA")
    speed = SpeedOptions(compile_mode=plan.compile_mode, compile_cache_dir=plan.compile_cache)
    applied = Applied(plan_for("svd", DeviceInfo.probe(plan.device), speed))
    n = plan.step_cache_interval
    for name, compile, cutoff, cache in (
        ("soul", False, 1.0, 1), ("soul_cfg", False, cut, 1), ("soul_cache", False, 1.0, n),
        ("soul_compile", True, 1.0, 1), ("soul_compile_cfg", True, cut, 1), ("soul_compile_cache", True, 1.0, n),
    ):  # fmt: skip
        if name not in rows:
            continue
        if compile and not plan.cuda:
            skipped(f"svd_{name}", "needs CUDA")
            continue
        row_speed = replace(
            speed, compile=compile, cfg_cutoff=cutoff, style_cfg_cutoff=False, style_step_cache=cache > 1
        )
        bench.run_soul(name, applied.plan(compile=compile), row_speed, approximate=cutoff < 1.0 or cache > 1,
                       cache=cache)  # fmt: skip
