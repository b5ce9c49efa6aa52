"""Sharing a benchmark's images among processes, and resuming an interrupted run.

Items are split deterministically: process `rank` of `world` takes items rank, rank + world, ... of the item list
(the list is in benchmark order, so every process computes the same split). The rank comes from accelerate's
`PartialState` when the run was started by `accelerate launch` (or torchrun: any WORLD_SIZE > 1), which also
sets up the process group (gloo on CPUs, NCCL on GPUs) for the final barrier. An image that already exists is
skipped, and images are written to a temporary name and renamed, so a killed run leaves no half-written file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1
    state: object = None  # accelerate's PartialState when distributed

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def take(self, items: Sequence) -> list:
        """This process's share: every `world`-th item starting at `rank`."""
        return list(items[self.rank::self.world])

    def device(self, default: str | None = None):
        """The device accelerate assigned to this process (None lets the pipeline choose)."""
        return self.state.device if self.state is not None else default

    def wait(self) -> None:
        """Barrier: every process has finished its share."""
        if self.state is not None:
            self.state.wait_for_everyone()


def current_shard() -> Shard:
    """The shard of this process: accelerate's when launched with several processes, else the whole list."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Shard()
    import torch
    from accelerate import PartialState

    # Without GPUs PartialState must be told to use the CPU, or it sees one process
    cpu = not torch.cuda.is_available() or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true")
    state = PartialState(cpu=cpu)
    return Shard(state.process_index, state.num_processes, state)


def save_atomic(image: Image.Image, path: Path) -> None:
    """Write a PNG under a temporary name, then rename it into place (a rename is atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    image.save(tmp)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Job:
    """One image to make: `run()` returns it, and it is saved at `path` unless that file exists already."""
    path: Path
    run: Callable[[], Image.Image]


def run_jobs(jobs: Sequence[Job], shard: Shard, progress: bool = False, desc: str = "sampling") -> tuple[int, int]:
    """Make this process's share of `jobs`, skipping those already written; returns (made, skipped)."""
    mine = shard.take(jobs)
    todo = [job for job in mine if not job.path.is_file()]
    for job in todo:  # a killed run's half-written file of an image this process owns
        for stale in job.path.parent.glob(f".{job.path.stem}.*.tmp.png"):
            stale.unlink()
    if progress and shard.is_main:
        from tqdm import tqdm

        todo = tqdm(todo, desc=desc, unit="image")
    made = 0
    for job in todo:
        save_atomic(job.run(), job.path)
        made += 1
    return made, len(mine) - made
