"""Training throughput of a recipe, stage by stage: seconds per step and samples per second.

Runs `dreamlite train RECIPE --max-steps N` into a temporary folder (so every stage runs N steps, warm-up and
checkpoint writes included) and reads each stage's `train_state.json` (its training time excludes building the
initial pipeline, filling the latent cache and exporting the stage).

    python benchmarks/bench_train_speed.py shapes-tiny --steps 40 --set model.vae.path=runs/shapes-vae
    python benchmarks/bench_train_speed.py shapes-tiny --steps 40 --set model.vae.path=null   # random VAE
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", nargs="?", default="shapes-tiny")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default=None, help="keep the run here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp) / "run"
        command = [sys.executable, "-m", "dreamlite.cli", "train", args.recipe, "--out", str(out), "--max-steps",
                   str(args.steps), "--save-every", str(10**9)] + [x for s in args.set for x in ("--set", s)]
        tick = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - tick
        recipe = (out / "recipe.yaml").read_text()
        print(f"{args.recipe}: {args.steps} steps per stage, wall {wall:.0f} s (imports, initial pipeline, cache, "
              "exports included)\n")
        print("| stage | batch | s/step | samples/s |")
        print("| --- | ---: | ---: | ---: |")
        import yaml

        for stage in yaml.safe_load(recipe)["stages"]:
            state = json.loads((out / stage["name"] / "train_state.json").read_text())
            per_step = state["train_seconds"] / state["steps"]
            print(f"| {stage['name']} | {state['batch']} | {per_step:.3f} | {state['batch'] / per_step:.1f} |")


if __name__ == "__main__":
    main()
