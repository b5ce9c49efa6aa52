"""Exponential moving average of the trainable weights (Polyak averaging), kept in float32.

The stage's pipeline is exported with the averaged weights: they sample cleaner than the last iterate. Works on
whatever tensors the process holds (full under DDP, its shards under FSDP).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


class EMA:
    def __init__(self, named_parameters, decay: float = 0.999, warmup: bool = True):
        self.params = {n: p for n, p in named_parameters if p.requires_grad}
        self.shadow = {n: p.detach().float().clone() for n, p in self.params.items()}
        self.decay, self.warmup, self.updates = decay, warmup, 0

    def current_decay(self) -> float:
        n = self.updates
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self) -> None:
        weight = 1.0 - self.current_decay()
        self.updates += 1
        names = list(self.params)
        torch._foreach_lerp_([self.shadow[n] for n in names], [self.params[n].detach().float() for n in names],
                             weight)

    @contextmanager
    @torch.no_grad()
    def applied(self):
        """The averaged weights in the live parameters for the duration of the block."""
        saved = {n: p.detach().clone() for n, p in self.params.items()}
        for n, p in self.params.items():
            p.copy_(self.shadow[n])
        try:
            yield
        finally:
            for n, p in self.params.items():
                p.copy_(saved[n])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**{f"shadow.{n}": t for n, t in self.shadow.items()},
                "updates": torch.tensor(self.updates, dtype=torch.int64)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = [n for n in self.shadow if f"shadow.{n}" not in state]
        if missing:
            raise ValueError(f"EMA state lacks {len(missing)} tensors, e.g. {missing[0]}")
        for n in self.shadow:
            self.shadow[n].copy_(state[f"shadow.{n}"])
        self.updates = int(state["updates"])
