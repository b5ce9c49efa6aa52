"""Generation parameters stored in, and read back from, a PNG's text chunk (key `dreamlite`, JSON)."""

from __future__ import annotations

import hashlib
import io
import json

from PIL import Image, PngImagePlugin

KEY = "dreamlite"


def png_bytes(image: Image.Image, params: dict) -> bytes:
    """The image as PNG bytes with `params` in a text chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text(KEY, json.dumps(params, sort_keys=True))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_params(image: Image.Image) -> dict | None:
    """The parameters a PNG written by `png_bytes` carries, or None for any other image."""
    text = getattr(image, "text", {}) or {}
    if KEY not in text:
        return None
    try:
        params = json.loads(text[KEY])
    except ValueError:
        return None
    return params if isinstance(params, dict) else None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
