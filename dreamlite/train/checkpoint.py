"""Training checkpoints and stage folders, written atomically.

Everything is first written into a `.tmp-*` folder beside its destination and then renamed with `os.replace`, so
a run killed at any instant leaves either the previous complete folder or the new complete one; leftovers are
removed at the next start. A checkpoint holds the U-Net (trainable module, safetensors), the optimizer, the
EMA (safetensors), every process's RNG states, the data position (items each stream has given), the step, and
the resolved recipe.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

CHECKPOINTS = "checkpoints"
STAGE_FILE = "stage.safetensors"
_NAME = re.compile(r"stage(\d+)-step(\d+)$")


def checkpoint_name(stage: int, step: int) -> str:
    return f"stage{stage:02d}-step{step:08d}"


def list_checkpoints(out: Path) -> list[tuple[int, int, Path]]:
    """Complete checkpoints as (stage index, step, folder), oldest first."""
    folder = out / CHECKPOINTS
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            m = _NAME.match(path.name)
            if m and (path / "trainer_state.json").is_file():
                found.append((int(m.group(1)), int(m.group(2)), path))
    return sorted(found)


def latest_checkpoint(out: Path, stage: int) -> Path | None:
    mine = [path for s, _, path in list_checkpoints(out) if s == stage]
    return mine[-1] if mine else None


def remove_partial(out: Path) -> None:
    """Drop `.tmp-*` folders that a killed run left behind."""
    for parent in (out, out / CHECKPOINTS):
        if parent.is_dir():
            for path in parent.glob(".tmp-*"):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


def prune(out: Path, keep: int) -> None:
    for _, _, path in list_checkpoints(out)[:-keep]:
        (path / "trainer_state.json").unlink()  # first, so a half-deleted folder never looks complete
        shutil.rmtree(path, ignore_errors=True)


def commit(tmp: Path, final: Path) -> None:
    """Make `tmp` visible as `final` in one rename (replacing an older `final` if present)."""
    _fsync_tree(tmp)
    if final.exists():
        old = final.with_name(f".tmp-old-{final.name}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_dir(final.parent)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- RNG ---------------------------------------------------------------------------------------------------
def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def save_rng(path: Path) -> None:
    state = rng_state()
    version, internal, gauss = state["python"]
    name, keys, pos, has_gauss, cached = state["numpy"]
    torch.save({"torch": state["torch"], "cuda": state.get("cuda", []),
                "python": [version, list(internal), gauss],
                "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached]}, path)


def load_rng(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))


# ---- save / load -------------------------------------------------------------------------------------------
def save_checkpoint(accelerator, out: Path, stage: int, step: int, model, optimizer, ema, trainer_state: dict,
                    recipe_yaml: str, keep: int, stage_tensors: dict | None = None) -> Path:
    """Collective: every process calls it. Returns the checkpoint folder. `stage_tensors`: the stage object's
    own state (an RL stage's old policy), the same on every process, written once."""
    name = checkpoint_name(stage, step)
    tmp, final = out / CHECKPOINTS / f".tmp-{name}", out / CHECKPOINTS / name
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    rank = accelerator.process_index
    fsdp = accelerator.distributed_type.name == "FSDP"
    if fsdp:  # sharded state: accelerate's FSDP helpers write and read it
        from accelerate.utils import save_fsdp_model, save_fsdp_optimizer

        save_fsdp_model(accelerator.state.fsdp_plugin, accelerator, model, str(tmp))
        save_fsdp_optimizer(accelerator.state.fsdp_plugin, accelerator, optimizer, model, str(tmp))
    elif accelerator.is_main_process:
        state = accelerator.unwrap_model(model).state_dict()
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, tmp / "model.safetensors")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    if ema is not None and (fsdp or accelerator.is_main_process):
        suffix = f"-rank{rank}" if fsdp else ""
        save_file({k: v.contiguous().cpu() for k, v in ema.state_dict().items()}, tmp / f"ema{suffix}.safetensors")
    if stage_tensors is not None and accelerator.is_main_process:
        save_file({k: v.detach().contiguous().cpu() for k, v in stage_tensors.items()}, tmp / STAGE_FILE)
    save_rng(tmp / f"rng-rank{rank}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "recipe.yaml").write_text(recipe_yaml)
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2) + "\n")
        commit(tmp, final)
        prune(out, keep)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, folder: Path, model, optimizer, ema) -> dict:
    """Restore model, optimizer, EMA and this process's RNG; returns the trainer state."""
    # Multi-process CPU runs get device "cpu:0", which torch.load's map_location does not accept.
    where = torch.device("cpu") if accelerator.device.type == "cpu" else accelerator.device
    if accelerator.distributed_type.name == "FSDP":
        from accelerate.utils import load_fsdp_model, load_fsdp_optimizer

        load_fsdp_model(accelerator.state.fsdp_plugin, accelerator, model, str(folder))
        load_fsdp_optimizer(accelerator.state.fsdp_plugin, accelerator, optimizer, model, str(folder))
        ema_file = folder / f"ema-rank{accelerator.process_index}.safetensors"
    else:
        accelerator.unwrap_model(model).load_state_dict(load_file(folder / "model.safetensors"))
        optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True, map_location=where))
        ema_file = folder / "ema.safetensors"
    if ema is not None:
        ema.load_state_dict(load_file(ema_file, device=str(where)))
    rng = folder / f"rng-rank{accelerator.process_index}.pt"
    if rng.is_file():  # absent when resuming with more processes than wrote the checkpoint
        load_rng(rng)
    return json.loads((folder / "trainer_state.json").read_text())


def load_stage_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """The stage object's tensors saved with a checkpoint (empty when it saved none)."""
    path = folder / STAGE_FILE
    return load_file(path) if path.is_file() else {}
