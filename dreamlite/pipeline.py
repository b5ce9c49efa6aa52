"""`DreamLite`: one pipeline for base (guided) and mobile (distilled) checkpoints, generation and editing.

`dreamlite generate` reads: cli.py -> DreamLite.generate (here) -> text/qwen3vl.py (prompt embeddings) ->
sampling.py (schedule, guidance, Euler) -> models/unet.py -> the VAE -> images.py (PIL).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image
from tqdm.auto import tqdm

from . import loading
from .errors import InputError
from .images import load_image, to_pil, to_tensor
from .sampling import Conditioning, denoise, edit_region, flow_sigmas, guided_velocity, keep_outside
from .text.templates import wrap_edit, wrap_generate

# Official defaults: the base model samples 28 steps with guidance; the mobile model was distilled to 4 steps
# without guidance.
DEFAULTS = {
    "base": {"steps": 28, "guidance_scale": 3.5, "image_guidance_scale": 1.5},
    "mobile": {"steps": 4, "guidance_scale": None, "image_guidance_scale": None},
}
MASK_NOISES = 4  # noises averaged by edit_region when keep_source is on


class DreamLite:
    def __init__(self, components: loading.Components, prompt_cache: int = 16):
        from .text.cache import CachedPromptEncoder

        self.components = components
        self.unet = components.unet
        self.vae = components.vae
        # A repeated prompt (new seed, new scale) skips the prompt encoder; prompt_cache=0 turns this off.
        self.prompt_encoder = (CachedPromptEncoder(components.prompt_encoder, prompt_cache) if prompt_cache
                               else components.prompt_encoder)
        self.schedule = components.schedule
        self.variant = components.variant

    @classmethod
    def from_pretrained(cls, path_or_hub_id: str | Path, device: str | torch.device | None = None,
                        dtype: torch.dtype | str | None = None, revision: str | None = None, fast: bool = False,
                        compile: bool = False, encoder_image_size: int | None = None,
                        prompt_cache: int = 16, encoder_int8: bool = False) -> DreamLite:
        """Load a diffusers-layout DreamLite folder, a folder written by `dreamlite export` (its U-Net and VAE run
        in the exported runtime, on the CPU), a bundled short name or a hub id.

        fast: the fast PyTorch path (dreamlite/fast.py): bf16 where the CPU supports it (unless `dtype` is given),
        channels-last, fused attention projections; `compile` adds torch.compile.
        encoder_image_size: the side, in pixels, of the source image the prompt encoder sees when editing (official
        default 512). prompt_cache: how many prompt embeddings to keep (0: none). encoder_int8: the prompt encoder's
        linear layers in dynamic int8 (CPU; dreamlite/text/int8.py).
        """
        if encoder_image_size is not None and (not isinstance(encoder_image_size, int) or encoder_image_size < 32
                                               or encoder_image_size % 32):
            raise InputError(f"encoder_image_size must be a multiple of 32 (the encoder's 16 px patches merged "
                             f"2x2), got {encoder_image_size!r}")
        from . import runtime

        folder = loading.resolve_model_path(path_or_hub_id, revision)
        exported = runtime.is_exported(folder / "unet")
        device = torch.device(device) if device is not None else (torch.device("cpu") if exported
                                                                  else default_device())
        if dtype is not None:
            dtype = parse_dtype(dtype)
        elif fast:
            from .fast import fast_dtype

            dtype = fast_dtype(device)
        else:
            dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
        components = loading.load_components(folder, device, dtype)
        if fast and not exported:
            from .fast import make_fast

            make_fast(components, compile=compile)
        if encoder_image_size is not None:
            components.prompt_encoder.edit_image_size = encoder_image_size
        if encoder_int8:
            if device.type != "cpu":
                raise InputError("encoder_int8 runs on the CPU only")
            from .text.int8 import quantize_linear_int8

            quantize_linear_int8(components.prompt_encoder)
        return cls(components, prompt_cache=prompt_cache)

    def save_pretrained(self, folder: str | Path) -> None:
        loading.save_components(self.components, Path(folder))

    def to(self, device: str | torch.device) -> DreamLite:
        loading.move_components(self.components, device)
        return self

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def static_size(self) -> tuple[int, int] | None:
        """(width, height) an exported model's static graphs were built for; None for PyTorch modules."""
        size = getattr(self.unet, "width", None), getattr(self.unet, "height", None)
        return size if None not in size else None

    @property
    def dtype(self) -> torch.dtype:
        """The U-Net's dtype: noise and conditioning are made in it (the prompt encoder may differ: int8)."""
        return self.unet.dtype

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.encoder_block_out_channels) - 1)

    @property
    def size_multiple(self) -> int:
        """Pixel sizes must be multiples of this: the VAE's factor times the U-Net's downsampling."""
        return self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)

    @property
    def default_size(self) -> int:
        if self.static_size is not None:
            return self.static_size[0]
        return self.unet.config.sample_size * self.vae_scale_factor

    # ------------------------------------------------------------------ public API
    @torch.inference_mode()
    def generate(self, prompt: str, height: int | None = None, width: int | None = None, steps: int | None = None,
                 guidance_scale: float | None = None, seed: int | None = None, num_images: int = 1,
                 negative_prompt: str = "", progress: bool = False,
                 callback: Callable[[int, torch.Tensor], None] | None = None) -> list[Image.Image]:
        """Text to image. Sizes default to the model's native size (1024 for the official weights)."""
        height, width = self._check_size(self._default_height() if height is None else height,
                                        self.default_size if width is None else width)
        steps, scale, _ = self._settings(steps, guidance_scale, None)
        self._check_common(prompt, num_images)
        wrapped = wrap_generate(prompt)
        texts = [wrapped] if self.variant == "mobile" else [negative_prompt or "", wrapped]
        embeds, mask = self.prompt_encoder.encode(texts, "generate")
        noise = self._noise(num_images, height, width, self._generator(seed))
        cond_latents = torch.zeros(len(texts) * num_images, *noise.shape[1:], device=self.device, dtype=noise.dtype)
        cond = self._conditioning(embeds, mask, cond_latents, height, width, num_images)
        return self._sample(noise, cond, steps, scale or 1.0, 1.0, progress, callback)

    @torch.inference_mode()
    def edit(self, image: str | Path | Image.Image, instruction: str, height: int | None = None,
             width: int | None = None, steps: int | None = None, guidance_scale: float | None = None,
             image_guidance_scale: float | None = None, seed: int | None = None, num_images: int = 1,
             negative_prompt: str = "", progress: bool = False, keep_source: float | None = None,
             callback: Callable[[int, torch.Tensor], None] | None = None) -> list[Image.Image]:
        """Instruction-based editing of `image`. Sizes default to the source's, rounded down to the size multiple.

        keep_source: off (None, as diffusers' pipelines) or a threshold in (0, 1]: first estimate where the
        instruction changes the image (sampling.edit_region, from MASK_NOISES extra noises of the same seed), then
        hold every other latent cell to the source while denoising (sampling.keep_outside). Guided editing only.
        """
        source = load_image(image)
        m = self.size_multiple
        if height is None and width is None:
            # A static export runs at its one size; otherwise the size follows the source.
            width, height = self.static_size or (max(m, source.width // m * m), max(m, source.height // m * m))
        height, width = self._check_size(self._default_height() if height is None else height,
                                        self.default_size if width is None else width)
        steps, scale, image_scale = self._settings(steps, guidance_scale, image_guidance_scale)
        self._check_common(instruction, num_images)
        if keep_source is not None and (self.variant == "mobile" or not 0 < keep_source <= 1):
            raise InputError("keep_source takes a threshold in (0, 1] and needs a guided (base) checkpoint; "
                             f"got {keep_source!r} for a {self.variant} one")
        wrapped = wrap_edit(instruction)
        negative = negative_prompt or ""
        texts = [wrapped] if self.variant == "mobile" else [negative, wrapped]
        embeds, mask = self.prompt_encoder.encode(texts, "edit", image=source)
        if self.variant != "mobile":  # branches (no text, no image), (no text, image), (text, image)
            embeds, mask = embeds[[0, 0, 1]], mask[[0, 0, 1]]
        generator = self._generator(seed)
        noise = self._noise(num_images, height, width, generator)
        pixels = to_tensor(source, height, width).to(self.device, self.dtype)
        # Source latents go in as the encoder gives them (DreamLite's VAE has scaling factor 1 and no shift).
        src = self.vae.encode(pixels).latents.expand(num_images, -1, -1, -1)
        blocks = [src] if self.variant == "mobile" else [torch.zeros_like(src), src, src]
        cond = self._conditioning(embeds, mask, torch.cat(blocks), height, width, num_images)
        project = None
        if keep_source is not None:
            noises = [self._noise(num_images, height, width, generator) for _ in range(MASK_NOISES)]
            region = edit_region(self.unet, cond, src, noises, threshold=keep_source)
            project = keep_outside(region, src, noise)
        return self._sample(noise, cond, steps, scale or 1.0, image_scale or 1.0, progress, callback, project)

    # ------------------------------------------------------------------ steps shared by both tasks
    def _settings(self, steps, scale, image_scale):
        defaults = DEFAULTS[self.variant]
        if self.variant == "mobile" and (scale is not None or image_scale is not None):
            import warnings

            warnings.warn("guidance scales are ignored: this checkpoint was distilled without guidance",
                          stacklevel=3)
        steps = defaults["steps"] if steps is None else steps
        if not isinstance(steps, int) or steps < 1:
            raise InputError(f"steps must be a positive integer, got {steps!r}")
        return (steps, defaults["guidance_scale"] if scale is None else scale,
                defaults["image_guidance_scale"] if image_scale is None else image_scale)

    def _check_common(self, prompt, num_images) -> None:
        if not isinstance(prompt, str):
            raise InputError(f"the prompt must be a string, got {type(prompt).__name__}")
        if not isinstance(num_images, int) or num_images < 1:
            raise InputError(f"num_images must be a positive integer, got {num_images!r}")

    def _default_height(self) -> int:
        return self.static_size[1] if self.static_size is not None else self.default_size

    def _check_size(self, height: int, width: int) -> tuple[int, int]:
        """Refuse sizes the latent grid cannot take (no silent rounding of explicit sizes), and sizes a static
        export was not built for."""
        if self.static_size is not None and isinstance(height, int) and isinstance(width, int):
            self.unet.check_size(height, width)
        m = self.size_multiple
        for name, value in (("height", height), ("width", width)):
            if not isinstance(value, int) or value < m or value % m:
                near = max(m, round(value / m) * m) if isinstance(value, (int, float)) else m
                raise InputError(f"{name} {value!r} is not a positive multiple of {m} (the VAE factor times the "
                                 f"U-Net's downsampling); try {near}")
        return height, width

    @staticmethod
    def _generator(seed: int | None) -> torch.Generator:
        """Noise comes from `torch.Generator("cpu").manual_seed(seed)`, as in diffusers."""
        return torch.Generator("cpu").manual_seed(random.randrange(2**63) if seed is None else int(seed))

    def _noise(self, n: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        """Noise drawn on the CPU (the initial noise is the generator's first draw, as diffusers does)."""
        f = self.vae_scale_factor
        shape = (n, self.vae.config.latent_channels, height // f, width // f)
        return torch.randn(shape, generator=generator, dtype=self.dtype).to(self.device)

    def _conditioning(self, embeds, mask, cond_latents, height, width, n) -> Conditioning:
        branches = embeds.shape[0]
        time_ids = torch.tensor([[width, height]], device=self.device, dtype=self.dtype)
        return Conditioning(
            text=embeds.to(self.device, self.dtype).repeat_interleave(n, dim=0),
            text_mask=mask.to(self.device).repeat_interleave(n, dim=0),
            latents=cond_latents.to(self.device, self.dtype),
            time_ids=time_ids.expand(branches * n, -1),
            branches=branches,
        )

    def _sample(self, noise, cond, steps, scale, image_scale, progress, callback, project=None) -> list[Image.Image]:
        sigmas = flow_sigmas(steps, noise.shape[2], noise.shape[3], self.schedule)
        velocity = guided_velocity(self.unet, cond, scale, image_scale)
        with tqdm(total=steps, disable=not progress, desc="denoising", unit="step", leave=False) as bar:
            def on_step(i, x):
                bar.update(1)
                if callback is not None:
                    callback(i, x)

            latents = denoise(velocity, noise, sigmas, on_step, project)
        config = self.vae.config
        latents = latents / config.scaling_factor + (getattr(config, "shift_factor", 0.0) or 0.0)
        return to_pil(self.vae.decode(latents).sample)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def parse_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    return DTYPES[dtype]
