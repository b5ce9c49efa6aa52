"""The pipeline a run starts from, assembled from the recipe's `model` section.

It is written once to `OUT/init/` (a normal pipeline folder) and every stage, the first included, loads its input
from a folder: a resumed run and an uninterrupted one read the very same bytes, and nothing random (tokenizer
training, random initialisation) is ever redone.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import torch

from ..loading import CheckpointError, Components, load_components, load_vae, resolve_model_path
from ..models.config import INERT_FIELDS, UNetConfig, UNetConfigError, get_unet_config
from ..models.unet import DreamLiteUNet
from .config import RecipeError
from .data.base import stable_seed


def unet_config(spec) -> UNetConfig | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        return get_unet_config(spec)
    try:
        return UNetConfig.from_dict(spec)
    except (UNetConfigError, TypeError) as err:
        raise RecipeError(f"model.unet: {err}") from None


# Fields that shape no weights: the inert ones (e.g. sample_size) and the in-context position code, which adds
# fixed values to what attention computes from, so a U-Net trained without it can be continued with it.
WEIGHTLESS_FIELDS = (*INERT_FIELDS, "in_context_positions")


def _same_weights(a: UNetConfig, b: UNetConfig) -> bool:
    """Whether two U-Net configs differ only in fields that shape no weights (WEIGHTLESS_FIELDS)."""
    def shaping(c: UNetConfig) -> dict:
        return {f.name: getattr(c, f.name) for f in fields(c) if f.name not in WEIGHTLESS_FIELDS}

    return shaping(a) == shaping(b)


def build_initial(recipe) -> Components:
    """U-Net, VAE and prompt encoder for stage 1 (float32, CPU)."""
    m = recipe.model
    base = None
    if m.init is not None:
        try:
            base = load_components(resolve_model_path(m.init))
        except (CheckpointError, FileNotFoundError) as err:
            raise RecipeError(f"model.init: {err}") from None

    config = unet_config(m.unet)
    if base is not None and (config is None or config == base.unet.config):
        unet = base.unet
    elif base is not None and _same_weights(config, base.unet.config):
        # e.g. a new sample_size (default resolution): the same weights under the recipe's config
        unet = DreamLiteUNet(config)
        unet.load_state_dict(base.unet.state_dict())
    elif base is not None:
        ours, theirs = config.to_dict(), base.unet.config.to_dict()
        changed = [f for f in ours if ours[f] != theirs.get(f)]
        raise RecipeError(f"model.unet differs from the U-Net config of model.init in {', '.join(changed)}, "
                          f"which change the weights; drop one of them (only {', '.join(WEIGHTLESS_FIELDS)} may differ)")
    else:
        torch.manual_seed(stable_seed(recipe.seed, "unet-init") % 2**63)
        unet = DreamLiteUNet(config)

    if m.vae.path is not None:
        vae = _load_vae(Path(m.vae.path).expanduser())
    elif base is not None:
        vae = base.vae
    else:
        from ..build import tiny_vae

        torch.manual_seed(stable_seed(recipe.seed, "vae-init") % 2**63)
        vae = tiny_vae(channels=m.vae.channels)

    if m.prompt_encoder.path is not None:
        encoder = load_prompt_encoder(Path(m.prompt_encoder.path).expanduser())
    elif base is not None:
        encoder = base.prompt_encoder
    else:
        encoder = tiny_prompt_encoder(m.prompt_encoder, recipe.seed)

    width = unet.config.encoder_hid_dim or unet.config.cross_attention_dim
    if width != encoder.hidden_size:
        raise RecipeError(f"model: the U-Net takes {width}-d text features (encoder_hid_dim) but the prompt encoder "
                          f"gives {encoder.hidden_size}-d ones")
    if vae.config.latent_channels != unet.config.in_channels:
        raise RecipeError(f"model: the VAE has {vae.config.latent_channels} latent channels, the U-Net takes "
                          f"{unet.config.in_channels}")
    from ..build import RELEASE_SCHEDULE

    schedule = base.schedule if base is not None else RELEASE_SCHEDULE
    return Components(unet.float().eval(), vae.float().eval(), encoder, schedule, m.variant)


def _load_vae(path: Path):
    folder = path / "vae" if (path / "model_index.json").is_file() else path
    if not (folder / "config.json").is_file():
        raise RecipeError(f"model.vae.path: {path} holds no AutoencoderTiny (config.json + safetensors)")
    try:
        return load_vae(folder)
    except CheckpointError as err:
        raise RecipeError(f"model.vae.path: {err}") from None


def load_prompt_encoder(path: Path):
    """Qwen3-VL from a pipeline folder (text_encoder/, tokenizer/, processor/) or a plain model folder."""
    from ..text.qwen3vl import Qwen3VLPromptEncoder, image_processor_settings, load_qwen3vl

    try:
        if (path / "text_encoder").is_dir():
            return load_qwen3vl(path)
        from transformers import AutoTokenizer, Qwen3VLForConditionalGeneration
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        model = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32, use_safetensors=True)
        settings = image_processor_settings(path)
        processor = Qwen2VLImageProcessorPil(**settings) if settings is not None else None
        return Qwen3VLPromptEncoder(model.eval().requires_grad_(False), AutoTokenizer.from_pretrained(path), processor)
    except (OSError, ValueError) as err:
        raise RecipeError(f"model.prompt_encoder.path: cannot load Qwen3-VL from {path}: {err}") from None


def tiny_prompt_encoder(spec, seed: int):
    """A frozen random tiny Qwen3-VL with a tokenizer learned from the training texts."""
    from ..build import qwen3vl_image_processor, tiny_qwen3vl
    from ..text.qwen3vl import Qwen3VLPromptEncoder
    from ..text.tokenizer import build_tokenizer

    if spec.corpus == "shapes":
        from .data.shapes import shapes_corpus

        corpus = shapes_corpus(spec.corpus_items, seed)
    else:
        path = Path(spec.corpus).expanduser()
        if not path.is_file():
            raise RecipeError(f"model.prompt_encoder.corpus: no such file {spec.corpus}")
        corpus = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    tokenizer = build_tokenizer(corpus, vocab_size=spec.vocab_size)
    torch.manual_seed(stable_seed(seed, "prompt-encoder-init") % 2**63)
    model = tiny_qwen3vl(tokenizer, hidden_size=spec.hidden_size, layers=spec.layers)
    return Qwen3VLPromptEncoder(model, tokenizer, qwen3vl_image_processor())
