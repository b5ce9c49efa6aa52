"""Where a checkpoint's U-Net looks when it edits: for every self-attention layer, the attention of target-half
tokens that hold a kept object (an object the edit leaves alone), measured on fresh ShapesWorld edits.

Per layer and time: the share of attention on the source half, the share on the one source token at the same
place (column + W/2; uniform attention would give 1/(h*w)), and how often that token is the query's top source
token. A U-Net that copies kept objects token for token shows a high same-place share in some layer; one that
cannot find the same place spreads its attention over the source.

    python benchmarks/edit_attention.py dreamlite/assets/shapes-base --items 48
"""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from edit_source_use import edit_arguments, encoded_edits

from dreamlite.models.layers import Attention


def attention_probabilities(module: Attention, x: torch.Tensor, position: torch.Tensor | None) -> torch.Tensor:
    """(B, N, N) self-attention weights of `module` on tokens `x`, averaged over heads."""
    return module.attention_weights(x, position=position).mean(1)


def main() -> None:
    args = edit_arguments(__doc__, items=48).parse_args()
    started = time.perf_counter()
    batch = encoded_edits(args.model, args.items, args.seed, where="edit-attention")
    target, shown, text, mask, ids, unet = batch.target, batch.shown, batch.text, batch.mask, batch.ids, batch.unet
    kept_objects = batch.kept * (1 - batch.plain)  # (B, 1, h, w) latent cells of the target
    n = len(target)

    captured = []
    layers = [(name, m) for name, m in unet.named_modules() if isinstance(m, Attention)]
    for name, module in layers:
        def capture(module, args, kwargs, name=name):
            context = args[1] if len(args) > 1 else kwargs.get("context")
            if context is None:  # self-attention only
                captured.append((name, attention_probabilities(module, args[0], kwargs.get("position"))))
        module.register_forward_pre_hook(capture, with_kwargs=True)

    h, w = target.shape[-2:]
    generator = torch.Generator().manual_seed(0)
    print(f"{'t':>4} {'layer':<52} {'grid':>5} {'source':>7} {'same':>6} {'uniform':>7} {'top':>5}")
    with torch.no_grad():
        for value in (float(v) for v in args.times.split(",")):
            noise = torch.randn(target.shape, generator=generator)
            captured.clear()
            noisy = (1 - value) * target + value * noise
            unet(torch.cat([noisy, shown], dim=3), torch.full((n,), value * 1000), text, mask, ids)
            for name, probs in captured:
                scale = round((2 * h * w / probs.shape[-1]) ** 0.5)
                gh, gw, half = h // scale, 2 * w // scale, w // scale
                chosen = torch.nn.functional.max_pool2d(kept_objects, scale)[:, 0] > 0  # (B, gh, half)
                grid = probs.reshape(n, gh, gw, gh, gw)[:, :, :half]  # target-half queries
                on_source = grid[..., half:].sum((-1, -2))
                rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(half), indexing="ij")
                same = grid[:, rows, cols, rows, cols + half]  # (B, gh, half)
                top = grid[..., half:].flatten(-2).amax(-1)
                print(f"{value:>4.1f} {name:<52} {gh}x{gw:<3} {on_source[chosen].mean():>7.3f} "
                      f"{same[chosen].mean():>6.3f} {1 / (gh * gw):>7.3f} {(same >= top)[chosen].float().mean():>5.2f}")
    print(f"({n} items, {int(chosen.sum())} kept-object queries at the coarsest level; "
          f"{time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
