"""The teacher pool on disk: a finite set of teacher samples in chunk files, each written atomically.

Chunk c holds pool samples [c * chunk, (c + 1) * chunk): their trajectories at the student's sigmas, and what
the student is conditioned on (prompt embeddings, condition latents, task). A chunk is a pure function of its
index and the pool's key (teacher, data and settings), stored in the file's metadata: a run killed while making
the pool keeps the chunks it finished, and a chunk made under another key is made again.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file


def weights_digest(*modules: torch.nn.Module) -> str:
    """sha256 of the modules' parameters and buffers, by name (the teacher and the frozen encoders)."""
    h = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass
class PoolTensors:
    """The whole pool in host memory."""

    trajectory: torch.Tensor  # (N, S + 1, C, h, w): noise, the teacher's points at the student's sigmas, x0
    condition: torch.Tensor  # (N, C, h, w): source latents (edit) or zeros (generation)
    text: list[torch.Tensor]  # N (L_i, D) prompt embeddings of the student's (unguided) conditioning
    edit: torch.Tensor  # (N,) bool


class ChunkFiles:
    def __init__(self, folder: Path, size: int, chunk: int, key: str):
        self.folder, self.size, self.chunk, self.key = Path(folder), size, chunk, key
        self.count = -(-size // chunk)

    def path(self, index: int) -> Path:
        return self.folder / f"chunk-{index:05d}.safetensors"

    def entries(self, index: int) -> range:
        return range(index * self.chunk, min((index + 1) * self.chunk, self.size))

    def done(self, index: int) -> bool:
        path = self.path(index)
        if not path.is_file():
            return False
        with safe_open(str(path), "pt") as f:
            return (f.metadata() or {}).get("key") == self.key

    def write(self, index: int, tensors: dict[str, torch.Tensor]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(index)
        tmp = path.with_name(f".tmp-{path.name}")  # one process makes a chunk: a killed run's leftover is overwritten
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"key": self.key})
        os.replace(tmp, path)

    def load(self) -> PoolTensors:
        trajectory, condition, text, edit = [], [], [], []
        for index in range(self.count):
            part = load_file(str(self.path(index)))
            trajectory.append(part["trajectory"])
            condition.append(part["condition"])
            edit.append(part["edit"].bool())
            # copies: a view would keep the chunk's padding (edit prompts with their image are ~10x longer) alive
            text += [row[:length].clone() for row, length in zip(part["text"], part["lengths"].tolist())]
        return PoolTensors(torch.cat(trajectory), torch.cat(condition), text, torch.cat(edit))
