"""One U-Net training step of a recipe's model on this machine, timed: what sizes a run to a time budget
(scripts/train_shapes_base_gpu.sh) and what compares eager with compiled steps (benchmarks/bench_unet_step.py).

The step is forward, an MSE, backward and AdamW at the recipe's first-stage batch and resolution with `tokens`
of prompt embedding (460: a ShapesWorld edit prompt, instruction plus the source image's tokens). Compiled, the
U-Net is compiled and the prompt padded as the trainer does (`run.compile`).
"""

from __future__ import annotations

import time

import torch

from ..models.config import UNetConfig
from ..models.unet import DreamLiteUNet
from .stages import COMPILED_TEXT_MULTIPLE, MIXED_PRECISION_DTYPES

EDIT_TOKENS = 460


def time_unet_step(recipe, batch: int | None = None, tokens: int = EDIT_TOKENS, compiled: bool = False,
                   steps: int = 10, warmup: int = 3, mixed_precision: str = "no") -> tuple[float, float]:
    """(seconds of the `warmup` untimed steps, which include compiling; seconds per step after them), on CUDA
    when available (TF32 and cuDNN autotuning on, as `deterministic: false` runs train). `mixed_precision` bf16
    or fp16 runs forward and loss under autocast with float32 weights, as `run.mixed_precision` does."""
    if mixed_precision not in MIXED_PRECISION_DTYPES:
        raise ValueError(f"mixed_precision: expected one of {', '.join(MIXED_PRECISION_DTYPES)}, "
                         f"got {mixed_precision!r}")
    dtype = MIXED_PRECISION_DTYPES[mixed_precision]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    config = UNetConfig.from_dict(recipe.model.unet)
    batch = batch or recipe.stages[0].batch
    side = recipe.stages[0].resolution // 8
    torch.manual_seed(0)
    unet = DreamLiteUNet(config).to(device).train()
    if compiled:
        unet.compile(dynamic=False)
        tokens = -(-tokens // COMPILED_TEXT_MULTIPLE) * COMPILED_TEXT_MULTIPLE
    inputs = (torch.randn(batch, 4, side, 2 * side, device=device), torch.rand(batch, device=device) * 1000,
              torch.randn(batch, tokens, config.encoder_hid_dim, device=device),
              torch.ones(batch, tokens, dtype=torch.long, device=device),
              torch.full((batch, 2), float(recipe.stages[0].resolution), device=device))
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    tick = time.perf_counter()
    for i in range(warmup + steps):
        if i == warmup:
            sync()
            warm, tick = time.perf_counter() - tick, time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=mixed_precision != "no"):
            loss = unet(*inputs).float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    sync()
    return warm, (time.perf_counter() - tick) / steps
