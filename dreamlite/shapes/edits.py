"""Editing triplets (source scene, instruction, target scene) in ImgEdit-like categories.

Categories and the ops behind them (the spec the scorer checks is {"ops": [op, ...]}):
  add         {"op": "add", "shape", "color", "cell": cell or None}    a new object (in a named cell, if given)
  remove      {"op": "remove", "target"}                               the object disappears
  replace     {"op": "replace", "target", "shape"}                     new shape; colour, place and size kept
  alter       {"op": "recolor", "target", "color"} or                  new colour, or
              {"op": "resize", "target", "direction": bigger|smaller}  size changed by 1.3x or more
  background  {"op": "background", "color"}                            a new background colour
  move        {"op": "move", "target", "cell"}                          the object goes to a free named cell
  extract     {"op": "extract", "target"}                               only the object stays, on white
  compose     two of add/remove/replace/recolor/resize/move/background on different objects, in one instruction
  style       {"op": "style", "style": "outline"}                      every object drawn as an outline
ImgEdit's "action" category (a subject changing pose) has no analogue among rigid shapes; "move" stands in.
A `target` names one source object unambiguously by {"shape"}, {"color"} or both.  Objects and pixels that
an instruction does not touch are identical in source and target, because objects are rendered one by one.
"""

from dataclasses import dataclass, replace

from .captions import pick
from .instructions import instruction
from .palette import BACKGROUND_NAMES, EXTRACT_BACKGROUND, OBJECT_NAMES, SHAPES
from .scene import (LARGE_SIZES, SMALL_SIZES, Scene, ShapeObject, distinct_objects, place, random_background,
                    random_cells, random_object, random_size)

CATEGORIES = ("add", "remove", "replace", "alter", "background", "move", "extract", "compose", "style")
COMPOSABLE = ("add", "remove", "replace", "recolor", "resize", "move", "background")
OBJECT_COUNTS = {"add": (1, 3), "remove": (2, 4), "extract": (2, 4), "compose": (2, 4), "style": (1, 3)}  # default (1, 4)
STYLE_SHAPES = ("circle", "square", "triangle", "diamond")  # a cross's arms are too thin to hollow
STYLE_SIZES = (0.24, 0.28)


@dataclass(frozen=True)
class EditItem:
    category: str
    prompt: str
    spec: dict
    source: Scene
    target: Scene


class _Edit:
    """A source and a target built together; target[i] is what became of source[i] (None: gone)."""

    def __init__(self, rng, objects, background, full_references=False):
        self.rng, self.full_references = rng, full_references
        self.source, self.target, self.added = list(objects), list(objects), []
        self.source_bg = self.target_bg = background
        self.touched: set[int] = set()

    def free_cells(self) -> list[str]:
        used = {o.cell for o in self.source + self.added} | {o.cell for o in self.target if o}
        return [c for c in random_cells(self.rng, 9) if c not in used]

    def take(self) -> int | None:
        """An object no earlier op has touched, now marked as touched."""
        free = [i for i in range(len(self.source)) if i not in self.touched]
        if not free:
            return None
        i = pick(self.rng, free)
        self.touched.add(i)
        return i

    def describe(self, i: int) -> dict:
        """A description that picks out source[i] alone: by shape, by colour or by both."""
        obj = self.source[i]
        both = {"shape": obj.shape, "color": obj.color}
        options = []
        if sum(o.shape == obj.shape for o in self.source) == 1:
            options.append({"shape": obj.shape})
        if sum(o.color == obj.color for o in self.source) == 1:
            options.append({"color": obj.color})
        if self.full_references or not options or self.rng.random() < 0.5:
            return both
        return pick(self.rng, options)

    def scenes(self) -> tuple[Scene, Scene]:
        target = [o for o in self.target if o is not None] + self.added
        return Scene(self.source_bg, tuple(self.source)), Scene(self.target_bg, tuple(target))


def _add(e: _Edit):
    cells = e.free_cells()
    taken = {(o.shape, o.color) for o in e.source + e.added}
    pairs = [(s, c) for s in SHAPES for c in OBJECT_NAMES if (s, c) not in taken]
    if not cells:
        return None
    shape, color = pick(e.rng, pairs)
    e.added.append(random_object(e.rng, cells[0], shape, color))
    return {"op": "add", "shape": shape, "color": color, "cell": cells[0] if e.rng.random() < 0.5 else None}


def _remove(e: _Edit):
    i = e.take()
    if i is None:
        return None
    e.target[i] = None
    return {"op": "remove", "target": e.describe(i)}


def _replace(e: _Edit):
    i = e.take()
    if i is None:
        return None
    shape = pick(e.rng, [s for s in SHAPES if s != e.source[i].shape])
    e.target[i] = replace(e.source[i], shape=shape)
    return {"op": "replace", "target": e.describe(i), "shape": shape}


def _recolor(e: _Edit):
    i = e.take()
    if i is None:
        return None
    color = pick(e.rng, [c for c in OBJECT_NAMES if c != e.source[i].color])
    e.target[i] = replace(e.source[i], color=color)
    return {"op": "recolor", "target": e.describe(i), "color": color}


def _resize(e: _Edit):
    i = e.take()
    if i is None:
        return None
    direction = pick(e.rng, ["bigger", "smaller"])
    before, after = (SMALL_SIZES, LARGE_SIZES) if direction == "bigger" else (LARGE_SIZES, SMALL_SIZES)
    old, new = random_size(e.rng, before), random_size(e.rng, after)
    # One centre for both sizes, jittered only as far as the larger one allows.
    cx, cy = place(e.rng, e.source[i].cell, old, jitter_size=max(old, new))
    e.source[i] = replace(e.source[i], cx=cx, cy=cy, size=old)
    e.target[i] = replace(e.source[i], size=new)
    return {"op": "resize", "target": e.describe(i), "direction": direction}


def _move(e: _Edit):
    cells = e.free_cells()
    i = e.take() if cells else None
    if i is None:
        return None
    cx, cy = place(e.rng, cells[0], e.source[i].size)
    e.target[i] = replace(e.source[i], cx=cx, cy=cy)
    return {"op": "move", "target": e.describe(i), "cell": cells[0]}


def _background(e: _Edit):
    if e.target_bg != e.source_bg:
        return None
    e.target_bg = pick(e.rng, [b for b in BACKGROUND_NAMES if b != e.source_bg])
    return {"op": "background", "color": e.target_bg}


def _extract(e: _Edit):
    i = e.take()
    e.target = [o if k == i else None for k, o in enumerate(e.target)]
    e.target_bg = EXTRACT_BACKGROUND
    return {"op": "extract", "target": e.describe(i)}


def _style(e: _Edit):
    e.target = [replace(o, style="outline") for o in e.target]
    return {"op": "style", "style": "outline"}


OPS = {"add": _add, "remove": _remove, "replace": _replace, "recolor": _recolor, "resize": _resize,
       "move": _move, "background": _background, "extract": _extract, "style": _style}


def _style_objects(rng, n: int) -> list[ShapeObject]:
    pairs = [(s, c) for s in STYLE_SHAPES for c in OBJECT_NAMES]
    picks = rng.choice(len(pairs), size=n, replace=False)
    return [random_object(rng, cell, *pairs[i], size=random_size(rng, STYLE_SIZES))
            for cell, i in zip(random_cells(rng, n), picks)]


def make_edit_item(rng, category: str) -> EditItem:
    """One editing triplet of `category`, every random choice drawn from `rng`."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown editing category {category!r}; choose from {', '.join(CATEGORIES)}")
    lo, hi = OBJECT_COUNTS.get(category, (1, 4))
    n = int(rng.integers(lo, hi + 1))
    objects = _style_objects(rng, n) if category == "style" else distinct_objects(rng, n)
    edit = _Edit(rng, objects, random_background(rng), full_references=category == "compose")
    if category == "compose":
        ops = []
        for name in rng.permutation(COMPOSABLE):
            op = OPS[str(name)](edit)
            if op is not None:
                ops.append(op)
            if len(ops) == 2:
                break
    elif category == "alter":
        ops = [OPS[pick(rng, ["recolor", "resize"])](edit)]
    else:
        ops = [OPS[category](edit)]
    source, target = edit.scenes()
    return EditItem(category, instruction(rng, ops), {"ops": ops}, source, target)
