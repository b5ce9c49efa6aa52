"""Running a model over ShapesBench: stand-in models exercise sampling, scoring and the reports."""

import json

import numpy as np
import pytest
from PIL import Image

from dreamlite.shapes import render_split, score_dir, summarize
from dreamlite.shapes.evaluate import evaluate_model, first_per_category
from dreamlite.shapes.layout import read_index


class Oracle:
    """Answers every item with its ground truth, looked up by prompt (and source pixels for edits)."""

    def __init__(self, root):
        self.generated, self.edited, self.calls = {}, {}, []
        for r in read_index(root):
            image = Image.open(root / r["image"]).convert("RGB")
            if r["task"] == "generation":
                self.generated.setdefault(r["prompt"], image)
            else:
                source = np.asarray(Image.open(root / r["source"]).convert("RGB")).tobytes()
                self.edited[(r["prompt"], source)] = image

    def generate(self, prompt, height, width, steps=None, guidance_scale=None, seed=None, num_images=1):
        self.calls.append(("generate", prompt, height, width, steps, guidance_scale, seed))
        return [self.generated[prompt]]

    def edit(self, image, instruction, height=None, width=None, steps=None, guidance_scale=None,
             image_guidance_scale=None, seed=None, num_images=1):
        self.calls.append(("edit", instruction, height, width, steps, image_guidance_scale, seed))
        return [self.edited[(instruction, np.asarray(image.convert("RGB")).tobytes())]]


class Lazy:
    """Draws nothing: a blank canvas for generation, the untouched source for editing."""

    def generate(self, prompt, height, width, **kwargs):
        return [Image.new("RGB", (width, height), (245, 245, 245))]

    def edit(self, image, instruction, **kwargs):
        return [image.copy()]


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    root = tmp_path_factory.mktemp("items")
    render_split(root, count=3)
    return root


def test_oracle_scores_perfectly_and_reports_are_written(items, tmp_path):
    oracle = Oracle(items)
    summary = evaluate_model(oracle, tmp_path, items_dir=items, steps=4, guidance=3.0, image_guidance=1.5,
                             progress=False)
    assert summary["overall"] == 1.0
    assert json.loads((tmp_path / "scores.json").read_text()) == summary
    assert "| editing | compose |" in (tmp_path / "scores.md").read_text()
    verdicts = [json.loads(line) for line in (tmp_path / "items.jsonl").read_text().splitlines()]
    assert len(verdicts) == 45 and all(v["passed"] for v in verdicts)
    grid = Image.open(tmp_path / "grid.png")
    assert grid.size[0] > 500 and grid.size[1] >= 15 * 64
    # The output folder is a split in its own right: re-scoring it gives the same numbers.
    assert summarize(score_dir(tmp_path)) == summary
    # Arguments reach the model, and every item gets its own fixed seed.
    assert {c[4] for c in oracle.calls} == {4} and {c[5] for c in oracle.calls if c[0] == "edit"} == {1.5}
    seeds = [c[6] for c in oracle.calls]
    assert len(set(seeds)) == len(seeds) == 45
    assert seeds == [r["seed"] for r in read_index(items)]


def test_a_model_that_does_nothing_scores_zero(items, tmp_path):
    summary = evaluate_model(Lazy(), tmp_path, items_dir=items, progress=False)
    assert summary["overall"] == 0.0
    assert max(summary["editing"].values()) == 0.0 and max(summary["generation"].values()) == 0.0
    reasons = [json.loads(line)["reason"] for line in (tmp_path / "items.jsonl").read_text().splitlines()]
    assert all(reasons)


def test_default_items_are_the_public_eval_split_and_limit_applies(tmp_path):
    summary = evaluate_model(Lazy(), tmp_path, limit=1, progress=False)
    records = read_index(tmp_path)
    assert len(records) == 15 and summary["overall"] == 0.0
    public = tmp_path / "public"
    render_split(public, count=1)
    assert [r["prompt"] for r in records] == [r["prompt"] for r in read_index(public)]


def test_the_public_split_is_rendered_at_the_models_own_size(tmp_path):
    class Lazy128(Lazy):
        default_size = 128

    evaluate_model(Lazy128(), tmp_path, limit=1, progress=False)
    records = read_index(tmp_path)
    assert {(r["width"], r["height"]) for r in records} == {(128, 128)}
    assert all(Image.open(tmp_path / r["source"]).size == (128, 128) for r in records if r["task"] == "editing")


def test_first_per_category_keeps_order():
    records = [{"task": "generation", "category": c, "id": str(k)} for k, c in enumerate("aabab")]
    assert [r["id"] for r in first_per_category(records, 1)] == ["0", "2"]


def test_cli_model_path_runs_a_loaded_pipeline(items, tmp_path, monkeypatch, capsys):
    import dreamlite
    from dreamlite.shapes.cli import main

    loaded = []

    def fake_from_pretrained(name, device=None, dtype=None):
        loaded.append(name)
        return Oracle(items)

    monkeypatch.setattr(dreamlite.DreamLite, "from_pretrained", staticmethod(fake_from_pretrained))
    assert main(["eval", "shapes", "--model", "tiny", "--items", str(items), "--out", str(tmp_path),
                 "--steps", "2", "--limit", "1"]) == 0
    assert loaded == ["tiny"]
    assert json.loads((tmp_path / "scores.json").read_text())["overall"] == 1.0
    assert "reports in" in capsys.readouterr().out


def test_worker_processes_sample_the_same_images_as_one_process(tiny_model_dir, tmp_path):
    import functools

    import torch

    from dreamlite import DreamLite

    model = DreamLite.from_pretrained(tiny_model_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers get threads // 2 = 1 each: the same arithmetic as here
    try:
        one = evaluate_model(model, tmp_path / "one", steps=2, limit=1, progress=False)
        loader = functools.partial(DreamLite.from_pretrained, str(tiny_model_dir))
        two = evaluate_model(model, tmp_path / "two", steps=2, limit=1, progress=False, workers=2, loader=loader)
    finally:
        torch.set_num_threads(threads)
    assert one == two
    records = read_index(tmp_path / "one")
    assert len(records) == 15 and records == read_index(tmp_path / "two")
    for record in records:
        a, b = (np.asarray(Image.open(tmp_path / run / record["image"])) for run in ("one", "two"))
        assert np.array_equal(a, b), record["id"]
    with pytest.raises(ValueError, match="needs a loader"):
        evaluate_model(model, tmp_path / "three", limit=1, progress=False, workers=2)
