"""Pass/fail rules on detected objects: GenEval's for generation, instruction-plus-preservation for editing.

Generation (GenEval): every `include` needs at least `count` objects of its shape (and colour, if named);
every `exclude` must have fewer than `count`; a `relation` needs some pair whose box centres differ by more
than RELATION_MARGIN in the named direction.  Objects the prompt does not mention are ignored.

Editing: the source image's objects, with the spec's ops applied, give the expected objects; the output must
hold exactly those, one to one: same shape, colour and fill, and each object the ops did not move or resize
within POSITION_TOLERANCE and SIZE_TOLERANCE of where and how big it was; plus the expected background.
So an edit that is not made, made on the wrong object, or made while disturbing anything else, fails.
Beside the verdict, two shares split a failure into its halves, which pass/fail alone does not: `kept` is the
share of the source objects the ops leave alone that the output still holds (matched one to one by the same
rule), and `applied` the share of the instruction's changes the output shows, whatever became of the rest: each
changed or added object found, each removed object gone, and the new background if the ops change it.
"""

from dataclasses import dataclass, field, replace

from .detect import Detection
from .palette import EXTRACT_BACKGROUND, cell_of

RELATION_MARGIN = 0.1  # box centres must differ by this fraction of the image side
POSITION_TOLERANCE = 0.06  # an untouched object may drift this fraction of the image side (4 px at 64)
SIZE_TOLERANCE = 1.25  # an untouched object's size may change by this factor
SIZE_CHANGE = 1.2  # "bigger" / "smaller" needs at least this factor


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str = ""
    kept: float | None = None  # editing: share of untouched source objects still there (None: none to keep)
    applied: float | None = None  # editing: share of the ops' changes the output shows


def _matches(d: Detection, shape: str, color: str | None) -> bool:
    return d.shape == shape and (color is None or d.color == color)


def _named(req: dict) -> str:
    return f"{req['color']} {req['shape']}" if req.get("color") else req["shape"]


def _holds(relation: str, a: Detection, b: Detection) -> bool:
    dx, dy = b.cx - a.cx, b.cy - a.cy
    return {"left of": dx, "right of": -dx, "above": dy, "below": -dy}[relation] > RELATION_MARGIN


def judge_generation(spec: dict, detections: list[Detection]) -> Verdict:
    groups = []
    for req in spec["include"]:
        found = [d for d in detections if _matches(d, req["shape"], req.get("color"))]
        if len(found) < req["count"]:
            return Verdict(False, f"found {len(found)} {_named(req)}, need {req['count']}")
        groups.append(found)
    for req in spec.get("exclude", []):
        found = [d for d in detections if _matches(d, req["shape"], req.get("color"))]
        if len(found) >= req["count"]:
            return Verdict(False, f"found {len(found)} {_named(req)}, need fewer than {req['count']}")
    rel = spec.get("relation")
    if rel and not any(_holds(rel["relation"], a, b) for a in groups[rel["a"]] for b in groups[rel["b"]]):
        a, b = (_named(spec["include"][rel[k]]) for k in ("a", "b"))
        return Verdict(False, f"no {a} {rel['relation']} a {b}")
    return Verdict(True)


@dataclass(frozen=True)
class Expected:
    """An object the edited image must contain."""

    shape: str
    color: str
    hollow: bool = False
    center: tuple[float, float] | None = None  # must stay here (within tolerance), if set
    cell: str | None = None  # must lie in this grid cell, if set
    size: float | None = None  # reference size for size_rule
    size_rule: str = "any"  # "same", "bigger", "smaller" or "any"
    label: str = field(default="", compare=False)

    def accepts(self, d: Detection) -> bool:
        if (d.shape, d.color, d.hollow) != (self.shape, self.color, self.hollow):
            return False
        if self.center and max(abs(d.cx - self.center[0]), abs(d.cy - self.center[1])) > POSITION_TOLERANCE:
            return False
        if self.cell and cell_of(d.cx, d.cy) != self.cell:
            return False
        ratio = d.size / self.size if self.size else 1.0
        return {"same": 1 / SIZE_TOLERANCE <= ratio <= SIZE_TOLERANCE, "bigger": ratio >= SIZE_CHANGE,
                "smaller": ratio <= 1 / SIZE_CHANGE, "any": True}[self.size_rule]


class Unjudgeable(ValueError):
    """The source image does not support the instruction (its referent is missing or ambiguous)."""


def _resolve(target: dict, source: list[Detection]) -> int:
    hits = [i for i, d in enumerate(source) if all(getattr(d, k) == v for k, v in target.items())]
    if len(hits) != 1:
        raise Unjudgeable(f"source has {len(hits)} objects matching {target}")
    return hits[0]


def _source_slots(source: list[Detection]) -> list[Expected]:
    """Each source object as it stands: same shape, colour, fill, place and size."""
    return [Expected(d.shape, d.color, d.hollow, (d.cx, d.cy), None, d.size, "same", d.describe()) for d in source]


def _slots_after(ops: list[dict], source_bg: str | None, source: list[Detection]):
    """What the edited image should show, from the source's detections and the ops: (background, one slot per
    source object: what it must become, None if removed; objects added)."""
    slots = _source_slots(source)
    added, background = [], source_bg
    for op in ops:
        kind = op["op"]
        i = _resolve(op["target"], source) if "target" in op else None
        if kind == "add":
            added.append(Expected(op["shape"], op["color"], cell=op.get("cell"), label=f"new {op['color']} {op['shape']}"))
        elif kind == "remove":
            slots[i] = None
        elif kind == "replace":
            slots[i] = replace(slots[i], shape=op["shape"], label=f"{slots[i].color} {op['shape']} (replaced)")
        elif kind == "recolor":
            slots[i] = replace(slots[i], color=op["color"], label=f"{op['color']} {slots[i].shape} (recoloured)")
        elif kind == "resize":
            slots[i] = replace(slots[i], size_rule=op["direction"], label=f"{op['direction']} {slots[i].label}")
        elif kind == "move":
            slots[i] = replace(slots[i], center=None, cell=op["cell"], label=f"{slots[i].label} moved to {op['cell']}")
        elif kind == "background":
            background = op["color"]
        elif kind == "extract":
            slots = [s if k == i else None for k, s in enumerate(slots)]
            background = EXTRACT_BACKGROUND
        elif kind == "style":
            slots = [s and replace(s, hollow=True, label=f"outlined {s.label}") for s in slots]
        else:
            raise Unjudgeable(f"unknown op {kind!r}")
    return background, slots, added


def _matched(expected: list[Expected], found: list[Detection]) -> int:
    """Largest number of expected objects that can each take a different detection they accept (augmenting paths)."""
    owner: dict[int, int] = {}

    def place(k: int, seen: set) -> bool:
        for j, d in enumerate(found):
            if j not in seen and expected[k].accepts(d):
                seen.add(j)
                if j not in owner or place(owner[j], seen):
                    owner[j] = k
                    return True
        return False

    return sum(place(k, set()) for k in range(len(expected)))


def _one_to_one(expected: list[Expected], found: list[Detection]) -> bool:
    """Whether expected objects and detections pair up exactly, each pair accepted."""
    return len(expected) == len(found) and _matched(expected, found) == len(expected)


def judge_edit(spec: dict, source, output) -> Verdict:
    """`source` and `output` are (background, detections) pairs from `find_objects`."""
    try:
        background, slots, added = _slots_after(spec["ops"], *source)
    except Unjudgeable as err:
        return Verdict(False, str(err))
    out_bg, found = output
    originals = _source_slots(source[1])
    expected = [s for s in slots if s is not None] + added
    untouched = [o for o in originals if o in expected]  # source objects the ops left alone
    kept = _matched(untouched, found) / len(untouched) if untouched else None
    changed = [s for o, s in zip(originals, slots) if s is not None and s != o] + added
    removed = [o for o, s in zip(originals, slots) if s is None]
    new_bg = background != source[0]
    checks = len(changed) + len(removed) + new_bg
    gone = sum(not any(o.accepts(d) for d in found) for o in removed)
    applied = (_matched(changed, found) + gone + (new_bg and out_bg == background)) / checks if checks else None
    if out_bg != background:
        return Verdict(False, f"background {out_bg or 'unknown'}, expected {background}", kept, applied)
    if _one_to_one(expected, found):
        return Verdict(True, kept=kept, applied=applied)
    missing = [e.label for e in expected if not any(e.accepts(d) for d in found)]
    extra = [d.describe() for d in found if not any(e.accepts(d) for e in expected)]
    parts = [f"missing {', '.join(missing)}"] if missing else []
    parts += [f"unexpected {', '.join(extra)}"] if extra else []
    return Verdict(False, "; ".join(parts) or f"found {len(found)} objects, expected {len(expected)}", kept, applied)
