"""A DreamLite pipeline with random weights from a named U-Net config, for timing without the official weights.

The U-Net is the named config (e.g. the published 0.39B). The VAE is AutoencoderTiny at its default widths (the
TAESD-sized tiny VAE DreamLite ships, 4 latent channels, 8x). The prompt encoder has Qwen3-VL-2B's widths (text:
hidden 2048, 16 heads of 128, 8 K/V heads, MLP 6144; vision: hidden 1024, 16 heads, 16 px patches merged 2x2)
but only `text_layers` / `vision_layers` layers (the 2B model has 28 and 24), and a 400-token vocabulary.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from ..build import RELEASE_SCHEDULE, qwen3vl_image_processor
from ..loading import Components, save_components
from ..models.config import get_unet_config
from ..models.unet import DreamLiteUNet
from ..text.qwen3vl import Qwen3VLPromptEncoder
from ..text.tokenizer import build_tokenizer


def fill_random(module: torch.nn.Module, seed: int = 0) -> None:
    """Scaled uniform weights, norm gains near 1 (the stock initialisers are slow at 0.39B parameters)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02 + (1.0 if "norm" in name and name.endswith(
                    "weight") else 0.0))
            else:
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * math.sqrt(3 / p[0].numel()))


def qwen3vl_2b_shaped(tokenizer, text_layers: int, vision_layers: int):
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in
           ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")}
    config = Qwen3VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=2048, intermediate_size=6144,
                         num_hidden_layers=text_layers, num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                         max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 5000000.0,
                                          "mrope_section": [24, 20, 20], "mrope_interleaved": True}),
        vision_config=dict(depth=vision_layers, hidden_size=1024, intermediate_size=4096, num_heads=16,
                           patch_size=16, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=2048,
                           num_position_embeddings=2304,
                           deepstack_visual_indexes=list(range(min(3, vision_layers)))),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False)
    torch.manual_seed(1)
    return Qwen3VLForConditionalGeneration(config).eval().requires_grad_(False)


def random_pipeline(config_name: str, folder: Path, variant: str = "mobile", text_layers: int = 4,
                    vision_layers: int = 2) -> Path:
    """Write a random pipeline for `config_name` to `folder` (diffusers layout) and return it."""
    from diffusers import AutoencoderTiny

    config = get_unet_config(config_name)
    tokenizer = build_tokenizer(["a red fox in the snow", "make it night"], vocab_size=400)
    encoder = Qwen3VLPromptEncoder(qwen3vl_2b_shaped(tokenizer, text_layers, vision_layers), tokenizer,
                                   qwen3vl_image_processor())
    config = dataclasses.replace(config, encoder_hid_dim=encoder.hidden_size)
    with torch.device("meta"):
        unet = DreamLiteUNet(config)
    unet.to_empty(device="cpu")
    fill_random(unet)
    vae = AutoencoderTiny(latent_channels=4, scaling_factor=1.0)
    save_components(Components(unet.eval(), vae.eval(), encoder, RELEASE_SCHEDULE, variant), folder)
    return folder
