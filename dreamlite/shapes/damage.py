"""Mild image damage for robustness checks of the scorer: blur, JPEG, noise and shift.

Each takes and returns an H x W x 3 uint8 array; `level` is the damage amount in the unit named.
"""

import io

import numpy as np
from PIL import Image, ImageFilter


def gaussian_blur(image: np.ndarray, level: float = 1.0) -> np.ndarray:
    """Gaussian blur with standard deviation `level` pixels."""
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(level)))


def jpeg(image: np.ndarray, level: int = 50) -> np.ndarray:
    """JPEG round trip at quality `level` (Pillow's default 4:2:0 chroma subsampling)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=int(level))
    with Image.open(buffer) as im:
        return np.asarray(im.convert("RGB"))


def noise(image: np.ndarray, level: float = 8.0, seed: int = 0) -> np.ndarray:
    """Additive Gaussian noise with standard deviation `level` (in 0..255 units), clipped."""
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0.0, level, image.shape), 0, 255).astype(np.uint8)


def shift(image: np.ndarray, level: int = 2) -> np.ndarray:
    """Translate right and down by `level` pixels each, repeating the edge into the gap."""
    k = int(level)
    padded = np.pad(image, ((k, 0), (k, 0), (0, 0)), mode="edge")
    return padded[: image.shape[0], : image.shape[1]]


DAMAGES = {"blur": gaussian_blur, "jpeg": jpeg, "noise": noise, "shift": shift}
MILD = {"blur": 1.0, "jpeg": 50, "noise": 8.0, "shift": 2}  # the levels ShapesBench must survive
