"""Tiny random-weight SDXL and SVD pipelines, built from config the way diffusers' own fast tests do.

They run the real diffusers code on the CPU in well under a second per step. Each is written to disk
and loaded back by the generators through the production loading path: SDXL as a diffusers folder
*and* as one original-layout `.safetensors` file with a local config folder (what `from_single_file`
reads offline), SVD as a diffusers folder. Tokenizers come from the small vocab/merges files shipped
in `tests/data/tiny_models/` (no Hub). Builds are cached per process: call the functions freely.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import torch

from tests import tiny_ldm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA = Path(__file__).parent / "data" / "tiny_models"
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


@dataclass(frozen=True)
class TinySdxl:
    folder: Path  # diffusers layout (from_pretrained)
    single_file: Path  # original layout (from_single_file)
    config_dir: Path  # the folder without weights: what `config=` points at


@cache
def _root() -> Path:
    # Tiny models gain nothing from intra-op threads, and on a busy 2-core CI box spinning threads make
    # them ~5x slower: the whole test process runs torch single-threaded once tiny models are used.
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="soul-tiny-models-"))
    atexit.register(shutil.rmtree, root, True)
    return root


def tokenizer() -> object:
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=str(DATA / "vocab.json"), merges=str(DATA / "merges.txt"), model_max_length=77)


def _text_encoders() -> tuple[object, object]:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def config(layers: int, hidden: int) -> CLIPTextConfig:
        # ids match the shipped vocab: <|startoftext|>=540, <|endoftext|>=541 (also the pad token).
        return CLIPTextConfig(
            bos_token_id=540, eos_token_id=541, pad_token_id=541, hidden_size=hidden, intermediate_size=37,
            layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=layers, vocab_size=542,
            hidden_act="gelu", projection_dim=32,
        )  # fmt: skip

    torch.manual_seed(0)
    # Like the real pair the two widths differ (diffusers tells the encoders apart by width) and the
    # OpenCLIP one has ≥10 layers (diffusers recognises SDXL by `resblocks.9` in the single file).
    return CLIPTextModel(config(5, 32)), CLIPTextModelWithProjection(config(10, 48))


def sdxl_pipeline() -> object:
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(2, 4), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=80, norm_num_groups=1,
    )  # fmt: skip
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear", timestep_spacing="leading"
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4, sample_size=128,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
    )  # fmt: skip
    text_encoder, text_encoder_2 = _text_encoders()
    return StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer(),
        tokenizer_2=tokenizer(), unet=unet, scheduler=scheduler,
    )  # fmt: skip


def _ldm_state(pipe: object) -> dict[str, torch.Tensor]:
    p = pipe  # typed loosely: diffusers ships no stubs
    state = tiny_ldm.unet_to_ldm(p.unet.state_dict(), p.unet.config)  # type: ignore[attr-defined]
    state |= tiny_ldm.vae_to_ldm(p.vae.state_dict(), p.vae.config)  # type: ignore[attr-defined]
    state |= tiny_ldm.clip_to_ldm(p.text_encoder.state_dict())  # type: ignore[attr-defined]
    state |= tiny_ldm.open_clip_to_ldm(p.text_encoder_2.state_dict())  # type: ignore[attr-defined]
    return {k: v.contiguous() for k, v in state.items()}


def _check_round_trip(pipe: object, state: dict[str, torch.Tensor]) -> None:
    """diffusers' own converter must map our original-layout names back to every UNet/VAE weight."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint

    for name, convert in (("unet", convert_ldm_unet_checkpoint), ("vae", convert_ldm_vae_checkpoint)):
        model = getattr(pipe, name)
        back = convert(state, dict(model.config))
        expected = model.state_dict()
        assert set(back) == set(expected), f"{name}: {sorted(set(back) ^ set(expected))[:5]}"
        assert all(torch.equal(back[k].reshape(expected[k].shape), expected[k]) for k in expected), name


@cache
def tiny_sdxl() -> TinySdxl:
    from safetensors.torch import save_file

    root = _root() / "sdxl"
    pipe = sdxl_pipeline()
    folder = root / "diffusers"
    pipe.save_pretrained(folder)  # type: ignore[attr-defined]
    config_dir = root / "config"
    shutil.copytree(folder, config_dir, ignore=lambda _d, names: [n for n in names if n.endswith(_WEIGHT_SUFFIXES)])
    state = _ldm_state(pipe)
    _check_round_trip(pipe, state)
    single = root / "tiny_sdxl.safetensors"
    save_file(state, str(single))
    return TinySdxl(folder=folder, single_file=single, config_dir=config_dir)


def svd_pipeline() -> object:
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=32,
        num_attention_heads=8, projection_class_embeddings_input_dim=96, addition_time_embed_dim=32, num_frames=3,
    )  # fmt: skip
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1,
        timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
    )  # fmt: skip
    torch.manual_seed(0)
    vision = CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=5, num_attention_heads=4, image_size=224,
        intermediate_size=37, patch_size=14,
    )  # fmt: skip
    return StableVideoDiffusionPipeline(
        vae=vae, image_encoder=CLIPVisionModelWithProjection(vision), unet=unet, scheduler=scheduler,
        feature_extractor=CLIPImageProcessor(crop_size=32, size=32),
    )  # fmt: skip


@cache
def tiny_svd() -> Path:
    folder = _root() / "svd"
    svd_pipeline().save_pretrained(folder)  # type: ignore[attr-defined]
    return folder


@dataclass
class ScriptedHooks:
    """Job hooks for tests: records progress and reports canceled once `cancel_at_step` was reached."""

    cancel_at_step: int | None = None
    steps: list[tuple[int, int]] = field(default_factory=list)
    remote_task_id: str | None = None

    def progress(self, step: int, total: int) -> None:
        self.steps.append((step, total))

    def canceled(self) -> bool:
        reached = self.steps[-1][0] if self.steps else 0
        return self.cancel_at_step is not None and reached >= self.cancel_at_step

    def save_remote_task_id(self, task_id: str) -> None:
        self.remote_task_id = task_id
