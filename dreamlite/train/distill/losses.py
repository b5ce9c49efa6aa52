"""Distillation targets and the student's loss, as small pure functions of latents and sigmas.

Shapes: latents (B, C, h, w); a trajectory (B, S + 1, C, h, w) holds the teacher's ODE solution at the student's
sigmas s_0 > ... > s_{S-1} > s_S = 0 (index 0 is the noise, index S the clean sample).
"""

from __future__ import annotations

import torch


def trajectory_target(trajectory: torch.Tensor, sigmas: torch.Tensor, point: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x at s_i, s_i, target) for each row's student step i = `point` (B,) of trajectory matching.

    The target is the teacher's average velocity over the student's step, (x_{s_i} - x_{s_{i+1}}) / (s_i -
    s_{i+1}): one Euler step of the student from x_{s_i} with it lands exactly on the teacher's x_{s_{i+1}} (the
    one-phase form of progressive distillation, Salimans & Ho 2022, as in TRACT, Berthelot et al. 2023). The last
    step ends at sigma 0, on the teacher's clean sample.
    """
    rows = torch.arange(len(point))
    x_from, x_to = trajectory[rows, point], trajectory[rows, point + 1]
    s_from, s_to = sigmas[point], sigmas[point + 1]
    gap = (s_from - s_to).view(-1, 1, 1, 1)
    return x_from, s_from, (x_from.float() - x_to.float()) / gap


def reflow_target(noise: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, target) of rectified-flow reflow (Liu et al. 2022; InstaFlow, Liu et al. 2023) on a teacher pair:
    the straight path x_t = (1 - t) x0 + t noise between the noise and the teacher's sample from it, whose
    velocity noise - x0 is the same at every t, so a few Euler steps follow it."""
    t_ = t.view(-1, 1, 1, 1)
    return (1 - t_) * x0 + t_ * noise, noise.float() - x0.float()


def velocity_mse(velocity: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE (B,) of the student's velocity on the target half against the target."""
    return (velocity.float() - target.float()).pow(2).mean(dim=(1, 2, 3))
