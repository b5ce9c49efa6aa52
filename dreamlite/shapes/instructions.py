"""Plain-English editing instructions for edit ops, several phrasings per op."""

from .captions import BACKGROUND_WORDS, cell_phrase, color_word, indefinite, pick, reference


def _add(rng, op):
    thing = indefinite(rng, op["shape"], op["color"])
    verb = pick(rng, ["add", "draw", "insert", "put"])
    if op.get("cell"):
        where = cell_phrase(rng, op["cell"])
        return pick(rng, [f"{verb} {thing} in {where}", f"{verb} {thing} at {where}"])
    return f"{verb} {thing}"


def _remove(rng, op):
    verb = pick(rng, ["remove", "delete", "erase", "take away", "get rid of"])
    return f"{verb} {reference(rng, op['target'])}"


def _replace(rng, op):
    ref, new = reference(rng, op["target"]), indefinite(rng, op["shape"])
    return pick(rng, [f"replace {ref} with {new}", f"turn {ref} into {new}", f"change {ref} into {new}",
                      f"swap {ref} for {new}"])


def _recolor(rng, op):
    ref, color = reference(rng, op["target"]), color_word(rng, op["color"])
    return pick(rng, [f"make {ref} {color}", f"change the color of {ref} to {color}", f"paint {ref} {color}",
                      f"recolor {ref} {color}", f"turn {ref} {color}"])


def _resize(rng, op):
    ref = reference(rng, op["target"])
    if op["direction"] == "bigger":
        return pick(rng, [f"make {ref} bigger", f"make {ref} larger", f"enlarge {ref}", f"increase the size of {ref}"])
    return pick(rng, [f"make {ref} smaller", f"shrink {ref}", f"reduce the size of {ref}"])


def _background(rng, op):
    color = pick(rng, BACKGROUND_WORDS[op["color"]])
    return pick(rng, [f"change the background to {color}", f"make the background {color}",
                      f"use a {color} background", f"set the background color to {color}",
                      f"replace the background with a plain {color} one"])


def _move(rng, op):
    ref, where = reference(rng, op["target"]), cell_phrase(rng, op["cell"])
    return pick(rng, [f"move {ref} to {where}", f"shift {ref} to {where}", f"put {ref} in {where}",
                      f"place {ref} at {where}", f"move {ref} over to {where}"])


def _extract(rng, op):
    ref = reference(rng, op["target"])
    return pick(rng, [f"extract {ref}", f"keep only {ref}", f"isolate {ref} on a white background",
                      f"cut out {ref} and put it on a plain white background",
                      f"remove everything except {ref} and make the background white"])


def _style(rng, op):
    return pick(rng, ["draw every shape as an outline", "make all the shapes hollow", "turn the shapes into outlines",
                      "redraw everything in outline style", "show only the outlines of the shapes",
                      "make every object hollow", "replace the filled shapes with outlines",
                      "convert the picture to line art", "keep just the edges of each shape",
                      "give the image an outline style"])


PHRASES = {"add": _add, "remove": _remove, "replace": _replace, "recolor": _recolor, "resize": _resize,
           "background": _background, "move": _move, "extract": _extract, "style": _style}


def instruction(rng, ops: list[dict]) -> str:
    """The instruction for one op, or for two ops joined the way people chain edits."""
    parts = [PHRASES[op["op"]](rng, op) for op in ops]
    if len(parts) == 1:
        return parts[0]
    first, second = parts
    return pick(rng, [f"{first} and {second}", f"{first}, then {second}", f"first {first}, then {second}",
                      f"{first}; also {second}"])
