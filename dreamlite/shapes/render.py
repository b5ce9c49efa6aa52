"""Anti-aliased rendering of a Scene to an RGB uint8 array.

Each shape is a signed distance function (negative inside) in units of the object's half-size; a pixel's
coverage is the fraction of its SS x SS subsamples inside.  Objects are composited one at a time over the
background inside their own bounding box only, so objects that are not edited keep exactly the same pixels.
"""

import numpy as np

from .palette import BACKGROUND_COLORS, OBJECT_COLORS
from .scene import Scene, ShapeObject

DEFAULT_SIZE = 64
SUPERSAMPLE = 4
# Outline stroke width as a fraction of the object's size, with a floor in pixels so it survives 64 px.
OUTLINE_WIDTH, OUTLINE_MIN_PX = 0.2, 2.0
CROSS_ARM = 0.36  # arm width of the cross, as a fraction of its size

_SQRT5 = np.sqrt(5.0)


def shape_sdf(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance (exact inside, a bound outside) for a shape inscribed in the square [-1, 1]^2, y down."""
    ax, ay = np.abs(x), np.abs(y)
    if shape == "circle":
        return np.hypot(x, y) - 1.0
    if shape == "square":
        return np.maximum(ax, ay) - 1.0
    if shape == "diamond":
        return (ax + ay - 1.0) / np.sqrt(2.0)
    if shape == "triangle":  # apex at the top centre, base along the bottom edge
        return np.maximum(y - 1.0, (2.0 * ax - y - 1.0) / _SQRT5)
    if shape == "cross":
        arm = CROSS_ARM
        horizontal = np.maximum(ax - 1.0, ay - arm)
        vertical = np.maximum(ax - arm, ay - 1.0)
        return np.minimum(horizontal, vertical)
    raise ValueError(f"unknown shape {shape!r}")


def outline_stroke_px(size_px: float) -> float:
    """Stroke width in pixels of an outline of the given size in pixels."""
    return max(OUTLINE_WIDTH * size_px, OUTLINE_MIN_PX)


def shape_coverage(shape: str, px: float, py: float, half: float, box, outline: bool = False, ss: int = SUPERSAMPLE):
    """Coverage in [0, 1] over the pixel box (y0, y1, x0, x1) of a shape centred at (px, py) with half-side `half`."""
    y0, y1, x0, x1 = box
    offsets = (np.arange(ss) + 0.5) / ss
    xs = (np.arange(x0, x1)[:, None] + offsets[None, :]).ravel()
    ys = (np.arange(y0, y1)[:, None] + offsets[None, :]).ravel()
    gx, gy = np.meshgrid((xs - px) / half, (ys - py) / half)
    sdf = shape_sdf(shape, gx, gy)
    inside = sdf <= 0
    if outline:
        inside &= sdf > -outline_stroke_px(2.0 * half) / half
    return inside.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))


def object_coverage(obj: ShapeObject, height: int, width: int, ss: int = SUPERSAMPLE):
    """Coverage in [0, 1] of `obj` over its pixel bounding box: (alpha array, (y0, y1, x0, x1))."""
    half = obj.size * min(height, width) / 2.0
    px, py = obj.cx * width, obj.cy * height
    x0, x1 = max(0, int(np.floor(px - half)) - 1), min(width, int(np.ceil(px + half)) + 1)
    y0, y1 = max(0, int(np.floor(py - half)) - 1), min(height, int(np.ceil(py + half)) + 1)
    box = (y0, y1, x0, x1)
    return shape_coverage(obj.shape, px, py, half, box, obj.style == "outline", ss), box


def render_scene(scene: Scene, size: int = DEFAULT_SIZE, ss: int = SUPERSAMPLE) -> np.ndarray:
    """Render `scene` as a size x size x 3 uint8 array."""
    image = np.empty((size, size, 3), dtype=np.float32)
    image[:] = BACKGROUND_COLORS[scene.background]
    for obj in scene.objects:
        alpha, (y0, y1, x0, x1) = object_coverage(obj, size, size, ss)
        a = alpha[..., None].astype(np.float32)
        color = np.asarray(OBJECT_COLORS[obj.color], dtype=np.float32)
        image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1.0 - a) + color * a
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
