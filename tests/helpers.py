"""Test helpers: tiny random pipelines in diffusers layout, and transformers' Qwen3VLProcessor without torchvision."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def perturb(module: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> None:
    """Randomise every parameter (zero-initialised layers too) so that parity tests see non-trivial outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


def real_qwen3vl_processor(image_processor, tokenizer):
    """transformers' Qwen3VLProcessor, built with a stand-in for its torchvision-only video processor."""
    import transformers.processing_utils as pu
    from transformers import Qwen3VLProcessor

    class NoVideo(dict):  # a dict so that the processor's own save_pretrained can serialise it
        _auto_class = None

        def to_dict(self):
            return dict(self)

    pu.transformers_module.VideoProcessorMixin = NoVideo
    return Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer, video_processor=NoVideo(video_processor_type="Qwen3VLVideoProcessor"))


def random_image(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize((width, height), Image.BILINEAR)
    return image.convert(mode) if mode != "RGB" else image


EXPORT_SIZE = 64


def export_tiny(model, out, fmt, precision="fp32", seq_len=32):
    """`dreamlite export` of a tiny pipeline at EXPORT_SIZE (int8: a short calibration)."""
    from dreamlite.cli import main

    argv = ["export", "--model", str(model), "--format", fmt, "--out", str(out), "--size", str(EXPORT_SIZE),
            "--seq-len", str(seq_len), "--precision", precision]
    if precision == "int8":
        argv += ["--calibration-steps", "2", "--calibration-samples", "24"]
    assert main(argv) == 0
    return out


def pixels(image):
    return np.asarray(image).astype(np.int16)
