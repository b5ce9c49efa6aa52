"""Aspect-ratio buckets: every item trains at the bucket whose aspect ratio is nearest its own (then is resized
to cover it and centre-cropped), so wide and tall images are not squashed into squares and a batch shares one
size. Typical buckets keep about the same pixel count: 1024x1024, 896x1152, 1152x896, 768x1344, ..."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .base import Source, stable_seed


def nearest_bucket(width: int, height: int, sizes: list[tuple[int, int]]) -> int:
    ratio = math.log(width / height)
    return min(range(len(sizes)), key=lambda i: (abs(ratio - math.log(sizes[i][0] / sizes[i][1])), i))


def bucket_items(source: Source, sizes: list[tuple[int, int]], cache: Path | None = None) -> dict[int, np.ndarray]:
    """bucket -> item indices. With one bucket nothing is read; an endless source has one native size.

    Otherwise every item's size is read once (from manifest fields when present, else image headers) and the
    assignment is kept in `cache`, since reading millions of headers is slow.
    """
    if not source.finite:
        width, height = getattr(source, "native_size", sizes[0])
        return {nearest_bucket(width, height, sizes): np.zeros(0, dtype=np.int64)}
    if len(sizes) == 1:
        return {0: np.arange(len(source), dtype=np.int64)}
    path = None if cache is None else Path(cache) / f"buckets-{stable_seed(source.fingerprint(), sizes)}.npy"
    if path is not None and path.is_file():
        assignment = np.load(path)
    else:
        assignment = np.array([nearest_bucket(*source.size(i), sizes) for i in range(len(source))], dtype=np.int16)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
            with open(tmp, "wb") as f:
                np.save(f, assignment)
            os.replace(tmp, path)
    return {b: np.flatnonzero(assignment == b) for b in range(len(sizes)) if (assignment == b).any()}
