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


def test_bundled_weights_come_from_the_build_script_and_model_card_commands():
    """The bundle's own training recipe is what scripts/build_shapes_base.sh's train command resolves to, and the
    model card lists the same commands (run settings such as threads aside: they do not change what is trained)."""
    import re
    import shlex
    from pathlib import Path

    import yaml

    from dreamlite.train.loop import strip_resumable
    from dreamlite.train.recipe import load_recipe

    repo = Path(__file__).resolve().parents[1]
    script = (repo / "scripts" / "build_shapes_base.sh").read_text()
    train = re.search(r"^dreamlite train (shapes-base .*?)(?<!\\)$", script, re.M | re.S).group(1)
    words = [w for w in shlex.split(train.replace("\\\n", " ")) if not w.startswith("${ENGINE")]
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    expected = strip_resumable(load_recipe(words[0], overrides).to_dict())
    shipped = yaml.safe_load((bundled_model_path("shapes-base") / "train_recipe.yaml").read_text())
    assert strip_resumable(shipped) == expected
    card = (bundled_model_path("shapes-base") / "README.md").read_text()
    vae = re.search(r"^dreamlite train-vae .*$", script, re.M).group(0)
    assert vae in card and " ".join(f"--set {o}" for o in overrides) in card.replace("\\\n  ", "")
