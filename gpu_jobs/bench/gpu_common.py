"""What every row of the GPU benchmark shares (`gpu_jobs.bench.gpu` runs it; `gpu_sdxl` and `gpu_svd`
time their rows with it): the plan, the timer, peak memory, quality against stock, the JSON row and the
compiled UNet. Its own module so the runner and the model files import it and never each other."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from gpu_jobs.bench.quality import ssim
from gpu_jobs.runtime_plan import RuntimePlan
from gpu_jobs.torch_compile import reserve_graphs
from gpu_jobs.torch_runtime import synchronize

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
