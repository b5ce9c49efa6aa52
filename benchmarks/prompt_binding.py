"""How much of a prompt encoder's token states the U-Net can bind on, and how much the source image disturbs them.

The U-Net's cross-attention ignores token order, so "a red circle and a blue square" and "a blue circle and a red
square" are told apart only if the encoder puts context into the token states.

  readout        an order-blind reader (attention pooling over the states, queried by a shape: the U-Net's
                 cross-attention in miniature) trained on ShapesWorld prompts, scored on held-out ones: "what colour
                 is the <shape>?" (color_attr prompts) and "which side is the <shape> on?" (position prompts).
                 A bag-of-words encoder cannot beat 0.5 (it cannot tell which of the two is which).
  colour swap    swap the two colour words of color_attr prompts: mean relative change ||h - h'|| / ||h|| of the
                 states at every *other* token (0 for a bag of words)
  relation swap  the same for flipping a position prompt's relation (left <-> right, above <-> below)
  image change   the same edit instruction shown with another source image: relative change of the instruction's
                 states (ideally small)

With --losses (a full pipeline), also whether the U-Net uses it: its flow-matching loss on the true image of
each color_attr / position prompt, under the prompt and under its swapped version (same noises and times). A
model that binds has the lower loss under the true prompt; one that ignores order has equal losses.

    python benchmarks/prompt_binding.py shapes-base                     # a pipeline folder or bundled name
    python benchmarks/prompt_binding.py runs/shapes-prompt-encoder      # from dreamlite train-prompt-encoder
    python benchmarks/prompt_binding.py --recipe shapes-tiny            # the random encoder a recipe builds
    python benchmarks/prompt_binding.py shapes-base --losses            # ... and the U-Net's loss gap
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dreamlite.shapes.captions import COLOR_WORDS  # noqa: E402
from dreamlite.shapes.layout import iter_split  # noqa: E402
from dreamlite.shapes.palette import SHAPES  # noqa: E402
from dreamlite.shapes.render import render_scene  # noqa: E402
from dreamlite.text.templates import wrap_edit, wrap_generate  # noqa: E402

COLOURS = sorted({w for words in COLOR_WORDS.values() for w in words}, key=len, reverse=True)
FLIP = {"left": "right", "right": "left", "above": "below", "below": "above", "over": "under", "under": "over"}


def encoder_from_args(args):
    from dreamlite.train.components import load_prompt_encoder, tiny_prompt_encoder

    if args.recipe:  # the random encoder a recipe without model.prompt_encoder.path builds
        from dreamlite.train.recipe import load_recipe

        recipe = load_recipe(args.recipe, args.set)
        return tiny_prompt_encoder(recipe.model.prompt_encoder, recipe.seed)
    path = Path(args.model)
    if not path.exists():
        from dreamlite.loading import resolve_model_path

        path = resolve_model_path(args.model)
    return load_prompt_encoder(path)


def states(encoder, text: str, mode: str = "generate", image=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(states, token ids) of the tokens the U-Net sees."""
    inputs, drop = encoder.prepare([text], mode, image)
    embeds, mask = encoder.encode_prepared(inputs, drop)
    return embeds[0, mask[0].bool()], inputs["input_ids"][0, drop:][inputs["attention_mask"][0, drop:].bool()]


def change_elsewhere(encoder, a: str, b: str) -> float | None:
    """Mean relative change of the states at the tokens a and b share (position by position)."""
    (ha, ia), (hb, ib) = states(encoder, wrap_generate(a)), states(encoder, wrap_generate(b))
    if ia.shape != ib.shape:
        return None  # the swapped words tokenise to different lengths: positions do not line up
    same = ia == ib
    return ((ha[same] - hb[same]).norm(dim=-1) / ha[same].norm(dim=-1)).mean().item()


def swap_colours(prompt: str) -> str | None:
    found = list(re.finditer(r"\b(" + "|".join(COLOURS) + r")\b", prompt))
    if len(found) < 2:
        return None
    a, b = found[0], found[1]
    return prompt[:a.start()] + b.group() + prompt[a.end():b.start()] + a.group() + prompt[b.end():]


def flip_relation(prompt: str) -> str | None:
    found = re.search(r"\b(" + "|".join(FLIP) + r")\b", prompt)
    return None if found is None else prompt[:found.start()] + FLIP[found.group()] + prompt[found.end():]


SIDES = {"left of": (0, 1), "right of": (1, 0), "above": (2, 3), "below": (3, 2)}  # (first object's, second's)


def readout_data(encoder, category: str, namespace: int, count: int):
    """(states, mask, queried shape, answer) per object of `count` prompts of `category` from seed `namespace`."""
    from dreamlite.shapes.palette import OBJECT_NAMES
    from dreamlite.shapes.generation import make_generation_item
    from dreamlite.shapes.scene import item_rng

    rows = []
    items = [make_generation_item(item_rng(namespace, category, k), category) for k in range(count)]
    for start in range(0, count, 64):
        chunk = items[start:start + 64]
        with torch.no_grad():
            embeds, mask = encoder.encode([wrap_generate(it.prompt) for it in chunk], "generate")
        for row, item in enumerate(chunk):
            for k, obj in enumerate(item.spec["include"]):
                answer = (OBJECT_NAMES.index(obj["color"]) if category == "color_attr"
                          else SIDES[item.spec["relation"]["relation"]][k])
                rows.append((embeds[row], mask[row].bool(), SHAPES.index(obj["shape"]), answer))
    states = torch.nn.utils.rnn.pad_sequence([r[0] for r in rows], batch_first=True)
    masks = torch.nn.utils.rnn.pad_sequence([r[1] for r in rows], batch_first=True)
    return states, masks, torch.tensor([r[2] for r in rows]), torch.tensor([r[3] for r in rows])


class Reader(torch.nn.Module):
    """Attention pooling over a set of token states, queried by a shape; no positions anywhere."""

    def __init__(self, width: int, classes: int, heads: int = 4, head_dim: int = 64):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.query = torch.nn.Embedding(len(SHAPES), heads * head_dim)
        self.key, self.value = torch.nn.Linear(width, heads * head_dim), torch.nn.Linear(width, heads * head_dim)
        self.head = torch.nn.Sequential(torch.nn.Linear(heads * head_dim, 128), torch.nn.GELU(),
                                        torch.nn.Linear(128, classes))

    def forward(self, states, mask, shape):
        b, n, _ = states.shape
        k = self.key(states).view(b, n, self.heads, self.head_dim)
        v = self.value(states).view(b, n, self.heads, self.head_dim)
        q = self.query(shape).view(b, 1, self.heads, self.head_dim)
        weights = ((q * k).sum(-1) / self.head_dim**0.5).masked_fill(~mask[..., None], float("-inf")).softmax(1)
        return self.head((weights[..., None] * v).sum(1).reshape(b, -1))


def readout(encoder, category: str, train: int = 3000, test: int = 500, steps: int = 1500) -> float:
    """Held-out accuracy of a Reader trained on `train` prompts (training-namespace seeds, not the eval split's)."""
    classes = 8 if category == "color_attr" else 4
    fit, held = readout_data(encoder, category, 101, train), readout_data(encoder, category, 0, test)
    torch.manual_seed(0)
    reader = Reader(fit[0].shape[-1], classes)
    optimizer = torch.optim.Adam(reader.parameters(), lr=2e-3)
    for _ in range(steps):
        pick = torch.randint(0, len(fit[3]), (128,))
        loss = torch.nn.functional.cross_entropy(reader(*(t[pick] for t in fit[:3])), fit[3][pick])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return (reader(*held[:3]).argmax(-1) == held[3]).float().mean().item()


def measure(encoder, items: int = 48, readout_prompts: int = 3000, readout_steps: int = 1500) -> dict[str, float]:
    colour, relation, image = [], [], []
    edits = []
    with torch.no_grad():
        for task, category, _, item in iter_split(0, items):
            if category == "color_attr" and (b := swap_colours(item.prompt)):
                colour.append(change_elsewhere(encoder, item.prompt, b))
            elif category == "position" and (b := flip_relation(item.prompt)):
                relation.append(change_elsewhere(encoder, item.prompt, b))
            elif task == "editing" and len(edits) < items:
                edits.append(item)
        for first, second in zip(edits[::2], edits[1::2]):
            text = wrap_edit(first.prompt)
            a = Image.fromarray(render_scene(first.source, 64))
            b = Image.fromarray(render_scene(second.source, 64))
            (ha, ids), (hb, _) = states(encoder, text, "edit", a), states(encoder, text, "edit", b)
            words = ids != encoder.tokenizer.convert_tokens_to_ids("<|image_pad|>")
            image.append(((ha[words] - hb[words]).norm(dim=-1) / ha[words].norm(dim=-1)).mean().item())

    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values)

    result = {f"readout {c}": readout(encoder, c, readout_prompts, max(100, readout_prompts // 6), readout_steps)
              for c in ("color_attr", "position")} if readout_prompts else {}
    return {**result, "colour swap": mean(colour), "relation swap": mean(relation), "image change": mean(image)}


def loss_gap(model_dir, items: int = 24, size: int | None = None) -> dict[str, tuple[float, float, float]]:
    """Per category: (mean loss under the true prompt, under the swapped one, share of items where true < swapped)."""
    from dreamlite.images import to_tensor
    from dreamlite.pipeline import DreamLite
    from dreamlite.train.loss import flow_matching_loss

    model = DreamLite.from_pretrained(model_dir, device="cpu")
    size = size or model.default_size
    swaps = {"color_attr": swap_colours, "position": flip_relation}
    rows: dict[str, list[tuple[float, float]]] = {c: [] for c in swaps}
    with torch.no_grad():
        for _, category, _, item in iter_split(0, items, ("generation",)):
            if category not in swaps or (swapped := swaps[category](item.prompt)) is None:
                continue
            x0 = model.vae.encode(to_tensor(Image.fromarray(render_scene(item.scene, size)), size, size)).latents
            losses = []
            for prompt in (item.prompt, swapped):
                embeds, mask = model.prompt_encoder.encode([wrap_generate(prompt)], "generate")
                total = 0.0
                for k, t in enumerate((0.3, 0.5, 0.7, 0.85) * 3):
                    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(k))
                    total += flow_matching_loss(model.unet, x0, torch.zeros_like(x0), noise, torch.tensor([t]), embeds,
                                                mask, torch.tensor([[float(size), float(size)]])).item()
                losses.append(total / 12)
            rows[category].append((losses[0], losses[1]))
    return {c: (sum(a for a, _ in r) / len(r), sum(b for _, b in r) / len(r), sum(a < b for a, b in r) / len(r))
            for c, r in rows.items() if r}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default="shapes-base",
                        help="pipeline or prompt-encoder folder, or a bundled name")
    parser.add_argument("--recipe", help="measure the random tiny encoder this recipe builds instead")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    parser.add_argument("--items", type=int, default=48, help="ShapesBench items per category to draw prompts from")
    parser.add_argument("--readout-prompts", type=int, default=3000,
                        help="prompts per category the readout probe trains on (0: skip the probe)")
    parser.add_argument("--readout-steps", type=int, default=1500, help="the readout probe's training steps")
    parser.add_argument("--losses", action="store_true", help="also the U-Net's loss gap (MODEL: a full pipeline)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    result = measure(encoder_from_args(args), args.items, args.readout_prompts, args.readout_steps)
    for name, value in result.items():
        print(f"{name:>18}: {value:.3f}")
    if args.losses:
        print("U-Net loss on the true image: true prompt / swapped prompt / share of items where true is lower")
        for category, (true, swapped, share) in loss_gap(args.model, min(args.items, 24)).items():
            print(f"{category:>18}: {true:.4f} / {swapped:.4f} / {share:.2f}")


if __name__ == "__main__":
    main()
