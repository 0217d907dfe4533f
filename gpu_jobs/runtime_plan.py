"""What SDXL and SVD run with on a device: dtypes, memory formats, speed options, batch sizes, VAE memory.

Every CUDA-only choice is made here by pure functions of the device's description (type, compute
capability, memory), never by `torch.cuda` calls scattered through the generators, so a CPU test can
ask for the plan of an L4 or an H100 and then *run* the tiny pipelines with it: the dtype mix, memory
formats and batch padding production uses are exercised without a GPU (docs/ARCHITECTURE.md,
"Generators and media"). `DeviceInfo.probe` is the only function here that looks at the machine.

Rules, and why:
- UNet and encoders run fp16 on CUDA (the published SDXL/SVD weights are fp16), fp32 on the CPU.
- SDXL's VAE runs bf16 where the GPU has bf16 (compute capability ≥ 8.0): fp32's range, so no NaNs and
  no slow fp32 upcast; fp32 on older GPUs. Its dtype differs from the latents', so the generator casts
  the latents at decode itself (diffusers does so only on MPS).
- SVD's temporal VAE keeps the UNet's dtype, as stock SVD does.
- channels_last only for models without 3-D convolutions: SVD's UNet and temporal VAE hold rank-5
  Conv3d weights, which cannot take a rank-4 memory format.
- FP8 dynamic quantization (torchao) needs FP8 tensor cores: compute capability ≥ 8.9 (L4, H100).
- SDPA: flash attention first wherever it exists (Ampere and later, Hopper included: cuDNN attention,
  reported slower than flash for diffusion shapes, stays unmeasured here until a device run compares).
- A memory plan whose predicted peak leaves less than `TIGHT_HEADROOM` of the budget turns on the
  UNet's feed-forward chunking (SVD-XT on the L4: ~16.5 of 18 GiB), which lowers the peak for some speed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

GiB = 2**30
Model = Literal["sdxl", "svd"]


@dataclass(frozen=True)
class DeviceInfo:
    """What the plan depends on: device type, CUDA compute capability and total memory in bytes."""

    type: str
    capability: tuple[int, int] = (0, 0)
    total_memory: int = 0  # 0: not bounded by the plan (CPU)
    name: str = ""

    @classmethod
    def probe(cls, device: torch.device) -> DeviceInfo:
        if device.type != "cuda":
            return cls(device.type)
        props = torch.cuda.get_device_properties(device)
        return cls("cuda", (props.major, props.minor), int(props.total_memory), props.name)


@dataclass(frozen=True)
class Footprint:
    """A model's memory at its reference size in half precision (bytes), scaled by pixel count.

    Estimates from the architectures (weights = parameter count × 2 bytes); the device check prints
    the measured peaks (`gpu_jobs/bench/gpu.py`) so they can be tightened, and they err high.
    """

    weights: float
    denoise_per_item: float  # UNet activations per output item, both CFG halves
    decode_per_item: float  # VAE decoder activations per image (SDXL) or per frame (SVD)
    reference_pixels: int


FOOTPRINTS: dict[str, Footprint] = {
    # UNet 2.57 B + CLIP-L 123 M + bigG 695 M + VAE 84 M parameters, in 2 bytes each.
    "sdxl": Footprint(6.5 * GiB, 1.5 * GiB, 5.0 * GiB, 1024 * 1024),
    # UNet 1.52 B + ViT-H 632 M + VAE 98 M; one 25-frame clip with CFG is 50 UNet items.
    "svd": Footprint(4.5 * GiB, 12.0 * GiB, 1.0 * GiB, 1024 * 576),
}
# The FP8 twin SDXL keeps beside its exact UNet for styles that opt into FP8: 2.57 B weights × 1 byte.
FP8_TWIN_BYTES = {"sdxl": 2.6 * GiB, "svd": 0.0}
CONV3D = {"sdxl": False, "svd": True}  # checked against the real architectures on the meta device
BATCH_SIZES = (1, 2, 4, 8, 16)
TIGHT_HEADROOM = 0.1  # below this share of the budget left free at the predicted peak: chunk the feed-forwards


@dataclass(frozen=True)
class SpeedOptions:
    """What the deployment allows. Exact options (same output as stock within float noise) default on
    where the device has them. The approximate ones are chosen per style and travel in the spec
    (`GenerationSpec.cfg_cutoff`, `fp8`, `step_cache_interval`); here `fp8` only makes FP8 available
    (SDXL's twin UNet) and `cfg_cutoff` < 1 applies to every job. The benchmark prints their error."""

    channels_last: bool = True
    fuse_qkv: bool = True
    compile: bool = False  # torch.compile the denoiser; warmed up in setup(), never on a user request
    compile_vae: bool = False
    compile_mode: str = "max-autotune-no-cudagraphs"
    compile_cache_dir: Path | None = None  # inductor/autotune cache that survives worker restarts
    # "inductor" in production; tests pass a counting backend (dynamo's tracing and guards, no codegen).
    compile_backend: str | Callable[..., Any] = "inductor"
    cfg_cutoff: float = 1.0  # fraction of steps run with CFG; 1.0 = every step (exact stock output)
    fp8: bool = False  # torchao FP8 dynamic quantization of the UNet's linears (approximate)
    # Whether styles' `cfg_cutoff` / `step_cache_interval` act here. Off: such specs run the exact path
    # (as an FP8 spec does without `fp8`), and a compiled UNet warms neither the half batch nor the
    # step cache's graphs: warm-up compiles only what the deployment enables.
    style_cfg_cutoff: bool = True
    style_step_cache: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.cfg_cutoff <= 1.0:
            raise ValueError(f"cfg_cutoff must be in (0, 1], not {self.cfg_cutoff}")


@dataclass(frozen=True)
class RuntimePlan:
    model: str
    device_type: str
    dtype: torch.dtype  # UNet, text / image encoders
    vae_dtype: torch.dtype
    channels_last: bool
    fuse_qkv: bool
    compile_unet: bool
    compile_vae: bool
    fp8_unet: bool
    tf32: bool
    attention: tuple[str, ...]  # SDPA backend priority; () = PyTorch's default choice
    pad_batches: bool  # pad to `batch_sizes` so a compiled UNet sees only warmed shapes


def plan_for(
    model: Model, device: DeviceInfo, speed: SpeedOptions | None = None, dtype: str | None = None
) -> RuntimePlan:
    """The production plan for `model` on `device`; `dtype` overrides the UNet dtype ("auto"/None: rule)."""
    speed = speed or SpeedOptions()
    cuda = device.type == "cuda"
    unet_dtype = _dtype(dtype) or (torch.float16 if cuda else torch.float32)
    bf16 = cuda and device.capability >= (8, 0)
    if model == "sdxl" and unet_dtype == torch.float16:
        vae_dtype = torch.bfloat16 if bf16 else torch.float32
    else:
        vae_dtype = unet_dtype
    attention: tuple[str, ...] = ("flash", "efficient", "math") if bf16 else ()
    return RuntimePlan(
        model=model, device_type=device.type, dtype=unet_dtype, vae_dtype=vae_dtype,
        channels_last=cuda and speed.channels_last and not CONV3D[model], fuse_qkv=cuda and speed.fuse_qkv,
        compile_unet=cuda and speed.compile, compile_vae=cuda and speed.compile_vae,
        fp8_unet=cuda and speed.fp8 and device.capability >= (8, 9), tf32=cuda, attention=attention,
        pad_batches=cuda and speed.compile,
    )  # fmt: skip


def _dtype(name: str | None) -> torch.dtype | None:
    names = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name in (None, "auto"):
        return None
    if name not in names:
        raise ValueError(f"dtype must be one of {sorted(names)} or 'auto', not {name!r}")
    return names[name]


@dataclass(frozen=True)
class MemoryPlan:
    batch: int  # most items per UNet batch
    batch_sizes: tuple[int, ...]  # padded sizes, each warmed up at start
    decode_items: int  # images (SDXL) or frames (SVD) per VAE decode call
    vae_tiling: bool  # even one item does not fit: decode in tiles
    budget: float  # bytes this process may use (0: unbounded)
    predicted_peak: float
    forward_chunking: bool = False  # the predicted peak leaves < TIGHT_HEADROOM of the budget


def memory_plan(
    model: Model,
    device: DeviceInfo,
    *,
    fraction: float,
    width: int,
    height: int,
    max_batch: int,
    max_decode: int | None = None,
    fp8_twin: bool = False,
) -> MemoryPlan:
    """Batch size and VAE decode chunking that fit `fraction` of the device at `width`×`height`.

    `max_batch`: the deployment's cap (SVD: 1 clip); `max_decode`: at most this many items per decode
    call (SVD: the configured frame chunk; default: the batch); `fp8_twin`: an FP8 copy of the UNet is
    kept in memory too (SDXL with FP8 enabled).
    """
    fp = FOOTPRINTS[model]
    sizes = tuple(s for s in BATCH_SIZES if s <= max_batch) or (1,)
    if device.total_memory <= 0:
        return MemoryPlan(sizes[-1], sizes, max_decode or sizes[-1], False, 0.0, 0.0)
    budget = device.total_memory * fraction
    scale = width * height / fp.reference_pixels
    weights = fp.weights + (FP8_TWIN_BYTES[model] if fp8_twin else 0.0)
    free = budget - weights
    fitting = [s for s in sizes if s * fp.denoise_per_item * scale <= free]
    batch = fitting[-1] if fitting else 1
    per_decode = fp.decode_per_item * scale
    decode_items = max(1, min(max_decode or batch, math.floor(free / per_decode)))
    peak = weights + max(batch * fp.denoise_per_item * scale, min(decode_items * per_decode, free))
    tiling = per_decode > free
    sizes = tuple(s for s in sizes if s <= batch)
    chunking = peak > (1 - TIGHT_HEADROOM) * budget
    return MemoryPlan(batch, sizes, decode_items, tiling, budget, peak, chunking)


def padded_size(n: int, sizes: tuple[int, ...]) -> int:
    """The smallest warmed size that holds `n` items (callers split batches above the largest)."""
    for size in sizes:
        if size >= n:
            return size
    raise ValueError(f"batch of {n} is larger than every planned size {sizes}")


def cfg_warmup_steps(cfg_cutoff: float) -> int:
    """The fewest steps (≥ 2) whose run crosses the CFG cutoff, so warm-up also runs the half batch."""
    if cfg_cutoff >= 1.0:
        return 2
    steps = 2
    while math.ceil(steps * cfg_cutoff) >= steps:
        steps += 1
    return steps
