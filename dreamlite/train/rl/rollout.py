"""Batched sampling for RL: many prompts and seeds in one denoising loop, through the pipeline's own pure
functions (flow_sigmas, guided_velocity, denoise), so a rollout is what `DreamLite.generate` / `.edit` would give
for the same noise, conditioning and settings."""

from __future__ import annotations

import torch

from ...sampling import Conditioning, denoise, flow_sigmas, guided_velocity
from ..encode import pad_embeddings


def encode_items(conditioner, samples: list[dict], latent_hw: tuple[int, int]):
    """What sampling a batch of planned items needs: the empty prompt's embedding, and per item the prompt's
    embedding, the guidance's negative (edits: the empty instruction with the source image) and the condition
    latents (the source's for edits, zeros for generation)."""
    c = conditioner
    edits = [s["task"] == "edit" for s in samples]
    empty = c.generate(None)
    prompts = [c.edit(s["prompt"], s["source_image"]) if edit else c.generate(s["prompt"])
               for s, edit in zip(samples, edits)]
    negatives = [c.edit(None, s["source_image"]) if edit else empty for s, edit in zip(samples, edits)]
    source_pixels = [s["source"] for s in samples if "source" in s]
    encoded = iter(c.latents(torch.stack(source_pixels)).cpu()) if source_pixels else iter(())
    zeros = torch.zeros(c.latent_channels, *latent_hw)
    return empty, prompts, negatives, [next(encoded) if edit else zeros for edit in edits]


def conditioning(branch_texts: list[list[torch.Tensor]], branch_latents: list[torch.Tensor],
                 size: tuple[int, int], device) -> Conditioning:
    """Branch-major conditioning: `branch_texts[k][i]` the (L, D) embedding of sample i in branch k,
    `branch_latents[k]` (B, C, h, w) its condition latents; size = target (width, height) in pixels."""
    rows = [row for texts in branch_texts for row in texts]
    text, mask = pad_embeddings(rows, device)
    latents = torch.cat(branch_latents).to(device)
    time_ids = torch.tensor([list(size)], dtype=torch.float32, device=device).expand(len(rows), -1)
    return Conditioning(text.float(), mask, latents.float(), time_ids, len(branch_texts))


def generation_conditioning(prompts: list[torch.Tensor], empty: torch.Tensor, shape, size, device,
                            guided: bool = True) -> Conditioning:
    """T2I: [empty prompt, prompt] x zero condition (or the prompt alone, unguided)."""
    zeros = torch.zeros(shape)
    if not guided:
        return conditioning([prompts], [zeros], size, device)
    return conditioning([[empty] * len(prompts), prompts], [zeros, zeros], size, device)


def edit_conditioning(prompts: list[torch.Tensor], negatives: list[torch.Tensor], sources: torch.Tensor, size,
                      device, guided: bool = True) -> Conditioning:
    """Editing: [(empty, no image), (empty, source), (instruction, source)] (or the last alone, unguided);
    the empty instruction is encoded with the source image, as the pipeline's negative."""
    if not guided:
        return conditioning([prompts], [sources], size, device)
    return conditioning([negatives, negatives, prompts], [torch.zeros_like(sources), sources, sources], size, device)


@torch.no_grad()
def sample(unet, cond: Conditioning, noise: torch.Tensor, steps: int, schedule, scale: float,
           image_scale: float) -> torch.Tensor:
    """Clean latents x0 (B, C, h, w) from noise (B, C, h, w) with `steps` Euler steps and guidance."""
    sigmas = flow_sigmas(steps, noise.shape[2], noise.shape[3], schedule)
    return denoise(guided_velocity(unet, cond, scale, image_scale), noise, sigmas)


@torch.no_grad()
def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    """Raw latents -> pixels (B, 3, H, W) in [-1, 1], as the pipeline decodes them."""
    config = vae.config
    latents = latents / config.scaling_factor + (getattr(config, "shift_factor", 0.0) or 0.0)
    return vae.decode(latents.to(next(vae.parameters()).dtype)).sample.float().clamp(-1, 1)
