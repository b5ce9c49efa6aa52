"""Step and guidance distillation as a stage of the one trainer loop (kind `distill`): a guided base teacher
into a 4-step unguided student, saved as a mobile pipeline."""

from .config import METHODS, DistillSpec

__all__ = ["METHODS", "DistillSpec"]
