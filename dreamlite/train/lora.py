"""LoRA (Hu et al. 2021) through peft on the official DreamLite targets (`to_q`, `to_k`, `to_v`, `to_out.0`).

A LoRA stage trains only the adapters. Its pipeline folder holds the merged U-Net (so `DreamLite.from_pretrained`
needs nothing else) and, in `lora/`, the adapters alone in peft's format for use on top of the stage's input.
Merging works on a plain state dict, so it also serves gathered FSDP weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

PEFT_PREFIX = "base_model.model."


def add_lora(unet: torch.nn.Module, spec) -> torch.nn.Module:
    """Wrap `unet` with fresh adapters; only they require grad."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                        target_modules=list(spec.targets), init_lora_weights=True)
    unet.requires_grad_(False)
    model = get_peft_model(unet, config)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"LoRA targets {spec.targets} match no module of the U-Net")
    return model


def merge_lora_state(state: dict[str, torch.Tensor], spec) -> tuple[dict, dict]:
    """A peft-wrapped U-Net's state dict -> (plain U-Net state with W + (alpha / r) B A merged in, adapters in
    peft's saved format)."""
    scale = spec.alpha / spec.rank
    merged, adapters = {}, {}
    for key, value in state.items():
        name = key[len(PEFT_PREFIX):] if key.startswith(PEFT_PREFIX) else key
        if ".lora_" in name:
            adapters[PEFT_PREFIX + name.replace(".default", "")] = value
            continue
        merged[name.replace(".base_layer", "")] = value
    for key in list(adapters):
        if ".lora_A." not in key:
            continue
        module = key[len(PEFT_PREFIX):].split(".lora_A.")[0]
        a = adapters[key].float()
        b = adapters[key.replace(".lora_A.", ".lora_B.")].float()
        weight = module + ".weight"
        merged[weight] = (merged[weight].float() + scale * (b @ a)).to(merged[weight].dtype)
    return merged, adapters


def save_adapters(adapters: dict[str, torch.Tensor], spec, folder: Path) -> None:
    """peft's layout: adapter_config.json and adapter_model.safetensors."""
    from peft import LoraConfig
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in adapters.items()}, folder / "adapter_model.safetensors")
    config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                        target_modules=list(spec.targets)).to_dict()
    config = {k: sorted(v) if isinstance(v, set) else v for k, v in config.items()}
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")
