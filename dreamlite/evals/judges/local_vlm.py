"""A local VLM judge: a Qwen2.5-VL-class model (Qwen2.5-VL-*-Instruct, ImgEdit-Judge) from a folder.

The message is rendered in Qwen's chat format (ChatML: a system turn, the user turn with each image as
<|vision_start|><|image_pad|>...<|vision_end|>, then the assistant prefix), images are prepared by the PIL
Qwen2-VL image processor with the folder's settings (no torchvision needed), and the answer is decoded greedily.
Weights load from safetensors only, without remote code.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image

from ... import loading
from .. import EvalError
from ..identity import weights_identity

SYSTEM = "You are a helpful assistant."
SUPPORTED = ("qwen2_5_vl", "qwen2_vl")
IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"


def chat_text(parts, system: str = SYSTEM) -> str:
    """The Qwen chat prompt of a single user turn (images as placeholders, in order) ready for the answer."""
    body = "".join(IMAGE if isinstance(p, Image.Image) else p for p in parts)
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{body}<|im_end|>\n"
            "<|im_start|>assistant\n")


class LocalVLMJudge:
    def __init__(self, model, tokenizer, image_processor, identity: dict, max_new_tokens: int = 512):
        self.model, self.tokenizer, self.image_processor = model, tokenizer, image_processor
        self.max_new_tokens = max_new_tokens
        self._identity = identity
        self.image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")

    @property
    def identity(self) -> dict:
        return {"kind": "local-vlm", **self._identity, "decoding": "greedy",
                "max_new_tokens": self.max_new_tokens}

    @torch.inference_mode()
    def ask(self, parts) -> str:
        images = [p.convert("RGB") for p in parts if isinstance(p, Image.Image)]
        text = chat_text(parts)
        extra = {}
        if images:
            vision = self.image_processor(images=images, return_tensors="pt")
            merge = self.image_processor.merge_size ** 2
            pieces = text.split("<|image_pad|>")
            counts = [int(g.prod()) // merge for g in vision["image_grid_thw"]]
            text = pieces[0] + "".join("<|image_pad|>" * n + rest for n, rest in zip(counts, pieces[1:]))
            device, dtype = self.device, next(self.model.parameters()).dtype
            extra = {"pixel_values": vision["pixel_values"].to(device, dtype),
                     "image_grid_thw": vision["image_grid_thw"].to(device)}
        tokens = self.tokenizer([text], return_tensors="pt").to(self.device)
        out = self.model.generate(**tokens, **extra, max_new_tokens=self.max_new_tokens, do_sample=False)
        return self.tokenizer.decode(out[0, tokens["input_ids"].shape[1]:], skip_special_tokens=True).strip()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def load_local_judge(path: str | Path, device: str | None = None, dtype: str | None = None,
                     max_new_tokens: int = 512) -> LocalVLMJudge:
    """The model, tokenizer and image processor of a Qwen2.5-VL-class folder."""
    from transformers import AutoModelForImageTextToText, AutoTokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from ...pipeline import parse_dtype
    from ...text.qwen3vl import image_processor_settings

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise EvalError(f"--judge {path}: not a model folder (no config.json) and not an http(s) URL")
    model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    if model_type not in SUPPORTED:
        raise EvalError(f"--judge {path}: model_type {model_type!r}; the local judge runs {', '.join(SUPPORTED)}")
    loading.check_safetensors_only(folder)
    settings = image_processor_settings(folder)
    if settings is None:
        raise EvalError(f"--judge {path}: no preprocessor_config.json (the image processor's settings)")
    torch_dtype = parse_dtype(dtype) if dtype else (torch.bfloat16 if device and "cuda" in str(device)
                                                     else torch.float32)
    with loading.quiet_libraries():
        model = AutoModelForImageTextToText.from_pretrained(folder, use_safetensors=True, dtype=torch_dtype)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    model = model.eval().requires_grad_(False)
    if device is not None:
        model.to(device)
    return LocalVLMJudge(model, tokenizer, Qwen2VLImageProcessorPil(**settings), weights_identity(folder),
                         max_new_tokens)
