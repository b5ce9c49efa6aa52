"""Reading and writing DreamLite pipeline folders in diffusers layout.

A folder holds `model_index.json` and one subfolder per component: `unet/`, `vae/`, `text_encoder/`,
`tokenizer/`, `processor/`, `scheduler/`. Weights are read only from safetensors (never unpickled). The pipeline
class named in `model_index.json` says base (`DreamLitePipeline`, guided) or mobile (`DreamLiteMobilePipeline`,
distilled: no guidance, 4 steps).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import CheckpointError
from .models.config import UNetConfig
from .models.unet import DreamLiteUNet
from .safetensors_check import PICKLE_SUFFIXES, check_safetensors_only  # noqa: F401 (old import path)
from .sampling import FlowSchedule

PIPELINE_VARIANTS = {"DreamLitePipeline": "base", "DreamLiteMobilePipeline": "mobile"}
UNET_WEIGHTS = "diffusion_pytorch_model"
DIFFUSERS_VERSION = "0.42.1"


@dataclass
class Components:
    unet: DreamLiteUNet
    vae: torch.nn.Module
    prompt_encoder: object
    schedule: FlowSchedule
    variant: str = "base"
    extra_index: dict = field(default_factory=dict)


def resolve_model_path(model: str | os.PathLike, revision: str | None = None) -> Path:
    """A local folder, a bundled short name (`shapes-base`), or a hub id fetched (or read from cache) by
    huggingface_hub, safetensors and configs only."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    from .assets import bundled_model_path

    bundled = bundled_model_path(str(model))
    if bundled is not None:
        return bundled
    if path.exists():
        raise CheckpointError(f"{model} is a file; expected a pipeline folder with model_index.json")
    if str(model).count("/") != 1 or str(model).startswith((".", "/")):
        raise CheckpointError(f"no such model folder or short name: {model}")
    from huggingface_hub import snapshot_download

    if revision is None and str(model).startswith("carlofkl/DreamLite"):
        revision = "diffusers"  # the official repos keep the diffusers layout on this branch
    try:
        return Path(snapshot_download(str(model), revision=revision, allow_patterns=[
            "*.json", "*.safetensors", "*.txt", "*.jinja", "*.model"]))
    except Exception as err:  # network, auth (the official weights are gated) or missing repo
        raise CheckpointError(f"could not fetch {model} from the hub: {err.__class__.__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}") from None


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"missing {path.parent.name}/{path.name} in {path.parent.parent}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not valid JSON: {err}") from None


def require_part(folder: Path, name: str) -> Path:
    part = folder / name
    if not part.is_dir():
        raise CheckpointError(f"checkpoint {folder} has no {name}/ folder (a DreamLite pipeline folder needs "
                              "model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/)")
    return part


def load_state_dict(folder: Path, stem: str = UNET_WEIGHTS) -> dict[str, torch.Tensor]:
    """One safetensors file, or shards listed in `<stem>.safetensors.index.json`."""
    check_safetensors_only(folder)
    single = folder / f"{stem}.safetensors"
    if single.is_file():
        return load_file(single)
    index_path = folder / f"{stem}.safetensors.index.json"
    if not index_path.is_file():
        raise CheckpointError(f"{folder} has neither {single.name} nor {index_path.name}")
    state = {}
    for shard in sorted(set(read_json(index_path)["weight_map"].values())):
        if not (folder / shard).is_file():
            raise CheckpointError(f"shard {shard} listed in {index_path.name} is missing from {folder}")
        state.update(load_file(folder / shard))
    return state


def load_unet(folder: Path, dtype: torch.dtype | None = None) -> DreamLiteUNet:
    config = UNetConfig.from_dict(read_json(folder / "config.json"))
    with torch.device("meta"):
        unet = DreamLiteUNet(config)
    state = load_state_dict(folder)
    expected = unet.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = ([f"missing {len(missing)} tensors, e.g. {missing[0]}"] if missing else []) + (
            [f"unexpected {len(unexpected)}, e.g. {unexpected[0]}"] if unexpected else [])
        raise CheckpointError(f"U-Net weights in {folder} do not match its config.json: {'; '.join(parts)}")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"U-Net tensor {name} has shape {tuple(tensor.shape)} in {folder}, "
                                  f"config.json implies {tuple(expected[name].shape)}")
    unet.load_state_dict(state, assign=True)
    return unet.to(dtype) if dtype is not None else unet.float()


def save_unet(unet: DreamLiteUNet, folder: Path, max_shard_bytes: int = 10 * 1024**3) -> None:
    """config.json plus safetensors, sharded with an index like diffusers when over `max_shard_bytes`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(unet.config.to_dict(), indent=2) + "\n")
    state = {k: v.detach().contiguous().cpu() for k, v in unet.state_dict().items()}
    shards, current, size = [], {}, 0
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if current and size + nbytes > max_shard_bytes:
            shards.append(current)
            current, size = {}, 0
        current[name] = tensor
        size += nbytes
    shards.append(current)
    if len(shards) == 1:
        save_file(shards[0], folder / f"{UNET_WEIGHTS}.safetensors", metadata={"format": "pt"})
        return
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        name = f"{UNET_WEIGHTS}-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, folder / name, metadata={"format": "pt"})
        weight_map.update({k: name for k in shard})
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / f"{UNET_WEIGHTS}.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def load_vae(folder: Path, dtype: torch.dtype | None = None):
    from diffusers import AutoencoderTiny

    check_safetensors_only(folder)
    return AutoencoderTiny.from_pretrained(folder, use_safetensors=True, torch_dtype=dtype)


def load_schedule(folder: Path) -> FlowSchedule:
    config = read_json(folder / "scheduler_config.json")
    name = config.get("_class_name", "FlowMatchEulerDiscreteScheduler")
    if name != "FlowMatchEulerDiscreteScheduler":
        raise CheckpointError(f"scheduler _class_name {name!r} is not supported; DreamLite uses "
                              "FlowMatchEulerDiscreteScheduler")
    for key in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "invert_sigmas",
                "stochastic_sampling", "shift_terminal"):
        if config.get(key):
            raise CheckpointError(f"scheduler field {key}={config[key]!r} is not supported")
    if config.get("time_shift_type", "exponential") != "exponential":
        raise CheckpointError(f"scheduler field time_shift_type={config['time_shift_type']!r} is not supported")
    return FlowSchedule.from_dict(config)


def scheduler_config(schedule: FlowSchedule) -> dict:
    return {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": DIFFUSERS_VERSION,
            "num_train_timesteps": schedule.num_train_timesteps, "shift": schedule.shift,
            "use_dynamic_shifting": schedule.use_dynamic_shifting, "base_shift": schedule.base_shift,
            "max_shift": schedule.max_shift, "base_image_seq_len": schedule.base_image_seq_len,
            "max_image_seq_len": schedule.max_image_seq_len}


@contextlib.contextmanager
def quiet_libraries():
    """Hide transformers'/diffusers' per-file progress bars and their config chatter while loading or saving."""
    import diffusers
    import transformers

    levels = (diffusers.utils.logging.get_verbosity(), transformers.utils.logging.get_verbosity())
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        diffusers.utils.logging.set_verbosity(levels[0])
        transformers.utils.logging.set_verbosity(levels[1])
        transformers.utils.logging.enable_progress_bar()


def load_components(folder: Path, device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> Components:
    with quiet_libraries():
        return _load_components(folder, device, dtype)


def _load_components(folder: Path, device, dtype) -> Components:
    from .text import load_prompt_encoder

    index = read_json(folder / "model_index.json")
    pipeline_class = index.get("_class_name")
    if pipeline_class not in PIPELINE_VARIANTS:
        raise CheckpointError(f"model_index.json names pipeline {pipeline_class!r}; expected one of "
                              f"{', '.join(PIPELINE_VARIANTS)}")
    from . import runtime

    unet_dir, vae_dir = require_part(folder, "unet"), require_part(folder, "vae")
    # A folder written by `dreamlite export` holds graphs for another runtime; they stand in for the modules.
    unet = runtime.load_exported_unet(unet_dir) if runtime.is_exported(unet_dir) else load_unet(unet_dir, dtype)
    vae = runtime.load_exported_vae(vae_dir) if runtime.is_exported(vae_dir) else load_vae(vae_dir, dtype)
    schedule = load_schedule(require_part(folder, "scheduler"))
    encoder = load_prompt_encoder(folder, index, dtype)
    components = Components(unet, vae, encoder, schedule, PIPELINE_VARIANTS[pipeline_class],
                            {k: v for k, v in index.items() if not k.startswith("_")})
    if device is not None:
        move_components(components, device)
    return components


def move_components(components: Components, device: torch.device | str) -> None:
    components.unet.to(device)
    components.vae.to(device)
    components.prompt_encoder.to(device)


def save_components(components: Components, folder: Path) -> None:
    with quiet_libraries():
        _save_components(components, Path(folder))


def _save_components(components: Components, folder: Path) -> None:
    if not isinstance(components.unet, DreamLiteUNet):
        raise CheckpointError("an exported model cannot be saved as a PyTorch pipeline; copy its folder instead")
    folder.mkdir(parents=True, exist_ok=True)
    pipeline_class = {v: k for k, v in PIPELINE_VARIANTS.items()}[components.variant]
    index = {"_class_name": pipeline_class, "_diffusers_version": DIFFUSERS_VERSION}
    index.update(components.prompt_encoder.save_pretrained(folder))
    save_unet(components.unet, folder / "unet")
    components.vae.save_pretrained(folder / "vae", safe_serialization=True)
    (folder / "scheduler").mkdir(exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(scheduler_config(components.schedule), indent=2) + "\n")
    index.update({"scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
                  "unet": ["diffusers", "DreamLiteUNetModel"], "vae": ["diffusers", "AutoencoderTiny"]})
    (folder / "model_index.json").write_text(json.dumps(dict(sorted(index.items())), indent=2) + "\n")
