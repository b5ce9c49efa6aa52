"""The pixel-only detector: every shape, colour and fill read back; shapes outside the vocabulary rejected."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dreamlite.shapes import find_objects, render_scene
from dreamlite.shapes.palette import BACKGROUND_COLORS, OBJECT_NAMES, SHAPES
from dreamlite.shapes.scene import Scene, ShapeObject


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("style", ["fill", "outline"])
def test_every_shape_and_colour_is_read_back(size, style):
    shapes = SHAPES if style == "fill" else ("circle", "square", "triangle", "diamond")
    for k, color in enumerate(OBJECT_NAMES):
        for background in BACKGROUND_COLORS:
            shape = shapes[k % len(shapes)]
            obj = ShapeObject(shape, color, 0.45, 0.55, 0.27, style)
            found_bg, found = find_objects(render_scene(Scene(background, (obj,)), size))
            assert found_bg == background
            assert [(d.shape, d.color, d.hollow) for d in found] == [(shape, color, style == "outline")]
            (d,) = found
            assert abs(d.cx - 0.45) < 0.02 and abs(d.cy - 0.55) < 0.02 and abs(d.size / 0.27 - 1) < 0.1


def _drawn(draw_on) -> np.ndarray:
    image = Image.new("RGB", (64, 64), BACKGROUND_COLORS["white"])
    draw_on(ImageDraw.Draw(image))
    return np.asarray(image)


@pytest.mark.parametrize("name,draw_on", [
    ("ellipse", lambda d: d.ellipse([16, 24, 48, 40], fill=(255, 0, 0))),
    ("bar", lambda d: d.rectangle([16, 26, 48, 38], fill=(255, 0, 0))),
    ("L", lambda d: (d.rectangle([20, 20, 26, 44], fill=(255, 0, 0)), d.rectangle([20, 38, 44, 44], fill=(255, 0, 0)))),
    ("two merged discs", lambda d: (d.ellipse([18, 20, 34, 36], fill=(255, 0, 0)), d.ellipse([28, 26, 46, 44], fill=(255, 0, 0)))),
])
def test_shapes_outside_the_vocabulary_are_not_named(name, draw_on):
    _, found = find_objects(_drawn(draw_on))
    assert len(found) == 1 and found[0].shape is None and found[0].color == "red", name


def test_touching_objects_of_different_colours_are_split():
    def touching(d):
        d.rectangle([14, 20, 31, 37], fill=(255, 0, 0))
        d.rectangle([32, 20, 49, 37], fill=(0, 50, 255))
    _, found = find_objects(_drawn(touching))
    assert sorted((d.shape, d.color) for d in found) == [("square", "blue"), ("square", "red")]


def test_off_palette_colour_and_tiny_specks_are_ignored_or_unnamed():
    image = _drawn(lambda d: (d.rectangle([20, 20, 40, 40], fill=(128, 128, 128)), d.point([(5, 5), (6, 5)], fill=(255, 0, 0))))
    _, found = find_objects(image)
    assert all(d.color is None for d in found)  # grey is no object colour; the two red pixels are noise
    assert find_objects(np.full((64, 64, 3), 15, np.uint8)) == ("black", [])


def test_bad_array_is_rejected():
    with pytest.raises(ValueError, match="H x W x 3"):
        find_objects(np.zeros((64, 64), np.uint8))
