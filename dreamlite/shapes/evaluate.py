"""Run a model over a ShapesBench split, score what it makes and write the reports.

`model` is anything with DreamLite's two calls (a `dreamlite.DreamLite` pipeline, or a stand-in in tests):
    model.generate(prompt, height, width, steps=None, guidance_scale=None, seed=None, num_images=1) -> [PIL.Image]
    model.edit(image, instruction, height=None, width=None, steps=None, guidance_scale=None,
               image_guidance_scale=None, seed=None, num_images=1) -> [PIL.Image]
Each item is sampled with its own seed (the record's `seed`), so a run is reproducible item by item.
OUTDIR becomes a split folder in its own right (index.jsonl, images/ with the model's outputs, sources/),
so `dreamlite eval shapes --images OUTDIR` re-scores it; beside that it holds scores.json, scores.md,
items.jsonl and grid.png.
"""

import shutil
import tempfile
import zlib
from pathlib import Path

from PIL import Image

from .layout import EVAL_COUNT, EVAL_SEED, first_per_category, read_index, render_split, write_index
from .report import write_reports
from .score import check_images, score_record, summarize


def _sample(model, record: dict, root: Path, steps, guidance, image_guidance, keep_source=None) -> Image.Image:
    seed = int(record.get("seed", zlib.crc32(record["id"].encode())))
    height, width = record.get("height"), record.get("width")
    if record["task"] == "generation":
        images = model.generate(record["prompt"], height, width, steps=steps, guidance_scale=guidance,
                                seed=seed, num_images=1)
    else:
        with Image.open(root / record["source"]) as im:
            source = im.convert("RGB")
        images = model.edit(source, record["prompt"], height=height, width=width, steps=steps,
                            guidance_scale=guidance, image_guidance_scale=image_guidance, seed=seed, num_images=1,
                            **({} if keep_source is None else {"keep_source": keep_source}))
    return images[0].convert("RGB")


def evaluate_model(model, out_dir, items_dir=None, steps=None, guidance=None, image_guidance=None,
                   limit: int | None = None, progress: bool = True, keep_source: float | None = None) -> dict:
    """Generate or edit every item of a split with `model`, score the results, write reports; returns the summary.

    items_dir: a split folder (default: the public eval split, rendered on the fly at the model's `default_size`,
    64 for a model without one).
    limit: at most this many items per category.
    keep_source: passed to model.edit when set (DreamLite.edit's source-keeping threshold).
    """
    out = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(items_dir) if items_dir else Path(tmp)
        if not items_dir:
            render_split(root, EVAL_SEED, min(limit or EVAL_COUNT, EVAL_COUNT),
                         size=getattr(model, "default_size", 64))
        records = read_index(root)
        check_images([r for r in records if r["task"] == "editing"], root)
        if limit:
            records = first_per_category(records, limit)
        (out / "images").mkdir(parents=True, exist_ok=True)
        loop = records
        if progress:
            from tqdm import tqdm

            loop = tqdm(records, desc="shapes eval", unit="item")
        outputs = []
        for record in loop:
            result = dict(record, image=f"images/{record['id']}.png")
            _sample(model, record, root, steps, guidance, image_guidance, keep_source).save(out / result["image"])
            if record["task"] == "editing":
                (out / "sources").mkdir(exist_ok=True)
                result["source"] = f"sources/{record['id']}.png"
                shutil.copyfile(root / record["source"], out / result["source"])
            outputs.append(result)
    write_index(out, outputs)
    scores = [score_record(r, out) for r in outputs]
    summary = summarize(scores)
    write_reports(out, outputs, scores, summary)
    return summary
