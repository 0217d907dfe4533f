"""SDXL's loading, decode and batch checks (`gpu_jobs.generators.sdxl` runs the pipeline with them)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from gpu_jobs.generators.base import GenRequest
from gpu_jobs.runtime_plan import MemoryPlan
from gpu_jobs.torch_runtime import check_finite
from shared.errors import InvalidInput, NotConfigured

__all__ = ["batch_row", "cat_or_none", "check_batch", "decode_latents", "load_sdxl", "to_images"]


def load_sdxl(model_path: Path, config_dir: Path | None, dtype: torch.dtype) -> Any:
    """The production loading path, offline: a single original-layout file or a diffusers folder."""
    from diffusers import StableDiffusionXLPipeline

    if model_path.is_file():
        if config_dir is None or not (config_dir / "model_index.json").is_file():
            raise NotConfigured(f"{model_path.name} needs a local diffusers config folder (SDXL_CONFIG_DIR)")
        return StableDiffusionXLPipeline.from_single_file(
            str(model_path), config=str(config_dir), local_files_only=True, torch_dtype=dtype
        )
    if (model_path / "model_index.json").is_file():
        return StableDiffusionXLPipeline.from_pretrained(  # type: ignore[no-untyped-call]
            str(model_path), local_files_only=True, torch_dtype=dtype
        )
    raise NotConfigured(f"no SDXL checkpoint or diffusers folder at {model_path}")


def decode_latents(pipe: Any, latents: torch.Tensor, memory: MemoryPlan) -> list[Image.Image]:
    """SDXL's decode step, done here so the latents take the VAE's dtype (a bf16 VAE after an fp16 UNet:
    diffusers would pass fp16 latents to bf16 convolutions) and the decode fits the device's memory:
    `memory.decode_items` images per call, in tiles when even one image does not fit."""
    vae = pipe.vae
    config = vae.config
    latents = latents.to(vae.dtype)
    mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
    if mean is not None and std is not None:
        shape = (1, len(mean), 1, 1)
        mean_t = torch.tensor(mean).view(shape).to(latents)
        std_t = torch.tensor(std).view(shape).to(latents)
        latents = latents * std_t / config.scaling_factor + mean_t
    else:
        latents = latents / config.scaling_factor
    vae.use_tiling = memory.vae_tiling
    decoded = torch.cat(
        [vae.decode(chunk, return_dict=False)[0] for chunk in torch.split(latents, memory.decode_items)]
    )
    check_finite(decoded, "SDXL's VAE")
    if getattr(pipe, "watermark", None) is not None:
        decoded = pipe.watermark.apply_watermark(decoded)
    return to_images(decoded)


def to_images(decoded: torch.Tensor) -> list[Image.Image]:
    """diffusers' `postprocess(output_type="pil")` (denormalize, ×255, round half to even, uint8) done on
    the decode's device: a quarter of the bytes cross to the host, and the host does no float work."""
    pixels = (decoded.float() / 2 + 0.5).clamp(0, 1).mul(255).round().to(torch.uint8)
    return [Image.fromarray(p) for p in pixels.permute(0, 2, 3, 1).cpu().numpy()]


def batch_row(tensor: torch.Tensor | None, i: int) -> torch.Tensor | None:
    return None if tensor is None else tensor[i : i + 1]


def cat_or_none(tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
    present = [t for t in tensors if t is not None]
    return torch.cat(present) if len(present) == len(tensors) else None


def check_batch(requests: Sequence[GenRequest]) -> None:
    if not requests:
        raise ValueError("generate() needs at least one request")
    first = requests[0].spec
    if any(r.spec.batch_key() != first.batch_key() for r in requests):
        raise ValueError("a batch must share one GenerationSpec.batch_key()")
    if first.kind.lane != "image":
        raise InvalidInput(f"SDXL makes images, not {first.kind.value}")
    if first.width % 8 or first.height % 8:
        raise InvalidInput(f"SDXL needs width and height divisible by 8, got {first.width}x{first.height}")
