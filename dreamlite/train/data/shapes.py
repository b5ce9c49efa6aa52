"""ShapesWorld as a training source: a thin adapter over `dreamlite.shapes.dataset.ShapesStream`.

One recipe source serves both tasks; each task reads its own endless stream (a seed of its own, the other task's
weight set to 0), so a stage's T2I and edit positions advance independently. Item k of a stream depends on
(seed, k) only, which is all the batch plan needs. With `items: N` a source is the finite pool of the first N
items instead, walked in seeded epochs like a file dataset, so that the latent/embedding cache can cover it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from PIL import Image

from ..config import RecipeError
from .base import Source, stable_seed


@dataclass
class ShapesSpec:
    size: int = 64  # rendered image side in pixels (scenes are resolution-free)
    seed: int | None = None  # null: the recipe's seed
    categories: dict[str, float] | None = None  # per-category weights (generation and edit categories); default 1
    items: int | None = None  # null: endless; N: a finite pool of the first N items, walked in epochs (cacheable)
    # Skip items whose prompt (generation) or instruction and spec (editing) occur in the public ShapesBench
    # eval split, so that RL prompts never include an item it is scored on.
    exclude_eval: bool = False

    tasks = ("t2i", "edit")

    def check(self, where: str) -> None:
        from ...shapes.dataset import TASK_CATEGORIES

        known = {c for categories in TASK_CATEGORIES.values() for c in categories}
        unknown = sorted(set(self.categories or {}) - known)
        if unknown:
            raise RecipeError(f"{where}.categories: unknown category {unknown[0]!r}; known: {', '.join(sorted(known))}")
        if self.size < 16:
            raise RecipeError(f"{where}.size: must be >= 16")
        if self.items is not None and self.items < 1:
            raise RecipeError(f"{where}.items: must be >= 1 or null")


class ShapesSource(Source):
    def __init__(self, spec: ShapesSpec, task: str, seed: int):
        from ...shapes.dataset import ShapesStream

        self.spec, self.task = spec, task
        self.name = "shapes"
        self.native_size = (spec.size, spec.size)
        self.finite = spec.items is not None
        weights = {t: float(t == task) for t in ("t2i", "edit")}
        self.stream = ShapesStream(seed=stable_seed(seed, "shapes", task), size=spec.size, task_weights=weights,
                                   category_weights=spec.categories, format="numpy")

    def item(self, index: int) -> dict:
        made = self.stream.item(index)
        if self.spec.exclude_eval:  # the next candidate of this index's own sequence: still a function of index
            attempt = 1
            while _in_eval_split(self.task, made):
                made = self.stream.item(index + attempt * EXCLUDED_STRIDE)
                attempt += 1
        source = made["source"]
        return {"prompt": made["prompt"], "target": Image.fromarray(made["target"]),
                "source": None if source is None else Image.fromarray(source), "category": made["category"],
                "spec": made["spec"]}

    def __len__(self) -> int:
        return self.spec.items

    def size(self, index: int) -> tuple[int, int]:
        return self.native_size

    def fingerprint(self) -> str:
        return stable_seed("shapes", self.stream.seed, self.spec.size, sorted((self.spec.categories or {}).items()),
                           self.task, self.spec.items, *(["exclude_eval"] if self.spec.exclude_eval else []))


EXCLUDED_STRIDE = 1 << 40  # an excluded item k is replaced by item k + stride of the same stream (then + 2 stride...)


@functools.cache
def eval_split_keys() -> frozenset:
    """(task, prompt[, spec]) of every item of the public ShapesBench eval split (no images are rendered)."""
    from ...shapes.layout import iter_split

    keys = set()
    for task, _, _, item in iter_split():
        keys.add(("t2i", item.prompt) if task == "generation" else ("edit", item.prompt, _spec_key(item.spec)))
    return frozenset(keys)


def _spec_key(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True)


def _in_eval_split(task: str, made: dict) -> bool:
    key = ("t2i", made["prompt"]) if task == "t2i" else ("edit", made["prompt"], _spec_key(made["spec"]))
    return key in eval_split_keys()


def build(spec: ShapesSpec, task: str, seed: int) -> ShapesSource:
    return ShapesSource(spec, task, seed if spec.seed is None else spec.seed)


def shapes_corpus(count: int, seed: int = 0) -> list[str]:
    """Captions and instructions of `count` items per task: the vocabulary a ShapesWorld tokenizer needs."""
    texts = []
    for task in ("t2i", "edit"):
        source = ShapesSource(ShapesSpec(), task, seed)
        texts += [source.stream.item(k)["prompt"] for k in range(count)]
    return texts
