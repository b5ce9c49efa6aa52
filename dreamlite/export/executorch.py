"""PyTorch graph -> ExecuTorch program (`.pte`) lowered to the XNNPACK CPU backend (fp32)."""

from __future__ import annotations

from pathlib import Path

import torch


def export(graph, example, folder: Path, name: str, precision: str, calibration=None, exclusions=()) -> str:
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
    except ModuleNotFoundError as err:
        from ..errors import CheckpointError

        raise CheckpointError(f"ExecuTorch export needs the `{err.name}` package: pip install executorch") from None
    with torch.no_grad():
        program = torch.export.export(graph.eval(), tuple(example.values()))
    lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    path = folder / f"{name}.pte"
    path.write_bytes(lowered.buffer)
    return path.name
