"""Step caching (DeepCache-style) on the tiny random-weight SDXL and SVD pipelines, on the CPU.

Interval 1 is the stock path bit for bit; interval 2 runs the UNet's deep blocks on half the steps
(counted on the blocks' own sub-modules, which only a real forward reaches) and gives a finite output
close to, but not equal to, stock's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from gpu_jobs.generators.base import GenRequest, NullHooks
from gpu_jobs.generators.sdxl import SdxlGenerator
from gpu_jobs.generators.svd import SvdGenerator
from gpu_jobs.step_cache import StepCache
from shared.domain.models import GenerationSpec, Kind
from tests.tiny_models import sdxl_pipeline, svd_pipeline

pytestmark = pytest.mark.unit
STEPS = 6


@pytest.fixture(scope="module")
def pipe() -> Any:
    p: Any = sdxl_pipeline()
    p.set_progress_bar_config(disable=True)
    return p


def latents(pipe: Any) -> torch.Tensor:
    out = pipe(prompt="a penguin", num_inference_steps=STEPS, width=64, height=64, guidance_scale=5.0,
               generator=torch.Generator().manual_seed(7), output_type="latent")  # fmt: skip
    return out.images  # type: ignore[no-any-return]


class Counter:
    """Counts real forward runs of a module (a skipped block never reaches its sub-modules)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.n = 0
        module.register_forward_hook(self._count)

    def _count(self, *_: Any) -> None:
        self.n += 1


def test_interval_1_is_stock_and_interval_2_halves_the_deep_blocks(pipe: Any) -> None:
    unet = pipe.unet
    deep = [Counter(unet.down_blocks[1].resnets[0]), Counter(unet.mid_block.resnets[0]),
            Counter(unet.up_blocks[0].resnets[0])]  # fmt: skip
    shallow = Counter(unet.up_blocks[-1].resnets[0])
    cache = StepCache(unet)
    stock = latents(pipe)
    with cache.use(1):
        exact = latents(pipe)
    assert torch.equal(stock, exact)
    assert [c.n for c in deep] == [2 * STEPS] * 3 and shallow.n == 2 * STEPS
    with cache.use(2):
        cached = latents(pipe)
    assert (cache.calls, cache.full_calls) == (STEPS, STEPS // 2)
    assert [c.n for c in deep] == [2 * STEPS + STEPS // 2] * 3  # deep blocks: half the steps
    assert shallow.n == 3 * STEPS  # the shallow path runs every step
    assert torch.isfinite(cached).all() and not torch.equal(cached, stock)
    relative = ((cached - stock).norm() / stock.norm()).item()
    assert relative < 0.25, relative
    after = latents(pipe)  # the block's exit restores the stock forward
    assert torch.equal(after, stock)


def test_a_batch_change_runs_in_full(pipe: Any) -> None:
    """The CFG-truncated half batch cannot reuse features cached for the full batch."""
    cache = StepCache(pipe.unet)

    def conditioning(n: int) -> dict[str, Any]:
        added = {"text_embeds": torch.randn(n, 32), "time_ids": torch.zeros(n, 6)}  # 32 + 6·8 = 80 inputs
        return {"encoder_hidden_states": torch.randn(n, 77, 80), "added_cond_kwargs": added}

    sample = torch.randn(2, 4, 8, 8)
    with torch.inference_mode(), cache.use(2):
        pipe.unet(sample, 10, **conditioning(2))
        pipe.unet(sample[1:], 10, **conditioning(1))
    assert (cache.calls, cache.full_calls) == (2, 2)


def test_sdxl_generator_applies_the_spec_interval() -> None:
    gen = SdxlGenerator.from_pipeline(sdxl_pipeline(), device="cpu")
    gen.setup()

    def run(interval: int) -> np.ndarray:
        spec = GenerationSpec(kind=Kind.IMAGE, soul_id="s", prompt="a penguin", seed=3, width=64, height=64,
                              steps=STEPS, step_cache_interval=interval)  # fmt: skip
        return np.asarray(gen.generate([GenRequest(spec, NullHooks())])[0].frames[0], dtype=np.int16)

    exact, cached = run(1), run(3)
    assert np.array_equal(exact, run(1))
    diff = np.abs(exact - cached)
    assert diff.max() > 0 and diff.mean() < 40, diff.mean()


def test_svd_generator_applies_the_spec_interval() -> None:
    from PIL import Image

    gen = SvdGenerator.from_pipeline(svd_pipeline(), device="cpu", num_frames=3, decode_chunk_size=3)
    gen.setup()
    source = Image.new("RGB", (32, 32), (90, 140, 200))

    def run(interval: int) -> np.ndarray:
        spec = GenerationSpec(kind=Kind.SVD, soul_id="s", prompt="clip", seed=3, width=32, height=32, steps=4,
                              num_frames=3, step_cache_interval=interval)  # fmt: skip
        frames = gen.generate([GenRequest(spec, NullHooks(), source=source)])[0].frames
        return np.stack([np.asarray(f, dtype=np.int16) for f in frames])

    exact, cached = run(1), run(2)
    assert gen._cache.full_calls == 2  # 4 steps at interval 2
    assert np.array_equal(exact, run(1)) and np.abs(exact - cached).max() > 0
