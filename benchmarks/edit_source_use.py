"""How much a checkpoint's U-Net uses the source image when editing: held-out edit loss at fixed times with
(a) the source latents as the condition, (b) a zero condition (the source withheld) and (c) the target's own
latents as the condition (the best a copying model could be handed).

A model that ignores the source has a == b; one that has learned to copy what the edit leaves alone has a far
below b, approaching c. Items are fresh ShapesWorld edits (not a training pool), encoded with the checkpoint's
own VAE and prompt encoder; noise is seeded, so runs compare. The loss of (a) is also split by latent cell:
over the cells whose pixels (8x8 for an 8x VAE) are the same in source and target (what the model only has to copy), apart
for plain background (`kept bg`) and cells with some of an object in them (`kept obj`), and over the rest
(`changed`: what the instruction asks for).

    python benchmarks/edit_source_use.py dreamlite/assets/shapes-base --items 64
"""

import argparse
import time
from types import SimpleNamespace

import torch

from dreamlite.loading import load_components, resolve_model_path
from dreamlite.train.data import build_source
from dreamlite.train.data.base import fit, to_pixels
from dreamlite.train.encode import Conditioner, pad_embeddings
from dreamlite.train.loss import velocity_error


def _all_in_cell(mask: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, 1, H, W) bool pixels -> (B, 1, H/factor, W/factor) float: 1 where every pixel of the latent cell is set."""
    return -torch.nn.functional.max_pool2d(-mask.float(), factor)


def edit_arguments(description: str, items: int) -> argparse.ArgumentParser:
    """The command line both edit benchmarks take: a model, how many fresh edits, at which times, from which seed."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="pipeline folder or short name")
    parser.add_argument("--items", type=int, default=items)
    parser.add_argument("--times", default="0.3,0.6,0.9", help="comma-separated t in (0, 1); 1 is pure noise")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the ShapesWorld edit items")
    return parser


def encoded_edits(model: str, count: int, seed: int, where: str) -> SimpleNamespace:
    """`count` fresh ShapesWorld edits encoded with the checkpoint's own VAE and prompt encoder: latents of the
    target and the source, the target's latent cells that the edit leaves as they were (`kept`) and those of
    plain background (`plain`), as (B, 1, h, w) floats; the instruction states, mask and time ids; the U-Net."""
    components = load_components(resolve_model_path(model))
    conditioner = Conditioner(components.vae, components.prompt_encoder, torch.device("cpu"), torch.float32)
    factor = conditioner.vae_factor
    size = components.unet.config.sample_size * factor
    source = build_source({"kind": "shapes", "size": size}, "edit", seed=seed, where=where)
    items = [source.item(k) for k in range(count)]
    target_pixels = torch.stack([to_pixels(fit(i["target"], size, size)) for i in items])
    source_pixels = torch.stack([to_pixels(fit(i["source"], size, size)) for i in items])
    background = source_pixels.flatten(2).mode(dim=2).values[:, :, None, None]  # the commonest value per channel
    text, mask = pad_embeddings([conditioner.edit(i["prompt"], i["source"]) for i in items])
    return SimpleNamespace(
        target=conditioner.latents(target_pixels), shown=conditioner.latents(source_pixels),
        kept=_all_in_cell((target_pixels == source_pixels).all(dim=1, keepdim=True), factor),
        plain=_all_in_cell((source_pixels == background).all(dim=1, keepdim=True), factor),
        text=text, mask=mask, ids=torch.full((count, 2), float(size)), unet=components.unet.eval())


def main() -> None:
    args = edit_arguments(__doc__, items=64).parse_args()
    started = time.perf_counter()
    batch = encoded_edits(args.model, args.items, args.seed, where="edit-source-use")
    target, shown, kept, plain = batch.target, batch.shown, batch.kept, batch.plain
    groups = (kept * plain, kept * (1 - plain), 1 - kept)
    text, mask, ids, unet = batch.text, batch.mask, batch.ids, batch.unet
    generator = torch.Generator().manual_seed(0)
    print(f"{'t':>5} {'source':>8} {'withheld':>9} {'target':>8} {'kept bg':>8} {'kept obj':>8} {'changed':>8}")
    with torch.no_grad():
        for value in (float(v) for v in args.times.split(",")):
            noise = torch.randn(target.shape, generator=generator)
            t = torch.full((len(target),), value)
            errors = [velocity_error(unet, target, condition, noise, t, text, mask, ids)
                      for condition in (shown, torch.zeros_like(shown), target)]
            losses = [e.mean().item() for e in errors]
            split = [(errors[0] * m).sum().item() / (m.sum().item() * errors[0].shape[1]) if m.any() else float("nan")
                     for m in groups]
            print(f"{value:>5.2f} {losses[0]:>8.3f} {losses[1]:>9.3f} {losses[2]:>8.3f} "
                  + " ".join(f"{v:>8.3f}" for v in split))
    shares = ", ".join(f"{m.mean().item():.0%} {name}" for m, name in zip(groups, ("kept bg", "kept obj", "changed")))
    print(f"({len(target)} items; target cells: {shares}; {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
