"""How much a checkpoint's U-Net uses the source image when editing: held-out edit loss at fixed times with
(a) the source latents as the condition, (b) a zero condition (the source withheld) and (c) the target's own
latents as the condition (the best a copying model could be handed).

A model that ignores the source has a == b; one that has learned to copy what the edit leaves alone has a far
below b, approaching c. Items are fresh ShapesWorld edits (not a training pool), encoded with the checkpoint's
own VAE and prompt encoder; noise is seeded, so runs compare.

    python benchmarks/edit_source_use.py dreamlite/assets/shapes-base --items 64
"""

import argparse
import time

import torch

from dreamlite.loading import load_components, resolve_model_path
from dreamlite.train.data import build_source
from dreamlite.train.data.base import fit, to_pixels
from dreamlite.train.encode import Conditioner, pad_embeddings
from dreamlite.train.loss import flow_matching_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="pipeline folder or short name")
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--times", default="0.3,0.6,0.9", help="comma-separated t in (0, 1); 1 is pure noise")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the ShapesWorld edit items")
    args = parser.parse_args()
    started = time.perf_counter()
    components = load_components(resolve_model_path(args.model))
    conditioner = Conditioner(components.vae, components.prompt_encoder, torch.device("cpu"), torch.float32)
    size = components.unet.config.sample_size * 8
    source = build_source({"kind": "shapes", "size": size}, "edit", seed=args.seed, where="edit-source-use")
    items = [source.item(k) for k in range(args.items)]
    target = conditioner.latents(torch.stack([to_pixels(fit(i["target"], size, size)) for i in items]))
    shown = conditioner.latents(torch.stack([to_pixels(fit(i["source"], size, size)) for i in items]))
    text, mask = pad_embeddings([conditioner.edit(i["prompt"], i["source"]) for i in items])
    ids = torch.full((len(items), 2), float(size))
    generator = torch.Generator().manual_seed(0)
    unet = components.unet.eval()
    print(f"{'t':>5} {'source':>8} {'withheld':>9} {'target':>8}")
    with torch.no_grad():
        for value in (float(v) for v in args.times.split(",")):
            noise = torch.randn(target.shape, generator=generator)
            t = torch.full((len(items),), value)
            losses = [flow_matching_loss(unet, target, condition, noise, t, text, mask, ids).mean().item()
                      for condition in (shown, torch.zeros_like(shown), target)]
            print(f"{value:>5.2f} {losses[0]:>8.3f} {losses[1]:>9.3f} {losses[2]:>8.3f}")
    print(f"({len(items)} items, {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
