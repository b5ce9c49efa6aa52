"""Bad inputs get one clear error; odd image formats are converted like diffusers' load_image."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from dreamlite import DreamLite
from dreamlite.images import ImageInputError, load_image
from dreamlite.loading import CheckpointError, load_state_dict, save_unet
from dreamlite.pipeline import InputError

from .helpers import random_image


@pytest.fixture(scope="module")
def folder(tiny_model_dir):
    return tiny_model_dir


@pytest.fixture(scope="module")
def pipe(folder):
    return DreamLite.from_pretrained(folder)


def copy_of(folder, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


# ---------------------------------------------------------------- images
def test_unreadable_and_non_image_files(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ImageInputError, match="not a readable image"):
        load_image(text)
    with pytest.raises(ImageInputError, match="image not found"):
        load_image(tmp_path / "missing.png")
    truncated = tmp_path / "cut.png"
    random_image(32, 32).save(tmp_path / "whole.png")
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:60])
    with pytest.raises(ImageInputError):
        load_image(truncated)


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "LA", "CMYK"])
def test_modes_convert_to_rgb_like_pil(mode, tmp_path):
    image = random_image(24, 16, mode=mode)
    path = tmp_path / ("x.tiff" if mode == "CMYK" else "x.png")
    image.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (24, 16)
    assert np.array_equal(np.asarray(out), np.asarray(Image.open(path).convert("RGB")))


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    values = (np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    out = np.asarray(load_image(tmp_path / "g16.png"))[..., 0]
    assert np.abs(out.astype(int) - values.astype(int) // 257).max() <= 1
    assert 0 < out.mean() < 255


def test_exif_rotation_is_applied(tmp_path):
    image = random_image(40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    image.save(tmp_path / "rot.jpg", exif=exif.tobytes())
    assert load_image(tmp_path / "rot.jpg").size == (20, 40)


# ---------------------------------------------------------------- sizes and arguments
def test_sizes_the_latent_grid_cannot_take_are_refused(pipe):
    assert pipe.size_multiple == 16
    with pytest.raises(InputError, match=r"height 40 is not a positive multiple of 16 .*; try 32"):
        pipe.generate("a red circle", height=40, width=64, steps=1, seed=0)
    with pytest.raises(InputError, match="width"):
        pipe.generate("a red circle", height=64, width=0, steps=1, seed=0)
    with pytest.raises(InputError, match="steps"):
        pipe.generate("a red circle", height=64, width=64, steps=0)
    with pytest.raises(InputError, match="num_images"):
        pipe.generate("a red circle", height=64, width=64, num_images=0)


def test_edit_size_defaults_round_down_from_the_source(pipe):
    out = pipe.edit(random_image(70, 37), "make it blue", steps=1, seed=0)
    assert out[0].size == (64, 32)


def test_overlong_prompt_is_cut_with_a_warning(pipe):
    with pytest.warns(UserWarning, match="cut to the official limit of 200"):
        embeds, mask = pipe.prompt_encoder.encode(["circle " * 300], "generate")
    assert mask.sum() == 200


# ---------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("part", ["unet", "vae", "text_encoder", "tokenizer", "scheduler"])
def test_missing_parts_are_named(folder, tmp_path, part):
    broken = copy_of(folder, tmp_path)
    shutil.rmtree(broken / part)
    with pytest.raises(CheckpointError, match=part):
        DreamLite.from_pretrained(broken)


def test_missing_model_index(folder, tmp_path):
    broken = copy_of(folder, tmp_path)
    (broken / "model_index.json").unlink()
    with pytest.raises(CheckpointError, match="model_index.json"):
        DreamLite.from_pretrained(broken)


def test_pickled_weights_are_refused_without_unpickling(folder, tmp_path):
    broken = copy_of(folder, tmp_path)
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    weights.unlink()
    # A file that would run code if unpickled: loading must refuse it by name, never open it with pickle.
    (broken / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04cos\nsystem\n.")
    with pytest.raises(CheckpointError, match="only pickled weights"):
        DreamLite.from_pretrained(broken)


def test_shape_mismatch_names_the_tensor(folder, tmp_path):
    broken = copy_of(folder, tmp_path)
    path = broken / "unet" / "diffusion_pytorch_model.safetensors"
    state = load_file(path)
    state["conv_in.weight"] = torch.zeros(3, 3, 3, 3)
    save_file(state, path)
    with pytest.raises(CheckpointError, match=r"conv_in\.weight has shape \(3, 3, 3, 3\)"):
        DreamLite.from_pretrained(broken)


def test_unsupported_config_value_names_the_field(folder, tmp_path):
    broken = copy_of(folder, tmp_path)
    config_path = broken / "unet" / "config.json"
    config = json.loads(config_path.read_text())
    config["qk_norm"] = "layer_norm_across_heads"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="qk_norm"):
        DreamLite.from_pretrained(broken)


def test_sharded_unet_weights_load(pipe, tmp_path):
    save_unet(pipe.unet, tmp_path, max_shard_bytes=200_000)
    shards = sorted(tmp_path.glob("diffusion_pytorch_model-*.safetensors"))
    assert len(shards) > 1 and (tmp_path / "diffusion_pytorch_model.safetensors.index.json").is_file()
    state = load_state_dict(tmp_path)
    for name, tensor in pipe.unet.state_dict().items():
        assert torch.equal(state[name], tensor)


def test_not_a_model(tmp_path):
    with pytest.raises(CheckpointError, match="no such model folder"):
        DreamLite.from_pretrained(tmp_path / "nothing-here")
