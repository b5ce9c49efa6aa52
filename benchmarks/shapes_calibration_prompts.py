"""A `dreamlite export --calibration` prompt file for ShapesWorld models: captions and editing instructions from
the training stream (its seeds are apart from the eval split's, so ShapesBench items are not calibrated on).

    python benchmarks/shapes_calibration_prompts.py --out shapes-calibration.txt [--per-task 16]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dreamlite.shapes.dataset import ShapesStream


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-task", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    lines = {"t2i": [], "edit": []}
    stream = ShapesStream(seed=args.seed, format="numpy")
    k = 0
    while min(len(v) for v in lines.values()) < args.per_task:
        item = stream.item(k)
        k += 1
        if len(lines[item["task"]]) < args.per_task:
            lines[item["task"]].append(item["prompt"].replace("\n", " "))
    args.out.write_text("\n".join(lines["t2i"] + [f"edit: {x}" for x in lines["edit"]]) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
