"""torch.compile and FP8 for the generators' denoisers: static shapes, one shared recompile budget, the
inductor settings, FP8 twins (torchao's config API) and feed-forward chunking.

Why each rule (docs/GPU.md, "Compiled UNet"): shapes are static (`dynamic=False`), so every batch
size warmed in `setup()` gets its own graph and no request compiles a shape-generic one; dynamo's
recompile limit is shared by every module with the same `forward` code (all diffusers UNets), so each
warm-up reserves its graphs (`reserve_graphs`) instead of crashing at the default 8 under `fullgraph`.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from typing import Any

import torch

from gpu_jobs import step_cache
from gpu_jobs.runtime_plan import RuntimePlan, SpeedOptions
from shared.errors import NotConfigured


def configure_inductor(cache_dir: Path | None, mode: str) -> None:
    if cache_dir is not None:  # overwritten, not defaulted: inductor reads it when it first writes
        cache_dir.mkdir(parents=True, exist_ok=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir)
    import torch._inductor.config as inductor

    inductor.fx_graph_cache = True  # what the portable artifacts (gpu_jobs.compile_cache) carry
    inductor.autotune_local_cache = True
    # The settings diffusers' SDXL speed guide measured as helping the UNet's 1×1 convolutions; the
    # coordinate-descent search only where the deployment asked for autotuning (it multiplies compile time).
    inductor.conv_1x1_as_mm = True
    inductor.epilogue_fusion = False
    inductor.coordinate_descent_tuning = mode.startswith("max-autotune")


# dynamo's default per-code-object limit; every diffusers UNet (and every compiled module) shares it.
_BASE_RECOMPILE_LIMIT = 8
_reserved = {"graphs": 0}
_reserve_lock = threading.Lock()


def reserve_graphs(graphs: int) -> None:
    """Raise dynamo's recompile limit by the graphs a warm-up is about to compile. All compiled modules of
    the process share one limit per code object (every UNet's `forward` is the same code), so a second
    UNet (the FP8 twin) or a second model would hit the default 8 and fail under `fullgraph=True`."""
    import torch._dynamo.config as dynamo

    with _reserve_lock:
        _reserved["graphs"] += graphs
        limit = _BASE_RECOMPILE_LIMIT + _reserved["graphs"]
        dynamo.recompile_limit = max(dynamo.recompile_limit, limit)
        dynamo.accumulated_recompile_limit = max(dynamo.accumulated_recompile_limit, 4 * limit)


def compile_module(model: torch.nn.Module, speed: SpeedOptions) -> torch.nn.Module:
    """`torch.compile` with static shapes (each warmed batch size its own graph: `dynamic=None` would
    turn the third size into shape-generic kernels) and one graph per call (`fullgraph`)."""
    configure_inductor(speed.compile_cache_dir, speed.compile_mode)
    if speed.compile_backend == "inductor":
        compiled = torch.compile(model, mode=speed.compile_mode, fullgraph=True, dynamic=False)
    else:  # a test's counting backend: dynamo's tracing and guards without inductor's code generation
        compiled = torch.compile(model, backend=speed.compile_backend, fullgraph=True, dynamic=False)
    return compiled  # type: ignore[return-value]


def is_compiled(model: Any) -> bool:
    return hasattr(model, "_orig_mod")


def fp8_twin(model: torch.nn.Module, plan: RuntimePlan, speed: SpeedOptions) -> torch.nn.Module:
    """An FP8 copy of an exact denoiser, for the styles that opt into FP8 while every other style keeps the
    exact weights. Compiled when the exact one is (or the plan compiles): a twin left eager beside a
    compiled UNet would time eager FP8 under a compiled label. Costs the copy's weights in memory."""
    twin: torch.nn.Module = step_cache.clean_copy(getattr(model, "_orig_mod", model))
    quantize_fp8(twin)
    if plan.compile_unet or is_compiled(model):
        return compile_module(twin, speed)
    return twin


def quantize_fp8(model: torch.nn.Module) -> None:
    """FP8 (e4m3) dynamic activation + weight quantization of the linears: torchao, CUDA ≥ 8.9 only.

    torchao's config-object API (≥ 0.16; the `float8_dynamic_activation_float8_weight()` function it
    replaced is gone), with its default per-tensor scales (what the old function did; works on the L4's sm89)."""
    try:
        quantization: Any = importlib.import_module("torchao.quantization")  # optional, the GPU image has it
    except ImportError as exc:
        raise NotConfigured("SOUL_FP8 needs torchao installed in the worker image") from exc
    quantization.quantize_(model, quantization.Float8DynamicActivationFloat8WeightConfig())


def forward_chunking(model: Any, on: bool) -> None:
    """diffusers' feed-forward chunking (SVD's UNet: `enable_forward_chunking()`, one batch item, or one
    frame in the temporal blocks, at a time) when the memory plan is tight (`MemoryPlan.forward_chunking`):
    exact, a lower peak, some speed. Set before warm-up, so a compiled UNet's graphs are traced with it."""
    for module in getattr(model, "_orig_mod", model).modules():
        if hasattr(module, "set_chunk_feed_forward"):
            module.set_chunk_feed_forward(chunk_size=1 if on else None, dim=0)
