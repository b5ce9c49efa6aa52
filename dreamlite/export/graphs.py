"""The three exported graphs (U-Net, VAE encoder, VAE decoder) as plain tensor-in, tensor-out modules, and their
static example inputs.

Every graph takes batch 1 at one spatial size: the form mobile runtimes want (the official Android export is
static too, text length 128), and the one OpenVINO and onnxruntime compile best. The runtime adapters run a
guidance batch one branch at a time. The prompt length is a multiple of `seq_len`: an edit prompt holds the
source image's tokens (256 at the official 512 px) and is longer than a generation prompt; OpenVINO compiles one
static graph per length met, onnxruntime takes the length as a dynamic axis, and Core ML and ExecuTorch keep
exactly `seq_len`. Attention is rewritten for export by `Attention.fuse_projections`: one
matmul for q/k/v (k/v for cross-attention) and multi-query attention as a single head of N*heads queries, so K/V
are never repeated.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

UNET_INPUTS = ("sample", "timestep", "encoder_hidden_states", "encoder_attention_mask", "time_ids")
TEXT_AXES = {"encoder_hidden_states": 1, "encoder_attention_mask": 1}  # the prompt-length axis of each input


@dataclass(frozen=True)
class StaticShape:
    """What an export was built for: target image size in pixels and prompt length in tokens."""

    width: int
    height: int
    seq_len: int
    vae_factor: int

    @property
    def latent(self) -> tuple[int, int]:
        return self.height // self.vae_factor, self.width // self.vae_factor

    def describe(self) -> str:
        return f"{self.width}x{self.height}"


def export_ready_unet(unet: nn.Module) -> nn.Module:
    """A float32 copy of `unet` with fused, export-friendly attention."""
    unet = copy.deepcopy(unet).float().eval().requires_grad_(False)
    for module in unet.modules():
        if hasattr(module, "fuse_projections"):
            module.fuse_projections()
    return unet


class UNetGraph(nn.Module):
    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, encoder_attention_mask, time_ids):
        return self.unet(sample, timestep, encoder_hidden_states, encoder_attention_mask, time_ids)


class VAEEncoderGraph(nn.Module):
    """Pixels in [-1, 1] -> latents (AutoencoderTiny's encoder; DreamLite's VAE has scaling factor 1)."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, pixels):
        return self.vae.encode(pixels).latents


class VAEDecoderGraph(nn.Module):
    """Latents -> pixels in [-1, 1]."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, latents):
        return self.vae.decode(latents).sample


def unet_example(unet_config, shape: StaticShape, text_dim: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random U-Net inputs at the export's static shapes (a padded prompt, as the pipeline gives)."""
    g = torch.Generator().manual_seed(seed)
    h, w = shape.latent
    mask = torch.ones(1, shape.seq_len)
    mask[:, shape.seq_len * 3 // 4:] = 0
    return {"sample": torch.randn(1, unet_config.in_channels, h, 2 * w, generator=g),
            "timestep": torch.rand(1, generator=g) * 1000,
            "encoder_hidden_states": torch.randn(1, shape.seq_len, text_dim, generator=g),
            "encoder_attention_mask": mask,
            "time_ids": torch.tensor([[float(shape.width), float(shape.height)]])}


def vae_examples(vae_config, shape: StaticShape, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    h, w = shape.latent
    return {"vae_encoder": {"pixels": torch.rand(1, 3, shape.height, shape.width, generator=g) * 2 - 1},
            "vae_decoder": {"latents": torch.randn(1, vae_config.latent_channels, h, w, generator=g)}}
