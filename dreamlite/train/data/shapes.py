"""ShapesWorld as a training source: a thin adapter over `dreamlite.shapes.dataset.ShapesStream`.

One recipe source serves both tasks; each task reads its own endless stream (a seed of its own, the other task's
weight set to 0), so a stage's T2I and edit positions advance independently. Item k of a stream depends on
(seed, k) only, which is all the batch plan needs. With `items: N` a source is the finite pool of the first N
items instead, walked in seeded epochs like a file dataset, so that the latent/embedding cache can cover it.
"""

from __future__ import annotations

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
        source = made["source"]
        return {"prompt": made["prompt"], "target": Image.fromarray(made["target"]),
                "source": None if source is None else Image.fromarray(source), "category": made["category"]}

    def __len__(self) -> int:
        return self.spec.items

    def size(self, index: int) -> tuple[int, int]:
        return self.native_size

    def fingerprint(self) -> str:
        return stable_seed("shapes", self.stream.seed, self.spec.size, sorted((self.spec.categories or {}).items()),
                           self.task, self.spec.items)


def build(spec: ShapesSpec, task: str, seed: int) -> ShapesSource:
    return ShapesSource(spec, task, seed if spec.seed is None else spec.seed)


def shapes_corpus(count: int, seed: int = 0) -> list[str]:
    """Captions and instructions of `count` items per task: the vocabulary a ShapesWorld tokenizer needs."""
    texts = []
    for task in ("t2i", "edit"):
        source = ShapesSource(ShapesSpec(), task, seed)
        texts += [source.stream.item(k)["prompt"] for k in range(count)]
    return texts
