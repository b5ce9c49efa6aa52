"""One U-Net training step of a recipe's model, eager float32 against `torch.compile` (what `run.compile` does)
and against bf16 autocast (what `run.mixed_precision: bf16` does), in one process: milliseconds per step, each
mode's speed as a ratio to eager float32, and the time compiled steps spent compiling.

The step is `dreamlite.train.step_timing.time_unet_step` (forward, MSE, backward, AdamW) at the recipe's
first-stage batch and resolution with `--tokens` of prompt embedding (compiled steps pad it as the trainer does).

    python benchmarks/bench_unet_step.py shapes-base-128 --tokens 460            # a GPU: the recipe's batch
    python benchmarks/bench_unet_step.py shapes-base --batch 8 --steps 3        # a CPU: small and slow to compile
    python benchmarks/bench_unet_step.py shapes-base-96-cpu --modes eager bf16   # a CPU: bf16 (AMX, AVX512-BF16)
"""

from __future__ import annotations

import argparse

import torch

from dreamlite.train.recipe import load_recipe
from dreamlite.train.step_timing import EDIT_TOKENS, time_unet_step

MODES = ("eager", "compiled", "bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", nargs="?", default="shapes-base")
    parser.add_argument("--batch", type=int, default=None, help="default: the recipe's first-stage batch")
    parser.add_argument("--tokens", type=int, default=EDIT_TOKENS)
    parser.add_argument("--steps", type=int, default=10, help="timed steps, after 3 warm-up steps")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    parser.add_argument("--modes", nargs="+", default=["eager", "compiled"], choices=MODES,
                        help="eager (float32), compiled (float32, torch.compile), bf16 (eager, bf16 autocast)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    recipe = load_recipe(args.recipe, args.set)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    batch = args.batch or recipe.stages[0].batch
    side = recipe.stages[0].resolution // 8
    print(f"{args.recipe} on {device} ({torch.get_num_threads()} threads), batch {batch}, latent {side}x{2 * side}, "
          f"{args.tokens} tokens", flush=True)
    modes = ["eager"] + [mode for mode in args.modes if mode != "eager"]  # the baseline always runs, first
    results = {}
    for mode in modes:
        results[mode] = time_unet_step(recipe, args.batch, args.tokens, compiled=mode == "compiled",
                                       steps=args.steps, mixed_precision="bf16" if mode == "bf16" else "no")
        print(f"{mode:>8}: {results[mode][1] * 1000:8.1f} ms/step  (warm-up {results[mode][0]:.1f} s)", flush=True)
    eager = results["eager"][1]
    for mode in modes[1:]:
        warm, seconds = results[mode]
        line = f"{mode} steps are {eager / seconds:.2f}x as fast as eager float32"
        if mode == "compiled" and seconds < eager:
            line += f"; compiling cost {warm:.0f} s, repaid after {warm / (eager - seconds):.0f} steps"
        print(line + ("" if seconds < eager else " (no gain)"))


if __name__ == "__main__":
    main()
