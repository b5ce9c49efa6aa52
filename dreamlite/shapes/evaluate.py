"""Run a model over a ShapesBench split, score what it makes and write the reports.

`model` is anything with DreamLite's two calls (a `dreamlite.DreamLite` pipeline, or a stand-in in tests):
    model.generate(prompt, height, width, steps=None, guidance_scale=None, seed=None, num_images=1) -> [PIL.Image]
    model.edit(image, instruction, height=None, width=None, steps=None, guidance_scale=None,
               image_guidance_scale=None, seed=None, num_images=1) -> [PIL.Image]
Each item is sampled with its own seed (the record's `seed`), so a run is reproducible item by item.
OUTDIR becomes a split folder in its own right (index.jsonl, images/ with the model's outputs, sources/),
so `dreamlite eval shapes --images OUTDIR` re-scores it; beside that it holds scores.json, scores.md,
items.jsonl and grid.png.
With `workers` > 1 the items are shared among that many processes, each loading its own copy of the model.
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
                   limit: int | None = None, progress: bool = True, keep_source: float | None = None,
                   workers: int = 1, loader=None) -> dict:
    """Generate or edit every item of a split with `model`, score the results, write reports; returns the summary.

    items_dir: a split folder (default: the public eval split, rendered on the fly at the model's `default_size`,
    64 for a model without one).
    limit: at most this many items per category.
    keep_source: passed to model.edit when set (DreamLite.edit's source-keeping threshold).
    workers: sampling processes. With more than one, `loader` (a picklable callable without arguments, e.g.
    functools.partial(DreamLite.from_pretrained, path)) loads the model in each; the items are handed out one at a
    time and each process samples with (CPU threads / workers) threads: on a small CPU model that beats one process
    using all of them. Each item keeps its seed either way.
    """
    if workers > 1 and loader is None:
        raise ValueError("workers > 1 needs a loader: each process loads its own model")
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
        settings = (steps, guidance, image_guidance, keep_source)
        outputs = [dict(record, image=f"images/{record['id']}.png") for record in records]
        jobs = [(record, root, out / result["image"], settings) for record, result in zip(records, outputs)]
        if workers > 1:
            done = _sample_in_processes(loader, jobs, workers)
        else:
            done = (_sample(model, *job[:2], *job[3]).save(job[2]) for job in jobs)
        if progress:
            from tqdm import tqdm

            done = tqdm(done, total=len(jobs), desc="shapes eval", unit="item")
        for _ in done:
            pass
        for record, result in zip(records, outputs):
            if record["task"] == "editing":
                (out / "sources").mkdir(exist_ok=True)
                result["source"] = f"sources/{record['id']}.png"
                shutil.copyfile(root / record["source"], out / result["source"])
    write_index(out, outputs)
    scores = [score_record(r, out) for r in outputs]
    summary = summarize(scores)
    write_reports(out, outputs, scores, summary)
    return summary


_WORKER_MODEL = []  # the model of this worker process


def _start_worker(loader, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER_MODEL.append(loader())


def _sample_job(job) -> None:
    record, root, path, settings = job
    _sample(_WORKER_MODEL[0], record, root, *settings).save(path)


def _sample_in_processes(loader, jobs, workers: int):
    """Yield once per finished job (in order), sampling in `workers` fresh ("spawn") processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch

    threads = max(1, torch.get_num_threads() // workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                             initargs=(loader, threads)) as pool:
        yield from pool.map(_sample_job, jobs, chunksize=1)
