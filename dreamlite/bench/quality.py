"""Image quality of a faster model against float32 PyTorch on the same seeds: PSNR and SSIM of final images.

SSIM is Wang et al. 2004 ("Image quality assessment: from error visibility to structural similarity"): an 11x11
Gaussian window (sigma 1.5), C1 = (0.01 L)^2, C2 = (0.03 L)^2, on each RGB channel, averaged.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    x = torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[:, None]
    y = torch.from_numpy(b.astype(np.float64)).permute(2, 0, 1)[:, None]
    coords = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    blur = lambda t: F.conv2d(t, window)  # noqa: E731 ("valid" windows, as the reference implementation)
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def compare_images(reference, candidate) -> dict:
    a, b = np.asarray(reference.convert("RGB")), np.asarray(candidate.convert("RGB"))
    return {"psnr": psnr(a, b), "ssim": ssim(a, b)}
