"""GPU benchmark: stock diffusers (eager, batch 1 and B) beside Soul's production path, same run.

Full-size SDXL base / SVD-XT architectures with random weights (`gpu_jobs.bench.models`). For each
model it prints one JSON line per measurement: seconds per image (or clip), peak GPU memory, and for
Soul the ratio to stock and the output difference for the same seed (same initial latents, same
prompt embeddings): mean absolute pixel difference and PSNR against stock's image. Soul runs through
`SdxlGenerator` / `SvdGenerator` exactly as the worker calls them, speed options included; compile
warm-up happens in `setup()` and is reported, not timed as a request.

On the device machine (one model per command keeps each under the 10-minute limit):
  python -m gpu_jobs.bench.gpu sdxl --compile --cfg-cutoff 0.6
  python -m gpu_jobs.bench.gpu svd --compile
  python -m gpu_jobs.bench.gpu --smoke   # CPU, tiny models: what the unit test runs
The device image has torch and transformers but not diffusers, pydantic(-settings) or imageio-ffmpeg:
carry them as wheels (`.whl`, see /work/.library/device/README.md): diffusers==0.42.1 pydantic==2.14.4
pydantic-core==2.50.5 pydantic-settings==2.16.3 annotated-types==0.8.0 typing-inspection==0.4.5
python-dotenv==1.2.4 python-ulid==4.1.0 imageio-ffmpeg==0.8.1.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from gpu_jobs.bench import models
from gpu_jobs.generators.base import GenRequest, NullHooks
from gpu_jobs.generators.sdxl import SdxlGenerator
from gpu_jobs.generators.svd import SvdGenerator
from gpu_jobs.torch_runtime import SpeedOptions, resolve_device, resolve_dtype, synchronize
from shared.domain.models import GenerationSpec, Kind

TOKENIZER_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "tiny_models"
PROMPT = "a penguin wearing a red scarf, studio photo"


@dataclass(frozen=True)
class Plan:
    full: bool
    device: torch.device
    dtype: torch.dtype
    width: int
    height: int
    steps: int
    batch: int
    reps: int
    frames: int
    speed: SpeedOptions


def emit(**row: Any) -> None:
    print(json.dumps(row, default=str), flush=True)  # a CLI report: JSON lines on stdout


def timed(plan: Plan, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Median seconds of `reps` calls after one untimed call (lazy init, cudnn autotune; not in smoke)."""
    result = fn() if plan.full else None
    times = []
    for _ in range(plan.reps):
        synchronize(plan.device)
        start = time.perf_counter()
        result = fn()
        synchronize(plan.device)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def peak_gib(device: torch.device, reset: bool = False) -> float | None:
    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    if reset:
        torch.cuda.reset_peak_memory_stats(device)
    return peak


def difference(a: Image.Image, b: Image.Image) -> dict[str, float]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mse = float(((x - y) ** 2).mean())
    return {"mean_abs_diff_255": float(np.abs(x - y).mean()), "psnr_db": 10 * np.log10(255**2 / max(mse, 1e-12))}


def sdxl_spec(plan: Plan, seed: int) -> GenerationSpec:
    return GenerationSpec(kind=Kind.IMAGE, soul_id="bench", prompt=PROMPT, seed=seed, width=plan.width,
                          height=plan.height, steps=plan.steps, guidance_scale=7.0)  # fmt: skip


def stock_sdxl(plan: Plan, pipe: Any, batch: int) -> tuple[float, Image.Image]:
    with torch.inference_mode():
        pe, npe, ppe, nppe = pipe.encode_prompt(PROMPT, device=plan.device, do_classifier_free_guidance=True)
    kwargs = dict(prompt_embeds=pe.repeat(batch, 1, 1), negative_prompt_embeds=npe.repeat(batch, 1, 1),
                  pooled_prompt_embeds=ppe.repeat(batch, 1), negative_pooled_prompt_embeds=nppe.repeat(batch, 1),
                  num_inference_steps=plan.steps, width=plan.width, height=plan.height, guidance_scale=7.0)  # fmt: skip

    def call() -> Any:
        gens = [torch.Generator(plan.device).manual_seed(i) for i in range(batch)]
        return pipe(**kwargs, generator=gens, output_type="pil").images

    seconds, images = timed(plan, call)
    return seconds / batch, images[0]


def soul_sdxl(plan: Plan, gen: SdxlGenerator, batch: int) -> tuple[float, Image.Image]:
    seconds, outputs = timed(plan, lambda: gen.generate([GenRequest(sdxl_spec(plan, i), NullHooks())
                                                         for i in range(batch)]))  # fmt: skip
    return seconds / batch, outputs[0].frames[0]


def bench_sdxl(plan: Plan) -> None:
    pipe = models.sdxl_pipeline(full=plan.full, device=plan.device, dtype=plan.dtype, tokenizer_dir=TOKENIZER_DIR)
    peak_gib(plan.device, reset=True)
    stock: dict[int, float] = {}
    stock[1], reference = stock_sdxl(plan, pipe, 1)
    stock[plan.batch], _ = stock_sdxl(plan, pipe, plan.batch)
    for batch in sorted(stock):
        emit(what=f"sdxl_stock_eager_b{batch}_s_per_image", s=stock[batch])
    emit(what="sdxl_stock_peak_gib", gib=peak_gib(plan.device, reset=True))
    shapes = [(b, plan.width, plan.height) for b in sorted({1, plan.batch})]
    gen = SdxlGenerator.from_pipeline(pipe, device=str(plan.device), speed=plan.speed, warmup_shapes=shapes)
    start = time.perf_counter()
    gen.setup()
    emit(what="sdxl_soul_setup_warmup_s", s=time.perf_counter() - start, speed=plan.speed)
    _soul_rows(plan, gen, stock, reference, "sdxl_soul")
    if plan.speed.cfg_cutoff < 1.0:
        return
    cut = SdxlGenerator.from_pipeline(gen._pipe, device=str(plan.device), speed=replace(
        plan.speed, channels_last=False, fuse_qkv=False, compile=False, cfg_cutoff=0.6))  # fmt: skip
    cut.setup()
    cut.warm_up(plan.batch, plan.width, plan.height)
    _soul_rows(plan, cut, stock, reference, "sdxl_soul_cfg_cutoff_0.6")


def _soul_rows(plan: Plan, gen: SdxlGenerator, stock: dict[int, float], ref: Image.Image, label: str) -> None:
    peak_gib(plan.device, reset=True)
    for batch in sorted({1, plan.batch}):
        seconds, image = soul_sdxl(plan, gen, batch)
        row = {"what": f"{label}_b{batch}_s_per_image", "s": seconds, "peak_gib": peak_gib(plan.device, True)}
        row |= {"ratio_stock_b1_over_soul": stock[1] / seconds, "ratio_stock_bB_over_soul": stock[plan.batch] / seconds}
        emit(**row, **(difference(image, ref) if batch == 1 else {}), target_s=0.6 if plan.full else None)


def bench_svd(plan: Plan) -> None:
    pipe = models.svd_pipeline(full=plan.full, device=plan.device, dtype=plan.dtype)
    source = Image.fromarray(np.linspace(0, 255, plan.height * plan.width * 3).reshape(plan.height, plan.width, 3)
                             .astype(np.uint8))  # fmt: skip
    common = dict(height=plan.height, width=plan.width, num_frames=plan.frames, num_inference_steps=plan.steps,
                  decode_chunk_size=8, motion_bucket_id=127, fps=7, noise_aug_strength=0.02)  # fmt: skip
    peak_gib(plan.device, reset=True)

    def stock() -> Any:
        seed = torch.Generator(plan.device).manual_seed(0)
        return pipe(image=source, generator=seed, output_type="pil", **common).frames[0]

    stock_s, stock_frames = timed(plan, stock)
    emit(what="svd_stock_eager_s_per_clip", s=stock_s, frames=plan.frames, peak_gib=peak_gib(plan.device, True))
    gen = SvdGenerator.from_pipeline(pipe, device=str(plan.device), num_frames=plan.frames, fps=7, decode_chunk_size=8,
                                     speed=plan.speed, warmup_shapes=[(plan.width, plan.height)])  # fmt: skip
    start = time.perf_counter()
    gen.setup()
    emit(what="svd_soul_setup_warmup_s", s=time.perf_counter() - start, speed=plan.speed)
    spec = GenerationSpec(kind=Kind.SVD, soul_id="bench", prompt="", seed=0, width=plan.width, height=plan.height,
                          steps=plan.steps, num_frames=plan.frames, fps=7)  # fmt: skip
    seconds, outputs = timed(plan, lambda: gen.generate([GenRequest(spec, NullHooks(), source)]))
    emit(what="svd_soul_s_per_clip", s=seconds, ratio_stock_over_soul=stock_s / seconds,
         peak_gib=peak_gib(plan.device, True), **difference(outputs[0].frames[-1], stock_frames[-1]),
         estimate_s=gen.estimate_seconds(plan.frames, plan.steps), target_s=8.0 if plan.full else None)  # fmt: skip


def plan_from(args: argparse.Namespace) -> Plan:
    device = resolve_device("cpu" if args.smoke else args.device)
    speed = SpeedOptions(compile=args.compile and device.type == "cuda", compile_mode=args.compile_mode,
                         compile_cache_dir=args.compile_cache, cfg_cutoff=args.cfg_cutoff)  # fmt: skip
    if args.smoke:
        torch.set_num_threads(1)  # tiny models: threads only add contention on a busy CI box
        return Plan(False, device, torch.float32, 64, 64, 2, 2, 1, 2, speed)
    return Plan(True, device, resolve_dtype(args.dtype, device), 1024, 1024, args.steps, args.batch, args.reps, 25,
                speed)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Stock diffusers vs Soul's production path (JSON lines).")
    p.add_argument("models", nargs="*", default=["sdxl", "svd"], help="sdxl and/or svd")
    p.add_argument("--smoke", action="store_true", help="tiny models on the CPU, 2 steps (tests)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="float16")
    p.add_argument("--steps", type=int, default=30, help="SDXL steps (SVD uses 25)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--compile-mode", default="max-autotune-no-cudagraphs")
    p.add_argument("--compile-cache", type=Path, default=None)
    p.add_argument("--cfg-cutoff", type=float, default=1.0, help="<1: run that variant only")
    args = p.parse_args(argv)
    if not set(args.models) <= {"sdxl", "svd"}:
        p.error(f"models must be sdxl and/or svd, not {args.models}")
    plan = plan_from(args)
    emit(what="env", device=torch.cuda.get_device_name() if plan.device.type == "cuda" else "cpu",
         torch=torch.__version__, date=datetime.now(UTC).isoformat(timespec="seconds"), smoke=args.smoke)  # fmt: skip
    torch.manual_seed(0)
    if "sdxl" in args.models:
        bench_sdxl(plan)
    if "svd" in args.models:
        bench_svd(replace(plan, steps=25 if plan.full else plan.steps, width=1024 if plan.full else 64,
                          height=576 if plan.full else 64))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
