"""GenEval's rules on hand-made detections (one test per task and rule), and the layout check."""

import json

import numpy as np
import pytest
from PIL import Image

from dreamlite.evals import EvalError
from dreamlite.evals.geneval import CROP_BACKGROUND
from dreamlite.evals.geneval.clip import masked_crop
from dreamlite.evals.geneval.layout import check_layout, read_layout
from dreamlite.evals.geneval.rules import (Detection, GenEvalRules, evaluate, keep_detections, relative_position,
                                           summarize)
from dreamlite.evals.geneval.sampling import read_metadata, write_metadata

TWO_CATS = {"tag": "counting", "include": [{"class": "cat", "count": 2}], "exclude": [{"class": "cat", "count": 3}],
            "prompt": "a photo of two cats"}


def box(x, y, w=20, h=20):
    return (x - w / 2, y - h / 2, x + w / 2, y + h / 2)


def dets(*scores, name="cat"):
    return {name: [Detection(box(10 + 30 * i, 50), s) for i, s in enumerate(scores)]}


def judge(metadata, raw, colour_of=None):
    return evaluate(metadata, keep_detections(raw, metadata["tag"]), colour_of)


def test_counting_uses_the_090_threshold_and_other_tasks_030():
    raw = dets(0.95, 0.92, 0.85, 0.5, 0.3, 0.2)
    assert len(keep_detections(raw, "counting")["cat"]) == 2  # > 0.9 only
    assert len(keep_detections(raw, "two_object")["cat"]) == 4  # > 0.3 strictly: 0.3 itself is out
    assert judge(TWO_CATS, raw)[0]  # the 0.85 cat does not count as a third
    correct, reason = judge(TWO_CATS, dets(0.95, 0.92, 0.91))
    assert not correct and "expected cat<3, found 3" in reason
    correct, reason = judge(TWO_CATS, dets(0.95, 0.89))
    assert not correct and "expected cat>=2, found 1" in reason


def test_at_most_16_objects_per_class_most_confident_first():
    raw = dets(*np.linspace(0.4, 0.99, 20))
    kept = keep_detections(raw, "single_object")["cat"]
    assert len(kept) == GenEvalRules().max_objects == 16
    assert [d.score for d in kept] == sorted((d.score for d in raw["cat"]), reverse=True)[:16]


def test_position_by_centres_with_the_01_margin():
    a, b = Detection(box(62, 50), 1.0), Detection(box(40, 50), 1.0)  # centres 22 px apart, sizes 20 + 20
    assert relative_position(a, b) == {"right of"}  # 22 - 0.1 * 40 = 18 px left after the margin
    assert relative_position(b, a) == {"left of"}
    near = Detection(box(43.5, 50), 1.0)  # 3.5 px < the 4 px margin: no relation at all
    assert relative_position(near, b) == set()
    assert relative_position(Detection(box(40, 10), 1.0), b) == {"above"}
    diagonal = Detection(box(70, 80), 1.0)  # 30 px right and 30 px down: both components exceed 0.5
    assert relative_position(diagonal, b) == {"right of", "below"}
    meta = {"tag": "position", "prompt": "a photo of a cat right of a dog",
            "include": [{"class": "dog", "count": 1}, {"class": "cat", "count": 1, "position": ["right of", 0]}]}
    detected = {"dog": [b], "cat": [a]}
    assert evaluate(meta, detected, None)[0]
    assert not evaluate(meta, {"dog": [b], "cat": [near]}, None)[0]
    correct, reason = evaluate(meta, {"cat": [a]}, None)  # no dog: the position has no target
    assert not correct and "no target for cat" in reason


def dominant_colour(crop: Image.Image) -> str:
    """A stand-in for CLIP: the most common non-grey colour of the crop it is shown."""
    pixels = [tuple(p) for p in np.asarray(crop).reshape(-1, 3) if tuple(p) != CROP_BACKGROUND]
    names = {(220, 20, 20): "red", (20, 20, 220): "blue"}
    return names[max(set(pixels), key=pixels.count)]


def test_colour_is_read_on_the_masked_crop():
    image = np.zeros((40, 40, 3), np.uint8)
    image[:] = (20, 20, 220)  # a blue scene ...
    yy, xx = np.mgrid[:40, :40]
    disc = (yy - 20) ** 2 + (xx - 20) ** 2 <= 49  # ... with a small red disc that fills little of its box
    image[disc] = (220, 20, 20)
    image = Image.fromarray(image)
    detection = Detection((8.0, 8.0, 32.0, 32.0), 0.9, disc)
    crop = masked_crop(image, detection)
    assert crop.size == (24, 24)
    array = np.asarray(crop)
    assert (array[~disc[8:32, 8:32]] == CROP_BACKGROUND).all() and (array[disc[8:32, 8:32]] == (220, 20, 20)).all()
    meta = {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a red car"}
    def colour_of(name, found):
        return [dominant_colour(masked_crop(image, d)) for d in found]
    assert evaluate(meta, {"car": [detection]}, colour_of)[0]
    unmasked = Detection(detection.box, 0.9, None)  # the box alone is mostly blue
    correct, reason = evaluate(meta, {"car": [unmasked]}, colour_of)
    assert not correct and "found 0 red" in reason


def test_colour_attribution_needs_each_object_its_colour():
    meta = {"tag": "color_attr", "prompt": "a red car and a blue bench",
            "include": [{"class": "car", "count": 1, "color": "red"}, {"class": "bench", "count": 1, "color": "blue"}]}
    detected = {"car": [Detection(box(20, 20), 0.9)], "bench": [Detection(box(60, 20), 0.9)]}
    assert evaluate(meta, detected, lambda name, found: ["red" if name == "car" else "blue"])[0]
    assert not evaluate(meta, detected, lambda name, found: ["blue"])[0]


def test_overall_is_the_mean_of_the_tasks_not_of_the_images():
    results = ([{"tag": "single_object", "correct": True, "prompt_index": 0}] * 2
               + [{"tag": "counting", "correct": False, "prompt_index": 1}] * 2
               + [{"tag": "position", "correct": c, "prompt_index": 2} for c in (True, False, False, False)])
    summary = summarize(results)
    assert summary["tasks"]["position"]["score"] == 0.25
    assert summary["overall"] == pytest.approx((1 + 0 + 0.25) / 3)
    assert summary["correct_images"] == pytest.approx(3 / 8)
    assert summary["correct_prompts"] == pytest.approx(2 / 3)


def write_folder(root, records, samples=2):
    write_metadata(root, records)
    for i in range(len(records)):
        for n in range(samples):
            Image.new("RGB", (8, 8), (n, i, 0)).save(root / f"{i:05d}" / "samples" / f"{n:04d}.png")


def test_layout_check_follows_genevals_reader(tmp_path):
    prompts = tmp_path / "evaluation_metadata.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in (TWO_CATS, dict(TWO_CATS, prompt="two cats"))))
    records = read_metadata(prompts)
    root = tmp_path / "run"
    write_folder(root, records)
    (root / "00000" / "samples" / "grid.png").write_bytes(b"x")  # not \d+\.png: the reader skips it
    (root / "notes").mkdir()  # not all digits: skipped
    assert check_layout(root, records, samples=2) == {"prompts": 2, "images": 4}
    assert [json.loads((root / f"{i:05d}" / "metadata.jsonl").read_text()) for i in range(2)] == records
    assert len(read_layout(root)[0][1]) == 2
    with pytest.raises(EvalError, match="expected 3"):
        check_layout(root, records, samples=3)
    (root / "00001" / "metadata.jsonl").write_text(json.dumps(TWO_CATS) + "\n")
    with pytest.raises(EvalError, match="differs from line 2"):
        check_layout(root, records)
    (root / "00001" / "metadata.jsonl").write_text("{not json")
    with pytest.raises(EvalError, match="cannot load"):
        check_layout(root, records)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tag": "colour", "include": [], "prompt": "x"}\n')
    with pytest.raises(EvalError, match="unknown tag"):
        read_metadata(bad)


def test_the_cli_explains_missing_inputs_in_one_line(tmp_path, capsys):
    from dreamlite.cli import main

    assert main(["eval", "geneval", "--images", str(tmp_path)]) == 2
    assert "needs --detector" in capsys.readouterr().err
    assert main(["eval", "geneval", "--model", "shapes-base", "--out", str(tmp_path)]) == 2
    assert "--prompts FILE" in capsys.readouterr().err
    assert main(["eval", "imgedit", "--images", str(tmp_path), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no basic_edit.json" in err
    (tmp_path / "basic_edit.json").write_text("{}")
    assert main(["eval", "imgedit", "--images", str(tmp_path), "--data", str(tmp_path)]) == 2
    assert "no items" in capsys.readouterr().err
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "basic_edit.json").write_text(json.dumps({"1": {"id": "a.png", "prompt": "p", "edit_type": "add"}}))
    assert main(["eval", "imgedit", "--images", str(tmp_path), "--data", str(tmp_path), "--judge",
                 "http://127.0.0.1:9/v1"]) == 2
    assert "--judge-model" in capsys.readouterr().err
