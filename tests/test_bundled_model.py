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
    assert pipe.variant == "base" and pipe.default_size == 96
    image = pipe.generate("a red circle on a white background", steps=6, seed=0)[0]
    assert image.size == (96, 96)
    pixels = np.asarray(image).astype(int)
    assert pixels.std() > 5  # a picture, not a flat field
    edited = pipe.edit(image, "change the background to black", steps=6, seed=0)[0]
    assert edited.size == (96, 96)
    assert np.abs(np.asarray(edited).astype(int) - pixels).mean() > 1  # the edit changed something
    assert BUNDLED_MODELS["shapes-base"] == bundled_model_path("shapes-base")


def test_bundled_mobile_model_is_the_distilled_student_and_shares_the_rest():
    import json

    import yaml

    from dreamlite.train.loop import strip_resumable
    from dreamlite.train.recipe import load_recipe

    path, base = bundled_model_path("shapes-mobile"), bundled_model_path("shapes-base")
    assert path is not None and (path / "README.md").is_file()
    assert json.loads((path / "model_index.json").read_text())["_class_name"] == "DreamLiteMobilePipeline"
    for part in ("vae", "text_encoder", "tokenizer", "processor", "scheduler"):  # links, not copies
        assert (path / part).is_symlink() and (path / part).resolve() == (base / part).resolve()
    own = sum(f.stat().st_size for entry in path.iterdir() if not entry.is_symlink()
              for f in ([entry] if entry.is_file() else entry.rglob("*")) if f.is_file())
    assert own <= 31 * 1024**2  # the U-Net and a few small files
    shipped = yaml.safe_load((path / "train_recipe.yaml").read_text())
    assert strip_resumable(shipped) == strip_resumable(load_recipe("shapes-mobile").to_dict())
    assert json.loads((path / "train_state.json").read_text())["steps"] == shipped["stages"][0]["steps"]
    pipe = DreamLite.from_pretrained("shapes-mobile")
    assert pipe.variant == "mobile" and pipe.default_size == 96
    image = pipe.generate("a red circle on a white background", seed=0)[0]  # 4 steps, no guidance
    assert image.size == (96, 96) and np.asarray(image).astype(int).std() > 5


def test_bundled_weights_come_from_the_build_script_and_model_card_commands():
    """The bundle's own training recipe is what scripts/build_shapes_base.sh's last train command resolves to, its
    last stage is the one the script stops after (`--until`, else the recipe's last), and the model card lists
    every command of the script (run settings such as threads aside: they do not change what is trained)."""
    import json
    import re
    import shlex
    from pathlib import Path

    import yaml

    from dreamlite.train.loop import strip_resumable
    from dreamlite.train.recipe import load_recipe

    repo = Path(__file__).resolve().parents[1]
    script = (repo / "scripts" / "build_shapes_base.sh").read_text()
    commands = [" ".join(c.replace("\\\n", " ").split())
                for c in re.findall(r"^dreamlite .*?(?<!\\)$", script, re.M | re.S)]
    words = [w for w in shlex.split(commands_of(commands, "dreamlite train shapes-base-96-cpu")[0])
             if not w.startswith("${ENGINE")]
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    expected = strip_resumable(load_recipe(words[2], overrides).to_dict())
    bundle = bundled_model_path("shapes-base")
    shipped = yaml.safe_load((bundle / "train_recipe.yaml").read_text())
    # While the 96-px stages trained, `shapes-base` was the 64-px bundle, which the script builds first and
    # passes by its path.
    assert shipped["model"]["init"] == "shapes-base" and expected["model"]["init"] == "runs/shapes-base/final"
    assert commands_of(commands, "dreamlite train shapes-base --out runs/shapes-base ")
    shipped["model"]["init"] = expected["model"]["init"]
    assert strip_resumable(shipped) == expected
    state = json.loads((bundle / "train_state.json").read_text())
    last = words[words.index("--until") + 1] if "--until" in words else expected["stages"][-1]["name"]
    assert state["stage"] == last
    card = " ".join((bundle / "README.md").read_text().replace("\\\n", " ").split())
    for command in commands:
        assert command.replace(' "${ENGINE[@]}"', "") in card, command
    # The VAE's decoder was retrained at 96 px by the script's decoder-only train-vae command, as its config records
    # (the start, --init, was the bundled VAE: the same file as the path the script names).
    words = shlex.split(commands_of(commands, "dreamlite train-vae --out runs/shapes-vae-96")[0])
    flags = {w[2:].replace("-", "_"): words[i + 1] for i, w in enumerate(words[2:], 2)
             if w.startswith("--") and i + 1 < len(words) and not words[i + 1].startswith("--")}
    vae = json.loads((bundle / "vae" / "train_config.json").read_text())
    assert "--decoder-only" in words and vae["decoder_only"] is True and vae["step"] == vae["steps"]
    for key in ("size", "batch", "steps", "lr", "save_every"):
        assert float(vae[key]) == float(flags[key]), key


def commands_of(commands: list[str], prefix: str) -> list[str]:
    found = [c for c in commands if c.startswith(prefix)]
    assert found, f"no {prefix!r} in scripts/build_shapes_base.sh"
    return found
