"""Mask2Former instance detections for GenEval, from a local transformers folder.

GenEval runs mmdetection's Mask2Former (Swin-S, COCO). Here `Mask2FormerForUniversalSegmentation` runs from a
folder (e.g. a download of facebook/mask2former-swin-small-coco-instance), with its own preprocessor settings,
and its outputs are turned into detections the way mmdetection's Mask2Former does for instance segmentation
(Cheng et al. 2022): the top-k (query, class) pairs by class probability, masks = sigmoid(mask logits) > 0.5 at
the image's size, score = class probability x the mean mask probability inside the mask, box = the mask's
extent (x2, y2 exclusive).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import EvalError
from . import OBJECT_NAMES
from .rules import Detection


def instance_detections(class_logits: torch.Tensor, mask_logits: torch.Tensor, top_k: int,
                        min_score: float = 0.0) -> list[tuple[int, float, np.ndarray]]:
    """[(label, score, mask)] of one image from Mask2Former's (Q, C+1) class logits and (Q, H, W) mask logits
    already at the image's size; pairs scoring <= min_score are dropped (GenEval's thresholds are all >= 0.3)."""
    probs = class_logits.float().softmax(-1)[:, :-1]  # the last class is "no object"
    classes = probs.shape[1]
    scores, flat = probs.flatten().topk(min(top_k, probs.numel()))
    labels, queries = flat % classes, flat // classes
    masks_prob = mask_logits.float()[queries].sigmoid()
    masks = masks_prob > 0.5
    mask_scores = (masks_prob * masks).flatten(1).sum(1) / (masks.flatten(1).sum(1) + 1e-6)
    final = scores * mask_scores
    out = []
    for i in torch.nonzero(final > min_score).flatten().tolist():
        out.append((int(labels[i]), float(final[i]), masks[i].cpu().numpy()))
    return out


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    """The mask's extent as (x1, y1, x2, y2), x2 and y2 one past the last pixel; zeros for an empty mask."""
    cols, rows = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
    if not len(cols):
        return (0.0, 0.0, 0.0, 0.0)
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


class Mask2FormerDetector:
    """`detect(image) -> {GenEval object name: [Detection]}` with a COCO-instance Mask2Former."""

    def __init__(self, model, processor, top_k: int = 100):
        if model.config.num_labels != len(OBJECT_NAMES):
            raise EvalError(f"the detector has {model.config.num_labels} classes; GenEval needs a COCO instance "
                            f"model with {len(OBJECT_NAMES)} (e.g. facebook/mask2former-swin-small-coco-instance)")
        self.model, self.processor, self.top_k = model, processor, top_k

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def detect(self, image: Image.Image, min_score: float = 0.3) -> dict[str, list[Detection]]:
        inputs = self.processor(images=[image.convert("RGB")], return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, next(self.model.parameters()).dtype)
        pixel_mask = inputs.get("pixel_mask")
        out = self.model(pixel_values=pixels, pixel_mask=None if pixel_mask is None else pixel_mask.to(self.device))
        logits = torch.nn.functional.interpolate(out.masks_queries_logits.float(), size=pixels.shape[-2:],
                                                 mode="bilinear", align_corners=False)[0]
        if pixel_mask is not None:  # crop the padding, then back to the image's own size
            valid = pixel_mask[0].bool()
            logits = logits[:, : int(valid.any(1).sum()), : int(valid.any(0).sum())]
        logits = torch.nn.functional.interpolate(logits[None], size=(image.height, image.width), mode="bilinear",
                                                 align_corners=False)[0]
        detected: dict[str, list[Detection]] = {}
        for label, score, mask in instance_detections(out.class_queries_logits[0], logits, self.top_k, min_score):
            detected.setdefault(OBJECT_NAMES[label], []).append(Detection(mask_box(mask), score, mask))
        return detected


def processor_settings(folder: Path) -> dict:
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        raise EvalError(f"{folder} has no preprocessor_config.json (save the detector's image processor with it)")
    config = json.loads(path.read_text())
    return {k: v for k, v in config.items() if not k.endswith(("_type", "_class")) and k != "auto_map"}


# GenEval's mmdetection test pipeline resizes (keeping the aspect) into 1333 x 800 and pads to multiples of 32.
GENEVAL_RESIZE = {"shortest_edge": 800, "longest_edge": 1333}


def load_detector(path: str | Path, device: str | None = None, size: dict | None = GENEVAL_RESIZE
                  ) -> Mask2FormerDetector:
    """Mask2Former and its image processor from a local folder (safetensors only); the folder's normalisation,
    with GenEval's resize unless `size` is None (then the folder's own)."""
    from transformers import Mask2FormerForUniversalSegmentation
    from transformers.models.mask2former.image_processing_pil_mask2former import Mask2FormerImageProcessorPil

    from ...loading import check_safetensors_only, quiet_libraries

    folder = Path(path)
    if not folder.is_dir():
        raise EvalError(f"--detector {path}: no such folder (a transformers Mask2Former checkpoint)")
    check_safetensors_only(folder)
    with quiet_libraries():
        model = Mask2FormerForUniversalSegmentation.from_pretrained(folder, use_safetensors=True)
    settings = processor_settings(folder)
    if size is not None:
        settings.update(size=dict(size), size_divisor=32)
    elif isinstance(settings.get("size"), int):  # the older configs' bare shortest edge
        settings["size"] = {"shortest_edge": settings["size"], "longest_edge": settings.pop("max_size", 1333)}
    processor = Mask2FormerImageProcessorPil(**settings)
    model = model.eval().requires_grad_(False)
    if device is not None:
        model.to(device)
    return Mask2FormerDetector(model, processor)
