"""The compiled UNet path through the generators' real `setup()`, on the CPU (issue 25's crashes).

The tiny SDXL and SVD UNets are compiled by dynamo with a counting backend (dynamo's real tracing,
guards and recompile limits; inductor's code generation is what the slow test adds), warmed in
`setup()`, then given step-cached and CFG-truncated requests. What must hold: setup does not crash
(the step cache's hook used to be traced and recompile at every step; two UNets used to share dynamo's
default budget of 8 graphs), every graph has static shapes, no request compiles a graph beyond the
warmed ones, and the output is within 1/255 of the eager path's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
import torch._dynamo
from PIL import Image
from torch._dynamo.utils import counters

from gpu_jobs import torch_compile
from gpu_jobs.generators.base import GenRequest, NullHooks
from gpu_jobs.generators.sdxl import SdxlGenerator
from gpu_jobs.generators.svd import SvdGenerator
from gpu_jobs.runtime_plan import DeviceInfo, SpeedOptions, plan_for
from shared.domain.models import GenerationSpec, Kind
from tests import tiny_models

pytestmark = pytest.mark.unit
CPU = DeviceInfo("cpu")


class CountingBackend:
    """A dynamo backend that runs each captured graph eagerly and records whether its inputs are static."""

    def __init__(self) -> None:
        self.graphs = 0
        self.dynamic = 0

    def __call__(self, gm: torch.fx.GraphModule, _inputs: Any) -> Any:
        self.graphs += 1
        for node in gm.graph.nodes:
            value = node.meta.get("example_value")
            if node.op == "placeholder" and isinstance(value, torch.Tensor):
                self.dynamic += any(isinstance(d, torch.SymInt) for d in value.shape)
        return gm.forward


@pytest.fixture(autouse=True)
def fresh_dynamo() -> Iterator[None]:
    """Each test starts from dynamo's defaults: its own graphs, the stock recompile limit of 8."""
    import torch._dynamo.config as dynamo

    limits = dynamo.recompile_limit, dynamo.accumulated_recompile_limit
    torch._dynamo.reset()
    counters.clear()
    dynamo.recompile_limit = 8
    torch_compile._reserved["graphs"] = 0
    yield
    torch._dynamo.reset()
    dynamo.recompile_limit, dynamo.accumulated_recompile_limit = limits
    torch_compile._reserved["graphs"] = 0


def _bf16_weights(model: torch.nn.Module) -> None:
    """A lossy stand-in for torchao's FP8 (its kernels need CUDA ≥ 8.9): linears rounded to bf16."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.weight.data = module.weight.data.to(torch.bfloat16).float()


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def image_spec(seed: int, **options: Any) -> GenerationSpec:
    return GenerationSpec(kind=Kind.IMAGE, soul_id="c", prompt="a penguin", seed=seed, width=64, height=64, steps=6,
                          **options)  # fmt: skip


def _sdxl_matches_eager(compiled: SdxlGenerator, batches: list[list[GenerationSpec]]) -> None:
    eager = SdxlGenerator.from_pipeline(tiny_models.sdxl_pipeline(), device="cpu", speed=compiled.speed,
                                        plan=replace(compiled.plan, compile_unet=False),
                                        max_batch=compiled.max_batch)  # fmt: skip
    eager.setup()
    for specs in batches:
        got = compiled.generate([GenRequest(s, NullHooks()) for s in specs])
        want = eager.generate([GenRequest(s, NullHooks()) for s in specs])
        for a, b in zip(got, want, strict=True):
            assert np.abs(pixels(a.frames[0]) - pixels(b.frames[0])).max() <= 1


def _svd_matches_eager(compiled: SvdGenerator, options: list[dict[str, Any]]) -> None:
    plan = replace(compiled.plan, compile_unet=False)
    eager = SvdGenerator.from_pipeline(tiny_models.svd_pipeline(), device="cpu", num_frames=3, decode_chunk_size=3,
                                       speed=compiled.speed, plan=plan)  # fmt: skip
    eager.setup()
    source = Image.new("RGB", (32, 32), (90, 140, 200))
    for option in options:
        spec = GenerationSpec(kind=Kind.SVD, soul_id="c", prompt="", seed=5, width=32, height=32, steps=5,
                              num_frames=3, **option)  # fmt: skip
        [got] = compiled.generate([GenRequest(spec, NullHooks(), source)])
        [want] = eager.generate([GenRequest(spec, NullHooks(), source)])
        for a, b in zip(got.frames, want.frames, strict=True):
            assert np.abs(pixels(a) - pixels(b)).max() <= 1


def sdxl(backend: CountingBackend, max_batch: int, **speed: Any) -> SdxlGenerator:
    plan = replace(plan_for("sdxl", CPU), compile_unet=True, pad_batches=True)
    options = SpeedOptions(compile_backend=backend, **speed)
    return SdxlGenerator.from_pipeline(tiny_models.sdxl_pipeline(), device="cpu", plan=plan, warmup_size=(64, 64),
                                       speed=options, max_batch=max_batch)  # fmt: skip


def svd(backend: CountingBackend, **speed: Any) -> SvdGenerator:
    return SvdGenerator.from_pipeline(tiny_models.svd_pipeline(), device="cpu", num_frames=3, decode_chunk_size=3,
                                      warmup_shapes=[(32, 32)], speed=SpeedOptions(compile_backend=backend, **speed),
                                      plan=replace(plan_for("svd", CPU), compile_unet=True))  # fmt: skip


def test_compiled_sdxl_warms_its_graphs_and_cached_cfg_truncated_requests_compile_nothing() -> None:
    """The step cache's hook used to be traced with the UNet: a recompile per step counter, then
    `FailOnRecompileLimitHit` in `setup()`."""
    backend = CountingBackend()
    gen = sdxl(backend, max_batch=1)
    gen.setup()
    assert backend.graphs == 4 and backend.dynamic == 0  # UNet batch 2 (CFG) and 1 (half), full and cached
    _sdxl_matches_eager(gen, [[image_spec(1)], [image_spec(3, step_cache_interval=2, cfg_cutoff=0.5)]])
    assert backend.graphs == 4  # nothing beyond the warmed graphs


@pytest.mark.slow
def test_compiled_svd_warms_its_cached_graph_and_a_cached_request_compiles_nothing() -> None:
    """Tracing even the tiny SVD UNet takes ~20 s a graph on a busy 2-core box (slow); SDXL's test above
    covers the same step-cache fix in the default run."""
    backend = CountingBackend()
    gen = svd(backend, style_cfg_cutoff=False)  # the half batch is SDXL's test; tracing SVD's UNet is slow
    gen.setup()
    assert backend.graphs == 2 and backend.dynamic == 0  # the CFG batch, full and cached
    _svd_matches_eager(gen, [{}, {"step_cache_interval": 2}])
    assert backend.graphs == 2


def test_modules_compiled_beyond_dynamos_default_budget_do_not_fail() -> None:
    """Every compiled module's call shares dynamo's per-code limit (8): an FP8 twin, a second model or the
    bench's stock control used to hit it under `fullgraph=True`. `reserve_graphs` raises it."""
    backend = CountingBackend()
    first, second = torch.nn.Linear(4, 4), torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    speed = SpeedOptions(compile_backend=backend)
    torch_compile.reserve_graphs(6)
    one = torch_compile.compile_module(first, speed)
    torch_compile.reserve_graphs(6)
    two = torch_compile.compile_module(second, speed)
    with torch.inference_mode():
        for batch in range(1, 7):  # six static shapes each: 12 graphs on one shared budget
            one(torch.ones(batch, 4))
            two(torch.ones(batch, 4))
    assert backend.graphs == 12 and backend.dynamic == 0


@pytest.mark.slow
def test_compiled_sdxl_with_fp8_twin_and_svd_in_one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU worker's image and video lanes in one process: SDXL with its FP8 twin at padded batches 1
    and 2, and SVD with its half batch; ~3 minutes on a busy 2-core box (slow)."""
    monkeypatch.setattr(torch_compile, "quantize_fp8", _bf16_weights)
    backend = CountingBackend()
    image = sdxl(backend, max_batch=2)
    image.plan = replace(image.plan, fp8_unet=True)
    image.setup()
    # UNet batches {1, 2, 4} (CFG 2b and half b, for b in 1, 2) × full and cached; the twin's graphs are
    # shared here (its stand-in quantization keeps the module's structure), not with torchao's FP8.
    assert backend.graphs == 6 and backend.dynamic == 0
    video = svd(backend)
    video.setup()
    assert backend.graphs == 10 and backend.dynamic == 0
    _sdxl_matches_eager(image, [[image_spec(1), image_spec(2)], [image_spec(3, step_cache_interval=2, cfg_cutoff=0.5)],
                                [image_spec(4, fp8=True, step_cache_interval=3, cfg_cutoff=0.6)] * 2])  # fmt: skip
    _svd_matches_eager(video, [{}, {"step_cache_interval": 2, "cfg_cutoff": 0.5}])
    assert backend.graphs == 10


def test_a_deployment_without_style_options_warms_only_the_exact_graphs() -> None:
    backend = CountingBackend()
    gen = sdxl(backend, max_batch=1, style_cfg_cutoff=False, style_step_cache=False)
    gen.setup()
    assert backend.graphs == 1  # the CFG batch only: no half batch, no cached graph
    [out] = gen.generate([GenRequest(image_spec(1, step_cache_interval=2, cfg_cutoff=0.5), NullHooks())])
    assert out.frames and backend.graphs == 1  # the style's options do not act here: the exact path


@pytest.mark.slow
def test_inductor_compiled_sdxl_matches_eager_within_one_level() -> None:
    """Inductor's own kernels (not a counting backend) through the real setup(): one static graph, the
    same image within 1/255 of eager, no graph compiled by the request. ~1-2 minutes on the CPU (slow)."""
    plan = replace(plan_for("sdxl", CPU), compile_unet=True, pad_batches=True)
    speed = SpeedOptions(compile_mode="default", style_cfg_cutoff=False, style_step_cache=False)
    gen = SdxlGenerator.from_pipeline(tiny_models.sdxl_pipeline(), device="cpu", plan=plan, speed=speed,
                                      warmup_size=(64, 64), max_batch=1)  # fmt: skip
    gen.setup()
    graphs = counters["stats"]["unique_graphs"]
    assert graphs == 1
    _sdxl_matches_eager(gen, [[image_spec(1)], [image_spec(2)]])
    assert counters["stats"]["unique_graphs"] == graphs
