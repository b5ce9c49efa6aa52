"""Prompt encoders, chosen by the text encoder class named in a pipeline's `model_index.json`.

An encoder has `encode(prompts, mode, image=None, max_length=...) -> (embeddings, mask)`, `device`, `dtype`,
`to(device)` and `save_pretrained(folder) -> model_index entries`. Add a smaller encoder by registering a loader
here under its class name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import CheckpointError
from .qwen3vl import Qwen3VLPromptEncoder, load_qwen3vl

PROMPT_ENCODER_LOADERS: dict[str, Callable] = {
    "Qwen3VLForConditionalGeneration": load_qwen3vl,
}


def load_prompt_encoder(folder: Path, index: dict, dtype=None):
    entry = index.get("text_encoder")
    if not entry or len(entry) != 2:
        raise CheckpointError("model_index.json has no text_encoder entry")
    loader = PROMPT_ENCODER_LOADERS.get(entry[1])
    if loader is None:
        raise CheckpointError(f"text_encoder class {entry[1]!r} is not supported; known: "
                              f"{', '.join(PROMPT_ENCODER_LOADERS)}")
    return loader(folder, dtype)


__all__ = ["PROMPT_ENCODER_LOADERS", "Qwen3VLPromptEncoder", "load_prompt_encoder"]
