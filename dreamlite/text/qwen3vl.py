"""Qwen3-VL as DreamLite's prompt encoder, the way the official release uses it.

Generate mode tokenises the chat-templated prompt; edit mode also shows the source image (resized to 512x512, the
official default; `edit_image_size` changes it: fewer image tokens make the encoder faster) to the vision tower. The prompt embedding is the last hidden state, with the template prefix dropped and the rest
re-padded with zeros, plus its 0/1 mask.

transformers' `Qwen3VLProcessor` cannot be built without torchvision (its video processor needs it, and
torchvision does not install beside the CPU torch used here). DreamLite never uses video, so `ImageTextProcessor`
does the processor's image+text job itself with the PIL image processor and the tokenizer: it expands each
`<|image_pad|>` to the image's token count and marks image tokens in `mm_token_type_ids`, giving the same tensors.
"""

from __future__ import annotations

import warnings

import torch
from PIL import Image
from torch.nn.utils.rnn import pad_sequence

from .templates import (
    EDIT_DROP_TOKENS,
    EDIT_ENCODER_IMAGE_SIZE,
    EDIT_TEMPLATE,
    GENERATE_DROP_TOKENS,
    GENERATE_TEMPLATE,
    MAX_PROMPT_TOKENS,
)

IMAGE_TOKEN = "<|image_pad|>"

# Qwen3-VL's published video preprocessing settings, written so that transformers (with torchvision) can rebuild
# the full processor from a folder this project saves; DreamLite itself never processes video.
QWEN3VL_VIDEO_PROCESSOR = {
    "video_processor_type": "Qwen3VLVideoProcessor", "patch_size": 16, "temporal_patch_size": 2,
    "merge_size": 2, "size": {"shortest_edge": 131072, "longest_edge": 786432}, "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5], "do_resize": True, "do_rescale": True, "do_normalize": True,
    "do_convert_rgb": True, "do_sample_frames": True, "min_frames": 4, "max_frames": 768,
}


class ImageTextProcessor:
    """Text + image inputs for Qwen3-VL without the video processor (see module docstring)."""

    def __init__(self, image_processor, tokenizer):
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)

    def __call__(self, texts: list[str], images: list[Image.Image]) -> dict[str, torch.Tensor]:
        vision = self.image_processor(images=images, return_tensors="pt")
        merge = self.image_processor.merge_size**2
        expanded = []
        for text, grid in zip(texts, vision["image_grid_thw"]):
            n = int(grid.prod()) // merge
            expanded.append(text.replace(IMAGE_TOKEN, "\0" * n).replace("\0", IMAGE_TOKEN))
        tokens = self.tokenizer(expanded, padding=True, return_tensors="pt")
        mm_types = (tokens["input_ids"] == self.image_token_id).long()
        return {**tokens, "mm_token_type_ids": mm_types, **vision}


def lanczos_resize(image: Image.Image, width: int, height: int) -> Image.Image:
    return image.resize((width, height), resample=Image.LANCZOS)


class Qwen3VLPromptEncoder:
    """`encode(prompts, mode, image)` -> (embeddings (B, L, D), mask (B, L)) with the official templates."""

    def __init__(self, model, tokenizer, image_processor=None):
        self.model = model
        self.tokenizer = tokenizer
        self.edit_image_size = EDIT_ENCODER_IMAGE_SIZE
        self.processor = ImageTextProcessor(image_processor, tokenizer) if image_processor is not None else None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def hidden_size(self) -> int:
        return self.model.config.text_config.hidden_size

    def encode(self, prompts: list[str], mode: str, image: Image.Image | None = None,
               max_length: int = MAX_PROMPT_TOKENS) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_prepared(*self.prepare(prompts, mode, image, max_length))

    def prepare(self, prompts: list[str], mode: str, image: Image.Image | list[Image.Image] | None = None,
                max_length: int = MAX_PROMPT_TOKENS) -> tuple[dict[str, torch.Tensor], int]:
        """The model inputs of `prompts` in `mode`'s template (edit: `image`, one for all prompts or one each) and
        the number of template-prefix tokens the embedding drops."""
        if mode == "generate":
            texts = [GENERATE_TEMPLATE.format(p) for p in prompts]
            self._warn_if_cut(texts, max_length + GENERATE_DROP_TOKENS)
            return dict(self.tokenizer(texts, max_length=max_length + GENERATE_DROP_TOKENS, padding=True,
                                       truncation=True, return_tensors="pt")), GENERATE_DROP_TOKENS
        if mode == "edit":
            if self.processor is None:
                raise ValueError("this prompt encoder has no image processor, so it cannot encode edit prompts")
            size = self.edit_image_size
            shown = ([lanczos_resize(im, size, size) for im in image] if isinstance(image, list)
                     else [lanczos_resize(image, size, size)] * len(prompts))
            return self.processor([EDIT_TEMPLATE.format(p) for p in prompts], shown), EDIT_DROP_TOKENS
        raise ValueError(f"unknown prompt mode {mode!r}; expected 'generate' or 'edit'")

    def encode_prepared(self, inputs: dict[str, torch.Tensor], drop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(embeddings (B, L, D), mask (B, L)) of `prepare`'s output: the last hidden state without the prefix."""
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        hidden = self.model(**inputs, output_hidden_states=True).hidden_states[-1]
        return strip_prefix(hidden, inputs["attention_mask"], drop)

    def to(self, device) -> Qwen3VLPromptEncoder:
        self.model.to(device)
        return self

    def save_pretrained(self, folder) -> dict:
        """Write text_encoder/, tokenizer/ and processor/; return their model_index.json entries."""
        import json
        from pathlib import Path

        folder = Path(folder)
        self.model.save_pretrained(folder / "text_encoder", safe_serialization=True)
        self.tokenizer.save_pretrained(folder / "tokenizer")
        entries = {"text_encoder": ["transformers", "Qwen3VLForConditionalGeneration"],
                   "tokenizer": ["transformers", type(self.tokenizer).__name__]}
        if self.processor is not None:
            # transformers 5's Qwen3VLProcessor layout: one processor_config.json plus the tokenizer files.
            self.tokenizer.save_pretrained(folder / "processor")
            config = {"image_processor": self.processor.image_processor.to_dict(),
                      "processor_class": "Qwen3VLProcessor", "video_processor": QWEN3VL_VIDEO_PROCESSOR}
            (folder / "processor" / "processor_config.json").write_text(json.dumps(config, indent=2) + "\n")
            entries["processor"] = ["transformers", "Qwen3VLProcessor"]
        return entries

    def _warn_if_cut(self, texts: list[str], limit: int) -> None:
        longest = max(len(ids) for ids in self.tokenizer(texts)["input_ids"])
        if longest > limit:
            warnings.warn(f"prompt is {longest - GENERATE_DROP_TOKENS} tokens with its template; "
                          f"cut to the official limit of {limit - GENERATE_DROP_TOKENS}", stacklevel=3)


def strip_prefix(hidden: torch.Tensor, mask: torch.Tensor, drop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep each sequence's valid tokens after the first `drop`, left-aligned and zero-padded, with a 0/1 mask."""
    keep = mask.bool()
    rows = [h[k][drop:] for h, k in zip(hidden, keep)]
    embeds = pad_sequence(rows, batch_first=True, padding_value=0)
    out_mask = torch.zeros(embeds.shape[:2], dtype=torch.long, device=hidden.device)
    for i, row in enumerate(rows):
        out_mask[i, : row.shape[0]] = 1
    return embeds, out_mask


def load_qwen3vl(folder, dtype=None) -> Qwen3VLPromptEncoder:
    """Text encoder, tokenizer and (if present) the image processor from a pipeline folder, offline-safe."""
    from transformers import AutoTokenizer, Qwen3VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from ..loading import require_part
    from ..safetensors_check import check_safetensors_only

    encoder_dir = require_part(folder, "text_encoder")
    check_safetensors_only(encoder_dir)
    model = Qwen3VLForConditionalGeneration.from_pretrained(encoder_dir, dtype=dtype or torch.float32,
                                                            use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(require_part(folder, "tokenizer"))
    image_processor = None
    settings = image_processor_settings(folder / "processor")
    if settings is not None:
        image_processor = Qwen2VLImageProcessorPil(**settings)
    return Qwen3VLPromptEncoder(model.eval().requires_grad_(False), tokenizer, image_processor)


def image_processor_settings(processor_dir) -> dict | None:
    """The image processor's settings from `preprocessor_config.json` (older layout) or the `image_processor`
    entry of `processor_config.json` (transformers 5), without the keys that name classes."""
    import json

    for name, key in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
        path = processor_dir / name
        if path.is_file():
            config = json.loads(path.read_text())
            config = config.get(key) if key else config
            if config:
                return {k: v for k, v in config.items() if not k.endswith(("_type", "_class")) and k != "auto_map"}
    return None
