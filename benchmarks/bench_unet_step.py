"""One U-Net training step of a recipe's model, eager against `torch.compile` (what `run.compile` does), in one
process: milliseconds per step, the ratio, and the time the compiled steps spent compiling.

The step is forward, velocity-style MSE, backward and AdamW at the recipe's first-stage batch and resolution, with
`--tokens` of prompt embedding (460 is a ShapesWorld edit prompt: instruction plus the source image's tokens;
compiled runs pad it to a multiple of 64, as the trainer does).

    python benchmarks/bench_unet_step.py shapes-base-128 --tokens 460            # a GPU: the recipe's batch
    python benchmarks/bench_unet_step.py shapes-base --batch 8 --steps 3        # a CPU: small and slow to compile
"""

from __future__ import annotations

import argparse
import time

import torch

from dreamlite.models.config import UNetConfig
from dreamlite.models.unet import DreamLiteUNet
from dreamlite.train.recipe import load_recipe


def time_steps(unet, inputs, steps: int, warmup: int, sync) -> tuple[float, float]:
    """(seconds of the warm-up steps, seconds per step after them)."""
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    tick = time.perf_counter()
    for i in range(warmup + steps):
        if i == warmup:
            sync()
            warm, tick = time.perf_counter() - tick, time.perf_counter()
        unet(*inputs).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    sync()
    return warm, (time.perf_counter() - tick) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", nargs="?", default="shapes-base")
    parser.add_argument("--batch", type=int, default=None, help="default: the recipe's first-stage batch")
    parser.add_argument("--tokens", type=int, default=460)
    parser.add_argument("--steps", type=int, default=10, help="timed steps, after 3 warm-up steps")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    args = parser.parse_args()

    recipe = load_recipe(args.recipe, args.set)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    config = UNetConfig.from_dict(recipe.model.unet)
    batch = args.batch or recipe.stages[0].batch
    side = recipe.stages[0].resolution // 8
    results = {}
    for mode in ("eager", "compiled"):
        torch.manual_seed(0)
        unet = DreamLiteUNet(config).to(device).train()
        tokens = args.tokens
        if mode == "compiled":
            unet.compile(dynamic=False)
            tokens = -(-tokens // 64) * 64
        inputs = (torch.randn(batch, 4, side, 2 * side, device=device), torch.rand(batch, device=device) * 1000,
                  torch.randn(batch, tokens, config.encoder_hid_dim, device=device),
                  torch.ones(batch, tokens, dtype=torch.long, device=device),
                  torch.full((batch, 2), float(recipe.stages[0].resolution), device=device))
        results[mode] = time_steps(unet, inputs, args.steps, 3, sync)
        print(f"{mode:>8}: {results[mode][1] * 1000:8.1f} ms/step  (warm-up {results[mode][0]:.1f} s)", flush=True)
    eager, compiled = results["eager"][1], results["compiled"][1]
    print(f"{args.recipe} on {device}, batch {batch}, latent {side}x{2 * side}, {args.tokens} tokens: compiled "
          f"steps are {eager / compiled:.2f}x as fast as eager; compiling cost {results['compiled'][0]:.0f} s, "
          f"repaid after {results['compiled'][0] / max(eager - compiled, 1e-9):.0f} steps" if compiled < eager else
          f"{args.recipe} on {device}: compiled steps are {eager / compiled:.2f}x as fast as eager (no gain)")


if __name__ == "__main__":
    main()
