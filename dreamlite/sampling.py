"""Flow-matching sampling for DreamLite as plain functions (the model never imports this module).

Rectified flow (Liu et al. 2022; Esser et al. 2024, "Scaling Rectified Flow Transformers"): x_t = (1 - t) x0 + t
noise, the network predicts v = noise - x0, and Euler steps go from t = 1 to 0. The schedule is linear in t,
then warped by the exponential time shift whose mu grows with the target's latent sequence length.

DreamLite conditions by in-context concatenation: the U-Net sees (target | condition) side by side along the
width (zeros for generation, the source's latents for editing) and only the target half of its output is used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FlowSchedule:
    """The scheduler settings DreamLite ships in `scheduler/scheduler_config.json`."""

    base_image_seq_len: int = 256
    max_image_seq_len: int = 4096
    base_shift: float = 0.5
    max_shift: float = 1.16  # the pipeline's fallback; released configs say 1.15
    use_dynamic_shifting: bool = True
    shift: float = 3.0  # only used without dynamic shifting
    num_train_timesteps: int = 1000

    @classmethod
    def from_dict(cls, config: dict) -> FlowSchedule:
        keys = cls.__dataclass_fields__
        return cls(**{k: config[k] for k in keys if k in config})


def dynamic_shift_mu(latent_height: int, latent_width: int, schedule: FlowSchedule) -> float:
    """mu, linear in the target's sequence length h*w/4 (2x2 patches), through (base_len, base_shift) and
    (max_len, max_shift)."""
    seq_len = latent_height * latent_width // 4
    slope = (schedule.max_shift - schedule.base_shift) / (schedule.max_image_seq_len - schedule.base_image_seq_len)
    return schedule.base_shift + slope * (seq_len - schedule.base_image_seq_len)


def flow_sigmas(steps: int, latent_height: int, latent_width: int, schedule: FlowSchedule) -> torch.Tensor:
    """`steps` sigmas from 1 down to 1/steps, time-shifted, then a final 0 (float32, steps + 1 values).

    Dynamic shifting uses exp(mu) / (exp(mu) + 1/t - 1) with mu from the target's size; static shifting
    s t / (1 + (s - 1) t).
    """
    t = torch.linspace(1.0, 1.0 / steps, steps, dtype=torch.float64).to(torch.float32)
    if schedule.use_dynamic_shifting:
        mu = dynamic_shift_mu(latent_height, latent_width, schedule)
        shifted = math.exp(mu) / (math.exp(mu) + (1.0 / t - 1.0))
    else:
        shifted = schedule.shift * t / (1 + (schedule.shift - 1) * t)
    return torch.cat([shifted.to(torch.float32), torch.zeros(1)])


def pack_in_context(target: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """(target | condition) side by side along the width: the U-Net input."""
    return torch.cat([target, condition], dim=3)


def unpack_target(prediction: torch.Tensor, target_width: int) -> torch.Tensor:
    """The left (target) half of the U-Net output."""
    return prediction[..., :target_width]


@dataclass
class Conditioning:
    """Everything the U-Net sees besides the noisy target, stacked branch-major: K branches of B samples.

    Branches are the classifier-free-guidance evaluations: 1 (distilled), 2 (text CFG: [uncond, cond]) or
    3 (edit dual guidance: [uncond, image only, text and image]).
    """

    text: torch.Tensor  # (K*B, L, D)
    text_mask: torch.Tensor  # (K*B, L)
    latents: torch.Tensor  # (K*B, C, h, w): zeros for generation, source latents for editing
    time_ids: torch.Tensor  # (K*B, 2): target (width, height) in pixels
    branches: int


def combine_guidance(preds: torch.Tensor, branches: int, scale: float, image_scale: float) -> torch.Tensor:
    """Classifier-free guidance over branch-major predictions.

    1 branch: as is. 2: u + g (c - u). 3 (InstructPix2Pix-style dual guidance): u + g_t (e_text - e_img) +
    g_i (e_img - u), with u = (no text, no image), e_img = (no text, image), e_text = (text, image).
    """
    if branches == 1:
        return preds
    if branches == 2:
        uncond, cond = preds.chunk(2)
        return uncond + scale * (cond - uncond)
    uncond, image, text = preds.chunk(3)
    return uncond + scale * (text - image) + image_scale * (image - uncond)


def branch_velocities(unet: Callable, cond: Conditioning):
    """A function (x, sigma) -> the target half of the U-Net's output for every branch, stacked branch-major."""

    def predict(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        x_in = pack_in_context(x.repeat(cond.branches, 1, 1, 1), cond.latents)
        timestep = (sigma * 1000).expand(x_in.shape[0]).to(x.dtype)
        out = unet(x_in, timestep, cond.text, cond.text_mask, cond.time_ids)
        return unpack_target(out, x.shape[-1])

    return predict


def guided_velocity(unet: Callable, cond: Conditioning, scale: float = 1.0, image_scale: float = 1.0):
    """A function (x, sigma) -> guided velocity for the target latents x of shape (B, C, h, w)."""
    predict = branch_velocities(unet, cond)

    def velocity(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return combine_guidance(predict(x, sigma), cond.branches, scale, image_scale)

    return velocity


def edit_region(unet: Callable, cond: Conditioning, source: torch.Tensor, noises: list[torch.Tensor],
                sigma: float = 0.5, threshold: float = 0.5) -> torch.Tensor:
    """Where an instruction changes the source, as a (B, 1, h, w) mask of 0/1 in latent cells.

    The mask-estimation step of DiffEdit (Couairon et al. 2022), on the dual-guidance branches: the source is
    noised to `sigma` with each of `noises`, the velocities with and without the instruction (both with the
    image) are compared, their absolute difference is averaged over channels and noises, scaled to [0, 1] per
    image, and cells at or above `threshold` are the edit. Needs the 3-branch (guided editing) conditioning.
    """
    if cond.branches != 3:
        raise ValueError("edit_region needs the 3-branch conditioning of guided editing")
    predict = branch_velocities(unet, cond)
    diff = torch.zeros_like(source[:, :1], dtype=torch.float32)
    for noise in noises:
        x = ((1 - sigma) * source.float() + sigma * noise.float()).to(source.dtype)
        _, image, text = predict(x, torch.tensor(sigma, device=source.device)).float().chunk(3)
        diff += (text - image).abs().mean(dim=1, keepdim=True)
    low = diff.amin(dim=(2, 3), keepdim=True)
    high = diff.amax(dim=(2, 3), keepdim=True)
    return ((diff - low) / (high - low).clamp_min(1e-8) >= threshold).to(source.dtype)


def keep_outside(mask: torch.Tensor, source: torch.Tensor, noise: torch.Tensor):
    """A projection (x, sigma) -> x inside `mask`, and outside it the source noised to sigma along the same
    noise the sampler started from; at sigma 0 the cells outside the mask are exactly the source's latents."""

    def project(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        noised = (1 - sigma) * source.float() + sigma * noise.float()
        return torch.lerp(noised, x.float(), mask.float()).to(x.dtype)

    return project


def euler_step(x: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
    """x <- x + (sigma_next - sigma) v, computed in float32 and returned in v's dtype."""
    return (x.float() + (sigma_next - sigma) * v).to(v.dtype)


def denoise(velocity: Callable, x: torch.Tensor, sigmas: torch.Tensor,
            callback: Callable[[int, torch.Tensor], None] | None = None,
            project: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Euler integration of the flow ODE from sigmas[0] to sigmas[-1]; `project(x, sigma)` (e.g. keep_outside)
    after each step, then `callback(step, x)`."""
    sigmas = sigmas.to(x.device)
    for i in range(len(sigmas) - 1):
        x = euler_step(x, velocity(x, sigmas[i]), sigmas[i], sigmas[i + 1])
        if project is not None:
            x = project(x, sigmas[i + 1])
        if callback is not None:
            callback(i, x)
    return x
