"""`dreamlite eval geneval | imgedit | gedit`: sample a model in a benchmark's layout, and/or score a folder.

With --model the benchmark's images are made (resumable; shared among processes under `accelerate launch`);
with --images an existing folder is scored; with both halves' options given, one call does both. Bad input prints
one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import EvalError


def _fail(message: str) -> int:
    print(f"dreamlite: error: {message}", file=sys.stderr)
    return 2


def _load_model(args, shard):
    from ..pipeline import DreamLite

    return DreamLite.from_pretrained(args.model, device=shard.device(args.device), dtype=args.dtype)


def _sample(args, make_jobs, protocol, inputs) -> Path:
    """Make this process's share of the images; returns the folder on the main process (None elsewhere)."""
    from dataclasses import asdict

    from .identity import files_identity
    from .report import write_json
    from .shard import current_shard, run_jobs

    shard = current_shard()
    out = Path(args.out)
    if shard.is_main:  # what made these images, beside them
        write_json(out / "sampling.json", {"model": args.model, "protocol": asdict(protocol),
                                           "processes": shard.world, "inputs": files_identity(inputs)})
    jobs = make_jobs(_load_model(args, shard), out, shard)
    made, skipped = run_jobs(jobs, shard, progress=sys.stderr.isatty())
    print(f"process {shard.rank}/{shard.world}: wrote {made} images, kept {skipped} already there, in {out}")
    shard.wait()
    return out if shard.is_main else None


def run_geneval(args) -> int:
    from .geneval.layout import check_layout
    from .geneval.sampling import GenEvalProtocol, geneval_jobs, read_metadata, write_metadata

    if not args.model and not args.images:
        return _fail("pass --model (with --prompts and --out) to sample, or --images to score")
    images = Path(args.images) if args.images else None
    records = read_metadata(args.prompts) if args.prompts else None
    protocol = GenEvalProtocol(args.samples, args.seed, args.guidance, args.size, args.steps)
    if args.model:
        if not (args.prompts and args.out):
            return _fail("--model needs --prompts FILE (GenEval's evaluation_metadata.jsonl) and --out DIR")

        def make(model, out, shard):
            if shard.is_main:
                write_metadata(out, records)
            shard.wait()
            return geneval_jobs(model, records, out, protocol)

        images = _sample(args, make, protocol, [args.prompts])
        if images is None:
            return 0
        counts = check_layout(images, records, protocol.samples)
        print(f"layout ok: {counts['prompts']} prompt folders, {counts['images']} images (GenEval's reader)")
    if not (args.detector and args.clip):
        if args.images:
            return _fail("scoring needs --detector PATH (Mask2Former) and --clip PATH (CLIP)")
        return 0
    from .geneval.clip import load_clip
    from .geneval.detector import load_detector
    from .geneval.score import score_folder
    from .identity import weights_identity

    check_layout(images, records)
    identity = {"detector": weights_identity(args.detector), "clip": weights_identity(args.clip)}
    scores = score_folder(images, load_detector(args.detector, args.device), load_clip(args.clip, args.device),
                          identity=identity, metadata_file=args.prompts, progress=sys.stderr.isatty())
    print((images / "scores.md").read_text())
    print(f"GenEval-compatible overall {scores['overall']:.4f}; results in {images}")
    return 0


def _run_editing(args, bench) -> int:
    from .editing import EditProtocol

    if not args.data:
        return _fail("--data DIR (the benchmark's items and source images) is required")
    if not args.model and not args.images:
        return _fail("pass --model (with --out) to edit, or --images to score")
    data = Path(args.data)
    items = bench.read_items(data, args.language) if bench.__name__.endswith(".gedit") else bench.read_items(data)
    protocol = EditProtocol(args.size, args.guidance, args.image_guidance, args.seed, args.steps)
    images = Path(args.images) if args.images else None
    if args.model:
        if not args.out:
            return _fail("--model needs --out DIR")
        listing = data / ("metadata.jsonl" if bench.__name__.endswith(".gedit") else "basic_edit.json")
        images = _sample(args, lambda model, out, shard: bench.edit_jobs(model, items, out, protocol), protocol,
                         [listing])
        if images is None:
            return 0
    if not args.judge:
        if args.images:
            return _fail("scoring needs --judge PATH or URL")
        return 0
    from .judges import load_judge

    judge = load_judge(args.judge, args.judge_model, device=args.device, dtype=args.dtype)
    out = Path(args.out) if args.out and not args.model else images
    if bench.__name__.endswith(".gedit"):
        scores = bench.score_gedit(items, images, judge, args.prompts, data, out, args.attempts,
                                   sys.stderr.isatty())
        headline = f"GEdit-Bench O {scores['fullset']['O']}"
    else:
        rubric = Path(args.rubric) if args.rubric else data / "prompts.json"
        scores = bench.score_imgedit(items, images, judge, rubric, data, out, args.attempts, sys.stderr.isatty())
        headline = f"ImgEdit overall {scores['overall']}"
    print((out / "scores.md").read_text())
    print(f"{headline}; {scores.get('failures', scores.get('fullset', {}).get('failures'))} judging failures; "
          f"results in {out}")
    return 0


def run_imgedit(args) -> int:
    from . import imgedit

    return _run_editing(args, imgedit)


def run_gedit(args) -> int:
    from . import gedit

    return _run_editing(args, gedit)


def _guard(func):
    def run(args) -> int:
        try:
            return func(args)
        except (EvalError, OSError) as err:
            return _fail(str(err))
    return run


def _common(p, size: int) -> None:
    p.add_argument("--model", help="DreamLite checkpoint to sample: folder, short name or hub id")
    p.add_argument("--out", help="with --model: folder to write the benchmark's layout into")
    p.add_argument("--images", help="score this folder (written by --model or by the official scripts)")
    p.add_argument("--size", type=int, default=size, help=f"sampling size in pixels ({size})")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: accelerate's device, else cuda if any)")
    p.add_argument("--dtype", default=None, help="float32, bfloat16 or float16")


def _eval_subparsers(sub):
    """The `eval` command's subparsers (ShapesBench registers `eval` first), creating `eval` if absent."""
    parser = sub.choices.get("eval") or sub.add_parser("eval", help="benchmarks")
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    action = actions[0] if actions else parser.add_subparsers(dest="eval_command", required=True)
    action.metavar = None
    return action


def register(sub) -> None:
    eval_sub = _eval_subparsers(sub)
    g = eval_sub.add_parser("geneval", help="GenEval: sample a model in its layout and/or score a folder")
    _common(g, 1024)
    g.add_argument("--prompts", help="your copy of GenEval's evaluation_metadata.jsonl")
    g.add_argument("--samples", type=int, default=4, help="images per prompt (4)")
    g.add_argument("--seed", type=int, default=2024, help="seed of sample 0; sample n uses seed + n (2024)")
    g.add_argument("--guidance", type=float, default=7.5, help="text guidance (7.5)")
    g.add_argument("--steps", type=int, default=30, help="sampling steps (30)")
    g.add_argument("--detector", help="Mask2Former folder (transformers, COCO instance)")
    g.add_argument("--clip", help="CLIP folder (transformers), e.g. openai/clip-vit-large-patch14")
    g.set_defaults(func=_guard(run_geneval))
    for name, func, what in (("imgedit", run_imgedit, "ImgEdit Basic"), ("gedit", run_gedit, "GEdit-Bench")):
        e = eval_sub.add_parser(name, help=f"{what}: edit in its layout and/or judge a folder")
        _common(e, 1024)
        e.add_argument("--data", help="the benchmark's items and source images (see docs/benchmarks.md)")
        e.add_argument("--guidance", type=float, default=3.5, help="text guidance (3.5)")
        e.add_argument("--image-guidance", type=float, default=1.0, help="image guidance (1.0)")
        e.add_argument("--seed", type=int, default=42, help="seed of every edit (42)")
        e.add_argument("--steps", type=int, default=None, help="sampling steps (the checkpoint's default)")
        e.add_argument("--judge", help="judge: a local Qwen2.5-VL-class folder, or an OpenAI-compatible URL")
        e.add_argument("--judge-model", help="with a URL judge: the model name the endpoint serves")
        e.add_argument("--attempts", type=int, default=3, help="tries per judge question before a failure (3)")
        if name == "imgedit":
            e.add_argument("--rubric", help="the per-type judge prompts (default: DATA/prompts.json)")
        else:
            e.add_argument("--language", default="en", choices=("en", "cn", "all"), help="instructions (en)")
            e.add_argument("--prompts", help='VIEScore prompts as JSON {"sc": ..., "pq": ...} (built-in)')
        e.set_defaults(func=_guard(func))
