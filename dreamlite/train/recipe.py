"""Training recipes: typed dataclasses read from YAML.

A recipe names the model (U-Net config or initial checkpoint, VAE, prompt encoder), its data sources, run-wide
engineering settings, and an ordered list of stages. `stage_defaults` in the YAML are merged under every stage
before parsing, so the resolved recipe (printed at start, saved with every checkpoint) spells each stage out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import RecipeError, convert, deep_merge, from_dict, set_dotted, to_dict
from .distill.config import DistillSpec
from .rl.config import RLSpec

TASKS = ("t2i", "edit")
WHOLE_FIELDS = ("data", "mixture", "buckets")
STAGE_KIND_NAMES = ("flow_matching", "rl", "distill")  # stages.STAGE_KINDS builds them
RESERVED_STAGE_NAMES = ("init", "final", "checkpoints", "logs", "cache")
REPO_RECIPES = Path(__file__).resolve().parents[2] / "recipes"
PACKAGE_RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@dataclass
class VAESpec:
    path: str | None = None  # AutoencoderTiny folder (e.g. from `dreamlite train-vae`); null: init's, else random
    channels: int = 16  # width of the random tiny VAE used when there is neither a path nor an init (tests)


@dataclass
class PromptEncoderSpec:
    path: str | None = None  # pipeline folder whose text_encoder/, tokenizer/, processor/ are used (frozen)
    # Without a path (and no init): a frozen random tiny Qwen3-VL, tokenizer learned from `corpus`.
    hidden_size: int = 64
    layers: int = 2
    vocab_size: int = 512
    corpus: str = "shapes"  # "shapes" (ShapesWorld captions and instructions) or a text file, one line each
    corpus_items: int = 3000  # ShapesWorld items whose texts train the tokenizer


@dataclass
class ModelSpec:
    unet: str | dict | None = None  # a registered config name, a full UNetConfig dict, or null: init's U-Net
    init: str | None = None  # pipeline folder that stage 1 starts from (its U-Net, VAE and encoder by default)
    vae: VAESpec = field(default_factory=VAESpec)
    prompt_encoder: PromptEncoderSpec = field(default_factory=PromptEncoderSpec)
    variant: str = "base"  # pipeline class written: base (guided) or mobile


@dataclass
class OptimizerSpec:
    lr: float = 1e-4  # peak learning rate (AdamW)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    eps: float = 1e-8
    warmup_steps: int = 0  # linear warmup from 0
    schedule: str = "constant"  # after warmup: constant, cosine or linear decay to min_lr_ratio * lr
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 1.0  # max global gradient norm; null: no clipping


@dataclass
class TimestepSpec:
    """Training time t in (0, 1) (t = 1 is pure noise)."""

    sampler: str = "logit_normal"  # uniform, or logit_normal: sigmoid(N(mean, std)) (Esser et al. 2024)
    mean: float = 0.0
    std: float = 1.0
    shift: float | str | None = None  # null, a number s (t -> s t / (1 + (s - 1) t)), or "dynamic" (pipeline's)


@dataclass
class DropoutSpec:
    """Condition dropout, so that guidance has an unconditional model to push against."""

    text: float = 0.1  # empty prompt (T2I: text guidance; edit: no instruction, source still given)
    image: float = 0.05  # edit only: zero source latents, instruction kept
    both: float = 0.05  # edit only: empty prompt and zero source (the 3-branch guidance's unconditional branch)


@dataclass
class EMASpec:
    decay: float = 0.999
    warmup: bool = True  # decay ramps as min(decay, (1 + n) / (10 + n)) so early averages are not stale


@dataclass
class LoRASpec:
    rank: int = 16
    alpha: float = 16.0
    dropout: float = 0.0
    targets: list[str] = field(default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"])  # official targets


@dataclass
class StageSpec:
    name: str
    steps: int
    batch: int  # global batch (all processes, all accumulation steps)
    mixture: dict[str, float]  # task weights: {t2i: w, edit: w}
    data: dict[str, dict[str, float]]  # task -> {source name: weight within the task}
    micro_batch: int | None = None  # per process per forward; null: batch / processes (no accumulation)
    resolution: int = 512  # square training size in pixels, when there are no buckets
    buckets: list[tuple[int, int]] | None = None  # aspect-ratio buckets [[width, height], ...]
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    timesteps: TimestepSpec = field(default_factory=TimestepSpec)
    dropout: DropoutSpec = field(default_factory=DropoutSpec)
    ema: EMASpec | None = field(default_factory=EMASpec)
    lora: LoRASpec | None = None  # train LoRA adapters only; the stage's pipeline gets them merged
    # "flow_matching"; "rl": online RL on the model's own samples (settings in `rl`); "distill": the guided input
    # (the teacher) into a 4-step unguided student, written as a mobile pipeline (settings in `distill`)
    kind: str = "flow_matching"
    rl: RLSpec | None = None  # kind rl: algorithm, group, rollouts, rewards, held-out eval (train/rl/config.py)
    distill: DistillSpec | None = None  # kind distill: method, teacher pool, teacher steps (train/distill/config.py)


@dataclass
class CacheSpec:
    """Precomputed VAE latents and prompt embeddings for finite sources (so the prompt encoder runs once)."""

    dir: str | None = None  # default: OUT/cache
    dtype: str = "bfloat16"  # storage dtype of latents and embeddings
    sources: list[str] | None = None  # which sources to cache; null: every finite source
    empty_edit: bool = True  # also cache each edit item's empty-instruction embedding (else: on the fly when dropped)
    workers: int = 0  # CPU processes filling shards (float32, one thread each); 0: the training process itself
    memory_gb: float = 4.0  # per cached source: shards held in memory up to this size, the rest read item by item


@dataclass
class RunSpec:
    mixed_precision: str = "no"  # no, bf16 or fp16 (accelerate autocast; master weights stay float32)
    gradient_checkpointing: bool = False
    save_every: int = 500  # optimizer steps between checkpoints (and one at the end of every stage)
    keep_checkpoints: int = 2
    log_every: int = 10
    num_workers: int = 0  # DataLoader worker processes per training process
    deterministic: bool = True  # torch.use_deterministic_algorithms (bit-identical resume)
    threads: int | None = None  # torch intra-op threads per process; null: torch's default
    prompt_cache: int = 4096  # LRU entries of generate-mode prompt embeddings (the encoder is frozen)
    cache: CacheSpec | None = None
    # torch.compile the U-Net: for a small model on a GPU, whose eager step is bound by kernel launches. Prompt
    # embeddings are then padded (masked) to a multiple of 64 tokens, so that few shapes trigger a recompile.
    compile: bool = False


@dataclass
class Recipe:
    name: str
    model: ModelSpec
    sources: dict[str, dict[str, Any]]  # name -> {kind: shapes|files|webdataset|hf, ...}
    stages: list[StageSpec]
    seed: int = 0
    run: RunSpec = field(default_factory=RunSpec)

    def to_dict(self) -> dict:
        data = to_dict(self)
        for stage in data["stages"]:  # only rl / distill stages carry their settings: others dump as before
            for kind in ("rl", "distill"):
                if stage.get(kind) is None:
                    stage.pop(kind, None)
        return data

    def dump(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, width=120)


def resolve_recipe_path(name: str) -> Path:
    """A YAML path, or a bare name looked up as recipes/<name>.yaml (repository, then package)."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.suffix not in (".yaml", ".yml") and "/" not in name:
        for folder in (REPO_RECIPES, PACKAGE_RECIPES):
            candidate = folder / f"{name}.yaml"
            if candidate.is_file():
                return candidate
    raise RecipeError(f"no such recipe: {name} (a YAML file, or a name in {REPO_RECIPES})")


def load_recipe(name: str, overrides: list[str] = (), max_steps: int | None = None) -> Recipe:
    """Read, override (`key.path=value`), cap steps per stage, and validate a recipe."""
    path = resolve_recipe_path(name)
    data = read_recipe_yaml(path)
    data.setdefault("name", path.stem)
    return parse_recipe(data, overrides, max_steps)


def read_recipe_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A recipe file as a dict, with `extends: <recipe>` resolved: this file's mappings merged over the named
    recipe's (lists such as `stages` replace the base's whole)."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RecipeError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: expected a mapping at the top level")
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise RecipeError(f"{path}: extends: expected a recipe name or path, got {base!r}")
    base_path = Path(base) if Path(base).is_absolute() else path.parent / base
    base_path = base_path if base_path.is_file() else resolve_recipe_path(base)
    if base_path.resolve() in seen:
        raise RecipeError(f"{path}: extends {base} in a cycle")
    parent = read_recipe_yaml(base_path, (*seen, path.resolve()))
    parent.pop("name", None)
    return deep_merge(parent, data)


def parse_recipe(data: dict, overrides: list[str] = (), max_steps: int | None = None) -> Recipe:
    data = dict(data)
    for item in overrides:
        if "=" not in item:
            raise RecipeError(f"--set expects key.path=value, got {item!r}")
        key, value = item.split("=", 1)
        set_dotted(data, key.strip(), yaml.safe_load(value))
    defaults = data.pop("stage_defaults", None) or {}
    if not isinstance(data.get("stages"), list) or not data["stages"]:
        raise RecipeError("recipe: `stages` must be a non-empty list")
    # A stage's `data` and `mixture` replace the defaults' whole (merging would mix in sources it did not name).
    data["stages"] = [{**deep_merge(defaults, s), **{k: s[k] for k in WHOLE_FIELDS if k in s}}
                      if isinstance(s, dict) else s for s in data["stages"]]
    if max_steps is not None:
        for s in data["stages"]:
            if isinstance(s, dict) and isinstance(s.get("steps"), int):
                s["steps"] = min(s["steps"], max_steps)
    recipe = from_dict(Recipe, data, "recipe")
    validate(recipe)
    return recipe


def validate(recipe: Recipe) -> None:
    from .data import source_spec

    specs = {name: source_spec(spec, f"sources.{name}") for name, spec in recipe.sources.items()}
    names = [s.name for s in recipe.stages]
    for i, stage in enumerate(recipe.stages):
        where = f"stages[{i}] ({stage.name})"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", stage.name) or stage.name in RESERVED_STAGE_NAMES:
            raise RecipeError(f"{where}: name must be a plain folder name, not one of {RESERVED_STAGE_NAMES}")
        if names.count(stage.name) > 1:
            raise RecipeError(f"{where}: stage names must be unique")
        _check_stage(stage, specs, where)
    if recipe.model.variant not in ("base", "mobile"):
        raise RecipeError(f"model.variant: expected base or mobile, got {recipe.model.variant!r}")
    for i, stage in enumerate(recipe.stages):  # a distill stage's input is its teacher: a guided pipeline
        if stage.kind == "distill" and (recipe.model.variant == "mobile" or
                                        any(s.kind == "distill" for s in recipe.stages[:i])):
            raise RecipeError(f"stages[{i}] ({stage.name}): a distill stage needs a guided (base) input as its "
                              "teacher, but after model.variant mobile or an earlier distill stage it is mobile")
    if recipe.model.unet is None and recipe.model.init is None:
        raise RecipeError("model: give a U-Net config (`unet`) or an initial checkpoint (`init`)")
    if isinstance(recipe.model.unet, str):
        from ..models.config import UNET_CONFIGS

        if recipe.model.unet not in UNET_CONFIGS:
            raise RecipeError(f"model.unet: unknown config {recipe.model.unet!r}; known: {', '.join(UNET_CONFIGS)}"
                              " (or give a full config mapping)")
    if recipe.run.mixed_precision not in ("no", "bf16", "fp16"):
        raise RecipeError(f"run.mixed_precision: expected no, bf16 or fp16, got {recipe.run.mixed_precision!r}")
    for key in ("save_every", "keep_checkpoints", "log_every"):
        if getattr(recipe.run, key) < 1:
            raise RecipeError(f"run.{key}: must be >= 1")


def _check_stage(stage: StageSpec, specs: dict, where: str) -> None:
    if stage.kind not in STAGE_KIND_NAMES:
        raise RecipeError(f"{where}.kind: expected one of {', '.join(STAGE_KIND_NAMES)}, got {stage.kind!r}")
    if stage.kind == "rl":
        stage.rl = stage.rl or RLSpec()
        stage.rl.check(where, stage.batch)
    elif stage.rl is not None:
        raise RecipeError(f"{where}.rl: only a stage of kind rl takes RL settings")
    if stage.kind == "distill":
        stage.distill = stage.distill or DistillSpec()
        stage.distill.check(where, training_sizes(stage))
    elif stage.distill is not None:
        raise RecipeError(f"{where}.distill: only a stage of kind distill takes distill settings")
    if stage.steps < 1 or stage.batch < 1:
        raise RecipeError(f"{where}: steps and batch must be >= 1")
    if stage.micro_batch is not None and (stage.micro_batch < 1 or stage.batch % stage.micro_batch):
        raise RecipeError(f"{where}.micro_batch: must divide batch {stage.batch}")
    if stage.kind == "rl" and stage.rl.minibatches * stage.rl.epochs > 1 and stage.micro_batch not in (None, stage.batch):
        raise RecipeError(f"{where}.micro_batch: an rl stage with minibatches or epochs > 1 splits its rollout batch "
                          "itself; leave micro_batch unset")
    unknown = set(stage.mixture) - set(TASKS)
    if unknown or not stage.mixture:
        raise RecipeError(f"{where}.mixture: tasks are {TASKS}, got {sorted(stage.mixture)}")
    if any(w < 0 for w in stage.mixture.values()) or sum(stage.mixture.values()) <= 0:
        raise RecipeError(f"{where}.mixture: weights must be >= 0 and not all 0")
    for task, weight in stage.mixture.items():
        if weight == 0:
            continue
        sources = stage.data.get(task) or {}
        if not sources or sum(sources.values()) <= 0 or any(w < 0 for w in sources.values()):
            raise RecipeError(f"{where}.data.{task}: task {task} has weight {weight} but no sources with weight > 0")
        for name in sources:
            if name not in specs:
                raise RecipeError(f"{where}.data.{task}: no source named {name!r}; defined: {', '.join(specs)}")
            if task not in specs[name].tasks:
                raise RecipeError(f"{where}.data.{task}: source {name!r} provides {specs[name].tasks}, not {task}")
    sizes = [(stage.resolution, stage.resolution)] if stage.buckets is None else list(stage.buckets)
    for w, h in sizes:
        if w < 8 or h < 8 or w % 8 or h % 8:
            raise RecipeError(f"{where}: training sizes must be positive multiples of 8 pixels, got {w}x{h}")
    o = stage.optimizer
    if o.schedule not in ("constant", "cosine", "linear"):
        raise RecipeError(f"{where}.optimizer.schedule: expected constant, cosine or linear, got {o.schedule!r}")
    if o.lr <= 0 or o.warmup_steps < 0 or not 0 <= o.min_lr_ratio <= 1:
        raise RecipeError(f"{where}.optimizer: lr must be > 0, warmup_steps >= 0, 0 <= min_lr_ratio <= 1")
    t = stage.timesteps
    if t.sampler not in ("uniform", "logit_normal"):
        raise RecipeError(f"{where}.timesteps.sampler: expected uniform or logit_normal, got {t.sampler!r}")
    if isinstance(t.shift, str) and t.shift != "dynamic" or isinstance(t.shift, float) and t.shift <= 0:
        raise RecipeError(f"{where}.timesteps.shift: expected null, a number > 0 or 'dynamic', got {t.shift!r}")
    d = stage.dropout
    if min(d.text, d.image, d.both) < 0 or d.text + d.image + d.both > 1:
        raise RecipeError(f"{where}.dropout: rates must be >= 0 and sum to at most 1")
    if stage.ema is not None and not 0 < stage.ema.decay < 1:
        raise RecipeError(f"{where}.ema.decay: must be in (0, 1)")
    if stage.lora is not None and stage.lora.rank < 1:
        raise RecipeError(f"{where}.lora.rank: must be >= 1")


def training_sizes(stage: StageSpec) -> list[tuple[int, int]]:
    """(width, height) of every bucket of a stage."""
    if stage.buckets is None:
        return [(stage.resolution, stage.resolution)]
    return [tuple(b) for b in stage.buckets]


__all__ = ["Recipe", "RecipeError", "StageSpec", "load_recipe", "parse_recipe", "convert", "training_sizes"]
