"""One U-Net training step of a recipe's model, eager against `torch.compile` (what `run.compile` does), in one
process: milliseconds per step, the ratio, and the time the compiled steps spent compiling.

The step is `dreamlite.train.step_timing.time_unet_step` (forward, MSE, backward, AdamW) at the recipe's
first-stage batch and resolution with `--tokens` of prompt embedding (compiled steps pad it as the trainer does).

    python benchmarks/bench_unet_step.py shapes-base-128 --tokens 460            # a GPU: the recipe's batch
    python benchmarks/bench_unet_step.py shapes-base --batch 8 --steps 3        # a CPU: small and slow to compile
"""

from __future__ import annotations

import argparse

import torch

from dreamlite.train.recipe import load_recipe
from dreamlite.train.step_timing import EDIT_TOKENS, time_unet_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", nargs="?", default="shapes-base")
    parser.add_argument("--batch", type=int, default=None, help="default: the recipe's first-stage batch")
    parser.add_argument("--tokens", type=int, default=EDIT_TOKENS)
    parser.add_argument("--steps", type=int, default=10, help="timed steps, after 3 warm-up steps")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    args = parser.parse_args()

    recipe = load_recipe(args.recipe, args.set)
    results = {}
    for mode in ("eager", "compiled"):
        results[mode] = time_unet_step(recipe, args.batch, args.tokens, compiled=mode == "compiled",
                                       steps=args.steps)
        print(f"{mode:>8}: {results[mode][1] * 1000:8.1f} ms/step  (warm-up {results[mode][0]:.1f} s)", flush=True)
    (_, eager), (compile_s, compiled) = results["eager"], results["compiled"]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    batch = args.batch or recipe.stages[0].batch
    side = recipe.stages[0].resolution // 8
    if compiled < eager:
        print(f"{args.recipe} on {device}, batch {batch}, latent {side}x{2 * side}, {args.tokens} tokens: compiled "
              f"steps are {eager / compiled:.2f}x as fast as eager; compiling cost {compile_s:.0f} s, repaid after "
              f"{compile_s / (eager - compiled):.0f} steps")
    else:
        print(f"{args.recipe} on {device}: compiled steps are {eager / compiled:.2f}x as fast as eager (no gain)")


if __name__ == "__main__":
    main()
