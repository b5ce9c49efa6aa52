"""`dreamlite train-vae`: a small AutoencoderTiny for ShapesWorld (4 latent channels, 8x, scaling factor 1).

DreamLite feeds the VAE's latents to the U-Net as they are, so besides reconstructing (L1 + MSE, object pixels
weighted up) the encoder is asked to keep each latent channel near zero mean and unit variance, which is the
scale flow matching assumes (its noise is N(0, 1)). The decoder learns from slightly noised latents, since at
sampling time it decodes the U-Net's imperfect ones. The result is a diffusers AutoencoderTiny folder for a
recipe's `model.vae.path`.

`init` starts from an existing AutoencoderTiny folder instead of a fresh one; with `decoder_only` its encoder is
frozen, so the latent space, and every U-Net trained in it, stays as it is while the decoder learns to draw at
another image size (a VAE trained at 64 px, decoding a U-Net that now works at 96 px).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .checkpoint import commit
from .data.base import stable_seed


@dataclass
class VAETrainConfig:
    steps: int = 4000
    batch: int = 16
    lr: float = 2e-3
    size: int = 64  # ShapesWorld image side
    channels: int = 32  # width of every encoder and decoder block
    blocks: int = 2  # resnet blocks per level
    seed: int = 0
    save_every: int = 500
    latent_weight: float = 0.1  # weight of the zero-mean, unit-variance latent penalty
    latent_noise: float = 0.05  # std of the noise added to latents before decoding
    foreground_weight: float = 10.0  # loss weight of object pixels relative to background pixels
    threads: int | None = None
    device: str = "auto"  # auto: cuda when available, else cpu
    workers: int = 0  # DataLoader processes rendering batches (a GPU outpaces one CPU renderer)
    init: str | None = None  # AutoencoderTiny folder to start from (its channels and blocks win)
    decoder_only: bool = False  # freeze the encoder: the latents, and any U-Net trained on them, stay valid


def shapes_images(seed: int, size: int):
    """Item k -> a ShapesWorld image (T2I targets and edit sources/targets alike)."""
    from ..shapes.dataset import ShapesStream

    stream = ShapesStream(seed=stable_seed(seed, "vae"), size=size, format="tensor")

    def image(k: int) -> torch.Tensor:
        item = stream.item(k // 2)
        return item["source"] if k % 2 and item["source"] is not None else item["target"]

    return image


class StepBatches(torch.utils.data.Dataset):
    """Step -> that step's batch of images: a pure function of (seed, step), whichever process renders it."""

    def __init__(self, config: VAETrainConfig):
        self.batch, self.image = config.batch, shapes_images(config.seed, config.size)

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int) -> torch.Tensor:
        return torch.stack([self.image(step * self.batch + i) for i in range(self.batch)])


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def foreground_weights(pixels: torch.Tensor, weight: float) -> torch.Tensor:
    """1 on the background (the colour of the top-left pixel: ShapesWorld backgrounds are flat), `weight` on the
    objects, which cover a few percent of the image and would otherwise be learned last."""
    background = pixels[:, :, :1, :1]
    foreground = (pixels - background).abs().amax(dim=1, keepdim=True) > 0.1
    return 1.0 + (weight - 1.0) * foreground.float()


def vae_loss(vae, pixels: torch.Tensor, config: VAETrainConfig, generator: torch.Generator):
    with torch.set_grad_enabled(torch.is_grad_enabled() and not config.decoder_only):
        latents = vae.encode(pixels).latents
    noise = torch.randn(latents.shape, generator=generator).to(latents.device)
    noisy = latents + config.latent_noise * noise
    recon = vae.decode(noisy).sample
    error = recon - pixels
    weights = foreground_weights(pixels, config.foreground_weight)
    rec = ((error.abs() + error.pow(2)) * weights).sum() / (weights.sum() * pixels.shape[1])
    mean, var = latents.mean(dim=(0, 2, 3)), latents.var(dim=(0, 2, 3))
    stats = (mean.pow(2) + (var - 1).pow(2)).mean()
    return rec + config.latent_weight * stats, rec.detach(), latents.detach()


def train_vae(config: VAETrainConfig, out: str | Path, log=print) -> Path:
    """Train (or resume) and write `out` as an AutoencoderTiny folder; `out/train_state.pt` allows resuming."""
    out = Path(out)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    vae = start_vae(config).train().to(device)
    trained = [p for p in vae.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=0.0)
    state_file, start = out / "train_state.pt", 0
    if state_file.is_file():
        state = torch.load(state_file, weights_only=True, map_location=device)
        vae.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        log(f"resuming VAE training at step {start}/{config.steps} from {out}")
    log(f"# dreamlite train-vae\n{json.dumps(asdict(config), indent=2)}\n"
        f"AutoencoderTiny: {sum(p.numel() for p in vae.parameters()):,} parameters "
        f"({sum(p.numel() for p in trained):,} trained), on {device}")
    batches = iter(torch.utils.data.DataLoader(
        StepBatches(config), sampler=range(start, config.steps), batch_size=None, num_workers=config.workers,
        pin_memory=device.type == "cuda", prefetch_factor=4 if config.workers else None))
    bar = tqdm(total=config.steps, initial=start, desc="vae", unit="step", mininterval=1.0)
    tick = time.perf_counter()
    for step in range(start, config.steps):
        lr = float(config.lr * 0.5 * (1 + np.cos(np.pi * step / config.steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        pixels = next(batches).to(device, non_blocking=True)
        generator = torch.Generator().manual_seed(stable_seed(config.seed, "vae-noise", step))
        loss, rec, latents = vae_loss(vae, pixels, config, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        bar.update(1)
        if (step + 1) % 20 == 0:
            rate = 20 * config.batch / (time.perf_counter() - tick)
            bar.set_postfix(rec=f"{rec.item():.4f}", std=f"{latents.std().item():.2f}", lr=f"{lr:.1e}",
                            samples_s=f"{rate:.0f}", refresh=False)
            tick = time.perf_counter()
        if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
            save_vae(vae, optimizer, step + 1, config, out)
    bar.close()
    log(f"VAE written to {out}")
    return out


def start_vae(config: VAETrainConfig):
    """A fresh AutoencoderTiny from the config's seed, or `config.init`'s weights; the encoder frozen if asked."""
    from diffusers import AutoencoderTiny

    from ..build import tiny_vae
    from .config import RecipeError

    if config.init:
        if not (Path(config.init) / "config.json").is_file():
            raise FileNotFoundError(f"{config.init}: not an AutoencoderTiny folder (no config.json)")
        vae = AutoencoderTiny.from_pretrained(config.init)
    elif config.decoder_only:
        raise RecipeError("train-vae: decoder-only training needs --init VAE (a fresh encoder left frozen would "
                          "never learn)")
    else:
        torch.manual_seed(stable_seed(config.seed, "vae-init") % 2**63)
        vae = tiny_vae(channels=config.channels, blocks=config.blocks)
    if config.decoder_only:
        vae.encoder.requires_grad_(False)
    return vae


def save_vae(vae, optimizer, step: int, config: VAETrainConfig, out: Path) -> None:
    """diffusers folder plus resumable state, swapped in atomically."""
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    vae.save_pretrained(tmp, safe_serialization=True)
    torch.save({"model": vae.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, tmp / "train_state.pt")
    (tmp / "train_config.json").write_text(json.dumps({**asdict(config), "step": step}, indent=2) + "\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    commit(tmp, out)
