"""Text-to-image items in the six GenEval categories: a scene, a caption and the spec the scorer checks.

The spec mirrors GenEval's metadata: `include` lists what must be present (shape, count, optional colour),
`exclude` what must not (counting is exact: n required, n + 1 excluded), `relation` ties include[a] to
include[b] ("left of", "right of", "above", "below", judged on box centres).  Unnamed attributes of the scene
(colours in counting, background) are random, and the scorer ignores them.
"""

from dataclasses import dataclass

from .captions import frame_scene, noun_phrase, pick
from .palette import CELLS, GRID, OBJECT_NAMES, SHAPES
from .scene import Scene, random_background, random_cells, random_object

CATEGORIES = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
RELATIONS = ("left of", "right of", "above", "below")
RELATION_PHRASES = {
    "left of": ["left of", "to the left of", "on the left of"],
    "right of": ["right of", "to the right of", "on the right of"],
    "above": ["above", "over", "on top of"],
    "below": ["below", "under", "beneath"],
}
COUNTS = (2, 3, 4)


@dataclass(frozen=True)
class GenerationItem:
    category: str
    prompt: str
    spec: dict
    scene: Scene


def _two_shapes(rng) -> tuple[str, str]:
    a, b = rng.choice(len(SHAPES), size=2, replace=False)
    return SHAPES[a], SHAPES[b]


def _relation_cells(rng, relation: str) -> tuple[str, str]:
    """Cells for objects a and b such that `a <relation> b` holds by at least one cell."""
    while True:
        a, b = random_cells(rng, 2)
        (ra, ca), (rb, cb) = divmod(CELLS.index(a), GRID), divmod(CELLS.index(b), GRID)
        if {"left of": ca < cb, "right of": ca > cb, "above": ra < rb, "below": ra > rb}[relation]:
            return a, b


def make_generation_item(rng, category: str) -> GenerationItem:
    """One item of `category`, every random choice drawn from `rng`."""
    bg = random_background(rng)
    if category == "single_object":
        obj = random_object(rng, random_cells(rng, 1)[0])
        body = noun_phrase(rng, obj.shape)
        spec = {"include": [{"shape": obj.shape, "count": 1}]}
        objects = [obj]
    elif category == "two_object":
        shapes = _two_shapes(rng)
        objects = [random_object(rng, c, shape=s) for c, s in zip(random_cells(rng, 2), shapes)]
        joiner = pick(rng, [" and ", " and ", " with ", " together with "])
        body = joiner.join(noun_phrase(rng, s) for s in shapes)
        spec = {"include": [{"shape": s, "count": 1} for s in shapes]}
    elif category == "counting":
        shape, n = pick(rng, SHAPES), int(pick(rng, COUNTS))
        objects = [random_object(rng, c, shape=shape) for c in random_cells(rng, n)]
        body = noun_phrase(rng, shape, count=n)
        if rng.random() < 0.2:
            body = "exactly " + body
        spec = {"include": [{"shape": shape, "count": n}], "exclude": [{"shape": shape, "count": n + 1}]}
    elif category == "colors":
        obj = random_object(rng, random_cells(rng, 1)[0])
        objects = [obj]
        if rng.random() < 0.75:
            body = noun_phrase(rng, obj.shape, obj.color)
        else:
            tail = pick(rng, ["that is {}", "colored {}", "in {}"]).format(obj.color)
            body = f"{noun_phrase(rng, obj.shape)} {tail}"
        spec = {"include": [{"shape": obj.shape, "count": 1, "color": obj.color}]}
    elif category == "position":
        shapes, relation = _two_shapes(rng), pick(rng, RELATIONS)
        cells = _relation_cells(rng, relation)
        objects = [random_object(rng, c, shape=s) for c, s in zip(cells, shapes)]
        a, b = (noun_phrase(rng, s) for s in shapes)
        body = f"{a} {pick(rng, RELATION_PHRASES[relation])} {b}"
        spec = {"include": [{"shape": s, "count": 1} for s in shapes],
                "relation": {"a": 0, "relation": relation, "b": 1}}
    elif category == "color_attr":
        shapes = _two_shapes(rng)
        colors = [OBJECT_NAMES[i] for i in rng.choice(len(OBJECT_NAMES), size=2, replace=False)]
        objects = [random_object(rng, c, shape=s, color=k) for c, s, k in zip(random_cells(rng, 2), shapes, colors)]
        body = " and ".join(noun_phrase(rng, s, k) for s, k in zip(shapes, colors))
        spec = {"include": [{"shape": s, "count": 1, "color": k} for s, k in zip(shapes, colors)]}
    else:
        raise ValueError(f"unknown generation category {category!r}; choose from {', '.join(CATEGORIES)}")
    return GenerationItem(category, frame_scene(rng, body, bg), spec, Scene(bg, tuple(objects)))
