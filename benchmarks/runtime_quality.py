"""Final-image quality of an exported (or fast) model against float32 PyTorch: PSNR and SSIM, same prompts and
seeds, generation and editing (the edit sources are the reference's own generations).

    python benchmarks/runtime_quality.py --reference shapes-base --model EXPORT_DIR [--fast] [--prompts 8]
"""

from __future__ import annotations

import argparse
import json
import statistics

from dreamlite import DreamLite
from dreamlite.bench.quality import compare_images
from dreamlite.export.calibration import BUILTIN_PROMPTS
from dreamlite.loading import quiet_libraries


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="the PyTorch model (run in float32)")
    p.add_argument("--model", default=None, help="exported folder (default: --reference with --fast)")
    p.add_argument("--fast", action="store_true", help="load --model (or --reference) with the fast PyTorch path")
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    with quiet_libraries():
        ref = DreamLite.from_pretrained(args.reference, device="cpu")
        other = DreamLite.from_pretrained(args.model or args.reference, device="cpu", fast=args.fast)
    size = other.static_size or (ref.default_size, ref.default_size)
    rows = {"generate": [], "edit": []}
    for i, (prompt, instruction) in enumerate(zip(BUILTIN_PROMPTS["generate"][: args.prompts],
                                                  BUILTIN_PROMPTS["edit"][: args.prompts])):
        kw = dict(width=size[0], height=size[1], steps=args.steps, seed=i)
        a, b = ref.generate(prompt, **kw)[0], other.generate(prompt, **kw)[0]
        rows["generate"].append(compare_images(a, b))
        rows["edit"].append(compare_images(ref.edit(a, instruction, **kw)[0], other.edit(a, instruction, **kw)[0]))
    summary = {task: {m: statistics.mean(r[m] for r in rs) for m in ("psnr", "ssim")} for task, rs in rows.items()}
    print(f"{args.model or args.reference}{' (fast)' if args.fast else ''} against {args.reference} float32, "
          f"{len(rows['generate'])} prompts at {size[0]}x{size[1]}")
    print("| task | PSNR (dB) | SSIM |\n|---|---:|---:|")
    for task, s in summary.items():
        print(f"| {task} | {s['psnr']:.2f} | {s['ssim']:.4f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "images": rows}, f, indent=2)


if __name__ == "__main__":
    main()
