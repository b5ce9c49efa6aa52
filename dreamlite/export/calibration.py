"""Calibration inputs for int8: the U-Net's own inputs while the model samples, so every timestep, generation and
editing, and every guidance branch are covered (DreamLite's maintainers calibrated on ~1,200 such samples).

Editing needs source images: the ones the model just generated from the generation prompts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from ..runtime.adapters import padded_length

MODEL_PROMPTS = "calibration_prompts.txt"  # a model folder's own calibration prompts, used when present
BUILTIN_PROMPTS = {
    "generate": ["a red fox sitting in fresh snow, morning light", "a bowl of ramen on a wooden table, top view",
                 "a lighthouse on a cliff at dusk, dramatic clouds", "two blue circles and a yellow square",
                 "a watercolor painting of a mountain village", "a close-up portrait of an old man with a hat",
                 "a neon sign that says OPEN in a rainy street", "a cute robot watering plants, 3d render"],
    "edit": ["make it night", "add a small boat", "change the colors to autumn", "remove the background",
             "turn it into a pencil sketch", "make the main object blue", "add falling snow",
             "move the main object to the left"],
}


def read_prompt_file(path: str | Path) -> dict[str, list[str]]:
    """One prompt per line; a line starting with `edit:` is an editing instruction, the rest generation prompts
    (`generate:` may be written too). Blank lines and lines starting with # are skipped."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"calibration file {path} does not exist")
    prompts = {"generate": [], "edit": []}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, rest = line.partition(":")
        if kind.strip().lower() in prompts and rest.strip():
            prompts[kind.strip().lower()].append(rest.strip())
        else:
            prompts["generate"].append(line)
    if not prompts["generate"]:
        raise CheckpointError(f"calibration file {path} has no generation prompt (editing sources are generated "
                              "from them)")
    return prompts


class _Recorder:
    """Stands in for the pipeline's U-Net, keeping one batch-1 input set per guidance branch and call."""

    def __init__(self, unet, seq_len: int):
        self.unet, self.seq_len, self.items, self.task = unet, seq_len, [], "generate"

    def __getattr__(self, name):
        return getattr(self.unet, name)

    def __call__(self, sample, timestep, text, mask, time_ids):
        pad = padded_length(text.shape[1], self.seq_len, True) - text.shape[1]
        padded = torch.nn.functional.pad(text.float(), (0, 0, 0, pad)).numpy()
        padded_mask = torch.nn.functional.pad(mask.float(), (0, pad)).numpy()
        t = torch.as_tensor(timestep).reshape(-1).expand(sample.shape[0]).float().numpy()
        for i in range(sample.shape[0]):
            self.items.append((self.task, {"sample": sample[i:i + 1].float().numpy(), "timestep": t[i:i + 1],
                               "encoder_hidden_states": padded[i:i + 1], "encoder_attention_mask": padded_mask[i:i + 1],
                               "time_ids": time_ids[i:i + 1].float().numpy()}))
        return self.unet(sample, timestep, text, mask, time_ids)


def collect(pipe, prompts: dict[str, list[str]], width: int, height: int, seq_len: int, steps: int | None = None,
            seed: int = 0) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Sample every generation prompt, then edit those images with the editing instructions (cycled), recording
    the U-Net inputs of every step and branch as (task, inputs)."""
    recorder = _Recorder(pipe.unet, seq_len)
    pipe.unet = recorder
    try:
        images = [pipe.generate(p, height=height, width=width, steps=steps, seed=seed + i)[0]
                  for i, p in enumerate(prompts["generate"])]
        recorder.task = "edit"
        for i, instruction in enumerate(prompts["edit"]):
            pipe.edit(images[i % len(images)], instruction, height=height, width=width, steps=steps, seed=seed + i)
    finally:
        pipe.unet = recorder.unet
    return recorder.items


def spread_evenly(items: list, n: int) -> list:
    """At most n items, evenly spaced (so that every timestep and task stays represented)."""
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else items[:1]
