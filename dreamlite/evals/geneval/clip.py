"""CLIP zero-shot colour classification of detected objects, as GenEval does it (Radford et al. 2021).

Each object is shown to CLIP alone: the image is composited over grey (#999) outside the object's mask and
cropped to its box. Each colour's text embedding is the normalised mean of the normalised embeddings of GenEval's
three templates; the predicted colour is the one with the highest cosine similarity. GenEval uses open_clip's
ViT-L-14 with OpenAI's weights; transformers' openai/clip-vit-large-patch14 holds the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import EvalError
from . import COLOR_TEMPLATES, COLORS, CROP_BACKGROUND
from .rules import Detection


def masked_crop(image: Image.Image, detection: Detection) -> Image.Image:
    """The object over grey outside its mask (the whole image when there is no mask), cropped to its box."""
    image = image.convert("RGB")
    if detection.mask is not None:
        if detection.mask.shape != (image.height, image.width):
            raise ValueError(f"mask {detection.mask.shape} does not match the image {image.size[::-1]}")
        blank = Image.new("RGB", image.size, CROP_BACKGROUND)
        image = Image.composite(image, blank, Image.fromarray(detection.mask.astype(np.uint8) * 255))
    return image.crop(tuple(detection.box))


class ClipColourClassifier:
    def __init__(self, model, tokenizer, image_processor, colours: Sequence[str] = COLORS):
        self.model, self.tokenizer, self.image_processor = model, tokenizer, image_processor
        self.colours = tuple(colours)
        self._text = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def text_weights(self, object_name: str) -> torch.Tensor:
        """(D, colours): per colour the normalised mean of its normalised template embeddings."""
        if object_name not in self._text:
            columns = []
            for colour in self.colours:
                texts = [t.format(c=colour, o=object_name) for t in COLOR_TEMPLATES]
                tokens = self.tokenizer(texts, padding=True, return_tensors="pt").to(self.device)
                emb = _features(self.model.get_text_features(**tokens))
                emb = emb / emb.norm(dim=-1, keepdim=True)
                mean = emb.mean(0)
                columns.append(mean / mean.norm())
            self._text[object_name] = torch.stack(columns, dim=1)
        return self._text[object_name]

    @torch.inference_mode()
    def classify(self, image: Image.Image, detections: Sequence[Detection], object_name: str) -> list[str]:
        """The colour of each detection of `object_name` in `image`."""
        if not detections:
            return []
        crops = [masked_crop(image, d) for d in detections]
        pixels = self.image_processor(images=crops, return_tensors="pt")["pixel_values"]
        emb = _features(self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype)))
        emb = emb / emb.norm(dim=-1, keepdim=True)
        best = (emb.float() @ self.text_weights(object_name).float()).argmax(1)
        return [self.colours[i] for i in best.tolist()]

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype


def _features(out) -> torch.Tensor:
    """transformers 5 returns an output object whose pooler_output is the projected embedding; 4.x a tensor."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def load_clip(path: str | Path, device: str | None = None) -> ClipColourClassifier:
    """CLIPModel, its tokenizer and image processor from a local folder (safetensors only)."""
    from transformers import AutoTokenizer, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from ...loading import check_safetensors_only, quiet_libraries
    from .detector import processor_settings

    folder = Path(path)
    if not folder.is_dir():
        raise EvalError(f"--clip {path}: no such folder (a transformers CLIP checkpoint)")
    check_safetensors_only(folder)
    with quiet_libraries():
        model = CLIPModel.from_pretrained(folder, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    model = model.eval().requires_grad_(False)
    if device is not None:
        model.to(device)
    return ClipColourClassifier(model, tokenizer, CLIPImageProcessorPil(**processor_settings(folder)))
