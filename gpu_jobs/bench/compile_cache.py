"""The persistent compile cache, measured: two cold starts of a compiled SDXL generator, each its own
process with an empty local inductor cache, sharing only the artifact store (the models bucket).

The first start compiles the warm-up's graphs with inductor and saves torch's portable artifacts; the
second loads them before its warm-up, so inductor compiles nothing (every FX graph a cache hit). One
JSON line per start: setup seconds, inductor's FX-graph cache misses and hits, loaded / saved.

  python -m gpu_jobs.bench.compile_cache --smoke          # CPU: the tiny SDXL model, batch 1, 64×64
  python -m gpu_jobs.bench.compile_cache --start STORE    # one start (what the two runs above are)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path


def start(store: Path) -> dict[str, object]:
    """One worker start: build the tiny SDXL generator compiled with inductor, warm it, report the cache."""
    import torch
    from torch._dynamo.utils import counters

    from gpu_jobs.bench import models
    from gpu_jobs.bench.gpu_common import TOKENIZER_DIR
    from gpu_jobs.compile_cache import DirectoryArtifactStore
    from gpu_jobs.generators.sdxl import SdxlGenerator
    from gpu_jobs.runtime_plan import DeviceInfo, SpeedOptions, plan_for

    torch.set_num_threads(1)
    torch.manual_seed(0)
    pipe = models.sdxl_pipeline(full=False, device=torch.device("cpu"), dtype=torch.float32,
                                tokenizer_dir=TOKENIZER_DIR)  # fmt: skip
    plan = replace(plan_for("sdxl", DeviceInfo("cpu")), compile_unet=True, pad_batches=True)
    speed = SpeedOptions(compile_mode="default", style_cfg_cutoff=False, style_step_cache=False)
    gen = SdxlGenerator.from_pipeline(pipe, device="cpu", plan=plan, speed=speed, warmup_size=(64, 64), max_batch=1,
                                      compile_cache=DirectoryArtifactStore(store))  # fmt: skip
    started = time.perf_counter()
    gen.setup()
    inductor = counters["inductor"]
    stored = sorted(p.name for p in store.rglob("*.bin"))
    return {"what": "start", "setup_s": round(time.perf_counter() - started, 2), "loaded": gen.compile_cache_loaded,
            "fxgraph_cache_miss": inductor["fxgraph_cache_miss"], "fxgraph_cache_hit": inductor["fxgraph_cache_hit"],
            "stored_files": stored}  # fmt: skip


def two_starts(timeout_s: float = 1800) -> list[dict[str, object]]:
    """Two cold starts, each in a fresh process with an empty inductor cache, sharing one store."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="soul-compile-cache-") as tmp:
        store = Path(tmp) / "models-bucket"
        for n in (1, 2):
            env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(Path(tmp) / f"inductor-{n}")}
            argv = [sys.executable, "-m", "gpu_jobs.bench.compile_cache", "--start", str(store)]
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=timeout_s)  # noqa: S603
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]) | {"start": n})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Two cold starts of a compiled generator sharing the compile cache.")
    p.add_argument("--smoke", action="store_true", help="the tiny SDXL model on the CPU (the only mode so far)")
    p.add_argument("--start", type=Path, default=None, help="run one start against this store directory")
    args = p.parse_args(argv)
    rows = [start(args.start)] if args.start else two_starts()
    for row in rows:
        print(json.dumps(row), flush=True)  # a CLI report: JSON lines on stdout
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
