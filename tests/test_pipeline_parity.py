"""Pipeline parity with diffusers' DreamLitePipeline / DreamLiteMobilePipeline on a tiny random pipeline."""

import numpy as np
import pytest
import torch

from dreamlite import DreamLite
from dreamlite.build import tiny_components
from dreamlite.loading import save_components

from .helpers import perturb, random_image, real_qwen3vl_processor

SIZE = 64


def pixels(image):
    return np.asarray(image).astype(np.int16)


@pytest.fixture(scope="module", params=["base", "mobile"])
def saved(request, tmp_path_factory):
    components = tiny_components(variant=request.param, corpus=["a red circle", "make the circle blue"])
    perturb(components.unet, seed=1)
    folder = tmp_path_factory.mktemp(f"tiny-{request.param}")
    save_components(components, folder)
    return request.param, folder


def load_diffusers(variant, folder, ours):
    from diffusers import DreamLiteMobilePipeline, DreamLitePipeline

    encoder = ours.prompt_encoder
    processor = real_qwen3vl_processor(encoder.processor.image_processor, encoder.tokenizer)
    cls = DreamLitePipeline if variant == "base" else DreamLiteMobilePipeline
    pipe = cls.from_pretrained(folder, processor=processor)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_generate_matches_diffusers(saved):
    variant, folder = saved
    ours = DreamLite.from_pretrained(folder)
    theirs = load_diffusers(variant, folder, ours)
    kwargs = {} if variant == "mobile" else {"guidance_scale": 3.5}
    ref = theirs(prompt="a red circle", height=SIZE, width=SIZE, num_inference_steps=3,
                 generator=torch.Generator("cpu").manual_seed(7), **kwargs).images[0]
    out = ours.generate("a red circle", height=SIZE, width=SIZE, steps=3, seed=7)[0]
    assert out.size == ref.size == (SIZE, SIZE)
    diff = np.abs(pixels(out) - pixels(ref)).max()
    assert diff <= 2, f"max pixel difference {diff}/255"
    assert pixels(out).std() > 1  # not a constant image: the comparison means something


def test_edit_matches_diffusers(saved):
    variant, folder = saved
    ours = DreamLite.from_pretrained(folder)
    theirs = load_diffusers(variant, folder, ours)
    source = random_image(SIZE, SIZE * 2, seed=3)
    kwargs = {} if variant == "mobile" else {"guidance_scale": 3.5, "image_guidance_scale": 1.5}
    ref = theirs(prompt="make the circle blue", image=source, num_inference_steps=3,
                 generator=torch.Generator("cpu").manual_seed(11), **kwargs).images[0]
    out = ours.edit(source, "make the circle blue", steps=3, seed=11)[0]
    assert out.size == ref.size == (SIZE, SIZE * 2)
    diff = np.abs(pixels(out) - pixels(ref)).max()
    assert diff <= 2, f"max pixel difference {diff}/255"


def test_round_trip_through_diffusers(saved, tmp_path):
    variant, folder = saved
    ours = DreamLite.from_pretrained(folder)
    theirs = load_diffusers(variant, folder, ours)
    theirs.save_pretrained(tmp_path / "from-diffusers")
    again = DreamLite.from_pretrained(tmp_path / "from-diffusers")
    assert again.variant == variant
    for name, tensor in ours.unet.state_dict().items():
        assert torch.equal(tensor, again.unet.state_dict()[name]), name
    a = ours.generate("a red circle", height=SIZE, width=SIZE, steps=2, seed=3)[0]
    b = again.generate("a red circle", height=SIZE, width=SIZE, steps=2, seed=3)[0]
    assert np.array_equal(pixels(a), pixels(b))
