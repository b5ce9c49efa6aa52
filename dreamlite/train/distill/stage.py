"""The `distill` stage: a guided base teacher into a student that samples in 4 steps without guidance.

Before the first step the stage makes (or finds) a finite pool of teacher samples: items from the stage's data
sources (generation and edits, mixed by `mixture`), each from its own seeded noise, sampled by the frozen input
U-Net with the base pipeline's guidance, the trajectory kept at the student's sigmas (teacher.py, pool.py). Every
training sample then draws a pool sample and a student step from a generator seeded by (stage, step, slot), so
the batch does not depend on the process count or on a resume, and the stage keeps no state of its own: the
pool is on disk, the rest is the loop's checkpoint. The student, conditioned as the mobile pipeline conditions
(no guidance branches), regresses the method's target (losses.py); the stage folder is a mobile pipeline.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ...loading import load_unet
from ...pipeline import DEFAULTS
from ...sampling import pack_in_context, unpack_target
from ..config import RecipeError
from ..data.base import stable_seed
from ..data.plan import BatchPlan, PlannedItems
from ..encode import pad_embeddings
from ..export import write_new
from ..loss import sample_timestep
from ..recipe import training_sizes
from .losses import reflow_target, trajectory_target, velocity_mse
from .pool import ChunkFiles, PoolTensors, weights_digest
from .teacher import STUDENT_STEPS, student_sigmas, teacher_chunk, teacher_sigmas


class SlotKeys(torch.utils.data.Dataset):
    """The loader's items: a slot's (step, slot) alone, which seed its draw from the pool (the planned items'
    images are not used, so they are not rendered)."""

    def __getitem__(self, key) -> dict:
        step, slot, _, _ = key
        return {"step": step, "slot": slot}


def as_list(samples: list[dict]) -> list[dict]:
    return samples


class DistillStage:
    output_variant = "mobile"  # the stage folder's model_index.json names DreamLiteMobilePipeline

    def __init__(self, spec, index: int, seed: int, conditioner, schedule, pad_text_to: int = 1):
        self.spec, self.distill, self.index, self.seed = spec, spec.distill, index, seed
        self.conditioner, self.schedule, self.pad_text_to = conditioner, schedule, pad_text_to
        width, height = training_sizes(spec)[0]  # the recipe's check allows one size
        self.size = (width, height)
        self.hw = (height // conditioner.vae_factor, width // conditioner.vae_factor)
        self.sigmas = student_sigmas(self.hw, schedule)
        base = DEFAULTS["base"]
        d = self.distill
        self.scale = d.guidance if d.guidance is not None else base["guidance_scale"]
        self.image_scale = d.image_guidance if d.image_guidance is not None else base["image_guidance_scale"]
        self.grid, self.stride = teacher_sigmas(d.teacher_steps, self.hw, schedule)
        self.pool: PoolTensors | None = None

    # ---- hooks the loop calls --------------------------------------------------------------------------
    def collate(self):
        return as_list

    def dataset(self, plan, caches) -> SlotKeys:
        return SlotKeys()

    def attach(self, accelerator, model, variant: str, writer=None, offset: int = 0) -> None:
        if variant != "base":
            raise RecipeError(f"stage {self.spec.name}: a distill stage's input is its teacher and must be a guided "
                              f"(base) pipeline; this one is {variant}")
        self.accelerator = accelerator

    def attach_run(self, input_folder: Path, out: Path, entries: list, sizes: list[tuple[int, int]],
                   deadline: float | None = None) -> None:
        """Where the stage runs: its input pipeline (the teacher), the run directory (the pool's files go under
        it), its sources, and `train`'s time limit."""
        self.input_folder, self.entries, self.deadline = Path(input_folder), entries, deadline
        self.folder = Path(out) / "cache" / "distill" / self.spec.name

    def begin(self, start: int) -> None:
        # The teacher: the input folder's U-Net, loaded apart from the student (whatever wraps that: DDP, LoRA,
        # autocast), frozen; float32 whatever the run's mixed precision.
        self.teacher = load_unet(self.input_folder / "unet").to(self.conditioner.device).eval().requires_grad_(False)
        self.pool = self._pool()
        self.teacher = None  # everything it is needed for is in the pool

    def finish(self, folder) -> None:
        d = self.distill
        info = {"method": d.method, "pool": d.pool, "teacher_steps": len(self.grid) - 1, "guidance": self.scale,
                "image_guidance": self.image_scale, "student_sigmas": self.sigmas.tolist()}
        write_new(Path(folder) / "distill.json", json.dumps(info, indent=2) + "\n")

    # ---- the pool ---------------------------------------------------------------------------------------
    def _pool(self) -> PoolTensors:
        acc, d = self.accelerator, self.distill
        c = self.conditioner
        key = str(stable_seed(weights_digest(self.teacher, c.vae, c.encoder.model), self.seed, self.index, d.pool,
                              d.chunk, self.scale, self.image_scale, self.grid.tolist(), self.size,
                              [(name, source.fingerprint(), weight) for name, source, weight in self.entries]))
        files = ChunkFiles(self.folder, d.pool, d.chunk, key)
        world, rank = acc.num_processes, acc.process_index
        mine = [i for i in range(rank, files.count, world) if not files.done(i)]  # a share of the chunks each
        if acc.is_main_process:
            there = sum(files.done(i) for i in range(files.count))
            print(f"distill pool {files.folder}: {d.pool} teacher samples in {files.count} chunk(s), {there} already "
                  f"there; the teacher takes {len(self.grid) - 1} guided steps", flush=True)
        self._make(files, mine)
        # The other processes' shares: waiting on their files, not on a barrier, has no timeout to outlast.
        while not all(files.done(i) for i in range(files.count)):
            time.sleep(1.0)
        acc.wait_for_everyone()
        return files.load()

    def _make(self, files: ChunkFiles, chunks: list[int]) -> None:
        """Chunk i's items are the i-th draw of the pool's own batch plan (batch = chunk size), so any chunk is
        made the same in any process or run; the draws of earlier chunks are replayed for their positions. The
        processes go through the chunks in rounds of one each, and stop together when the time limit is up."""
        from ..loop import TimeUp

        world = self.accelerator.num_processes
        plan = BatchPlan(self.entries, [self.size], files.chunk, stable_seed(self.seed, "distill-pool", self.index),
                         self.index)
        items = PlannedItems(plan)
        todo, tick = set(chunks), time.perf_counter()
        bar = tqdm(total=len(chunks), desc=f"{self.spec.name}: teacher pool", unit="chunk",
                   disable=not self.accelerator.is_main_process)
        for index in range(files.count):
            _, slots = plan.step_slots(index)
            if index in todo:
                entries = files.entries(index)
                samples = [items[(index, slot, stream, position)]
                           for slot, (stream, position) in zip(range(len(entries)), slots)]
                noise = torch.stack([self._noise(k) for k in entries])
                files.write(index, teacher_chunk(self.teacher, self.conditioner, samples, noise, self.grid,
                                                 self.stride, self.scale, self.image_scale))
                bar.update(1)
            if index % world == world - 1 and index + 1 < files.count and self._time_up():
                bar.close()
                raise TimeUp(f"time limit reached while making the teacher pool of stage '{self.spec.name}' "
                             f"({index + 1} of {files.count} chunks); run the same command again to go on")
        bar.close()
        if chunks:
            seconds = time.perf_counter() - tick
            print(f"distill pool: process {self.accelerator.process_index} made {len(chunks)} chunk(s) in "
                  f"{seconds:.1f}s ({seconds / len(chunks):.2f}s a chunk)", flush=True)

    def _time_up(self) -> bool:
        """Whether `train`'s time limit has passed, on any process (a collective: every process calls it)."""
        if self.deadline is None:
            return False
        up = time.monotonic() >= self.deadline
        if self.accelerator.num_processes > 1:
            flag = torch.tensor(float(up), device=self.accelerator.device)
            up = bool(self.accelerator.reduce(flag, reduction="sum").item() > 0)
        return up

    def _noise(self, entry: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(stable_seed(self.seed, "distill-noise", self.index, entry))
        return torch.randn((self.conditioner.latent_channels, *self.hw), generator=g)

    # ---- one micro-batch --------------------------------------------------------------------------------
    def _draw(self, step: int, slot: int) -> tuple[int, int, float]:
        """(pool sample, student step, reflow time) of one slot; all three are drawn whatever the method."""
        g = torch.Generator().manual_seed(stable_seed(self.seed, "distill", self.index, step, slot))
        entry = int(torch.randint(len(self.pool.edit), (), generator=g))
        point = int(torch.randint(STUDENT_STEPS, (), generator=g))
        return entry, point, sample_timestep(self.spec.timesteps, g, self.hw, self.schedule)

    def loss(self, model, samples: list[dict]) -> tuple[torch.Tensor, dict]:
        pool, d, device = self.pool, self.distill, self.conditioner.device
        draws = [self._draw(s["step"], s["slot"]) for s in samples]
        rows = torch.tensor([entry for entry, _, _ in draws])
        point = torch.tensor([p for _, p, _ in draws])
        trajectory = pool.trajectory[rows]
        if d.method == "trajectory":
            x, sigma, target = trajectory_target(trajectory, self.sigmas, point)
        else:
            sigma = self.sigmas[point] if d.reflow_times == "student" else \
                torch.tensor([t for _, _, t in draws], dtype=torch.float32)
            x, target = reflow_target(trajectory[:, 0], trajectory[:, -1], sigma)
        # The mobile pipeline's conditioning: one branch, the prompt (generation) or instruction and source (edit).
        text, mask = pad_embeddings([pool.text[r] for r in rows.tolist()], device, multiple=self.pad_text_to)
        x, sigma = x.to(device), sigma.to(device)
        time_ids = torch.tensor([list(self.size)] * len(samples), dtype=torch.float32, device=device)
        out = model(pack_in_context(x, pool.condition[rows].to(device)), sigma * 1000.0, text.float(), mask, time_ids)
        per_sample = velocity_mse(unpack_target(out, x.shape[-1]), target.to(device))
        edit = pool.edit[rows]
        stats = {}
        for task, picks in (("t2i", (~edit).nonzero().flatten()), ("edit", edit.nonzero().flatten())):
            if len(picks):
                stats[task] = (per_sample[picks.to(device)].detach().sum(), len(picks))
        return per_sample.mean(), stats
