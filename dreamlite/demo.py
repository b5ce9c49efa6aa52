"""`dreamlite demo`: generate across the ShapesBench generation categories, then a chain of edits, scored by
the pixel-only ShapesBench judge, on one contact sheet. Runs offline with the bundled model by default."""

from __future__ import annotations

import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

TILE, CAPTION, PAD = 128, 56, 6
PASS_RGB, FAIL_RGB, START_RGB = (40, 170, 60), (210, 40, 40), (90, 90, 90)


@dataclass
class Panel:
    image: Image.Image
    text: str
    passed: bool | None  # None: not judged (the chain's starting image)
    reason: str = ""
    seconds: float | None = None  # wall time of the call that made it


def generation_panels(model, per_category: int, steps, seed: int) -> list[tuple[Panel, dict]]:
    from .shapes.generation import CATEGORIES, make_generation_item
    from .shapes.scene import item_rng
    from .shapes.score import score_generation

    panels = []
    for category in CATEGORIES:
        for index in range(per_category):
            item = make_generation_item(item_rng(seed, f"demo/{category}", index), category)
            tick = time.perf_counter()
            image = model.generate(item.prompt, steps=steps, seed=seed * 1000 + index)[0]
            seconds = time.perf_counter() - tick
            verdict = score_generation(np.asarray(image), item.spec)
            panels.append((Panel(image, item.prompt, verdict.passed, verdict.reason, seconds),
                           {"category": category}))
    return panels


def chain_ops(shape: str, color: str, cell: str, rng) -> list[dict]:
    """add a new object, recolour it, move the first one, remove the new one: each op names its target by the
    state the earlier instructions asked for."""
    from .shapes.palette import CELLS, OBJECT_NAMES, SHAPES

    free = [c for c in CELLS if c != cell]
    new_cell, move_cell = (str(c) for c in rng.choice(free, size=2, replace=False))
    new_shape = str(rng.choice([s for s in SHAPES if s not in (shape, "cross")]))
    new_color, recolor = (str(c) for c in rng.choice([c for c in OBJECT_NAMES if c != color], 2, replace=False))
    first, added = {"shape": shape, "color": color}, {"shape": new_shape, "color": new_color}
    return [
        {"op": "add", "shape": new_shape, "color": new_color, "cell": new_cell},
        {"op": "recolor", "target": added, "color": recolor},
        {"op": "move", "target": first, "cell": move_cell},
        {"op": "remove", "target": {"shape": new_shape, "color": recolor}},
    ]


def edit_chain(model, start: Image.Image, steps, seed: int) -> list[Panel]:
    from .shapes.detect import find_objects
    from .shapes.instructions import instruction
    from .shapes.palette import cell_of
    from .shapes.scene import item_rng
    from .shapes.score import score_edit

    _, found = find_objects(np.asarray(start))
    obj = found[0]
    rng = item_rng(seed, "demo/chain", 0)
    panels = [Panel(start, "start", None)]
    current = start
    for k, op in enumerate(chain_ops(obj.shape, obj.color, cell_of(obj.cx, obj.cy), rng)):
        text = instruction(rng, [op])
        tick = time.perf_counter()
        edited = model.edit(current, text, steps=steps, seed=seed * 1000 + k)[0]
        seconds = time.perf_counter() - tick
        verdict = score_edit(np.asarray(current), np.asarray(edited), {"ops": [op]})
        panels.append(Panel(edited, text, verdict.passed, verdict.reason, seconds))
        current = edited
    return panels


def chain_start(generated: list[tuple[Panel, dict]]):
    """The first generated image that shows exactly one recognised object, or None."""
    from .shapes.detect import find_objects

    for panel, _ in generated:
        _, found = find_objects(np.asarray(panel.image))
        if len(found) == 1 and found[0].shape and found[0].color:
            return panel.image
    return None


def contact_sheet(rows: list[tuple[str, list[Panel]]]) -> Image.Image:
    columns = max(len(panels) for _, panels in rows)
    cell_w, cell_h = TILE + 2 * PAD, TILE + CAPTION + 2 * PAD
    header = 18
    sheet = Image.new("RGB", (columns * cell_w, len(rows) * (cell_h + header)), (245, 245, 245))
    draw = ImageDraw.Draw(sheet)
    for r, (title, panels) in enumerate(rows):
        y0 = r * (cell_h + header)
        draw.text((PAD, y0 + 3), title, fill=(0, 0, 0))
        for c, panel in enumerate(panels):
            x, y = c * cell_w, y0 + header
            frame = START_RGB if panel.passed is None else PASS_RGB if panel.passed else FAIL_RGB
            draw.rectangle([x + 1, y + 1, x + cell_w - 2, y + TILE + 2 * PAD - 2], fill=frame)
            sheet.paste(panel.image.resize((TILE, TILE), Image.NEAREST), (x + PAD, y + PAD))
            mark = "" if panel.passed is None else "PASS: " if panel.passed else "FAIL: "
            lines = textwrap.wrap(mark + panel.text, width=25)[:4]
            for i, line in enumerate(lines):
                color = frame if i == 0 and mark else (20, 20, 20)
                draw.text((x + PAD, y + TILE + 2 * PAD + 1 + 12 * i), line, fill=color)
    return sheet


def run_demo(model, out_dir: Path, per_category: int = 2, steps=None, seed: int = 0) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = generation_panels(model, per_category, steps, seed)
    start = chain_start(generated)
    if start is None:  # the model drew no clean single object: start the chain from a rendered scene
        from .shapes.render import render_scene
        from .shapes.scene import Scene, random_object

        rng = np.random.default_rng(seed)
        start = Image.fromarray(render_scene(Scene("white", (random_object(rng, "center"),)),
                                             size=generated[0][0].image.width))
    chain = edit_chain(model, start, steps, seed)
    gen_panels = [p for p, _ in generated]
    sheet = contact_sheet([("generation (ShapesBench categories)", gen_panels[: len(gen_panels) // 2]),
                           ("", gen_panels[len(gen_panels) // 2:]), ("a chain of edits", chain)])
    path = out_dir / "demo.png"
    sheet.save(path)
    by_category: dict[str, list[bool]] = {}
    for panel, info in generated:
        by_category.setdefault(info["category"], []).append(bool(panel.passed))
    # Per image, the first call aside (it pays for the lazy set-up of the prompt encoder and the kernels).
    seconds = {"generation": float(np.median([p.seconds for p in gen_panels[1:] or gen_panels])),
               "edit": float(np.median([p.seconds for p in chain[2:] or chain[1:]]))}
    return {"sheet": path, "generation": {k: sum(v) / len(v) for k, v in by_category.items()},
            "edits": [(p.text, p.passed) for p in chain[1:]], "seconds": seconds,
            "first": (gen_panels[0].text, start, chain[1].text)}


def time_model(model, prompt: str, image: Image.Image, instruction: str, seed: int) -> dict[str, float]:
    """Wall time of one generation and one edit at the model's defaults, each after a warm-up call."""
    seconds = {}
    for task, call in (("generation", lambda: model.generate(prompt, seed=seed)),
                       ("edit", lambda: model.edit(image, instruction, seed=seed))):
        call()
        tick = time.perf_counter()
        call()
        seconds[task] = time.perf_counter() - tick
    return seconds


def cmd_demo(args) -> int:
    from .assets import DEFAULT_MODEL
    from .pipeline import DreamLite

    started = time.perf_counter()
    if args.threads:
        import torch

        # The bundled model is small: one thread is nearly as fast as two (the 96-px demo on an idle 2-core
        # machine: 34.8 s vs 33.3 s), and two threads stall badly when anything else is using a core (measured
        # with the 64-px bundle: 19 s vs 187 s on a busy 2-core machine).
        torch.set_num_threads(args.threads)
    name = args.model or DEFAULT_MODEL
    model = DreamLite.from_pretrained(name, device=args.device)
    print(f"model: {name} ({model.variant}); steps: {args.steps or 'default'}", file=sys.stderr)
    result = run_demo(model, Path(args.out), args.per_category, args.steps, args.seed)
    print("generation pass rate by category:")
    for category, rate in result["generation"].items():
        print(f"  {category:<15} {rate:.2f}")
    print("edit chain:")
    for text, passed in result["edits"]:
        print(f"  {'PASS' if passed else 'FAIL'}  {text}")
    print(f"contact sheet: {result['sheet']}  ({time.perf_counter() - started:.1f} s)")
    mine = result["seconds"]
    print(f"time per image ({name}, {model.variant}, {args.steps or 'default'} steps): generation "
          f"{mine['generation']:.2f} s, edit {mine['edit']:.2f} s")
    compare = args.compare_with if args.compare_with is not None else ("shapes-base" if model.variant == "mobile"
                                                                       else "")
    if compare and compare != name:
        other = DreamLite.from_pretrained(compare, device=args.device)
        prompt, image, instruction = result["first"]
        theirs = time_model(other, prompt, image, instruction, args.seed)
        print(f"time per image ({compare}, {other.variant}, its default steps): generation "
              f"{theirs['generation']:.2f} s, edit {theirs['edit']:.2f} s; {name} is "
              f"{theirs['generation'] / mine['generation']:.1f}x / {theirs['edit'] / mine['edit']:.1f}x as fast")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="generate and edit with the bundled model; write a contact sheet")
    p.add_argument("--out", default="dreamlite-demo", help="output folder (default: ./dreamlite-demo)")
    p.add_argument("--model", default=None, help="pipeline folder, short name or hub id (default: shapes-mobile)")
    p.add_argument("--per-category", type=int, default=2, help="prompts per generation category (default 2)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1; 0: torch's default)")
    p.add_argument("--compare-with", default=None, metavar="MODEL",
                   help="also time one generation and one edit with MODEL at its defaults (default: shapes-base "
                        "when the model is a mobile one; '' for none)")
    p.set_defaults(func=cmd_demo)
