"""Editing with the DreamLite benchmark protocol (ImgEdit, also used for GEdit-Bench here).

The source is resized to size x size with Lanczos, edited at that size with the protocol's guidance and seed,
and the result is resized back to the source's own size (Lanczos), as the official DreamLite ImgEdit script does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..images import load_image


@dataclass(frozen=True)
class EditProtocol:
    size: int = 1024
    guidance: float = 3.5
    image_guidance: float = 1.0
    seed: int = 42
    steps: int | None = None  # the checkpoint's default (28 base, 4 mobile)


def edit_image(model, source_path: Path, instruction: str, protocol: EditProtocol) -> Image.Image:
    source = load_image(source_path)
    shown = source.resize((protocol.size, protocol.size), Image.LANCZOS)
    result = model.edit(shown, instruction, height=protocol.size, width=protocol.size, steps=protocol.steps,
                        guidance_scale=protocol.guidance, image_guidance_scale=protocol.image_guidance,
                        seed=protocol.seed, num_images=1)[0]
    return result.resize(source.size, Image.LANCZOS)
