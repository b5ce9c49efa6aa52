"""Aspect-ratio buckets: every item trains at the bucket whose aspect ratio is nearest its own (then is resized
to cover it and centre-cropped), so wide and tall images are not squashed into squares and a batch shares one
size. Typical buckets keep about the same pixel count: 1024x1024, 896x1152, 1152x896, 768x1344, ..."""

from __future__ import annotations

import math

import numpy as np

from .base import Source


def nearest_bucket(width: int, height: int, sizes: list[tuple[int, int]]) -> int:
    ratio = math.log(width / height)
    return min(range(len(sizes)), key=lambda i: (abs(ratio - math.log(sizes[i][0] / sizes[i][1])), i))


def bucket_items(source: Source, sizes: list[tuple[int, int]]) -> dict[int, np.ndarray]:
    """bucket -> item indices. With one bucket nothing is read; an endless source has one native size."""
    if not source.finite:
        width, height = getattr(source, "native_size", sizes[0])
        return {nearest_bucket(width, height, sizes): np.zeros(0, dtype=np.int64)}
    if len(sizes) == 1:
        return {0: np.arange(len(source), dtype=np.int64)}
    assignment = np.array([nearest_bucket(*source.size(i), sizes) for i in range(len(source))])
    return {b: np.flatnonzero(assignment == b) for b in range(len(sizes)) if (assignment == b).any()}
