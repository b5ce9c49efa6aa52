"""Console progress (tqdm: loss, lr, samples/s, ETA) and TensorBoard scalars, from the main process.

Losses are summed per task over the logging interval on every process and reduced across processes, so the
numbers describe the global batch.
"""

from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm


class Progress:
    def __init__(self, name: str, start: int, steps: int, batch: int, writer, offset: int, accelerator,
                 every: int):
        self.accelerator, self.writer, self.offset, self.every, self.batch = accelerator, writer, offset, every, batch
        self.main = accelerator.is_main_process
        self.bar = tqdm(total=steps, initial=start, desc=name, unit="step", dynamic_ncols=True,
                        disable=not self.main, mininterval=1.0)
        self.sums = {"t2i": [0.0, 0], "edit": [0.0, 0]}
        self.since, self.steps_since = time.perf_counter(), 0
        self.last_loss = None

    def update(self, step: int, stats: dict, lr: float, grad_norm) -> None:
        for task, (total, count) in stats.items():
            self.sums[task][0] += total
            self.sums[task][1] += count
        self.steps_since += 1
        self.bar.update(1)
        if (step + 1) % self.every and step + 1 != self.bar.total:
            return
        values = torch.tensor([float(self.sums["t2i"][0]), self.sums["t2i"][1], float(self.sums["edit"][0]),
                               self.sums["edit"][1]], dtype=torch.float64, device=self.accelerator.device)
        values = self.accelerator.reduce(values, reduction="sum").cpu().tolist()
        seconds = time.perf_counter() - self.since
        rate = self.steps_since * self.batch / max(seconds, 1e-9)
        count = values[1] + values[3]
        loss = (values[0] + values[2]) / max(count, 1)
        self.last_loss = loss
        if self.main:
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", samples_s=f"{rate:.1f}", refresh=False)
            if self.writer is not None:
                global_step = self.offset + step + 1
                self.writer.add_scalar("train/loss", loss, global_step)
                for i, task in ((0, "t2i"), (2, "edit")):
                    if values[i + 1]:
                        self.writer.add_scalar(f"train/loss_{task}", values[i] / values[i + 1], global_step)
                self.writer.add_scalar("train/lr", lr, global_step)
                self.writer.add_scalar("train/samples_per_second", rate, global_step)
                if grad_norm is not None:
                    self.writer.add_scalar("train/grad_norm", float(grad_norm), global_step)
        self.sums = {"t2i": [0.0, 0], "edit": [0.0, 0]}
        self.since, self.steps_since = time.perf_counter(), 0

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.flush()
