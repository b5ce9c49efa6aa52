"""The fast PyTorch CPU path (`DreamLite.from_pretrained(..., fast=True)`): bf16 where the CPU has bf16 matmul
units, channels-last convolutions, fused q/k/v (self-attention) and k/v (cross-attention) projections with
multi-query attention run as one head (no K/V copies), and optionally torch.compile.

Tolerances against float32 (tests/test_fast.py): fused float32 gives the same U-Net output to 1e-5 relative;
bf16 to 3e-2 (max |fast - fp32| / max |fp32|), as bf16 keeps 8 bits of mantissa.
"""

from __future__ import annotations

import torch

FAST_TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 3e-2}


def bf16_supported() -> bool:
    """True where oneDNN runs bf16 natively (AVX512-BF16 or AMX), so bf16 is faster rather than emulated."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def fast_dtype(device: torch.device) -> torch.dtype:
    if device.type != "cpu":
        return torch.bfloat16
    return torch.bfloat16 if bf16_supported() else torch.float32


def make_fast(components, compile: bool = False) -> None:
    """Rewrite the U-Net (and the VAE's memory format) in place for inference. Call after the dtype is set."""
    unet, vae = components.unet, components.vae
    unet.eval().requires_grad_(False)
    for module in unet.modules():
        if hasattr(module, "fuse_projections"):
            module.fuse_projections()
    unet.to(memory_format=torch.channels_last)
    vae.to(memory_format=torch.channels_last)
    if compile:
        unet.forward = torch.compile(unet.forward, dynamic=False)
