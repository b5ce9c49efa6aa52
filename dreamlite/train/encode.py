"""The frozen half of DreamLite at training time: VAE latents and prompt embeddings, computed as the pipeline
computes them at inference (same templates, same raw latents), so that what the U-Net learns is what it sees."""

from __future__ import annotations

import functools

from collections import OrderedDict

import torch

from ..text.templates import wrap_edit, wrap_generate


class Conditioner:
    def __init__(self, vae, prompt_encoder, device: torch.device, dtype: torch.dtype, cache_size: int = 4096):
        """`vae` may be None where only prompts are encoded (the cache's worker processes)."""
        self.vae = vae.to(device).eval().requires_grad_(False) if vae is not None else None
        if vae is not None and dtype != torch.float32:  # diffusers warns on any dtype cast, even a no-op one
            self.vae.to(dtype)
        self.encoder = prompt_encoder.to(device)
        self.encoder.model.to(dtype).requires_grad_(False)
        self.device, self.dtype = device, dtype
        self.cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.cache_size = cache_size

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae.config.encoder_block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return self.vae.config.latent_channels

    @torch.no_grad()
    def latents(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> raw latents (DreamLite's VAE has scaling factor 1 and no shift)."""
        return self.vae.encode(pixels.to(self.device, self.dtype)).latents.float()

    @torch.no_grad()
    def generate(self, prompt: str | None) -> torch.Tensor:
        """(L, D) embedding of a T2I prompt; None is the empty prompt (the pipeline's negative).

        Each string is encoded on its own, so its embedding never depends on what it was batched with: a resumed
        run gets bit-identical embeddings whatever the cache held. Frozen encoder, so an LRU cache is exact.
        """
        text = "" if prompt is None else wrap_generate(prompt)
        hit = self.cache.get(text)
        if hit is not None:
            self.cache.move_to_end(text)
            return hit  # on the host: `pad_embeddings` moves a batch's rows to the device in one copy
        embeds, mask = self.encoder.encode([text], "generate")
        value = embeds[0, : int(mask[0].sum())].float()
        if self.cache_size > 0:
            self.cache[text] = value.cpu()  # host memory: thousands of 2048-d prompts would crowd a GPU
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return value

    @torch.no_grad()
    def edit(self, instruction: str | None, image) -> torch.Tensor:
        """(L, D) embedding of an edit instruction with its source image (None: the empty instruction)."""
        text = "" if instruction is None else wrap_edit(instruction)
        embeds, mask = self.encoder.encode([text], "edit", image=image)
        return embeds[0, : int(mask[0].sum())].float()


_host_buffers: dict[torch.dtype, torch.Tensor] = {}


def _host_buffer(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A reused host tensor of `shape` (contents undefined): a fresh ~100 MB padded batch every step would spend
    more time in page faults than in copying."""
    size = shape[0] * shape[1] * shape[2]
    buffer = _host_buffers.get(dtype)
    if buffer is None or buffer.numel() < size:
        buffer = _host_buffers[dtype] = torch.empty(size, dtype=dtype)
    return buffer[:size].view(shape)


def pad_embeddings(rows: list[torch.Tensor], device: torch.device | str | None = None, multiple: int = 1
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_i, D) rows -> zero-padded (B, L, D) and a 0/1 mask on `device` (default: the first row's), as the prompt
    encoder returns them; L is the longest row rounded up to a multiple of `multiple`. Host rows are padded on the
    host and moved in one copy. Rows of mixed precision are padded at the lowest one (cached rows already carry
    its rounding), so a cached batch moves half the bytes."""
    device = torch.device(device) if device is not None else rows[0].device
    dtypes = {r.dtype for r in rows}
    dtype = dtypes.pop() if len(dtypes) == 1 else min(dtypes, key=lambda d: torch.finfo(d).bits)
    lengths = torch.tensor([r.shape[0] for r in rows])
    length = -(-int(lengths.max()) // multiple) * multiple
    mask = (torch.arange(length)[None] < lengths[:, None]).long()
    embeds = _host_buffer((len(rows), length, rows[0].shape[1]), dtype).zero_()
    late = []
    for i, r in enumerate(rows):
        if r.device.type == "cpu":
            embeds[i, : r.shape[0]] = r
        else:
            late.append(i)
    embeds = embeds.to(device, copy=True)  # never the reused buffer itself
    for i in late:
        embeds[i, : rows[i].shape[0]] = rows[i]
    return embeds, mask.to(device)


def stack_rows(rows: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """Stack same-shaped rows that live on the host or on `device`, with one host-to-device copy."""
    host = [i for i, r in enumerate(rows) if r.device.type == "cpu"]
    if len(host) == len(rows):
        return torch.stack(rows).to(device)
    placed = [i for i, r in enumerate(rows) if r.device.type != "cpu"]
    dtype = functools.reduce(torch.promote_types, (r.dtype for r in rows))  # cached rows may be bfloat16
    out = torch.empty((len(rows), *rows[0].shape), dtype=dtype, device=device)
    if host:
        out[host] = torch.stack([rows[i] for i in host]).to(device, dtype)
    out[placed] = torch.stack([rows[i] for i in placed]).to(dtype)
    return out
