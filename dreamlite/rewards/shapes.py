"""ShapesBench as a reward: the exact pixel judge of `dreamlite.shapes`, with partial credit.

Pass/fail alone gives most groups no signal (all fail or all pass), so the reward adds shares of the verdict:
generation: w_pass * passed + (1 - w_pass) * share of the spec's checks met (each `include` counts
min(found / count, 1), each `exclude` and the `relation` 1 or 0).
editing: w_pass * passed + (1 - w_pass) * (applied + kept) / 2, with `applied` the share of the instruction's
changes the output shows and `kept` the share of the untouched source objects still there (judge.py), so an edit
that ignores the source to satisfy the instruction loses what `kept` gave it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..shapes.detect import find_objects
from ..shapes.judge import _holds, _matches, judge_edit, judge_generation
from .base import as_arrays


def generation_checks(spec: dict, detections) -> float:
    """Share of the generation spec's checks met (partial credit for counts)."""
    scores, groups = [], []
    for req in spec["include"]:
        found = [d for d in detections if _matches(d, req["shape"], req.get("color"))]
        scores.append(min(len(found) / req["count"], 1.0))
        groups.append(found)
    for req in spec.get("exclude", []):
        found = [d for d in detections if _matches(d, req["shape"], req.get("color"))]
        scores.append(float(len(found) < req["count"]))
    rel = spec.get("relation")
    if rel:
        scores.append(float(any(_holds(rel["relation"], a, b) for a in groups[rel["a"]] for b in groups[rel["b"]])))
    return float(np.mean(scores)) if scores else 0.0


class ShapesBenchReward:
    """Needs `items` in the call's context: each with `spec`, and for edits the source image in `sources`."""

    def __init__(self, pass_weight: float = 0.5):
        if not 0 <= pass_weight <= 1:
            raise ValueError(f"pass_weight must be in [0, 1], got {pass_weight}")
        self.pass_weight = pass_weight
        self.components: dict[str, torch.Tensor] = {}

    def score(self, image: np.ndarray, item: dict, source: np.ndarray | None) -> tuple[float, float, float | None]:
        """(reward, passed, kept) of one sample; kept is None for generation or when nothing is to be kept."""
        w = self.pass_weight
        if source is None:
            detections = find_objects(image)[1]
            verdict = judge_generation(item["spec"], detections)
            return w * verdict.passed + (1 - w) * generation_checks(item["spec"], detections), verdict.passed, None
        verdict = judge_edit(item["spec"], find_objects(source), find_objects(image))
        applied = verdict.applied if verdict.applied is not None else float(verdict.passed)
        kept = verdict.kept if verdict.kept is not None else 1.0
        return w * verdict.passed + (1 - w) * (applied + kept) / 2, verdict.passed, verdict.kept

    def __call__(self, images, prompts, sources=None, items=None, **context) -> torch.Tensor:
        if items is None:
            raise ValueError("the shapes reward needs each sample's ShapesBench item (its spec) in `items`")
        images = as_arrays(images)
        sources = [None] * len(images) if sources is None else sources
        sources = [None if s is None else as_arrays([s])[0] for s in sources]
        rows = [self.score(image, item, source) for image, item, source in zip(images, items, sources)]
        self.components = {"passed": torch.tensor([r[1] for r in rows], dtype=torch.float32),
                           "kept": torch.tensor([np.nan if r[2] is None else r[2] for r in rows])}
        return torch.tensor([r[0] for r in rows], dtype=torch.float32)
