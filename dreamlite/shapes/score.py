"""ShapesBench scoring: judge images from their pixels, per item, then per category and overall.

Scores are pass rates.  A task's `overall` is the mean of its categories (so each category weighs the same,
as in GenEval); the top-level `overall` is the mean of the tasks present.  For editing the summary also holds
two diagnostics beside the pass rates, not part of `overall`, per category over the items that have any:
`editing_kept`, the mean share of the source objects an edit should leave alone that it kept, and
`editing_applied`, the mean share of the instruction's changes the output shows (judge.py).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .detect import find_objects
from .judge import Verdict, judge_edit, judge_generation
from .layout import TASKS, ShapesError, first_per_category, read_index


SHARES = ("applied", "kept")  # per-item editing diagnostics, averaged per category beside the pass rates


@dataclass(frozen=True)
class ItemScore:
    id: str
    task: str
    category: str
    passed: bool
    reason: str
    kept: float | None = None  # editing: share of untouched source objects still in the output
    applied: float | None = None  # editing: share of the instruction's changes the output shows


def load_rgb(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def score_generation(image: np.ndarray, spec: dict) -> Verdict:
    """Judge a generated image (H x W x 3 uint8) against a generation spec."""
    return judge_generation(spec, find_objects(image)[1])


def score_edit(source: np.ndarray, image: np.ndarray, spec: dict) -> Verdict:
    """Judge an edited image against its source image and an editing spec."""
    return judge_edit(spec, find_objects(source), find_objects(image))


def score_record(record: dict, root: Path, transform=None) -> ItemScore:
    """Score one record; `transform` (array -> array), if given, is applied to the image first (not the source)."""
    image = load_rgb(root / record["image"])
    if transform is not None:
        image = transform(image)
    if record["task"] == "generation":
        verdict = score_generation(image, record["spec"])
    else:
        verdict = score_edit(load_rgb(root / record["source"]), image, record["spec"])
    return ItemScore(record["id"], record["task"], record["category"], verdict.passed, verdict.reason, verdict.kept,
                     verdict.applied)


def check_images(records: list[dict], root: Path) -> None:
    """Fail early, with one message, if any image the records point at is missing."""
    paths = [r["image"] for r in records] + [r["source"] for r in records if r["task"] == "editing"]
    missing = [p for p in paths if not (root / p).is_file()]
    if missing:
        raise ShapesError(f"{len(missing)} image(s) listed in {root / 'index.jsonl'} are missing, first: {missing[0]}")


def score_dir(root, progress: bool = False, transform=None, limit: int | None = None) -> list[ItemScore]:
    """Score every item of a split folder (see layout.py) from the images at its `image` paths.

    `transform` is applied to each scored image first; robustness checks pass damage functions here.
    `limit`: only the first N items of each category (as `evaluate_model(limit=N)` samples them).
    """
    root = Path(root)
    records = read_index(root)
    if limit:
        records = first_per_category(records, limit)
    check_images(records, root)
    if progress:
        from tqdm import tqdm

        records = tqdm(records, desc="scoring", unit="item")
    return [_score_checked(r, root, transform) for r in records]


def _score_checked(record: dict, root: Path, transform) -> ItemScore:
    try:
        return score_record(record, root, transform)
    except (KeyError, TypeError, IndexError) as err:
        raise ShapesError(f"item {record['id']}: malformed spec ({type(err).__name__}: {err})") from None
    except OSError as err:
        raise ShapesError(f"item {record['id']}: cannot read image ({err})") from None


def summarize(scores: list[ItemScore]) -> dict:
    """{"generation": {"overall": x, category: x, ...}, "editing": {...}, "overall": x}; absent tasks are left out."""
    summary = {}
    for task, categories in TASKS.items():
        per = {c: [s.passed for s in scores if s.task == task and s.category == c] for c in categories}
        per = {c: float(np.mean(v)) for c, v in per.items() if v}
        if per:
            summary[task] = {"overall": float(np.mean(list(per.values()))), **per}
    for share in SHARES:
        per = {c: [getattr(s, share) for s in scores if s.task == "editing" and s.category == c
                   and getattr(s, share) is not None] for c in TASKS["editing"]}
        per = {c: float(np.mean(v)) for c, v in per.items() if v}
        if per:
            summary[f"editing_{share}"] = {"overall": float(np.mean(list(per.values()))), **per}
    summary["overall"] = float(np.mean([summary[t]["overall"] for t in TASKS if t in summary] or [0.0]))
    return summary


def format_table(summary: dict, scores: list[ItemScore] | None = None) -> str:
    """A Markdown table of the summary, with item counts when the scores are given."""
    shares = {k: summary.get(f"editing_{k}", {}) for k in SHARES}
    lines = ["| task | category | score | applied | kept | items |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for task in TASKS:
        if task not in summary:
            continue
        for category, value in summary[task].items():
            n = sum(s.task == task and (category == "overall" or s.category == category) for s in scores or [])
            name = f"**{category}**" if category == "overall" else category
            cells = [f"{shares[k][category]:.3f}" if task == "editing" and category in shares[k] else "" for k in SHARES]
            lines.append(f"| {task} | {name} | {value:.3f} | {' | '.join(cells)} | {n if scores else ''} |")
    lines.append(f"| **all** | **overall** | {summary['overall']:.3f} | | | {len(scores) if scores else ''} |")
    if any(shares.values()):
        lines.append("\napplied: share of the instruction's changes the output shows; kept: share of the source objects "
                     "an edit should leave alone that the output still holds.")
    return "\n".join(lines)
