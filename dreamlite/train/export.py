"""A stage's result as a pipeline folder (diffusers layout) that `DreamLite.from_pretrained` loads.

The frozen parts (VAE, prompt encoder, tokenizer, processor, scheduler) are the stage input's files, hard-linked
where the filesystem allows (a 2B prompt encoder is not copied once per stage); `unet/` is written anew from the
trained weights (EMA when the stage keeps one, LoRA merged in).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from ..loading import PIPELINE_VARIANTS, save_unet
from ..models.unet import DreamLiteUNet
from .checkpoint import commit
from .lora import merge_lora_state, save_adapters

ADOPTED_FILE = "adopted_from.txt"  # in a stage folder taken in by `train --stage-folder`: where it came from
# Files about one stage (its recipe and state, an rl stage's curves, a distill stage's settings): not passed on
# to the next stage's folder, which writes its own.
TRAINING_FILES = ("train_recipe.yaml", "train_state.json", ADOPTED_FILE, "rl_curves.json", "rl_curves.png",
                  "distill.json")


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_new(path: Path, data: str | bytes) -> None:
    """Write `path` as a new file (a temporary one renamed over it): a file hard-linked from another folder is
    replaced here, never written through."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def copy_pipeline(src: Path, dst: Path, skip=("unet", "lora") + TRAINING_FILES) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for path in src.iterdir():
        if path.name in skip or path.name.startswith(".tmp-"):
            continue
        if path.is_dir():
            shutil.copytree(path, dst / path.name, copy_function=_link_or_copy)
        else:
            _link_or_copy(path, dst / path.name)


def export_stage(state: dict[str, torch.Tensor], config, lora_spec, input_folder: Path, folder: Path,
                 recipe_yaml: str, summary: dict, variant: str | None = None) -> None:
    """Write the stage folder from a full U-Net state dict (main process only). `variant` (base or mobile): the
    pipeline class model_index.json names; None keeps the input's (a distill stage turns base into mobile)."""
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    copy_pipeline(input_folder, tmp)
    if variant is not None:
        set_variant(tmp, variant)
    if lora_spec is not None:
        state, adapters = merge_lora_state(state, lora_spec)
        save_adapters(adapters, lora_spec, tmp / "lora")
    with torch.device("meta"):
        unet = DreamLiteUNet(config)
    unet.load_state_dict({k: v.detach().float().cpu() for k, v in state.items()}, assign=True)
    save_unet(unet, tmp / "unet")
    (tmp / "train_recipe.yaml").write_text(recipe_yaml)
    (tmp / "train_state.json").write_text(json.dumps(summary, indent=2) + "\n")
    commit(tmp, folder)


def set_variant(folder: Path, variant: str) -> None:
    """Name the pipeline class of `variant` in folder/model_index.json (a new file: the copied one may be a hard
    link to the input's)."""
    path = folder / "model_index.json"
    index = json.loads(path.read_text())
    index["_class_name"] = {v: k for k, v in PIPELINE_VARIANTS.items()}[variant]
    write_new(path, json.dumps(index, indent=2) + "\n")


def publish_final(stage_folder: Path, final: Path) -> None:
    """`OUT/final/`: the last stage's pipeline under a name that does not change with the recipe."""
    tmp = final.with_name(f".tmp-{final.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    copy_pipeline(stage_folder, tmp, skip=())
    commit(tmp, final)
