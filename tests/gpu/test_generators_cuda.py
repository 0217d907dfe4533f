"""GPU-only checks of the SDXL/SVD generators on CUDA, with the plan the device itself yields.

Tiny random-weight models, so they finish in seconds; what they prove is that the production plan
(fp16 UNet + bf16 VAE, channels_last, fused QKV, SDPA backend order, compiled UNet over padded
batches) runs on a real GPU, that SVD's plan starts at all, and that a real OOM is handled.
Skipped unless SOUL_GPU_TESTS=1 and CUDA is present. On the device machine (device_check.sh runs it):
`SOUL_GPU_TESTS=1 python -m pytest -m gpu tests/gpu -q --noconftest`.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from gpu_jobs.generators.base import GenRequest, NullHooks
from gpu_jobs.generators.sdxl import SdxlGenerator
from gpu_jobs.generators.svd import SvdGenerator
from gpu_jobs.runtime_plan import DeviceInfo, plan_for
from gpu_jobs.torch_runtime import SpeedOptions
from shared.domain.models import GenerationSpec, Kind
from tests.tiny_models import tiny_sdxl, tiny_svd

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        os.environ.get("SOUL_GPU_TESTS") != "1" or not torch.cuda.is_available(),
        reason="needs SOUL_GPU_TESTS=1 and CUDA",
    ),
]


def spec(seed: int) -> GenerationSpec:
    return GenerationSpec(kind=Kind.IMAGE, soul_id="gpu", prompt="a penguin", seed=seed, width=64, height=64, steps=3)


def test_probed_plan_is_the_one_the_rules_give() -> None:
    info = DeviceInfo.probe(torch.device("cuda"))
    assert info.type == "cuda" and info.total_memory > 0 and info.capability >= (7, 0)
    plan = plan_for("sdxl", info)
    assert plan.dtype == torch.float16 and plan.channels_last
    assert plan.vae_dtype == (torch.bfloat16 if info.capability >= (8, 0) else torch.float32)


@pytest.mark.parametrize("compile_unet", [False, True], ids=["eager", "compiled"])
def test_sdxl_on_cuda_batch_matches_solo(compile_unet: bool) -> None:
    models = tiny_sdxl()
    speed = SpeedOptions(compile=compile_unet, compile_mode="default", cfg_cutoff=0.6 if compile_unet else 1.0)
    gen = SdxlGenerator(models.single_file, config_dir=models.config_dir, device="cuda", speed=speed,
                        warmup_size=(64, 64), max_batch=4)  # fmt: skip
    gen.setup()
    assert gen.dtype == torch.float16 and gen._pipe.vae.dtype == gen.plan.vae_dtype
    batch = gen.generate([GenRequest(spec(i), NullHooks()) for i in range(3)])  # padded to 4 when compiled
    for i, out in enumerate(batch):
        solo = gen.generate([GenRequest(spec(i), NullHooks())])[0]
        diff = np.abs(np.asarray(out.frames[0], np.int16) - np.asarray(solo.frames[0], np.int16))
        assert diff.mean() < 2.0  # fp16 kernels may pick other algorithms per batch size
    timing = gen.timing()
    assert timing is not None and timing.device.startswith("cuda")


@pytest.mark.parametrize("compile_unet", [False, True], ids=["eager", "compiled"])
def test_svd_on_cuda_starts_and_makes_a_clip(compile_unet: bool) -> None:
    speed = SpeedOptions(compile=compile_unet, compile_mode="default")
    gen = SvdGenerator(tiny_svd(), device="cuda", num_frames=3, decode_chunk_size=2, speed=speed,
                       warmup_shapes=[(32, 32)])  # fmt: skip
    gen.setup()  # channels_last on its Conv3d weights used to fail right here
    assert gen._pipe.unet.dtype == torch.float16 and not gen.plan.channels_last
    video = GenerationSpec(kind=Kind.SVD, soul_id="gpu", prompt="", seed=1, width=32, height=32, steps=2, num_frames=3)
    [out] = gen.generate([GenRequest(video, NullHooks(), Image.new("RGB", (32, 32), (200, 40, 40)))])
    assert len(out.frames) == 3


def test_real_cuda_oom_becomes_a_permanent_failure() -> None:
    from shared.errors import GenerationFailed

    gen = SdxlGenerator(tiny_sdxl().folder, device="cuda", memory_fraction=0.0005)
    gen.setup()
    big = spec(1).model_copy(update={"width": 2048, "height": 2048})
    with pytest.raises(GenerationFailed) as err:
        gen.generate([GenRequest(big, NullHooks()) for _ in range(4)])
    assert err.value.code == "out_of_memory"
