"""Image input and output: reading user files, PIL <-> tensors in [-1, 1] exactly as diffusers' DreamLite does."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError


class ImageInputError(ValueError):
    """An input image that cannot be used; the message is one line for the user."""


def load_image(image: str | os.PathLike | Image.Image) -> Image.Image:
    """Open a file (or take a PIL image) as 8-bit RGB, like diffusers' `load_image`.

    EXIF orientation is applied; RGBA and palette images are converted to RGB (alpha dropped, as PIL's convert
    does); 16-bit and float greyscale are scaled to 8 bits first, because PIL's own conversion clips them.
    """
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not os.path.isfile(path):
            raise ImageInputError(f"image not found: {path}")
        try:
            image = Image.open(path)
            image.load()
        except (UnidentifiedImageError, OSError) as err:
            raise ImageInputError(f"not a readable image: {path} ({err.__class__.__name__})") from None
    elif not isinstance(image, Image.Image):
        raise ImageInputError(f"expected an image path or PIL image, got {type(image).__name__}")
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        scale = 257.0 if image.mode.startswith("I;16") or np.asarray(image).max() > 255 else 1.0
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float64) / scale, 0, 255).astype(np.uint8))
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image) * 255.0, 0, 255).astype(np.uint8))
    return image.convert("RGB")


def to_tensor(image: Image.Image, height: int, width: int) -> torch.Tensor:
    """RGB PIL -> (1, 3, height, width) in [-1, 1], Lanczos-resized (the diffusers VaeImageProcessor default)."""
    if image.size != (width, height):
        image = image.resize((width, height), resample=Image.LANCZOS)
    array = np.asarray(image).astype(np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0) * 2.0 - 1.0


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """(B, 3, H, W) in [-1, 1] -> RGB PIL images, rounding like diffusers' postprocess."""
    array = (images / 2 + 0.5).clamp(0, 1).cpu().permute(0, 2, 3, 1).float().numpy()
    return [Image.fromarray(a) for a in (array * 255).round().astype("uint8")]
