"""Scenes: a background and a few non-overlapping objects placed one per grid cell.

Geometry is in image fractions (0..1), so one scene renders at any resolution.  Random choices go through a
`numpy.random.Generator` that callers derive from (seed, namespace, index), which is what makes every item
reproducible.
"""

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

from .palette import BACKGROUND_NAMES, CELLS, GRID, OBJECT_NAMES, SHAPES, cell_center, cell_of

# Object sizes (side of the bounding box, as a fraction of the image side): 11 to 18 px at 64 px.
MIN_SIZE, MAX_SIZE = 0.17, 0.28
# Size edits draw from these two bands so that "bigger"/"smaller" always change the size by 1.3x or more.
SMALL_SIZES, LARGE_SIZES = (0.16, 0.19), (0.25, 0.28)
# Minimum free space between two objects in neighbouring cells, so blur never merges them.
GAP = 0.05


@dataclass(frozen=True)
class ShapeObject:
    """One object: shape, colour name, bounding-box centre and side (image fractions), fill style."""

    shape: str
    color: str
    cx: float
    cy: float
    size: float
    style: str = "fill"  # "fill" or "outline"

    @property
    def cell(self) -> str:
        return cell_of(self.cx, self.cy)


@dataclass(frozen=True)
class Scene:
    """A background colour name and a tuple of objects."""

    background: str
    objects: tuple[ShapeObject, ...] = field(default_factory=tuple)

    def with_objects(self, objects) -> "Scene":
        return replace(self, objects=tuple(objects))

    def free_cells(self) -> list[str]:
        used = {o.cell for o in self.objects}
        return [c for c in CELLS if c not in used]


def jitter_bound(size: float) -> float:
    """How far an object of this size may sit from its cell centre and still leave GAP to any neighbour."""
    return max(0.0, (1.0 / GRID - size - GAP) / 2)


def place(rng: np.random.Generator, cell: str, size: float, jitter_size: float | None = None) -> tuple[float, float]:
    """A centre inside `cell`, jittered as far as an object of `jitter_size` (default `size`) allows."""
    cx, cy = cell_center(cell)
    j = jitter_bound(max(size, jitter_size or size))
    return float(cx + rng.uniform(-j, j)), float(cy + rng.uniform(-j, j))


def random_size(rng: np.random.Generator, band: tuple[float, float] = (MIN_SIZE, MAX_SIZE)) -> float:
    return float(rng.uniform(*band))


def random_object(rng, cell: str, shape: str | None = None, color: str | None = None, size: float | None = None):
    """An object in `cell`; attributes left as None are drawn at random."""
    shape = shape or str(rng.choice(SHAPES))
    color = color or str(rng.choice(OBJECT_NAMES))
    size = size if size is not None else random_size(rng)
    cx, cy = place(rng, cell, size)
    return ShapeObject(shape, color, cx, cy, size)


def random_background(rng, exclude: tuple[str, ...] = ()) -> str:
    return str(rng.choice([b for b in BACKGROUND_NAMES if b not in exclude]))


def random_cells(rng, n: int, among=CELLS) -> list[str]:
    return [str(c) for c in rng.choice(list(among), size=n, replace=False)]


def distinct_objects(rng, n: int, cells: list[str] | None = None) -> list[ShapeObject]:
    """`n` objects whose (shape, colour) pairs are all different, so each can be named without ambiguity."""
    cells = cells or random_cells(rng, n)
    pairs = [(s, c) for s in SHAPES for c in OBJECT_NAMES]
    picks = rng.choice(len(pairs), size=n, replace=False)
    return [random_object(rng, cell, *pairs[i]) for cell, i in zip(cells, picks)]


def item_rng(seed: int, namespace: str, *index: int) -> np.random.Generator:
    """Independent random stream for one item: a function of (seed, namespace, index) only."""
    tag = int.from_bytes(hashlib.sha256(namespace.encode()).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([int(seed), tag, *map(int, index)]))
