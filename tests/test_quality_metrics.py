"""PSNR and SSIM used to judge quantised and fast paths against float32."""

import numpy as np
from PIL import Image

from dreamlite.bench.quality import compare_images, psnr, ssim

from .helpers import random_image


def test_identical_images_are_perfect_and_noise_lowers_both():
    a = np.asarray(random_image(64, 48, seed=0))
    assert psnr(a, a) == float("inf") and abs(ssim(a, a) - 1) < 1e-9
    rng = np.random.default_rng(0)
    small = np.clip(a + rng.normal(0, 2, a.shape), 0, 255).astype(np.uint8)
    large = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    assert 40 < psnr(a, small) < 50 and psnr(a, large) < 25  # 20 log10(255 / sigma) for Gaussian noise
    assert ssim(a, large) < ssim(a, small) < 1
    assert compare_images(Image.fromarray(a), Image.fromarray(small))["ssim"] == ssim(a, small)
