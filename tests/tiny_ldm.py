"""Diffusers → original (LDM / SGM) key names for a tiny SDXL pipeline, to write a single-file checkpoint.

Production loads `sdXL_v10VAEFix.safetensors` through `StableDiffusionXLPipeline.from_single_file`, which
converts original key names to diffusers ones. To test that exact path with random tiny weights we need
the inverse: this module renames a diffusers state dict the way the original repositories name it
(`model.diffusion_model.*`, `first_stage_model.*`, `conditioner.embedders.{0,1}.*`). It is generic in
the number of blocks and layers, so it fits the tiny configs; `tiny_models` checks the result by running
diffusers' own forward conversion on it and comparing every key.
"""

from __future__ import annotations

import re
from typing import Any

import torch

Tensor = torch.Tensor

_RESNET = [
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
]
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def _resnet(rest: str) -> str:
    for new, old in _RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new) :]
    return rest


def _unet_key(key: str, layers: int, attn_up_blocks: set[int]) -> str:
    head, _, leaf = key.rpartition(".")
    if head in _UNET_TOP:
        return f"{_UNET_TOP[head]}.{leaf}"
    per = layers + 1
    if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        b, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        slot = "0." + _resnet(rest) if kind == "resnets" else "1." + rest
        return f"input_blocks.{1 + b * per + j}.{slot}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"input_blocks.{1 + int(m[1]) * per + layers}.0.op.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        b, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        slot = "0." + _resnet(rest) if kind == "resnets" else "1." + rest
        return f"output_blocks.{b * per + j}.{slot}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        b = int(m[1])
        return f"output_blocks.{b * per + layers}.{2 if b in attn_up_blocks else 1}.conv.{m[2]}"
    raise KeyError(f"no LDM name for UNet key {key}")


def unet_to_ldm(state: dict[str, Tensor], config: Any) -> dict[str, Tensor]:
    attn_up = {i for i, t in enumerate(config.up_block_types) if "CrossAttn" in t}
    layers = int(config.layers_per_block)
    return {"model.diffusion_model." + _unet_key(k, layers, attn_up): v for k, v in state.items()}


_VAE_ATTN = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")]


def _vae_key(key: str, n_up: int) -> str:
    key = key.replace("conv_norm_out.", "norm_out.").replace("conv_shortcut", "nin_shortcut")
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)", key):
        rest = m[2]
        for new, old in _VAE_ATTN:
            rest = rest.replace(new, old) if rest.startswith(new) else rest
        return f"{m[1]}.mid.attn_1.{rest}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(.+)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.+)", key):
        return f"encoder.down.{m[1]}.downsample.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(.+)", key):
        return f"decoder.up.{n_up - 1 - int(m[1])}.block.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.+)", key):
        return f"decoder.up.{n_up - 1 - int(m[1])}.upsample.{m[2]}"
    return key


def vae_to_ldm(state: dict[str, Tensor], config: Any) -> dict[str, Tensor]:
    n_up = len(config.up_block_types)
    return {"first_stage_model." + _vae_key(k, n_up): v for k, v in state.items()}


def clip_to_ldm(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """CLIP-L (embedders.0) is stored in transformers' own layout under a prefix."""
    return {"conditioner.embedders.0.transformer." + _with_text_model(k): v for k, v in state.items()}


def _with_text_model(key: str) -> str:
    return key if key.startswith("text_model.") else "text_model." + key


_OPEN_CLIP_TOP = {
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.final_layer_norm.weight": "ln_final.weight",
    "text_model.final_layer_norm.bias": "ln_final.bias",
}
_OPEN_CLIP_LAYER = [
    ("layer_norm1", "ln_1"),
    ("layer_norm2", "ln_2"),
    ("mlp.fc1", "mlp.c_fc"),
    ("mlp.fc2", "mlp.c_proj"),
]


def open_clip_to_ldm(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """OpenCLIP bigG (embedders.1): fused q/k/v `in_proj`, transposed text projection."""
    prefix = "conditioner.embedders.1.model."
    out: dict[str, Tensor] = {}
    qkv: dict[str, dict[str, Tensor]] = {}
    for name, value in state.items():
        key = name if name.startswith("text_projection") else _with_text_model(name)
        if key == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()
        elif key in _OPEN_CLIP_TOP:
            out[prefix + _OPEN_CLIP_TOP[key]] = value
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)", key):
            qkv.setdefault(f"{m[1]}.{m[3]}", {})[m[2]] = value
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)", key):
            rest = m[2].replace("self_attn.", "attn.")
            for new, old in _OPEN_CLIP_LAYER:
                rest = rest.replace(new, old)
            out[f"{prefix}transformer.resblocks.{m[1]}.{rest}"] = value
        else:
            raise KeyError(f"no OpenCLIP name for {key}")
    for layer_leaf, parts in qkv.items():
        layer, leaf = layer_leaf.split(".")
        fused = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
        out[f"{prefix}transformer.resblocks.{layer}.attn.in_proj_{leaf}"] = fused
    return out
