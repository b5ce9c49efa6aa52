"""RL post-training as a stage of the one trainer loop (kind `rl`): DiffusionNFT by default, or AWM."""

from .config import ALGORITHMS, HeldOutSpec, RewardSpec, RLSpec

__all__ = ["ALGORITHMS", "HeldOutSpec", "RLSpec", "RewardSpec"]
