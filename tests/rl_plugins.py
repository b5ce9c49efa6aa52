"""Reward plugins for the RL tests, loaded by path (`tests.rl_plugins:Brightness`) as a user's plugin would be."""

from __future__ import annotations

import numpy as np
import torch


class Brightness:
    """Mean pixel value in [0, 1]: a reward every random image earns differently, so every group has signal."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def __call__(self, images, prompts, sources=None, **context) -> torch.Tensor:
        return torch.tensor([self.scale * float(np.asarray(im).mean()) / 255.0 for im in images])
