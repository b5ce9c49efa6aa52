"""What every source shares: the item contract, seeded epoch order, image preparation for a bucket."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import torch
from PIL import Image

from ...images import load_image


def stable_seed(*parts) -> int:
    """A 63-bit seed from any printable parts; the same on every machine and process (unlike `hash`)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class SingleTaskSpec:
    """Mixin for the spec of a source that serves one task, named by its `task` field (t2i or edit)."""

    @property
    def tasks(self) -> tuple[str, ...]:
        return (self.task,)

    def check(self, where: str) -> None:
        from ..config import RecipeError

        if self.task not in ("t2i", "edit"):
            raise RecipeError(f"{where}.task: expected t2i or edit, got {self.task!r}")


class Source:
    """An indexable stream of items for one task. Subclasses set `task` and implement `item`; finite ones also
    `__len__` and, for aspect-ratio buckets, `size`."""

    task: str = "t2i"
    finite: bool = True
    name: str = "source"

    def __len__(self) -> int:
        raise NotImplementedError

    def item(self, index: int) -> dict:
        """{"prompt": str, "target": PIL RGB, "source": PIL RGB (edit) or None}."""
        raise NotImplementedError

    def size(self, index: int) -> tuple[int, int]:
        """(width, height) of the target, without decoding it when the format allows."""
        target = self.item(index)["target"]
        return target.size

    def fingerprint(self) -> str:
        """Identifies the data (for cache folders); subclasses include whatever selects their items."""
        return stable_seed(type(self).__name__, self.name, self.task)

    def describe(self) -> str:
        n = f"{len(self):,} items" if self.finite else "endless"
        return f"{self.name} ({self.task}, {n})"


class EpochOrder:
    """Position -> index into `items`: a fresh seeded permutation per epoch, so that any position is reachable
    without replaying the ones before it."""

    def __init__(self, items: np.ndarray, seed: int):
        self.items = np.asarray(items, dtype=np.int64)
        self.seed = seed
        self._epoch, self._perm = None, None

    def __len__(self) -> int:
        return len(self.items)

    def __call__(self, position: int) -> int:
        epoch, offset = divmod(position, len(self.items))
        if epoch != self._epoch:
            self._perm = np.random.default_rng(stable_seed(self.seed, epoch)).permutation(len(self.items))
            self._epoch = epoch
        return int(self.items[self._perm[offset]])


def open_image(data) -> Image.Image:
    """A path, bytes or PIL image as 8-bit RGB (the same normalisation as user inputs at inference)."""
    if isinstance(data, bytes | bytearray):
        data = Image.open(io.BytesIO(data))
    return load_image(data)


def image_size(data) -> tuple[int, int]:
    """(width, height) from the header only."""
    if isinstance(data, Image.Image):
        return data.size
    with Image.open(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data) as image:
        return image.size


def fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """Resize to cover (width, height) keeping the aspect ratio, then centre-crop (no random crops or flips:
    captions say left and right, and items must stay a function of their index)."""
    if image.size == (width, height):
        return image
    scale = max(width / image.width, height / image.height)
    w, h = max(width, round(image.width * scale)), max(height, round(image.height * scale))
    image = image.resize((w, h), resample=Image.LANCZOS)
    left, top = (w - width) // 2, (h - height) // 2
    return image.crop((left, top, left + width, top + height))


def to_pixels(image: Image.Image) -> torch.Tensor:
    """RGB PIL -> (3, H, W) float32 in [-1, 1], as the pipeline feeds the VAE."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1) * 2.0 - 1.0


def check_task(task: str, tasks: tuple[str, ...], name: str) -> None:
    if task not in tasks:
        raise ValueError(f"source {name} gives {tasks} items, not {task}")
