"""Training data: an endless, seeded, sharded stream of ShapesWorld text-to-image pairs and editing triplets.

Each item is a dict:
    task      "t2i" or "edit"
    category  a generation category (t2i) or an editing category (edit), see generation.py / edits.py
    prompt    the caption (t2i) or the instruction (edit), plain English
    target    the image to produce: uint8 H x W x 3 numpy array (format="numpy")
              or float32 tensor 3 x H x W in [-1, 1] (format="tensor")
    source    edit: the image to edit, same format as target; t2i: None
    spec      what ShapesBench's scorer checks the item by (as in a split's index.jsonl)
    index     the item's position in the global stream

Determinism and sharding: item k of the global stream depends on (seed, k) only, never on how the stream
is split.  Rank r of `world_size` takes k = r + world_size * j for j = 0, 1, 2, ...  Inside a DataLoader,
worker w of n takes that rank's items in blocks of `block`: j with (j // block) % n == w.  With block equal
to the batch size, the DataLoader's round robin over workers hands the rank its items in order j = 0, 1,
2, ..., so `start_index` = the number of items the rank has consumed resumes exactly where it stopped.
The stream's seeds live apart from the eval split's ("train" versus "eval" namespaces in `item_rng`).
"""

import itertools

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .edits import CATEGORIES as EDIT_CATEGORIES
from .edits import make_edit_item
from .generation import CATEGORIES as GENERATION_CATEGORIES
from .generation import make_generation_item
from .render import DEFAULT_SIZE, render_scene
from .scene import item_rng

TASK_CATEGORIES = {"t2i": GENERATION_CATEGORIES, "edit": EDIT_CATEGORIES}


def _normalise(weights: dict[str, float], names) -> np.ndarray:
    w = np.array([float(weights.get(n, 1.0)) for n in names])
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"mixture weights must be >= 0 with a positive sum, got {dict(zip(names, w))}")
    return w / w.sum()


class ShapesStream(IterableDataset):
    """Endless ShapesWorld items; see the module docstring for the item dict and the sharding rule.

    task_weights: {"t2i": w, "edit": w}; a task left out gets weight 1, weight 0 drops it.
    category_weights: {category: w} over both tasks' categories; left out gets 1, 0 drops it.
    """

    def __init__(self, seed: int = 0, size: int = DEFAULT_SIZE, task_weights: dict | None = None,
                 category_weights: dict | None = None, rank: int = 0, world_size: int = 1,
                 start_index: int = 0, block: int = 1, format: str = "tensor"):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank={rank}, world_size={world_size}")
        if format not in ("tensor", "numpy"):
            raise ValueError(f"format must be 'tensor' or 'numpy', got {format!r}")
        if start_index < 0 or block < 1 or size < 16:
            raise ValueError("need start_index >= 0, block >= 1 and size >= 16")
        unknown = set(category_weights or {}) - set(GENERATION_CATEGORIES) - set(EDIT_CATEGORIES)
        unknown |= set(task_weights or {}) - set(TASK_CATEGORIES)
        if unknown:
            raise ValueError(f"unknown task or category in mixture weights: {', '.join(sorted(unknown))}")
        self.seed, self.size, self.format = seed, size, format
        self.rank, self.world_size, self.start_index, self.block = rank, world_size, start_index, block
        self.tasks = tuple(TASK_CATEGORIES)
        self.task_p = _normalise(task_weights or {}, self.tasks)
        self.category_p = {t: _normalise(category_weights or {}, TASK_CATEGORIES[t])
                           for t, p in zip(self.tasks, self.task_p) if p > 0}

    def item(self, k: int) -> dict:
        """Item k of the global stream."""
        rng = item_rng(self.seed, "train", k)
        task = self.tasks[rng.choice(len(self.tasks), p=self.task_p)]
        categories = TASK_CATEGORIES[task]
        category = categories[rng.choice(len(categories), p=self.category_p[task])]
        if task == "t2i":
            made = make_generation_item(rng, category)
            target, source = render_scene(made.scene, self.size), None
        else:
            made = make_edit_item(rng, category)
            target, source = render_scene(made.target, self.size), render_scene(made.source, self.size)
        return {"task": task, "category": category, "prompt": made.prompt, "target": self._convert(target),
                "source": None if source is None else self._convert(source), "spec": made.spec, "index": k}

    def _convert(self, image: np.ndarray):
        if self.format == "numpy":
            return image
        return torch.from_numpy(image).permute(2, 0, 1).float().div(127.5).sub(1.0)

    def rank_positions(self):
        """Positions j in this rank's stream that this worker yields, from start_index on, forever."""
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for m in itertools.count():
            if (m // self.block) % workers == worker:
                yield self.start_index + m

    def __iter__(self):
        for j in self.rank_positions():
            yield self.item(self.rank + self.world_size * j)


def collate_shapes(batch: list[dict], blank: float = 0.0) -> dict:
    """Stack a batch of tensor-format items; a t2i item's missing source is filled with `blank`.

    Returns lists for task, category and prompt, tensors for target (B x 3 x H x W), source (same) and
    has_source (B, bool), and index (B, long).
    """
    targets = torch.stack([b["target"] for b in batch])
    sources = torch.stack([b["source"] if b["source"] is not None else torch.full_like(b["target"], blank)
                           for b in batch])
    return {"task": [b["task"] for b in batch], "category": [b["category"] for b in batch],
            "prompt": [b["prompt"] for b in batch], "target": targets, "source": sources,
            "has_source": torch.tensor([b["source"] is not None for b in batch]),
            "index": torch.tensor([b["index"] for b in batch], dtype=torch.long)}
