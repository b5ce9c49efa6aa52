"""The on-disk layout of a ShapesBench split, and rendering of ground-truth splits into it.

A split is a folder DIR with DIR/index.jsonl, one JSON object per item:
  id        unique name, e.g. "gen-counting-0007", "edit-move-0012"
  task      "generation" or "editing"
  category  a GenEval category (generation) or an ImgEdit-like category (editing)
  prompt    the caption or the instruction
  image     path relative to DIR of the image to be scored (ground truth as written by `render_split`)
  source    editing only: path relative to DIR of the source image
  spec      what the scorer checks (see generation.py and edits.py)
  width, height  the intended image size; seed  a per-item seed for models that sample
Images are PNGs under DIR/images/ and DIR/sources/.
"""

import json
import zlib
from collections import Counter
from pathlib import Path

from PIL import Image

from .edits import CATEGORIES as EDIT_CATEGORIES
from .edits import make_edit_item
from .generation import CATEGORIES as GENERATION_CATEGORIES
from .generation import make_generation_item
from .render import DEFAULT_SIZE, render_scene
from .scene import item_rng

INDEX = "index.jsonl"
EVAL_SEED = 0  # the public eval split
EVAL_COUNT = 64  # items per category in the public eval split
TASKS = {"generation": GENERATION_CATEGORIES, "editing": EDIT_CATEGORIES}
REQUIRED = ("id", "task", "category", "prompt", "image", "spec")


class ShapesError(ValueError):
    """Bad ShapesWorld input (a malformed split folder or record); the message says which and why."""


def iter_split(seed: int = EVAL_SEED, count: int = EVAL_COUNT, tasks=tuple(TASKS)):
    """Yield (task, category, index, item) for `count` items of every category; a function of (seed, index)."""
    for task in tasks:
        make = make_generation_item if task == "generation" else make_edit_item
        for category in TASKS[task]:
            for index in range(count):
                yield task, category, index, make(item_rng(seed, f"{task}/{category}", index), category)


def item_id(task: str, category: str, index: int) -> str:
    return f"{'gen' if task == 'generation' else 'edit'}-{category}-{index:04d}"


def render_split(out_dir, seed: int = EVAL_SEED, count: int = EVAL_COUNT, size: int = DEFAULT_SIZE,
                 tasks=tuple(TASKS)) -> list[dict]:
    """Write a ground-truth split (images hold the true targets) to `out_dir`; returns the records."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for task, category, index, item in iter_split(seed, count, tasks):
        rid = item_id(task, category, index)
        record = {"id": rid, "task": task, "category": category, "prompt": item.prompt,
                  "image": f"images/{rid}.png", "spec": item.spec, "width": size, "height": size,
                  "seed": zlib.crc32(f"{seed}/{rid}".encode())}
        if task == "editing":
            (out / "sources").mkdir(exist_ok=True)
            record["source"] = f"sources/{rid}.png"
            Image.fromarray(render_scene(item.source, size)).save(out / record["source"])
            Image.fromarray(render_scene(item.target, size)).save(out / record["image"])
        else:
            Image.fromarray(render_scene(item.scene, size)).save(out / record["image"])
        records.append(record)
    write_index(out, records)
    return records


def write_index(out_dir, records: list[dict]) -> None:
    with open(Path(out_dir) / INDEX, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def read_index(root) -> list[dict]:
    """Records of DIR/index.jsonl, checked for the fields the scorer needs."""
    path = Path(root) / INDEX
    if not path.is_file():
        raise ShapesError(f"{path} not found (expected a folder written by `dreamlite shapes render`)")
    records = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ShapesError(f"{path}:{n}: not JSON ({err.msg})") from None
        missing = [k for k in REQUIRED if k not in record]
        if record.get("task") == "editing" and "source" not in record:
            missing.append("source")
        if missing:
            raise ShapesError(f"{path}:{n}: missing {', '.join(missing)}")
        if record["task"] not in TASKS or record["category"] not in TASKS[record["task"]]:
            raise ShapesError(f"{path}:{n}: unknown task/category {record['task']}/{record['category']}")
        records.append(record)
    if not records:
        raise ShapesError(f"{path} has no items")
    return records


def first_per_category(records: list[dict], limit: int) -> list[dict]:
    """The first `limit` records of each (task, category), in their original order."""
    kept, counts = [], Counter()
    for record in records:
        key = (record["task"], record["category"])
        if counts[key] < limit:
            counts[key] += 1
            kept.append(record)
    return kept
