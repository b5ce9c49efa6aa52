"""Shape classification by analysis-by-synthesis on a soft coverage map.

For each candidate shape and peak coverage (amplitude), the coverage map's area fixes the shape's size, its
centroid fixes the position and its spread (second moment) beyond what that shape of that size has fixes a
Gaussian blur; the candidate is rendered with exactly that size, position, blur and amplitude, and the one
that leaves the smallest residual wins.
Area, centroid and spread are all unchanged or predictably changed by blur, JPEG and small shifts, so this
holds up where bounding boxes and thresholded masks lose corners and tips.
"""

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy import ndimage

from .palette import SHAPES
from .render import outline_stroke_px, shape_coverage, shape_sdf

MAX_MISFIT = 0.25  # beyond-slack |coverage - best model| / area; above it the blob is no shape of ours
RESIDUAL_SLACK = 0.1  # per-pixel differences below this (noise, JPEG ringing) do not count as misfit
MAX_BLUR = 2.5  # pixels; a wrong shape must not explain itself away as a very blurred right one
HOLLOW_COVERAGE = 0.7  # mean coverage deep inside the fitted shape below this means an outline
AMPLITUDES = (1.0, 0.85, 0.7)  # peak coverage tried: a model's washed-out colour covers less than its area
_PIXEL_VARIANCE = 1.0 / 6.0  # a pixel's box spreads the second moment by 1/12 along each axis


@dataclass(frozen=True)
class ShapeFit:
    """Best shape for a coverage map; centre and size (bounding box side) in pixels of the map."""

    shape: str | None
    px: float
    py: float
    size: float
    blur: float
    amplitude: float  # peak coverage of the fitted model
    residual: float
    hollow: bool


@lru_cache(maxsize=1)
def shape_moments() -> dict[str, tuple[float, float, float]]:
    """Per shape, for side 1: area, mean squared distance from the centroid, centroid offset below the box centre."""
    half, n = 100.0, 220
    ys, xs = np.mgrid[0:n, 0:n] + 0.5
    out = {}
    for shape in SHAPES:
        a = shape_coverage(shape, n / 2, n / 2, half, (0, n, 0, n), ss=2)
        area = a.sum()
        cx, cy = (a * xs).sum() / area, (a * ys).sum() / area
        m2 = (a * ((xs - cx) ** 2 + (ys - cy) ** 2)).sum() / area - _PIXEL_VARIANCE
        side = 2 * half
        out[shape] = (area / side**2, m2 / side**2, (cy - n / 2) / side)
    return out


def _render(shape: str, px: float, py: float, size: float, blur: float, grid) -> np.ndarray:
    """Coverage of a candidate shape over the map's pixel grid (ys, xs of pixel centres).

    One SDF sample per pixel, ramped over one pixel: exact on axis-aligned edges, close elsewhere, and a
    quarter of the work of supersampling.
    """
    ys, xs = grid
    half = size / 2
    model = np.clip(0.5 - shape_sdf(shape, (xs - px) / half, (ys - py) / half) * half, 0.0, 1.0)
    if blur > 0.3:
        model = ndimage.gaussian_filter(model, blur, mode="constant")
    return model


def _hollow(shape: str, px: float, py: float, size: float, raw: np.ndarray, grid) -> bool:
    """Whether the region well inside the fitted shape (deeper than an outline's stroke) is mostly empty."""
    half, (ys, xs) = size / 2, grid
    depth = -shape_sdf(shape, (xs - px) / half, (ys - py) / half) * half
    interior = depth > outline_stroke_px(size) + 0.5
    if interior.sum() == 0:
        return False
    return bool(raw[interior].mean() < HOLLOW_COVERAGE)


def fit_shape(filled: np.ndarray, raw: np.ndarray) -> ShapeFit:
    """Fit every shape to `filled` (coverage with holes filled); `raw` (holes kept) decides outline vs fill."""
    area = float(filled.sum())
    ys, xs = np.mgrid[0: filled.shape[0], 0: filled.shape[1]] + 0.5
    cx, cy = (filled * xs).sum() / area, (filled * ys).sum() / area
    m2 = (filled * ((xs - cx) ** 2 + (ys - cy) ** 2)).sum() / area - _PIXEL_VARIANCE
    best, best_model = None, None
    for amplitude in AMPLITUDES:
        for shape, (k_area, k_m2, k_dy) in shape_moments().items():
            size = np.sqrt(area / amplitude / k_area)
            blur = min(MAX_BLUR, float(np.sqrt(max(0.0, (m2 - k_m2 * size**2) / 2))))
            py = cy - k_dy * size
            model = amplitude * _render(shape, cx, py, size, blur, (ys, xs))
            # Plain L1 picks the shape: under blur, small differences are what tells a diamond from a circle.
            residual = float(np.abs(filled - model).sum() / area)
            if best is None or residual < best.residual:
                best = ShapeFit(shape, float(cx), float(py), float(size), blur, amplitude, residual, False)
                best_model = model
    # Only differences beyond the slack (noise, JPEG ringing) decide whether the best fit is a shape at all.
    misfit = float(np.maximum(np.abs(filled - best_model) - RESIDUAL_SLACK, 0.0).sum() / area)
    hollow = _hollow(best.shape, best.px, best.py, best.size, raw / best.amplitude, (ys, xs))
    name = best.shape if misfit <= MAX_MISFIT else None
    return replace(best, shape=name, hollow=hollow)
