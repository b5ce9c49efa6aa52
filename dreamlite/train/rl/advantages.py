"""Group-relative advantages (GRPO, Shao et al. 2024; Flow-GRPO; DiffusionNFT): each prompt's samples are
compared with each other, not with other prompts, so an easy prompt does not drown a hard one."""

from __future__ import annotations

import torch


def group_advantages(rewards: torch.Tensor, min_std: float = 0.0, eps: float = 1e-6
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """rewards (P, G) -> (advantages (P, G), signal (P,) bool).

    A = (r - mean_group) / (std_group + eps), std without Bessel's correction. A group whose std is at most
    `min_std` (all samples equally good or bad) carries no signal: its advantages are 0 and signal is False.
    """
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, keepdim=True, unbiased=False)
    signal = std.squeeze(1) > min_std
    advantages = torch.where(signal[:, None], (rewards - mean) / (std + eps), torch.zeros_like(rewards))
    return advantages, signal


def balanced(advantages: torch.Tensor, clip: float) -> torch.Tensor:
    """(P, G) advantages clipped to [-clip, clip] and kept zero-sum within each group.

    Clipping alone breaks the zero sum: a group of seven failures and one success has the success's advantage
    cut (sqrt(G - 1) > clip), so its weights sum to less than zero and the loss pushes the policy away from what
    the group shares (an edit's kept source, the background) as well as from the failures. Re-centring, then
    scaling the group back inside the clip, keeps each group's push to where its samples differ."""
    a = advantages.clamp(-clip, clip)
    a = a - a.mean(dim=1, keepdim=True)
    peak = a.abs().amax(dim=1, keepdim=True)
    return a * torch.where(peak > clip, clip / peak.clamp_min(1e-12), torch.ones_like(peak))


def members_of(rank: int, world: int, group: int) -> list[int]:
    """The group members (sample indices within each group) that process `rank` of `world` samples."""
    return list(range(rank, group, world))


def gather_groups(local: torch.Tensor, accelerator, group: int) -> torch.Tensor:
    """Every process's (P, G / W, ...) values of its members -> the full (P, G, ...), member m at column m, on
    every process. Members are dealt round robin (members_of), so a group spans all processes."""
    world = accelerator.num_processes
    if world == 1:
        return local
    gathered = accelerator.gather(local.contiguous())  # (W * P, G / W, ...), process-major
    prompts = local.shape[0]
    full = torch.empty(prompts, group, *local.shape[2:], dtype=local.dtype, device=local.device)
    for rank in range(world):
        full[:, members_of(rank, world, group)] = gathered[rank * prompts:(rank + 1) * prompts]
    return full
