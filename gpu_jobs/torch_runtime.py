"""Torch helpers shared by the model generators: device and dtype choice, speed options, OOM, timings.

Generators never import each other, so what SDXL and SVD both need lives here: picking the device
(CUDA unless forced to CPU), applying a `RuntimePlan` (`gpu_jobs.runtime_plan`: dtypes, channels_last,
fused QKV, FP8, `torch.compile` with a persistent inductor cache, SDPA backends) to a pipeline, telling
an out-of-memory error apart from other runtime errors, and a small timings record (seconds per
denoising step and per decoded frame, measured per model and device) that `/video/estimate` answers
from.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import torch

from gpu_jobs.compile_cache import ArtifactStore, CompileCache, cache_key
from gpu_jobs.runtime_plan import DeviceInfo, RuntimePlan, SpeedOptions, plan_for
from gpu_jobs.torch_compile import compile_module, configure_inductor, quantize_fp8, reserve_graphs
from shared.errors import GenerationFailed

__all__ = ["DeviceInfo", "RuntimePlan", "SpeedOptions", "apply_plan", "attention_context", "plan_for"]

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

# A hook the generators call right before each diffusers run with the batch size; tests and chaos
# drills pass one that raises (e.g. `torch.OutOfMemoryError`) to exercise the failure paths for real.
FaultHook = Callable[[int], None]


def resolve_device(device: str | None = None, *, force_cpu: bool = False) -> torch.device:
    """An explicit device wins; otherwise CUDA when present and not forced off, else the CPU."""
    if force_cpu:
        return torch.device("cpu")
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    """`None`/"auto": float16 on CUDA (the published SDXL/SVD weights are fp16), float32 elsewhere."""
    if dtype in (None, "auto"):
        return torch.float16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)} or 'auto', not {dtype!r}")
    return DTYPES[dtype]


def limit_memory(device: torch.device, fraction: float) -> None:
    """Cap this process's share of the GPU, so an OOM is ours to handle instead of the driver's."""
    if device.type == "cuda" and 0 < fraction < 1:
        torch.cuda.set_per_process_memory_fraction(fraction, device)


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError)


def release_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seeded_generators(seeds: list[int], device: torch.device) -> list[torch.Generator]:
    """One generator per request: a batch item draws the same noise as its solo run."""
    return [torch.Generator(device=device).manual_seed(seed) for seed in seeds]


def apply_plan(
    pipe: Any, denoiser: str, device: torch.device, plan: RuntimePlan, speed: SpeedOptions, *, fp8_in_place: bool = True
) -> None:
    """Put a loaded pipeline in the plan's dtypes, memory formats and speed options, on `device`.

    Whatever the plan says runs the same way on any device, so a CPU test given a CUDA plan runs the
    production dtype mix and memory formats (FP8 aside, which needs the GPU; `compile` runs on the CPU
    too, with inductor or a test's backend). `fp8_in_place=False`: the denoiser stays exact; the caller
    keeps an FP8 twin (`fp8_twin`) for the styles that opt in.
    """
    if device.type == "cuda" and plan.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    pipe.to(device, plan.dtype)
    pipe.vae.to(dtype=plan.vae_dtype)
    model = getattr(pipe, denoiser)
    if plan.channels_last:
        model.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    if plan.fuse_qkv and hasattr(pipe, "fuse_qkv_projections"):
        pipe.fuse_qkv_projections()
    if plan.fp8_unet and fp8_in_place:
        quantize_fp8(model)
    if plan.compile_unet:
        setattr(pipe, denoiser, compile_module(model, speed))
    if plan.compile_vae:
        configure_inductor(speed.compile_cache_dir, speed.compile_mode)
        pipe.vae.decode = torch.compile(pipe.vae.decode, mode=speed.compile_mode, dynamic=False)


_SDPA = {"cudnn": "CUDNN_ATTENTION", "flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION", "math": "MATH"}


def attention_context(plan: RuntimePlan) -> contextlib.AbstractContextManager[None]:
    """The plan's SDPA backend priority (cuDNN / flash attention first where the GPU has them)."""
    if not plan.attention:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([getattr(SDPBackend, _SDPA[b]) for b in plan.attention], set_priority=True)


class CfgTruncation:
    """CFG truncation for pipelines whose step callback cannot reach the conditioning (SVD): once
    `active`, the denoiser runs only the conditional half of each CFG batch and returns it twice, so the
    pipeline's `uncond + g·(cond − uncond)` is the conditional prediction (guidance 1) at half the
    cost. Approximate: opt-in (`SpeedOptions.cfg_cutoff`); the benchmark prints its error."""

    def __init__(self, denoiser: torch.nn.Module) -> None:
        self.active = False
        denoiser.register_forward_pre_hook(self._before, with_kwargs=True)
        denoiser.register_forward_hook(self._after)

    def _before(self, _m: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not self.active:
            return None
        full = args[0].shape[0]

        def cut(value: Any) -> Any:
            is_batch = isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == full
            return value[full // 2 :] if is_batch else value

        return tuple(cut(a) for a in args), {k: cut(v) for k, v in kwargs.items()}

    def _after(self, _m: Any, _args: Any, output: Any) -> Any:
        if not self.active:
            return None
        if isinstance(output, tuple):
            return tuple(torch.cat([o, o]) if isinstance(o, torch.Tensor) else o for o in output)
        output.sample = torch.cat([output.sample, output.sample])
        return output


def check_finite(tensor: torch.Tensor, what: str) -> None:
    """A NaN/inf decode is a black or garbled image: fail the batch instead of storing it (one sync, at
    the end of the decode that already synchronizes to copy the pixels out)."""
    if not bool(torch.isfinite(tensor).all()):
        raise GenerationFailed(f"{what} produced NaN/inf values (dtype plan bug?)", code="non_finite_output")


@dataclass
class Timing:
    """What a model costs on one device, measured from real runs (exponential moving averages)."""

    model: str
    device: str
    seconds_per_step: float = 0.0  # one denoising step of one item, CFG included
    seconds_per_frame: float = 0.0  # decoding/encoding overhead per output frame (or image)
    fixed_seconds: float = 0.0  # per-run overhead (text/image encoding, scheduler setup)
    samples: int = 0
    measured_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TimingRecorder:
    """Thread-safe store of `Timing` for one generator; `alpha` weighs the newest run."""

    model: str
    device: str
    alpha: float = 0.3
    _timing: Timing | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, *, items: int, steps: int, frames: int, denoise_s: float, decode_s: float, total_s: float) -> None:
        per_step = denoise_s / max(1, steps * items)
        per_frame = decode_s / max(1, frames * items)
        fixed = max(0.0, total_s - denoise_s - decode_s)
        with self._lock:
            old = self._timing
            if old is None or old.samples == 0:
                self._timing = Timing(self.model, self.device, per_step, per_frame, fixed, 1, time.time())
                return
            a = self.alpha
            old.seconds_per_step = (1 - a) * old.seconds_per_step + a * per_step
            old.seconds_per_frame = (1 - a) * old.seconds_per_frame + a * per_frame
            old.fixed_seconds = (1 - a) * old.fixed_seconds + a * fixed
            old.samples += 1
            old.measured_at = time.time()

    def timing(self) -> Timing | None:
        with self._lock:
            return None if self._timing is None else Timing(**asdict(self._timing))


class StepClock:
    """Splits a pipeline call into denoising and decoding time from the step callbacks."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.started = time.perf_counter()
        self.first_step: float | None = None
        self.last_step: float | None = None

    def step(self) -> None:
        now = time.perf_counter()
        self.first_step = self.first_step or now
        self.last_step = now

    def split(self) -> tuple[float, float, float]:
        """(denoise, decode, total) seconds; call after the pipeline returned."""
        synchronize(self.device)
        end = time.perf_counter()
        last = self.last_step or end
        return last - self.started, end - last, end - self.started


class PipelineHost:
    """What the SDXL and SVD generators share: device and dtype, memory cap, speed options, a
    preloaded pipeline (benchmarks with random full-size weights), fault injection, measured timings."""

    name = ""

    def _init_host(
        self,
        model_path: Path,
        device: str | None,
        dtype: str | None,
        force_cpu: bool,
        memory_fraction: float,
        speed: SpeedOptions | None,
        fault_hook: FaultHook | None,
        plan: RuntimePlan | None = None,
        compile_cache: ArtifactStore | None = None,
    ) -> None:
        """`plan`: None derives it from the device (production); tests pass a CUDA plan to run on CPU.
        `compile_cache`: where a compiled UNet's artifacts persist between starts (the models bucket)."""
        self.model_path = Path(model_path)
        self.device = resolve_device(device, force_cpu=force_cpu)
        self.speed = speed or SpeedOptions()
        self.device_info = DeviceInfo.probe(self.device)
        self.plan = plan or plan_for(self.name, self.device_info, self.speed, dtype)  # type: ignore[arg-type]
        self.dtype = self.plan.dtype
        self.memory_fraction = memory_fraction
        self._fault = fault_hook
        self._pipe: Any = None
        self._preloaded: Any = None
        self._timings = TimingRecorder(self.name, str(self.device))
        self._artifacts = compile_cache
        self.compile_cache_loaded = False

    def _warm(self, warmed: Any, graphs: int, warm: Callable[[], None]) -> None:
        """Run `warm` (the warm-up generations). With a compiled UNet, first reserve its `graphs` in dynamo's
        recompile budget and load the compile cache saved for this GPU, torch, plan and warmed set; after,
        save what was compiled, so the next cold start compiles nothing."""
        if not self.plan.compile_unet:
            warm()
            return
        reserve_graphs(graphs)
        cache = CompileCache(self._artifacts) if self._artifacts is not None else None
        key = cache_key(self.name, self.device_info, self.plan, self.speed, warmed)
        if cache is not None:
            self.compile_cache_loaded = cache.load(key)
        warm()
        if cache is not None:
            cache.save(key)

    @classmethod
    def from_pipeline(cls, pipe: Any, **kwargs: Any) -> Self:
        """Wrap an already built pipeline; `setup()` still runs (speed-ups, warm-up)."""
        gen = cls(Path("<in-memory>"), **kwargs)  # type: ignore[call-arg]
        gen._preloaded = pipe
        return gen

    def timing(self) -> Timing | None:
        """Measured cost on this device (None before the first run): persisted for estimates."""
        return self._timings.timing()
