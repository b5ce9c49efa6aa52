"""diffusers' DreamLitePipeline / DreamLiteMobilePipeline on a dreamlite folder, without torchvision.

transformers' Qwen3VLProcessor insists on a video processor, which needs torchvision; DreamLite never uses video,
so the processor is built with an empty stand-in for it (the image and text paths are transformers' own).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch


def qwen3vl_processor(folder: Path):
    import transformers.processing_utils as pu
    from transformers import AutoTokenizer, Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from ..text.qwen3vl import image_processor_settings

    class NoVideo(dict):
        _auto_class = None

        def to_dict(self):
            return dict(self)

    pu.transformers_module.VideoProcessorMixin = NoVideo
    tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
    image_processor = Qwen2VLImageProcessorPil(**image_processor_settings(folder / "processor"))
    return Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                            video_processor=NoVideo(video_processor_type="Qwen3VLVideoProcessor"))


def load_diffusers_pipeline(folder: Path, dtype: torch.dtype):
    from diffusers import DreamLiteMobilePipeline, DreamLitePipeline

    name = json.loads((folder / "model_index.json").read_text())["_class_name"]
    cls = DreamLiteMobilePipeline if name == "DreamLiteMobilePipeline" else DreamLitePipeline
    import diffusers

    diffusers.utils.logging.disable_progress_bar()
    pipe = cls.from_pretrained(folder, processor=qwen3vl_processor(folder), dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe
