"""The bundled ShapesWorld model ships in the package, loads by its short name, generates and edits."""

import numpy as np

from dreamlite import DreamLite
from dreamlite.assets import BUNDLED_MODELS, bundled_model_path


def test_bundled_model_is_in_the_package_and_small():
    path = bundled_model_path("shapes-base")
    assert path is not None, "dreamlite/assets/shapes-base is missing"
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    assert size <= 40 * 1024**2
    assert not list(path.rglob("*.pt")) and not list(path.rglob("*.bin"))  # safetensors only
    assert (path / "README.md").is_file()  # the model card


def test_bundled_model_generates_and_edits():
    pipe = DreamLite.from_pretrained("shapes-base")
    assert pipe.variant == "base" and pipe.default_size == 64
    image = pipe.generate("a red circle on a white background", steps=6, seed=0)[0]
    assert image.size == (64, 64)
    pixels = np.asarray(image).astype(int)
    assert pixels.std() > 5  # a picture, not a flat field
    edited = pipe.edit(image, "change the background to black", steps=6, seed=0)[0]
    assert edited.size == (64, 64)
    assert np.abs(np.asarray(edited).astype(int) - pixels).mean() > 1  # the edit changed something
    assert BUNDLED_MODELS["shapes-base"] == bundled_model_path("shapes-base")
