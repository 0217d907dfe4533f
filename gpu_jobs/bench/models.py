"""Random-weight SDXL and SVD pipelines for the benchmark, full-size or tiny (`--smoke`).

Speed does not depend on weight values, so the published architectures with random weights give the
real cost without checkpoints. The configs are those of SDXL base 1.0 (UNet, VAE, CLIP-L, OpenCLIP
bigG) and SVD-XT (the diffusers defaults of its UNet, its published temporal-VAE config, CLIP ViT-H
image encoder); `tests/unit/test_production_settings.py` checks them on the meta device against the
published parameter counts and scale factors. Modules are built directly on the target device.
Tokenizers come from a vocab/merges folder (the tiny files under `tests/data/tiny_models/` serve:
token ids only pick embedding rows).
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Any

import torch

SDXL_UNET: dict[str, Any] = dict(
    addition_embed_type="text_time", addition_embed_type_num_heads=64, addition_time_embed_dim=256,
    attention_head_dim=[5, 10, 20], block_out_channels=[320, 640, 1280], cross_attention_dim=2048,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], in_channels=4, out_channels=4,
    layers_per_block=2, projection_class_embeddings_input_dim=2816, sample_size=128,
    transformer_layers_per_block=[1, 2, 10], use_linear_projection=True,
)  # fmt: skip
SDXL_VAE: dict[str, Any] = dict(
    block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, layers_per_block=2, sample_size=1024,
    scaling_factor=0.13025,
)  # fmt: skip
# SVD-XT's vae/config.json (the library defaults are one 64-channel block: vae_scale_factor 1, so the
# UNet would run on 64x larger latents than the real model's).
SVD_VAE: dict[str, Any] = dict(
    block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4, in_channels=3,
    out_channels=3, latent_channels=4, layers_per_block=2, sample_size=768, scaling_factor=0.18215, force_upcast=True,
)  # fmt: skip
CLIP_L: dict[str, Any] = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                              projection_dim=768, hidden_act="quick_gelu")  # fmt: skip
CLIP_BIGG: dict[str, Any] = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20,
                                 num_hidden_layers=32, projection_dim=1280, hidden_act="gelu")  # fmt: skip
VIT_H: dict[str, Any] = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=16, num_hidden_layers=32,
                             projection_dim=1024, image_size=224, patch_size=14, hidden_act="gelu")  # fmt: skip

TINY_UNET: dict[str, Any] = dict(
    block_out_channels=(2, 4), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
    addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
    cross_attention_dim=64, norm_num_groups=1,
)  # fmt: skip
TINY_VAE: dict[str, Any] = dict(
    block_out_channels=[32, 64], latent_channels=4, sample_size=128, down_block_types=["DownEncoderBlock2D"] * 2,
    up_block_types=["UpDecoderBlock2D"] * 2,
)  # fmt: skip
TINY_TEXT: dict[str, Any] = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                                 projection_dim=32, hidden_act="gelu")  # fmt: skip


def _libs() -> tuple[Any, Any]:
    """diffusers and transformers ship no type information: use them as `Any`, imported on first use."""
    return importlib.import_module("diffusers"), importlib.import_module("transformers")


def _on(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Build full-size modules straight on the GPU; on the CPU the device mode only slows tiny builds."""
    return contextlib.nullcontext() if device.type == "cpu" else device


def _tokenizer(folder: Path) -> Any:
    return _libs()[1].CLIPTokenizer(
        vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), model_max_length=77
    )


def sdxl_modules(*, full: bool) -> dict[str, Any]:
    """UNet, VAE and both text encoders, built on the current default device (e.g. `with device:`)."""
    d, t = _libs()
    texts = (CLIP_L, CLIP_BIGG) if full else (TINY_TEXT, TINY_TEXT)
    return {
        "unet": d.UNet2DConditionModel(**(SDXL_UNET if full else TINY_UNET)),
        "vae": d.AutoencoderKL(**(SDXL_VAE if full else TINY_VAE)),
        "text_encoder": t.CLIPTextModel(t.CLIPTextConfig(vocab_size=49408, **texts[0])),
        "text_encoder_2": t.CLIPTextModelWithProjection(t.CLIPTextConfig(vocab_size=49408, **texts[1])),
    }


def sdxl_pipeline(*, full: bool, device: torch.device, dtype: torch.dtype, tokenizer_dir: Path) -> Any:
    d, _ = _libs()
    with _on(device):
        parts = sdxl_modules(full=full)
    scheduler = d.EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")  # fmt: skip
    tok = _tokenizer(tokenizer_dir)
    pipe = d.StableDiffusionXLPipeline(**parts, tokenizer=tok, tokenizer_2=tok, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device, dtype)


def svd_modules(*, full: bool) -> dict[str, Any]:
    """UNet, temporal VAE and image encoder, built on the current default device."""
    d, t = _libs()
    if full:
        return {
            "unet": d.UNetSpatioTemporalConditionModel(num_frames=25),
            "vae": d.AutoencoderKLTemporalDecoder(**SVD_VAE),
            "image_encoder": t.CLIPVisionModelWithProjection(t.CLIPVisionConfig(**VIT_H)),
        }
    return {
        "unet": d.UNetSpatioTemporalConditionModel(
            block_out_channels=(32, 64), layers_per_block=1, sample_size=32, cross_attention_dim=32,
            down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), num_attention_heads=8,
            projection_class_embeddings_input_dim=96, addition_time_embed_dim=32, num_frames=2,
        ),
        "vae": d.AutoencoderKLTemporalDecoder(block_out_channels=[32, 64], latent_channels=4,
                                              down_block_types=["DownEncoderBlock2D"] * 2),
        "image_encoder": t.CLIPVisionModelWithProjection(t.CLIPVisionConfig(**{**VIT_H, **TINY_TEXT})),
    }  # fmt: skip


def svd_pipeline(*, full: bool, device: torch.device, dtype: torch.dtype) -> Any:
    d, t = _libs()
    with _on(device):
        parts = svd_modules(full=full)
    scheduler = d.EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1,
        timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True,
    )  # fmt: skip
    pipe = d.StableVideoDiffusionPipeline(**parts, scheduler=scheduler, feature_extractor=t.CLIPImageProcessor())
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device, dtype)
