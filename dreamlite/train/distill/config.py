"""What a `distill` stage of a recipe may set (stage field `distill:`), with commented defaults."""

from __future__ import annotations

from dataclasses import dataclass

METHODS = ("trajectory", "reflow")
REFLOW_TIMES = ("timesteps", "student")


@dataclass
class DistillSpec:
    # trajectory: the student's one Euler step from each of its 4 sigmas lands where the guided teacher's ODE
    # trajectory is at the next one (one-phase progressive / guidance distillation, as TRACT). reflow:
    # rectified-flow reflow (Liu et al. 2022; InstaFlow) on the teacher's (noise, clean sample) pairs.
    method: str = "trajectory"
    pool: int = 2048  # teacher samples, made once (before the first step) and drawn from at every step
    chunk: int = 64  # pool samples per file in OUT/cache/distill/<stage>/ and per teacher batch
    # Euler steps of the teacher (the base pipeline's default), rounded up to a multiple of the student's 4 steps
    # so that the student's sigmas lie on the teacher's grid.
    teacher_steps: int = 28
    guidance: float | None = None  # the teacher's text guidance; null: the base pipeline's default (3.5)
    image_guidance: float | None = None  # the teacher's image guidance for edits; null: the base default (1.5)
    # reflow only: where on the straight path a sample is trained: "timesteps" draws t like the flow-matching
    # stages (the stage's `timesteps`), "student" takes one of the student's 4 sigmas.
    reflow_times: str = "timesteps"

    def check(self, where: str, sizes: list[tuple[int, int]]) -> None:
        from ..config import RecipeError

        if self.method not in METHODS:
            raise RecipeError(f"{where}.distill.method: expected one of {', '.join(METHODS)}, got {self.method!r}")
        if self.pool < 1 or self.chunk < 1:
            raise RecipeError(f"{where}.distill: pool and chunk must be >= 1")
        if self.teacher_steps < 1:
            raise RecipeError(f"{where}.distill.teacher_steps: must be >= 1")
        for name in ("guidance", "image_guidance"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise RecipeError(f"{where}.distill.{name}: must be > 0 or null (the base pipeline's default)")
        if self.reflow_times not in REFLOW_TIMES:
            raise RecipeError(f"{where}.distill.reflow_times: expected one of {', '.join(REFLOW_TIMES)}, "
                              f"got {self.reflow_times!r}")
        if len(sizes) != 1:
            raise RecipeError(f"{where}: a distill stage trains at one size (its pool is sampled there); give "
                              f"`resolution` or a single bucket, not {len(sizes)}")
