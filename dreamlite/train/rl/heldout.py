"""The held-out eval of an RL run: ShapesBench on a few items of the dev split, sampled at the shipped settings
(the variant's default steps and guidance) and scored by the pixel judge; never the public eval split."""

from __future__ import annotations

import zlib

import numpy as np
import torch

from ...shapes.layout import TASKS, item_id, iter_split
from ...shapes.render import render_scene
from ...shapes.score import ItemScore, score_edit, score_generation, summarize
from ..data.base import to_pixels
from .rollout import decode, edit_conditioning, generation_conditioning, sample
from ...rewards.base import as_arrays

from PIL import Image


class HeldOut:
    def __init__(self, spec, size: int, steps: int, scale: float, image_scale: float, batch: int = 32):
        self.steps, self.scale, self.image_scale, self.batch = steps, scale, image_scale, batch
        self.size = size
        self.items = []
        for task, category, index, item in iter_split(spec.split_seed, spec.per_category):
            rid = item_id(task, category, index)
            seed = zlib.crc32(f"{spec.split_seed}/{rid}".encode())  # as render_split seeds the item
            source = render_scene(item.source, size) if task == "editing" else None
            self.items.append({"id": rid, "task": task, "category": category, "prompt": item.prompt,
                               "spec": item.spec, "seed": seed, "source": source})

    def _noise(self, seed: int, channels: int, factor: int) -> torch.Tensor:
        g = torch.Generator("cpu").manual_seed(seed)  # the pipeline's first draw for this seed
        return torch.randn((1, channels, self.size // factor, self.size // factor), generator=g)

    @torch.no_grad()
    def run(self, unet, conditioner, schedule) -> dict:
        """ShapesBench summary (scores.summarize) of the held-out items with `unet` as it is now."""
        c, device = conditioner, conditioner.device
        scores = []
        for task in TASKS:
            items = [it for it in self.items if it["task"] == task]
            for k in range(0, len(items), self.batch):
                chunk = items[k:k + self.batch]
                noise = torch.cat([self._noise(it["seed"], c.latent_channels, c.vae_factor) for it in chunk])
                size = (self.size, self.size)
                if task == "generation":
                    cond = generation_conditioning([c.generate(it["prompt"]) for it in chunk], c.generate(None),
                                                   noise.shape, size, device)
                    sources = [None] * len(chunk)
                else:
                    images = [Image.fromarray(it["source"]) for it in chunk]
                    latents = c.latents(torch.stack([to_pixels(im) for im in images]))
                    cond = edit_conditioning([c.edit(it["prompt"], im) for it, im in zip(chunk, images)],
                                             [c.edit(None, im) for im in images], latents, size, device)
                    sources = [it["source"] for it in chunk]
                x0 = sample(unet, cond, noise.to(device), self.steps, schedule, self.scale, self.image_scale)
                for it, image, source in zip(chunk, as_arrays(decode(c.vae, x0)), sources):
                    verdict = score_generation(image, it["spec"]) if source is None else \
                        score_edit(source, image, it["spec"])
                    scores.append(ItemScore(it["id"], task, it["category"], verdict.passed, verdict.reason,
                                            verdict.kept, verdict.applied))
        return summarize(scores)


def flat_summary(summary: dict) -> dict[str, float]:
    """{"generation/overall": x, "generation/counting": x, ..., "editing_kept/overall": x} for curves."""
    flat = {}
    for task, values in summary.items():
        if isinstance(values, dict):
            flat.update({f"{task}/{k}": float(v) for k, v in values.items() if not np.isnan(v)})
    return flat
