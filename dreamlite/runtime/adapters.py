"""Exported graphs standing in for the PyTorch U-Net and VAE, so that the pipeline code runs unchanged.

An adapter takes and returns torch tensors like the module it replaces. The exported graphs are static (batch 1,
one size): the U-Net adapter runs a guidance batch one row at a time, pads the prompt to a multiple of the
exported length (exactly that length for fully static formats; padding is masked, so the result is unchanged)
and refuses any other image size in one line.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from ..errors import CheckpointError, InputError


class ExportSizeError(InputError):
    """An input the static export was not built for; the message is one line for the user."""


class _OnCPU:
    device = torch.device("cpu")

    def to(self, device=None, *args, **kwargs):
        if device is not None and not isinstance(device, torch.dtype) and torch.device(device).type != "cpu":
            raise CheckpointError(f"this exported model runs on the CPU ({self.export['format']}); "
                                  f"got device {device}")
        return self

    def eval(self):
        return self

    def requires_grad_(self, _=False):
        return self


class ExportedUNet(_OnCPU):
    """Callable as `unet(sample, timestep, encoder_hidden_states, encoder_attention_mask, time_ids)`."""

    def __init__(self, session, config, export: dict):
        self.session, self.config, self.export = session, config, export
        self.width, self.height, self.seq_len = export["width"], export["height"], export["seq_len"]
        self.dtype = torch.float32

    def describe(self) -> str:
        return f"{self.width}x{self.height}"

    def check_size(self, height: int, width: int) -> None:
        if (width, height) != (self.width, self.height):
            raise ExportSizeError(f"this {self.export['format']} export was built for {self.width}x{self.height} "
                                  f"only (static shapes); got {width}x{height}: pass --size "
                                  f"{self.width}x{self.height} or export again with --size {width}x{height}")

    def __call__(self, sample, timestep, encoder_hidden_states, encoder_attention_mask=None, time_ids=None):
        b, _, h, w = sample.shape
        factor = self.export["vae_factor"]
        self.check_size(h * factor, w * factor // 2)
        text, mask = encoder_hidden_states, encoder_attention_mask
        if mask is None:
            mask = torch.ones(text.shape[:2])
        pad = padded_length(text.shape[1], self.seq_len, self.export.get("dynamic_text", False)) - text.shape[1]
        text = torch.nn.functional.pad(text.float(), (0, 0, 0, pad))
        mask = torch.nn.functional.pad(mask.float(), (0, pad))
        timestep = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1).expand(b)
        if time_ids is None:
            time_ids = torch.tensor([[float(self.width), float(self.height)]]).expand(b, -1)
        arrays = [t.detach().float().cpu().numpy() for t in (sample, timestep, text, mask, time_ids.float())]
        rows = [self.session({"sample": arrays[0][i:i + 1], "timestep": arrays[1][i:i + 1],
                              "encoder_hidden_states": arrays[2][i:i + 1],
                              "encoder_attention_mask": arrays[3][i:i + 1], "time_ids": arrays[4][i:i + 1]})
                for i in range(b)]
        return torch.from_numpy(np.concatenate(rows)).to(sample.dtype)


def padded_length(length: int, seq_len: int, dynamic: bool) -> int:
    """The prompt length a graph runs at: the next multiple of `seq_len` (one compiled shape per multiple), or
    exactly `seq_len` for a fully static graph."""
    if dynamic:
        return max(1, -(-length // seq_len)) * seq_len
    if length > seq_len:
        raise ExportSizeError(f"the prompt is {length} tokens; this export takes at most {seq_len} "
                              "(export again with a larger --seq-len)")
    return seq_len


class ExportedVAE(_OnCPU):
    """`encode(pixels).latents` and `decode(latents).sample`, like diffusers' AutoencoderTiny."""

    def __init__(self, encoder, decoder, config: dict, export: dict):
        self.encoder, self.decoder, self.export = encoder, decoder, export
        self.config = SimpleNamespace(**config)
        self.dtype = torch.float32

    def _run(self, session, name, x):
        rows = [session({name: x[i:i + 1].detach().float().cpu().numpy()}) for i in range(x.shape[0])]
        return torch.from_numpy(np.concatenate(rows)).to(x.dtype)

    def encode(self, pixels):
        size = (self.export["width"], self.export["height"])
        if (pixels.shape[3], pixels.shape[2]) != size:
            raise ExportSizeError(f"this VAE encoder was exported for {size[0]}x{size[1]} only; got "
                                  f"{pixels.shape[3]}x{pixels.shape[2]}")
        return SimpleNamespace(latents=self._run(self.encoder, "pixels", pixels))

    def decode(self, latents):
        return SimpleNamespace(sample=self._run(self.decoder, "latents", latents))
