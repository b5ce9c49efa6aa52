"""Words for ShapesWorld: synonyms, plurals, articles, numbers and noun phrases, chosen at random per use.

Several surface forms per concept (synonyms, optional articles, counts in words or digits) keep a scene from
being tied to a single string, so a model has to read the caption rather than memorise it.
"""

import numpy as np

SHAPE_WORDS = {
    "circle": [("circle", "circles"), ("disc", "discs"), ("disk", "disks")],
    "square": [("square", "squares"), ("box", "boxes")],
    "triangle": [("triangle", "triangles")],
    "diamond": [("diamond", "diamonds"), ("rhombus", "rhombuses")],
    "cross": [("cross", "crosses"), ("plus sign", "plus signs")],
}
COLOR_WORDS = {
    "red": ["red"],
    "orange": ["orange"],
    "yellow": ["yellow"],
    "green": ["green"],
    "cyan": ["cyan", "turquoise"],
    "blue": ["blue"],
    "purple": ["purple", "violet"],
    "magenta": ["magenta", "pink"],
}
BACKGROUND_WORDS = {"white": ["white"], "black": ["black"]}
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
CELL_PHRASES = {
    "top left": ["the top left", "the top-left corner", "the upper left"],
    "top": ["the top", "the top middle", "the top center"],
    "top right": ["the top right", "the top-right corner", "the upper right"],
    "left": ["the left", "the middle left", "the left side"],
    "center": ["the center", "the middle", "the centre"],
    "right": ["the right", "the middle right", "the right side"],
    "bottom left": ["the bottom left", "the bottom-left corner", "the lower left"],
    "bottom": ["the bottom", "the bottom middle", "the bottom center"],
    "bottom right": ["the bottom right", "the bottom-right corner", "the lower right"],
}


def pick(rng: np.random.Generator, options):
    """One element of a list, chosen with `rng` (works for lists of tuples, unlike rng.choice)."""
    return options[int(rng.integers(len(options)))]


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def shape_word(rng, shape: str, plural: bool = False) -> str:
    return pick(rng, SHAPE_WORDS[shape])[1 if plural else 0]


def color_word(rng, color: str) -> str:
    return pick(rng, COLOR_WORDS[color])


def count_word(rng, n: int) -> str:
    return NUMBER_WORDS[n] if rng.random() < 0.6 else str(n)


def noun_phrase(rng, shape: str, color: str | None = None, count: int = 1, determiner: bool = True) -> str:
    """'a red circle', 'one disc', 'red square', '3 blue triangles', 'four crosses'."""
    words = ([color_word(rng, color)] if color else []) + [shape_word(rng, shape, plural=count > 1)]
    body = " ".join(words)
    if count > 1:
        return f"{count_word(rng, count)} {body}"
    if not determiner:
        return body
    roll = rng.random()
    if roll < 0.7:
        return f"{article(body)} {body}"
    return f"one {body}" if roll < 0.85 else body


def indefinite(rng, shape: str, color: str | None = None) -> str:
    """'a red circle', 'an orange disc': always with the article, as instructions need."""
    body = " ".join(([color_word(rng, color)] if color else []) + [shape_word(rng, shape)])
    return f"{article(body)} {body}"


def reference(rng, target: dict) -> str:
    """A definite description of an existing object from its spec ({'shape'?, 'color'?}): 'the red circle'."""
    if "shape" in target and "color" in target:
        if rng.random() < 0.8:
            return f"the {color_word(rng, target['color'])} {shape_word(rng, target['shape'])}"
        return f"the {shape_word(rng, target['shape'])} that is {color_word(rng, target['color'])}"
    if "shape" in target:
        return f"the {shape_word(rng, target['shape'])}"
    return f"the {color_word(rng, target['color'])} {pick(rng, ['shape', 'object', 'one'])}"


def cell_phrase(rng, cell: str) -> str:
    return pick(rng, CELL_PHRASES[cell])


def frame_scene(rng, body: str, background: str) -> str:
    """Wrap a description in one of several caption frames, sometimes naming the background."""
    frames = ["{}", "{}", "a photo of {}", "an image of {}", "a picture of {}", "a drawing of {}"]
    text = pick(rng, frames).format(body)
    if rng.random() < 0.3:
        text += f" on a {pick(rng, BACKGROUND_WORDS[background])} background"
    return text
