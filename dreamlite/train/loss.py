"""Rectified-flow training objective (Liu et al. 2022; Esser et al. 2024) for in-context DreamLite.

x_t = (1 - t) x0 + t noise; the U-Net sees (x_t | condition) side by side and predicts v = noise - x0. The loss is
the MSE on the target (left) half only: the condition half is an input, never a target.
"""

from __future__ import annotations

import math

import torch

from ..sampling import FlowSchedule, dynamic_shift_mu, pack_in_context, unpack_target


def sample_timestep(spec, generator: torch.Generator, latent_hw: tuple[int, int],
                    schedule: FlowSchedule | None = None) -> float:
    """One training time t in (0, 1) from `spec` (a TimestepSpec), drawn with `generator`.

    uniform: t ~ U(0, 1). logit_normal: t = sigmoid(n), n ~ N(mean, std) (SD3's choice: more weight mid-path).
    shift s: t -> s t / (1 + (s - 1) t), towards noise for large images. "dynamic": the pipeline's own shift for
    this latent size, exp(mu) / (exp(mu) + 1/t - 1), so training spends its steps where sampling does.
    """
    if spec.sampler == "uniform":
        t = torch.rand((), generator=generator, dtype=torch.float64).item()
    else:
        n = torch.randn((), generator=generator, dtype=torch.float64).item()
        t = 1.0 / (1.0 + math.exp(-(spec.mean + spec.std * n)))
    t = min(max(t, 1e-5), 1.0 - 1e-5)
    if spec.shift == "dynamic":
        mu = dynamic_shift_mu(latent_hw[0], latent_hw[1], schedule or FlowSchedule())
        t = math.exp(mu) / (math.exp(mu) + 1.0 / t - 1.0)
    elif spec.shift is not None:
        t = spec.shift * t / (1.0 + (spec.shift - 1.0) * t)
    return t


def velocity_error(unet, target: torch.Tensor, condition: torch.Tensor, noise: torch.Tensor, t: torch.Tensor,
                   text: torch.Tensor, text_mask: torch.Tensor, time_ids: torch.Tensor) -> torch.Tensor:
    """Squared velocity error on the target half, per latent element, shape (B, C, h, w).

    target, condition, noise: (B, C, h, w) latents (condition: zeros for T2I or dropped images); t: (B,) in (0, 1);
    text: (B, L, D) prompt embeddings with mask (B, L); time_ids: (B, 2) target (width, height) in pixels.
    """
    t_ = t.view(-1, 1, 1, 1).to(target.dtype)
    noisy = (1.0 - t_) * target + t_ * noise
    prediction = unet(pack_in_context(noisy, condition), t * 1000.0, text, text_mask, time_ids)
    velocity = unpack_target(prediction, target.shape[-1]).float()
    return (velocity - (noise - target).float()).pow(2)


def flow_matching_loss(unet, target: torch.Tensor, condition: torch.Tensor, noise: torch.Tensor, t: torch.Tensor,
                       text: torch.Tensor, text_mask: torch.Tensor, time_ids: torch.Tensor) -> torch.Tensor:
    """Per-sample velocity MSE, shape (B,); arguments as `velocity_error`."""
    return velocity_error(unet, target, condition, noise, t, text, text_mask, time_ids).mean(dim=(1, 2, 3))
