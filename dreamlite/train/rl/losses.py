"""Policy losses on the velocity of a flow-matching model, per sample, from clean samples x0 and advantages.

Both are forward-process methods: the policy's own clean samples are noised to a random time t and the loss
is a flow-matching regression there, so no sampler likelihoods are needed (unlike Flow-GRPO).
`v` is the policy's velocity, `v_old` the old policy's (no gradient), `target` = noise - x0, all (B, C, h, w).
"""

from __future__ import annotations

import torch


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.float() - b.float()).pow(2).mean(dim=(1, 2, 3))


def nft_loss(v: torch.Tensor, v_old: torch.Tensor, target: torch.Tensor, advantages: torch.Tensor,
             beta: float = 1.0, adv_clip: float = 2.0) -> torch.Tensor:
    """DiffusionNFT (Zheng et al. 2025, "Diffusion Negative-aware FineTuning"), per sample.

    r = clip(A / adv_clip, -1, 1) / 2 + 1/2 in [0, 1]; an implicit positive policy v+ = beta v + (1 - beta) v_old
    and negative policy v- = (1 + beta) v_old - beta v; loss r ||v+ - target||^2 + (1 - r) ||v- - target||^2.
    At v = v_old its gradient is 2 beta (2r - 1)(v_old - target): toward the sample when A > 0, away when A < 0.
    The paper writes the two terms on x0 predictions (x_t - t v); on velocities they differ by t^2 per sample.
    """
    r = (advantages.clamp(-adv_clip, adv_clip) / adv_clip / 2 + 0.5).float()
    positive = beta * v + (1 - beta) * v_old
    negative = (1 + beta) * v_old - beta * v
    return r * _mse(positive, target) + (1 - r) * _mse(negative, target)


def awm_loss(v: torch.Tensor, v_old: torch.Tensor, target: torch.Tensor, advantages: torch.Tensor,
             adv_clip: float = 2.0) -> torch.Tensor:
    """Advantage-weighted flow matching (AWM), per sample: clip(A) ||v - target||^2, minus the same at v_old
    (a constant: it only centres the value, so a batch of zero advantages has loss 0)."""
    w = advantages.clamp(-adv_clip, adv_clip).float()
    return w * (_mse(v, target) - _mse(v_old, target).detach())


def drift(v: torch.Tensor, v_old: torch.Tensor) -> torch.Tensor:
    """||v - v_old||^2 per sample: the KL of two Gaussian flow policies at one time, up to a factor."""
    return _mse(v, v_old)


LOSSES = {"nft": nft_loss, "awm": awm_loss}
