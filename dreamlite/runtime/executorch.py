"""Running an ExecuTorch program with its Python runtime (the same runtime a phone app links)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


class ExecuTorchSession:
    def __init__(self, path: Path, hint: str | None = None, threads: int | None = None):
        from executorch.runtime import Runtime

        self.method = Runtime.get().load_program(str(path)).load_method("forward")
        self.names = None

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        out = self.method.execute([torch.from_numpy(np.ascontiguousarray(v)) for v in inputs.values()])
        return out[0].numpy().astype(np.float32)
