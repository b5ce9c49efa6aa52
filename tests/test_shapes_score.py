"""ShapesBench scorer: ground truth passes, and each kind of mistake fails on the category it breaks."""

from dataclasses import replace

import numpy as np
import pytest

from dreamlite.shapes import (EDIT_CATEGORIES, GENERATION_CATEGORIES, iter_split, render_scene, render_split,
                              format_table, score_dir, score_edit, score_generation, summarize)
from dreamlite.shapes.palette import BACKGROUND_COLORS, OBJECT_NAMES, SHAPES, cell_center
from dreamlite.shapes.scene import Scene

FAIL_AT_MOST = 0.05


@pytest.fixture(scope="module")
def eval_items():
    """The public eval split as (task, category, item) triples."""
    return [(task, category, item) for task, category, _, item in iter_split()]


def _rate(verdicts) -> float:
    verdicts = list(verdicts)
    assert verdicts, "no items were judged"
    return float(np.mean([v.passed for v in verdicts]))


def _of(items, category):
    return [item for _, c, item in items if c == category]


def _blank(item) -> np.ndarray:
    """The item's source background with no objects on it."""
    blank = np.empty_like(render_scene(item.source))
    blank[:] = BACKGROUND_COLORS[item.source.background]
    return blank


def test_ground_truth_eval_split_scores_at_least_099_everywhere(tmp_path):
    render_split(tmp_path)
    summary = summarize(score_dir(tmp_path))
    assert set(summary["generation"]) == {"overall", *GENERATION_CATEGORIES}
    assert set(summary["editing"]) == {"overall", *EDIT_CATEGORIES}
    scores = {f"{t}/{c}": v for t in ("generation", "editing") for c, v in summary[t].items()}
    assert min(scores.values()) >= 0.99, {k: v for k, v in scores.items() if v < 0.99}
    assert summary["overall"] >= 0.99


def test_eval_split_has_50_to_100_items_per_category(eval_items):
    categories = [c for _, c, _ in eval_items]
    for category in GENERATION_CATEGORIES + EDIT_CATEGORIES:
        assert 50 <= categories.count(category) <= 100


def test_wrong_colour_fails(eval_items):
    def recoloured(item):
        obj = item.scene.objects[0]
        other = OBJECT_NAMES[(OBJECT_NAMES.index(obj.color) + 3) % len(OBJECT_NAMES)]
        return item.scene.with_objects([replace(obj, color=other)])

    assert _rate(score_generation(render_scene(recoloured(i)), i.spec) for i in _of(eval_items, "colors")) <= FAIL_AT_MOST

    def swapped(item):  # attribute binding: the right colours on the wrong shapes
        a, b = item.scene.objects
        return item.scene.with_objects([replace(a, color=b.color), replace(b, color=a.color)])

    attr = _of(eval_items, "color_attr")
    assert _rate(score_generation(render_scene(swapped(i)), i.spec) for i in attr) <= FAIL_AT_MOST


def test_wrong_count_fails(eval_items):
    counting = _of(eval_items, "counting")
    fewer = [score_generation(render_scene(i.scene.with_objects(i.scene.objects[:-1])), i.spec) for i in counting]
    assert _rate(fewer) <= FAIL_AT_MOST

    def one_more(item):
        first = item.scene.objects[0]
        cx, cy = cell_center(item.scene.free_cells()[0])
        return item.scene.with_objects(item.scene.objects + (replace(first, cx=cx, cy=cy),))

    assert _rate(score_generation(render_scene(one_more(i)), i.spec) for i in counting) <= FAIL_AT_MOST


def test_mirrored_relation_fails(eval_items):
    def mirrored(item):
        horizontal = item.spec["relation"]["relation"] in ("left of", "right of")
        return item.scene.with_objects([replace(o, cx=1 - o.cx) if horizontal else replace(o, cy=1 - o.cy)
                                        for o in item.scene.objects])

    position = _of(eval_items, "position")
    assert _rate(score_generation(render_scene(i.scene), i.spec) for i in position) >= 0.99
    assert _rate(score_generation(render_scene(mirrored(i)), i.spec) for i in position) <= FAIL_AT_MOST


def _referent(item) -> int:
    target = item.spec["ops"][0]["target"]
    hits = [k for k, o in enumerate(item.source.objects) if all(getattr(o, a) == v for a, v in target.items())]
    assert len(hits) == 1
    return hits[0]


def _on_wrong_object(item) -> Scene | None:
    """The item's single op applied to another object of the source than the one it names."""
    op, source = item.spec["ops"][0], list(item.source.objects)
    others = [k for k in range(len(source)) if k != _referent(item)]
    if not others:
        return None
    j, kind = others[0], op["op"]
    wrong, objects = source[j], list(source)
    if kind == "remove":
        del objects[j]
    elif kind == "replace":
        objects[j] = replace(wrong, shape=next(s for s in (op["shape"], *SHAPES) if s != wrong.shape))
    elif kind == "recolor":
        objects[j] = replace(wrong, color=next(c for c in (op["color"], *OBJECT_NAMES) if c != wrong.color))
    elif kind == "resize":
        objects[j] = replace(wrong, size=wrong.size * (1.35 if op["direction"] == "bigger" else 1 / 1.35))
    elif kind == "move":
        cx, cy = cell_center(op["cell"])
        objects[j] = replace(wrong, cx=cx, cy=cy)
    elif kind == "extract":
        return Scene("white", (wrong,))
    return item.source.with_objects(objects)


@pytest.mark.parametrize("category", ["remove", "replace", "alter", "move", "extract"])
def test_edit_on_the_wrong_object_fails(eval_items, category):
    verdicts = []
    for item in _of(eval_items, category):
        wrong = _on_wrong_object(item)
        if wrong is not None:
            verdicts.append(score_edit(render_scene(item.source), render_scene(wrong), item.spec))
    assert len(verdicts) >= 20
    assert _rate(verdicts) <= FAIL_AT_MOST


@pytest.mark.parametrize("category", EDIT_CATEGORIES)
def test_source_returned_unchanged_fails(eval_items, category):
    sources = [(render_scene(i.source), i.spec) for i in _of(eval_items, category)]
    assert _rate(score_edit(image, image, spec) for image, spec in sources) <= FAIL_AT_MOST


def test_blank_image_fails_every_category(eval_items):
    for task, category in [("generation", c) for c in GENERATION_CATEGORIES] + [("editing", c) for c in EDIT_CATEGORIES]:
        verdicts = []
        for k, item in enumerate(_of(eval_items, category)[:16]):
            blank = np.empty((64, 64, 3), np.uint8)
            blank[:] = BACKGROUND_COLORS[("white", "black")[k % 2]]
            if task == "generation":
                verdicts.append(score_generation(blank, item.spec))
            else:
                verdicts.append(score_edit(render_scene(item.source), blank, item.spec))
        assert _rate(verdicts) <= FAIL_AT_MOST, category


def test_verdicts_explain_failures(eval_items):
    item = _of(eval_items, "counting")[0]
    verdict = score_generation(render_scene(item.scene.with_objects(())), item.spec)
    assert not verdict.passed and "found 0" in verdict.reason
    edit = next(i for i in _of(eval_items, "move") if len(i.source.objects) > 1)
    verdict = score_edit(render_scene(edit.source), render_scene(edit.source), edit.spec)
    assert not verdict.passed and "missing" in verdict.reason and "moved to" in verdict.reason


def test_kept_counts_the_untouched_objects_an_edit_keeps(eval_items):
    """`kept`: 1 when the edit is right, 0 on a blank, (n-1)/n when one bystander is recoloured; none for style."""
    items = [i for i in _of(eval_items, "replace") if len(i.source.objects) >= 3][:8]
    assert items
    for item in items:
        source = render_scene(item.source)
        assert score_edit(source, render_scene(item.target), item.spec).kept == 1.0
        assert score_edit(source, _blank(item), item.spec).kept == 0.0
        target = item.target.objects
        bystander = next(k for k, o in enumerate(target) if o in item.source.objects)
        other = OBJECT_NAMES[(OBJECT_NAMES.index(target[bystander].color) + 3) % len(OBJECT_NAMES)]
        damaged = item.target.with_objects([replace(o, color=other) if k == bystander else o for k, o in enumerate(target)])
        untouched = len(item.source.objects) - 1  # replace changes one object
        verdict = score_edit(source, render_scene(damaged), item.spec)
        assert not verdict.passed and verdict.kept == pytest.approx((untouched - 1) / untouched)
    style = _of(eval_items, "style")[0]
    assert score_edit(render_scene(style.source), render_scene(style.target), style.spec).kept is None


def test_applied_counts_the_changes_an_edit_makes_whatever_it_does_to_the_rest(eval_items):
    """`applied`: 1 when the edit is right, 0 when the source comes back unchanged; a blank output makes every
    removal (applied 1, kept 0) and no addition (applied 0)."""
    for category in EDIT_CATEGORIES:
        for item in _of(eval_items, category)[:6]:
            source = render_scene(item.source)
            assert score_edit(source, render_scene(item.target), item.spec).applied == 1.0, item.spec
            assert score_edit(source, source, item.spec).applied == 0.0, item.spec
    remove = next(i for i in _of(eval_items, "remove") if len(i.source.objects) >= 2)
    verdict = score_edit(render_scene(remove.source), _blank(remove), remove.spec)
    assert (verdict.passed, verdict.applied, verdict.kept) == (False, 1.0, 0.0)
    add = _of(eval_items, "add")[0]
    assert score_edit(render_scene(add.source), _blank(add), add.spec).applied == 0.0


def test_summary_reports_kept_and_applied_per_edit_category_apart_from_the_pass_rates(tmp_path):
    render_split(tmp_path, count=4)
    summary = summarize(score_dir(tmp_path))
    kept, applied = summary["editing_kept"], summary["editing_applied"]
    assert set(kept) == {"overall", *(c for c in EDIT_CATEGORIES if c != "style")}
    assert set(applied) == {"overall", *EDIT_CATEGORIES}
    assert min(kept.values()) >= 0.99 and min(applied.values()) >= 0.99
    assert summary["overall"] == pytest.approx((summary["generation"]["overall"] + summary["editing"]["overall"]) / 2)
    assert "| applied | kept |" in format_table(summary)
