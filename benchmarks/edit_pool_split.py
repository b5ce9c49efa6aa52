"""Memorised or not: ShapesBench editing splits drawn from a recipe's finite training edit pool and from the same
stream just past it.

A ShapesWorld source with `items: N` trains on the first N items of its stream; items N, N+1, ... come from the
same generator but were never seen. Scoring a model on both splits (`dreamlite eval shapes --items`) tells
overfitting to the pool (pool well above fresh) from underfitting (both alike).

    python benchmarks/edit_pool_split.py --count 48 --out runs/pool48 runs/fresh48   # ~1 min
    dreamlite eval shapes --model shapes-base --items runs/pool48 --workers 2 --out runs/val-pool48
    dreamlite eval shapes --model shapes-base --items runs/fresh48 --workers 2 --out runs/val-fresh48

Defaults: the `edit-pool` source of recipes/shapes-base-96-cpu.yaml (recipe seed 0, 96 px, 8,192 items).
"""

import argparse
import zlib
from pathlib import Path

from PIL import Image

from dreamlite.shapes.dataset import TASK_CATEGORIES
from dreamlite.shapes.edits import make_edit_item
from dreamlite.shapes.layout import write_index
from dreamlite.shapes.render import render_scene
from dreamlite.train.data.shapes import ShapesSource, ShapesSpec


def write_split(source: ShapesSource, out: Path, start: int, stop: int | None, count: int, size: int) -> int:
    """The first `count` items per editing category of the stream in [start, stop); returns the last index."""
    stream = source.stream
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "sources").mkdir(exist_ok=True)
    counts = dict.fromkeys(TASK_CATEGORIES["edit"], 0)
    records, k = [], start
    while min(counts.values()) < count:
        if stop is not None and k >= stop:
            raise SystemExit(f"the pool has fewer than {count} items of some category: {counts}")
        # item k exactly as ShapesStream.item draws it, keeping the scorer's spec
        rng = stream_rng(stream, k)
        category = TASK_CATEGORIES["edit"][rng.choice(len(TASK_CATEGORIES["edit"]), p=stream.category_p["edit"])]
        made = make_edit_item(rng, category)
        assert made.prompt == source.item(k)["prompt"], "the split drifted from the training stream"
        if counts[category] < count:
            counts[category] += 1
            rid = f"edit-{category}-{k:05d}"
            record = {"id": rid, "task": "editing", "category": category, "prompt": made.prompt,
                      "image": f"images/{rid}.png", "source": f"sources/{rid}.png", "spec": made.spec,
                      "width": size, "height": size, "seed": zlib.crc32(f"pool/{rid}".encode())}  # both splits
            Image.fromarray(render_scene(made.source, size)).save(out / record["source"])
            Image.fromarray(render_scene(made.target, size)).save(out / record["image"])
            records.append(record)
        k += 1
    write_index(out, records)
    return k - 1


def stream_rng(stream, k: int):
    from dreamlite.shapes.scene import item_rng

    rng = item_rng(stream.seed, "train", k)
    task = stream.tasks[rng.choice(len(stream.tasks), p=stream.task_p)]
    assert task == "edit"
    return rng


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=16, help="items per editing category (16)")
    parser.add_argument("--seed", type=int, default=0, help="the recipe's seed (0)")
    parser.add_argument("--size", type=int, default=96, help="image side (96)")
    parser.add_argument("--items", type=int, default=8192, help="the pool's size (8192)")
    parser.add_argument("--out", nargs=2, metavar=("POOL", "FRESH"), required=True, help="the two split folders")
    args = parser.parse_args()
    source = ShapesSource(ShapesSpec(size=args.size, items=args.items), "edit", args.seed)
    pool, fresh = map(Path, args.out)
    print(f"{pool}: items 0..{write_split(source, pool, 0, args.items, args.count, args.size)} (in the pool)")
    last = write_split(source, fresh, args.items, None, args.count, args.size)
    print(f"{fresh}: items {args.items}..{last} (past the pool)")


if __name__ == "__main__":
    main()
