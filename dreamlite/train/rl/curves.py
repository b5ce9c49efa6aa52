"""An RL stage's curves: `rl_curves.json` (every iteration's row) and `rl_curves.png` (reward, drift and the
held-out ShapesBench per category against iterations), written into the stage's folder at its end."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

from ..export import write_new


def write_curves(history: list[dict], folder) -> Path:
    folder = Path(folder)
    write_new(folder / "rl_curves.json", json.dumps(history, indent=1) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: rl_curves.png not drawn (pip install 'dreamlite[train]')")
        return folder / "rl_curves.json"
    steps = [r for r in history if "held_out" not in r]
    evals = [r for r in history if "held_out" in r]
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
    plot = lambda ax, rows, key, label: ax.plot(  # noqa: E731
        [r["iteration"] for r in rows if _ok(r.get(key))], [r[key] for r in rows if _ok(r.get(key))], label=label)
    for key in ("reward/all", "reward/t2i", "reward/edit"):
        plot(axes[0], steps, key, key)
    axes[0].set_title("training reward (group means)")
    for key in ("drift", "brightness", "x0_rms", "signal_groups"):
        plot(axes[1], steps, key, key)
    axes[1].set_title("drift and norms")
    rows = [{"iteration": r["iteration"], **r["held_out"]} for r in evals]
    names = sorted({k for r in rows for k in r if k != "iteration"})
    for key in [n for n in names if n.startswith("generation/")]:
        plot(axes[2], rows, key, key.split("/", 1)[1])
    axes[2].set_title("held-out ShapesBench: generation")
    for key in [n for n in names if n.startswith("editing/")] + ["editing_kept/overall"]:
        plot(axes[3], rows, key, key.replace("editing/", "").replace("editing_kept/overall", "kept"))
    axes[3].set_title("held-out ShapesBench: editing")
    for ax in axes:
        ax.set_xlabel("optimizer step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:  # a run without held-out evals
            ax.text(0.5, 0.5, "no held-out evals in this run", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    path = folder / "rl_curves.png"
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=80)
    plt.close(fig)
    write_new(path, png.getvalue())
    return path


def _ok(value) -> bool:
    return isinstance(value, float | int) and not math.isnan(value)
