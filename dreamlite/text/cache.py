"""A prompt-embedding cache: the prompt encoder (Qwen3-VL, ~2B parameters in the release) dominates a 4-step
edit on a CPU, and an app re-sends the same prompt often (a new seed, a new guidance scale), so a repeated prompt
costs nothing. Keys are the exact inputs (texts, mode, the source image's pixels, the encoder's image size), so
a hit returns what the encoder would; call `clear()` after changing the encoder's weights."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from PIL import Image


def image_key(image) -> tuple | None:
    if image is None:
        return None
    if isinstance(image, list):
        return tuple(image_key(im) for im in image)
    if isinstance(image, Image.Image):
        return image.mode, image.size, hashlib.sha256(image.tobytes()).hexdigest()
    return (id(image),)


class CachedPromptEncoder:
    """Wraps a prompt encoder; `encode` returns cached (embeddings, mask) copies for inputs seen before, keeping
    the `max_entries` most recently used."""

    def __init__(self, encoder, max_entries: int = 16):
        self.encoder, self.max_entries = encoder, max_entries
        self.entries: OrderedDict = OrderedDict()
        self.hits = self.misses = 0

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def encode(self, prompts, mode, image=None, **kwargs):
        key = (tuple(prompts), mode, image_key(image), getattr(self.encoder, "edit_image_size", None),
               tuple(sorted(kwargs.items())))
        if key in self.entries:
            self.hits += 1
            self.entries.move_to_end(key)
        else:
            self.misses += 1
            self.entries[key] = self.encoder.encode(prompts, mode, image=image, **kwargs)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
        embeds, mask = self.entries[key]
        return embeds.clone(), mask.clone()

    def clear(self) -> None:
        self.entries.clear()

    def to(self, device):
        self.encoder.to(device)
        self.clear()
        return self
