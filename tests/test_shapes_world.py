"""ShapesWorld data: reproducible items, anti-aliased renders, varied wording, untouched pixels kept by edits."""

from collections import defaultdict

import numpy as np
import pytest

from dreamlite.shapes import (EDIT_CATEGORIES, GENERATION_CATEGORIES, find_objects, item_rng, make_edit_item,
                              make_generation_item, render_scene)
from dreamlite.shapes.captions import noun_phrase
from dreamlite.shapes.palette import BACKGROUND_RGB, OBJECT_COLORS, OBJECT_RGB, SHAPES
from dreamlite.shapes.render import object_coverage


def _gen(category, index, seed=7):
    return make_generation_item(item_rng(seed, f"generation/{category}", index), category)


def _edit(category, index, seed=7):
    return make_edit_item(item_rng(seed, f"editing/{category}", index), category)


def test_same_seed_and_index_give_the_same_item_and_pixels():
    for category in GENERATION_CATEGORIES:
        a, b = _gen(category, 3), _gen(category, 3)
        assert a == b
        assert np.array_equal(render_scene(a.scene), render_scene(b.scene))
    for category in EDIT_CATEGORIES:
        assert _edit(category, 5) == _edit(category, 5)
    assert _gen("counting", 3) != _gen("counting", 4)
    assert _gen("counting", 3) != _gen("counting", 3, seed=8)


def test_palette_is_well_separated():
    pairs = [np.linalg.norm(a - b) for i, a in enumerate(OBJECT_RGB) for b in OBJECT_RGB[i + 1:]]
    assert len(OBJECT_RGB) >= 8 and min(pairs) >= 100
    assert min(np.linalg.norm(o - b) for o in OBJECT_RGB for b in BACKGROUND_RGB) >= 180
    assert len(SHAPES) >= 5 and {"circle", "square", "triangle"} <= set(SHAPES)


@pytest.mark.parametrize("size", [64, 128, 256])
def test_render_is_anti_aliased_and_scales(size):
    item = _gen("color_attr", 0)
    image = render_scene(item.scene, size)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert len(colours) > 3  # background, two objects and blended edge pixels
    alpha, _ = object_coverage(item.scene.objects[0], size, size)
    assert ((alpha > 0) & (alpha < 1)).any()
    background, found = find_objects(image)
    assert background == item.scene.background
    assert sorted((d.shape, d.color) for d in found) == sorted((o.shape, o.color) for o in item.scene.objects)


def test_objects_keep_apart():
    for k in range(100):
        objects = _edit("compose", k).source.objects
        for i, a in enumerate(objects):
            for b in objects[i + 1:]:
                gap = max(abs(a.cx - b.cx), abs(a.cy - b.cy)) - (a.size + b.size) / 2
                assert gap >= 0.04


def test_edits_leave_untouched_pixels_identical():
    for category in EDIT_CATEGORIES:
        if category in ("background", "style"):  # global edits: every object pixel may change
            continue
        for k in range(12):
            item = _edit(category, k)
            source, target = render_scene(item.source), render_scene(item.target)
            kept = set(item.source.objects) & set(item.target.objects)
            changed = (set(item.source.objects) | set(item.target.objects)) - kept
            mask = np.ones(source.shape[:2], dtype=bool)
            for obj in changed:
                _, (y0, y1, x0, x1) = object_coverage(obj, 64, 64)
                mask[y0:y1, x0:x1] = False
            if item.source.background == item.target.background:
                assert np.array_equal(source[mask], target[mask]), (category, k, item.prompt)
            for obj in kept:  # an object's pixels do not depend on the other objects
                _, (y0, y1, x0, x1) = object_coverage(obj, 64, 64)
                inner = render_scene(item.source.with_objects([obj]))[y0:y1, x0:x1]
                assert np.array_equal(inner, source[y0:y1, x0:x1])


def test_edit_targets_differ_from_sources():
    for category in EDIT_CATEGORIES:
        for k in range(10):
            item = _edit(category, k)
            assert not np.array_equal(render_scene(item.source), render_scene(item.target)), (category, k)


def test_captions_vary_for_the_same_content():
    phrasings = defaultdict(set)
    for k in range(300):
        item = _gen("single_object", k)
        phrasings[item.spec["include"][0]["shape"]].add(item.prompt)
    assert all(len(p) >= 5 for p in phrasings.values())
    for category in GENERATION_CATEGORIES + EDIT_CATEGORIES:
        make = _gen if category in GENERATION_CATEGORIES else _edit
        prompts = {make(category, k).prompt for k in range(40)}
        assert len(prompts) >= 8, category


def test_counts_come_in_words_and_digits_with_correct_articles():
    rng = np.random.default_rng(0)
    counts = {noun_phrase(rng, "circle", count=3).split()[0] for _ in range(50)}
    assert counts == {"three", "3"}
    phrases = {noun_phrase(rng, "circle", "orange") for _ in range(60)}
    assert "an orange circle" in phrases and "a orange circle" not in phrases
    assert any(not p.startswith(("a ", "an ", "one ")) for p in phrases)  # articles are optional


def test_spec_matches_scene():
    for k in range(30):
        item = _gen("counting", k)
        (req,) = item.spec["include"]
        assert sum(o.shape == req["shape"] for o in item.scene.objects) == req["count"]
        assert item.spec["exclude"][0]["count"] == req["count"] + 1
        colors = _gen("colors", k)
        assert colors.scene.objects[0].color == colors.spec["include"][0]["color"]
        assert colors.spec["include"][0]["color"] in OBJECT_COLORS


def test_edit_specs_name_their_ops():
    expected = {"add": {"add"}, "remove": {"remove"}, "replace": {"replace"}, "alter": {"recolor", "resize"},
                "background": {"background"}, "move": {"move"}, "extract": {"extract"}, "style": {"style"}}
    for category in EDIT_CATEGORIES:
        for k in range(20):
            ops = _edit(category, k).spec["ops"]
            if category == "compose":
                assert len(ops) == 2 and len({o["op"] for o in ops}) == 2
                targets = [tuple(sorted(o["target"].items())) for o in ops if "target" in o]
                assert len(set(targets)) == len(targets)  # two different objects
            else:
                assert len(ops) == 1 and ops[0]["op"] in expected[category]


def test_unknown_category_is_rejected():
    with pytest.raises(ValueError, match="unknown generation category"):
        make_generation_item(np.random.default_rng(0), "juggling")
    with pytest.raises(ValueError, match="unknown editing category"):
        make_edit_item(np.random.default_rng(0), "action")
