"""Source-keeping edits (DreamLite.edit(keep_source=...)): the region estimate and the projection."""

import pytest
import torch

from dreamlite import DreamLite
from dreamlite.build import tiny_components
from dreamlite.images import to_tensor
from dreamlite.pipeline import InputError
from dreamlite.sampling import Conditioning, denoise, edit_region, keep_outside

from .helpers import random_image


def conditioning(latents: torch.Tensor) -> Conditioning:
    n = latents.shape[0]
    return Conditioning(text=torch.zeros(n, 2, 3), text_mask=torch.ones(n, 2, dtype=torch.long), latents=latents,
                        time_ids=torch.zeros(n, 2), branches=3)


def test_region_is_where_the_instruction_moves_the_prediction():
    source = torch.randn(2, 4, 6, 8)
    changed = torch.zeros(2, 1, 6, 8)
    changed[0, :, 1:3, 2:4] = 1
    changed[1, :, 4:, 5:] = 1

    def unet(x, timestep, text, text_mask, time_ids):  # the text branch (last) adds 5 inside `changed`
        out = x.clone()
        out[4:, :, :, :8] += 5 * changed + 0.01 * torch.randn_like(changed)
        return out

    region = edit_region(unet, conditioning(torch.cat([torch.zeros_like(source), source, source])), source,
                         [torch.randn_like(source) for _ in range(3)])
    assert torch.equal(region, changed.expand_as(region[:, :1]))
    with pytest.raises(ValueError, match="3-branch"):
        edit_region(unet, Conditioning(torch.zeros(2, 2, 3), torch.ones(2, 2), source, torch.zeros(2, 2), 1), source,
                    [source])


def test_keep_outside_ends_on_the_source_outside_the_region():
    source, noise = torch.randn(1, 4, 6, 8), torch.randn(1, 4, 6, 8)
    mask = torch.zeros(1, 1, 6, 8)
    mask[..., 2:4, 3:6] = 1
    sigmas = torch.tensor([1.0, 0.6, 0.2, 0.0])

    def velocity(x, sigma):  # flows towards a target of all 3s
        return (x - 3.0 * (1 - sigma)) / sigma.clamp_min(1e-3) - 3.0

    out = denoise(velocity, noise, sigmas, project=keep_outside(mask, source, noise))
    free = denoise(velocity, noise, sigmas)
    outside = mask.expand_as(out) == 0
    assert torch.allclose(out[outside], source[outside], atol=1e-6)
    assert torch.allclose(out[~outside], free[~outside], atol=1e-6)  # this velocity acts cell by cell
    assert not torch.allclose(out[~outside], source[~outside])


@pytest.fixture(scope="module")
def pipe(tiny_model_dir):
    return DreamLite.from_pretrained(tiny_model_dir)


def test_pipeline_edit_keeps_the_source_latents_outside_the_region(pipe):
    image = random_image(64, 64)
    finals = []
    out = pipe.edit(image, "make the circle blue", steps=3, seed=5, keep_source=1.0,
                    callback=lambda i, x: finals.append(x.clone()))
    assert out[0].size == (64, 64)
    src = pipe.vae.encode(to_tensor(image, 64, 64).to(pipe.dtype)).latents
    same = (finals[-1] == src).all(dim=1)  # latent cells equal to the source in every channel
    cells = same.numel()
    assert cells - 4 <= same.sum() < cells  # threshold 1: only the cell(s) where the instruction acts most move
    plain = pipe.edit(image, "make the circle blue", steps=3, seed=5)
    again = pipe.edit(image, "make the circle blue", steps=3, seed=5, keep_source=1.0)
    assert again[0].tobytes() == out[0].tobytes()  # same seed, same image
    assert plain[0].tobytes() != out[0].tobytes()


@pytest.mark.parametrize("value", [0.0, 1.5, -1.0])
def test_keep_source_takes_a_threshold_in_0_1(pipe, value):
    with pytest.raises(InputError, match=r"threshold in \(0, 1\]"):
        pipe.edit(random_image(64, 64), "make it blue", steps=1, seed=0, keep_source=value)


def test_keep_source_needs_a_guided_checkpoint():
    mobile = DreamLite(tiny_components(variant="mobile"))
    with pytest.raises(InputError, match="needs a guided"):
        mobile.edit(random_image(64, 64), "make it blue", seed=0, keep_source=0.5)
