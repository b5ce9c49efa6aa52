"""What an `rl` stage of a recipe may set (stage field `rl:`), with commented defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALGORITHMS = ("nft", "awm")


@dataclass
class RewardSpec:
    name: str = "shapes"  # a built-in reward (dreamlite.rewards.REWARDS) or `package.module:Name`
    weight: float = 1.0
    args: dict[str, Any] = field(default_factory=dict)  # keywords for the reward's constructor


@dataclass
class HeldOutSpec:
    """A small ShapesBench eval on held-out items, sampled at the shipped settings, every `every` iterations."""

    every: int = 10  # optimizer steps between evals (and one after the last); 0: never
    at_start: bool = True  # also one before the first iteration (a stage that follows an rl stage needs none)
    split_seed: int = 1  # the dev split (`dreamlite shapes render --split dev`), never the public eval split (0)
    per_category: int = 2  # items per category (15 categories)
    steps: int | None = None  # null: the pipeline's default for the variant
    size: int | None = None  # null: the stage's resolution


@dataclass
class RLSpec:
    algorithm: str = "nft"  # nft (DiffusionNFT, the default) or awm (advantage-weighted flow matching)
    group: int = 8  # samples per prompt; advantages are normalised within each group
    # Optimizer steps per rollout batch: the batch's items are split into `minibatches` parts (whole groups, a
    # fresh seeded order each epoch), trained on for `epochs` passes, one part a step; the loop's `steps` count
    # optimizer steps, so a stage runs steps / (minibatches x epochs) rollout iterations. 1 and 1: a rollout a step.
    minibatches: int = 1
    epochs: int = 1
    # The members of a group are noised with the same training time and noise (common random numbers): where their
    # samples agree (an edit's kept background, say) the group's zero-sum advantage weights then cancel, leaving
    # the signal of where they differ; independent draws add a zero-mean noise there that Adam turns into drift.
    shared_noise: bool = True
    # Train the guided velocity (every guidance branch of the policy, combined with the rollouts' scales) rather
    # than the conditional branch alone: the policy trained is then the sampler that made the rollouts. Off
    # (DiffusionNFT's CFG-free training), a change to the conditional branch reaches the guided sampler `guidance`
    # times over. 2-3x the loss's compute on a base model; no effect on a mobile (unguided) one.
    train_guided: bool = False
    rollout_steps: int = 10  # Euler steps of the sampling that makes the training samples
    # dtype of the rollout network (a copy of the old policy): bfloat16 samples ~2x faster on CPUs with AVX-512
    # BF16 or AMX; the losses always run in float32
    rollout_dtype: str = "float32"
    guidance: float | None = None  # text guidance of the rollouts; null: the variant's default (base 3.5)
    image_guidance: float | None = None  # edit image guidance of the rollouts; null: the default (1.5)
    beta: float = 1.0  # NFT: v+ = beta v + (1 - beta) v_old, v- = (1 + beta) v_old - beta v
    adv_clip: float = 2.0  # NFT: r = clip(A / adv_clip, -1, 1) / 2 + 1/2; AWM: weights clip(A, -adv_clip, adv_clip)
    kl: float = 0.0  # weight of ||v - v_old||^2, a drift penalty toward the old policy
    # weight of ||v - v_ref||^2 with v_ref the stage's starting model (Flow-GRPO's KL to the reference, which for
    # two flow policies at one time is this up to a factor): the old policy moves with the weights, this does not
    kl_reference: float = 0.0
    old_decay: float = 0.5  # the old policy is an EMA of the weights whose decay ramps from 0 to this ...
    old_decay_ramp: int = 50  # ... linearly over this many rollout iterations (it is updated once an iteration)
    min_group_std: float = 0.02  # groups whose rewards spread less than this carry no signal and are not trained
    rewards: list[RewardSpec] = field(default_factory=lambda: [RewardSpec()])
    held_out: HeldOutSpec = field(default_factory=HeldOutSpec)

    def check(self, where: str, batch: int) -> None:
        from ..config import RecipeError

        if self.algorithm not in ALGORITHMS:
            raise RecipeError(f"{where}.rl.algorithm: expected one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}")
        if self.group < 2:
            raise RecipeError(f"{where}.rl.group: needs at least 2 samples per prompt to compare them")
        if self.minibatches < 1 or self.epochs < 1:
            raise RecipeError(f"{where}.rl: minibatches and epochs must be >= 1")
        if batch % self.minibatches:
            raise RecipeError(f"{where}.rl.minibatches: {self.minibatches} does not divide batch {batch} (items)")
        if self.rollout_steps < 1 or self.adv_clip <= 0 or min(self.kl, self.kl_reference) < 0 or \
                not 0 <= self.old_decay < 1:
            raise RecipeError(f"{where}.rl: rollout_steps >= 1, adv_clip > 0, kl and kl_reference >= 0 and "
                              "0 <= old_decay < 1")
        if self.rollout_dtype not in ("float32", "bfloat16", "float16"):
            raise RecipeError(f"{where}.rl.rollout_dtype: expected float32, bfloat16 or float16")
        if not self.rewards:
            raise RecipeError(f"{where}.rl.rewards: name at least one reward")
        if self.held_out.every < 0 or self.held_out.per_category < 1:
            raise RecipeError(f"{where}.rl.held_out: every >= 0 and per_category >= 1")
        if self.held_out.split_seed == 0:
            raise RecipeError(f"{where}.rl.held_out.split_seed: 0 is the public eval split; use another seed")
