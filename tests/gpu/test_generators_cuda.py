"""GPU-only checks of the SDXL/SVD generators on CUDA (tiny models, fp16, speed-ups on).

Skipped unless SOUL_GPU_TESTS=1 and CUDA is present. Run on the device machine:
`SOUL_GPU_TESTS=1 python -m pytest -m gpu tests/gpu -q`.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from gpu_jobs.generators.base import GenRequest, NullHooks
from gpu_jobs.generators.sdxl import SdxlGenerator
from gpu_jobs.torch_runtime import SpeedOptions
from shared.domain.models import GenerationSpec, Kind
from tests.tiny_models import tiny_sdxl

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        os.environ.get("SOUL_GPU_TESTS") != "1" or not torch.cuda.is_available(),
        reason="needs SOUL_GPU_TESTS=1 and CUDA",
    ),
]


def spec(seed: int) -> GenerationSpec:
    return GenerationSpec(kind=Kind.IMAGE, soul_id="gpu", prompt="a penguin", seed=seed, width=64, height=64, steps=3)


@pytest.mark.parametrize("compile_unet", [False, True])
def test_sdxl_on_cuda_batch_matches_solo(compile_unet: bool) -> None:
    models = tiny_sdxl()
    gen = SdxlGenerator(models.single_file, config_dir=models.config_dir, device="cuda",
                        speed=SpeedOptions(compile=compile_unet), warmup_shapes=[(3, 64, 64), (1, 64, 64)])  # fmt: skip
    gen.setup()
    assert gen.dtype == torch.float16 and gen._pipe.vae.dtype == torch.bfloat16
    batch = gen.generate([GenRequest(spec(i), NullHooks()) for i in range(3)])
    for i, out in enumerate(batch):
        solo = gen.generate([GenRequest(spec(i), NullHooks())])[0]
        diff = np.abs(np.asarray(out.frames[0], np.int16) - np.asarray(solo.frames[0], np.int16))
        assert diff.mean() < 2.0  # fp16 kernels may pick other algorithms per batch size
    timing = gen.timing()
    assert timing is not None and timing.device.startswith("cuda")


def test_real_cuda_oom_becomes_a_permanent_failure() -> None:
    from shared.errors import GenerationFailed

    gen = SdxlGenerator(tiny_sdxl().folder, device="cuda", memory_fraction=0.0005)
    gen.setup()
    big = spec(1).model_copy(update={"width": 2048, "height": 2048})
    with pytest.raises(GenerationFailed) as err:
        gen.generate([GenRequest(big, NullHooks()) for _ in range(4)])
    assert err.value.code == "out_of_memory"
