"""GenEval's rule engine on detections, re-implemented as pure functions (Ghosh et al. 2023, evaluate_images.py).

A detection is a box (x1, y1, x2, y2) in pixels, a confidence and an optional boolean mask. Per class, detections
above the confidence threshold (0.3; 0.9 for the counting task) are kept, most confident first, at most 16.
An image is correct when every `include` clause holds (AND) and no `exclude` clause does (OR):
- include {class, count}: at least `count` detections of the class; only the `count` most confident are checked
  further;
- with `color`: at least `count` of those are classified as that colour (CLIP on the masked crop, clip.py);
- with `position` [relation, group]: each of them stands in `relation` to every object of the earlier clause
  `group` ("left of", "right of", "above", "below": box centres, with a margin of 0.1 x the boxes' summed sizes);
- exclude {class, count}: fewer than `count` detections of the class.
The score of a task is its fraction of correct images; overall is the mean over the tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    mask: np.ndarray | None = None  # (H, W) bool, the image's size


@dataclass(frozen=True)
class GenEvalRules:
    threshold: float = 0.3
    counting_threshold: float = 0.9
    max_objects: int = 16
    max_overlap: float = 1.0  # IoU above which a less confident box of the same class is dropped (1: never)
    position_margin: float = 0.1


ColourFn = Callable[[str, Sequence[Detection]], list[str]]


def box_iou(a, b) -> float:
    """IoU with GenEval's inclusive-pixel areas (+1)."""
    def area(box):
        return max(box[2] - box[0] + 1, 0) * max(box[3] - box[1] + 1, 0)
    inter = area([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])])
    union = area(a) + area(b) - inter
    return inter / union if union else 0.0


def keep_detections(raw: dict[str, list[Detection]], tag: str,
                    rules: GenEvalRules = GenEvalRules()) -> dict[str, list[Detection]]:
    """Per class: above the task's threshold (strictly), most confident first, at most max_objects, then the
    optional overlap suppression. Classes left without detections are dropped."""
    threshold = rules.counting_threshold if tag == "counting" else rules.threshold
    kept = {}
    for name, detections in raw.items():
        ordered = sorted((d for d in detections if d.score > threshold), key=lambda d: -d.score)
        ordered = ordered[:rules.max_objects]
        chosen = []
        while ordered:
            best = ordered.pop(0)
            chosen.append(best)
            if rules.max_overlap < 1:
                ordered = [d for d in ordered if box_iou(best.box, d.box) < rules.max_overlap]
        if chosen:
            kept[name] = chosen
    return kept


def relative_position(a: Detection, b: Detection, margin: float = 0.1) -> set[str]:
    """Relations of A to B: the centre offset, shrunk by margin x (size A + size B) per axis, then read off the
    unit direction (a component beyond 0.5 of the offset's length counts)."""
    boxes = np.array([a.box, b.box], dtype=np.float64).reshape(2, 2, 2)
    centre_a, centre_b = boxes.mean(axis=1)
    size_a, size_b = np.abs(boxes[:, 1] - boxes[:, 0])
    offset = centre_a - centre_b
    revised = np.maximum(np.abs(offset) - margin * (size_a + size_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    relations = set()
    if dx < -0.5:
        relations.add("left of")
    if dx > 0.5:
        relations.add("right of")
    if dy < -0.5:
        relations.add("above")
    if dy > 0.5:
        relations.add("below")
    return relations


def evaluate(metadata: dict, detected: dict[str, list[Detection]], colour_of: ColourFn | None,
             rules: GenEvalRules = GenEvalRules()) -> tuple[bool, str]:
    """(correct, reasons) of one image's kept detections against its metadata line."""
    correct, reasons, groups = True, [], []
    for clause in metadata.get("include", []):
        name, count = clause["class"], clause["count"]
        found = detected.get(name, [])[:count]
        matched = len(found) >= count
        if not matched:
            reasons.append(f"expected {name}>={count}, found {len(found)}")
        if matched and "color" in clause:
            colours = colour_of(name, found)
            if colours.count(clause["color"]) < count:
                matched = False
                reasons.append(f"expected {clause['color']} {name}>={count}, found "
                               f"{colours.count(clause['color'])} {clause['color']} (colours: {', '.join(colours)})")
        if matched and "position" in clause:
            relation, group = clause["position"]
            target = groups[group]
            if target is None:
                matched = False
                reasons.append(f"no target for {name} to be {relation}")
            else:
                for obj in found:
                    bad = [t for t in target if relation not in relative_position(obj, t, rules.position_margin)]
                    if bad:
                        found_rel = relative_position(obj, bad[0], rules.position_margin)
                        matched = False
                        reasons.append(f"expected {name} {relation} target, found "
                                       f"{' and '.join(sorted(found_rel)) or 'no relation to'} target")
                        break
        correct &= matched
        groups.append(found if matched else None)
    for clause in metadata.get("exclude", []):
        name, count = clause["class"], clause["count"]
        if len(detected.get(name, [])) >= count:
            correct = False
            reasons.append(f"expected {name}<{count}, found {len(detected[name])}")
    return correct, "\n".join(reasons)


def summarize(results: Sequence[dict]) -> dict:
    """Per task: fraction of correct images, and counts; overall: the mean over the tasks present (GenEval's
    "Overall score (avg. over tasks)"); also the fractions of correct images and of prompts with one correct."""
    tasks = {}
    for r in results:
        tasks.setdefault(r["tag"], []).append(bool(r["correct"]))
    per_task = {tag: {"score": float(np.mean(v)), "correct": int(sum(v)), "images": len(v)}
                for tag, v in tasks.items()}
    prompts = {}
    for r in results:
        prompts.setdefault(r["prompt_index"], []).append(bool(r["correct"]))
    return {
        "overall": float(np.mean([t["score"] for t in per_task.values()])) if per_task else 0.0,
        "tasks": per_task,
        "images": len(results),
        "prompts": len(prompts),
        "correct_images": float(np.mean([r["correct"] for r in results])) if results else 0.0,
        "correct_prompts": float(np.mean([any(v) for v in prompts.values()])) if prompts else 0.0,
    }
