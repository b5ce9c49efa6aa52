"""The batch plan: which items make up every step's global batch, as a pure function of (seed, stage, step) and
how many items each stream has given so far.

A stream is one source at one aspect-ratio bucket. Every step draws (from a generator seeded by the step) one
bucket for the whole global batch, then a stream for each of its `batch` slots, weighted by the stage's task
mixture and source weights. A slot takes the next position of its stream. Process r of W trains on slots
[r B / W, (r + 1) B / W), split into micro-batches; so the global batch, and each sample's noise (seeded by its
slot), are the same whatever the number of processes. The per-stream counts are the data position saved in
checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import EpochOrder, Source, fit, stable_seed, to_pixels
from .buckets import bucket_items


@dataclass(frozen=True)
class Stream:
    source: int  # index into BatchPlan.sources
    bucket: int
    weight: float  # probability mass before normalising within the bucket
    order: EpochOrder | None  # finite sources: position -> item index; endless: the position is the index

    def index(self, position: int) -> int:
        return position if self.order is None else self.order(position)


class BatchPlan:
    def __init__(self, sources: list[tuple[str, Source, float]], sizes: list[tuple[int, int]], batch: int,
                 seed: int, stage: int, bucket_cache=None):
        """`sources`: (name, source, weight) with weight = task weight x source weight within the task."""
        self.names = [n for n, _, _ in sources]
        self.sources = [s for _, s, _ in sources]
        self.sizes, self.batch, self.seed, self.stage = list(sizes), batch, seed, stage
        total = sum(w for _, _, w in sources)
        self.streams: list[Stream] = []
        for i, (name, source, weight) in enumerate(sources):
            per_bucket = bucket_items(source, self.sizes, bucket_cache)
            n = sum(len(items) for items in per_bucket.values()) if source.finite else 1
            for bucket, items in sorted(per_bucket.items()):
                share = len(items) / n if source.finite else 1.0
                order = EpochOrder(items, stable_seed(seed, "order", stage, name, source.task, bucket)) \
                    if source.finite else None
                self.streams.append(Stream(i, bucket, weight / total * share, order))
        bucket_mass = np.zeros(len(self.sizes))
        for s in self.streams:
            bucket_mass[s.bucket] += s.weight
        self.bucket_p = bucket_mass / bucket_mass.sum()
        self.counts = [0] * len(self.streams)

    def step_slots(self, step: int) -> tuple[int, list[tuple[int, int]]]:
        """(bucket, [(stream, position)] for every global slot) of `step`; advances the counts."""
        rng = np.random.default_rng(stable_seed(self.seed, "plan", self.stage, step))
        bucket = int(rng.choice(len(self.sizes), p=self.bucket_p)) if len(self.sizes) > 1 else 0
        ids = [i for i, s in enumerate(self.streams) if s.bucket == bucket]
        p = np.array([self.streams[i].weight for i in ids])
        picks = rng.choice(len(ids), size=self.batch, p=p / p.sum()) if len(ids) > 1 else [0] * self.batch
        slots = []
        for pick in picks:
            stream = ids[int(pick)]
            slots.append((stream, self.counts[stream]))
            self.counts[stream] += 1
        return bucket, slots

    def state_dict(self) -> dict:
        return {"counts": list(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        if len(state["counts"]) != len(self.streams):
            raise ValueError("data position does not match this stage's sources and buckets")
        self.counts = list(state["counts"])

    def describe(self) -> str:
        return ", ".join(f"{self.sources[s.source].describe()} @ {self.sizes[s.bucket][0]}x{self.sizes[s.bucket][1]}"
                         f" p={s.weight:.2f}" for s in self.streams)


class PlannedBatches(torch.utils.data.Sampler):
    """The DataLoader's batch sampler: this process's micro-batches, in order, from `start_step` on. Each element
    is a list of (step, slot, stream, position) keys for `PlannedItems`."""

    def __init__(self, plan: BatchPlan, start_step: int, steps: int, rank: int, world: int, micro: int):
        self.plan, self.start, self.steps = plan, start_step, steps
        self.rank, self.world, self.micro = rank, world, micro

    def __len__(self) -> int:
        return (self.steps - self.start) * self.plan.batch // (self.world * self.micro)

    def __iter__(self):
        per_rank = self.plan.batch // self.world
        for step in range(self.start, self.steps):
            _, slots = self.plan.step_slots(step)
            mine = list(enumerate(slots))[self.rank * per_rank:(self.rank + 1) * per_rank]
            for k in range(0, per_rank, self.micro):
                yield [(step, slot, stream, pos) for slot, (stream, pos) in mine[k:k + self.micro]]


PASSED_THROUGH = ("spec", "category")  # item fields a stage may use as they are (RL rewards read ShapesBench specs)


class PlannedItems(torch.utils.data.Dataset):
    """Key (step, slot, stream, position) -> a prepared sample: pixels at the stream's bucket size, or cached
    latents and embeddings when the stream's source has a cache."""

    def __init__(self, plan: BatchPlan, caches: dict[int, object] | None = None):
        self.plan, self.caches = plan, caches or {}

    def __getitem__(self, key) -> dict:
        step, slot, stream_id, position = key
        stream = self.plan.streams[stream_id]
        source = self.plan.sources[stream.source]
        index = stream.index(position)
        width, height = self.plan.sizes[stream.bucket]
        out = {"step": step, "slot": slot, "task": source.task, "size": (width, height)}
        cache = self.caches.get(stream.source)
        if cache is not None:
            out.update(cache.load(index, stream.bucket))
            if source.task == "edit" and "empty_embeds" not in out:  # for encoding a dropped instruction
                out["source_image"] = source.item(index)["source"]
            return out
        item = source.item(index)
        out["prompt"] = item["prompt"]
        out.update({k: item[k] for k in PASSED_THROUGH if k in item})
        out["target"] = to_pixels(fit(item["target"], width, height))
        if item["source"] is not None:
            out["source"] = to_pixels(fit(item["source"], width, height))
            out["source_image"] = item["source"]  # the prompt encoder sees the whole source, as at inference
        return out

