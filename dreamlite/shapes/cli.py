"""Command line for ShapesWorld: `dreamlite shapes render` and `dreamlite eval shapes`.

`register(subparsers)` adds both commands to the main `dreamlite` parser; `python -m dreamlite.shapes.cli`
runs them on their own.  Bad input prints one line on stderr and exits with status 2.
"""

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from .layout import EVAL_COUNT, EVAL_SEED, TASKS, ShapesError

SPLITS = {"eval": EVAL_SEED, "dev": 1}  # the public eval split, and a second held-out split for tuning


def _fail(message: str) -> int:
    print(f"dreamlite: error: {message}", file=sys.stderr)
    return 2


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _tasks(text: str) -> tuple[str, ...]:
    tasks = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(TASKS)} (comma separated), got {text!r}")
    return tasks


def run_render(args) -> int:
    from .layout import render_split

    if args.size < 32:
        return _fail(f"--size must be at least 32 pixels, got {args.size}")
    seed = SPLITS[args.split] if args.seed is None else args.seed
    records = render_split(args.out, seed=seed, count=args.count, size=args.size, tasks=args.tasks)
    print(f"wrote {len(records)} items ({args.split if args.seed is None else f'seed {seed}'}, "
          f"{args.count} per category, {args.size}x{args.size}) to {args.out}")
    return 0


def _score_images(args) -> int:
    from .score import format_table, score_dir, summarize

    scores = score_dir(args.images, progress=sys.stderr.isatty(), limit=args.limit)
    summary = summarize(scores)
    print(format_table(summary, scores))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def _score_model(args) -> int:
    from .evaluate import evaluate_model
    from .score import format_table

    if not args.out:
        return _fail("--model needs --out OUTDIR for the images and reports")
    if args.items and not (Path(args.items) / "index.jsonl").is_file():
        return _fail(f"--items {args.items}: no index.jsonl there")
    try:
        from dreamlite import DreamLite

        model = DreamLite.from_pretrained(args.model, device=None, dtype=None)
    except (ImportError, OSError, ValueError) as err:
        return _fail(f"cannot load model {args.model!r}: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
    refused = _check_native_size(args, model)
    if refused:
        return refused
    if args.workers > 1 and model.device.type != "cpu":
        return _fail(f"--workers shares CPU cores among processes; the model is on {model.device}: leave it out")
    loader = partial(DreamLite.from_pretrained, args.model, device="cpu", dtype=None)
    summary = evaluate_model(model, args.out, items_dir=args.items, steps=args.steps, guidance=args.guidance,
                             image_guidance=args.image_guidance, limit=args.limit, keep_source=args.keep_source,
                             workers=args.workers, loader=loader)
    print(format_table(summary))
    print(f"reports in {args.out}: scores.json, scores.md, items.jsonl, grid.png")
    return 0


def _check_native_size(args, model) -> int:
    """Warn in one line, and refuse without --force, when the items' size is not the model's native size (the
    U-Net's sample_size times the VAE factor): a model sampled off its size scores low for that reason alone."""
    from .layout import read_index

    native = getattr(model, "default_size", None)
    if not args.items or native is None:
        return 0
    sizes = sorted({(r.get("width"), r.get("height")) for r in read_index(args.items)} - {(None, None)})
    foreign = [s for s in sizes if s != (native, native)]
    if not foreign:
        return 0
    w, h = foreign[0]
    message = (f"items in {args.items} are {w}x{h} px but {args.model} is native at {native}x{native} px "
               f"(U-Net sample_size x VAE factor); its scores there mean little")
    if args.force:
        print(f"dreamlite: warning: {message} (--force: running anyway)", file=sys.stderr)
        return 0
    return _fail(f"{message}: render the split with --size {native}, or pass --force")


def run_eval(args) -> int:
    if args.images and (args.steps or args.guidance or args.image_guidance or args.items or args.out
                        or args.keep_source is not None or args.workers > 1 or args.force):
        return _fail("--steps, --guidance, --image-guidance, --keep-source, --items, --out, --workers and --force go "
                     "with --model, not --images")
    if args.model and args.json:
        return _fail("--json goes with --images; with --model the scores go to OUTDIR/scores.json")
    return _score_images(args) if args.images else _score_model(args)


def _guard(func):
    """Turn bad-input errors into one line on stderr and status 2."""
    def run(args) -> int:
        try:
            return func(args)
        except (ShapesError, OSError) as err:
            return _fail(str(err))
    return run


def register(subparsers) -> None:
    """Add `shapes render` and `eval shapes` to an argparse subparsers object."""
    shapes = subparsers.add_parser("shapes", help="ShapesWorld data: render ground-truth splits")
    shapes_sub = shapes.add_subparsers(dest="shapes_command", required=True, metavar="{render}")
    render = shapes_sub.add_parser("render", help="write a ground-truth split (index.jsonl + images)")
    render.add_argument("--split", choices=sorted(SPLITS), default="eval", help="named split (default: eval)")
    render.add_argument("--out", required=True, help="folder to write")
    render.add_argument("--seed", type=int, default=None, help="seed for a custom split (overrides --split)")
    render.add_argument("--count", type=_positive, default=EVAL_COUNT, help=f"items per category ({EVAL_COUNT})")
    render.add_argument("--size", type=int, default=64, help="image side in pixels (64)")
    render.add_argument("--tasks", type=_tasks, default=tuple(TASKS), help="generation,editing (both)")
    render.set_defaults(func=_guard(run_render))

    evaluate = subparsers.add_parser("eval", help="benchmarks")
    eval_sub = evaluate.add_subparsers(dest="eval_command", required=True, metavar="{shapes}")
    bench = eval_sub.add_parser("shapes", help="ShapesBench: score images, or run a model and score it")
    source = bench.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", help="split folder whose `image` paths hold the images to score")
    source.add_argument("--model", help="DreamLite checkpoint to run on every item of a split")
    bench.add_argument("--json", help="with --images: write the scores as JSON here")
    bench.add_argument("--items", help="with --model: split folder to run (default: the public eval split)")
    bench.add_argument("--out", help="with --model: folder for images and reports")
    bench.add_argument("--steps", type=_positive, help="with --model: sampling steps")
    bench.add_argument("--guidance", type=float, help="with --model: text guidance scale")
    bench.add_argument("--image-guidance", type=float, help="with --model: image guidance scale (editing)")
    bench.add_argument("--limit", type=_positive,
                       help="at most N items per category, the first N (with --images: scores that many of a "
                            "larger run, e.g. --limit 16 of a whole-split one)")
    bench.add_argument("--workers", type=_positive, default=1,
                       help="with --model on a CPU: sampling processes sharing the cores, each with cores/N "
                            "threads (a small model uses threads poorly); each item keeps its seed")
    bench.add_argument("--keep-source", type=float, default=None, metavar="THRESHOLD",
                       help="with --model: hold edits to the source outside the region the instruction changes")
    bench.add_argument("--force", action="store_true",
                       help="with --model: run even when the items' size is not the model's native size")
    bench.set_defaults(func=_guard(run_eval))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dreamlite", description="ShapesWorld commands")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
