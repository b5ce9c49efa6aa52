"""Refuse pickled weights before anything could unpickle them: dreamlite reads safetensors only."""

from __future__ import annotations

from pathlib import Path

from .errors import CheckpointError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def check_safetensors_only(folder: Path) -> None:
    """Refuse pickled weights with a clear message instead of ever unpickling them."""
    if any(folder.glob("*.safetensors")):
        return
    pickled = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
    if pickled:
        raise CheckpointError(f"{folder} has only pickled weights ({', '.join(sorted(pickled))}); dreamlite "
                              "loads safetensors only: convert them with a tool you trust")
    raise CheckpointError(f"no .safetensors weights in {folder}")
