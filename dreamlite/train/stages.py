"""Stages: small objects that turn planned samples into a loss. The loop knows nothing about tasks.

DreamLite's progressive schedule (T2I, then editing, then both, then SFT on curated data) is one stage kind run
with different data mixtures, because T2I and editing are the same in-context flow-matching problem: T2I
samples carry an all-zero condition, edit samples the source's latents. RL (`rl/stage.py`) is another class with
the same two methods, plus optional hooks the loop calls when a stage has them: `attach` (the accelerator and
model), `begin`, `after_step`, `state` / `load_state` (checkpointed with the step) and `finish`. Distillation
(`distill/stage.py`) adds `attach_run` (input folder, run directory, sources and time limit, for a stage that
makes data of its own), `dataset` (what the loader reads of each planned item) and `output_variant` (the pipeline
class its folder names).
"""

from __future__ import annotations

import torch

from .data.base import stable_seed
from .encode import Conditioner, pad_embeddings, stack_rows
from .loss import flow_matching_loss, sample_timestep

# `run.compile`: prompt embeddings are padded to a multiple of this many tokens, so that a run sees few shapes
# (each new shape recompiles the U-Net).
COMPILED_TEXT_MULTIPLE = 64
# `run.mixed_precision`: the autocast dtype of the step, and the dtype the frozen VAE and encoder run in.
MIXED_PRECISION_DTYPES = {"no": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class SampleDraws:
    """Dropout choice, time and noise of one sample, from a generator seeded by (stage, step, slot) alone, so they
    do not depend on the process count, the micro-batch split or on what ran before a resume. Picklable."""

    def __init__(self, spec, index: int, seed: int, schedule, channels: int):
        self.spec, self.index, self.seed, self.schedule, self.channels = spec, index, seed, schedule, channels

    def __call__(self, sample: dict, latent_hw: tuple[int, int]):
        g = torch.Generator().manual_seed(stable_seed(self.seed, "sample", self.index, sample["step"], sample["slot"]))
        u = torch.rand((), generator=g, dtype=torch.float64).item()
        d = self.spec.dropout
        if sample["task"] == "t2i":
            drop_text, drop_image = u < d.text, False
        else:
            drop_text = u < d.text or d.text + d.image <= u < d.text + d.image + d.both
            drop_image = d.text <= u < d.text + d.image + d.both
        t = sample_timestep(self.spec.timesteps, g, latent_hw, self.schedule)
        noise = torch.randn((self.channels, *latent_hw), generator=g)
        return drop_text, drop_image, t, noise


def assemble(samples: list[dict], draws: list, targets: list, sources: list, texts: list, pad_text_to: int,
             device) -> dict:
    """U-Net inputs from per-sample latents and prompt rows (host or device), in their stored dtypes."""
    width, height = samples[0]["size"]
    blank = torch.zeros_like(targets[0], device="cpu")
    conditions = [source if s["task"] == "edit" and not drop_image else blank
                  for s, source, (_, drop_image, _, _) in zip(samples, sources, draws)]
    text, mask = pad_embeddings(texts, device, multiple=pad_text_to)
    return {
        "target": stack_rows(targets, device), "condition": stack_rows(conditions, device), "text": text,
        "mask": mask, "noise": torch.stack([d[3] for d in draws]).to(device),
        "t": torch.tensor([d[2] for d in draws], dtype=torch.float32, device=device),
        "time_ids": torch.tensor([[width, height]] * len(samples), dtype=torch.float32, device=device),
        "tasks": [s["task"] for s in samples],
    }


class CachedBatcher:
    """The DataLoader's collate function: a micro-batch whose samples all come from the cache is assembled into
    host tensors right there (in worker processes when `run.num_workers` > 0, off the training process); any other
    passes through as a list, for the stage to encode on its device. Picklable."""

    def __init__(self, draws: SampleDraws, vae_factor: int, empty_text: torch.Tensor, pad_text_to: int):
        self.draws, self.vae_factor, self.pad_text_to = draws, vae_factor, pad_text_to
        self.empty_text = empty_text  # the empty prompt's embedding (dropped T2I text), on the host

    def __call__(self, samples: list[dict]) -> dict | list[dict]:
        if not all("latent" in s and "embeds" in s and (s["task"] == "t2i" or "empty_embeds" in s) for s in samples):
            return samples
        width, height = samples[0]["size"]
        draws = [self.draws(s, (height // self.vae_factor, width // self.vae_factor)) for s in samples]
        texts = [(self.empty_text if s["task"] == "t2i" else s["empty_embeds"]) if drop_text else s["embeds"]
                 for s, (drop_text, _, _, _) in zip(samples, draws)]
        return assemble(samples, draws, [s["latent"] for s in samples], [s.get("source_latent") for s in samples],
                        texts, self.pad_text_to, "cpu")


class FlowMatchingStage:
    """Velocity MSE on the target half with condition dropout for text and (edit) image guidance."""

    def __init__(self, spec, index: int, seed: int, conditioner: Conditioner, schedule, pad_text_to: int = 1):
        """`pad_text_to`: pad (and mask) each batch's prompt embeddings to a multiple of this many tokens."""
        self.spec, self.index, self.seed = spec, index, seed
        self.conditioner, self.schedule, self.pad_text_to = conditioner, schedule, pad_text_to
        self.draws = SampleDraws(spec, index, seed, schedule, conditioner.latent_channels)

    def collate(self) -> CachedBatcher:
        """The collate function for this stage's DataLoader (see CachedBatcher)."""
        empty = self.conditioner.generate(None).detach().to("cpu", copy=True)
        return CachedBatcher(self.draws, self.conditioner.vae_factor, empty, self.pad_text_to)

    def prepare(self, samples: list[dict] | dict) -> dict:
        """U-Net inputs (float32, on the device) for a micro-batch: a list of samples sharing one bucket size, or
        what CachedBatcher assembled from one."""
        c = self.conditioner
        if isinstance(samples, dict):
            b = samples
        else:
            width, height = samples[0]["size"]
            draws = [self.draws(s, (height // c.vae_factor, width // c.vae_factor)) for s in samples]

            # VAE: every raw image of the micro-batch in one call; cached samples bring their latents (on the
            # host, in the cache's dtype, moved together: per-sample copies would each wait on the device).
            pixels = [s["target"] for s in samples if "target" in s] + [s["source"] for s in samples if "source" in s]
            encoded = iter(c.latents(torch.stack(pixels))) if pixels else iter(())
            targets = [next(encoded) if "target" in s else s["latent"] for s in samples]
            sources = [next(encoded) if "source" in s else s.get("source_latent") for s in samples]
            texts = []
            for s, (drop_text, _, _, _) in zip(samples, draws):
                edit = s["task"] == "edit"
                if "embeds" in s and not (drop_text and edit and "empty_embeds" not in s):  # cached
                    key = "empty_embeds" if drop_text and edit else "embeds"
                    texts.append(c.generate(None) if drop_text and not edit else s[key])
                elif edit:
                    texts.append(c.edit(None if drop_text else s["prompt"], s["source_image"]))
                else:
                    texts.append(c.generate(None if drop_text else s["prompt"]))
            b = assemble(samples, draws, targets, sources, texts, self.pad_text_to, c.device)
        device = c.device
        return {**b, "target": b["target"].to(device).float(), "condition": b["condition"].to(device).float(),
                "text": b["text"].to(device).float(), "mask": b["mask"].to(device), "noise": b["noise"].to(device),
                "t": b["t"].to(device), "time_ids": b["time_ids"].to(device)}

    def loss(self, model, samples: list[dict] | dict) -> tuple[torch.Tensor, dict]:
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


def rl_stage(*args, **kwargs):
    from .rl.stage import RLStage  # imported when a recipe has one: it pulls in the rewards

    return RLStage(*args, **kwargs)


def distill_stage(*args, **kwargs):
    from .distill.stage import DistillStage  # imported when a recipe has one

    return DistillStage(*args, **kwargs)


STAGE_KINDS = {"flow_matching": FlowMatchingStage, "rl": rl_stage, "distill": distill_stage}
