"""The generators in their production settings, without a GPU.

The dtype / memory-format / speed-option plan is a pure function of the device's description, so
these tests ask for the plan of the deployed L4 (and an H100) and run the tiny random-weight SDXL and
SVD pipelines on the CPU *with that plan*: an fp16 UNet beside a bf16 VAE, channels_last where the
plan puts it, padded batches. What would break the first CUDA start (mixed-dtype decode, channels_last
on Conv3d weights) breaks here. Full-size architectures are built on the meta device (no memory) and
checked against the published models.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from gpu_jobs.generators.base import GenRequest, NullHooks
from gpu_jobs.generators.sdxl import SdxlGenerator, decode_latents
from gpu_jobs.generators.svd import SvdGenerator
from gpu_jobs.runtime_plan import (
    CONV3D,
    FOOTPRINTS,
    DeviceInfo,
    GiB,
    MemoryPlan,
    SpeedOptions,
    cfg_warmup_steps,
    memory_plan,
    padded_size,
    plan_for,
)
from gpu_jobs.torch_runtime import apply_plan
from shared.domain.models import GenerationSpec, Kind
from tests import tiny_models

pytestmark = pytest.mark.unit

L4 = DeviceInfo("cuda", (8, 9), int(22.5 * GiB), "NVIDIA L4")  # what Terraform deploys
H100 = DeviceInfo("cuda", (9, 0), 80 * GiB, "NVIDIA H100")
T4 = DeviceInfo("cuda", (7, 5), 15 * GiB, "Tesla T4")  # no bf16
CPU = DeviceInfo("cpu")


def sdxl_spec(seed: int, steps: int = 3) -> GenerationSpec:
    return GenerationSpec(kind=Kind.IMAGE, soul_id="penguin", prompt=f"a penguin number {seed}", seed=seed, width=64,
                          height=64, steps=steps)  # fmt: skip


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


# -- the plan, as CUDA gets it ------------------------------------------------------------------


def test_cuda_plan_mixes_an_fp16_unet_with_a_bf16_vae_only_where_bf16_exists() -> None:
    sdxl = plan_for("sdxl", L4, SpeedOptions(compile=True))
    assert (sdxl.dtype, sdxl.vae_dtype) == (torch.float16, torch.bfloat16)
    assert sdxl.channels_last and sdxl.fuse_qkv and sdxl.compile_unet and sdxl.pad_batches
    assert plan_for("sdxl", T4).vae_dtype == torch.float32  # fp16 VAE overflows; no bf16 before sm80
    assert plan_for("sdxl", H100).attention[0] == "flash"  # cuDNN attention stays off until measured
    cpu = plan_for("sdxl", CPU, SpeedOptions(compile=True, fp8=True))
    assert (cpu.dtype, cpu.vae_dtype, cpu.channels_last, cpu.compile_unet, cpu.fp8_unet) == (
        torch.float32, torch.float32, False, False, False)  # fmt: skip


def test_svd_never_gets_channels_last_and_fp8_needs_sm89() -> None:
    svd = plan_for("svd", H100, SpeedOptions(fp8=True))
    assert not svd.channels_last and svd.vae_dtype == svd.dtype == torch.float16 and svd.fp8_unet
    assert not plan_for("sdxl", DeviceInfo("cuda", (8, 0), 40 * GiB), SpeedOptions(fp8=True)).fp8_unet
    assert plan_for("sdxl", L4, SpeedOptions(fp8=True)).fp8_unet


# -- running the CUDA plan on the CPU ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sdxl_l4() -> SdxlGenerator:
    plan = replace(plan_for("sdxl", L4, SpeedOptions()), attention=())  # SDPA priority is CUDA's business
    gen = SdxlGenerator(tiny_models.tiny_sdxl().folder, device="cpu", plan=plan)
    gen.setup()
    return gen


def test_sdxl_runs_fp16_unet_bf16_vae_channels_last_and_matches_fp32(sdxl_l4: SdxlGenerator) -> None:
    pipe = sdxl_l4._pipe
    assert pipe.unet.dtype == torch.float16 and pipe.vae.dtype == torch.bfloat16
    assert pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    [out] = sdxl_l4.generate([GenRequest(sdxl_spec(1), NullHooks())])
    exact = SdxlGenerator(tiny_models.tiny_sdxl().folder, device="cpu")
    exact.setup()
    [ref] = exact.generate([GenRequest(sdxl_spec(1), NullHooks())])
    diff = np.abs(pixels(out.frames[0]) - pixels(ref.frames[0]))
    assert diff.mean() < 3.0, diff.mean()  # half precision vs fp32, same seed: float noise only


def test_decode_in_slices_equals_decode_in_one_call(sdxl_l4: SdxlGenerator) -> None:
    torch.manual_seed(0)
    latents = torch.randn(4, 4, 8, 8, dtype=torch.float16)  # the UNet's dtype, not the VAE's
    with torch.inference_mode():
        whole = decode_latents(sdxl_l4._pipe, latents, MemoryPlan(4, (1, 2, 4), 4, False, 0, 0))
        sliced = decode_latents(sdxl_l4._pipe, latents, MemoryPlan(4, (1, 2, 4), 1, False, 0, 0))
    for a, b in zip(whole, sliced, strict=True):
        assert np.abs(pixels(a) - pixels(b)).max() <= 1


def test_warm_up_covers_every_unet_shape_a_request_uses() -> None:
    """Padded sizes 1/2/4 and the CFG-truncated half batch: after setup() nothing new reaches the UNet."""
    pipe = tiny_models.sdxl_pipeline()
    seen: list[int] = []
    pipe.unet.register_forward_pre_hook(lambda _m, args: seen.append(int(args[0].shape[0])))  # type: ignore[attr-defined]
    plan = replace(plan_for("sdxl", L4, SpeedOptions()), attention=(), pad_batches=True)
    speed = SpeedOptions(cfg_cutoff=0.6)
    gen = SdxlGenerator.from_pipeline(pipe, device="cpu", plan=plan, speed=speed, warmup_size=(64, 64), max_batch=4)
    gen.setup()
    warmed = set(seen)
    assert warmed == {1, 2, 4, 8}  # CFG: 2b while guided, b after the cutoff, for b in 1, 2, 4
    seen.clear()
    outputs = gen.generate([GenRequest(sdxl_spec(i, steps=4), NullHooks()) for i in range(3)])  # padded to 4
    assert len(outputs) == 3 and all(len(o.frames) == 1 for o in outputs)
    assert set(seen) <= warmed and 8 in seen and 4 in seen
    assert {s.step_cache_interval for s in gen.warmup_specs(64, 64)} == {1}  # eager: nothing to compile
    gen.plan = replace(gen.plan, compile_unet=True)
    assert {(s.step_cache_interval, s.cfg_cutoff < 1) for s in gen.warmup_specs(64, 64)} == {(1, True), (2, True)}


def test_svd_runs_fp16_and_a_mismatched_vae_dtype_decodes() -> None:
    plan = replace(plan_for("svd", L4, SpeedOptions()), attention=())
    spec = GenerationSpec(kind=Kind.SVD, soul_id="p", prompt="", seed=1, width=32, height=32, steps=2, num_frames=3)
    source = Image.new("RGB", (32, 32), (200, 40, 40))
    for vae_dtype in (torch.float16, torch.bfloat16):  # the plan's, and one that differs from the UNet's
        gen = SvdGenerator(tiny_models.tiny_svd(), device="cpu", num_frames=3, decode_chunk_size=2,
                           plan=replace(plan, vae_dtype=vae_dtype))  # fmt: skip
        gen.setup()
        assert gen._pipe.unet.dtype == torch.float16 and gen._pipe.vae.dtype == vae_dtype
        [out] = gen.generate([GenRequest(spec, NullHooks(), source)])
        assert len(out.frames) == 3 and np.isfinite(np.asarray(out.frames[0], np.float32)).all()


def test_channels_last_on_svd_is_what_the_plan_prevents() -> None:
    pipe = tiny_models.svd_pipeline()
    wrong = replace(plan_for("svd", L4, SpeedOptions()), channels_last=True)
    with pytest.raises(RuntimeError, match="rank 4"):
        apply_plan(pipe, "unet", torch.device("cpu"), wrong, SpeedOptions())


# -- memory: the deployed L4 at 0.8 -------------------------------------------------------------------


def test_l4_runs_batch_four_at_1024_with_a_sliced_decode() -> None:
    plan = memory_plan("sdxl", L4, fraction=0.8, width=1024, height=1024, max_batch=4)
    assert plan.batch == 4 and plan.batch_sizes == (1, 2, 4)
    assert plan.decode_items < 4 and plan.predicted_peak <= plan.budget  # whole-batch decode would not fit
    sdxl = FOOTPRINTS["sdxl"]
    assert sdxl.weights + 4 * sdxl.decode_per_item > plan.budget  # so an unsliced decode of 4 would OOM
    assert memory_plan("sdxl", H100, fraction=0.8, width=1024, height=1024, max_batch=4).decode_items == 4
    small = memory_plan("sdxl", DeviceInfo("cuda", (8, 6), 12 * GiB), fraction=0.8, width=1024, height=1024,
                        max_batch=4)  # fmt: skip
    assert small.batch < 4 and small.vae_tiling
    assert memory_plan("sdxl", CPU, fraction=0.8, width=1024, height=1024, max_batch=4).batch == 4
    twin = memory_plan("sdxl", L4, fraction=0.8, width=1024, height=1024, max_batch=4, fp8_twin=True)
    assert twin.batch == 4 and twin.decode_items < plan.decode_items and twin.predicted_peak <= twin.budget


def test_padding_and_cfg_warmup_steps() -> None:
    assert [padded_size(n, (1, 2, 4)) for n in (1, 2, 3, 4)] == [1, 2, 4, 4]
    with pytest.raises(ValueError):
        padded_size(5, (1, 2, 4))
    for cutoff in (0.3, 0.5, 0.6, 0.75, 0.9, 0.99):
        steps = cfg_warmup_steps(cutoff)
        assert np.ceil(steps * cutoff) < steps and (steps == 2 or np.ceil((steps - 1) * cutoff) >= steps - 1)


# -- full-size architectures on the meta device -------------------------------------------------------


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _has_conv3d(module: torch.nn.Module) -> bool:
    return any(p.dim() == 5 for p in module.parameters())


def test_full_size_sdxl_and_svd_xt_match_the_published_models() -> None:
    from gpu_jobs.bench import models

    with torch.device("meta"):
        sdxl = models.sdxl_modules(full=True)
        svd = models.svd_modules(full=True)
    assert abs(_params(sdxl["unet"]) / 2.567e9 - 1) < 0.005
    assert abs(_params(svd["unet"]) / 1.5246e9 - 1) < 0.005
    for name, found in (("sdxl", sdxl), ("svd", svd)):
        assert 2 ** (len(found["vae"].config.block_out_channels) - 1) == 8, name  # vae_scale_factor
        assert CONV3D[name] == (_has_conv3d(found["unet"]) or _has_conv3d(found["vae"])), name
    assert svd["vae"].config.scaling_factor == 0.18215 and svd["vae"].config.layers_per_block == 2


def test_gpu_image_can_run_torch_compile() -> None:
    """Triton and inductor compile at run time: the GPU stage must ship a C compiler and Python headers."""
    from pathlib import Path

    dockerfile = (Path(__file__).parents[2] / "infra" / "docker" / "worker.Dockerfile").read_text()
    gpu_stage = dockerfile.split(" AS gpu", 1)[1]
    install = next(line for line in gpu_stage.split("RUN ")[1:] if "apt-get install" in line)
    assert "build-essential" in install and "python3-dev" in install


def test_worker_builds_sdxl_warmed_at_every_padded_batch_size(tmp_path: object) -> None:
    """The composition root passes the deployment's cap and size; the generator warms 1, 2 and 4."""
    from gpu_jobs.bootstrap import Generators
    from shared.config import Settings

    settings = Settings(sdxl_model_path=tiny_models.tiny_sdxl().folder, sdxl_width=64, sdxl_height=64,
                        soul_batch_size=4, force_cpu=True, soul_warmup=True, soul_cfg_cutoff=0.5, soul_fp8=True,
                        soul_data_dir=tmp_path)  # fmt: skip
    gen = Generators(settings).for_kind(Kind.IMAGE)
    assert isinstance(gen, SdxlGenerator)
    assert gen.warmup_runs() == [(1, 64, 64), (2, 64, 64), (4, 64, 64)]
    assert gen.speed.fp8 and gen.speed.cfg_cutoff == 0.5 and not gen.plan.fp8_unet  # FP8 is CUDA-only
    assert gen.timing() is not None  # setup() ran the warm-ups


# -- per-style approximate options ---------------------------------------------------------------


def _bf16_weights(model: torch.nn.Module) -> None:
    """A real, lossy quantization the CPU has (torchao's FP8 kernels need CUDA ≥ 8.9): weights
    rounded to bf16's 8-bit mantissa, kept in fp32."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.weight.data = module.weight.data.to(torch.bfloat16).float()


def test_fp8_specs_run_a_quantized_twin_and_exact_specs_the_untouched_unet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gpu_jobs.torch_compile.quantize_fp8", _bf16_weights)
    fp8_plan = replace(plan_for("sdxl", CPU), fp8_unet=True)  # as on an L4 with SOUL_FP8=true
    twin = SdxlGenerator.from_pipeline(tiny_models.sdxl_pipeline(), device="cpu", plan=fp8_plan)
    twin.setup()
    plain = SdxlGenerator.from_pipeline(tiny_models.sdxl_pipeline(), device="cpu")
    plain.setup()
    fp8_spec = sdxl_spec(4).model_copy(update={"fp8": True})

    def run(gen: SdxlGenerator, spec: GenerationSpec) -> np.ndarray:
        return pixels(gen.generate([GenRequest(spec, NullHooks())])[0].frames[0])

    exact = run(plain, sdxl_spec(4))
    assert np.array_equal(run(twin, sdxl_spec(4)), exact)  # the exact UNet was not quantized
    assert not np.array_equal(run(twin, fp8_spec), exact)  # the twin ran
    assert np.array_equal(run(plain, fp8_spec), exact)  # no FP8 on this deployment: the exact path
    assert len({id(u) for u in twin._unets.values()}) == 2 and True not in plain._unets
