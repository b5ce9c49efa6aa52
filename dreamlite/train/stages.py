"""Stages: small objects that turn planned samples into a loss. The loop knows nothing about tasks.

DreamLite's progressive schedule (T2I, then editing, then both, then SFT on curated data) is one stage kind run
with different data mixtures, because T2I and editing are the same in-context flow-matching problem: T2I
samples carry an all-zero condition, edit samples the source's latents. Other kinds (RL, distillation) would be
other classes with the same two methods.
"""

from __future__ import annotations

import torch

from .data.base import stable_seed
from .encode import Conditioner, pad_embeddings, stack_rows
from .loss import flow_matching_loss, sample_timestep


class FlowMatchingStage:
    """Velocity MSE on the target half with condition dropout for text and (edit) image guidance."""

    def __init__(self, spec, index: int, seed: int, conditioner: Conditioner, schedule, pad_text_to: int = 1):
        """`pad_text_to`: pad (and mask) each batch's prompt embeddings to a multiple of this many tokens."""
        self.spec, self.index, self.seed = spec, index, seed
        self.conditioner, self.schedule, self.pad_text_to = conditioner, schedule, pad_text_to

    def _draws(self, sample: dict, latent_hw: tuple[int, int]):
        """Dropout choice, time and noise of one sample, from a generator seeded by (stage, step, slot) alone,
        so they do not depend on the process count, the micro-batch split or on what ran before a resume."""
        g = torch.Generator().manual_seed(stable_seed(self.seed, "sample", self.index, sample["step"], sample["slot"]))
        u = torch.rand((), generator=g, dtype=torch.float64).item()
        d = self.spec.dropout
        if sample["task"] == "t2i":
            drop_text, drop_image = u < d.text, False
        else:
            drop_text = u < d.text or d.text + d.image <= u < d.text + d.image + d.both
            drop_image = d.text <= u < d.text + d.image + d.both
        t = sample_timestep(self.spec.timesteps, g, latent_hw, self.schedule)
        noise = torch.randn((self.conditioner.latent_channels, *latent_hw), generator=g)
        return drop_text, drop_image, t, noise

    def prepare(self, samples: list[dict]) -> dict:
        """U-Net inputs for a micro-batch (all samples share one bucket size)."""
        c = self.conditioner
        width, height = samples[0]["size"]
        hw = (height // c.vae_factor, width // c.vae_factor)
        draws = [self._draws(s, hw) for s in samples]

        # VAE: every raw image of the micro-batch in one call; cached samples bring their latents (on the host, in
        # the cache's dtype, moved together: per-sample copies would each wait on the device).
        pixels = [s["target"] for s in samples if "target" in s] + [s["source"] for s in samples if "source" in s]
        encoded = iter(c.latents(torch.stack(pixels))) if pixels else iter(())
        targets = [next(encoded) if "target" in s else s["latent"] for s in samples]
        sources = []
        for s in samples:
            if "source" in s:
                sources.append(next(encoded))
            elif "source_latent" in s:
                sources.append(s["source_latent"])
            else:
                sources.append(None)

        texts, conditions = [], []
        blank = torch.zeros_like(targets[0], device="cpu")
        for s, source, (drop_text, drop_image, _, _) in zip(samples, sources, draws):
            edit = s["task"] == "edit"
            conditions.append(source if edit and not drop_image else blank)
            if "embeds" in s and not (drop_text and edit and "empty_embeds" not in s):  # cached
                key = "empty_embeds" if drop_text and edit else "embeds"
                texts.append(c.generate(None) if drop_text and not edit else s[key])
            elif edit:
                texts.append(c.edit(None if drop_text else s["prompt"], s["source_image"]))
            else:
                texts.append(c.generate(None if drop_text else s["prompt"]))
        text, mask = pad_embeddings(texts, c.device, multiple=self.pad_text_to)
        return {
            "target": stack_rows(targets, c.device).float(), "condition": stack_rows(conditions, c.device).float(),
            "text": text.float(), "mask": mask, "noise": torch.stack([d[3] for d in draws]).to(c.device),
            "t": torch.tensor([d[2] for d in draws], dtype=torch.float32, device=c.device),
            "time_ids": torch.tensor([[width, height]] * len(samples), dtype=torch.float32, device=c.device),
            "tasks": [s["task"] for s in samples],
        }

    def loss(self, model, samples: list[dict]) -> tuple[torch.Tensor, dict]:
        """Mean loss of the micro-batch, and per-task (loss sum as a 0-d tensor, count) for logging."""
        b = self.prepare(samples)
        per_sample = flow_matching_loss(model, b["target"], b["condition"], b["noise"], b["t"], b["text"],
                                        b["mask"], b["time_ids"])
        stats = {}
        for task in ("t2i", "edit"):
            picks = [i for i, k in enumerate(b["tasks"]) if k == task]
            if picks:
                stats[task] = (per_sample[picks].detach().sum(), len(picks))  # a tensor: no device sync per step
        return per_sample.mean(), stats


STAGE_KINDS = {"flow_matching": FlowMatchingStage}
