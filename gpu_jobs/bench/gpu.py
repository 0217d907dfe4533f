"""GPU benchmark: stock diffusers beside Soul's production path, each speed option a row, same run.

Full-size SDXL base / SVD-XT architectures with random weights (`gpu_jobs.bench.models`); speed does
not depend on weight values. Every row is one JSON line: seconds per image (or clip) as the min and
median of ≥ 3 timed repetitions after an untimed first call (its time, compile included, is printed
as `first_call_s`), peak GPU memory, whether the output is finite (NaN/inf check), the ratio of stock's
median to the row's, and PSNR/SSIM against stock's output for the same seeds, for every item of
every batch size (SDXL) and every frame (SVD). Approximate rows (CFG truncation, step cache, FP8) print their
error against Soul's exact row. Stock is fair: it encodes its prompt inside the timed call, as Soul
does, and a stock + torch.compile row is the control for Soul's compiled rows.

  python -m gpu_jobs.bench.gpu sdxl --compile-mode default      # on the device (see README.md)
  python -m gpu_jobs.bench.gpu svd --compile-mode default
  python -m gpu_jobs.bench.gpu --smoke                          # CPU, tiny models (the unit test)
`gpu_jobs/bench/device_check.sh` runs everything on the device in one go.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from gpu_jobs.bench.quality import ssim
from gpu_jobs.runtime_plan import RuntimePlan
from gpu_jobs.torch_compile import reserve_graphs
from gpu_jobs.torch_runtime import resolve_device, resolve_dtype, synchronize

TOKENIZER_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "tiny_models"
# In run order: stock and its compiled control first, on the untouched pipeline; then Soul's rows,
# each building on what the previous ones applied (`Applied`).
SDXL_ROWS = (
    "stock",
    "stock_compile",
    "soul",
    "soul_cfg",
    "soul_cache",
    "soul_compile",
    "soul_compile_cfg",
    "soul_compile_cache",
    "soul_fp8_cfg",
)
SVD_ROWS = (
    "stock",
    "stock_compile",
    "soul",
    "soul_cfg",
    "soul_cache",
    "soul_compile",
    "soul_compile_cfg",
    "soul_compile_cache",
)


@dataclass(frozen=True)
class Plan:
    full: bool
    device: torch.device
    dtype: torch.dtype
    width: int
    height: int
    steps: int
    batches: tuple[int, ...]
    reps: int
    frames: int
    compile_mode: str
    compile_cache: Path | None
    cfg_cutoff: float
    rows: frozenset[str]
    step_cache_interval: int = 3
    first_call: bool = True  # an untimed first call before Soul's rows (their setup() already warmed them)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


@dataclass
class Timed:
    min_s: float
    median_s: float
    first_s: float
    result: Any


def emit(**row: Any) -> None:
    print(json.dumps(row, default=str), flush=True)  # a CLI report: JSON lines on stdout


def timed(plan: Plan, fn: Callable[[], Any], *, warmed: bool = False) -> Timed:
    """One untimed (reported) first call — lazy init, cuDNN autotune, compile — then `reps` timed calls.
    `warmed`: a Soul row whose `setup()` ran warm-ups at these shapes; `--no-first-call` skips its call."""
    start = time.perf_counter()
    if plan.full and not (warmed and not plan.first_call):  # the smoke run's tiny models have nothing to warm
        fn()
    synchronize(plan.device)
    first = time.perf_counter() - start
    times, result = [], None
    for _ in range(plan.reps):
        synchronize(plan.device)
        start = time.perf_counter()
        result = fn()
        synchronize(plan.device)
        times.append(time.perf_counter() - start)
    return Timed(min(times), statistics.median(times), first, result)


def peak_gib(device: torch.device) -> float | None:
    """Peak allocated memory since the last call (None off CUDA)."""
    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    torch.cuda.reset_peak_memory_stats(device)
    return round(peak, 2)


def to_pil(array: np.ndarray) -> Image.Image:
    """diffusers' `output_type="np"` (float 0..1, HWC) as an 8-bit image, the way `"pil"` would round."""
    return Image.fromarray((np.nan_to_num(array) * 255).round().clip(0, 255).astype(np.uint8))


def quality(out: Sequence[Image.Image], ref: Sequence[Image.Image], prefix: str = "") -> dict[str, Any]:
    """PSNR (dB) and SSIM of every item against the reference, plus the worst of each."""
    psnr, sims = [], []
    for a, b in zip(out, ref, strict=True):
        x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
        mse = float(((x - y) ** 2).mean())
        psnr.append(round(min(100.0, 10 * np.log10(255**2 / max(mse, 1e-12))), 2))  # 100: identical
        sims.append(round(ssim(a, b), 4))
    return {f"{prefix}psnr_db": psnr, f"{prefix}ssim": sims, f"{prefix}psnr_min": min(psnr),
            f"{prefix}ssim_min": min(sims)}  # fmt: skip


def row_dict(plan: Plan, what: str, t: Timed, items: int, finite: bool) -> dict[str, Any]:
    per = "image" if plan.frames == 0 else "clip"
    return {"what": what, f"s_per_{per}_min": t.min_s / items, f"s_per_{per}_median": t.median_s / items,
            "first_call_s": round(t.first_s, 2), "reps": plan.reps, "finite": finite,
            "peak_gib": peak_gib(plan.device)}  # fmt: skip


def skipped(what: str, reason: str) -> None:
    emit(what=what, skipped=reason)


class Applied:
    """What Soul's rows have already done to the shared pipeline, so each next row's plan applies only
    the rest (fusing QKV twice, or compiling a compiled UNet, would not be the production path)."""

    def __init__(self, full: RuntimePlan) -> None:
        self.full, self.done, self.compiled = full, False, False

    def plan(self, *, compile: bool, fp8: bool = False) -> RuntimePlan:
        step = replace(self.full, compile_unet=compile and not self.compiled, fp8_unet=fp8,
                       pad_batches=self.full.device_type == "cuda" and (compile or self.compiled))  # fmt: skip
        if self.done:
            step = replace(step, channels_last=False, fuse_qkv=False)
        self.done, self.compiled = True, self.compiled or compile
        return step


def compiled_unet(pipe: Any, plan: Plan) -> Any:
    """Stock's control: the same pipeline with only its UNet compiled, static shapes as Soul's, its graphs
    (the CFG batch per batch size) reserved in dynamo's shared budget (returns the eager UNet)."""
    eager = pipe.unet
    reserve_graphs(len(plan.batches))
    pipe.unet = torch.compile(eager, mode=plan.compile_mode, fullgraph=True, dynamic=False)
    return eager


def plan_from(args: argparse.Namespace) -> Plan:
    device = resolve_device("cpu" if args.smoke else args.device)
    rows = frozenset(args.rows.split(",")) if args.rows else frozenset(SDXL_ROWS + SVD_ROWS)
    common = dict(compile_mode=args.compile_mode, compile_cache=args.compile_cache, cfg_cutoff=args.cfg_cutoff,
                  rows=rows | {"stock"}, step_cache_interval=args.step_cache_interval,
                  first_call=not args.no_first_call)  # fmt: skip
    if args.smoke:
        torch.set_num_threads(1)  # tiny models: threads only add contention on a busy CI box
        common["step_cache_interval"] = 2  # below the smoke run's 3 steps
        return Plan(False, device, torch.float32, 64, 64, 3, (1, 2), args.reps, 0, **common)  # type: ignore[arg-type]
    batches = tuple(sorted({int(b) for b in args.batches.split(",")}))
    return Plan(True, device, resolve_dtype(args.dtype, device), 1024, 1024, args.steps, batches, max(1, args.reps),
                0, **common)  # type: ignore[arg-type]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Stock diffusers vs Soul's production path (JSON lines).")
    p.add_argument("models", nargs="*", default=["sdxl", "svd"], help="sdxl and/or svd")
    p.add_argument("--smoke", action="store_true", help="tiny models on the CPU, 3 steps (tests)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="float16")
    p.add_argument("--steps", type=int, default=30, help="SDXL steps (SVD uses 25)")
    p.add_argument("--batches", default="1,4", help="SDXL batch sizes, comma list (the device check: 4)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions (the device check: 1 for SVD)")
    p.add_argument("--no-first-call", action="store_true", help="no untimed call before rows warmed in setup()")
    p.add_argument("--rows", default="", help=f"comma list; default all of {SDXL_ROWS} / {SVD_ROWS}")
    p.add_argument("--compile-mode", default="max-autotune-no-cudagraphs")
    p.add_argument("--compile-cache", type=Path, default=None)
    p.add_argument("--cfg-cutoff", type=float, default=0.6, help="fraction of steps with CFG in the *_cfg rows")
    p.add_argument("--step-cache-interval", type=int, default=3, help="full UNet every N steps in the *_cache rows")
    args = p.parse_args(argv)
    if not set(args.models) <= {"sdxl", "svd"}:
        p.error(f"models must be sdxl and/or svd, not {args.models}")
    plan = plan_from(args)
    emit(what="env", device=torch.cuda.get_device_name() if plan.cuda else "cpu", torch=torch.__version__,
         date=datetime.now(UTC).isoformat(timespec="seconds"), smoke=args.smoke, reps=plan.reps)  # fmt: skip
    torch.manual_seed(0)
    if "sdxl" in args.models:
        from gpu_jobs.bench.gpu_sdxl import bench_sdxl

        bench_sdxl(plan)
    if "svd" in args.models:
        from gpu_jobs.bench.gpu_svd import bench_svd

        size = (1024, 576, 25, 25) if plan.full else (32, 32, 3, 3)
        bench_svd(replace(plan, width=size[0], height=size[1], steps=size[2], frames=size[3]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
