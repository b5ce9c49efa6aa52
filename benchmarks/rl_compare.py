"""Compare RL runs on the same sampling budget: training reward against samples drawn, from each run's curves.

    python benchmarks/rl_compare.py runs/shapes-rl runs/shapes-rl-awm --stage rl-01 --iterations 15 \\
        --out docs/rl-nft-vs-awm.png

A run's curves are read from its stage folder (`rl_curves.json`, written when the stage ends) or, for a stage
still running or stopped, from its newest checkpoint (`trainer_state.json`'s stage_state). Samples = iterations
x batch x group, from the run's recipe. Prints a Markdown table of the reward (mean of the last five
iterations, and the gain over the first five) per run and task.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml


def stage_history(run: Path, stage: str) -> tuple[list[dict], dict]:
    """(iteration rows, the stage's recipe entry) of `stage` in run folder `run`."""
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    names = [s["name"] for s in recipe["stages"]]
    if stage not in names:
        raise SystemExit(f"{run}: no stage {stage!r} (stages: {', '.join(names)})")
    spec = recipe["stages"][names.index(stage)]
    done = run / stage / "rl_curves.json"
    if done.is_file():
        rows = json.loads(done.read_text())
    else:
        index = names.index(stage)
        checkpoints = sorted((run / "checkpoints").glob(f"stage{index:02d}-step*/trainer_state.json"))
        if not checkpoints:
            raise SystemExit(f"{run}: stage {stage} has neither finished nor checkpointed")
        rows = json.loads(checkpoints[-1].read_text())["stage_state"]["history"]
    return [r for r in rows if "held_out" not in r], spec


def summarize(rows: list[dict], key: str, iterations: int) -> tuple[float, float]:
    values = [r[key] for r in rows[:iterations] if key in r]
    if len(values) < 2:
        return float("nan"), float("nan")
    k = min(5, len(values) // 2)
    return float(np.mean(values[-k:])), float(np.mean(values[-k:]) - np.mean(values[:k]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--stage", default="rl-01")
    parser.add_argument("--iterations", type=int, default=None, help="compare the first N iterations of each")
    parser.add_argument("--out", type=Path, default=None, help="PNG of reward against samples")
    args = parser.parse_args()
    histories = {}
    for run in args.runs:
        rows, spec = stage_history(run, args.stage)
        rl = spec["rl"]
        histories[run] = (rows[:args.iterations] if args.iterations else rows, spec["batch"] * rl["group"],
                          rl["algorithm"])
    n = min(len(h[0]) for h in histories.values())
    print(f"| run | algorithm | iterations | samples | reward (last 5) | gain over first 5 | t2i | edit |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run, (rows, per, algorithm) in histories.items():
        cells = [summarize(rows, key, n) for key in ("reward/all", "reward/t2i", "reward/edit")]
        print(f"| {run} | {algorithm} | {n} | {n * per:,} | {cells[0][0]:.3f} | {cells[0][1]:+.3f} | "
              f"{cells[1][0]:.3f} ({cells[1][1]:+.3f}) | {cells[2][0]:.3f} ({cells[2][1]:+.3f}) |")
    if args.out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        for run, (rows, per, algorithm) in histories.items():
            for ax, key in zip(axes, ("reward/all", "reward/t2i", "reward/edit")):
                picked = [(r["iteration"] * per, r[key]) for r in rows[:n] if key in r]
                ax.plot(*zip(*picked), marker=".", label=f"{algorithm} ({run.name})")
                ax.set_title(key)
                ax.set_xlabel("samples")
        for ax in axes:
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.out, dpi=80)
        print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
