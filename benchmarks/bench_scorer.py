"""Benchmark the ShapesBench scorer: speed on one core, and the robustness curve under image damage.

    python benchmarks/bench_scorer.py                 # time scoring 1,000 items on one core
    python benchmarks/bench_scorer.py --robustness    # score vs damage level, on the public eval split

Speed: 1,000 items of the public eval split's layout (generation and editing mixed, 64 x 64) are rendered
to a temporary folder, then `score_dir` reads and judges them.  Editing items also run the detector on their
source, so 1,000 items means 1,000 scored images plus ~600 sources.
"""

import os

# One core: pin the process and keep BLAS/OpenMP single-threaded (before numpy is imported).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

from dreamlite.shapes.damage import DAMAGES  # noqa: E402
from dreamlite.shapes.layout import read_index, render_split, write_index  # noqa: E402
from dreamlite.shapes.score import score_dir, summarize  # noqa: E402

CURVE = {"blur": [0.5, 1.0, 1.5, 2.0], "jpeg": [90, 50, 30, 10], "noise": [4, 8, 16, 32], "shift": [1, 2, 3, 4]}
UNITS = {"blur": "sigma px", "jpeg": "quality", "noise": "std /255", "shift": "px right+down"}


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


def bench_speed(root: Path, items: int, size: int) -> dict:
    per_category = -(-items // 15)
    render_split(root, count=per_category, size=size)
    write_index(root, read_index(root)[:items])
    start = time.perf_counter()
    scores = score_dir(root)
    seconds = time.perf_counter() - start
    editing = sum(s.task == "editing" for s in scores)
    return {"items": len(scores), "scored_images": len(scores), "source_images": editing, "size": size,
            "seconds": round(seconds, 2), "ms_per_item": round(1000 * seconds / len(scores), 2),
            "overall": summarize(scores)["overall"]}


def bench_robustness(root: Path) -> list[dict]:
    render_split(root)
    rows = [{"damage": "none", "level": 0, **_scores(score_dir(root))}]
    for name, levels in CURVE.items():
        for level in levels:
            rows.append({"damage": name, "level": level,
                         **_scores(score_dir(root, transform=partial(DAMAGES[name], level=level)))})
            print(f"  {name} {level}: overall {rows[-1]['overall']:.3f}", flush=True)
    return rows


def _scores(scores) -> dict:
    summary = summarize(scores)
    worst = min((v, f"{t}/{c}") for t in ("generation", "editing") for c, v in summary[t].items() if c != "overall")
    return {"overall": summary["overall"], "generation": summary["generation"]["overall"],
            "editing": summary["editing"]["overall"],
            "worst_category": f"{worst[1]} {worst[0]:.3f}" if worst[0] < 1.0 else "-"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000, help="items to score for the speed figure")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--robustness", action="store_true", help="measure score vs damage level instead")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    print(pin_one_core())
    with tempfile.TemporaryDirectory() as tmp:
        if args.robustness:
            rows = bench_robustness(Path(tmp))
            print("\n| damage | level | unit | overall | generation | editing | worst category |")
            print("| --- | ---: | --- | ---: | ---: | ---: | --- |")
            for r in rows:
                unit = UNITS.get(r["damage"], "")
                print(f"| {r['damage']} | {r['level']} | {unit} | {r['overall']:.3f} | {r['generation']:.3f} | "
                      f"{r['editing']:.3f} | {r['worst_category']} |")
            result = rows
        else:
            result = bench_speed(Path(tmp) / "split", args.items, args.size)
            print(f"scored {result['items']} items ({result['scored_images']} images + {result['source_images']} "
                  f"sources, {args.size}x{args.size}) in {result['seconds']} s on one core: "
                  f"{result['ms_per_item']} ms per item; overall {result['overall']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
