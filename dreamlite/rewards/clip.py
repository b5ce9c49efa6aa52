"""CLIP score (Hessel et al. 2021) and PickScore (Kirstain et al. 2023) as rewards, from local transformers folders.

Both embed each image and its own prompt with a CLIPModel and take the cosine of the two normalised embeddings.
- `clip`: max(cos, 0), in [0, 1]. This is torchmetrics' CLIPScore (100 * max(cos, 0)) divided by 100; Hessel et
  al.'s 2.5 * max(cos, 0) is the same ranking. Good CLIP ViT-L/14 matches sit around 0.3.
- `pickscore`: logit_scale.exp() * cos, as PickScore's published usage scores an image (about 20-23 for
  PickScore_v1, whose logit scale is 100). PickScore_v1's folder holds the model; its tokenizer and image
  processor are those of laion/CLIP-ViT-H-14-laion2B-s32B-b79K: pass that folder as `processor` if the model
  folder lacks them.
Images are processed in batches of `batch_size`. Edit samples (a source, or task "edit") score 0 unless
`edits: true`: an instruction is no caption (see local.scored_samples).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .base import as_arrays
from .local import features, model_folder, pick_device, pick_dtype, preprocessor_settings, scored_samples


class ClipScorer:
    """Cosine similarity of each image with its own prompt under a CLIPModel."""

    name = "clip"

    def __init__(self, path=None, processor=None, device: str | None = None, dtype: str | None = None,
                 batch_size: int = 32, edits: bool = False):
        from transformers import AutoTokenizer, CLIPModel
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        from ..loading import quiet_libraries

        what = "a transformers CLIPModel (config.json, safetensors)"
        folder = model_folder(path, self.name, what)
        extras = folder if processor is None else Path(processor).expanduser()
        if not extras.is_dir():
            raise ValueError(f"reward {self.name!r}: no such folder {processor} (a CLIP tokenizer and "
                             "preprocessor_config.json)")
        if batch_size < 1:
            raise ValueError(f"reward {self.name!r}: batch_size must be at least 1, got {batch_size}")
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.batch_size, self.edits = batch_size, edits
        self.image_processor = CLIPImageProcessorPil(**preprocessor_settings(extras, self.name))
        with quiet_libraries():
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(extras)
            except (OSError, ValueError) as err:
                raise ValueError(f"reward {self.name!r}: no tokenizer in {extras} ({str(err).splitlines()[0]})"
                                 ) from None
            model = CLIPModel.from_pretrained(folder, use_safetensors=True, dtype=self.dtype)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.max_length = self.model.config.text_config.max_position_embeddings

    @torch.inference_mode()
    def cosine(self, images, prompts) -> torch.Tensor:
        """(N,) cosine of image i with prompt i, in float32 on the CPU."""
        arrays, prompts = as_arrays(images), list(prompts)
        if len(arrays) != len(prompts):
            raise ValueError(f"{len(arrays)} images for {len(prompts)} prompts")
        out = []
        for start in range(0, len(arrays), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            pixels = self.image_processor(images=arrays[chunk], return_tensors="pt")["pixel_values"]
            tokens = self.tokenizer(list(prompts[chunk]), padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors="pt").to(self.device)
            image = features(self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype)))
            text = features(self.model.get_text_features(**tokens))
            image = image.float() / image.float().norm(dim=-1, keepdim=True)
            text = text.float() / text.float().norm(dim=-1, keepdim=True)
            out.append((image * text).sum(-1).cpu())
        return torch.cat(out)


    def score(self, images, prompts, sources, tasks, value) -> torch.Tensor:
        """`value(cosine)` for the scored samples (see scored_samples), 0 for the others."""
        arrays = as_arrays(images)
        keep = scored_samples(len(arrays), sources, tasks, self.edits)
        out = torch.zeros(len(arrays))
        if keep:
            out[keep] = value(self.cosine([arrays[i] for i in keep], [prompts[i] for i in keep]))
        return out


class ClipScoreReward(ClipScorer):
    """max(cos, 0) in [0, 1]: CLIPScore / 100."""

    name = "clip"

    def __call__(self, images, prompts, sources=None, tasks=None, **context) -> torch.Tensor:
        return self.score(images, prompts, sources, tasks, lambda cos: cos.clamp(min=0))


class PickScoreReward(ClipScorer):
    """logit_scale.exp() * cos, PickScore's scale."""

    name = "pickscore"

    def __call__(self, images, prompts, sources=None, tasks=None, **context) -> torch.Tensor:
        scale = self.model.logit_scale.detach().float().exp().cpu()
        return self.score(images, prompts, sources, tasks, lambda cos: scale * cos)
