"""The scorer holds up when ground truth is mildly damaged, and works at 128 and 256 pixels too."""

from functools import partial

import pytest

from dreamlite.shapes import render_split, score_dir, summarize
from dreamlite.shapes.damage import DAMAGES, MILD
from dreamlite.shapes.score import load_rgb


@pytest.fixture(scope="module")
def small_split(tmp_path_factory):
    """16 items per category of the public eval split (240 items)."""
    root = tmp_path_factory.mktemp("split")
    render_split(root, count=16)
    return root


@pytest.mark.parametrize("name", sorted(MILD))
def test_mildly_damaged_ground_truth_still_scores_at_least_095(small_split, name):
    damage = partial(DAMAGES[name], level=MILD[name])
    summary = summarize(score_dir(small_split, transform=damage))
    assert summary["overall"] >= 0.95, summary


def test_damage_really_changes_the_pixels(small_split):
    image = load_rgb(small_split / "images" / "gen-counting-0000.png")
    for name, level in MILD.items():
        assert (DAMAGES[name](image, level) != image).mean() > 0.01, name


def test_heavy_damage_is_not_forgiven(small_split):
    """The scorer is tolerant, not blind: a 6 px shift breaks preservation, a 3 px blur breaks small shapes."""
    shifted = summarize(score_dir(small_split, transform=partial(DAMAGES["shift"], level=6)))
    assert shifted["editing"]["overall"] <= 0.7
    blurred = summarize(score_dir(small_split, transform=partial(DAMAGES["blur"], level=3.0)))
    assert blurred["overall"] <= 0.8


@pytest.mark.parametrize("size,count", [(128, 3), (256, 2)])
def test_ground_truth_scores_perfectly_at_larger_sizes(tmp_path, size, count):
    render_split(tmp_path, count=count, size=size)
    summary = summarize(score_dir(tmp_path))
    assert summary["overall"] >= 0.99, summary
