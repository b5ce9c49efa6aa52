"""The reward plugin contract, and weighted sums of rewards.

A reward is any callable `reward(images, prompts, sources=None, **context) -> tensor of shape (N,)`:
`images` are the N samples (H x W x 3 uint8 arrays), `prompts` their captions or instructions, `sources` the
source images of edits (None entries, or None for the whole call, for generation). `context` carries what some
rewards need and others ignore: `items` (the training items, e.g. a ShapesBench spec), `tasks` ("t2i" or "edit"
per sample). A reward may also expose `components` after a call: {name: tensor (N,)} for logging.
Higher is better. Rewards are computed without gradients; RL only ranks samples within a group.
"""

from __future__ import annotations

import importlib
from typing import Callable

import numpy as np
import torch

Reward = Callable[..., torch.Tensor]


def as_arrays(images) -> list[np.ndarray]:
    """PIL images, arrays or a (N, 3, H, W) tensor in [-1, 1] -> H x W x 3 uint8 arrays."""
    if isinstance(images, torch.Tensor):
        pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return list(pixels.permute(0, 2, 3, 1).cpu().numpy())
    return [np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, dtype=np.uint8)
            for image in images]


class WeightedSum:
    """sum_k w_k reward_k; each part's raw values are kept in `components` (by name) for logging."""

    def __init__(self, parts: list[tuple[str, float, Reward]]):
        if not parts:
            raise ValueError("a combined reward needs at least one part")
        self.parts = parts
        self.components: dict[str, torch.Tensor] = {}

    def __call__(self, images, prompts, sources=None, **context) -> torch.Tensor:
        total, self.components = None, {}
        for name, weight, reward in self.parts:
            value = torch.as_tensor(reward(images, prompts, sources, **context), dtype=torch.float32).reshape(-1)
            if value.shape[0] != len(prompts):
                raise ValueError(f"reward {name!r} returned {value.shape[0]} values for {len(prompts)} samples")
            self.components[name] = value
            for sub, part in getattr(reward, "components", {}).items():
                self.components[f"{name}/{sub}"] = part
            total = weight * value if total is None else total + weight * value
        return total


def load_reward_class(name: str, registry: dict[str, str]):
    """A registered name (`shapes`, `clip`, ...) or a plugin path `package.module:Attribute`."""
    target = registry.get(name, name)
    if ":" not in target:
        raise ValueError(f"unknown reward {name!r}; built in: {', '.join(sorted(registry))}, or give "
                         "`package.module:Name` for a plugin")
    module, attr = target.split(":", 1)
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"reward {name!r}: cannot import {target} ({err})") from None
