"""ShapesBench ceiling of a VAE: ground-truth eval images encoded, decoded and scored.

No U-Net trained on a VAE's latents can score above what the VAE's own reconstructions score. Editing items score
the decoded target against the clean source (what a model is given at inference); for them it also prints the
share of untouched source objects the reconstruction keeps (ShapesBench's `kept`).

    python benchmarks/vae_roundtrip.py dreamlite/assets/shapes-base/vae --items 16 [--tasks generation editing]
"""

import argparse
import time

import numpy as np
import torch
from diffusers import AutoencoderTiny

from dreamlite.shapes.layout import iter_split
from dreamlite.shapes.render import render_scene
from dreamlite.shapes.score import score_edit, score_generation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vae", help="AutoencoderTiny folder")
    parser.add_argument("--items", type=int, default=16, help="eval-split items per generation category")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--tasks", nargs="+", choices=("generation", "editing"), default=["generation"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    vae = AutoencoderTiny.from_pretrained(args.vae).eval()
    passed: dict[tuple, list[bool]] = {}
    kept: dict[tuple, list[float]] = {}
    started = time.perf_counter()
    for task, category, _, item in iter_split(0, args.items, tasks=tuple(args.tasks)):
        edit = task == "editing"
        image = render_scene(item.target if edit else item.scene, size=args.size)
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1
        with torch.inference_mode():
            y = vae.decode(vae.encode(x).latents).sample
        out = ((y[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        verdict = score_edit(render_scene(item.source, size=args.size), out, item.spec) if edit else \
            score_generation(out, item.spec)
        passed.setdefault((task, category), []).append(verdict.passed)
        if verdict.kept is not None:
            kept.setdefault((task, category), []).append(verdict.kept)
    for task in args.tasks:
        rates = {c: float(np.mean(v)) for (t, c), v in passed.items() if t == task}
        shares = {c: float(np.mean(v)) for (t, c), v in kept.items() if t == task}
        for category, rate in rates.items():
            share = f"  kept {shares[category]:.3f}" if category in shares else ""
            print(f"{task:<11} {category:<15} {rate:.3f}{share}")
        share = f"  kept {np.mean(list(shares.values())):.3f}" if shares else ""
        print(f"{task:<11} {'overall':<15} {np.mean(list(rates.values())):.3f}{share}")
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
