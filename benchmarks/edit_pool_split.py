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
from dreamlite.shapes.layout import write_index
from dreamlite.train.data.shapes import ShapesSource, ShapesSpec


def write_split(source: ShapesSource, out: Path, start: int, stop: int | None, count: int) -> int:
    """The first `count` items per editing category of the stream in [start, stop); returns the last index."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "sources").mkdir(exist_ok=True)
    counts = dict.fromkeys(TASK_CATEGORIES["edit"], 0)
    records, k = [], start
    while min(counts.values()) < count:
        if stop is not None and k >= stop:
            raise SystemExit(f"the pool has fewer than {count} items of some category: {counts}")
        item = source.stream.item(k)  # numpy images, and the spec the scorer judges the item by
        category = item["category"]
        if counts[category] < count:
            counts[category] += 1
            rid = f"edit-{category}-{k:05d}"
            height, width = item["target"].shape[:2]
            record = {"id": rid, "task": "editing", "category": category, "prompt": item["prompt"],
                      "image": f"images/{rid}.png", "source": f"sources/{rid}.png", "spec": item["spec"],
                      "width": width, "height": height, "seed": zlib.crc32(f"pool/{rid}".encode())}  # both splits
            Image.fromarray(item["source"]).save(out / record["source"])
            Image.fromarray(item["target"]).save(out / record["image"])
            records.append(record)
        k += 1
    write_index(out, records)
    return k - 1


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
    print(f"{pool}: items 0..{write_split(source, pool, 0, args.items, args.count)} (in the pool)")
    last = write_split(source, fresh, args.items, None, args.count)
    print(f"{fresh}: items {args.items}..{last} (past the pool)")


if __name__ == "__main__":
    main()
