"""FP8 through torchao's current config API, the FP8 twin compiled beside a compiled UNet, and SVD's
feed-forward chunking when the memory plan is tight (issue 25), on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gpu_jobs import torch_compile
from gpu_jobs.generators.base import GenRequest, NullHooks
from gpu_jobs.generators.svd import SvdGenerator
from gpu_jobs.runtime_plan import DeviceInfo, GiB, SpeedOptions, memory_plan, plan_for
from shared.domain.models import GenerationSpec, Kind
from tests import tiny_models

pytestmark = pytest.mark.unit
L4 = DeviceInfo("cuda", (8, 9), int(22.5 * GiB), "NVIDIA L4")
H100 = DeviceInfo("cuda", (9, 0), 80 * GiB, "NVIDIA H100 80GB HBM3")


def test_fp8_goes_through_torchaos_config_api_to_its_hardware_check() -> None:
    """The removed `float8_dynamic_activation_float8_weight()` raised AttributeError before any check;
    the config object reaches torchao's own refusal of a CPU (FP8 needs capability ≥ 8.9)."""
    pytest.importorskip("torchao")
    with pytest.raises(AssertionError, match=r"8\.9"):
        torch_compile.quantize_fp8(torch.nn.Sequential(torch.nn.Linear(16, 16)))


def test_fp8_twin_of_a_compiled_unet_is_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's FP8 row builds its twin after another row compiled the UNet (its plan no longer says
    compile): the twin used to stay eager under a compiled label."""
    monkeypatch.setattr(torch_compile, "quantize_fp8", lambda _m: None)
    speed = SpeedOptions(compile_backend="eager")
    exact = torch_compile.compile_module(torch.nn.Linear(4, 4), speed)
    plan = plan_for("sdxl", DeviceInfo("cpu"))  # compile_unet False, as in the bench's later rows
    assert torch_compile.is_compiled(torch_compile.fp8_twin(exact, plan, speed))
    assert not torch_compile.is_compiled(torch_compile.fp8_twin(torch.nn.Linear(4, 4), plan, speed))


def test_svd_chunks_its_feed_forwards_only_where_the_memory_plan_is_tight() -> None:
    l4 = memory_plan("svd", L4, fraction=0.8, width=1024, height=576, max_batch=1)
    assert l4.forward_chunking and l4.predicted_peak <= l4.budget  # ~16.5 of 18 GiB
    assert not memory_plan("svd", H100, fraction=0.8, width=1024, height=576, max_batch=1).forward_chunking
    assert not memory_plan("sdxl", H100, fraction=0.8, width=1024, height=1024, max_batch=4).forward_chunking


def _chunk_sizes(gen: SvdGenerator) -> set[object]:
    return {m._chunk_size for m in gen._pipe.unet.modules() if hasattr(m, "set_chunk_feed_forward")}


def test_a_tight_plan_makes_svd_chunk_and_the_clip_stays_the_same() -> None:
    """Exact: the chunked clip is the unchunked one within 1/255."""
    plan = plan_for("svd", DeviceInfo("cpu"))
    source = Image.new("RGB", (32, 32), (90, 140, 200))
    spec = GenerationSpec(kind=Kind.SVD, soul_id="c", prompt="", seed=5, width=32, height=32, steps=2, num_frames=3)
    runs = []
    for device, fraction in ((L4, 0.21), (DeviceInfo("cpu"), 0.8)):  # 0.21 of an L4: the weights nearly fill it
        gen = SvdGenerator.from_pipeline(tiny_models.svd_pipeline(), device="cpu", num_frames=3, plan=plan,
                                         decode_chunk_size=3, memory_fraction=fraction)  # fmt: skip
        gen.device_info = device  # the plan's view of the device; the tiny clip runs on the CPU
        gen.setup()
        [out] = gen.generate([GenRequest(spec, NullHooks(), source)])
        runs.append((out.frames, _chunk_sizes(gen)))
    (chunked, tight), (plain, roomy) = runs
    assert tight == {1} and roomy == {None}
    for a, b in zip(chunked, plain, strict=True):
        assert np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max() <= 1


def test_gpu_extra_pins_what_the_code_was_written_against_and_the_image_installs_it() -> None:
    """diffusers, transformers and torchao pinned to this environment's versions (the ones the CPU tests
    ran with); the GPU image installs the extra and imports torchao's FP8 config at build time."""
    import tomllib
    from importlib.metadata import version
    from pathlib import Path

    root = Path(__file__).parents[2]
    gpu = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
    pins = dict(r.split("==") for r in gpu if "==" in r)
    for name in ("diffusers", "transformers", "torchao"):
        assert pins[name] == version(name), name
    dockerfile = (root / "infra" / "docker" / "worker.Dockerfile").read_text().split(" AS gpu", 1)[1]
    assert 'pip install ".[gpu,worker]"' in dockerfile and "Float8DynamicActivationFloat8WeightConfig" in dockerfile


def test_pixels_made_on_the_device_equal_diffusers_postprocess() -> None:
    """SDXL's float→uint8 runs where the decode ran; the bytes are diffusers' own, rounding included."""
    from diffusers.image_processor import VaeImageProcessor

    from gpu_jobs.generators.sdxl_parts import to_images

    torch.manual_seed(0)
    decoded = torch.randn(3, 3, 16, 16) * 1.2  # beyond [-1, 1] too: clamped alike
    decoded[0, 0, 0, :4] = torch.tensor([-1.0, 1.0, 1 / 255 - 1, 0.0])  # exact halves and edges
    want = VaeImageProcessor().postprocess(decoded, output_type="pil")
    for a, b in zip(to_images(decoded), want, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_fp8_twin_of_a_step_cached_compiled_unet_is_its_own_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """A UNet reused by an earlier generator (the bench's rows) carries step-cache gates and a cache that
    reaches the compiled wrapper: the twin must not copy the wrapper, nor keep gates calling the original."""
    from gpu_jobs.step_cache import StepCache

    monkeypatch.setattr(torch_compile, "quantize_fp8", lambda _m: None)
    unet = tiny_models.sdxl_pipeline().unet
    speed = SpeedOptions(compile_backend="eager")
    compiled = torch_compile.compile_module(unet, speed)
    cache = StepCache.for_unet(compiled)
    twin = torch_compile.fp8_twin(compiled, plan_for("sdxl", DeviceInfo("cpu")), speed)
    eager_twin = twin._orig_mod  # type: ignore[attr-defined]
    assert eager_twin is not unet and "_soul_step_cache" not in eager_twin.__dict__
    assert all("forward" not in m.__dict__ for m in eager_twin.modules())  # the class's forward: its own blocks
    assert not any(isinstance(getattr(h, "__self__", None), StepCache) for h in twin._forward_pre_hooks.values())
    assert StepCache.for_unet(compiled) is cache and "forward" in unet.down_blocks[1].__dict__
