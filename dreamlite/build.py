"""Fresh, randomly initialised components from configs: tiny pipelines for tests, and the starting point of a
training run. Nothing here downloads anything."""

from __future__ import annotations

import dataclasses

import torch

from .loading import Components
from .models.config import get_unet_config
from .models.unet import DreamLiteUNet
from .sampling import FlowSchedule
from .text.qwen3vl import Qwen3VLPromptEncoder
from .text.tokenizer import build_tokenizer

RELEASE_SCHEDULE = FlowSchedule(max_shift=1.15)  # ../shared/reference/scheduler-config.json


def tiny_vae(channels: int = 16, blocks: int = 1):
    """An AutoencoderTiny (4 latent channels, 8x) with narrow blocks."""
    from diffusers import AutoencoderTiny

    return AutoencoderTiny(
        encoder_block_out_channels=(channels,) * 4, decoder_block_out_channels=(channels,) * 4,
        num_encoder_blocks=(1, blocks, blocks, blocks), num_decoder_blocks=(blocks, blocks, blocks, 1),
        latent_channels=4, scaling_factor=1.0)


def tiny_qwen3vl(tokenizer, hidden_size: int = 64, layers: int = 2, vision_hidden: int = 32):
    """A small Qwen3-VL (text and vision towers) whose special-token ids match `tokenizer`."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in
           ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")}
    heads = max(1, hidden_size // 16)
    config = Qwen3VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=2048,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                          "mrope_section": [2, 3, 3], "mrope_interleaved": True}),
        vision_config=dict(depth=1, hidden_size=vision_hidden, intermediate_size=2 * vision_hidden, num_heads=2,
                           patch_size=16, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=hidden_size,
                           num_position_embeddings=256, deepstack_visual_indexes=[0]),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False)
    return Qwen3VLForConditionalGeneration(config).eval().requires_grad_(False)


def qwen3vl_image_processor():
    """Qwen3-VL's image preprocessing (16 px patches, 2x2 merge, mean/std 0.5), PIL backend."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(patch_size=16, merge_size=2, temporal_patch_size=2,
                                    image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
                                    size={"shortest_edge": 65536, "longest_edge": 16777216})


def tiny_components(unet_config="tiny", corpus=("a red circle", "make it blue"), variant: str = "base",
                    seed: int = 0, text_hidden: int = 64) -> Components:
    """A complete random pipeline: U-Net from `unet_config` (name or UNetConfig), tiny VAE and Qwen3-VL."""
    config = get_unet_config(unet_config) if isinstance(unet_config, str) else unet_config
    config = dataclasses.replace(config, encoder_hid_dim=text_hidden)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(corpus, vocab_size=400)
    encoder = Qwen3VLPromptEncoder(tiny_qwen3vl(tokenizer, hidden_size=text_hidden), tokenizer,
                                   qwen3vl_image_processor())
    unet = DreamLiteUNet(config)
    return Components(unet.eval(), tiny_vae().eval(), encoder, RELEASE_SCHEDULE, variant)
