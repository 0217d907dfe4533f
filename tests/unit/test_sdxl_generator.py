"""The SDXL generator on a tiny random-weight pipeline: real diffusers code, CPU, offline.

The model is written as an original-layout single `.safetensors` file plus a config folder and loaded
back through `from_single_file` exactly as production loads `sdXL_v10VAEFix.safetensors`.
Batch tolerance: a batch item may differ from its solo run by float reordering only, at most
2/255 per 8-bit channel.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpu_jobs.generators.base import GenRequest, NullHooks, Output
from gpu_jobs.generators.sdxl import SdxlGenerator
from gpu_jobs.torch_runtime import SpeedOptions
from shared.domain.models import GenerationSpec, Kind
from shared.errors import GenerationFailed, InvalidInput, JobCanceled, NotConfigured
from tests.tiny_models import ScriptedHooks, tiny_sdxl

pytestmark = pytest.mark.unit

BATCH_TOLERANCE = 2  # of 255


def spec(seed: int, negative: str = "", steps: int = 3) -> GenerationSpec:
    return GenerationSpec(kind=Kind.IMAGE, soul_id="penguin", prompt=f"a penguin number {seed}",
                          negative_prompt=negative, seed=seed, width=64, height=64, steps=steps)  # fmt: skip


def pixels(output: Output) -> np.ndarray:
    return np.asarray(output.frames[0], dtype=np.int16)


@pytest.fixture(scope="module")
def generator() -> SdxlGenerator:
    models = tiny_sdxl()
    gen = SdxlGenerator(models.single_file, config_dir=models.config_dir, device="cpu")
    gen.setup()
    return gen


def test_batch_of_three_equals_each_solo_run(generator: SdxlGenerator) -> None:
    specs = [spec(1), spec(2, negative="blurry"), spec(3)]
    batch = generator.generate([GenRequest(s, NullHooks()) for s in specs])
    assert [len(o.frames) for o in batch] == [1, 1, 1]
    assert batch[0].frames[0].size == (64, 64) and batch[0].generator == "sdxl"
    for s, out in zip(specs, batch, strict=True):
        solo = generator.generate([GenRequest(s, NullHooks())])[0]
        assert np.abs(pixels(out) - pixels(solo)).max() <= BATCH_TOLERANCE
    assert np.abs(pixels(batch[0]) - pixels(batch[2])).mean() > 5  # different seeds, different images


def test_diffusers_folder_loads_the_same_model() -> None:
    models = tiny_sdxl()
    folder = SdxlGenerator(models.folder, device="cpu")
    folder.setup()
    single = SdxlGenerator(models.single_file, config_dir=models.config_dir, device="cpu")
    single.setup()
    a, b = (g.generate([GenRequest(spec(7), NullHooks())])[0] for g in (folder, single))
    assert np.array_equal(pixels(a), pixels(b))


def test_progress_every_step_and_timings_measured(generator: SdxlGenerator) -> None:
    hooks = ScriptedHooks()
    generator.generate([GenRequest(spec(4, steps=4), hooks)])
    assert hooks.steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    timing = generator.timing()
    assert timing is not None and timing.seconds_per_step > 0 and timing.device == "cpu"
    estimate = generator.estimate_seconds(images=2, steps=30)
    assert estimate is not None and estimate > 30 * timing.seconds_per_step


def test_cancel_mid_run_stops_between_steps(generator: SdxlGenerator) -> None:
    hooks = [ScriptedHooks(cancel_at_step=2), ScriptedHooks(cancel_at_step=2)]
    with pytest.raises(JobCanceled):
        generator.generate([GenRequest(spec(5 + i, steps=5), h) for i, h in enumerate(hooks)])
    assert all(h.steps[-1] == (2, 5) for h in hooks)


def test_partly_canceled_batch_finishes(generator: SdxlGenerator) -> None:
    hooks = [ScriptedHooks(cancel_at_step=1), ScriptedHooks()]
    outputs = generator.generate([GenRequest(spec(8 + i), h) for i, h in enumerate(hooks)])
    assert len(outputs) == 2 and all(len(o.frames) == 1 for o in outputs)
    assert hooks[1].steps[-1] == (3, 3)


def test_injected_oom_retries_once_with_half_batches() -> None:
    models = tiny_sdxl()
    seen: list[int] = []

    def oom_above_two(batch: int) -> None:
        seen.append(batch)
        if batch > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    gen = SdxlGenerator(models.folder, device="cpu", fault_hook=oom_above_two)
    gen.setup()
    outputs = gen.generate([GenRequest(spec(10 + i), NullHooks()) for i in range(3)])
    assert seen == [3, 2, 1] and all(len(o.frames) == 1 for o in outputs)


def test_injected_oom_twice_is_a_permanent_failure() -> None:
    def always_oom(_batch: int) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    gen = SdxlGenerator(tiny_sdxl().folder, device="cpu", fault_hook=always_oom)
    gen.setup()
    for size in (1, 2):
        with pytest.raises(GenerationFailed) as err:
            gen.generate([GenRequest(spec(i), NullHooks()) for i in range(size)])
        assert err.value.code == "out_of_memory" and not err.value.retryable


def test_cfg_cutoff_drops_guidance_for_the_last_steps() -> None:
    gen = SdxlGenerator(tiny_sdxl().folder, device="cpu", speed=SpeedOptions(cfg_cutoff=0.5))
    gen.setup()
    cut = gen.generate([GenRequest(spec(12, steps=4), NullHooks()) for _ in range(2)])
    assert len(cut) == 2 and cut[0].frames[0].size == (64, 64)


def test_rejects_bad_inputs_loudly(generator: SdxlGenerator, tmp_path: object) -> None:
    odd = spec(1).model_copy(update={"width": 60})
    with pytest.raises(InvalidInput):
        generator.generate([GenRequest(odd, NullHooks())])
    with pytest.raises(ValueError, match="batch_key"):
        generator.generate([GenRequest(spec(1), NullHooks()), GenRequest(spec(2, steps=4), NullHooks())])
    with pytest.raises(NotConfigured):
        SdxlGenerator(tiny_sdxl().single_file, device="cpu").setup()  # single file without config folder
