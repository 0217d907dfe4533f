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
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import torch

from gpu_jobs.bench.gpu_common import SDXL_ROWS, SVD_ROWS, Plan, emit
from gpu_jobs.torch_runtime import resolve_device, resolve_dtype


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
