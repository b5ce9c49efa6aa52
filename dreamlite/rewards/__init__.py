"""Rewards for RL post-training: built-in plugins by name, or any `package.module:Name`.

`build_reward([{"name": "shapes", "weight": 1.0, "args": {...}}, ...])` returns one callable, the weighted sum
(base.WeightedSum). See base.py for the contract a plugin follows.
"""

from __future__ import annotations

from .base import Reward, WeightedSum, as_arrays, load_reward_class

# name -> "module:attribute", imported only when a recipe asks for it (learned rewards pull in transformers)
REWARDS = {
    "shapes": "dreamlite.rewards.shapes:ShapesBenchReward",
    "clip": "dreamlite.rewards.clip:ClipScoreReward",
    "pickscore": "dreamlite.rewards.clip:PickScoreReward",
    "hpsv3": "dreamlite.rewards.hpsv3:HPSv3Reward",
    "edit_judge": "dreamlite.rewards.edit_judge:EditJudgeReward",
}


def build_reward(specs: list[dict]) -> WeightedSum:
    """Instantiate every part: `name` (registered or a plugin path), `weight` (default 1), `args` (keywords)."""
    parts = []
    for spec in specs:
        cls = load_reward_class(spec["name"], REWARDS)
        reward = cls(**(spec.get("args") or {}))
        parts.append((spec["name"], float(spec.get("weight", 1.0)), reward))
    return WeightedSum(parts)


__all__ = ["REWARDS", "Reward", "WeightedSum", "as_arrays", "build_reward"]
