"""The fast PyTorch path gives float32's numbers within its stated tolerances (dreamlite/fast.py)."""

import numpy as np
import pytest
import torch

from dreamlite import DreamLite
from dreamlite.fast import FAST_TOLERANCE

from .helpers import perturb

SIZE = 64


@pytest.fixture
def folder(perturbed_model_dir):
    return perturbed_model_dir  # conftest's tiny pipeline with non-trivial weights


def unet_inputs(dtype):
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(3, 7)
    mask[1:, 5:] = 0
    return (torch.randn(3, 4, 8, 16, generator=g).to(dtype), torch.tensor([900.0, 500.0, 20.0]),
            torch.randn(3, 7, 64, generator=g).to(dtype), mask, torch.tensor([[64.0, 64.0]] * 3).to(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_unet_matches_float32(folder, dtype):
    ref = DreamLite.from_pretrained(folder, device="cpu")
    fast = DreamLite.from_pretrained(folder, device="cpu", dtype=dtype, fast=True)
    assert fast.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(m.fused for m in fast.unet.modules() if hasattr(m, "fuse_projections"))
    with torch.inference_mode():
        a = ref.unet(*unet_inputs(torch.float32))
        b = fast.unet(*unet_inputs(dtype)).float()
    err = ((a - b).abs().max() / a.abs().max()).item()
    assert err <= FAST_TOLERANCE[dtype], err
    for name, tensor in ref.unet.state_dict().items():  # same keys and values, so save_pretrained still works
        assert torch.allclose(tensor.to(dtype), fast.unet.state_dict()[name]), name


def test_fast_images_close_to_float32(folder):
    ref = DreamLite.from_pretrained(folder, device="cpu")
    fast = DreamLite.from_pretrained(folder, device="cpu", dtype="bfloat16", fast=True)
    a = np.asarray(ref.generate("a red circle", steps=3, seed=1, height=SIZE, width=SIZE)[0]).astype(np.int16)
    b = np.asarray(fast.generate("a red circle", steps=3, seed=1, height=SIZE, width=SIZE)[0]).astype(np.int16)
    assert np.abs(a - b).mean() < 6, np.abs(a - b).mean()


def test_fusion_tells_cross_from_self_attention_when_widths_match():
    import dataclasses

    from dreamlite.models import DreamLiteUNet, get_unet_config

    config = dataclasses.replace(get_unet_config("tiny"), cross_attention_dim=24)  # = level-0 channels
    unet = DreamLiteUNet(config).eval()
    perturb(unet)
    x = unet_inputs(torch.float32)
    x = (x[0], x[1], torch.randn(3, 7, 48), x[3], x[4])
    with torch.inference_mode():
        a = unet(*x)
        for module in unet.modules():
            if hasattr(module, "fuse_projections"):
                module.fuse_projections()
        b = unet(*x)
    assert ((a - b).abs().max() / a.abs().max()).item() <= FAST_TOLERANCE[torch.float32]
