"""HPSv3 (Ma, Shui et al., ICCV 2025) as a reward: a Qwen2-VL-7B preference model with an MLP head.

Two ways to run it:
- `backend: transformers` (default), this project's transformers only. The published checkpoint is one file,
  `HPSv3.safetensors` (MizzenAI/HPSv3): the state dict of a Qwen2VLForConditionalGeneration (transformers 4.45
  key layout: `model.*`, `visual.*`, `lm_head.*`) whose vocabulary grew by one token, `<|Reward|>`, plus `rm_head.*`
  (Linear(3584, 1024), ReLU, Dropout, Linear(1024, 16), ReLU, Linear(16, 2)). `path` is a local
  Qwen2-VL-7B-Instruct folder for its config.json, tokenizer and preprocessor_config.json (its own weights are not
  read); `checkpoint` is HPSv3.safetensors (default: `path`/HPSv3.safetensors).
- `backend: hpsv3`, the `hpsv3` package's HPSv3RewardInferencer. It pins transformers==4.45.2 (and pulls in
  deepspeed and trl), so it is not a dependency here: install it in its own environment.
Scoring follows HPSv3's inference: each image is resized to 256 * 28 * 28 pixels, shown first in a Qwen chat user
turn followed by HPSv3's rating instruction with the prompt and the `<|Reward|>` token; the head reads the last
hidden state at that token and gives (mu, sigma); the reward is mu (about 0-15 for real images, higher better).
HPSv3's forward skips Qwen2-VL's 3-D rope index and feeds the language model plain positions 0..L-1 on all three
M-RoPE axes; that is what its weights were trained with, so we do the same. Edit samples score 0 unless
`edits: true` (HPSv3 rates an image against a caption, not an instruction).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from PIL import Image

from ..evals.judges.local_vlm import chat_text
from .base import as_arrays
from .hpsv3_prompt import INSTRUCTION, RATING
from .local import pick_device, pick_dtype, scored_samples

REWARD_TOKEN = "<|Reward|>"
PIXELS = 256 * 28 * 28


def reward_head(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The MLP whose `rm_head.<i>` linears are in `state` (ReLU after each but the last; dropout is identity at
    eval), or one Linear when the head is `rm_head.weight`."""
    if "rm_head.weight" in state:
        w = state["rm_head.weight"]
        return torch.nn.Linear(w.shape[1], w.shape[0], bias="rm_head.bias" in state)
    index = sorted({int(m.group(1)) for k in state if (m := re.match(r"rm_head\.(\d+)\.weight$", k))})
    if not index:
        raise ValueError("reward 'hpsv3': the checkpoint has no rm_head.* weights (not an HPSv3 checkpoint)")
    layers: list[torch.nn.Module] = [torch.nn.Identity() for _ in range(index[-1] + 1)]
    for n, i in enumerate(index):
        w = state[f"rm_head.{i}.weight"]
        layers[i] = torch.nn.Linear(w.shape[1], w.shape[0], bias=f"rm_head.{i}.bias" in state)
        if n + 1 < len(index):
            layers[i + 1] = torch.nn.ReLU()
    return torch.nn.Sequential(*layers)


def current_layout(key: str) -> str:
    """transformers 4.45 keys (`model.layers.*`, `visual.*`) -> 5.x (`model.language_model.*`, `model.visual.*`)."""
    if key.startswith("visual."):
        return "model." + key
    if key.startswith("model.") and not key.startswith(("model.language_model.", "model.visual.")):
        return "model.language_model." + key[len("model."):]
    return key


class HPSv3Reward:
    def __init__(self, path=None, checkpoint=None, backend: str = "transformers", device: str | None = None,
                 dtype: str | None = None, batch_size: int = 4, edits: bool = False):
        if backend not in ("transformers", "hpsv3"):
            raise ValueError(f"reward 'hpsv3': backend {backend!r}; use 'transformers' or 'hpsv3'")
        if batch_size < 1:
            raise ValueError(f"reward 'hpsv3': batch_size must be at least 1, got {batch_size}")
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.batch_size, self.edits = batch_size, edits
        if backend == "hpsv3":
            self._score = _package_scorer(checkpoint, self.device)
        else:
            self._load(path, checkpoint)
            self._score = self.score_batch

    def _load(self, path, checkpoint) -> None:
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoTokenizer, Qwen2VLForConditionalGeneration
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        from ..loading import quiet_libraries
        from .local import preprocessor_settings

        if path is None:
            raise ValueError("reward 'hpsv3' needs `path`: a local Qwen2-VL-7B-Instruct folder (config, tokenizer)")
        folder = Path(path).expanduser()
        if not (folder / "config.json").is_file():
            raise ValueError(f"reward 'hpsv3': {path} is not a Qwen2-VL folder (no config.json)")
        weights = Path(checkpoint).expanduser() if checkpoint is not None else folder / "HPSv3.safetensors"
        if weights.suffix != ".safetensors" or not weights.is_file():
            raise ValueError(f"reward 'hpsv3': no checkpoint {weights} (HPSv3.safetensors; safetensors only)")
        config = AutoConfig.from_pretrained(folder)
        if config.model_type != "qwen2_vl":
            raise ValueError(f"reward 'hpsv3': {folder} has model_type {config.model_type!r}, HPSv3 is qwen2_vl")
        with quiet_libraries():
            self.tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="right")
        if REWARD_TOKEN not in self.tokenizer.get_vocab():
            self.tokenizer.add_special_tokens({"additional_special_tokens": [REWARD_TOKEN]})
        self.reward_id = self.tokenizer.convert_tokens_to_ids(REWARD_TOKEN)

        state = {current_layout(k): v for k, v in load_file(weights).items()}
        head = {k: state.pop(k) for k in [k for k in state if k.startswith("rm_head")]}
        self.head = reward_head(head)
        self.head.load_state_dict({k[len("rm_head."):]: v for k, v in head.items()})
        self.head = self.head.float().to(self.device).eval().requires_grad_(False)
        rows = state["model.language_model.embed_tokens.weight"].shape[0]
        if rows != len(self.tokenizer):
            raise ValueError(f"reward 'hpsv3': the checkpoint's vocabulary has {rows} rows, the tokenizer of "
                             f"{folder} with {REWARD_TOKEN} {len(self.tokenizer)}: not the base HPSv3 was trained on")
        config.text_config.vocab_size = rows
        with quiet_libraries():
            model, info = Qwen2VLForConditionalGeneration.from_pretrained(
                None, config=config, state_dict=state, dtype=self.dtype, output_loading_info=True)
        wrong = {kind: sorted(info.get(f"{kind}_keys") or []) for kind in ("missing", "unexpected", "mismatched")}
        if any(wrong.values()):
            summary = "; ".join(f"{k} {len(v)} (e.g. {v[0]})" for k, v in wrong.items() if v)
            raise ValueError(f"reward 'hpsv3': {weights.name} does not fit the Qwen2-VL of {folder}: {summary}")
        self.model = model.to(self.device).eval().requires_grad_(False)
        settings = preprocessor_settings(folder, "hpsv3")
        settings.update(min_pixels=PIXELS, max_pixels=PIXELS,
                        size={"shortest_edge": PIXELS, "longest_edge": PIXELS})
        self.image_processor = Qwen2VLImageProcessorPil(**settings)

    @torch.inference_mode()
    def score_batch(self, images: list[Image.Image], prompts: list[str]) -> torch.Tensor:
        """(N, 2): HPSv3's (mu, sigma) per image."""
        vision = self.image_processor(images=images, return_tensors="pt")
        merge = self.image_processor.merge_size ** 2
        texts = []
        for image, grid, prompt in zip(images, vision["image_grid_thw"], prompts):
            text = chat_text([image, INSTRUCTION.format(text_prompt=prompt) + RATING])
            texts.append(text.replace("<|image_pad|>", "<|image_pad|>" * (int(grid.prod()) // merge), 1))
        tokens = self.tokenizer(texts, padding=True, return_tensors="pt").to(self.device)
        batch, length = tokens["input_ids"].shape
        positions = torch.arange(length, device=self.device).view(1, 1, -1).expand(3, batch, -1)
        hidden = self.model.model(**tokens, position_ids=positions,
                                  pixel_values=vision["pixel_values"].to(self.device, self.dtype),
                                  image_grid_thw=vision["image_grid_thw"].to(self.device)).last_hidden_state
        at = tokens["input_ids"] == self.reward_id
        if not bool((at.sum(1) == 1).all()):
            raise ValueError(f"reward 'hpsv3': a prompt holds {REWARD_TOKEN} itself; remove it")
        return self.head(hidden[at].float()).cpu()

    def __call__(self, images, prompts, sources=None, tasks=None, **context) -> torch.Tensor:
        """mu per sample; edit samples get 0 unless `edits` (see local.scored_samples)."""
        arrays = as_arrays(images)
        keep = scored_samples(len(arrays), sources, tasks, self.edits)
        images = [Image.fromarray(arrays[i]) for i in keep]
        prompts = [prompts[i] for i in keep]
        out = [self._score(images[i:i + self.batch_size], prompts[i:i + self.batch_size])
               for i in range(0, len(images), self.batch_size)]
        scores = torch.cat(out).float() if out else torch.zeros(0, 2)
        mu, sigma = torch.zeros(len(arrays)), torch.full((len(arrays),), float("nan"))
        mu[keep] = scores[:, 0]
        if scores.shape[1] > 1:
            sigma[keep] = scores[:, 1]
        self.components = {"sigma": sigma}
        return mu


def _package_scorer(checkpoint, device):
    """HPSv3RewardInferencer from the hpsv3 package (its own environment; it pins transformers 4.45.2)."""
    try:
        from hpsv3 import HPSv3RewardInferencer
    except ImportError:
        raise ValueError("reward 'hpsv3' with backend 'hpsv3' needs the package: pip install hpsv3 (it pins "
                         "transformers==4.45.2; backend 'transformers' runs on this project's)") from None
    if checkpoint is None or not str(checkpoint).endswith(".safetensors") or not Path(checkpoint).is_file():
        raise ValueError(f"reward 'hpsv3': give `checkpoint`, a local HPSv3.safetensors (got {checkpoint})")
    inferencer = HPSv3RewardInferencer(checkpoint_path=str(checkpoint), device=str(device))

    def score(images, prompts):
        with torch.inference_mode():
            return inferencer.reward(images, prompts).float().cpu()

    return score
