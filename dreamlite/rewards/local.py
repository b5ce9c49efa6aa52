"""What every learned reward does at its edge: check a local model folder, pick a device and dtype.

Learned rewards load from local folders only (never the hub, never pickles, never remote code); each failure
is one ValueError line naming the argument.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..loading import CheckpointError, check_safetensors_only


def model_folder(path, reward: str, what: str) -> Path:
    """A folder with config.json and safetensors weights, else a one-line ValueError."""
    if path is None:
        raise ValueError(f"reward {reward!r} needs `path`: a local folder with {what}")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ValueError(f"reward {reward!r}: no such folder {path} (expected {what})")
    if not (folder / "config.json").is_file():
        raise ValueError(f"reward {reward!r}: {folder} has no config.json (expected {what})")
    try:
        check_safetensors_only(folder)
    except CheckpointError as err:
        raise ValueError(f"reward {reward!r}: {err}") from None
    return folder


def preprocessor_settings(folder: Path, reward: str) -> dict:
    """The image processor's keywords from preprocessor_config.json, without the keys that name classes."""
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        raise ValueError(f"reward {reward!r}: {folder} has no preprocessor_config.json (the image processor)")
    config = json.loads(path.read_text())
    return {k: v for k, v in config.items() if not k.endswith(("_type", "_class")) and k != "auto_map"}


def pick_device(device: str | None) -> torch.device:
    """The named device; by default this process's current CUDA device (accelerate sets one per rank), else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def pick_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    """float32 on CPU, bfloat16 on an accelerator, unless named."""
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype is None:
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    if dtype not in names:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(names)}")
    return names[dtype]


def features(out) -> torch.Tensor:
    """transformers 5 returns an output object whose pooler_output is the projected embedding; 4.x a tensor."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def scored_samples(n: int, sources=None, tasks=None, edits: bool = False) -> list[int]:
    """Indices a text-image reward scores: every sample when `edits`, else the generation samples only (no source,
    task not "edit"). An edit's instruction is no caption, and a constant value over an edit group gives it no
    advantage, so the others get 0."""
    if edits:
        return list(range(n))
    return [i for i in range(n) if (sources is None or sources[i] is None)
            and (tasks is None or tasks[i] != "edit")]
