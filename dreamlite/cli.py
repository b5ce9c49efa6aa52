"""The `dreamlite` command line: generate, edit, and the commands other modules register."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

OFFICIAL_HINT = ("for the official weights pass --model carlofkl/DreamLite-base (28 steps, guided) or "
                 "carlofkl/DreamLite-mobile (4 steps), or a local diffusers-layout folder")


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' or a single number for a square -> (width, height)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 512x512 or 512, got {text!r}") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"size must look like 512x512 or 512, got {text!r}")
    return values[0], values[1]


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="pipeline folder, short name or hub id (default: shapes-mobile)")
    p.add_argument("-o", "--out", required=True, help="output PNG path (with --num N: PATH-0.png, PATH-1.png...)")
    p.add_argument("--size", type=parse_size, default=None, help="WxH in pixels")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: 28 base, 4 mobile)")
    p.add_argument("--seed", type=int, default=None, help="seed of the initial noise (CPU generator)")
    p.add_argument("--guidance", type=float, default=None, help="text guidance scale (default 3.5; none on mobile)")
    p.add_argument("--num", type=int, default=1, help="number of images")
    p.add_argument("--negative", default="", help="negative prompt (base models)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    p.add_argument("--dtype", default=None, help="float32, bfloat16 or float16 (default: float32 on CPU)")
    p.add_argument("--fast", action="store_true", help="fast PyTorch path: bf16 where the CPU has it, "
                                                       "channels-last, fused attention projections")
    p.add_argument("--encoder-int8", action="store_true", help="prompt encoder's linear layers in dynamic int8 "
                                                               "(CPU)")


def load_model(args):
    from .assets import DEFAULT_MODEL
    from .pipeline import DreamLite

    model = args.model
    if model is None:
        model = DEFAULT_MODEL
        print(f"using the bundled model {DEFAULT_MODEL}; {OFFICIAL_HINT}", file=sys.stderr)
    return DreamLite.from_pretrained(model, device=args.device, dtype=args.dtype, fast=getattr(args, "fast", False),
                                     encoder_image_size=getattr(args, "encoder_image_size", None),
                                     encoder_int8=getattr(args, "encoder_int8", False))


def save_images(images, out: str) -> list[Path]:
    out_path = Path(out)
    if out_path.suffix == "":
        out_path = out_path.with_suffix(".png")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_path] if len(images) == 1 else [
        out_path.with_name(f"{out_path.stem}-{i}{out_path.suffix}") for i in range(len(images))]
    for image, path in zip(images, paths):
        image.save(path)
    return paths


def cmd_generate(args) -> int:
    pipe = load_model(args)
    width, height = args.size or (None, None)
    images = pipe.generate(args.prompt, height=height, width=width, steps=args.steps,
                           guidance_scale=args.guidance, seed=args.seed, num_images=args.num,
                           negative_prompt=args.negative, progress=True)
    for path in save_images(images, args.out):
        print(path)
    return 0


def cmd_edit(args) -> int:
    from .images import load_image

    source = load_image(args.image)  # fail on a bad image before loading the model
    pipe = load_model(args)
    width, height = args.size or (None, None)
    images = pipe.edit(source, args.instruction, height=height, width=width, steps=args.steps,
                       guidance_scale=args.guidance, image_guidance_scale=args.image_guidance, seed=args.seed,
                       num_images=args.num, negative_prompt=args.negative, progress=True,
                       keep_source=args.keep_source)
    for path in save_images(images, args.out):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dreamlite", description="DreamLite: generate, edit, train, evaluate.")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="text to image")
    gen.add_argument("prompt")
    add_sampling_args(gen)
    gen.set_defaults(func=cmd_generate)

    edit = sub.add_parser("edit", help="edit an image by instruction")
    edit.add_argument("instruction")
    edit.add_argument("--image", required=True, help="source image")
    edit.add_argument("--image-guidance", type=float, default=None, help="image guidance scale (default 1.5)")
    edit.add_argument("--encoder-image-size", type=int, default=None,
                      help="side in pixels of the source image shown to the prompt encoder (official default 512)")
    edit.add_argument("--keep-source", type=float, default=None, metavar="THRESHOLD",
                      help="hold the source outside the region the instruction changes (0-1, e.g. 0.5; off by "
                           "default, as in diffusers)")
    add_sampling_args(edit)
    edit.set_defaults(func=cmd_edit)

    for module in ("shapes.cli", "train.cli", "demo", "evals.cli", "serve.cli", "export.cli", "bench.cli"):
        register_optional(module, sub)
    return parser


def register_optional(module: str, sub) -> None:
    """Commands owned by other parts of the package register themselves if present."""
    import importlib

    try:
        mod = importlib.import_module(f"dreamlite.{module}")
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith("dreamlite"):
            return
        raise
    mod.register(sub)


USER_ERRORS = ("InputError", "ImageInputError", "CheckpointError", "UNetConfigError", "RecipeError",
               "ShapesError", "FileNotFoundError", "ExportSizeError")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # user-facing errors get one line; anything else is a bug and keeps its traceback
        if type(err).__name__ in USER_ERRORS or any(c.__name__ in USER_ERRORS for c in type(err).__mro__):
            print(f"dreamlite: error: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
